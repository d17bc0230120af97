package salesforce

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sfsync/sfsync/internal/bounded"
)

// Row is one record of a query job's results: the page's columns (in
// SELECT order) and the record's typed values. Rows of one page share
// their columns; a Row's values are its own.
type Row struct {
	cols *columns
	vals []any
}

// Columns returns the column names, as the CSV header spells them
// (relationship columns are dotted paths such as Account.Name). The slice
// is shared: do not modify it.
func (r Row) Columns() []string {
	if r.cols == nil {
		return nil
	}
	return r.cols.names
}

// Values returns the values in column order (nil for an empty value).
func (r Row) Values() []any { return r.vals }

// Get returns the value of the column name (case-insensitive) and whether
// the row has that column.
func (r Row) Get(name string) (any, bool) {
	if r.cols == nil {
		return nil, false
	}
	i, ok := r.cols.index[name]
	if !ok {
		i, ok = r.cols.index[strings.ToLower(name)]
	}
	if !ok {
		return nil, false
	}
	return r.vals[i], true
}

// Map returns the record as a map from column name to value.
func (r Row) Map() map[string]any {
	m := make(map[string]any, len(r.vals))
	for i, v := range r.vals {
		m[r.cols.names[i]] = v
	}
	return m
}

// columns types the values of a results page.
type columns struct {
	names []string
	index map[string]int // by name as spelled and by lower-case name
	kinds []ValueKind
}

func newColumns(desc *ObjectDescribe, header []string) *columns {
	c := &columns{names: make([]string, len(header)), index: make(map[string]int, 2*len(header)), kinds: make([]ValueKind, len(header))}
	for i, h := range header {
		// A BOM is not expected, but some CSV writers add one.
		h = strings.TrimPrefix(h, "\ufeff")
		c.names[i] = h
		c.index[h] = i
		c.index[strings.ToLower(h)] = i
		c.kinds[i] = ValueString
		if f, ok := desc.Field(h); ok {
			c.kinds[i] = f.Kind()
		}
		// Relationship columns (Account.Name) stay strings: typing them
		// would need the parent's describe.
	}
	return c
}

func (c *columns) convert(rec []string) ([]any, error) {
	vals := make([]any, len(rec))
	for i, s := range rec {
		if s == "" {
			// Salesforce writes null as an empty value, quoted or not;
			// CSV has no way to tell null from "".
			continue
		}
		v, err := typed(c.kinds[i], s)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.names[i], err)
		}
		vals[i] = v
	}
	return vals, nil
}

// typed converts a non-empty CSV value to the Go value of kind.
func typed(kind ValueKind, s string) (any, error) {
	switch kind {
	case ValueBool:
		switch {
		case strings.EqualFold(s, "true"):
			return true, nil
		case strings.EqualFold(s, "false"):
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a boolean", s)
	case ValueInt:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		// Integer fields have been seen holding decimals in Bulk results.
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case ValueNumber:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case ValueDate:
		if t, ok := fastTime(s); ok {
			return t, nil
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date", s)
		}
		return t, nil
	case ValueDateTime:
		if t, ok := fastTime(s); ok {
			return t, nil
		}
		t, err := ParseDateTime(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a datetime", s)
		}
		return t, nil
	}
	return s, nil
}

// delimiter returns the character of a job's columnDelimiter name.
func delimiter(name string) (rune, bool) {
	switch strings.ToUpper(name) {
	case "COMMA":
		return ',', true
	case "BACKQUOTE":
		return '`', true
	case "CARET":
		return '^', true
	case "PIPE":
		return '|', true
	case "SEMICOLON":
		return ';', true
	case "TAB":
		return '\t', true
	}
	return 0, false
}

// Bounds of a results page's CSV. encoding/csv holds a whole record in
// memory, and a quote that never closes makes the rest of the stream one
// record: a record is bounded instead. A long text area holds at most
// 131,072 characters (up to 4 bytes each, quotes doubled), and an object's
// long text areas together at most 1,638,400.
const (
	maxCSVRecord = 16 << 20
	maxCSVField  = 1 << 20
)

// csvReader reads Salesforce's CSV: every record the same number of
// fields, CRLF or LF line endings (encoding/csv takes both), NUL bytes
// dropped (they have been seen in real results and are not valid in the
// text of any field), records up to maxCSVRecord bytes and fields up to
// maxCSVField.
type csvReader struct {
	*csv.Reader
	lim *recordLimit
}

func newCSVReader(r io.Reader, delim string) *csvReader {
	lim := &recordLimit{r: nulStripper{r}, max: maxCSVRecord}
	rd := csv.NewReader(lim)
	if d, ok := delimiter(delim); ok {
		rd.Comma = d
	}
	rd.ReuseRecord = true
	return &csvReader{Reader: rd, lim: lim}
}

// Read returns the next record. A record or field out of bounds is an
// error matching [bounded.ErrTooLarge]: reading the page again would find
// it again.
func (c *csvReader) Read() ([]string, error) {
	rec, err := c.Reader.Read()
	// encoding/csv reads ahead through a 4 KiB buffer: the count restarts
	// at most that much early.
	c.lim.n = 0
	if err != nil {
		return nil, err
	}
	for i, f := range rec {
		if len(f) > maxCSVField {
			return nil, fmt.Errorf("%w: field %d is %d bytes, more than the %d accepted", bounded.ErrTooLarge, i+1, len(f), maxCSVField)
		}
	}
	return rec, nil
}

// recordLimit fails a read once max bytes have been read since the count
// was last reset (at each record).
type recordLimit struct {
	r   io.Reader
	n   int
	max int
}

func (l *recordLimit) Read(p []byte) (int, error) {
	if l.n >= l.max {
		return 0, fmt.Errorf("%w: a CSV record longer than %d bytes", bounded.ErrTooLarge, l.max)
	}
	if len(p) > l.max-l.n {
		p = p[:l.max-l.n]
	}
	k, err := l.r.Read(p)
	l.n += k
	return k, err
}

type nulStripper struct{ r io.Reader }

func (n nulStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		if i := bytes.IndexByte(p[:k], 0); i >= 0 {
			w := i
			for _, b := range p[i:k] {
				if b != 0 {
					p[w] = b
					w++
				}
			}
			k = w
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// restMap returns the record with its values as the REST API's JSON has
// them (datetimes as 2006-01-02T15:04:05.000+0000, dates as 2006-01-02,
// every number as float64), so that records read through Bulk and through
// REST compare equal.
func (r Row) restMap() map[string]any {
	m := make(map[string]any, len(r.vals))
	for i, v := range r.vals {
		switch x := v.(type) {
		case time.Time:
			if r.cols.kinds[i] == ValueDate {
				v = x.Format("2006-01-02")
			} else {
				v = x.UTC().Format("2006-01-02T15:04:05.000+0000")
			}
		case int64:
			v = float64(x)
		}
		m[r.cols.names[i]] = v
	}
	return m
}

// fastTime parses the two forms Bulk results use, 2006-01-02 and
// 2006-01-02T15:04:05.000Z, without time.Parse, which costs more than the
// CSV parsing of a whole record; anything else is left to time.Parse.
func fastTime(s string) (time.Time, bool) {
	if len(s) != 10 && len(s) != 24 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d := num(0, 4), num(5, 7), num(8, 10)
	h, mi, sec, ms := 0, 0, 0, 0
	if len(s) == 24 {
		if s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
			return time.Time{}, false
		}
		h, mi, sec, ms = num(11, 13), num(14, 16), num(17, 19), num(20, 23)
	}
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms < 0 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ms*int(time.Millisecond), time.UTC)
	if t.Day() != d {
		return time.Time{}, false // February 30th and the like
	}
	return t, true
}
