package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/dive-hub/dive/internal/deploy"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/fleet"
	"github.com/dive-hub/dive/internal/standin"
	"github.com/dive-hub/dive/stacks/demo"
	"github.com/spf13/cobra"
)

// fleetFlags are shared by the fleet subcommands.
type fleetFlags struct {
	file        string
	demo        bool
	engines     []string // NAME=URL overrides
	sshKeys     []string // NAME=FILE
	knownHosts  []string // NAME=FILE
	stateDir    string
	logFormat   string
	callTimeout time.Duration
}

// fleetCmd is `dive fleet`: several stacks on several engines, one file.
func (a *app) fleetCmd() *cobra.Command {
	f := &fleetFlags{}
	c := &cobra.Command{Use: "fleet", Short: "Deploy and operate a fleet: several stacks, each on its own Docker engine (docs/fleet.md)"}
	pf := c.PersistentFlags()
	pf.StringVarP(&f.file, "file", "f", "", "fleet file (default dive-fleet.yml in the current folder)")
	pf.BoolVar(&f.demo, "demo", false, "use the embedded demo fleet: the demo hub plus three spokes")
	pf.StringArrayVar(&f.engines, "engine", nil, "NAME=URL: where the fleet file's engine NAME is (unix://, tcp://, ssh://USER@HOST[:PORT], context:NAME); repeatable")
	pf.StringArrayVar(&f.sshKeys, "ssh-key", nil, "NAME=FILE: the ssh identity for engine NAME (an ssh:// engine); repeatable")
	pf.StringArrayVar(&f.knownHosts, "ssh-known-hosts", nil, "NAME=FILE: the known_hosts file for engine NAME (an ssh:// engine); repeatable")
	pf.StringVar(&f.stateDir, "state-dir", "", "where fleet records live (default $DIVE_STATE_DIR, else .dive/ beside the fleet file)")
	pf.StringVar(&f.logFormat, "log-format", "text", "stdout format: text or json (JSON lines)")
	pf.DurationVar(&f.callTimeout, "api-timeout", 30*time.Second, "deadline of each single Engine API call")
	c.AddCommand(a.fleetDeployCmd(f), a.fleetDownCmd(f), a.fleetStatusCmd(f), a.fleetPlanCmd(f), a.fleetLogsCmd(f),
		a.fleetHistoryCmd(f), a.fleetReportCmd(f))
	return c
}

// fleetTarget is a parsed fleet file and where its records go.
type fleetTarget struct {
	f        *fleet.Fleet
	stateDir string
	standin  string // the stand-in image reference (demo), or ""
	binary   string
}

// parseFleet reads the fleet file the flags name and applies --engine.
func (a *app) parseFleet(f *fleetFlags) (*fleetTarget, error) {
	t := &fleetTarget{stateDir: f.stateDir}
	if t.stateDir == "" {
		t.stateDir = a.env.StateDir
	}
	path := f.file
	if f.demo {
		if path != "" {
			return nil, usageError{errors.New("--demo and -f/--file exclude each other")}
		}
		dir, err := a.demoDir()
		if err != nil {
			return nil, err
		}
		if path, err = demo.MaterializeFleet(filepath.Join(dir, "demo-fleet")); err != nil {
			return nil, fmt.Errorf("write the demo fleet files: %w", err)
		}
		if t.stateDir == "" {
			t.stateDir = dir
		}
	}
	if path == "" {
		path = "dive-fleet.yml"
	}
	fl, err := fleet.ParseFile(path)
	if err != nil {
		return nil, err
	}
	if t.stateDir == "" {
		t.stateDir = filepath.Join(fl.Dir, ".dive")
	}
	if err := applyEngineFlags(fl, f.engines); err != nil {
		return nil, err
	}
	if err := applyFileFlags(fl, "--ssh-key", f.sshKeys, func(e *fleet.Engine, p string) { e.SSHKey = p }); err != nil {
		return nil, err
	}
	if err := applyFileFlags(fl, "--ssh-known-hosts", f.knownHosts, func(e *fleet.Engine, p string) { e.SSHKnownHosts = p }); err != nil {
		return nil, err
	}
	t.f = fl
	return t, nil
}

func applyEngineFlags(fl *fleet.Fleet, flags []string) error {
	for _, kv := range flags {
		name, url, ok := strings.Cut(kv, "=")
		e := fl.Engines[name]
		if !ok || e == nil {
			return usageError{fmt.Errorf("--engine %q: write NAME=URL with NAME one of the fleet's engines (%s)", kv, strings.Join(engineNames(fl), ", "))}
		}
		e.Host, e.Context, e.TLSDir = url, "", ""
		if ctxName, isCtx := strings.CutPrefix(url, "context:"); isCtx {
			e.Host, e.Context = "", ctxName
		} else if !strings.Contains(url, "://") {
			return usageError{fmt.Errorf("--engine %s: %q is not a unix://, tcp:// or ssh:// URL, nor context:NAME", name, url)}
		}
	}
	return nil
}

func applyFileFlags(fl *fleet.Fleet, flag string, flags []string, set func(*fleet.Engine, string)) error {
	for _, kv := range flags {
		name, path, ok := strings.Cut(kv, "=")
		e := fl.Engines[name]
		if !ok || e == nil || path == "" {
			return usageError{fmt.Errorf("%s %q: write NAME=FILE with NAME one of the fleet's engines (%s)", flag, kv, strings.Join(engineNames(fl), ", "))}
		}
		if !strings.HasPrefix(e.Host, "ssh://") {
			return usageError{fmt.Errorf("%s %s: engine %s is not an ssh:// engine", flag, kv, name)}
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return usageError{err}
		}
		set(e, abs)
	}
	return nil
}

func engineNames(fl *fleet.Fleet) []string {
	return sortedKeys(fl.Engines)
}

// loadFleet loads every stack. For the demo it names the stand-in image,
// which each engine builds for itself before its stacks deploy.
func (a *app) loadFleet(ctx context.Context, t *fleetTarget) (*fleet.Loaded, error) {
	o := fleet.LoadOptions{Env: map[string]string{}, Environ: a.env.Environ}
	if cache, err := os.UserCacheDir(); err == nil {
		o.SchemaCache = filepath.Join(cache, "dive", "schema-ok")
	}
	if ref := a.env.StandinImage; ref != "" {
		o.Env["DIVE_STANDIN_IMAGE"] = ref
		t.standin = ref
	} else if ref, bin, err := standinRef(a.env.StandinBinary); err == nil {
		o.Env["DIVE_STANDIN_IMAGE"] = ref
		t.standin, t.binary = ref, bin
	} else {
		o.Env["DIVE_STANDIN_IMAGE"] = "dive-standin:not-built"
	}
	return fleet.Load(ctx, t.f, o)
}

// standinRef names the stand-in image built from this machine's linux
// build of dive (every engine of a fleet run from here builds the same).
func standinRef(override string) (string, string, error) {
	bin, err := standin.LinuxBinary(runtime.GOARCH, override)
	if err != nil {
		return "", "", err
	}
	fh, err := os.Open(bin)
	if err != nil {
		return "", "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", "", err
	}
	return standin.ImageRepository + ":" + hex.EncodeToString(h.Sum(nil))[:standin.TagLength], bin, nil
}

// prepareEngine builds the stand-in image on an engine when a stack there uses it.
func (t *fleetTarget) prepareEngine(l *fleet.Loaded) func(ctx context.Context, e *fleet.Engine, eng *engine.Engine) error {
	return func(ctx context.Context, e *fleet.Engine, eng *engine.Engine) error {
		uses := false
		for _, s := range l.Fleet.Stacks {
			uses = uses || needsStandin(l.Stacks[s.Name].St)
		}
		if t.binary == "" || !uses {
			return nil
		}
		ref, _, err := standin.EnsureImage(ctx, eng, t.binary)
		if err != nil {
			return err
		}
		if ref != t.standin {
			return fmt.Errorf("the stand-in image built there is %s, expected %s", ref, t.standin)
		}
		return nil
	}
}

// forEachStack runs fn for every stack at once, each with its engine
// (connected once per engine), and returns the errors by stack.
func (a *app) forEachStack(ctx context.Context, l *fleet.Loaded, callTimeout time.Duration, stacks []string, fn func(ctx context.Context, ls *fleet.LoadedStack, eng *engine.Engine) error) map[string]error {
	type conn struct {
		once sync.Once
		eng  *engine.Engine
		err  error
	}
	conns := map[string]*conn{}
	for _, n := range stacks {
		if conns[l.Stacks[n].Engine] == nil {
			conns[l.Stacks[n].Engine] = &conn{}
		}
	}
	var mu sync.Mutex
	errs := map[string]error{}
	var wg sync.WaitGroup
	for _, n := range stacks {
		ls := l.Stacks[n]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := conns[ls.Engine]
			c.once.Do(func() {
				def := l.Engines[ls.Engine]
				if def == nil {
					def = &fleet.Engine{Name: fleet.DefaultEngine}
				}
				c.eng, c.err = fleet.Connect(ctx, def, fleet.ConnectOptions{CallTimeout: callTimeout, Docker: a.env.Docker})
			})
			err := c.err
			if err == nil {
				err = fn(ctx, ls, c.eng)
			}
			mu.Lock()
			errs[n] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, c := range conns {
		if c.eng != nil {
			c.eng.Close()
		}
	}
	return errs
}

// stackLoaded adapts a fleet stack to the single-stack helpers (lock,
// preflight, down).
func (t *fleetTarget) stackLoaded(ls *fleet.LoadedStack) *loaded {
	return &loaded{st: ls.St, g: ls.G, stateDir: t.stateDir}
}

// fleetRecordsProject is the name under which a fleet's records live in
// the state dir, apart from any stack's.
func fleetRecordsProject(name string) string { return "fleet-" + name }

// fleetPrinter prints the fleet's event stream as lines, each naming the
// stack and engine.
type fleetPrinter struct {
	mu sync.Mutex
	w  io.Writer
	t0 time.Time
}

func (p *fleetPrinter) Handle(e events.Event) {
	st, eng := e.Stack, e.Engine
	if st == "" {
		return
	}
	var what string
	switch at := e.Attrs.(type) {
	case events.ServiceReadyAttrs, events.ServiceReusedAttrs:
		what = "✔ " + string(e.Kind[len("service_"):])
	case events.ServiceFailedAttrs:
		what = fmt.Sprintf("✘ %s: %s", e.Kind[len("service_"):], clip(at.Reason, 160))
	case events.ServiceSkippedAttrs:
		what = fmt.Sprintf("✘ %s: %s", e.Kind[len("service_"):], clip(at.Reason, 160))
	case events.ServiceWaitingAttrs:
		if at.External {
			what = "… waits for " + strings.Join(at.On, ", ")
		}
	case events.DeployFinishedAttrs:
		what = "stack deploy " + at.Outcome
		if at.Error != "" {
			what += ": " + clip(at.Error, 200)
		}
	case events.WarningAttrs:
		if e.Level == events.LevelError {
			what = "✘ " + at.Message
		} else {
			what = "warning: " + clip(at.Message, 300)
		}
	case events.InfoAttrs:
		if strings.HasPrefix(at.Message, deploy.OrphanRemoved) {
			what = at.Message
		}
	case events.RolledBackAttrs:
		what = "↺ rolled back: " + rolledBackDetail(at)
	case events.RollbackFailedAttrs:
		what = "✘ rollback failed: " + clip(rollbackFailedDetail(at), 200)
	}
	if what == "" {
		return
	}
	name := st
	if e.Service != "" {
		name += "." + e.Service
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%6.2fs  %-28s @%-8s %s\n", e.Time.Sub(p.t0).Seconds(), name, eng, what)
}

// fleetRedactor masks each stack's secrets in its events.
func fleetRedactor(ls *fleet.LoadedStack) func(string) string {
	return newRedactor(ls.St).String
}

// stackDeployOptions copies the deploy flags into a stack's options.
func stackDeployOptions(f deployFlags, probes int) func(ls *fleet.LoadedStack, o *deploy.Options) {
	return func(ls *fleet.LoadedStack, o *deploy.Options) {
		o.ForceRecreate, o.Build, o.WaitAll, o.OpConcurrency, o.ProbeConcurrency = f.forceRecreate, f.build, f.waitAll, f.opConcurrency, probes
		o.RemoveOrphans, o.RenewAnonVolumes = f.removeOrphans, f.renewAnon
	}
}
