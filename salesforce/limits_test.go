package salesforce

import (
	"context"
	"net/http"
	"testing"
)

func TestParseLimitInfo(t *testing.T) {
	tests := []struct {
		in        string
		used, max int
		ok        bool
	}{
		{"api-usage=18/5000", 18, 5000, true},
		{"api-usage=18/5000; api-bursts=1/750", 18, 5000, true},
		{"api-bursts=1/750; api-usage=110018/100000", 110018, 100000, true},
		{"per-app-api-usage=17/250(appName=sample-connected-app), api-usage=25/5000", 25, 5000, true},
		{" API-USAGE = 1 / 2 ", 1, 2, true},
		{"", 0, 0, false},
		{"api-bursts=1/750", 0, 0, false},
		{"api-usage=18", 0, 0, false},
		{"api-usage=x/5000", 0, 0, false},
		{"api-usage=-1/5000", 0, 0, false},
	}
	for _, tt := range tests {
		used, max, ok := ParseLimitInfo(tt.in)
		if used != tt.used || max != tt.max || ok != tt.ok {
			t.Errorf("ParseLimitInfo(%q) = %d, %d, %v", tt.in, used, max, ok)
		}
	}
}

func TestLimits(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != dataPath+"/limits" {
			t.Errorf("path %s", r.URL.Path)
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"DailyApiRequests":     map[string]any{"Max": 5000, "Remaining": 4937},
			"DailyBulkV2QueryJobs": map[string]any{"Max": 10000, "Remaining": 10000},
			"DataStorageMB":        map[string]any{"Max": "200", "Remaining": "180"},
		})
	})
	c := f.client()
	lim, err := c.Limits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lim["DailyApiRequests"] != (Limit{5000, 4937}) || lim["DataStorageMB"] != (Limit{200, 180}) || len(lim) != 3 {
		t.Errorf("limits %+v", lim)
	}
	used, max, err := c.LimitsProbe()(context.Background())
	if err != nil || used != 63 || max != 5000 {
		t.Errorf("probe = %d/%d, %v", used, max, err)
	}
}

func TestLimitsProbeWithoutDailyAPIRequests(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, map[string]any{}) })
	if _, _, err := f.client().LimitsProbe()(context.Background()); err == nil {
		t.Error("no error")
	}
}

func TestLimitBadJSON(t *testing.T) {
	var l Limit
	if err := l.UnmarshalJSON([]byte(`{"Max":"many"}`)); err == nil {
		t.Error("accepted a non-numeric Max")
	}
	if err := l.UnmarshalJSON([]byte(`{"Max":1,"Remaining":true}`)); err == nil {
		t.Error("accepted a boolean Remaining")
	}
}
