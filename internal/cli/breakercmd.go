package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/stack"
)

// The per-service circuit breaker across deploys (the "authzforce lesson":
// an optional service that never comes up used to cost its whole start-up
// budget, 90 s, on every deploy).
//
// Per service, <stateDir>/<project>/breakers.json keeps the consecutive
// failures, the last failure's time and reason, and when the breaker
// opened. The state machine:
//
//	closed     fewer than breakerThreshold consecutive failures: deployed as usual.
//	open       ≥ breakerThreshold consecutive failures and the cooldown has not
//	           passed since the last failure: an optional or stretch service is
//	           skipped (a core service never is: its failure must fail the deploy).
//	half-open  ≥ breakerThreshold failures, cooldown passed: the next deploy tries it
//	           once. Success (ready, or reused) closes it: the entry is deleted.
//	           Failure counts one more and re-opens it for another cooldown.
//
// A service skipped (by the breaker or because a dependency failed),
// pending or cancelled leaves its entry unchanged. --retry-broken ignores
// the breaker for one deploy; its outcome is recorded like any other.
//
// Why not sony/gobreaker: it fits one process wrapping calls, not this.
// The engine breaker (internal/engine) uses it for that. Here the decision
// ("skip?") is taken before a deploy and the outcome recorded after it,
// possibly hours later, in another process. gobreaker's
// DistributedCircuitBreaker persists through a SharedDataStore, but only
// wraps a call with Execute (the two-step Allow/done API is in-process
// only), stores its own internals (generation, counts, expiry) instead of
// the reason and time an operator needs to read, and uses the wall clock
// directly, so the cooldown could not be tested with an injected clock.
// A small explicit state machine persisted as JSON is clearer.
//
// The file is only written under the deployment lock (one deploy of a
// project at a time), atomically (temp file, then rename). A file that
// cannot be read is set aside as breakers.json.corrupt with a warning and
// the breakers start closed: the breaker never fails a deploy.

const (
	breakerThreshold       = 3
	defaultBreakerCooldown = 30 * time.Minute
	breakerReasonMax       = 300
)

// breakerState is one service's entry in breakers.json.
type breakerState struct {
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastFailure         time.Time `json:"last_failure"`
	LastReason          string    `json:"last_reason,omitempty"`
	// OpenedAt is when this streak of failures first opened the breaker.
	OpenedAt time.Time `json:"opened_at,omitzero"`
}

type breakerFile struct {
	Version  int                      `json:"version"`
	Services map[string]*breakerState `json:"services"`
}

// serviceBreakers is the per-service circuit breaker kept across deploys.
type serviceBreakers struct {
	path     string
	now      func() time.Time
	cooldown time.Duration
	warn     func(string)
	file     breakerFile
}

func (a *app) loadBreakers(l *loaded) *serviceBreakers {
	warn := func(s string) { fmt.Fprintf(a.stderr, "dive: warning: %s\n", s) }
	return newServiceBreakers(filepath.Join(l.stateDir, l.st.Project.Name, "breakers.json"), time.Now, a.env.BreakerCooldown, warn)
}

// newServiceBreakers reads the breaker state at path. cooldownEnv is the
// value of DIVE_BREAKER_COOLDOWN (a Go duration; empty for the default).
func newServiceBreakers(path string, now func() time.Time, cooldownEnv string, warn func(string)) *serviceBreakers {
	b := &serviceBreakers{path: path, now: now, cooldown: defaultBreakerCooldown, warn: warn,
		file: breakerFile{Version: 1, Services: map[string]*breakerState{}}}
	if cooldownEnv != "" {
		d, err := time.ParseDuration(cooldownEnv)
		if err != nil || d < 0 {
			warn(fmt.Sprintf("DIVE_BREAKER_COOLDOWN=%q is not a duration such as 30m; using %s", cooldownEnv, defaultBreakerCooldown))
		} else {
			b.cooldown = d
		}
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return b
	}
	var f breakerFile
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err != nil {
		aside := path + ".corrupt"
		if rerr := os.Rename(path, aside); rerr == nil {
			warn(fmt.Sprintf("circuit breaker state %s is unreadable (%v); moved it to %s and starting fresh", path, err, aside))
		} else {
			warn(fmt.Sprintf("circuit breaker state %s is unreadable (%v); starting fresh", path, err))
		}
		return b
	}
	for name, s := range f.Services {
		if s != nil && s.ConsecutiveFailures > 0 {
			b.file.Services[name] = s
		}
	}
	return b
}

// skips returns the optional and stretch services whose breaker is open,
// with the reason to report. Half-open services are let through once.
func (b *serviceBreakers) skips(st *stack.Stack) map[string]string {
	out := map[string]string{}
	for _, name := range st.Names {
		svc := st.Services[name]
		if svc == nil || svc.Class == stack.Core {
			continue
		}
		s := b.file.Services[name]
		if s == nil || s.ConsecutiveFailures < breakerThreshold {
			continue
		}
		next := s.LastFailure.Add(b.cooldown)
		if !b.now().Before(next) { // half-open
			b.warn(fmt.Sprintf("circuit breaker: %s failed its last %d deploys; its cooldown has passed, so this deploy tries it once more", name, s.ConsecutiveFailures))
			continue
		}
		last := ""
		if s.LastReason != "" {
			last = " (last: " + s.LastReason + ")"
		}
		out[name] = fmt.Sprintf("skipped by the circuit breaker: failed its last %d deploys%s; next try after %s, or pass --retry-broken",
			s.ConsecutiveFailures, last, clockTime(next, b.now()))
	}
	return out
}

// clockTime renders t in UTC as 14:32 UTC, with the date when it is not today.
func clockTime(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.Format(time.DateOnly) == now.Format(time.DateOnly) {
		return t.Format("15:04 UTC")
	}
	return t.Format("2006-01-02 15:04 UTC")
}

// record folds a deploy's outcome into the breakers and saves them.
func (b *serviceBreakers) record(st *stack.Stack, res *deploy.Result) {
	if res == nil {
		return
	}
	now := b.now().UTC()
	changed := false
	for _, name := range sortedKeys(res.Services) {
		r := res.Services[name]
		if r == nil {
			continue
		}
		switch r.State {
		case deploy.StateFailed:
			s := b.file.Services[name]
			if s == nil {
				s = &breakerState{}
				b.file.Services[name] = s
			}
			s.ConsecutiveFailures++
			s.LastFailure = now
			s.LastReason = shortReason(r.Reason)
			if s.ConsecutiveFailures >= breakerThreshold && s.OpenedAt.IsZero() {
				s.OpenedAt = now
			}
			changed = true
		case deploy.StateReady, deploy.StateReused:
			if _, ok := b.file.Services[name]; ok {
				delete(b.file.Services, name)
				changed = true
			}
		}
	}
	if changed {
		if err := b.save(); err != nil {
			b.warn(fmt.Sprintf("circuit breaker state not saved: %v", err))
		}
	}
}

// shortReason keeps the first line of a failure reason, bounded.
func shortReason(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > breakerReasonMax {
		s = string(r[:breakerReasonMax-1]) + "…"
	}
	return s
}

// save writes breakers.json atomically.
func (b *serviceBreakers) save() error {
	data, err := json.MarshalIndent(b.file, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(b.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".breakers.json.*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		_ = os.Chmod(tmp.Name(), 0o644)
		werr = os.Rename(tmp.Name(), b.path)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
	}
	return werr
}
