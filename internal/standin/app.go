package standin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// phase is where the app is in its life; /healthz answers from it.
type phase int32

const (
	phaseDeps      phase = iota // checking STANDIN_REQUIRES
	phaseWarming                // t0 passed, READY_AFTER not yet
	phaseReady                  // /healthz answers 200
	phaseUnhealthy              // flap: was ready, is not any more
)

const (
	depPollEvery   = 50 * time.Millisecond
	depAttemptMax  = time.Second // one HTTP attempt at a dependency never takes longer
	oomStep        = 16 << 20
	oomEvery       = 50 * time.Millisecond
	shutdownBudget = time.Second
)

type app struct {
	cfg config
	rt  runtimeEnv
	log *logger
	// http talks to dependencies. No proxy: a container's HTTP_PROXY must not
	// reroute calls to sibling services.
	http *http.Client

	phase   atomic.Int32
	readyAt atomic.Int64 // unix nanos when /healthz turns 200; 0 while unknown

	// transition orders the READY line before the HEALTHZ-FIRST-200 line.
	transition sync.Mutex
	first200   bool // guarded by transition
}

func newApp(cfg config, rt runtimeEnv) *app {
	return &app{
		cfg:  cfg,
		rt:   rt,
		log:  &logger{w: rt.stdout, name: cfg.name},
		http: &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}},
	}
}

// serve runs every mode except job: an HTTP server whose /healthz follows the
// phase, plus the mode's timers. It returns the exit code.
func (a *app) serve(ctx context.Context) int {
	start := time.Now()
	ln, err := a.rt.listen("tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(a.cfg.port)))
	if err != nil {
		a.log.printf("FATAL cannot listen on :%d: %v", a.cfg.port, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", a.healthz)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "standin %s (%s)\n", a.cfg.name, a.cfg.mode)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	defer srv.Close()
	a.log.printf("listening on :%d (mode %s)", ln.Addr().(*net.TCPAddr).Port, a.cfg.mode)

	if code, ok := a.awaitRequires(ctx); !ok {
		return code
	}
	t0 := time.Now()
	a.phase.Store(int32(phaseWarming))

	// work lives as long as serve: it stops the OOM allocator on return.
	work, stopWork := context.WithCancel(context.Background())
	defer stopWork()

	var readyC, crashC, unhealthyC, beatC <-chan time.Time
	if a.cfg.mode != ModeNeverReady {
		a.readyAt.Store(t0.Add(a.cfg.readyAfter).UnixNano())
		readyC = timerC(a.cfg.readyAfter)
	}
	if a.cfg.mode == ModeCrash && a.crashThisRun() {
		crashC = timerC(a.cfg.crashAfter)
	}
	if a.cfg.logEvery > 0 {
		beat := time.NewTicker(a.cfg.logEvery)
		defer beat.Stop()
		beatC = beat.C
	}
	for {
		select {
		case <-readyC:
			readyC = nil
			a.setPhase(phaseReady, "READY")
			switch a.cfg.mode {
			case ModeFlap:
				unhealthyC = timerC(a.cfg.unhealthyAfter)
			case ModeOOM:
				go a.eatMemory(work)
			}
		case <-unhealthyC:
			unhealthyC = nil
			a.setPhase(phaseUnhealthy, "UNHEALTHY")
		case <-crashC:
			a.log.printf("CRASH %d exit code %d", time.Now().UnixNano(), a.cfg.exitCode)
			return a.cfg.exitCode
		case <-beatC:
			a.log.printf("alive %s, %s", time.Since(start).Round(time.Millisecond), a.phaseName())
		case err := <-srvErr:
			a.log.printf("FATAL http server stopped: %v", err)
			return 1
		case <-ctx.Done():
			if a.cfg.mode == ModeSlowStop {
				a.log.printf("stop signal received; ignoring it for %s", a.cfg.stopDelay)
				delay := time.NewTimer(a.cfg.stopDelay)
				select {
				case <-delay.C:
				case err := <-srvErr:
					a.log.printf("FATAL http server stopped: %v", err)
					return 1
				}
			}
			a.log.printf("stopping")
			shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownBudget)
			defer cancel()
			_ = srv.Shutdown(shutdownCtx)
			return 0
		}
	}
}

// runJob is the one-shot mode: dependencies, READY_AFTER, exit EXIT_CODE.
func (a *app) runJob(ctx context.Context) int {
	a.log.printf("job started")
	if code, ok := a.awaitRequires(ctx); !ok {
		return code
	}
	select {
	case <-timerC(a.cfg.readyAfter):
	case <-ctx.Done():
		a.log.printf("stop signal received; job interrupted")
		return 0
	}
	a.log.printf("DONE %d exit code %d", time.Now().UnixNano(), a.cfg.exitCode)
	return a.cfg.exitCode
}

// timerC returns a channel that fires once after d. The timer is not stopped
// early: since Go 1.23 an unreferenced timer is collected even if it has not fired.
func timerC(d time.Duration) <-chan time.Time { return time.NewTimer(d).C }

func (a *app) setPhase(p phase, event string) {
	a.transition.Lock()
	defer a.transition.Unlock()
	ts := time.Now().UnixNano()
	a.phase.Store(int32(p))
	a.log.printf("%s %d", event, ts)
}

func (a *app) phaseName() string {
	switch phase(a.phase.Load()) {
	case phaseDeps:
		return "waiting for dependencies"
	case phaseWarming:
		return "not ready"
	case phaseReady:
		return "ready"
	default:
		return "unhealthy"
	}
}

func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch phase(a.phase.Load()) {
	case phaseReady:
		a.transition.Lock()
		first := !a.first200
		a.first200 = true
		if first {
			a.log.printf("HEALTHZ-FIRST-200 %d", time.Now().UnixNano())
		}
		a.transition.Unlock()
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, "ok")
	case phaseDeps:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready (waiting for dependencies)")
	case phaseWarming:
		w.WriteHeader(http.StatusServiceUnavailable)
		if at := a.readyAt.Load(); at != 0 {
			left := max(time.Until(time.Unix(0, at)), 0)
			fmt.Fprintf(w, "not ready (ready in %s)\n", left.Round(100*time.Millisecond))
		} else {
			fmt.Fprintf(w, "not ready (%s mode)\n", a.cfg.mode)
		}
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "unhealthy (flap mode)")
	}
}

// awaitRequires checks that every STANDIN_REQUIRES dependency answers 200 on
// /healthz, retrying each every 50ms for at most STANDIN_REQUIRES_TIMEOUT, all
// in parallel. ok is false when the caller must exit with code: 3 when a
// dependency never answered, 0 when a stop signal came first.
func (a *app) awaitRequires(ctx context.Context) (code int, ok bool) {
	if len(a.cfg.requires) == 0 {
		return 0, true
	}
	started := time.Now()
	deadline, cancel := context.WithTimeout(ctx, a.cfg.requiresTimeout)
	defer cancel()
	lastErr := make([]error, len(a.cfg.requires))
	var wg sync.WaitGroup
	for i, dep := range a.cfg.requires {
		wg.Go(func() {
			lastErr[i] = a.awaitDependency(deadline, dep)
			if lastErr[i] == nil {
				a.log.printf("dependency %s ready after %s", dep, time.Since(started).Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		a.log.printf("stop signal received while waiting for dependencies")
		return 0, false
	}
	failed := false
	for i, dep := range a.cfg.requires {
		if lastErr[i] != nil {
			a.log.printf("FATAL dependency %s not ready (after %s: %v)", dep, a.cfg.requiresTimeout, lastErr[i])
			failed = true
		}
	}
	if failed {
		return exitDependencyError, false
	}
	return 0, true
}

// awaitDependency returns nil once http://dep/healthz answers 200, or the
// last reason it did not when ctx ends.
func (a *app) awaitDependency(ctx context.Context, dep string) error {
	url := "http://" + dep + "/healthz"
	tick := time.NewTicker(depPollEvery)
	defer tick.Stop()
	var last error
	for {
		err := a.getHealthz(ctx, url)
		if err == nil {
			return nil
		}
		// The attempt the deadline cut short says less than the one before it.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}

func (a *app) getHealthz(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, depAttemptMax)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return errors.Unwrap(err) // drop the url.Error's "Get <url>:" prefix
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", resp.StatusCode)
	}
	return nil
}

// eatMemory allocates and touches 16 MiB every 50ms until the kernel's OOM
// killer ends the process (with a container memory limit) or the safety cap
// STANDIN_OOM_MAX_MIB is reached, then holds what it has until ctx ends.
func (a *app) eatMemory(ctx context.Context) {
	var held [][]byte
	var total int64
	tick := time.NewTicker(oomEvery)
	defer tick.Stop()
	for total+oomStep <= a.cfg.oomMaxBytes {
		b := make([]byte, oomStep)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // touch every page so it is really resident
		}
		held = append(held, b)
		total += oomStep
		a.log.printf("oom: holding %d MiB", total>>20)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	a.log.printf("oom: reached the %s cap of %d MiB without being killed; holding it", EnvOOMMaxMiB, a.cfg.oomMaxBytes>>20)
	<-ctx.Done()
	runtime.KeepAlive(held)
}

// runsFile counts the container's runs for STANDIN_CRASH_RUNS: it lives in
// the container's own filesystem, which a restart keeps.
const runsFile = "/.standin-runs"

// crashThisRun says whether crash mode crashes in this run: always without
// STANDIN_CRASH_RUNS, else only in the first N runs.
func (a *app) crashThisRun() bool {
	if a.cfg.crashRuns <= 0 {
		return true
	}
	b, _ := os.ReadFile(runsFile)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	n++
	if err := os.WriteFile(runsFile, []byte(strconv.Itoa(n)), 0o644); err != nil {
		a.log.printf("cannot count runs in %s: %v; crashing every run", runsFile, err)
		return true
	}
	a.log.printf("run %d (crashes in the first %d)", n, a.cfg.crashRuns)
	return n <= a.cfg.crashRuns
}
