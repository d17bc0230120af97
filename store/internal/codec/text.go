// Package codec is the encoding the SQL stores share for values they did not
// choose: text columns that PostgreSQL would reject (NUL bytes, invalid
// UTF-8) or that are too long to index, and changes with field values
// encoding/json rejects or cannot round-trip. Every function is total: a
// poisoned event is stored, in a form that round-trips exactly where
// possible and is described where it cannot, and never fails a commit.
//
// Bounds, chosen to stay clear of PostgreSQL's B-tree entry limit (about
// 2,700 bytes for a whole index entry) and of rows too big to commit in a
// batch:
//
//   - [KeyLimit] bytes for identifiers in indexed columns (keys, objects,
//     record ids, streams, lease names, echo places, version keys);
//   - [TextLimit] bytes for other text columns (reasons, errors, holders);
//   - [ValueLimit] bytes for each string or byte value of a change and for a
//     raw event's payload, and [ChangeLimit] bytes for all of them together.
//
// A text longer than its bound is stored as a description: its length, its
// SHA-256 and as much of its beginning as fits. Lookups encode their
// arguments the same way, so an over-long key still finds its row.
package codec

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sfsync/sfsync"
)

// Bounds of stored text, in bytes (see the package documentation).
const (
	KeyLimit    = 800
	TextLimit   = 64 << 10
	ValueLimit  = 1 << 20
	ChangeLimit = 8 << 20
)

// marker starts every text that is not stored as itself: "␛" (U+241B,
// SYMBOL FOR ESCAPE), valid UTF-8 that PostgreSQL accepts and people read.
// A text that itself starts with the marker is escaped too, so the
// encoding stays one to one.
const marker = "\u241b"

// cutTag follows the marker in the description of an over-long text; an
// escaped text has a '"' there instead.
const cutTag = "cut "

// Clean reports whether s can be stored as itself in a PostgreSQL text
// column and read back unchanged: valid UTF-8 without NUL bytes.
func Clean(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// Text returns s in a form that is valid UTF-8 without NUL bytes and at most
// limit bytes long (limit is raised to 128 if lower): s itself when it is
// clean, fits and does not start with the marker; else the marker and s
// quoted as a Go string literal; else, when even that is too long, a
// description of s. Equal strings give equal texts, and different strings
// that fit give different texts.
func Text(s string, limit int) string {
	limit = max(limit, 128)
	if len(s) <= limit && Clean(s) && !strings.HasPrefix(s, marker) {
		return s
	}
	// Quoting never shortens: skip it when even the bare string is too long.
	if len(marker)+len(s)+2 <= limit {
		if q := marker + strconv.Quote(s); len(q) <= limit {
			return q
		}
	}
	return Cut(s, limit)
}

// Cut describes s in at most limit bytes (raised to 128 if lower): the
// marker, its length, its SHA-256 and its beginning, quoted.
func Cut(s string, limit int) string {
	limit = max(limit, 128)
	sum := sha256.Sum256([]byte(s))
	head := marker + cutTag + strconv.Itoa(len(s)) + " bytes sha256:" + hex.EncodeToString(sum[:]) + " "
	room := limit - len(head)
	n := min(len(s), room-2)
	q := strconv.Quote(s[:n])
	for len(q) > room && n > 0 {
		n = n * 3 / 4
		q = strconv.Quote(s[:n])
	}
	return head + q
}

// FromText returns the string Text encoded as t: itself, the unquoted
// original, or, for a description of a text that was too long, the
// description as stored.
func FromText(t string) string {
	rest, ok := strings.CutPrefix(t, marker)
	if !ok || !strings.HasPrefix(rest, `"`) {
		return t
	}
	if s, err := strconv.Unquote(rest); err == nil {
		return s
	}
	return t
}

// IsCut reports whether t, as returned by Text, describes a text that was
// too long to keep.
func IsCut(t string) bool { return strings.HasPrefix(t, marker+cutTag) }

// Key is Text with [KeyLimit], for identifiers in indexed columns.
func Key(s string) string { return Text(s, KeyLimit) }

// Keys applies [Key] to each of ss, in a new slice.
func Keys(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Key(s)
	}
	return out
}

// Long is Text with [TextLimit], for text columns that are not indexed.
func Long(s string) string { return Text(s, TextLimit) }

// OutcomeQuery returns q with its text in the stored form outcomes are
// written in (keys, objects, record ids and statuses through [Key]), so
// that it matches them.
func OutcomeQuery(q sfsync.OutcomeQuery) sfsync.OutcomeQuery {
	q.Object, q.RecordID, q.Key = Key(q.Object), Key(q.RecordID), Key(q.Key)
	q.Status = sfsync.Status(Key(string(q.Status)))
	return q
}

// Names packs strings into bytes, for a column that keeps names exactly
// beside indexed columns that may hold them cut.
func Names(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// FromNames unpacks what [Names] packed; it returns nil if b is malformed.
func FromNames(b []byte) []string {
	var out []string
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil
		}
		out = append(out, string(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	return out
}

// NamesIfCut returns [Names] of ss when any of them is cut by [Key], else
// nil: most rows need no copy.
func NamesIfCut(ss ...string) []byte {
	for _, s := range ss {
		if IsCut(Key(s)) {
			return Names(ss...)
		}
	}
	return nil
}
