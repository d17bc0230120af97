#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on loopback for the store/postgres tests and prints
# `export SFSYNC_TEST_POSTGRES=...` for eval. `start-postgres.sh stop` stops it and removes its data.
# The server refuses to run as root, so as root it runs as the unprivileged postgres user.
set -euo pipefail

state=/tmp/sfsync-ci-postgres
run_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

if [ "${1:-}" = stop ]; then
	if [ -f "$state/dir" ]; then
		dir=$(cat "$state/dir")
		run_as pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$dir"
	fi
	rm -rf "$state"
	exit 0
fi

for bin in initdb pg_ctl postgres; do
	command -v "$bin" >/dev/null || { echo "start-postgres: $bin not found on PATH" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/sfsync-pg.XXXXXX)
chmod 755 "$dir"
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
mkdir -p "$state"
echo "$dir" >"$state/dir"

# A free loopback port: ask the kernel for one.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)

run_as initdb -D "$dir/data" -U sfsync --auth=trust --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; exit 1; }
run_as pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null ||
	{ cat "$dir/server.log" >&2; exit 1; }
run_as psql -h 127.0.0.1 -p "$port" -U sfsync -d postgres -qc 'CREATE DATABASE sfsync_test' >/dev/null

echo "export SFSYNC_TEST_POSTGRES='postgres://sfsync@127.0.0.1:$port/sfsync_test?sslmode=disable'"
