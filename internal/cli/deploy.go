package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/report"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/validate"
	"github.com/spf13/cobra"
)

type deployFlags struct {
	timeout       time.Duration
	forceRecreate bool
	build         bool
	waitAll       bool
	noValidate    bool
	skipPreflight bool
	retryBroken   bool
	waitLock      time.Duration
	opConcurrency int
	noRollback    bool
	removeOrphans bool
	renewAnon     bool
	rollbackTo    string // dive hub rollback: the deploy to go back to ("previous": the one before the last)
}

func (a *app) deployCmd() *cobra.Command {
	var f deployFlags
	c := &cobra.Command{
		Use:   "deploy [SERVICE...]",
		Short: "Deploy the hub: start every service the moment its own dependencies are ready",
		Long: `Deploy reads the compose file, prepares images, networks, volumes and containers
in parallel, then starts each service as soon as its dependencies meet their
conditions, watching readiness through the engine's events and dive's own
probe (the service's healthcheck command, run early and often).

Exit codes: 0 every core service ready (optional/stretch may be degraded),
1 the deploy failed, 2 configuration or usage error, 130 interrupted.`,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkDeployFlags(f); err != nil {
				return err
			}
			a.orphansDefault(c, &f)
			return a.runDeploy(c.Context(), args, f)
		},
	}
	fl := c.Flags()
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "the whole deploy's deadline")
	fl.BoolVar(&f.forceRecreate, "force-recreate", false, "recreate every container, changed or not")
	fl.BoolVar(&f.build, "build", false, "rebuild images of services with a build: section")
	fl.BoolVar(&f.waitAll, "wait-all", false, "also wait for optional and stretch services")
	fl.BoolVar(&f.noValidate, "no-validate", false, "skip the validation that ends every deploy")
	fl.BoolVar(&f.skipPreflight, "skip-preflight", false, "skip the preflight checks")
	fl.BoolVar(&f.retryBroken, "retry-broken", false, "try optional/stretch services the breaker is skipping")
	fl.BoolVar(&f.noRollback, "no-rollback", false, "replace changed containers as docker compose does (old one removed first) and never roll back (docs/rollback.md)")
	fl.BoolVar(&f.removeOrphans, "remove-orphans", false, "stop and remove containers of services no longer in the compose file, before creating any (default $COMPOSE_REMOVE_ORPHANS)")
	fl.BoolVarP(&f.renewAnon, "renew-anon-volumes", "V", false, "give recreated containers new anonymous volumes instead of their previous containers' (as docker compose up -V)")
	fl.DurationVar(&f.waitLock, "wait-lock", 0, "wait this long for another deploy of the project to finish instead of refusing")
	fl.IntVar(&f.opConcurrency, "op-concurrency", 0, "container creates/starts/removes in flight at once (0: 4 per CPU, at least 8; -1: unbounded)")
	_ = fl.MarkHidden("op-concurrency")
	return c
}

// orphansDefault takes --remove-orphans from COMPOSE_REMOVE_ORPHANS when
// the flag is not given, as docker compose does.
func (a *app) orphansDefault(c *cobra.Command, f *deployFlags) {
	if !c.Flags().Changed("remove-orphans") {
		f.removeOrphans = a.env.RemoveOrphans
	}
}

func newDeployID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func (a *app) runDeploy(ctx context.Context, services []string, f deployFlags) error {
	t0 := time.Now()
	deployID := newDeployID(t0)
	bus := events.NewBus(deployID)
	var collected []events.Event
	bus.Subscribe(events.SinkFunc(func(e events.Event) { collected = append(collected, e) }))
	onRetry := func(op string, attempt int, err error, wait time.Duration) {
		bus.Emit(events.Event{Phase: events.PhaseDeploy, Level: events.LevelWarn,
			Attrs: events.EngineRetryAttrs{Op: op, Attempt: attempt + 1, Reason: err.Error(), BackoffMS: events.MS(wait)}})
	}
	l, eng, err := a.loadAndConnect(ctx, services, onRetry)
	if err != nil {
		return err
	}
	defer eng.Close()
	l, pinned, err := a.retarget(ctx, l, f.rollbackTo)
	if err != nil {
		return err
	}
	st := l.st
	redactor := newRedactor(st)
	bus.SetRedactor(redactor.String)

	// 2. outputs: every one subscribes to the same events.
	runDir := report.DeployDir(l.stateDir, st.Project.Name, deployID)
	evFile, evLog, err := openEventsLog(runDir)
	if err != nil {
		return err
	}
	defer evFile.Close()
	bus.Subscribe(evLog)
	out := redactor.Writer(a.stdout)
	if lw, ok := out.(interface{ Flush() error }); ok {
		defer lw.Flush()
	}
	prog := a.subscribeOutput(bus, out, l)
	if a.g.logFormat != "json" {
		fmt.Fprintf(out, "dive %s: deploying %s (%d services, engine %s API %s), deploy %s\n", Version, st.Project.Name, len(st.Names), eng.ServerVersion(), eng.APIVersion(), deployID)
	}

	// 3. lock, preflight, breaker.
	deploy.Announce(bus, st, l.g, f.timeout, eng.APIVersion())
	abort := func(err error, during string) error {
		if ctx.Err() != nil {
			// What failed then is the interrupt's doing (a cancelled
			// engine call), not the engine's or the stack's.
			err = fmt.Errorf("%w: the deploy was interrupted during %s; nothing was created", context.Canceled, during)
		}
		deploy.Abort(bus, t0, err)
		err = maskErr(err, redactor.String)
		if prog != nil {
			prog.Close()
		}
		a.writeRecords(l, deployID, collected, nil, nil, evLog)
		return err
	}
	release, err := a.acquireLock(ctx, eng, l, deployID, f.waitLock, f.timeout)
	if err != nil {
		return abort(err, "the deployment lock")
	}
	defer release()
	if !f.skipPreflight {
		if err := a.preflightForDeploy(ctx, eng, l, bus, f.removeOrphans); err != nil {
			return abort(err, "the preflight")
		}
	}
	skip := map[string]string{}
	breakers := a.loadBreakers(l)
	if !f.retryBroken {
		skip = breakers.skips(st)
	}

	// 4. deploy.
	res := a.runDeployment(ctx, eng, l, bus, f, skip, deployID, pinned)
	if prog != nil {
		prog.Close()
	}
	redactResult(res, redactor.String)
	breakers.record(st, res)

	// 5. validation, records and the verdict.
	validation := a.validateDeployed(ctx, eng, l, bus, f, res)
	res.Duration = time.Since(t0)
	deploy.Finish(bus, res)
	a.writeRecords(l, deployID, collected, res, validation, evLog)
	a.keepConfig(ctx, runDir, st, res)
	a.pruneRecords(l.stateDir, st.Project.Name, deployID)
	a.printSummary(out, st, res, runDir)
	if rep, ok := validation.(validate.Report); ok && a.g.logFormat != "json" {
		printValidationLine(out, rep)
	}
	return deployVerdict(res, redactor.String)
}

// loadAndConnect loads the configuration and connects to the engine: for
// the demo the engine first, since the stand-in image's reference needs it;
// otherwise the configuration first, so nothing touches the engine before it
// is valid. On error the engine, if connected, is closed.
func (a *app) loadAndConnect(ctx context.Context, services []string, onRetry func(op string, attempt int, err error, wait time.Duration)) (*loaded, *engine.Engine, error) {
	var l *loaded
	var eng *engine.Engine
	var err error
	if a.g.demo {
		// The embedded file is known to be valid; it only needs the
		// stand-in image's reference, which needs the engine.
		if eng, err = a.connect(ctx, onRetry); err != nil {
			return nil, nil, err
		}
		ref, built, err := a.ensureStandin(ctx, eng)
		if err != nil {
			eng.Close()
			return nil, nil, fmt.Errorf("stand-in image: %w", err)
		}
		if built {
			fmt.Fprintf(a.stderr, "built the stand-in image %s\n", ref)
		}
		if l, err = a.load(ctx, services, ref); err != nil {
			eng.Close()
			return nil, nil, err
		}
		return l, eng, nil
	}
	// Configuration first: nothing touches the engine before it is valid.
	if l, err = a.load(ctx, services, a.env.StandinImage); err != nil {
		return nil, nil, err
	}
	if eng, err = a.connect(ctx, onRetry); err != nil {
		return nil, nil, err
	}
	if err := checkForEngine(l.st, eng.APIVersion()); err != nil {
		eng.Close()
		return nil, nil, err
	}
	return l, eng, nil
}

// checkForEngine refuses, as a configuration error, settings this engine
// is too old for and would ignore silently (compose refuses them too).
func checkForEngine(st *stack.Stack, apiVersion string) error {
	for _, n := range st.Names {
		if err := engine.CheckInterfaceNames(st.Services[n].Config, apiVersion); err != nil {
			return &stack.ConfigError{Msg: err.Error(), Err: err,
				Fix: "remove interface_name from the service's network (the engine then names the interface eth0, eth1, ...), or upgrade the engine to Docker 28.1 or later"}
		}
	}
	return nil
}

// subscribeOutput subscribes the output to bus: JSON lines, or the progress
// display it returns.
func (a *app) subscribeOutput(bus *events.Bus, out io.Writer, l *loaded) *progress {
	st := l.st
	var prog *progress
	if a.g.logFormat == "json" {
		bus.Subscribe(events.NewJSONLSink(out))
	} else {
		classes := map[string]string{}
		for _, n := range st.Names {
			classes[n] = string(st.Services[n].Class)
		}
		prog = newProgress(out, isTerminal(a.stdout), l.g.Order(), classes)
		bus.Subscribe(prog)
	}
	return prog
}

// runDeployment runs the deploy itself.
func (a *app) runDeployment(ctx context.Context, eng *engine.Engine, l *loaded, bus *events.Bus, f deployFlags, skip map[string]string, deployID string, pinned map[string]string) *deploy.Result {
	st := l.st
	expected := map[string]time.Duration{}
	for n, e := range a.expectedReadiness(l) {
		expected[n] = e.P50
	}
	return deploy.Run(ctx, eng, deploy.Options{Stack: st, Graph: l.g, Bus: bus, Timeout: f.timeout, ForceRecreate: f.forceRecreate,
		Build: f.build, WaitAll: f.waitAll, Skip: skip, DiveVersion: Version, Announced: true, NoRollback: f.noRollback, RemoveOrphans: f.removeOrphans, RenewAnonVolumes: f.renewAnon, Images: pinned,
		Expected: expected, OpConcurrency: f.opConcurrency, ProbeConcurrency: a.env.ProbeConcurrency, CPUs: eng.CPUs(ctx),
		ReadyBefore: readyBefore(l.stateDir, st.Project.Name, deployID)})
}

// validateDeployed validates the stack after a deploy that neither failed
// nor was interrupted, unless --no-validate; nil when it does not.
func (a *app) validateDeployed(ctx context.Context, eng *engine.Engine, l *loaded, bus *events.Bus, f deployFlags, res *deploy.Result) any {
	var validation any
	if !f.noValidate && res.Outcome != deploy.Failed && res.Outcome != deploy.Interrupted {
		confirmed, reused := map[string]bool{}, map[string]bool{}
		for n, r := range res.Services {
			confirmed[n] = r.Signal == events.SignalProbe || r.Signal == events.SignalReadyBefore
			reused[n] = r.State == deploy.StateReused
		}
		validation = a.validateAfterDeploy(ctx, eng, l, bus, confirmed, reused)
	}
	return validation
}

// deployVerdict is the error runDeploy returns for res: nil on success.
func deployVerdict(res *deploy.Result, mask func(string) string) error {
	switch res.Outcome {
	case deploy.Success, deploy.Degraded:
		return nil
	case deploy.Interrupted:
		return &ExitError{Code: ExitInterrupted, Err: errors.New("deploy interrupted; containers were left as they were (see the summary above); run 'dive hub status'")}
	}
	if res.Err == nil {
		res.Err = errors.New("deploy failed")
	}
	return &ExitError{Code: ExitFailed, Err: maskErr(res.Err, mask)}
}

// needsStandin reports whether the stack's compose file refers to the stand-in image.
func needsStandin(st *stack.Stack) bool {
	for _, n := range st.Names {
		if strings.HasPrefix(st.Services[n].Config.Image, "dive-standin:") {
			return true
		}
	}
	return false
}

func (a *app) printSummary(w io.Writer, st *stack.Stack, res *deploy.Result, runDir string) {
	if a.g.logFormat == "json" {
		return
	}
	names := sortedKeys(res.Services)
	counts := map[deploy.State]int{}
	for _, n := range names {
		counts[res.Services[n].State]++
	}
	fmt.Fprintln(w)
	for _, n := range names {
		r := res.Services[n]
		if r.State != deploy.StateFailed {
			continue
		}
		d := r.Diagnosis
		fmt.Fprintf(w, "✘ %s (%s) failed: %s\n", n, r.Class, r.Reason)
		if d != nil {
			if d.State != "" {
				fmt.Fprintf(w, "    state: %s", d.State)
				if d.ExitCode != nil {
					fmt.Fprintf(w, ", exit code %d", *d.ExitCode)
				}
				fmt.Fprintf(w, ", OOM killed: %t", d.OOMKilled)
				if d.RestartCount > 0 {
					fmt.Fprintf(w, ", restarts: %d", d.RestartCount)
				}
				fmt.Fprintln(w)
			}
			if len(d.HealthOutputs) > 0 {
				fmt.Fprintln(w, "    last health checks:")
				for _, h := range lastN(d.HealthOutputs, 5) {
					fmt.Fprintf(w, "      %s\n", h)
				}
			}
			if len(d.Logs) > 0 {
				fmt.Fprintf(w, "    last %d log lines:\n", len(d.Logs))
				for _, l := range d.Logs {
					fmt.Fprintf(w, "      | %s\n", l)
				}
			}
			if d.Hint != "" {
				fmt.Fprintf(w, "    next: %s\n", d.Hint)
			}
		}
	}
	for _, n := range names {
		r := res.Services[n]
		switch r.State {
		case deploy.StateSkipped, deploy.StatePending, deploy.StateCancelled:
			fmt.Fprintf(w, "- %s (%s) %s: %s\n", n, r.Class, r.State, r.Reason)
		}
	}
	printRollback(w, res)
	var parts []string
	for _, s := range []deploy.State{deploy.StateReady, deploy.StateReused, deploy.StateFailed, deploy.StateSkipped, deploy.StatePending, deploy.StateCancelled} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	verdict := map[deploy.Outcome]string{
		deploy.Success:     "✔ deployed: every service is ready",
		deploy.Degraded:    "✔ deployed, degraded: every core service is ready; some optional/stretch services are not (see above)",
		deploy.Failed:      "✘ deploy failed",
		deploy.Interrupted: "✘ deploy interrupted",
	}[res.Outcome]
	if rb := res.Rollback; rb != nil && rb.Complete {
		verdict += ", rolled back: the hub runs the previous configuration"
	} else if rb != nil {
		verdict += ", and the rollback did not complete (see above)"
	}
	fmt.Fprintf(w, "%s in %.2fs (%s)\n", verdict, res.Duration.Seconds(), strings.Join(parts, ", "))
	fmt.Fprintf(w, "  records: %s\n", runDir)
}

// printRollback lists what a rollback did, service by service: after a core
// failure every changed service, else each optional/stretch one rolled back
// alone.
func printRollback(w io.Writer, res *deploy.Result) {
	cause := ""
	if res.Rollback != nil {
		cause = res.Rollback.Cause
		fmt.Fprintf(w, "↺ rollback after %s failed:\n", cause)
	}
	for _, n := range sortedKeys(res.Services) {
		sr := res.Services[n].Rollback
		if sr == nil {
			continue
		}
		if res.Rollback == nil {
			fmt.Fprintf(w, "↺ %s (%s) rolled back alone:\n", n, res.Services[n].Class)
		}
		switch sr.Action {
		case deploy.RollbackRestored:
			fmt.Fprintf(w, "    %s: runs its previous container %s again, ready %.2fs after the failure (%.2fs after its start)\n",
				n, sr.ContainerID, sr.SinceFailure.Seconds(), sr.ReadyIn.Seconds())
		case deploy.RollbackUntouched:
			fmt.Fprintf(w, "    %s: failed before its previous container %s was touched: it still runs\n", n, sr.ContainerID)
		case deploy.RollbackRemoved:
			fmt.Fprintf(w, "    %s: new in this deploy, its container %s removed\n", n, sr.Removed)
		default:
			fmt.Fprintf(w, "    %s: ROLLBACK FAILED: %s; it runs %s\n", n, sr.Error, sr.Runs)
		}
	}
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// maskedError shows a message with secrets masked while keeping the
// original error in the chain, so exit codes (config, usage, interrupt)
// still follow from its type.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

func maskErr(err error, mask func(string) string) error {
	if err == nil {
		return nil
	}
	return &maskedError{msg: mask(err.Error()), err: err}
}

// redactResult masks secrets in everything a result carries, before it is
// printed, stored (breakers.json) or returned as an error.
func redactResult(res *deploy.Result, mask func(string) string) {
	res.Err = maskErr(res.Err, mask)
	for _, r := range res.Services {
		r.Reason = mask(r.Reason)
		if d := r.Diagnosis; d != nil {
			d.Reason, d.Hint = mask(d.Reason), mask(d.Hint)
			for i := range d.HealthOutputs {
				d.HealthOutputs[i] = mask(d.HealthOutputs[i])
			}
			for i := range d.Logs {
				d.Logs[i] = mask(d.Logs[i])
			}
		}
	}
}

// printValidationLine summarizes the validation that ends a deploy; failed
// checks are listed (they do not change the deploy's exit code: the deploy
// itself saw every core service ready).
func printValidationLine(w io.Writer, rep validate.Report) {
	fmt.Fprintf(w, "  validation: %s (%d checks in %.0f ms)", rep.Verdict, len(rep.Checks), rep.DurationMS)
	fmt.Fprintln(w)
	for _, c := range rep.Checks {
		if c.Status == validate.Fail || c.Status == validate.Warn {
			fmt.Fprintf(w, "    %s %s: %s\n", c.Status, c.Name, c.Detail)
		}
	}
}

// openEventsLog creates a deploy's records folder and its events.jsonl,
// and returns the sink that writes it (its Err reports a failed write).
func openEventsLog(runDir string) (*os.File, *events.JSONLSink, error) {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("state dir %s: %w", runDir, err)
	}
	f, err := os.OpenFile(filepath.Join(runDir, "events.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("events log: %w", err)
	}
	return f, events.NewJSONLSink(f), nil
}
