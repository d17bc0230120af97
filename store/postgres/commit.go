package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// CommitState writes c in one transaction: outcomes, dead letters, claims
// and versions, then checkpoints. When c.Lease is set, its lease row is locked
// (SELECT ... FOR UPDATE) before anything is written, so a takeover waits
// for the commit or the commit sees the takeover; when a newer lease of its
// name exists, nothing is written and the error matches [sfsync.ErrFenced].
//
// The statements go to the server as one pipelined batch, each a multi-row
// insert over arrays, so a batch of any size costs three round trips
// (begin, batch, commit). When the connection fails during the commit its
// outcome is unknown; a retry may record the batch's outcomes twice.
func (s *Store) CommitState(ctx context.Context, c sfsync.Commit) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	now := s.cfg.clock()
	b := &pgx.Batch{}
	if c.Lease != nil {
		b.Queue(`SELECT token FROM leases WHERE name = $1 FOR UPDATE`, codec.Key(c.Lease.Name))
	}
	if len(c.Outcomes) > 0 {
		b.Queue(outcomesSQL, outcomeArgs(c.Outcomes)...)
	}
	// Dead letters of one key are applied in the order given (their
	// attempts add up); keys in sorted order, so that concurrent commits
	// lock rows in one order.
	dls := slices.Clone(c.DeadLetters)
	slices.SortStableFunc(dls, func(a, b sfsync.DeadLetter) int { return strings.Compare(a.Key(), b.Key()) })
	for i := range dls {
		args, err := deadLetterArgs(&dls[i])
		if err != nil {
			return err
		}
		b.Queue(putDeadLetterSQL, args...)
	}
	if len(c.Claims) > 0 {
		b.Queue(claimsSQL, distinct(codec.Keys(c.Claims)), now.Add(c.ClaimTTL).UnixNano(), now.UnixNano())
	}
	if len(c.Versions) > 0 {
		b.Queue(putVersionsSQL, versionArgs(c.Versions)...)
	}
	if len(c.Checkpoints) > 0 {
		streams, tokens := lastCheckpoints(c.Checkpoints)
		b.Queue(checkpointsSQL, streams, tokens, now.UnixNano())
	}
	if b.Len() == 0 {
		return nil
	}
	return s.db.Tx(ctx, "commit state", func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if c.Lease != nil {
			if err := fenceCheck(*c.Lease, br.QueryRow()); err != nil {
				return err
			}
		}
		for range b.Len() - btoi(c.Lease != nil) {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return br.Close()
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lastCheckpoints returns the streams of ps, sorted, each with the last
// token given for it.
func lastCheckpoints(ps []sfsync.Position) ([]string, [][]byte) {
	last := make(map[string][]byte, len(ps))
	for _, p := range ps {
		last[codec.Key(p.Stream)] = token(p.Token)
	}
	streams := make([]string, 0, len(last))
	for st := range last {
		streams = append(streams, st)
	}
	slices.Sort(streams)
	tokens := make([][]byte, len(streams))
	for i, st := range streams {
		tokens[i] = last[st]
	}
	return streams, tokens
}

// fenceCheck fails with ErrFenced unless l carries the newest token of its
// name, as read by row.
func fenceCheck(l sfsync.Lease, row pgx.Row) error {
	var newest int64
	err := row.Scan(&newest)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: lease %q token %d was never granted by this database; acquire the lease first: %w", l.Name, l.Token, sfsync.ErrFenced)
	}
	if err != nil {
		return err
	}
	if newest != l.Token {
		return fmt.Errorf("postgres: lease %q token %d is older than token %d: another instance took over; stop writing: %w", l.Name, l.Token, newest, sfsync.ErrFenced)
	}
	return nil
}

// AcquireLease takes lease name for holder if it is free, expired or held by
// holder already; otherwise the error matches [sfsync.ErrLeaseHeld]. A new
// tenure (another holder, or the same one after its lease expired) gets a
// higher token.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (sfsync.Lease, error) {
	if err := s.check(ctx); err != nil {
		return sfsync.Lease{}, err
	}
	if holder == "" {
		return sfsync.Lease{}, fmt.Errorf("postgres: acquire lease %q: holder is empty; name the instance: %w", name, sfsync.ErrInvalid)
	}
	now := s.cfg.clock()
	var l sfsync.Lease
	err := s.db.Tx(ctx, "acquire lease "+name, func(tx pgx.Tx) error {
		// The row is created first, so that concurrent acquirers of a new
		// name queue on its lock instead of racing to insert it.
		if _, err := tx.Exec(ctx, `INSERT INTO leases (name, holder, token, expires) VALUES ($1, '', 0, 0) ON CONFLICT (name) DO NOTHING`, codec.Key(name)); err != nil {
			return err
		}
		var curHolder string
		var curToken, curExpires int64
		if err := tx.QueryRow(ctx, `SELECT holder, token, expires FROM leases WHERE name = $1 FOR UPDATE`, codec.Key(name)).
			Scan(&curHolder, &curToken, &curExpires); err != nil {
			return err
		}
		live := curHolder != "" && now.UnixNano() < curExpires
		if live && curHolder != codec.Long(holder) {
			return fmt.Errorf("postgres: lease %q is held by %q until %s; try again after it expires: %w", name, codec.FromText(curHolder), fromNanos(curExpires).Format(time.RFC3339), sfsync.ErrLeaseHeld)
		}
		tok := curToken
		if !live {
			tok++
		}
		l = sfsync.Lease{Name: name, Holder: holder, Token: tok, Expires: now.Add(ttl)}
		_, err := tx.Exec(ctx, `UPDATE leases SET holder = $2, token = $3, expires = $4 WHERE name = $1`, codec.Key(name), codec.Long(holder), tok, l.Expires.UnixNano())
		return err
	})
	return l, err
}

// RenewLease extends l; the error matches [sfsync.ErrFenced] when l was
// taken over or released.
func (s *Store) RenewLease(ctx context.Context, l sfsync.Lease, ttl time.Duration) (sfsync.Lease, error) {
	if err := s.check(ctx); err != nil {
		return sfsync.Lease{}, err
	}
	l.Expires = s.cfg.clock().Add(ttl)
	var n int64
	err := s.db.Conn(ctx, "renew lease "+l.Name, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, `UPDATE leases SET expires = $4 WHERE name = $1 AND holder = $2 AND token = $3`,
			codec.Key(l.Name), codec.Long(l.Holder), l.Token, l.Expires.UnixNano())
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return sfsync.Lease{}, err
	}
	if n != 1 {
		return sfsync.Lease{}, fmt.Errorf("postgres: lease %q token %d was taken over or released; stop writing: %w", l.Name, l.Token, sfsync.ErrFenced)
	}
	return l, nil
}

// ReleaseLease gives l up so that another holder can take it at once.
// Releasing a lease that was taken over does nothing.
func (s *Store) ReleaseLease(ctx context.Context, l sfsync.Lease) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.db.Conn(ctx, "release lease "+l.Name, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `UPDATE leases SET holder = '', expires = 0 WHERE name = $1 AND holder = $2 AND token = $3`,
			codec.Key(l.Name), codec.Long(l.Holder), l.Token)
		return err
	})
}
