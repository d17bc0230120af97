package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sfsync/sfsync/pubsub/pubsubtest"
	"github.com/sfsync/sfsync/salesforce/salesforcetest"
)

// The backfill rows' fake org runs in a child process of its own (this
// binary with -serve-org N), like the Pub/Sub server of the other rows, so
// that the memory and CPU the rows report are the consumer's and not those
// of an org holding a million records. It serves REST and Pub/Sub without
// TLS, on loopback. The parent drives it over stdin, one command a line,
// one answer a line:
//
//	usage    answers "ok <API calls used>"
//	reset    zeroes the API usage; answers "ok 0"
//	job      answers "ok <jobs> <polls> <result requests>" of the first job that exists
//	rss      answers "ok <RSS MiB> <peak RSS MiB>" of the org process
//	drift K  moves the org's clock 2 s on and edits K records spread evenly
//	         over the object (the i-th at i·N/K in creation order) as a
//	         user; answers "ok K"
//
// The first line it prints is "org <url> <pubsub addr> <client id> <secret> <org id>".

// bfObject is the object the backfill rows copy.
const bfObject = "Employee__c"

// serveOrg is the org process's main: it never returns while stdin is open.
func serveOrg(n int, in io.Reader, out io.Writer) error {
	// The drift command moves the clock, so that its edits have a later
	// SystemModstamp than the load.
	var ahead atomic.Int64
	org := salesforcetest.NewOrg(salesforcetest.WithPlaintext(), salesforcetest.WithDailyLimit(math.MaxInt32),
		salesforcetest.WithClock(func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }),
		// A quiet topic's keepalive is what pins the stream for a backfill.
		salesforcetest.WithPubSubOptions(pubsubtest.WithKeepalive(200*time.Millisecond)))
	defer org.Close()
	err := org.Load(bfObject, n, func(i int) map[string]any {
		return map[string]any{"Name": fmt.Sprintf("Employee %d", i), "Email__c": fmt.Sprintf("e%d@example.com", i), "Title__c": "Engineer",
			"Grade__c": i % 12, "Active__c": i%5 != 0, "Hired__c": "2021-06-15", "Salary__c": 40000.25 + float64(i%1000)}
	})
	if err != nil {
		return fmt.Errorf("loading %d records: %w", n, err)
	}
	id, secret := org.ClientCredentials()
	fmt.Fprintf(out, "org %s %s %s %s %s\n", org.URL(), org.PubSub().Addr(), id, secret, org.OrgID())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch cmd := strings.TrimSpace(sc.Text()); cmd {
		case "usage":
			used, _ := org.APIUsage()
			fmt.Fprintf(out, "ok %d\n", used)
		case "reset":
			org.ResetUsage()
			fmt.Fprintln(out, "ok 0")
		case "job":
			jobs := org.BulkJobs()
			if len(jobs) == 0 {
				fmt.Fprintln(out, "ok 0 0 0")
				continue
			}
			fmt.Fprintf(out, "ok %d %d %d\n", len(jobs), jobs[0].Polls, jobs[0].ResultRequests)
		case "rss":
			cur, peak := rssMiB()
			fmt.Fprintf(out, "ok %.0f %.0f\n", cur, peak)
		default:
			if k, ok := strings.CutPrefix(cmd, "drift "); ok {
				fmt.Fprintln(out, driftOrg(org, k, &ahead))
				continue
			}
			fmt.Fprintf(out, "err unknown command %q\n", cmd)
		}
	}
	return sc.Err()
}

// orgChild is the parent's handle on the org process.
type orgChild struct {
	*child
	url, pubsub, clientID, secret, orgID string
}

func startOrg(ctx context.Context, n int) (*orgChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-serve-org", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("org stdin: %w", err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("org stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start org process: %w", err)
	}
	c := &orgChild{child: &child{cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}}
	line, err := c.read()
	if err != nil {
		c.close()
		return nil, err
	}
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "org" {
		c.close()
		return nil, fmt.Errorf("org process said %q, want its addresses", line)
	}
	c.url, c.pubsub, c.clientID, c.secret, c.orgID = f[1], f[2], f[3], f[4], f[5]
	return c, nil
}

// ints sends cmd and parses its answer's numbers.
func (c *orgChild) ints(cmd string) ([]int, error) {
	rest, err := c.do("%s", cmd)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(rest) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("org process: %s: %q", cmd, rest)
		}
		out = append(out, n)
	}
	return out, nil
}

func (c *orgChild) usage() (int, error) {
	v, err := c.ints("usage")
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// driftOrg is the drift command: it answers "ok K" or "err ...".
func driftOrg(org *salesforcetest.Org, arg string, ahead *atomic.Int64) string {
	k, err := strconv.Atoi(arg)
	if err != nil || k <= 0 {
		return fmt.Sprintf("err drift %q: want a positive count", arg)
	}
	ahead.Add(int64(2 * time.Second))
	all := org.Records(bfObject)
	if k > len(all) {
		return fmt.Sprintf("err drift %d: the org holds %d records", k, len(all))
	}
	for i := range k {
		id, _ := all[i*(len(all)/k)]["Id"].(string)
		if err := org.EditAsUser(bfObject, id, map[string]any{"Title__c": "changed in Salesforce"}); err != nil {
			return fmt.Sprintf("err drift: editing %s: %v", id, err)
		}
	}
	return fmt.Sprintf("ok %d", k)
}
