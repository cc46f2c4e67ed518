package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func breakerStack() *stack.Stack {
	return &stack.Stack{
		Names: []string{"authzforce", "kas", "postgres"},
		Services: map[string]*stack.Service{
			"authzforce": {Name: "authzforce", Class: stack.Optional},
			"kas":        {Name: "kas", Class: stack.Stretch},
			"postgres":   {Name: "postgres", Class: stack.Core},
		},
	}
}

// outcome is one deploy's states per service; "" leaves a service out.
type outcome map[string]deploy.State

func (o outcome) result() *deploy.Result {
	r := &deploy.Result{Services: map[string]*deploy.ServiceResult{}}
	for n, s := range o {
		reason := ""
		if s == deploy.StateFailed {
			reason = "did not become ready within its budget of 20s"
		}
		r.Services[n] = &deploy.ServiceResult{Name: n, State: s, Reason: reason}
	}
	return r
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestServiceBreakers(t *testing.T) {
	base := time.Date(2026, 11, 29, 14, 2, 0, 0, time.UTC)
	fail := outcome{"authzforce": deploy.StateFailed, "kas": deploy.StateFailed, "postgres": deploy.StateFailed}
	type step struct {
		at      time.Duration // since base
		deploy  outcome       // recorded after the skips are checked
		skipped []string      // expected skips before this deploy
	}
	cases := []struct {
		name     string
		cooldown string
		steps    []step
		// expected entries at the end: service -> consecutive failures (absent: no entry)
		want map[string]int
	}{
		{
			name: "three failures open the breaker for optional and stretch, never core",
			steps: []step{
				{at: 0, deploy: fail},
				{at: time.Minute, deploy: fail},
				{at: 2 * time.Minute, deploy: fail},
				{at: 3 * time.Minute, skipped: []string{"authzforce", "kas"}},
			},
			want: map[string]int{"authzforce": 3, "kas": 3, "postgres": 3},
		},
		{
			name: "two failures do not open it",
			steps: []step{
				{at: 0, deploy: fail},
				{at: time.Minute, deploy: fail},
				{at: 2 * time.Minute, skipped: nil},
			},
			want: map[string]int{"authzforce": 2, "kas": 2, "postgres": 2},
		},
		{
			name: "a success in between resets the count",
			steps: []step{
				{at: 0, deploy: fail},
				{at: time.Minute, deploy: fail},
				{at: 2 * time.Minute, deploy: outcome{"authzforce": deploy.StateReady, "kas": deploy.StateReused}},
				{at: 3 * time.Minute, deploy: fail},
				{at: 4 * time.Minute, skipped: nil},
			},
			want: map[string]int{"authzforce": 1, "kas": 1, "postgres": 3},
		},
		{
			name: "skipped, pending and cancelled leave the count alone",
			steps: []step{
				{at: 0, deploy: fail},
				{at: time.Minute, deploy: fail},
				{at: 2 * time.Minute, deploy: outcome{"authzforce": deploy.StateSkipped, "kas": deploy.StatePending, "postgres": deploy.StateCancelled}},
				{at: 3 * time.Minute, skipped: nil},
			},
			want: map[string]int{"authzforce": 2, "kas": 2, "postgres": 2},
		},
		{
			name: "skipped by the open breaker: unchanged",
			steps: []step{
				{at: 0, deploy: fail},
				{at: time.Minute, deploy: fail},
				{at: 2 * time.Minute, deploy: fail},
				{at: 3 * time.Minute, skipped: []string{"authzforce", "kas"}, deploy: outcome{"authzforce": deploy.StateSkipped, "kas": deploy.StateSkipped}},
				{at: 4 * time.Minute, skipped: []string{"authzforce", "kas"}},
			},
			want: map[string]int{"authzforce": 3, "kas": 3, "postgres": 3},
		},
		{
			name: "after the cooldown one trial runs (half-open); success closes",
			steps: []step{
				{at: 0, deploy: fail},
				{at: time.Minute, deploy: fail},
				{at: 2 * time.Minute, deploy: fail},
				{at: 31 * time.Minute, skipped: []string{"authzforce", "kas"}},
				{at: 32 * time.Minute, skipped: nil, deploy: outcome{"authzforce": deploy.StateReady, "kas": deploy.StateReady}},
				{at: 33 * time.Minute, skipped: nil},
			},
			want: map[string]int{"postgres": 3},
		},
		{
			name: "a failed trial re-opens for another cooldown",
			steps: []step{
				{at: 0, deploy: fail},
				{at: time.Minute, deploy: fail},
				{at: 2 * time.Minute, deploy: fail},
				{at: 32 * time.Minute, skipped: nil, deploy: outcome{"authzforce": deploy.StateFailed, "kas": deploy.StateReady}},
				{at: 33 * time.Minute, skipped: []string{"authzforce"}},
				{at: 61 * time.Minute, skipped: []string{"authzforce"}},
				{at: 62 * time.Minute, skipped: nil},
			},
			want: map[string]int{"authzforce": 4, "postgres": 3},
		},
		{
			name:     "DIVE_BREAKER_COOLDOWN overrides the cooldown",
			cooldown: "5m",
			steps: []step{
				{at: 0, deploy: fail},
				{at: time.Minute, deploy: fail},
				{at: 2 * time.Minute, deploy: fail},
				{at: 6 * time.Minute, skipped: []string{"authzforce", "kas"}},
				{at: 7 * time.Minute, skipped: nil},
			},
			want: map[string]int{"authzforce": 3, "kas": 3, "postgres": 3},
		},
		{
			name:     "a bad DIVE_BREAKER_COOLDOWN falls back to 30m",
			cooldown: "soon",
			steps: []step{
				{at: 0, deploy: fail},
				{at: time.Minute, deploy: fail},
				{at: 2 * time.Minute, deploy: fail},
				{at: 31 * time.Minute, skipped: []string{"authzforce", "kas"}},
				{at: 32 * time.Minute, skipped: nil},
			},
			want: map[string]int{"authzforce": 3, "kas": 3, "postgres": 3},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dive-hub", "breakers.json")
			c := &clock{}
			var warns []string
			st := breakerStack()
			for i, s := range tc.steps {
				c.t = base.Add(s.at)
				// A fresh load per deploy: the state must survive through the file.
				b := newServiceBreakers(path, c.now, tc.cooldown, func(w string) { warns = append(warns, w) })
				skips := b.skips(st)
				got := sortedKeys(skips)
				if len(s.skipped) == 0 {
					assert.Empty(t, got, "step %d", i)
				} else {
					assert.Equal(t, s.skipped, got, "step %d", i)
				}
				if s.deploy != nil {
					b.record(st, s.deploy.result())
				}
			}
			b := newServiceBreakers(path, c.now, tc.cooldown, func(string) {})
			got := map[string]int{}
			for n, s := range b.file.Services {
				got[n] = s.ConsecutiveFailures
			}
			assert.Equal(t, tc.want, got)
			if tc.cooldown == "soon" {
				assert.Contains(t, warns[0], "DIVE_BREAKER_COOLDOWN")
			}
		})
	}
}

func TestServiceBreakerReasonAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dive-hub", "breakers.json")
	c := &clock{t: time.Date(2026, 11, 29, 14, 0, 0, 0, time.UTC)}
	st := breakerStack()
	for range 3 {
		c.t = c.t.Add(time.Minute)
		newServiceBreakers(path, c.now, "", func(string) {}).record(st, outcome{"authzforce": deploy.StateFailed}.result())
	}
	// last failure 14:03 → next try after 14:33
	c.t = time.Date(2026, 11, 29, 14, 10, 0, 0, time.UTC)
	b := newServiceBreakers(path, c.now, "", func(string) {})
	assert.Equal(t, map[string]string{
		"authzforce": "skipped by the circuit breaker: failed its last 3 deploys (last: did not become ready within its budget of 20s); next try after 14:33 UTC, or pass --retry-broken",
	}, b.skips(st))

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var f map[string]any
	require.NoError(t, json.Unmarshal(raw, &f))
	s := f["services"].(map[string]any)["authzforce"].(map[string]any)
	assert.EqualValues(t, 3, s["consecutive_failures"])
	assert.Equal(t, "2026-11-29T14:03:00Z", s["last_failure"])
	assert.Equal(t, "did not become ready within its budget of 20s", s["last_reason"])
	assert.Equal(t, "2026-11-29T14:03:00Z", s["opened_at"])
	entries, _ := os.ReadDir(filepath.Dir(path))
	assert.Len(t, entries, 1, "no temp files left behind")

	assert.Equal(t, "2026-11-30 00:10 UTC", clockTime(time.Date(2026, 11, 30, 0, 10, 0, 0, time.UTC), c.t))
}

func TestServiceBreakerCorruptFileStartsFresh(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dive-hub")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "breakers.json")
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o644))
	var warns []string
	b := newServiceBreakers(path, time.Now, "", func(w string) { warns = append(warns, w) })
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], "unreadable")
	assert.Contains(t, warns[0], "starting fresh")
	assert.Empty(t, b.skips(breakerStack()))
	assert.FileExists(t, path+".corrupt")
	b.record(breakerStack(), outcome{"kas": deploy.StateFailed}.result())
	b2 := newServiceBreakers(path, time.Now, "", func(string) {})
	assert.Equal(t, 1, b2.file.Services["kas"].ConsecutiveFailures)
}

func TestServiceBreakerUnwritableDirOnlyWarns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	var warns []string
	b := newServiceBreakers(filepath.Join(file, "dive-hub", "breakers.json"), time.Now, "", func(w string) { warns = append(warns, w) })
	b.record(breakerStack(), outcome{"kas": deploy.StateFailed}.result())
	require.NotEmpty(t, warns)
	assert.Contains(t, warns[len(warns)-1], "not saved")
}
