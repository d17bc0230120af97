package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sfsync/sfsync/internal/cdcschema"
	"github.com/sfsync/sfsync/pubsub/pubsubtest"
)

// The fake Pub/Sub server runs in a child process (this binary with
// -serve), so that the CPU time, allocations and memory the bench reports
// are the consumer's alone. The parent drives it over stdin with one
// command a line and reads one answer a line from stdout:
//
//	fill <topic> <n>               append n updates; answers "ok <last replay id hex>"
//	steady <topic> <rate> <ms>     append at rate/s for ms; answers "ok <count>"
//
// The first line the child prints is "addr <host:port>".

// updatedFields are the fields every generated update changes: eight of
// Account's 43, as a typical user edit plus the system fields.
var updatedFields = []string{"Industry", "Phone", "Website", "Description", "Rating", "AnnualRevenue", "NumberOfEmployees", "LastModifiedDate"}

// records is how many distinct Accounts the updates cycle through.
const records = 10_000

// gen encodes Account updates; every event is its own transaction with a
// later commit number and timestamp, so the engine applies each.
type gen struct {
	account *cdcschema.Schema
	txs     *cdcschema.Transactions
	i       int
}

func newGen() (*gen, error) {
	account, err := cdcschema.New("Account", cdcschema.AccountFields()...)
	if err != nil {
		return nil, fmt.Errorf("account schema: %w", err)
	}
	return &gen{account: account, txs: cdcschema.NewTransactions()}, nil
}

// next encodes update i. Description carries the publish time in Unix
// nanoseconds, which the latency rows' sink reads back.
func (g *gen) next(published time.Time) ([]byte, error) {
	i := g.i
	g.i++
	key, commit := g.txs.Next()
	ms := int64(1714156703000 + i)
	return g.account.Encode(cdcschema.Header{
		RecordIDs: []string{fmt.Sprintf("001%015d", i%records)}, ChangeType: "UPDATE",
		ChangeOrigin: "com/salesforce/api/soap/62.0;client=SfdcInternalAPI/", TransactionKey: key,
		SequenceNumber: 1, CommitTimestamp: ms, CommitNumber: commit, CommitUser: "005000000000009AAA",
		ChangedFields: updatedFields,
	}, map[string]any{
		"Industry": "industry-" + strconv.Itoa(i%17), "Phone": "+1 555 " + strconv.Itoa(i),
		"Website": "https://example.com/" + strconv.Itoa(i), "Description": strconv.FormatInt(published.UnixNano(), 10),
		"Rating": "Hot", "AnnualRevenue": float64(i) * 1.5, "NumberOfEmployees": int32(i % 5000),
		"LastModifiedDate": ms,
	})
}

// serve is the child's main: it never returns while stdin is open.
func serve(in io.Reader, out io.Writer) error {
	srv := pubsubtest.NewServer(pubsubtest.WithPlaintext(), pubsubtest.WithKeepalive(time.Hour), pubsubtest.WithIdleTimeout(time.Hour))
	defer srv.Close()
	g, err := newGen()
	if err != nil {
		return err
	}
	schemaIDs := map[string]string{}
	topic := func(name string) (string, error) {
		if id, ok := schemaIDs[name]; ok {
			return id, nil
		}
		id, err := srv.AddTopic(name, g.account.JSON)
		if err != nil {
			return "", fmt.Errorf("add topic %s: %w", name, err)
		}
		schemaIDs[name] = id
		return id, nil
	}
	fmt.Fprintf(out, "addr %s\n", srv.Addr())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			fmt.Fprintf(out, "err bad command %q\n", sc.Text())
			continue
		}
		id, err := topic(f[1])
		if err != nil {
			fmt.Fprintf(out, "err %v\n", err)
			continue
		}
		switch f[0] {
		case "fill":
			n, _ := strconv.Atoi(f[2])
			var last []byte
			for range n {
				p, err := g.next(time.Now())
				if err == nil {
					last, err = srv.AppendEncoded(f[1], id, p)
				}
				if err != nil {
					fmt.Fprintf(out, "err %v\n", err)
					break
				}
			}
			fmt.Fprintf(out, "ok %s\n", hex.EncodeToString(last))
		case "steady":
			if len(f) < 4 {
				fmt.Fprintf(out, "err steady needs a rate and a duration\n")
				continue
			}
			rate, _ := strconv.Atoi(f[2])
			ms, _ := strconv.Atoi(f[3])
			n, err := steady(srv, g, f[1], id, rate, time.Duration(ms)*time.Millisecond)
			if err != nil {
				fmt.Fprintf(out, "err %v\n", err)
				continue
			}
			fmt.Fprintf(out, "ok %d\n", n)
		default:
			fmt.Fprintf(out, "err unknown command %q\n", f[0])
		}
	}
	return sc.Err()
}

// steady appends events one at a time on a fixed schedule (not in bursts
// per tick), so latency reflects the consumer and not the publisher.
func steady(srv *pubsubtest.Server, g *gen, topic, schemaID string, rate int, d time.Duration) (int, error) {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	n := 0
	for due := start; due.Sub(start) < d; due = due.Add(interval) {
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		p, err := g.next(time.Now())
		if err != nil {
			return n, err
		}
		if _, err := srv.AppendEncoded(topic, schemaID, p); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// child is the parent's handle on the server process.
type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

func startChild(ctx context.Context) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-serve")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("server stdin: %w", err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("server stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server process: %w", err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}
	line, err := c.read()
	if err != nil {
		c.close()
		return nil, err
	}
	addr, ok := strings.CutPrefix(line, "addr ")
	if !ok {
		c.close()
		return nil, fmt.Errorf("server process said %q, want its address", line)
	}
	c.addr = addr
	return c, nil
}

func (c *child) read() (string, error) {
	if !c.out.Scan() {
		return "", fmt.Errorf("server process ended: %w", errorsOr(c.out.Err(), io.ErrUnexpectedEOF))
	}
	return c.out.Text(), nil
}

func errorsOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// do sends one command and returns the argument of its "ok" answer.
func (c *child) do(format string, args ...any) (string, error) {
	cmd := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		return "", fmt.Errorf("send %q to the server process: %w", cmd, err)
	}
	line, err := c.read()
	if err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(line, "ok ")
	if !ok {
		return "", fmt.Errorf("server process: %s: %s", cmd, line)
	}
	return rest, nil
}

// fill appends n updates to topic and returns the last replay id.
func (c *child) fill(topic string, n int) ([]byte, error) {
	last, err := c.do("fill %s %d", topic, n)
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(last)
}

func (c *child) close() {
	c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}
