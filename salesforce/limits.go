package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sfsync/sfsync"
)

// Limit is one entry of the limits resource.
type Limit struct {
	Max, Remaining int
}

// UnmarshalJSON accepts numbers and, as very old API versions sent them,
// numeric strings.
func (l *Limit) UnmarshalJSON(b []byte) error {
	var raw struct {
		Max       json.RawMessage `json:"Max"`
		Remaining json.RawMessage `json:"Remaining"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var err error
	if l.Max, err = looseInt(raw.Max); err != nil {
		return fmt.Errorf("limit max: %w", err)
	}
	if l.Remaining, err = looseInt(raw.Remaining); err != nil {
		return fmt.Errorf("limit remaining: %w", err)
	}
	return nil
}

func looseInt(b json.RawMessage) (int, error) {
	if len(b) == 0 || string(b) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		return strconv.Atoi(strings.TrimSpace(s))
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, err
	}
	return int(f), nil
}

// Limits reads the limits resource: every org limit by name, such as
// "DailyApiRequests".
func (c *Client) Limits(ctx context.Context) (map[string]Limit, error) {
	var out map[string]Limit
	if err := c.getJSON(ctx, "/limits", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseLimitInfo parses a Sforce-Limit-Info header, such as
// "api-usage=18/5000; api-bursts=1/750", and returns the api-usage pair.
// used may exceed max. ok is false when the header has no valid api-usage.
func ParseLimitInfo(header string) (used, max int, ok bool) {
	for part := range strings.FieldsFuncSeq(header, func(r rune) bool { return r == ';' || r == ',' }) {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "api-usage") {
			continue
		}
		u, m, found := strings.Cut(strings.TrimSpace(v), "/")
		if !found {
			return 0, 0, false
		}
		var err1, err2 error
		used, err1 = strconv.Atoi(strings.TrimSpace(u))
		max, err2 = strconv.Atoi(strings.TrimSpace(m))
		if err1 != nil || err2 != nil || used < 0 || max < 0 {
			return 0, 0, false
		}
		return used, max, true
	}
	return 0, 0, false
}

// LimitsProbe returns a probe for [throttle.WithLimitsProbe]: it reads
// DailyApiRequests from the limits resource. The probe bypasses the
// client's limiter, which is paused while it runs.
func (c *Client) LimitsProbe() func(ctx context.Context) (used, max int, err error) {
	return func(ctx context.Context) (int, int, error) {
		lim, err := c.Limits(context.WithValue(ctx, bypassLimiterKey, true))
		if err != nil {
			return 0, 0, err
		}
		d, ok := lim["DailyApiRequests"]
		if !ok {
			return 0, 0, sfsync.Retryable(fmt.Errorf("salesforce: limits resource has no DailyApiRequests"))
		}
		return d.Max - d.Remaining, d.Max, nil
	}
}
