package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/sfsync/sfsync"
)

// AcquireLease takes lease name for holder if it is free, expired or held by
// holder already.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (sfsync.Lease, error) {
	if err := ctx.Err(); err != nil {
		return sfsync.Lease{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	cur, held := s.leases[name]
	if held && cur.Holder != holder && now.Before(cur.Expires) {
		return sfsync.Lease{}, fmt.Errorf("memory: lease %q is held by %q until %s: %w", name, cur.Holder, cur.Expires.Format(time.RFC3339), sfsync.ErrLeaseHeld)
	}
	token := s.tokens[name]
	if !held || cur.Holder != holder || !now.Before(cur.Expires) {
		// A new tenure, even by the same holder after expiry: whatever it
		// wrote under the old token must be fenced off.
		token++
		s.tokens[name] = token
	}
	l := sfsync.Lease{Name: name, Holder: holder, Token: token, Expires: now.Add(ttl)}
	s.leases[name] = l
	return l, nil
}

// RenewLease extends l, or fails with [sfsync.ErrFenced] when l was taken
// over or released.
func (s *Store) RenewLease(ctx context.Context, l sfsync.Lease, ttl time.Duration) (sfsync.Lease, error) {
	if err := ctx.Err(); err != nil {
		return sfsync.Lease{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFenceLocked(l); err != nil {
		return sfsync.Lease{}, err
	}
	cur := s.leases[l.Name]
	if cur.Holder != l.Holder {
		return sfsync.Lease{}, fmt.Errorf("memory: lease %q was released by %q: %w", l.Name, l.Holder, sfsync.ErrFenced)
	}
	cur.Expires = s.clock().Add(ttl)
	s.leases[l.Name] = cur
	return cur, nil
}

// ReleaseLease gives l up so that another holder can take it at once.
func (s *Store) ReleaseLease(ctx context.Context, l sfsync.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.leases[l.Name]; ok && cur.Token == l.Token && cur.Holder == l.Holder {
		delete(s.leases, l.Name)
	}
	return nil
}

func (s *Store) checkFenceLocked(l sfsync.Lease) error {
	if newest := s.tokens[l.Name]; newest != l.Token {
		return fmt.Errorf("memory: lease %q token %d is older than token %d: another instance took over; stop writing: %w", l.Name, l.Token, newest, sfsync.ErrFenced)
	}
	return nil
}
