package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
)

// RunEchoes tests an [sfsync.EchoStore]: a fingerprint is "<place>.<value>";
// each remembered fingerprint is one write; MatchWrite consumes the oldest
// live write at its place, whatever its value, and reports whether the
// values agree.
func RunEchoes(t *testing.T, open func(t *testing.T) sfsync.EchoStore) {
	ctx := context.Background()
	match := func(t *testing.T, s sfsync.EchoStore, fp string, want bool) {
		t.Helper()
		if got := must(s.MatchWrite(ctx, fp))(t); got != want {
			t.Errorf("MatchWrite(%q) = %v, want %v", fp, got, want)
		}
	}
	t.Run("MatchConsumes", func(t *testing.T) {
		s := open(t)
		noErr(t, s.RememberWrites(ctx, []string{"sf/Contact/003A/Phone.h1", "sf/Contact/003A/Email.h2"}, longTTL))
		match(t, s, "sf/Contact/003A/Phone.h1", true)
		match(t, s, "sf/Contact/003A/Phone.h1", false) // an echo is recognised once
		match(t, s, "sf/Contact/003B/Phone.h1", false) // another record
		match(t, s, "zzz", false)
		noErr(t, s.RememberWrites(ctx, nil, longTTL))
		match(t, s, "sf/Contact/003A/Email.h2", true)
	})
	t.Run("OtherValueConsumes", func(t *testing.T) {
		// The first change of a field after our write is its echo or proof
		// that none is coming; an edit back to our value later is not one.
		s := open(t)
		noErr(t, s.RememberWrites(ctx, []string{"p/Phone.ours"}, longTTL))
		match(t, s, "p/Phone.theirs", false)
		match(t, s, "p/Phone.ours", false)
	})
	t.Run("Counting", func(t *testing.T) {
		s := open(t)
		noErr(t, s.RememberWrites(ctx, []string{"p/F.v", "p/F.v"}, longTTL))
		noErr(t, s.RememberWrites(ctx, []string{"p/F.v"}, longTTL))
		for range 3 {
			match(t, s, "p/F.v", true)
		}
		match(t, s, "p/F.v", false)
	})
	t.Run("OldestFirst", func(t *testing.T) {
		s := open(t)
		noErr(t, s.RememberWrites(ctx, []string{"p/F.v1"}, longTTL))
		noErr(t, s.RememberWrites(ctx, []string{"p/F.v2", "p/F.v3"}, longTTL))
		match(t, s, "p/F.v2", false) // consumes v1, the oldest
		match(t, s, "p/F.v2", true)
		match(t, s, "p/F.v3", true)
		match(t, s, "p/F.v3", false)
	})
	t.Run("PlacesAreIndependent", func(t *testing.T) {
		s := open(t)
		noErr(t, s.RememberWrites(ctx, []string{"a/F.1", "b/F.1", "a/G.1"}, longTTL))
		match(t, s, "b/F.1", true)
		match(t, s, "a/G.2", false)
		match(t, s, "a/F.1", true)
	})
	t.Run("Expiry", func(t *testing.T) { echoExpiry(ctx, t, open(t)) })
	t.Run("UnusualFingerprints", func(t *testing.T) {
		s := open(t)
		long := strings.Repeat("x", 5000)
		fps := []string{"nodot", "p.", "nul\x00place.v\x00", "bad\xffutf8.\xfe", long + ".v", "q." + long, "\u241bmarked.v"}
		noErr(t, s.RememberWrites(ctx, fps, longTTL))
		match(t, s, "nodot.", false) // place "nodot", another value
		match(t, s, "p", false)      // place "p": "" is not "."
		match(t, s, "nul\x00place.v\x00", true)
		match(t, s, "bad\xffutf8.\xfe", true)
		match(t, s, long+".v", true)
		match(t, s, "q."+long, true)
		match(t, s, "\u241bmarked.v", true)
	})
}

// echoExpiry polls expiry through a pool of writes remembered together,
// since matching consumes: each poll spends one, and once one is expired
// all the rest must be too.
func echoExpiry(ctx context.Context, t *testing.T, s sfsync.EchoStore) {
	pool := make([]string, 2000)
	for i := range pool {
		pool[i] = fmt.Sprintf("short-%d/F.v", i)
	}
	noErr(t, s.RememberWrites(ctx, []string{"long/F.v"}, longTTL))
	// At "mixed", the oldest write expires before the newer one.
	noErr(t, s.RememberWrites(ctx, append(pool, "mixed/F.old"), shortTTL))
	noErr(t, s.RememberWrites(ctx, []string{"mixed/F.new"}, longTTL))
	next := 0
	eventually(t, "short-lived writes expire", func() bool {
		if next == len(pool) {
			t.Fatalf("all %d pooled writes matched before expiring", len(pool))
		}
		ok := must(s.MatchWrite(ctx, pool[next]))(t)
		next++
		return !ok
	})
	for _, f := range pool[next:min(next+20, len(pool))] {
		if must(s.MatchWrite(ctx, f))(t) {
			t.Errorf("write %s matched after others remembered with it expired", f)
		}
	}
	if !must(s.MatchWrite(ctx, "mixed/F.new"))(t) {
		t.Error("an expired older write at a place hid the live newer one")
	}
	if !must(s.MatchWrite(ctx, "long/F.v"))(t) {
		t.Error("long-lived write lost")
	}
}
