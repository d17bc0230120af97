package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// Values a store cannot write as they are into JSON or a PostgreSQL text
// column, or that are too long to keep whole. A store must accept them
// everywhere and never fail a commit over them.
var (
	nulText   = "nul\x00inside"
	badUTF8   = "bad\xff\xfeutf8"
	marked    = "\u241bstarts like an escape"
	longKey   = strings.Repeat("k", 5000)    // over any index entry limit
	longText  = strings.Repeat("t", 200<<10) // over a text column bound
	hugeValue = strings.Repeat("v", 3<<20)   // over a field value bound
	hugeRaw   = bytes.Repeat([]byte{0xff}, 5<<20)
)

// poisonFields are field values whose exact round trip every store owes.
func poisonFields() map[string]any {
	return map[string]any{
		"NaN": math.NaN(), "PosInf": math.Inf(1), "NegInf": math.Inf(-1), "NegZero": math.Copysign(0, -1),
		"Nul": nulText, "Bad": badUTF8, "Marked": marked, "Plain": "ok", "Num": 1.5, "Null": nil,
		"Nested":            map[string]any{"$sfsync": "looks like a tag", "inner": []any{math.NaN(), badUTF8, true}},
		"Bad\xffKey":        "value under a key that is not UTF-8",
		"Nul\x00Key":        1.0,
		"Address.Street":    "dotted",
		"List":              []any{math.Inf(-1), nulText, map[string]any{"x": math.Inf(1)}},
		"\u241bMarkedField": "x",
	}
}

// sameValue is reflect.DeepEqual with NaN equal to NaN and -0 unequal to 0.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (math.Float64bits(x) == math.Float64bits(y) || math.IsNaN(x) && math.IsNaN(y))
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, sameValue)
	}
	return reflect.DeepEqual(a, b)
}

func poisonDeadLetter(key string, at time.Time) sfsync.DeadLetter {
	d := deadLetter(key, "Contact\x00\xff", 1, at)
	d.Change.Fields = poisonFields()
	d.Change.RecordID = badUTF8
	d.Change.Tenant = nulText
	d.Change.Nulled = []string{nulText, badUTF8}
	d.Change.Origin.User = marked
	d.Change.Version.Commit = 77
	d.Change.Schema = badUTF8
	d.Change.Op = sfsync.OpUndecodable
	d.Change.Raw = &sfsync.RawEvent{Payload: []byte{0, 0xff, 1}, Reason: "unknown schema \x00" + badUTF8}
	d.Destination = sfsync.External(badUTF8)
	d.Err = "rejected: " + nulText + badUTF8
	return d
}

// checkPoisonDeadLetter fails t unless got is want after a round trip.
func checkPoisonDeadLetter(t *testing.T, got, want sfsync.DeadLetter) {
	t.Helper()
	g, w := got.Change, want.Change
	if !sameValue(g.Fields, w.Fields) {
		for k, v := range w.Fields {
			if !sameValue(g.Fields[k], v) {
				t.Errorf("dead letter %.60q: field %q = %#v, want %#v", want.Key(), k, g.Fields[k], v)
			}
		}
		for k := range g.Fields {
			if _, ok := w.Fields[k]; !ok {
				t.Errorf("dead letter %.60q: extra field %q", want.Key(), k)
			}
		}
	}
	if g.Key != w.Key || g.RecordID != w.RecordID || g.Tenant != w.Tenant || g.Object != w.Object || g.Schema != w.Schema ||
		g.Op != w.Op || !slices.Equal(g.Nulled, w.Nulled) || g.Origin != w.Origin || !sameVersion(g.Version, w.Version) ||
		!slices.Equal(g.Position.Token, w.Position.Token) || g.Position.Stream != w.Position.Stream {
		t.Errorf("dead letter %.60q: change = %.80v, want %.80v", want.Key(), g, w)
	}
	if (g.Raw == nil) != (w.Raw == nil) || g.Raw != nil && (!bytes.Equal(g.Raw.Payload, w.Raw.Payload) || g.Raw.Reason != w.Raw.Reason) {
		t.Errorf("dead letter %.60q: raw = %.80v, want %.80v", want.Key(), g.Raw, w.Raw)
	}
	if got.Err != want.Err || got.Destination != want.Destination || got.Kind != want.Kind {
		t.Errorf("dead letter %.60q: err %.80q destination %q kind %v, want %.80q %q %v", want.Key(), got.Err, got.Destination, got.Kind, want.Err, want.Destination, want.Kind)
	}
}

// RunPoison tests that values a store cannot write as they are (non-finite
// floats, NUL bytes, invalid UTF-8, over-long keys and values) are stored
// by every method and every commit, round-trip exactly where the store
// keeps them whole, and never fail a commit.
func RunPoison(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	t.Run("DeadLetters", func(t *testing.T) {
		s := open(t)
		keys := []string{"plain", nulText, badUTF8, marked}
		for _, k := range keys {
			noErr(t, s.PutDeadLetter(ctx, poisonDeadLetter(k, at)))
		}
		noErr(t, s.CommitState(ctx, sfsync.Commit{DeadLetters: []sfsync.DeadLetter{poisonDeadLetter("in-commit", at)},
			Checkpoints: []sfsync.Position{{Stream: "s", Token: []byte{1}}}}))
		for _, k := range append(keys, "in-commit") {
			checkPoisonDeadLetter(t, must(s.DeadLetter(ctx, k))(t), poisonDeadLetter(k, at))
		}
		list := must(s.DeadLetters(ctx, sfsync.DeadLetterQuery{Object: "Contact\x00\xff"}))(t)
		if len(list) != len(keys)+1 {
			t.Errorf("dead letters of an object with NUL and invalid UTF-8 in its name: %d, want %d", len(list), len(keys)+1)
		}
		noErr(t, s.DeleteDeadLetter(ctx, nulText))
		if _, err := s.DeadLetter(ctx, nulText); err == nil {
			t.Error("a dead letter with NUL in its key survived its deletion")
		}
	})
	t.Run("Oversize", func(t *testing.T) {
		s := open(t)
		d := poisonDeadLetter(longKey, at)
		d.Change.Fields["Huge"] = hugeValue
		d.Change.Fields["Unencodable"] = make(chan int)
		d.Change.Fields["Func"] = func() {}
		d.Change.Raw.Payload = hugeRaw
		d.Err = longText
		noErr(t, s.CommitState(ctx, sfsync.Commit{DeadLetters: []sfsync.DeadLetter{d},
			Outcomes: []sfsync.Outcome{{Key: longKey, Object: "Contact", RecordID: longKey, Status: sfsync.StatusDeadLettered, Reason: longText, At: at}},
			Claims:   []string{longKey}, ClaimTTL: longTTL}))
		got := must(s.DeadLetter(ctx, longKey))(t)
		// What fits comes back exactly; what does not may be described.
		want := poisonDeadLetter(longKey, at)
		for k := range want.Change.Fields {
			if !sameValue(got.Change.Fields[k], want.Change.Fields[k]) {
				t.Errorf("field %q = %.80v beside oversize ones, want %.80v", k, got.Change.Fields[k], want.Change.Fields[k])
			}
		}
		if v := got.Change.Fields["Huge"]; v == nil || v == "" {
			t.Error("an oversize value vanished instead of being kept or described")
		}
		if got.Change.Raw == nil || !bytes.HasPrefix(hugeRaw, got.Change.Raw.Payload) || len(got.Change.Raw.Payload) == 0 ||
			len(got.Change.Raw.Payload) < len(hugeRaw) && !strings.Contains(got.Change.Raw.Reason, "cut") {
			t.Errorf("an oversize raw payload came back as %d bytes with reason %.200q: want it whole, or its beginning and a reason that says it was cut", len(got.Change.Raw.Payload), got.Change.Raw.Reason)
		}
		if got.Change.Key != longKey {
			t.Error("the key of a dead letter with a long key did not round-trip")
		}
		if got.Err != longText && !strings.Contains(got.Err, strconv.Itoa(len(longText))) {
			t.Errorf("a long error came back as %.60q: want it whole or a description that gives its length", got.Err)
		}
		if !must(s.Seen(ctx, longKey))(t) {
			t.Error("a long claimed key is not seen")
		}
		if os := must(s.Outcomes(ctx, sfsync.OutcomeQuery{Key: longKey}))(t); len(os) != 1 {
			t.Errorf("outcomes by a long key: %d, want 1", len(os))
		}
		if os := must(s.Outcomes(ctx, sfsync.OutcomeQuery{Key: longKey[:4999]}))(t); len(os) != 0 {
			t.Errorf("outcomes by a prefix of a long key: %d, want 0", len(os))
		}
	})
	t.Run("Ledger", func(t *testing.T) { poisonLedger(ctx, t, open(t), at) })
	t.Run("KeysAndNames", func(t *testing.T) {
		s := open(t)
		keys := []string{nulText, badUTF8, marked, marked + "x", "\u241b\"quoted\""}
		noErr(t, s.CommitState(ctx, sfsync.Commit{Claims: keys[:2], ClaimTTL: longTTL,
			Checkpoints: []sfsync.Position{{Stream: nulText, Token: []byte{1}}, {Stream: badUTF8, Token: []byte{2}}}}))
		for _, k := range keys[2:] {
			if !must(s.Claim(ctx, k, longTTL))(t) {
				t.Errorf("first claim of %q refused", k)
			}
		}
		for _, k := range keys {
			if !must(s.Seen(ctx, k))(t) {
				t.Errorf("claimed key %q not seen", k)
			}
		}
		if b, ok := s.(sfsync.SeenBatcher); ok {
			if seen := must(b.SeenMany(ctx, append(slices.Clone(keys), "nul\x00")))(t); len(seen) != len(keys) {
				t.Errorf("SeenMany = %d keys, want %d", len(seen), len(keys))
			}
		}
		if must(s.Seen(ctx, "nul"))(t) || must(s.Seen(ctx, "bad\ufffd\ufffdutf8"))(t) {
			t.Error("a key was seen through a similar one")
		}
		for i, st := range []string{nulText, badUTF8} {
			if p := must(s.LoadCheckpoint(ctx, st))(t); p.Stream != st || !slices.Equal(p.Token, []byte{byte(i + 1)}) {
				t.Errorf("checkpoint of %q = %+v", st, p)
			}
		}
		l := must(s.AcquireLease(ctx, nulText, badUTF8, longTTL))(t)
		if l.Name != nulText || l.Holder != badUTF8 {
			t.Errorf("lease = %+v", l)
		}
		noErr(t, s.CommitState(ctx, sfsync.Commit{Checkpoints: []sfsync.Position{{Stream: "fenced", Token: []byte{1}}}, Lease: &l}))
		if _, err := s.AcquireLease(ctx, nulText, "other", longTTL); err == nil {
			t.Error("a lease with NUL in its name was taken while held")
		}
		noErr(t, s.ReleaseLease(ctx, l))
	})
}

func poisonLedger(ctx context.Context, t *testing.T, s Store, at time.Time) {
	var all []sfsync.Outcome
	for i, text := range []string{"plain", nulText, badUTF8, marked, "\u241b\"x\""} {
		all = append(all, sfsync.Outcome{
			Key: fmt.Sprintf("%s-%d", text, i), Tenant: text, Object: text, RecordID: text + "-r", Source: sfsync.System(text),
			Destination: sfsync.External(text), Op: sfsync.Op(text), Status: sfsync.Status(text), Reason: "because " + text,
			Attempts: math.MaxInt32, Version: sfsync.Version{Time: at.Add(time.Nanosecond), Commit: 12, Seq: 3, Counter: 4},
			Position: sfsync.Position{Stream: text, Token: []byte{0, byte(i)}}, At: at.Add(time.Duration(i) * time.Second),
		})
	}
	noErr(t, s.CommitState(ctx, sfsync.Commit{Outcomes: all[:2]}))
	noErr(t, s.RecordOutcomes(ctx, all[2:]))
	got := must(s.Outcomes(ctx, sfsync.OutcomeQuery{}))(t)
	if len(got) != len(all) {
		t.Fatalf("%d outcomes, want %d", len(got), len(all))
	}
	for i := range all {
		if !sameOutcome(got[i], all[i]) {
			t.Errorf("outcome %d = %+v, want %+v", i, got[i], all[i])
		}
	}
	for _, o := range all {
		for name, q := range map[string]sfsync.OutcomeQuery{
			"key": {Key: o.Key}, "record": {Object: o.Object, RecordID: o.RecordID}, "status": {Status: o.Status},
		} {
			if got := must(s.Outcomes(ctx, q))(t); len(got) != 1 || !sameOutcome(got[0], o) {
				t.Errorf("outcomes by %s %q: %d", name, q.Key+q.RecordID+string(q.Status), len(got))
			}
		}
	}
}
