package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/store/internal/codec"
)

// CommitState writes c in one transaction: outcomes, dead letters, claims,
// versions and the remembered writes waiting in memory, then checkpoints. When c.Lease is set and a newer lease of its
// name exists, nothing is written and the error matches [sfsync.ErrFenced].
//
// Rows go in as multi-row inserts through statements prepared once, so a
// batch costs a handful of statements and one commit.
func (s *Store) CommitState(ctx context.Context, c sfsync.Commit) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	now := s.cfg.clock()
	s.versionRows.mu.Lock()
	defer s.versionRows.mu.Unlock()
	var written []*versionRow
	err := s.commitTx(ctx, "commit state", func(tx *sql.Tx) error {
		if c.Lease != nil {
			if err := s.fence(ctx, tx, *c.Lease); err != nil {
				return err
			}
		}
		if err := s.insertOutcomes(ctx, tx, c.Outcomes); err != nil {
			return err
		}
		if err := s.putDeadLetters(ctx, tx, c.DeadLetters); err != nil {
			return err
		}
		exp := now.Add(c.ClaimTTL).UnixNano()
		if err := insertRows(ctx, s, tx, len(c.Claims), 2, claimSQL, nil, func(i int, a []any) []any {
			return append(a, codec.Key(c.Claims[i]), exp)
		}); err != nil {
			return err
		}
		var err error
		if written, err = s.putVersions(ctx, tx, c.Versions); err != nil {
			return err
		}
		for _, p := range c.Checkpoints {
			st, err := s.stmt(ctx, tx, checkpointSQL)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, codec.Key(p.Stream), token(p.Token), now.UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	s.versionRows.settle(written, err == nil)
	if err == nil {
		s.addedOutcomes(len(c.Outcomes))
		s.addedClaims(len(c.Claims))
	}
	return err
}

// fence fails with ErrFenced unless l carries the newest token of its name.
func (s *Store) fence(ctx context.Context, tx *sql.Tx, l sfsync.Lease) error {
	var newest int64
	err := tx.QueryRowContext(ctx, `SELECT token FROM leases WHERE name = ?`, codec.Key(l.Name)).Scan(&newest)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: lease %q token %d was never granted by this store; acquire the lease first: %w", l.Name, l.Token, sfsync.ErrFenced)
	}
	if err != nil {
		return err
	}
	if newest != l.Token {
		return fmt.Errorf("sqlite: lease %q token %d is older than token %d: another instance took over; stop writing: %w", l.Name, l.Token, newest, sfsync.ErrFenced)
	}
	return nil
}

type leaseRow struct {
	holder  string
	token   int64
	expires int64
	found   bool
}

func readLease(ctx context.Context, tx *sql.Tx, name string) (leaseRow, error) {
	var r leaseRow
	err := tx.QueryRowContext(ctx, `SELECT holder, token, expires FROM leases WHERE name = ?`, codec.Key(name)).Scan(&r.holder, &r.token, &r.expires)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}

	r.found = err == nil
	return r, err
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
		return sfsync.Lease{}, fmt.Errorf("sqlite: acquire lease %q: holder is empty; name the instance: %w", name, sfsync.ErrInvalid)
	}
	now := s.cfg.clock()
	var l sfsync.Lease
	err := s.tx(ctx, "acquire lease "+name, func(tx *sql.Tx) error {
		cur, err := readLease(ctx, tx, name)
		if err != nil {
			return err
		}
		live := cur.holder != "" && now.UnixNano() < cur.expires
		if live && cur.holder != codec.Long(holder) {
			return fmt.Errorf("sqlite: lease %q is held by %q until %s: %w", name, codec.FromText(cur.holder), fromNanos(cur.expires).Format(time.RFC3339), sfsync.ErrLeaseHeld)
		}
		tok := cur.token
		if !live {
			tok++
		}
		l = sfsync.Lease{Name: name, Holder: holder, Token: tok, Expires: now.Add(ttl)}
		_, err = tx.ExecContext(ctx, `INSERT INTO leases (name, holder, token, expires) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires = excluded.expires`,
			codec.Key(name), codec.Long(holder), tok, l.Expires.UnixNano())
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
	res, err := s.w.ExecContext(ctx, `UPDATE leases SET expires = ? WHERE name = ? AND holder = ? AND token = ?`,
		l.Expires.UnixNano(), codec.Key(l.Name), codec.Long(l.Holder), l.Token)
	if err != nil {
		return sfsync.Lease{}, s.fail("renew lease "+l.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return sfsync.Lease{}, errors.Join(s.fail("renew lease "+l.Name, err),
			fmt.Errorf("sqlite: lease %q token %d was taken over or released; stop writing: %w", l.Name, l.Token, sfsync.ErrFenced))
	}
	return l, nil
}

// ReleaseLease gives l up so that another holder can take it at once.
// Releasing a lease that was taken over does nothing.
func (s *Store) ReleaseLease(ctx context.Context, l sfsync.Lease) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `UPDATE leases SET holder = '', expires = 0 WHERE name = ? AND holder = ? AND token = ?`,
		codec.Key(l.Name), codec.Long(l.Holder), l.Token)
	return s.fail("release lease "+l.Name, err)
}
