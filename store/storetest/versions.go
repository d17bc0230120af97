package storetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// versionSamples are entries whose versions exercise every field at its
// edges: nanoseconds, other zones, times outside Unix nanoseconds' range,
// the zero time, extreme numbers.
func versionSamples(record string) []sfsync.AppliedVersion {
	zone := time.FixedZone("UTC-7", -7*3600)
	vs := []sfsync.Version{
		{Time: time.Date(2026, 11, 2, 9, 0, 0, 123456789, time.UTC), Commit: 1_000_000_000_007, Seq: 3, Counter: 0},
		{Time: time.Date(2026, 11, 2, 2, 0, 0, 1, zone), Commit: 0, Seq: -1, Counter: math.MaxInt64},
		{},
		{Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Commit: math.MinInt64, Seq: math.MaxInt64, Counter: math.MinInt64},
		{Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Commit: -5},
		{Time: time.Date(1600, 1, 1, 0, 0, 0, 7, time.UTC), Seq: 1},
	}
	// Value hashes at the edges of an unsigned 64-bit number (a store
	// with signed columns keeps their bits), and unknown.
	hashes := []uint64{0, math.MaxUint64, 1 << 63, 1, 0x9e3779b97f4a7c15, 0}
	out := make([]sfsync.AppliedVersion, len(vs))
	for i, v := range vs {
		out[i] = sfsync.AppliedVersion{Record: record, Source: sfsync.Salesforce, Field: fmt.Sprintf("F%d", i), Version: v, ValueHash: hashes[i]}
	}
	return out
}

// sameVersion reports whether a and b hold the same instant and numbers.
func sameVersion(a, b sfsync.Version) bool {
	return a.Time.Equal(b.Time) && a.Time.IsZero() == b.Time.IsZero() &&
		a.Commit == b.Commit && a.Seq == b.Seq && a.Counter == b.Counter
}

// checkVersions fails t unless got holds exactly the entries of want, in
// any order.
func checkVersions(t *testing.T, what string, got, want []sfsync.AppliedVersion) {
	t.Helper()
	key := func(v sfsync.AppliedVersion) string { return v.Record + "\x00" + string(v.Source) + "\x00" + v.Field }
	byKey := map[string]sfsync.AppliedVersion{}
	for _, v := range got {
		if _, dup := byKey[key(v)]; dup {
			t.Errorf("%s: entry %.60q/%.60q/%.60q returned twice", what, v.Record, v.Source, v.Field)
		}
		byKey[key(v)] = v
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for _, w := range want {
		g, ok := byKey[key(w)]
		if !ok {
			t.Errorf("%s: entry %.60q/%.60q/%.60q missing", what, w.Record, w.Source, w.Field)
			continue
		}
		if !sameVersion(g.Version, w.Version) {
			t.Errorf("%s: entry %.60q/%.60q/%.60q = %+v, want %+v", what, w.Record, w.Source, w.Field, g.Version, w.Version)
		}
		if g.ValueHash != w.ValueHash {
			t.Errorf("%s: entry %.60q/%.60q/%.60q has value hash %#x, want %#x", what, w.Record, w.Source, w.Field, g.ValueHash, w.ValueHash)
		}
	}
}

// RunVersions tests an [sfsync.VersionStore].
func RunVersions(t *testing.T, open func(t *testing.T) sfsync.VersionStore) {
	ctx := context.Background()
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		want := versionSamples("Contact/003A")
		noErr(t, s.PutAppliedVersions(ctx, want))
		checkVersions(t, "round trip", must(s.AppliedVersions(ctx, []string{"Contact/003A"}))(t), want)
		if got := must(s.AppliedVersions(ctx, []string{"Contact/003B"}))(t); len(got) != 0 {
			t.Errorf("a record with no entries has %d", len(got))
		}
		if got := must(s.AppliedVersions(ctx, nil))(t); len(got) != 0 {
			t.Errorf("AppliedVersions(nil) = %v", got)
		}
		noErr(t, s.PutAppliedVersions(ctx, nil))
	})
	t.Run("LastWriteWinsPerKey", func(t *testing.T) {
		s := open(t)
		at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		entry := func(src sfsync.System, field string, sec int) sfsync.AppliedVersion {
			return sfsync.AppliedVersion{Record: "Contact/003A", Source: src, Field: field, Version: sfsync.Version{Time: at.Add(time.Duration(sec) * time.Second)},
				ValueHash: uint64(sec) * 0x9e3779b97f4a7c15}
		}
		noErr(t, s.PutAppliedVersions(ctx, []sfsync.AppliedVersion{entry(sfsync.Salesforce, "Phone", 5), entry(sfsync.External("erp"), "Phone", 7)}))
		// The store keeps what was written last, even an older version, and
		// the last of one batch.
		noErr(t, s.PutAppliedVersions(ctx, []sfsync.AppliedVersion{entry(sfsync.Salesforce, "Phone", 9), entry(sfsync.Salesforce, "Phone", 3), entry(sfsync.Salesforce, "Email", 1)}))
		checkVersions(t, "after overwrites", must(s.AppliedVersions(ctx, []string{"Contact/003A"}))(t), []sfsync.AppliedVersion{
			entry(sfsync.Salesforce, "Phone", 3), entry(sfsync.External("erp"), "Phone", 7), entry(sfsync.Salesforce, "Email", 1),
		})
	})
	t.Run("ManyRecordsAtOnce", func(t *testing.T) {
		s := open(t)
		var all []sfsync.AppliedVersion
		var records []string
		for i := range 1200 {
			r := fmt.Sprintf("Contact/%05d", i)
			records = append(records, r)
			for _, f := range []string{"Phone", "Email"} {
				all = append(all, sfsync.AppliedVersion{Record: r, Source: sfsync.Salesforce, Field: f, Version: sfsync.Version{Seq: int64(i)}})
			}
		}
		noErr(t, s.PutAppliedVersions(ctx, all))
		// Every other record, one asked for twice, one unknown.
		var ask []string
		var want []sfsync.AppliedVersion
		for i := 0; i < len(records); i += 2 {
			ask = append(ask, records[i])
			want = append(want, all[2*i], all[2*i+1])
		}
		ask = append(ask, records[0], "Contact/unknown")
		checkVersions(t, "a batch of records", must(s.AppliedVersions(ctx, ask))(t), want)
	})
	t.Run("UnusualNames", func(t *testing.T) {
		s := open(t)
		long := strings.Repeat("r", 5000)
		var want []sfsync.AppliedVersion
		for i, r := range []string{"Contact/\x00nul", "Contact/\xffbad", "Contact/" + long, "\u241bmarked"} {
			want = append(want, sfsync.AppliedVersion{Record: r, Source: sfsync.External("e\x00rp"), Field: "F\xfe" + long, Version: sfsync.Version{Seq: int64(i)}})
		}
		noErr(t, s.PutAppliedVersions(ctx, want))
		for _, w := range want {
			checkVersions(t, fmt.Sprintf("record %.20q", w.Record), must(s.AppliedVersions(ctx, []string{w.Record}))(t), []sfsync.AppliedVersion{w})
		}
		if got := must(s.AppliedVersions(ctx, []string{"Contact/" + long[:4999]}))(t); len(got) != 0 {
			t.Errorf("a prefix of a long record id found %d entries", len(got))
		}
	})
}

// commitVersions checks that versions are written by a commit, with it, and
// not by a fenced one.
func commitVersions(ctx context.Context, t *testing.T, s Store) {
	want := versionSamples("Contact/003A")
	noErr(t, s.CommitState(ctx, sfsync.Commit{
		Outcomes: []sfsync.Outcome{{Key: "k1", Object: "Contact", RecordID: "003A", Status: sfsync.StatusApplied}},
		Versions: append(slices.Clone(want), sfsync.AppliedVersion{Record: "Contact/003A", Source: sfsync.Salesforce, Field: "F0", Version: want[0].Version}),
	}))
	checkVersions(t, "after a commit", must(s.AppliedVersions(ctx, []string{"Contact/003A"}))(t), want)

	short := must(s.AcquireLease(ctx, "short", "a", shortTTL))(t)
	eventually(t, "lease taken over", func() bool {
		_, err := s.AcquireLease(ctx, "short", "b", longTTL)
		return err == nil
	})
	stale := sfsync.Commit{
		Versions: []sfsync.AppliedVersion{{Record: "Contact/003A", Source: sfsync.Salesforce, Field: "F0", Version: sfsync.Version{Seq: 99}},
			{Record: "Contact/003Z", Source: sfsync.Salesforce, Field: "F0"}},
		Checkpoints: []sfsync.Position{{Stream: "short", Token: []byte{9}}},
		Lease:       &short,
	}
	if err := s.CommitState(ctx, stale); err == nil {
		t.Fatal("commit under a taken-over lease succeeded")
	}
	checkVersions(t, "after a fenced commit", must(s.AppliedVersions(ctx, []string{"Contact/003A", "Contact/003Z"}))(t), want)
}
