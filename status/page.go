package status

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/sfsync/sfsync"
)

//go:embed page.html
var pageFS embed.FS

// parseTemplates parses the embedded page; a failure is a bug in page.html,
// which the package's tests catch.
func parseTemplates() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"clock": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"minute": func(t time.Time) string { return t.UTC().Format("15:04") },
		"seconds": func(s float64) string {
			return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
		},
		"percent": func(part, whole int) int {
			if whole <= 0 {
				return 0
			}
			return min(100, part*100/whole)
		},
		"minus": func(a, b int) int { return a - b },
		"ratio": func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
		"sum": func(xs []int) int {
			n := 0
			for _, x := range xs {
				n += x
			}
			return n
		},
	}).ParseFS(pageFS, "page.html"))
}

// statusOrder is the order outcomes are listed in: what was done first,
// what went wrong last.
func statusOrder() []sfsync.Status {
	return []sfsync.Status{
		sfsync.StatusApplied, sfsync.StatusDuplicate, sfsync.StatusEcho, sfsync.StatusNoop,
		sfsync.StatusConflictLost, sfsync.StatusStale, sfsync.StatusReconciled, sfsync.StatusSkipped,
		sfsync.StatusRetrying, sfsync.StatusDeadLettered,
	}
}

type statusRow struct {
	Status sfsync.Status
	Counts []int
}

type pageData struct {
	Report
	// Lag is the largest lag of the engine's streams, or the engine's
	// overall lag when it does not report its streams.
	Lag      float64
	Refresh  int
	Rows     []statusRow
	Requeued *sfsync.Outcome
	Key      string
}

type letterPage struct {
	Key     string
	Missing bool
	Letter  sfsync.DeadLetter
	Change  string
	Requeue bool
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	rep := h.Report(r.Context())
	d := pageData{Report: rep, Refresh: int(h.cfg.refresh / time.Second), Lag: rep.Engine.LagSeconds}
	if slices.ContainsFunc(rep.Streams, func(s Stream) bool { return s.Phase != "" }) {
		d.Lag = 0
		for _, s := range rep.Streams {
			d.Lag = max(d.Lag, s.LagSeconds)
		}
	}
	if h.cfg.refresh > 0 {
		d.Refresh = max(1, d.Refresh)
	}
	statuses := statusOrder()
	for s := range rep.Outcomes.Counts {
		if !slices.Contains(statuses, s) {
			statuses = append(statuses, s)
		}
	}
	for _, s := range statuses {
		counts := rep.Outcomes.Counts[s]
		if counts == nil {
			counts = make([]int, len(rep.Outcomes.Minutes))
		}
		d.Rows = append(d.Rows, statusRow{s, counts})
	}
	if key := r.URL.Query().Get("requeued"); key != "" && h.cfg.state != nil {
		d.Key = key
		outs, err := h.cfg.state.Outcomes(r.Context(), sfsync.OutcomeQuery{Key: key})
		if err == nil && len(outs) > 0 {
			d.Requeued = &outs[len(outs)-1]
		}
	}
	h.render(w, http.StatusOK, "page", d)
}

// render executes into a buffer first, so a template error becomes a 500
// instead of half a page.
func (h *Handler) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		h.cfg.logger.Error("status: rendering the page", "template", name, "err", err)
		http.Error(w, "status: rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	buf.WriteTo(w)
}

// pretty is a change as indented JSON, for the dead letter's page.
func pretty(c sfsync.Change) string {
	// The template escapes; JSON's own HTML escaping would show as \u003c.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return fmt.Sprintf("%+v", c)
	}
	return b.String()
}
