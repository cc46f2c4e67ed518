package fleet

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
)

// Options for a fleet deploy.
type Options struct {
	// Bus receives every event of every stack, each with the attributes
	// stack and engine, and the fleet's own deploy_started/deploy_finished.
	Bus *events.Bus
	// Timeout is each stack's deploy deadline (and so the fleet's).
	Timeout     time.Duration
	CallTimeout time.Duration
	// Docker is the docker CLI's environment (see ConnectOptions).
	Docker      DockerEnv
	DiveVersion string
	// Prepare runs once per engine after it is connected (the demo builds
	// its stand-in image there).
	Prepare func(ctx context.Context, e *Engine, eng *engine.Engine) error
	// Guard runs before each stack's deploy: the deployment lock and
	// preflight. The returned release runs when the stack's deploy ends.
	Guard func(ctx context.Context, s *StackRun) (release func(), err error)
	// Redactor returns the secret-masking function of a stack's outputs.
	Redactor func(s *LoadedStack) func(string) string
	// Deploy adjusts each stack's deploy options (force-recreate, …).
	Deploy func(s *LoadedStack, o *deploy.Options)
}

// StackRun is one stack's deploy in progress, as Guard sees it.
type StackRun struct {
	*LoadedStack
	Engine *engine.Engine
	Bus    *events.Bus // the stack's own bus (forwarded to the fleet's)
}

// StackState says how far a stack got.
type StackState string

const (
	StackDeployed  StackState = "deployed"    // success or degraded
	StackFailed    StackState = "failed"      // its deploy failed
	StackNoEngine  StackState = "engine-lost" // its engine could not be reached
	StackRefused   StackState = "refused"     // lock or preflight refused it
	StackCancelled StackState = "cancelled"   // the fleet stopped it (core failure elsewhere, Ctrl-C)
)

// StackResult is one stack's outcome.
type StackResult struct {
	Name     string         `json:"name"`
	Project  string         `json:"project"`
	Engine   string         `json:"engine"`
	Class    Class          `json:"class"`
	State    StackState     `json:"state"`
	Outcome  deploy.Outcome `json:"outcome,omitempty"`
	Error    string         `json:"error,omitempty"`
	Started  time.Time      `json:"started_at"`
	Finished time.Time      `json:"finished_at"`
	Result   *deploy.Result `json:"result,omitempty"`
}

// Result is a fleet deploy's outcome.
type Result struct {
	Outcome  deploy.Outcome          `json:"outcome"`
	Err      error                   `json:"-"`
	Duration time.Duration           `json:"duration_ns"`
	Stacks   map[string]*StackResult `json:"stacks"`
}

type runner struct {
	l       *Loaded
	o       Options
	tr      *tracker
	engines map[string]*engineConn
	stop    context.CancelCauseFunc // a core stack failed
	// targets is each engine name's address: names that resolve to one
	// address are one engine.
	targets map[string]string
	// sharing is, per stack, how many stacks of the fleet deploy on its
	// engine (deploy.Options.Sharing).
	sharing map[string]int
	// sharedMu serializes ensureShared per engine address.
	sharedMu map[string]*sync.Mutex

	mu  sync.Mutex
	res *Result
}

// engineConn is one engine, connected once for all its stacks.
type engineConn struct {
	key  string // the stacks' Engine field
	def  *Engine
	once sync.Once
	eng  *engine.Engine
	err  error
}

// Run deploys every stack of the fleet at once, each on its own engine.
func Run(ctx context.Context, l *Loaded, o Options) *Result {
	t0 := time.Now()
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	r := &runner{l: l, o: o, tr: newTracker(), engines: map[string]*engineConn{}, res: &Result{Stacks: map[string]*StackResult{}}}
	for _, s := range l.Fleet.Stacks {
		if r.engines[s.Engine] == nil {
			def := l.Engines[s.Engine]
			if def == nil {
				def = &Engine{Name: DefaultEngine}
			}
			r.engines[s.Engine] = &engineConn{key: s.Engine, def: def}
		}
	}
	r.targets = engineTargets(r.engines, o.Docker)
	r.sharing = sharing(l, r.targets)
	r.sharedMu = map[string]*sync.Mutex{}
	for _, t := range r.targets {
		r.sharedMu[t] = &sync.Mutex{}
	}
	o.Bus.Emit(events.Event{Phase: events.PhaseDeploy, Attrs: events.DeployStartedAttrs{
		Project: l.Name, Fleet: l.Name, Stacks: l.stackNames(), TimeoutMS: events.MS(o.Timeout)}})
	fctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	r.stop = stop
	var wg sync.WaitGroup
	for _, s := range l.Fleet.Stacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runStack(fctx, l.Stacks[s.Name])
		}()
	}
	wg.Wait()
	for _, c := range r.engines {
		if c.eng != nil {
			c.eng.Close()
		}
	}
	r.verdict(ctx, fctx)
	r.res.Duration = time.Since(t0)
	attrs := events.DeployFinishedAttrs{Outcome: string(r.res.Outcome)}
	lvl := events.LevelInfo
	if r.res.Err != nil {
		attrs.Error = r.res.Err.Error()
		lvl = events.LevelError
	}
	o.Bus.Emit(events.Event{Phase: events.PhaseDeploy, Level: lvl, Duration: r.res.Duration, Attrs: attrs})
	return r.res
}

// connect opens an engine once, whichever of its stacks asks first.
func (r *runner) connect(ctx context.Context, c *engineConn) (*engine.Engine, error) {
	c.once.Do(func() {
		onRetry := func(op string, attempt int, err error, wait time.Duration) {
			r.o.Bus.Emit(events.Event{Phase: events.PhaseDeploy, Level: events.LevelWarn, Engine: c.def.Name,
				Attrs: events.EngineRetryAttrs{Op: op, Attempt: attempt + 1, Reason: err.Error(), BackoffMS: events.MS(wait)}})
		}
		c.eng, c.err = Connect(ctx, c.def, ConnectOptions{CallTimeout: r.o.CallTimeout, OnRetry: onRetry, Docker: r.o.Docker})
		if c.err == nil && r.o.Prepare != nil {
			if err := r.o.Prepare(ctx, c.def, c.eng); err != nil {
				c.err = fmt.Errorf("engine %s: %w", c.def.Describe(), err)
			}
		}
		if c.err == nil {
			if err := r.ensureShared(ctx, c.key, c.eng); err != nil {
				c.err = fmt.Errorf("engine %s: %w", c.def.Describe(), err)
			}
		}
	})
	return c.eng, c.err
}

func (r *runner) record(sr *StackResult) {
	r.mu.Lock()
	r.res.Stacks[sr.Name] = sr
	r.mu.Unlock()
}

// runStack deploys one stack; whatever happens, its signals are settled so
// that no other stack waits on it past its end.
func (r *runner) runStack(ctx context.Context, ls *LoadedStack) {
	c := r.engines[ls.Engine]
	sr := &StackResult{Name: ls.Name, Project: ls.St.Project.Name, Engine: c.def.Name, Class: ls.Class, Started: time.Now()}
	bus := events.NewBus(r.o.Bus.DeployID())
	if r.o.Redactor != nil {
		bus.SetRedactor(r.o.Redactor(ls))
	}
	bus.Subscribe(events.SinkFunc(func(e events.Event) {
		r.tr.observe(ls.Name, e)
		e.Stack, e.Engine = ls.Name, c.def.Name
		r.o.Bus.Emit(e)
	}))
	defer func() {
		sr.Finished = time.Now()
		r.record(sr)
		why := errors.New("the deploy of stack " + ls.Name + " ended: " + string(sr.State))
		if sr.Error != "" {
			why = fmt.Errorf("the deploy of stack %s ended (%s): %s", ls.Name, sr.State, sr.Error)
		}
		r.tr.settle(ls.Name, ls.St.Names, why)
		if ls.Class == Core && sr.State != StackDeployed && sr.State != StackCancelled {
			r.stop(fmt.Errorf("core stack %s on engine %s: %s", ls.Name, c.def.Describe(), sr.Error))
		}
	}()
	eng, err := r.connect(ctx, c)
	if err != nil {
		sr.State, sr.Error = StackNoEngine, err.Error()
		if ctx.Err() != nil {
			sr.State, sr.Error = StackCancelled, stopReason(ctx)
		}
		r.stackEvent(bus, events.LevelError, "stack "+ls.Name+" not deployed: "+sr.Error)
		return
	}
	deploy.Announce(bus, ls.St, ls.G, r.o.Timeout, eng.APIVersion())
	run := &StackRun{LoadedStack: ls, Engine: eng, Bus: bus}
	if r.o.Guard != nil {
		release, err := r.o.Guard(ctx, run)
		if err != nil {
			sr.State, sr.Error = StackRefused, err.Error()
			if ctx.Err() != nil {
				sr.State, sr.Error = StackCancelled, stopReason(ctx)
			}
			deploy.Abort(bus, sr.Started, err)
			return
		}
		defer release()
	}
	do := deploy.Options{Stack: ls.St, Graph: ls.G, Bus: bus, Timeout: r.o.Timeout, DiveVersion: r.o.DiveVersion, Announced: true, CPUs: eng.CPUs(ctx), Sharing: r.sharing[ls.Name],
		ExternalDeps: r.tr.externalDeps(r.l.depsOf(ls.Name))}
	if r.o.Deploy != nil {
		r.o.Deploy(ls, &do)
	}
	res := deploy.Run(ctx, eng, do)
	deploy.Finish(bus, res)
	sr.Result, sr.Outcome = res, res.Outcome
	switch {
	case res.Outcome == deploy.Success || res.Outcome == deploy.Degraded:
		sr.State = StackDeployed
	case res.Outcome == deploy.Interrupted:
		sr.State, sr.Error = StackCancelled, stopReason(ctx)
	default:
		sr.State = StackFailed
		if res.Err != nil {
			sr.Error = res.Err.Error()
		}
	}
}

func (r *runner) stackEvent(bus *events.Bus, lvl events.Level, msg string) {
	bus.Emit(events.Event{Phase: events.PhaseDeploy, Level: lvl, Attrs: events.WarningAttrs{Note: events.Note{Message: msg}}})
}

// stopReason says why the fleet stopped a stack.
func stopReason(ctx context.Context) string {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return "stopped: " + cause.Error()
	}
	return "stopped: interrupted"
}

// verdict: failed when a core stack is not deployed, degraded when an
// optional one is not (or a stack is degraded), interrupted on Ctrl-C.
func (r *runner) verdict(parent, fctx context.Context) {
	res := r.res
	res.Outcome = deploy.Success
	var problems []string
	names := make([]string, 0, len(res.Stacks))
	for n := range res.Stacks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := res.Stacks[n]
		switch {
		case s.State == StackDeployed && s.Outcome == deploy.Degraded && res.Outcome == deploy.Success:
			res.Outcome = deploy.Degraded
		case s.State == StackDeployed:
		case s.Class == Core:
			res.Outcome = deploy.Failed
			problems = append(problems, fmt.Sprintf("core stack %s (engine %s) %s: %s", n, s.Engine, s.State, s.Error))
		default:
			if res.Outcome == deploy.Success {
				res.Outcome = deploy.Degraded
			}
		}
	}
	if parent.Err() != nil {
		res.Outcome = deploy.Interrupted
		res.Err = errors.New("interrupted")
		return
	}
	if res.Outcome == deploy.Failed {
		msg := strings.Join(problems, "; ")
		if cause := context.Cause(fctx); cause != nil && !errors.Is(cause, context.Canceled) {
			msg = cause.Error() // the first core failure; the others follow from it
		}
		res.Err = errors.New(msg)
	}
}

// engineTargets is each engine name's address: engines of the file that
// resolve to one address (several engine names left to DOCKER_HOST or the
// local socket, as the demo fleet on one machine) are one engine.
func engineTargets(engines map[string]*engineConn, env DockerEnv) map[string]string {
	target := map[string]string{}
	for name, c := range engines {
		where, _, _, err := engineAddress(c.def, env)
		switch {
		case err != nil:
			target[name] = "name:" + name
		case where == "":
			target[name] = "environment"
		default:
			target[name] = where
		}
	}
	return target
}

// sharing counts, per stack, the fleet's stacks on the same engine.
func sharing(l *Loaded, target map[string]string) map[string]int {
	n := map[string]int{}
	for _, s := range l.Fleet.Stacks {
		n[target[s.Engine]]++
	}
	out := map[string]int{}
	for _, s := range l.Fleet.Stacks {
		out[s.Name] = n[target[s.Engine]]
	}
	return out
}
