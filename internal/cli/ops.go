package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/redact"
	"github.com/spf13/cobra"
)

func (a *app) downCmd() *cobra.Command {
	var volumes bool
	var waitLock time.Duration
	c := &cobra.Command{
		Use:   "down",
		Short: "Stop and remove the project's containers and networks (in reverse dependency order)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := nonNegativeDuration("wait-lock", waitLock, "refuse at once when the project is locked", "5m"); err != nil {
				return err
			}
			return a.runDown(c.Context(), volumes, waitLock)
		},
	}
	c.Flags().BoolVarP(&volumes, "volumes", "v", false, "also remove the project's named volumes")
	c.Flags().DurationVar(&waitLock, "wait-lock", 0, "wait this long for a running deploy of the project instead of refusing")
	return c
}

// projectName resolves the project without requiring a loadable stack: down,
// status and logs must work even when the compose file no longer loads.
func (a *app) projectAndStack(ctx context.Context) (string, *loaded, error) {
	l, err := a.load(ctx, nil, "")
	if err == nil {
		return l.st.Project.Name, l, nil
	}
	if a.g.project != "" {
		return a.g.project, nil, nil
	}
	return "", nil, err
}

func (a *app) runDown(ctx context.Context, volumes bool, waitLock time.Duration) error {
	project, l, err := a.projectAndStack(ctx)
	if err != nil {
		return err
	}
	eng, err := a.connect(ctx, nil)
	if err != nil {
		return err
	}
	defer eng.Close()
	if l != nil {
		release, err := a.acquireLock(ctx, eng, l, "down", waitLock, 5*time.Minute)
		if err != nil {
			return err
		}
		defer release()
	}
	return downProject(ctx, eng, project, l, volumes, a.stdout)
}

// downProject stops and removes a project's containers (in reverse
// dependency order when its stack is known) and networks, and with volumes
// its named volumes. It reports to w.
func downProject(ctx context.Context, eng *engine.Engine, project string, l *loaded, volumes bool, w io.Writer) error {
	t0 := time.Now()
	cs, err := eng.ListContainers(ctx, project)
	if err != nil {
		return err
	}
	var g *graph.Graph
	grace := map[string]time.Duration{}
	preStop := map[string][]types.ServiceHook{}
	if l != nil {
		g = l.g
		for _, n := range l.st.Names {
			if sg := l.st.Services[n].Config.StopGracePeriod; sg != nil {
				grace[n] = time.Duration(*sg)
			}
			preStop[n] = l.st.Services[n].Config.PreStop
		}
	}
	var errs []string
	if err := stopInReverseOrder(ctx, eng, cs, g, grace, preStop, volumes, w); err != nil {
		if ctx.Err() != nil {
			return err
		}
		// Still remove what can be: the networks of the containers that did go.
		errs = append(errs, err.Error())
	}
	nets, err := eng.ListNetworks(ctx, engine.LabelProject+"="+project)
	if err != nil {
		return err
	}
	for _, n := range nets {
		if err := eng.RemoveNetwork(ctx, n.ID); err != nil {
			errs = append(errs, fmt.Sprintf("network %s: %v", n.Name, err))
			continue
		}
		fmt.Fprintf(w, "removed network %s\n", n.Name)
	}
	nerrs, err := removeCreatedNetworks(ctx, eng, project, l, volumes, w, nil)
	if err != nil {
		return err
	}
	errs = append(errs, nerrs...)
	if volumes {
		vols, err := eng.ListVolumes(ctx, engine.LabelProject+"="+project)
		if err != nil {
			return err
		}
		for _, v := range vols {
			if err := eng.RemoveVolume(ctx, v.Name); err != nil {
				errs = append(errs, fmt.Sprintf("volume %s: %v", v.Name, err))
				continue
			}
			fmt.Fprintf(w, "removed volume %s\n", v.Name)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("down left some things behind:\n  %s", strings.Join(errs, "\n  "))
	}
	fmt.Fprintf(w, "project %s is down (%d containers, %.2fs)\n", project, len(cs), time.Since(t0).Seconds())
	return nil
}

// removeCreatedNetworks handles the external networks dive created because
// they were missing (createdNetworks). Such a network is not the project's
// (compose never removes an external one): only down -v removes it, and
// only once no container uses it; otherwise it says it kept it. once, when
// set, skips networks already handled by another stack of the same down.
func removeCreatedNetworks(ctx context.Context, eng *engine.Engine, project string, l *loaded, volumes bool, w io.Writer, once *sync.Map) (errs []string, err error) {
	created, err := createdNetworks(ctx, eng, project, l)
	if err != nil {
		return nil, err
	}
	for _, n := range created {
		if !volumes {
			fmt.Fprintf(w, "kept network %s: external to the project (dive created it when it was missing); dive hub down -v removes it\n", n.Name)
			continue
		}
		if users, err := eng.NetworkUsers(ctx, n.ID); err == nil && len(users) > 0 {
			fmt.Fprintf(w, "kept network %s: containers of other projects still use it (%s); it is external to %s\n", n.Name, strings.Join(users, ", "), project)
			continue
		}
		if once != nil {
			if _, done := once.LoadOrStore(n.ID, true); done {
				continue
			}
		}
		if err := eng.RemoveNetwork(ctx, n.ID); err != nil {
			errs = append(errs, fmt.Sprintf("network %s: %v", n.Name, err))
			continue
		}
		fmt.Fprintf(w, "removed network %s\n", n.Name)
	}
	return errs, nil
}

// createdNetworks are the external networks dive created (when they were
// missing) for project, and, of the external networks project's file uses,
// those dive created for another project: the last project to leave such a
// shared network removes it with down -v, whichever created it.
func createdNetworks(ctx context.Context, eng *engine.Engine, project string, l *loaded) ([]engine.NetworkInfo, error) {
	all, err := eng.ListNetworks(ctx, engine.LabelCreatedFor)
	if err != nil {
		return nil, err
	}
	uses := map[string]bool{}
	if l != nil {
		for _, n := range l.st.Project.Networks {
			if bool(n.External) {
				uses[n.Name] = true
			}
		}
	}
	var out []engine.NetworkInfo
	for _, n := range all {
		if n.Labels[engine.LabelCreatedFor] == project || (uses[n.Name] && n.Labels[engine.LabelManaged] == "true") {
			out = append(out, n)
		}
	}
	return out, nil
}

// stopInReverseOrder stops each service's containers (every replica) once
// every service that depends on it has stopped, all in parallel otherwise,
// running the service's pre_stop hooks first and honouring
// stop_grace_period, then removes them (with their anonymous volumes when
// volumes is set, as docker compose down -v does).
func stopInReverseOrder(ctx context.Context, eng *engine.Engine, cs []engine.Container, g *graph.Graph, grace map[string]time.Duration, preStop map[string][]types.ServiceHook, volumes bool, w io.Writer) error {
	byService := map[string][]engine.Container{}
	for _, c := range cs {
		byService[c.Service] = append(byService[c.Service], c)
	}
	stopped := map[string]chan struct{}{}
	for s := range byService {
		stopped[s] = make(chan struct{})
	}
	dependents := stopDependents(byService, g)
	var wg sync.WaitGroup
	// Removes are engine work (network teardown, layers): a few at a time,
	// so that 200 of them do not each wait out their deadline in the
	// engine's queue. Stops are not gated: they mostly wait for the
	// service's own graceful exit.
	sp := &stopper{ctx: ctx, eng: eng, preStop: preStop, volumes: volumes, w: w, removeGate: make(chan struct{}, max(4, 2*runtime.NumCPU()))}
	for svc, list := range byService {
		var swg sync.WaitGroup
		for _, d := range dependents[svc] {
			if ch, ok := stopped[d]; ok && d != svc {
				swg.Add(1)
				go func() {
					defer swg.Done()
					select {
					case <-ch:
					case <-ctx.Done():
					}
				}()
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(stopped[svc])
			swg.Wait()
			if ctx.Err() != nil {
				return
			}
			gp, ok := grace[svc]
			if !ok {
				gp = 10 * time.Second
			}
			var cwg sync.WaitGroup
			for _, c := range list {
				cwg.Add(1)
				go func() {
					defer cwg.Done()
					sp.stopAndRemove(svc, c, gp)
				}()
			}
			cwg.Wait()
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(sp.errs) > 0 {
		sort.Strings(sp.errs)
		return errors.New(strings.Join(sp.errs, "; "))
	}
	return nil
}

// stopDependents maps each service to those that depend on it: from the
// graph when there is one, else from the depends_on label.
func stopDependents(byService map[string][]engine.Container, g *graph.Graph) map[string][]string {
	dependents := map[string][]string{}
	for s, list := range byService {
		var deps []string
		if g != nil {
			for _, e := range g.Deps(s) {
				deps = append(deps, e.To)
			}
		} else if lbl := list[0].Labels[engine.LabelDependsOn]; lbl != "" {
			for _, part := range strings.Split(lbl, ",") {
				deps = append(deps, strings.SplitN(part, ":", 2)[0])
			}
		}
		for _, d := range deps {
			dependents[d] = append(dependents[d], s)
		}
	}
	return dependents
}

// stopper stops and removes containers, collecting the errors.
type stopper struct {
	ctx        context.Context
	eng        *engine.Engine
	preStop    map[string][]types.ServiceHook
	volumes    bool // remove anonymous volumes with the containers (down -v)
	w          io.Writer
	removeGate chan struct{}
	mu         sync.Mutex
	errs       []string
}

func (sp *stopper) report(format string, args ...any) {
	sp.mu.Lock()
	sp.errs = append(sp.errs, fmt.Sprintf(format, args...))
	sp.mu.Unlock()
}

// stopAndRemove runs the pre_stop hooks of container c of service svc and
// stops it (within grace period gp) when it runs, then removes it.
func (sp *stopper) stopAndRemove(svc string, c engine.Container, gp time.Duration) {
	ctx, eng := sp.ctx, sp.eng
	if c.State == "running" || c.State == "restarting" {
		if err := eng.RunHooks(ctx, c.ID, "pre_stop", svc, false, sp.preStop[svc]); err != nil {
			sp.report("pre_stop %s: %v", c.Name, err)
		}
		if err := eng.Stop(ctx, c.ID, gp); err != nil {
			sp.report("stop %s: %v", c.Name, err)
		}
	}
	select {
	case sp.removeGate <- struct{}{}:
	case <-ctx.Done():
		return
	}
	err := eng.Remove(ctx, c.ID, sp.volumes)
	<-sp.removeGate
	if err != nil {
		sp.report("remove %s: %v", c.Name, err)
		return
	}
	sp.mu.Lock()
	fmt.Fprintf(sp.w, "removed %s\n", c.Name)
	sp.mu.Unlock()
}

// statusRow is one line of `hub status`.
type statusRow struct {
	Service   string   `json:"service"`
	Class     string   `json:"class"`
	Container string   `json:"container,omitempty"`
	ID        string   `json:"id,omitempty"`
	State     string   `json:"state"`
	Health    string   `json:"health,omitempty"`
	Status    string   `json:"status,omitempty"`
	Image     string   `json:"image,omitempty"`
	Ports     []string `json:"ports,omitempty"`
	Networks  []string `json:"networks,omitempty"`
	// Kept: a previous container kept by a deploy (docs/rollback.md): left
	// behind by an interrupted one, or kept by one in progress.
	Kept bool `json:"kept,omitempty"`
}

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show each service's container, state and health",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			project, l, eng, cs, err := a.projectContainers(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			rows := statusRows(l, cs)
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Project  string      `json:"project"`
					Services []statusRow `json:"services"`
				}{project, rows})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVICE\tCLASS\tCONTAINER\tSTATE\tHEALTH\tSTATUS\tPORTS")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Service, r.Class, dash(r.Container), r.State, dash(r.Health), dash(r.Status), dash(strings.Join(r.Ports, ",")))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func statusRows(l *loaded, cs []engine.Container) []statusRow {
	seen := map[string]bool{}
	var rows []statusRow
	for _, c := range cs {
		r := statusRow{Service: c.Service, Class: c.Class, Container: c.Name, ID: short(c.ID), State: c.State, Health: c.Health, Status: c.Status, Image: c.Image, Networks: c.Networks}
		if l != nil {
			if s := l.st.Services[c.Service]; s != nil {
				r.Class = string(s.Class)
			}
		}
		for _, p := range c.Ports {
			if p.PublicPort != 0 {
				r.Ports = append(r.Ports, fmt.Sprintf("%s:%d->%d/%s", p.IP, p.PublicPort, p.PrivatePort, p.Type))
			}
		}
		sort.Strings(r.Ports)
		if engine.IsPrev(c) {
			r.Kept, r.State = true, r.State+" (kept previous)"
		} else {
			seen[c.Service] = true
		}
		rows = append(rows, r)
	}
	if l != nil {
		for _, n := range l.st.Names {
			if !seen[n] {
				rows = append(rows, statusRow{Service: n, Class: string(l.st.Services[n].Class), State: "not created"})
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Service < rows[j].Service })
	return rows
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (a *app) logsCmd() *cobra.Command {
	var follow, timestamps bool
	var tail string
	c := &cobra.Command{
		Use:   "logs [SERVICE...]",
		Short: "Show the services' logs",
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			project, l, eng, cs, err := a.projectContainers(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			want := map[string]bool{}
			for _, s := range args {
				want[s] = true
			}
			var sel []engine.Container
			width := 0
			for _, c := range cs {
				if (len(want) == 0 || want[c.Service]) && !engine.IsPrev(c) {
					sel = append(sel, c)
					width = max(width, len(c.Service))
				}
			}
			for s := range want {
				found := false
				for _, c := range sel {
					found = found || c.Service == s
				}
				if !found {
					return usageError{fmt.Errorf("no container for service %q in project %s (see 'dive hub status')", s, project)}
				}
			}
			// Secrets masked as in a deploy's diagnosis, line by line.
			masked := logsRedactor(ctx, eng, l, sel).Writer(a.stdout)
			defer masked.(*redact.LineWriter).Flush()
			w := &lockedWriter{w: masked}
			var wg sync.WaitGroup
			errs := make(chan error, len(sel))
			for _, c := range sel {
				prefix := fmt.Sprintf("%-*s | ", width, c.Service)
				if len(sel) == 1 {
					prefix = ""
				}
				if !follow {
					if err := eng.StreamLogs(ctx, c.ID, tail, false, timestamps, w, prefix); err != nil {
						return err
					}
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- eng.StreamLogs(ctx, c.ID, tail, true, timestamps, w, prefix)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil && ctx.Err() == nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&follow, "follow", false, "follow the logs (-f is --file here, as for every hub command)")
	c.Flags().StringVar(&tail, "tail", "all", "lines from the end of each log")
	c.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	return c
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// projectContainers resolves the project, connects and lists its
// containers; the caller closes the engine.
func (a *app) projectContainers(ctx context.Context) (string, *loaded, *engine.Engine, []engine.Container, error) {
	project, l, err := a.projectAndStack(ctx)
	if err != nil {
		return "", nil, nil, nil, err
	}
	eng, err := a.connect(ctx, nil)
	if err != nil {
		return "", nil, nil, nil, err
	}
	cs, err := eng.ListContainers(ctx, project)
	if err != nil {
		eng.Close()
		return "", nil, nil, nil, err
	}
	return project, l, eng, cs, nil
}
