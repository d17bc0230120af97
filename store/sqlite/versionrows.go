package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	stdsync "sync"
)

// versionRowLimit bounds the packed version rows a store keeps in memory
// (about 300 bytes each with an eight-field mapping).
const versionRowLimit = 16384

// versionRows keeps the packed version rows this store's writer last
// committed, so that a put overlays its entries on them without reading
// them back inside the commit: that read was about 4 µs of each event's
// 79 in the durable bench, one B-tree search per record of the batch.
//
// The rows are the database's only while no other connection wrote to it:
// another store on the file, or a person with the sqlite3 shell. A put
// reads PRAGMA data_version inside its transaction, which changes when
// another connection commits, and forgets every row when it did. Our own
// writer's commits do not change it; only puts write record_versions,
// and they hold mu from their read to the update after their commit, so
// the rows never run ahead of or behind what is committed. A put that
// fails forgets every row: its connection may have been replaced, whose
// data_version does not compare with the old one's.
type versionRows struct {
	mu          stdsync.Mutex
	known       bool
	dataVersion int64
	rows        map[versionKey][]byte
}

// versionKey is a row's key as stored.
type versionKey struct{ record, source string }

// begin checks the rows against the database's data_version as tx sees it;
// mu is held.
func (c *versionRows) begin(ctx context.Context, tx *sql.Tx) error {
	var dv int64
	if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&dv); err != nil {
		return err
	}
	if !c.known || dv != c.dataVersion {
		clear(c.rows)
		c.known, c.dataVersion = true, dv
	}
	return nil
}

// settle keeps the rows a put wrote once its transaction committed, or
// forgets every row when it did not; mu is held.
func (c *versionRows) settle(written []*versionRow, committed bool) {
	if !committed {
		clear(c.rows)
		c.known = false
		return
	}
	if c.rows == nil {
		c.rows = make(map[versionKey][]byte, len(written))
	}
	for _, r := range written {
		if len(c.rows) >= versionRowLimit {
			// Forget an eighth, in the map's own (random) order: cheap, and
			// a working set larger than the limit misses either way.
			n := versionRowLimit / 8
			for k := range c.rows {
				delete(c.rows, k)
				if n--; n == 0 {
					break
				}
			}
		}
		// A copy: the put packs every row of its batch into one buffer,
		// which a kept row would keep whole.
		c.rows[versionKey{r.kRecord, r.kSource}] = bytes.Clone(r.stored)
	}
}
