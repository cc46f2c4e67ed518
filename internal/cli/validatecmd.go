package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/preflight"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/standin"
	"github.com/dive-hub/dive/internal/validate"
	"github.com/spf13/cobra"
)

// checkEngine adapts *engine.Engine to the narrow interfaces of packages
// validate and preflight: it adds the volume lookup the engine does not wrap.
type checkEngine struct {
	*engine.Engine
	timeout time.Duration
}

func (e checkEngine) VolumeExists(ctx context.Context, name string) (bool, error) {
	if e.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
		defer cancel()
	}
	return e.Engine.VolumeExists(ctx, name)
}

var (
	_ validate.Engine  = checkEngine{}
	_ preflight.Engine = checkEngine{}
)

// preflightOptions are the options deploy and `hub preflight` share.
func (a *app) preflightOptions(eng *engine.Engine, l *loaded, minDisk int64) preflight.Options {
	o := preflight.Options{MinFreeDisk: minDisk}
	if needsStandin(l.st) {
		// The demo's stand-in image is built by deploy from dive's own
		// binary: it is fine when such a binary is at hand.
		o.ImageCheck = func(ctx context.Context, ref string, services []string) (validate.Check, bool) {
			if !strings.HasPrefix(ref, standin.ImageRepository+":") {
				return validate.Check{}, false
			}
			bin, err := standin.LinuxBinary(eng.Arch(), a.env.StandinBinary)
			if err != nil {
				// err already says how to get such a binary.
				return validate.Check{Status: validate.Fail,
					Detail: fmt.Sprintf("the stand-in image (used by %d services) cannot be built: %v", len(services), err)}, true
			}
			return validate.Check{Status: validate.Pass,
				Detail: fmt.Sprintf("the stand-in image (used by %d services) is built by deploy from %s", len(services), bin)}, true
		}
	}
	return o
}

// preflightForDeploy runs the preflight checks as deploy's first phase. A
// failure refuses the deploy before anything is created (exit 1).
func (a *app) preflightForDeploy(ctx context.Context, eng *engine.Engine, l *loaded, bus *events.Bus, removeOrphans bool) error {
	minDisk, err := preflight.MinFreeDisk(a.env.MinFreeDisk)
	if err != nil {
		return usageError{err}
	}
	o := a.preflightOptions(eng, l, minDisk)
	o.RemoveOrphans = removeOrphans
	rep := preflight.Run(ctx, l.st, checkEngine{Engine: eng, timeout: a.g.callTimeout}, o)
	emitChecks(bus, events.PhasePreflight, &rep)
	if rep.OK {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "preflight failed (%d of %d checks); the deploy created nothing:", rep.Counts.Fail, len(rep.Checks))
	for _, c := range rep.Problems() {
		if c.Status == validate.Fail {
			fmt.Fprintf(&b, "\n  ✘ %s", c.Line())
		}
	}
	b.WriteString("\n  (dive hub preflight shows every check; --skip-preflight deploys anyway)")
	return errors.New(b.String())
}

// validateAfterDeploy validates the deployed stack without the restart
// window, so it costs one list, parallel inspects (none for the services
// the deploy reused while the list still shows them ready) and connects.
// The report goes into the deploy's records.
func (a *app) validateAfterDeploy(ctx context.Context, eng *engine.Engine, l *loaded, bus *events.Bus, confirmed, reused map[string]bool) any {
	rep := validate.Run(ctx, l.st, checkEngine{Engine: eng, timeout: a.g.callTimeout}, validate.Options{Window: 0, Confirmed: confirmed, Reused: reused})
	emitChecks(bus, events.PhaseValidate, &rep)
	return rep
}

// emitChecks puts every check on the bus (info for a pass, warning for a
// warning or failure) and ends with a summary.
func emitChecks(bus *events.Bus, phase events.Phase, rep *validate.Report) {
	if bus == nil {
		return
	}
	for _, c := range rep.Checks {
		n := events.Note{Check: c.Name, Status: string(c.Status), Detail: c.Detail, Class: string(c.Class), Fix: c.Fix,
			Message: fmt.Sprintf("%s %s: %s", rep.Kind, c.Name, c.Detail)}
		e := events.Event{Phase: phase, Service: c.Service, Level: events.LevelInfo, Attrs: events.InfoAttrs{Note: n}}
		if c.Status != validate.Pass {
			e.Level = events.LevelWarn
			if c.Status == validate.Fail {
				e.Level = events.LevelError
			}
			who := c.Name
			if c.Service != "" {
				who += " " + c.Service
			}
			n.Message = fmt.Sprintf("%s %s %s: %s", rep.Kind, c.Status, who, c.Line())
			e.Attrs = events.WarningAttrs{Note: n}
		}
		bus.Emit(e)
	}
	n := events.Note{Message: rep.Summary(), Verdict: string(rep.Verdict), Checks: len(rep.Checks),
		Passed: rep.Counts.Pass, Warnings: rep.Counts.Warn, Failed: rep.Counts.Fail}
	s := events.Event{Phase: phase, Level: events.LevelInfo, Duration: rep.Duration, Attrs: events.InfoAttrs{Note: n}}
	if rep.Verdict == validate.Fail {
		s.Level, s.Attrs = events.LevelError, events.WarningAttrs{Note: n}
	}
	bus.Emit(s)
}

func (a *app) validateCommands() []*cobra.Command {
	return []*cobra.Command{a.validateCmd(), a.preflightCmd()}
}

func (a *app) writeReport(rep *validate.Report, asJSON bool) error {
	if asJSON {
		return validate.WriteJSON(a.stdout, rep)
	}
	return validate.WriteText(a.stdout, rep)
}

func (a *app) validateCmd() *cobra.Command {
	var asJSON, noProbe bool
	var window time.Duration
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check the deployed stack against its compose file",
		Long: `Validate checks, for every service of the compose file: its container is
there and running, its healthcheck passes, its published ports accept
connections, it is attached to its networks, its named volumes exist and are
mounted, it started after its dependencies, its restart count holds still over
--window, and one-shot jobs exited 0.

A failure of a core service fails the validation (exit 1); the same failure
of an optional or stretch service is a warning (exit 0). See docs/validation.md.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if window < 0 {
				return usageError{errors.New("--window must not be negative")}
			}
			ctx := c.Context()
			l, err := a.load(ctx, nil, "")
			if err != nil {
				return err
			}
			eng, err := a.connect(ctx, nil)
			if err != nil {
				return err
			}
			defer eng.Close()
			rep := validate.Run(ctx, l.st, checkEngine{Engine: eng, timeout: a.g.callTimeout}, validate.Options{Window: window, NoExec: noProbe})
			return a.verdict(ctx, &rep, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.Flags().DurationVar(&window, "window", time.Second, "how long to watch restart counts (0 takes one sample)")
	c.Flags().BoolVar(&noProbe, "no-probe", false, "do not run a healthcheck command when the engine still reports starting")
	return c
}

func (a *app) preflightCmd() *cobra.Command {
	var asJSON, removeOrphans bool
	var minDisk string
	c := &cobra.Command{
		Use:   "preflight",
		Short: "Check, before a deploy, what would make it fail: engine, disk, memory, ports, env, networks, volumes, images",
		Long: `Preflight runs the checks deploy runs first (unless --skip-preflight): the
engine answers with a supported API version; Docker's data root has enough
free disk; memory covers the declared limits; the published host ports are
free (or held by this project's own containers; one of a service no longer
in the file, an orphan, fails unless --remove-orphans); env files exist and no
variable resolved to an empty string; external networks and volumes exist;
images are present or buildable; the compose file loads.

Exit codes: 0 no failure (warnings allowed), 1 a check failed, 2 the compose
file or env does not load (the failed check names the problem).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			threshold, err := preflight.MinFreeDisk(a.env.MinFreeDisk)
			if err != nil {
				return usageError{err}
			}
			if minDisk != "" {
				if threshold, err = preflight.ParseBytes(minDisk); err != nil {
					return usageError{fmt.Errorf("--min-disk: %w", err)}
				}
			}
			l, err := a.load(ctx, nil, "")
			if err != nil {
				if !stack.IsConfigError(err) {
					return err
				}
				rep := preflight.FromLoadError(err)
				if werr := a.writeReport(&rep, asJSON); werr != nil {
					return werr
				}
				return &ExitError{Code: ExitConfig}
			}
			eng, err := a.connect(ctx, nil)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				rep := preflight.Unreachable(err)
				rep.Project = l.st.Project.Name
				if werr := a.writeReport(&rep, asJSON); werr != nil {
					return werr
				}
				return &ExitError{Code: ExitFailed}
			}
			defer eng.Close()
			o := a.preflightOptions(eng, l, threshold)
			o.RemoveOrphans = removeOrphans
			if !c.Flags().Changed("remove-orphans") {
				o.RemoveOrphans = a.env.RemoveOrphans
			}
			rep := preflight.Run(ctx, l.st, checkEngine{Engine: eng, timeout: a.g.callTimeout}, o)
			return a.verdict(ctx, &rep, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.Flags().BoolVar(&removeOrphans, "remove-orphans", false, "check as for deploy --remove-orphans: a host port held by an orphan container is a warning (default $COMPOSE_REMOVE_ORPHANS)")
	c.Flags().StringVar(&minDisk, "min-disk", "", "free disk required on Docker's data root, e.g. 2GiB (default $"+preflight.EnvMinFreeDisk+", else 2GiB)")
	return c
}

// verdict prints a report and turns it into the exit code: 1 when it failed.
func (a *app) verdict(ctx context.Context, rep *validate.Report, asJSON bool) error {
	if err := a.writeReport(rep, asJSON); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !rep.OK {
		return &ExitError{Code: ExitFailed}
	}
	return nil
}
