package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/events"
)

// progress renders deploy events for a person: on a terminal, one line per
// service redrawn in place; otherwise plain lines as things happen.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	start   time.Time
	order   []string
	rows    map[string]*row
	drawn   int
	stop    chan struct{}
	stopped chan struct{}
	notes   []string
}

type row struct {
	class   string
	state   string
	detail  string
	since   time.Time
	elapsed time.Duration
	final   bool
}

func newProgress(w io.Writer, tty bool, services []string, classes map[string]string) *progress {
	p := &progress{w: w, tty: tty, start: time.Now(), rows: map[string]*row{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	p.order = append(p.order, services...)
	for _, s := range services {
		p.rows[s] = &row{class: classes[s], state: "waiting", since: p.start}
	}
	if tty {
		go p.loop()
	} else {
		close(p.stopped)
	}
	return p
}

func (p *progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// Close stops redrawing and leaves the final picture.
func (p *progress) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.stopped
}

func (p *progress) Handle(e events.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rows[e.Service]
	line := ""
	switch at := e.Attrs.(type) {
	case events.ServiceCreatingAttrs:
		r.state, r.detail = "creating", ""
		if at.Reason != "" && at.Reason != "no container yet" {
			r.detail = at.Reason
		}
	case events.ServiceCreatedAttrs:
		r.state = "created"
	case events.ServiceWaitingAttrs:
		r.state, r.detail = "waiting", "on "+strings.Join(at.On, ", ")
	case events.ServiceStartingAttrs:
		r.state, r.detail, r.since = "starting", "", e.Time
	case events.ServiceStartedAttrs:
		r.state, r.since = "starting", e.Time
	case events.ServiceReadyAttrs:
		r.state, r.final, r.elapsed = "ready", true, e.Duration
		r.detail = fmt.Sprintf("%.1fs (%s)", e.Duration.Seconds(), at.Signal)
		switch at.Signal {
		case events.SignalExited0:
			r.state = "completed"
		case events.SignalProbe, events.SignalEngine:
			r.state = "healthy"
		default:
			r.state = "running"
		}
	case events.ServiceReusedAttrs:
		r.state, r.final, r.detail = "unchanged", true, "running and healthy, left alone"
		if at.Signal == events.SignalCompletedBefore {
			r.detail = "completed before, left alone"
		}
	case events.ServiceFailedAttrs:
		r.state, r.final = "failed", true
		r.detail = at.Reason
	case events.ServiceSkippedAttrs:
		r.state, r.final = "skipped", true
		r.detail = at.Reason
	case events.ServiceRetryAttrs:
		r.state = "retrying"
		r.detail = fmt.Sprintf("attempt %d: %s", at.Attempt, at.Reason)
	case events.ReplacingAttrs:
		line = fmt.Sprintf("%s: keeping its previous container %s (as %s, %s) until the new one is ready", e.Service, at.ContainerID, at.KeptAs, at.Mode)
	case events.RolledBackAttrs:
		r.state, r.final, r.elapsed = "rolled-back", true, e.Duration
		r.detail = rolledBackDetail(at)
	case events.RollbackFailedAttrs:
		r.state, r.final = "rollback-failed", true
		r.detail = rollbackFailedDetail(at)
	case events.WarningAttrs:
		line = "warning: " + at.Message
	case events.InfoAttrs:
		if strings.HasPrefix(at.Message, deploy.OrphanRemoved) {
			line = at.Message
		}
	case events.ImageBuildingAttrs:
		line = "building image " + at.Image
	case events.NetworkReadyAttrs:
		if at.Created {
			line = "network " + at.Network + " created"
		}
	case events.VolumeReadyAttrs:
		if at.Created {
			line = "volume " + at.Volume + " created"
		}
	case events.EngineRetryAttrs:
		line = fmt.Sprintf("retry %s (attempt %d): %s", at.Op, at.Attempt, at.Reason)
	}
	if p.tty {
		if line != "" {
			p.notes = append(p.notes, line)
		}
		return
	}
	at := e.Time.Sub(p.start).Seconds()
	if r != nil {
		switch e.Kind {
		case events.ServiceStats:
			return
		case events.ServiceWaiting, events.ServiceStarting, events.ServiceReady, events.ServiceReused, events.ServiceFailed, events.ServiceSkipped, events.ServiceRetry, events.ServiceCreated,
			events.RolledBack, events.RollbackFailed:
			fmt.Fprintf(p.w, "[%6.2fs] %-18s %-9s %s\n", at, e.Service, r.state, r.detail)
		}
		if line == "" {
			return
		}
	}
	if line != "" {
		fmt.Fprintf(p.w, "[%6.2fs] %s\n", at, line)
	}
}

func (p *progress) draw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	var b strings.Builder
	for _, n := range p.notes {
		fmt.Fprintf(&b, "\x1b[2K%s\n", n)
	}
	p.notes = nil
	for _, n := range p.order {
		r := p.rows[n]
		el := r.elapsed
		if !r.final {
			el = time.Since(r.since)
			if r.state == "waiting" || r.state == "creating" || r.state == "created" {
				el = time.Since(p.start)
			}
		}
		fmt.Fprintf(&b, "\x1b[2K %s %-18s %-8s %-10s %5.1fs  %s\n", icon(r.state), n, r.class, r.state, el.Seconds(), clip(r.detail, 70))
	}
	fmt.Fprint(p.w, b.String())
	p.drawn = len(p.order)
}

func icon(state string) string {
	switch state {
	case "healthy", "running", "completed", "ready", "unchanged":
		return "\x1b[32m✔\x1b[0m"
	case "failed", "rollback-failed":
		return "\x1b[31m✘\x1b[0m"
	case "rolled-back":
		return "\x1b[33m↺\x1b[0m"
	case "skipped":
		return "\x1b[33m-\x1b[0m"
	}
	return "\x1b[36m…\x1b[0m"
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rolledBackDetail says what a service runs after its rollback (the hub's
// progress and the fleet's lines).
func rolledBackDetail(at events.RolledBackAttrs) string {
	switch at.Action {
	case deploy.RollbackUntouched:
		return "its previous container " + at.ContainerID + " was never touched: it still runs"
	case deploy.RollbackRestored:
		return fmt.Sprintf("previous container %s ready again %.1fs after %s failed", at.ContainerID, at.SinceFailureMS/1000, at.Cause)
	}
	return "its new container was removed (new in this deploy)"
}

// rollbackFailedDetail says why a rollback step failed and what runs now.
func rollbackFailedDetail(at events.RollbackFailedAttrs) string {
	return at.Reason + "; runs " + at.Runs
}
