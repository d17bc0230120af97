package sync

import (
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// The default retry policy is the one the functional options of
// backoff.NewExponentialBackOff used to build: same intervals, same give-up
// time, same jitter, and started fresh.
func TestDefaultBackOffIsTheDocumentedPolicy(t *testing.T) {
	want := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(200*time.Millisecond),
		backoff.WithMaxInterval(30*time.Second),
		backoff.WithMaxElapsedTime(5*time.Minute),
	)
	got, ok := defaultBackOff().(*backoff.ExponentialBackOff)
	if !ok {
		t.Fatalf("defaultBackOff is a %T, want *backoff.ExponentialBackOff", defaultBackOff())
	}
	if got.InitialInterval != want.InitialInterval || got.MaxInterval != want.MaxInterval ||
		got.MaxElapsedTime != want.MaxElapsedTime || got.Multiplier != want.Multiplier ||
		got.RandomizationFactor != want.RandomizationFactor || got.Stop != want.Stop || got.Clock != want.Clock {
		t.Fatalf("defaultBackOff = %+v, want %+v", *got, *want)
	}
	if got.GetElapsedTime() > time.Second {
		t.Fatalf("defaultBackOff was not started fresh: %s elapsed", got.GetElapsedTime())
	}
	// The first wait is the initial interval with its jitter (±50%).
	if d := got.NextBackOff(); d < 100*time.Millisecond || d > 300*time.Millisecond {
		t.Fatalf("first wait %s, want 200 ms ± 50%%", d)
	}
}
