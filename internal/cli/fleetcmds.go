package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/fleet"
	"github.com/dive-hub/dive/internal/report"
	"github.com/spf13/cobra"
)

func (a *app) fleetDeployCmd(ff *fleetFlags) *cobra.Command {
	var f deployFlags
	c := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy every stack of the fleet at once, each on its own engine, honouring dependencies across stacks",
		Long: `Deploy loads every stack of the fleet file (configuration errors exit 2
before any engine is touched), connects to each engine once, then deploys
every stack at once with the single-stack deploy (lock, preflight, scheduler).
A service with a dependency in another stack starts when that service meets
the condition, as for depends_on inside one stack. A failed optional stack
never blocks the others; a failed core stack stops what is still starting.

Exit codes: 0 every core stack deployed, 1 the deploy failed, 2 configuration
or usage error, 130 interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			a.orphansDefault(c, &f)
			return a.runFleetDeploy(c.Context(), ff, f)
		},
	}
	fl := c.Flags()
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "each stack's deploy deadline")
	fl.BoolVar(&f.forceRecreate, "force-recreate", false, "recreate every container, changed or not")
	fl.BoolVar(&f.build, "build", false, "rebuild images of services with a build: section")
	fl.BoolVar(&f.waitAll, "wait-all", false, "also wait for optional and stretch services")
	fl.BoolVar(&f.skipPreflight, "skip-preflight", false, "skip each stack's preflight checks")
	fl.DurationVar(&f.waitLock, "wait-lock", 0, "wait this long for another deploy of a stack to finish instead of refusing")
	fl.BoolVar(&f.removeOrphans, "remove-orphans", false, "in each stack, stop and remove containers of services no longer in its compose file, before creating any (default $COMPOSE_REMOVE_ORPHANS)")
	fl.BoolVarP(&f.renewAnon, "renew-anon-volumes", "V", false, "give recreated containers new anonymous volumes instead of their previous containers' (as docker compose up -V)")
	return c
}

func (a *app) runFleetDeploy(ctx context.Context, ff *fleetFlags, f deployFlags) error {
	t, l, err := a.openFleet(ctx, ff)
	if err != nil {
		return err
	}
	t0 := time.Now()
	id := newDeployID(t0)
	bus := events.NewBus(id)
	var mu sync.Mutex
	var collected []events.Event
	bus.Subscribe(events.SinkFunc(func(e events.Event) {
		mu.Lock()
		collected = append(collected, e)
		mu.Unlock()
	}))
	runDir := report.DeployDir(t.stateDir, fleetRecordsProject(l.Name), id)
	evFile, evLog, err := openEventsLog(runDir)
	if err != nil {
		return err
	}
	defer evFile.Close()
	bus.Subscribe(evLog)
	if ff.logFormat == "json" {
		bus.Subscribe(events.NewJSONLSink(a.stdout))
	} else {
		fmt.Fprintf(a.stdout, "dive %s: deploying fleet %s (%d stacks on %d engines), deploy %s\n", Version, l.Name, len(l.Fleet.Stacks), len(usedEngines(l)), id)
		bus.Subscribe(&fleetPrinter{w: a.stdout, t0: t0})
	}
	res := fleet.Run(ctx, l, fleet.Options{Bus: bus, Timeout: f.timeout, CallTimeout: ff.callTimeout, DiveVersion: Version, Docker: a.env.Docker,
		Prepare: t.prepareEngine(l), Guard: a.fleetGuard(t, f), Redactor: fleetRedactor, Deploy: stackDeployOptions(f, a.env.ProbeConcurrency)})
	mu.Lock()
	evs := append([]events.Event(nil), collected...)
	mu.Unlock()
	a.writeFleetRecords(t, l, id, evs, res, a.recordsHole(evLog, t.stateDir))
	a.pruneRecords(t.stateDir, fleetRecordsProject(l.Name), id)
	if ff.logFormat != "json" {
		printFleetSummary(a.stdout, l, res, runDir)
	}
	switch res.Outcome {
	case deploy.Success, deploy.Degraded:
		return nil
	case deploy.Interrupted:
		return &ExitError{Code: ExitInterrupted, Err: errors.New("fleet deploy interrupted; containers were left as they were; run 'dive fleet status'")}
	}
	if res.Err == nil {
		res.Err = errors.New("fleet deploy failed")
	}
	return &ExitError{Code: ExitFailed, Err: res.Err}
}

func usedEngines(l *fleet.Loaded) map[string]bool {
	out := map[string]bool{}
	for _, s := range l.Fleet.Stacks {
		out[s.Engine] = true
	}
	return out
}

// fleetGuard takes each stack's deployment lock and runs its preflight,
// exactly as `hub deploy` does.
func (a *app) fleetGuard(t *fleetTarget, f deployFlags) func(ctx context.Context, s *fleet.StackRun) (func(), error) {
	return func(ctx context.Context, s *fleet.StackRun) (func(), error) {
		ld := t.stackLoaded(s.LoadedStack)
		if err := checkForEngine(ld.st, s.Engine.APIVersion()); err != nil {
			return func() {}, err
		}
		release, err := a.acquireLock(ctx, s.Engine, ld, s.Bus.DeployID(), f.waitLock, f.timeout)
		if err != nil {
			return release, err
		}
		if !f.skipPreflight {
			if err := a.preflightForDeploy(ctx, s.Engine, ld, s.Bus, f.removeOrphans); err != nil {
				release()
				return func() {}, err
			}
		}
		return release, nil
	}
}

// fleetView renames each stack's services to STACK.SERVICE and turns the
// stacks' own deploy_started/deploy_finished into notes, so that one
// report (one Gantt) covers every stack and engine.
func fleetView(evs []events.Event) []events.Event {
	out := make([]events.Event, 0, len(evs))
	for _, e := range evs {
		if st := e.Stack; st != "" {
			if e.Service != "" {
				e.Service = st + "." + e.Service
			}
			if e.Kind == events.DeployStarted || e.Kind == events.DeployFinished {
				msg := fmt.Sprintf("stack %s on engine %s: %s", st, e.Engine, e.Kind)
				if fin, ok := e.Attrs.(events.DeployFinishedAttrs); ok {
					msg += fmt.Sprintf(" (%s)", fin.Outcome)
				}
				e.Kind = events.Info
				e.Attrs = events.InfoAttrs{Note: events.Note{Message: msg}}
			}
		}
		out = append(out, e)
	}
	return out
}

// fleetMetrics computes one report across stacks.
func fleetMetrics(l *fleet.Loaded, id string, evs []events.Event, recordsErr string) report.Metrics {
	d := report.Deploy{ID: id, Project: fleetRecordsProject(l.Name), RecordsError: recordsErr}
	for _, s := range l.Fleet.Stacks {
		ls := l.Stacks[s.Name]
		cross := fleetDeps(l, s.Name)
		for _, n := range ls.G.Order() {
			class := string(ls.St.Services[n].Class)
			if s.Class == fleet.Optional && class == "core" {
				class = "optional"
			}
			var deps []string
			for _, e := range ls.G.Deps(n) {
				deps = append(deps, s.Name+"."+e.To)
			}
			deps = append(deps, cross[n]...)
			d.Services = append(d.Services, report.ServiceInfo{Name: s.Name + "." + n, Class: class, DependsOn: deps})
		}
	}
	return report.Compute(d, fleetView(evs))
}

func fleetDeps(l *fleet.Loaded, stackName string) map[string][]string {
	out := map[string][]string{}
	for _, d := range l.Deps {
		if d.From.Stack == stackName {
			out[d.From.Service] = append(out[d.From.Service], d.To.String())
		}
	}
	return out
}

func (a *app) writeFleetRecords(t *fleetTarget, l *fleet.Loaded, id string, evs []events.Event, res *fleet.Result, recordsErr string) {
	project := fleetRecordsProject(l.Name)
	dir := report.DeployDir(t.stateDir, project, id)
	m := fleetMetrics(l, id, evs, recordsErr)
	hist, _ := report.LoadHistory(t.stateDir, project)
	if err := report.WriteDeployFiles(dir, m, hist); err != nil {
		fmt.Fprintf(a.stderr, "dive: warning: could not write the fleet report: %v\n", err)
	}
	if b, err := json.MarshalIndent(res, "", "  "); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "fleet.json"), append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(a.stderr, "dive: warning: could not write fleet.json: %v\n", err)
		}
	}
}

func printFleetSummary(w io.Writer, l *fleet.Loaded, res *fleet.Result, runDir string) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STACK\tENGINE\tCLASS\tSTATE\tOUTCOME\tTIME\tDETAIL")
	for _, name := range sortedKeys(res.Stacks) {
		s := res.Stacks[name]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2fs\t%s\n", name, s.Engine, s.Class, s.State, dash(string(s.Outcome)),
			s.Finished.Sub(s.Started).Seconds(), dash(clip(s.Error, 200)))
	}
	_ = tw.Flush()
	verdict := map[deploy.Outcome]string{
		deploy.Success:     "✔ fleet deployed: every stack is ready",
		deploy.Degraded:    "✔ fleet deployed, degraded: every core stack is ready; some optional stacks or services are not",
		deploy.Failed:      "✘ fleet deploy failed",
		deploy.Interrupted: "✘ fleet deploy interrupted",
	}[res.Outcome]
	fmt.Fprintf(w, "%s in %.2fs\n", verdict, res.Duration.Seconds())
	if res.Err != nil && res.Outcome == deploy.Failed {
		fmt.Fprintf(w, "  %s\n", res.Err)
	}
	fmt.Fprintf(w, "  records: %s (dive fleet report --last)\n", runDir)
}

func (a *app) fleetDownCmd(ff *fleetFlags) *cobra.Command {
	var volumes bool
	var waitLock time.Duration
	c := &cobra.Command{
		Use:   "down",
		Short: "Stop and remove every stack of the fleet on its engine (dependents first)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			t, l, err := a.openFleet(c.Context(), ff)
			if err != nil {
				return err
			}
			return a.runFleetDown(c.Context(), t, l, volumes, waitLock)
		},
	}
	c.Flags().BoolVarP(&volumes, "volumes", "v", false, "also remove the stacks' named volumes")
	c.Flags().DurationVar(&waitLock, "wait-lock", 0, "wait this long for a running deploy of a stack instead of refusing")
	return c
}

// runFleetDown downs each stack once every stack depending on it is down
// (a spoke before the hub whose shared network it uses), all at once otherwise.
func (a *app) runFleetDown(ctx context.Context, t *fleetTarget, l *fleet.Loaded, volumes bool, waitLock time.Duration) error {
	done := map[string]chan struct{}{}
	dependents := map[string]map[string]bool{}
	for _, s := range l.Fleet.Stacks {
		done[s.Name] = make(chan struct{})
	}
	for _, d := range l.Deps {
		if dependents[d.To.Stack] == nil {
			dependents[d.To.Stack] = map[string]bool{}
		}
		dependents[d.To.Stack][d.From.Stack] = true
	}
	out := &lockedWriter{w: a.stdout}
	errs := a.forEachStack(ctx, l, a.g.callTimeout, sortedKeys(l.Stacks), func(ctx context.Context, ls *fleet.LoadedStack, eng *engine.Engine) error {
		defer close(done[ls.Name])
		for dep := range dependents[ls.Name] {
			select {
			case <-done[dep]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ld := t.stackLoaded(ls)
		release, err := a.acquireLock(ctx, eng, ld, "down", waitLock, 5*time.Minute)
		if err != nil {
			return err
		}
		defer release()
		return downProject(ctx, eng, ls.St.Project.Name, ld, volumes, &prefixWriter{w: out, prefix: fmt.Sprintf("[%s@%s] ", ls.Name, ls.Engine)})
	})
	// An unreachable engine still releases its dependencies' turn.
	for _, ch := range done {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
	if volumes {
		// Stacks that share an external network dive created went down
		// at once, each seeing the others still on it: now that all are
		// down, the network goes.
		var once sync.Map
		again := a.forEachStack(ctx, l, a.g.callTimeout, sortedKeys(l.Stacks), func(ctx context.Context, ls *fleet.LoadedStack, eng *engine.Engine) error {
			if errs[ls.Name] != nil {
				return nil
			}
			nerrs, err := removeCreatedNetworks(ctx, eng, ls.St.Project.Name, t.stackLoaded(ls), true, &prefixWriter{w: out, prefix: fmt.Sprintf("[%s@%s] ", ls.Name, ls.Engine)}, &once)
			if err == nil && len(nerrs) > 0 {
				err = fmt.Errorf("down left some things behind:\n  %s", strings.Join(nerrs, "\n  "))
			}
			return err
		})
		for n, err := range again {
			if err != nil && errs[n] == nil {
				errs[n] = err
			}
		}
	}
	return stackErrors("down", errs)
}

func stackErrors(what string, errs map[string]error) error {
	var lines []string
	for _, n := range sortedKeys(errs) {
		if errs[n] != nil {
			lines = append(lines, fmt.Sprintf("stack %s: %v", n, errs[n]))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("fleet %s: %d stacks failed:\n  %s", what, len(lines), strings.Join(lines, "\n  "))
}

// prefixWriter prefixes every write (a line) with the stack it is about.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

type fleetStatusRow struct {
	Stack  string `json:"stack"`
	Engine string `json:"engine"`
	statusRow
}

func (a *app) fleetStatusCmd(ff *fleetFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show every stack's services on their engines",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			t, l, err := a.openFleet(c.Context(), ff)
			if err != nil {
				return err
			}
			var mu sync.Mutex
			var rows []fleetStatusRow
			errs := a.forEachStack(c.Context(), l, a.g.callTimeout, sortedKeys(l.Stacks), func(ctx context.Context, ls *fleet.LoadedStack, eng *engine.Engine) error {
				cs, err := eng.ListContainers(ctx, ls.St.Project.Name)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				for _, r := range statusRows(t.stackLoaded(ls), cs) {
					rows = append(rows, fleetStatusRow{Stack: ls.Name, Engine: ls.Engine, statusRow: r})
				}
				return nil
			})
			sort.Slice(rows, func(i, j int) bool {
				return rows[i].Stack < rows[j].Stack || rows[i].Stack == rows[j].Stack && rows[i].Service < rows[j].Service
			})
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					Fleet    string           `json:"fleet"`
					Services []fleetStatusRow `json:"services"`
				}{l.Name, rows}); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "STACK\tENGINE\tSERVICE\tCLASS\tSTATE\tHEALTH\tPORTS")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Stack, r.Engine, r.Service, r.Class, r.State, dash(r.Health), dash(strings.Join(r.Ports, ",")))
				}
				_ = tw.Flush()
			}
			return stackErrors("status", errs)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

type fleetPlanStack struct {
	Name       string     `json:"name"`
	Project    string     `json:"project"`
	Engine     string     `json:"engine"`
	Where      string     `json:"engine_address"`
	Class      string     `json:"class"`
	Template   string     `json:"template,omitempty"`
	Files      []string   `json:"files"`
	Services   []string   `json:"services"`
	StartOrder [][]string `json:"levels"`
}

type fleetPlanEdge struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Condition string `json:"condition"`
	Required  bool   `json:"required"`
}

func (a *app) fleetPlanCmd(ff *fleetFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "plan",
		Short: "Show the fleet: stacks, their engines and classes, services, and the dependencies across stacks",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			t, err := a.parseFleet(ff)
			if err != nil {
				return err
			}
			l, err := a.loadFleet(c.Context(), t)
			if err != nil {
				return err
			}
			var stacks []fleetPlanStack
			for _, s := range l.Fleet.Stacks {
				ls := l.Stacks[s.Name]
				where := (&fleet.Engine{Name: fleet.DefaultEngine}).Describe()
				if e := l.Engines[s.Engine]; e != nil {
					where = e.Describe()
				}
				stacks = append(stacks, fleetPlanStack{Name: s.Name, Project: ls.St.Project.Name, Engine: s.Engine, Where: where, Class: string(s.Class),
					Template: s.Template, Files: ls.St.Files, Services: ls.St.Names, StartOrder: ls.G.Levels()})
			}
			var edges []fleetPlanEdge
			for _, d := range l.Deps {
				edges = append(edges, fleetPlanEdge{From: d.From.String(), To: d.To.String(), Condition: string(d.Condition), Required: d.Required})
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Fleet  string           `json:"fleet"`
					Stacks []fleetPlanStack `json:"stacks"`
					Edges  []fleetPlanEdge  `json:"cross_stack_edges"`
				}{l.Name, stacks, edges})
			}
			fmt.Fprintf(a.stdout, "fleet %s: %d stacks\n\n", l.Name, len(stacks))
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "STACK\tCLASS\tPROJECT\tENGINE\tSERVICES")
			for _, s := range stacks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", s.Name, s.Class, s.Project, s.Where, len(s.Services))
			}
			_ = tw.Flush()
			fmt.Fprintln(a.stdout, "\ndependencies across stacks:")
			if len(edges) == 0 {
				fmt.Fprintln(a.stdout, "  (none)")
			}
			for _, e := range edges {
				req := ""
				if !e.Required {
					req = " (not required)"
				}
				fmt.Fprintf(a.stdout, "  %s waits for %s: %s%s\n", e.From, e.To, e.Condition, req)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *app) fleetLogsCmd(ff *fleetFlags) *cobra.Command {
	var tail string
	c := &cobra.Command{
		Use:   "logs STACK [SERVICE...]",
		Short: "Show the logs of a stack's services, from its engine",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			_, l, err := a.openFleet(c.Context(), ff)
			if err != nil {
				return err
			}
			if l.Stacks[args[0]] == nil {
				return usageError{fmt.Errorf("no stack %q in fleet %s; stacks: %s", args[0], l.Name, strings.Join(sortedKeys(l.Stacks), ", "))}
			}
			want := map[string]bool{}
			for _, s := range args[1:] {
				want[s] = true
			}
			errs := a.forEachStack(c.Context(), l, a.g.callTimeout, args[:1], func(ctx context.Context, ls *fleet.LoadedStack, eng *engine.Engine) error {
				cs, err := eng.ListContainers(ctx, ls.St.Project.Name)
				if err != nil {
					return err
				}
				sort.Slice(cs, func(i, j int) bool { return cs[i].Service < cs[j].Service })
				for _, ct := range cs {
					if len(want) > 0 && !want[ct.Service] {
						continue
					}
					if err := eng.StreamLogs(ctx, ct.ID, tail, false, false, a.stdout, ls.Name+"."+ct.Service+" | "); err != nil {
						return err
					}
				}
				return nil
			})
			return stackErrors("logs", errs)
		},
	}
	c.Flags().StringVar(&tail, "tail", "all", "lines from the end of each log")
	return c
}

// fleetRecordsTarget is where `fleet history` and `fleet report` read.
func (a *app) fleetRecordsTarget(ff *fleetFlags) recordsTargetFunc {
	return func(context.Context) (string, string, error) {
		t, err := a.parseFleet(ff)
		if err != nil {
			return "", "", err
		}
		return t.stateDir, fleetRecordsProject(t.f.Name), nil
	}
}

func (a *app) fleetHistoryCmd(ff *fleetFlags) *cobra.Command {
	c := a.historyCmd(a.fleetRecordsTarget(ff))
	c.Short = "Fleet deploys over time, with percentiles and the trend"
	return c
}

func (a *app) fleetReportCmd(ff *fleetFlags) *cobra.Command {
	c := a.reportCmd(a.fleetRecordsTarget(ff), "dive fleet history")
	c.Short = "Print a fleet deploy's report: every stack's services on one timeline (Markdown, JSON or HTML)"
	return c
}

// openFleet reads and loads the fleet the flags name (every fleet command
// starts so), with the flags' per-call engine deadline.
func (a *app) openFleet(ctx context.Context, ff *fleetFlags) (*fleetTarget, *fleet.Loaded, error) {
	a.g.callTimeout = ff.callTimeout
	t, err := a.parseFleet(ff)
	if err != nil {
		return nil, nil, err
	}
	l, err := a.loadFleet(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	return t, l, nil
}
