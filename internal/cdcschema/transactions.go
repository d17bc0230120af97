package cdcschema

import (
	"fmt"
	"sync"
)

// FirstCommitNumber is the commit number [NewTransactions] starts after: a
// system change number as large as real ones, above 2^53, so that a reader
// that passes commit numbers through float64 (or JSON numbers) loses
// precision and is caught.
const FirstCommitNumber int64 = 1652977933433528300

// Transactions numbers transactions as Salesforce does: each one gets a
// transaction key and a commit number larger than every earlier one, which
// all events of the transaction share. It is safe for concurrent use.
type Transactions struct {
	mu   sync.Mutex
	last int64
}

// NewTransactions returns a sequence whose first commit number follows
// [FirstCommitNumber].
func NewTransactions() *Transactions { return &Transactions{last: FirstCommitNumber} }

// Next begins a transaction: its key and its commit number.
func (t *Transactions) Next() (transactionKey string, commitNumber int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last++
	// Keys look like Salesforce's (UUID-like) and are unique per sequence.
	return fmt.Sprintf("0000%04x-%04x-4e54-a3f9-e8cefdb2c2b7", uint16(t.last>>16), uint16(t.last)), t.last
}
