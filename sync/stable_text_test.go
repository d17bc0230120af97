package sync

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfsync/sfsync"
)

// referenceFingerprint is FieldFingerprint as first written, with fmt and
// string concatenation. Fingerprints are stored (EchoStore), so a write
// remembered by one build must be recognised by the next: the faster
// FieldFingerprint has to produce the same strings.
func referenceFingerprint(sys sfsync.System, object, id, field string, value any) string {
	place := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s", sys, object, id, field))
	val := sha256.Sum256([]byte(referenceNormal(value)))
	return base64.RawURLEncoding.EncodeToString(place[:15]) + "." + base64.RawURLEncoding.EncodeToString(val[:12])
}

func referenceNormal(v any) string {
	numeric := func(f float64) string {
		if math.Trunc(f) == f && math.Abs(f) < 1e15 {
			return "n" + strconv.FormatInt(int64(f), 10)
		}
		return "n" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	switch x := v.(type) {
	case nil:
		return "\x00null"
	case string:
		return "s" + x
	case bool:
		return "b" + strconv.FormatBool(x)
	case int:
		return numeric(float64(x))
	case int32:
		return numeric(float64(x))
	case int64:
		return numeric(float64(x))
	case float32:
		return numeric(float64(x))
	case float64:
		return numeric(x)
	case time.Time:
		return "t" + x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return "s" + x.String()
	}
	return fmt.Sprintf("v%v", v)
}

type stringer string

func (s stringer) String() string { return string(s) }

func fingerprintValues() []any {
	long := strings.Repeat("x", 500)
	return []any{
		nil, "", "a", "5", long, "\x00create", true, false,
		0, 5, -7, int32(12), int64(1) << 40, int64(1) << 60, float32(2.5), 5.0, 5.25, 1e15, 1e20, math.Copysign(0, -1),
		math.NaN(), math.Inf(1),
		time.Date(2026, 3, 2, 9, 0, 14, 500, time.FixedZone("x", 3600)), time.Time{},
		stringer("s"), []string{"a", "b"}, map[string]int{"k": 1}, struct{ A int }{3},
	}
}

func TestFieldFingerprintIsStable(t *testing.T) {
	places := [][4]string{
		{"salesforce", "Contact", "003000000000001AAA", "Phone"},
		{"external:erp", "contact", "C-1", ""},
		{"", "", "", ""},
		{"external:" + strings.Repeat("e", 120), strings.Repeat("O", 80), strings.Repeat("1", 40), "Mailing.Street"},
	}
	for _, p := range places {
		for _, v := range fingerprintValues() {
			got := FieldFingerprint(sfsync.System(p[0]), p[1], p[2], p[3], v)
			if want := referenceFingerprint(sfsync.System(p[0]), p[1], p[2], p[3], v); got != want {
				t.Errorf("FieldFingerprint(%q, %#v) = %s, want %s", p, v, got, want)
			}
		}
	}
}

func TestSameValueComparesAsFingerprints(t *testing.T) {
	vs := fingerprintValues()
	for _, a := range vs {
		for _, b := range vs {
			if got, want := sameValue(a, b), referenceNormal(a) == referenceNormal(b); got != want {
				t.Errorf("sameValue(%#v, %#v) = %v, want %v", a, b, got, want)
			}
		}
	}
	if !sameValue(5, 5.0) || !sameValue("s", stringer("s")) || sameValue("5", 5) {
		t.Error("numbers compare by value and strings by text, whatever their Go type")
	}
}

func BenchmarkFieldFingerprint(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = FieldFingerprint(sfsync.Salesforce, "Contact", "003000000000001AAA", "Phone", "+1 555 0100")
	}
}

// TestAppliedReasonReadsAsBefore pins the applied outcome's reason to the
// text it had when it was built with fmt, which users' dashboards and the
// simulator's traces read.
func TestAppliedReasonReadsAsBefore(t *testing.T) {
	for _, tc := range []struct {
		op       sfsync.Op
		touched  []string
		attempts int
		notes    []string
	}{
		{sfsync.OpUpdate, []string{"Email", "Phone"}, 1, nil},
		{sfsync.OpCreate, nil, 3, []string{"last write wins"}},
		{sfsync.OpUpdate, []string{"Phone"}, 12, []string{"no conflict policy", "not [Email]: newer data from salesforce already applied"}},
		{sfsync.OpDelete, nil, 1, []string{"r"}},
		{sfsync.OpEvent, []string{"x"}, 2, nil},
	} {
		want := fmt.Sprintf("wrote %v to %s", tc.touched, sfsync.External("erp"))
		if tc.op == sfsync.OpDelete || tc.op == sfsync.OpEvent {
			want = fmt.Sprintf("%s written to %s", tc.op, sfsync.External("erp"))
		}
		if tc.attempts > 1 {
			want += fmt.Sprintf(" after %d attempts", tc.attempts)
		}
		want = joinNotes(want, tc.notes)
		if got := appliedReason(tc.op, tc.touched, sfsync.External("erp"), tc.attempts, tc.notes); got != want {
			t.Errorf("appliedReason = %q, want %q", got, want)
		}
	}
}
