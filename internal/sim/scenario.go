package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/sfsync/sfsync"
)

// Side is one of the two systems a scenario syncs.
type Side int

// The two sides: the fake Salesforce org and the external system "erp".
const (
	SF Side = iota
	Ext
)

func (s Side) String() string {
	if s == SF {
		return "SF"
	}
	return "EXT"
}

// system is the engine's name for the side.
func (s Side) system() sfsync.System {
	if s == SF {
		return sfsync.Salesforce
	}
	return erpSystem
}

var erpSystem = sfsync.External("erp")

// fieldSpec maps one Salesforce field to the external system's name.
type fieldSpec struct {
	SF, Ext  string
	Nullable bool
}

// objectSpec is one synced object as the fake org knows it.
type objectSpec struct {
	Name   string // Salesforce object
	Entity string // external entity
	Prefix string // external ids are Prefix-n
	Fields []fieldSpec
}

// The objects scenarios sync. MailingCity and BillingCity are components of
// compound address fields (CDC sends MailingAddress.City), so the
// engine's flattening of compound names is on every path.
var (
	contactSpec = objectSpec{Name: "Contact", Entity: "person", Prefix: "P", Fields: []fieldSpec{
		{SF: "LastName", Ext: "last_name"}, {SF: "Email", Ext: "email", Nullable: true},
		{SF: "Phone", Ext: "phone", Nullable: true}, {SF: "MailingCity", Ext: "city", Nullable: true},
	}}
	accountSpec = objectSpec{Name: "Account", Entity: "company", Prefix: "C", Fields: []fieldSpec{
		{SF: "Name", Ext: "name"}, {SF: "Industry", Ext: "industry", Nullable: true},
		{SF: "Phone", Ext: "phone", Nullable: true}, {SF: "BillingCity", Ext: "city", Nullable: true},
	}}
)

// linkField is the external id field that links a Salesforce record to its
// external twin; every record a scenario creates carries it.
const linkField = "External_Id__c"

// recordSpec is one record of the workload.
type recordSpec struct {
	Object int // index into Scenario.Objects
	ExtID  string
}

// StepKind names what a step does.
type StepKind string

// The step kinds.
const (
	StepCreate     StepKind = "create"      // Side creates Rec with every field
	StepCreateBoth StepKind = "create-both" // both sides create Rec (Fields on SF, Fields2 on EXT)
	StepEdit       StepKind = "edit"        // Side edits Rec
	StepBulk       StepKind = "bulk"        // one Salesforce API transaction edits Recs
	StepBulkCreate StepKind = "bulk-create" // one Salesforce API transaction creates Recs
	StepDelete     StepKind = "delete"
	StepUndelete   StepKind = "undelete" // Salesforce only: restore from the recycle bin
	StepSettle     StepKind = "settle"   // wait for quiescence
	StepFault      StepKind = "fault"
	StepCrash      StepKind = "crash"    // abandon the engine without draining, start another
	StepTakeover   StepKind = "takeover" // freeze the engine; a second one takes the lease
	StepStop       StepKind = "stop"     // settle, then stop the engine cleanly (an outage begins)
	StepStart      StepKind = "start"    // start an engine after a stop
	StepRequeue    StepKind = "requeue"  // requeue every dead letter
)

// FaultKind names an injected fault.
type FaultKind string

// The faults. Each is counted by kind in the summary.
const (
	FaultDupSF       FaultKind = "pubsub-duplicate"  // the Pub/Sub server resends the next N events
	FaultDisconnect  FaultKind = "pubsub-disconnect" // the stream ends after N more events
	FaultKeepalive   FaultKind = "keepalive-stretch" // N keepalive-only deliveries
	FaultSchema      FaultKind = "schema-fetch"      // the next N schema fetches fail (retryable)
	FaultDupExt      FaultKind = "ext-deliver-twice" // the next engine reads the ERP feed twice over
	FaultExtRetry    FaultKind = "ext-retryable"     // ERP writes fail N times, retryable
	FaultExtPerm     FaultKind = "ext-permanent"     // the next ERP write fails permanently
	FaultExtTimeout  FaultKind = "ext-timeout"       // N ERP writes take effect, then time out
	FaultSFRetry     FaultKind = "sf-unable-to-lock" // Salesforce writes fail N times, retryable
	FaultSFLimit     FaultKind = "sf-request-limit"  // REQUEST_LIMIT_EXCEEDED N times
	FaultSFPerm      FaultKind = "sf-permanent"      // the next Salesforce write fails permanently
	FaultSFTimeout   FaultKind = "sf-timeout"        // N Salesforce writes take effect, then time out
	FaultStall       FaultKind = "slow-write"        // the next write in either direction hangs until a crash or settle
	FaultCrash       FaultKind = "engine-crash"      // counted for StepCrash
	FaultTakeover    FaultKind = "lease-takeover"    // counted for StepTakeover
	FaultOutage      FaultKind = "outage-over-72h"   // counted for a stop longer than retention
	FaultRequeue     FaultKind = "requeue"           // counted for StepRequeue
	FaultClockSkew   FaultKind = "clock-skew"        // the ERP's clock is off
	FaultSlowState   FaultKind = "slow-state"        // the engine's state lookups take a random while (Scenario.SlowState)
	FaultBackfill    FaultKind = "backfill-crash"    // counted for a crash aimed at a running backfill
	FaultOutboxCrash FaultKind = "outbox-read-crash" // a crash that struck right after a read of the pgmirror outbox
)

// Fault is one injected fault.
type Fault struct {
	Kind FaultKind
	N    int
}

// Step is one action of a scenario.
type Step struct {
	Kind StepKind
	Side Side
	Rec  int
	Recs []int
	// Fields are Salesforce field names to values (nil sets null).
	Fields  map[string]any
	Fields2 map[string]any
	// Advance moves virtual time before the step; zero makes its commit
	// time tie with the previous step's.
	Advance time.Duration
	Fault   Fault
	// DupExt makes the engine a start or crash step creates read the ERP
	// feed with every delivery twice.
	DupExt bool
	// Progress makes a crash wait until the engine has committed this many
	// more outcomes (or a short while has passed), so that it strikes mid-run
	// rather than before the engine has started on the work.
	Progress int
	// Backfill aims a crash at a running backfill: "querying" (its Bulk job
	// is created), "reading" (a page's progress is stored) or "page" (a
	// page's records are handed to the engine, their outcomes and the
	// page's progress not yet stored). It waits a short while for that
	// point, then crashes whatever the backfill has done.
	Backfill string
	// Note says why the generator made the step (concurrent edit, revert...).
	Note string
}

// Scenario is everything a seed determines.
type Scenario struct {
	Seed    int64
	Policy  PolicySpec
	Store   string // "sqlite", "memory" or "postgres"
	Objects []objectSpec
	Records []recordSpec
	// ExtSkew is how far the ERP's clock is ahead of the org's.
	ExtSkew time.Duration
	Workers int
	Batch   int
	Lease   bool
	// Backfill configures the engine's backfill (scenarios with an outage).
	Backfill bool
	// BulkBackfill makes backfills one Bulk API job read in pages of two
	// records, so that a crash can interrupt them between pages.
	BulkBackfill bool
	// SlowState is the most each of the engine's state lookups (dedup,
	// write fingerprints, the version map) waits, as a slow database's
	// would; zero for none. It is drawn apart from the workload, so a seed's
	// steps do not depend on it.
	SlowState time.Duration
	Steps     []Step
}

func (s *Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", s.Kind)
	switch s.Kind {
	case StepCreate, StepEdit, StepDelete, StepUndelete:
		fmt.Fprintf(&b, " %s rec=%d", s.Side, s.Rec)
	case StepCreateBoth:
		fmt.Fprintf(&b, " rec=%d", s.Rec)
	case StepBulk, StepBulkCreate:
		fmt.Fprintf(&b, " SF recs=%v", s.Recs)
	case StepFault:
		fmt.Fprintf(&b, " %s n=%d", s.Fault.Kind, s.Fault.N)
	}
	if len(s.Fields) > 0 {
		fmt.Fprintf(&b, " %s", fmtFields(s.Fields))
	}
	if len(s.Fields2) > 0 {
		fmt.Fprintf(&b, " ext:%s", fmtFields(s.Fields2))
	}
	if s.DupExt {
		b.WriteString(" (ERP feed delivered twice)")
	}
	if s.Backfill != "" {
		fmt.Fprintf(&b, " (backfill %s)", s.Backfill)
	}
	if s.Note != "" {
		fmt.Fprintf(&b, " [%s]", s.Note)
	}
	return b.String()
}

func fmtFields(m map[string]any) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		v := m[k]
		if v == nil {
			parts = append(parts, k+"=null")
		} else {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}
