package salesforce

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/sfsync/sfsync"
	"github.com/sfsync/sfsync/internal/bounded"
	"github.com/sfsync/sfsync/internal/bounded/boundedtest"
)

// endless is a CSV stream whose second record opens a quote and never
// closes it.
type endless struct{ head []byte }

func (e *endless) Read(p []byte) (int, error) {
	if len(e.head) > 0 {
		n := copy(p, e.head)
		e.head = e.head[n:]
		return n, nil
	}
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// A quote that never closes cannot make one record of the whole stream.
func TestBulkCSVRecordIsBounded(t *testing.T) {
	rd := newCSVReader(&endless{head: []byte("\"Id\",\"Name\"\n\"001A\",\"")}, "COMMA")
	const limit = 1 << 20 // a smaller bound than maxCSVRecord keeps the test fast
	rd.lim.max = limit
	if _, err := rd.Read(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := rd.Read()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, bounded.ErrTooLarge) {
		t.Fatalf("an endless record read as %v", err)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 12*limit {
		t.Fatalf("reading up to the bound allocated %d bytes", grown)
	}
}

func TestBulkCSVFieldIsBounded(t *testing.T) {
	body := "\"Id\",\"Note__c\"\n\"001A\",\"" + strings.Repeat("y", maxCSVField+1) + "\"\n"
	rd := newCSVReader(strings.NewReader(body), "COMMA")
	if _, err := rd.Read(); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Read(); !errors.Is(err, bounded.ErrTooLarge) {
		t.Fatalf("a field over the bound read as %v", err)
	}
}

// The parse of a page stops at a field out of bounds with a permanent
// error: fetching the page again would find the same record.
func TestBulkResultsRecordOutOfBoundsIsPermanent(t *testing.T) {
	page := &ResultPage{JobID: "750A", body: io.NopCloser(strings.NewReader("\"Id\"\n\"001A\"\n\"" + strings.Repeat("y", maxCSVField+1) + "\"\n")), desc: thingDescribe(), job: QueryJob{ColumnDelimiter: "COMMA"}, NumberOfRecords: -1}
	_, err := page.parse(func(Row, error) bool { return true })
	if !errors.Is(err, bounded.ErrTooLarge) || !sfsync.IsPermanent(err) {
		t.Fatalf("parse: %v", err)
	}
}

func thingDescribe() *ObjectDescribe {
	d := &ObjectDescribe{Name: "Thing__c", Fields: []FieldDescribe{
		{Name: "Id", Type: "id"}, {Name: "Flag__c", Type: "boolean"}, {Name: "N__c", Type: "int"},
		{Name: "Amount__c", Type: "currency"}, {Name: "Day__c", Type: "date"}, {Name: "At__c", Type: "datetime"},
		{Name: "Name", Type: "string"}, {Name: "SystemModstamp", Type: "datetime"}, {Name: "IsDeleted", Type: "boolean"},
	}}
	d.index()
	return d
}

// Any bytes as a results page read within a multiple of their size,
// without a panic: every record is typed or reported.
func FuzzBulkCSV(f *testing.F) {
	for _, s := range []string{
		// The worked example of bulk-api-2.md.
		"\"Id\",\"Name\",\"SystemModstamp\",\"IsDeleted\"\n\"001R000000aaaaaAAA\",\"Acme, \"\"Intl\"\"\",\"2026-01-02T03:04:05.000Z\",\"false\"\n\"001R000000bbbbbAAA\",\"Beta\",\"2026-01-02T03:04:05.000Z\",\"false\"\n",
		"\"Id\",\"Flag__c\",\"N__c\",\"Amount__c\",\"Day__c\",\"At__c\"\r\n\"a01\",\"true\",\"3\",\"1.5\",\"2026-01-02\",\"2026-01-02T03:04:05.000Z\"\r\n",
		"\"Id\",\"Name\"\n\"a01\",\"line one\nline two\"\n",
		"\"Id\",\"Name\"\n\"a01\",\"",
		"\x00\"Id\"\x00\n",
	} {
		f.Add([]byte(s))
	}
	desc := thingDescribe()
	f.Fuzz(func(t *testing.T, data []byte) {
		read := func() {
			rd := newCSVReader(bytes.NewReader(data), "COMMA")
			header, err := rd.Read()
			if err != nil {
				return
			}
			cols := newColumns(desc, header)
			rd.FieldsPerRecord = len(header)
			for {
				rec, err := rd.Read()
				if err != nil {
					return
				}
				if _, err := cols.convert(rec); err != nil {
					return
				}
			}
		}
		boundedtest.Check(t, boundedtest.Bound{PerByte: 64, Fixed: 64 << 10, FixedObjects: 200}, len(data), read)
	})
}
