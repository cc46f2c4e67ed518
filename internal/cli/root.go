// Package cli wires dive's cobra commands to the stack loader, the
// scheduler, the engine and the outputs. It stays thin.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/fleet"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/report"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/standin"
	"github.com/dive-hub/dive/stacks/demo"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Version is set at build time with -ldflags "-X github.com/dive-hub/dive/internal/cli.Version=...".
var Version = "dev"

// Exit codes.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitConfig      = 2
	ExitInterrupted = 130
)

// ExitError carries an exit code up to main.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks a usage problem (exit 2).
type usageError struct{ error }

// Main runs dive and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "standin" {
		return standin.Main(args[1:])
	}
	ctx, stop := signalContext()
	defer stop()
	defer fleet.CloseTunnels()
	fleet.SetNotice(func(s string) { fmt.Fprintf(stderr, "dive: warning: %s\n", s) })
	defer fleet.SetNotice(nil)
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	var ee *ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return code
	}
	fmt.Fprintf(stderr, "dive: %v\n", err)
	return code
}

func exitCode(err error) int {
	var ee *ExitError
	var ue usageError
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case stack.IsConfigError(err), errors.As(err, &ue):
		return ExitConfig
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitFailed
}

// signalContext is cancelled on the first SIGINT/SIGTERM; a second one exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range ch {
			n++
			if n == 1 {
				fmt.Fprintln(os.Stderr, "\ndive: interrupted: stopping (Ctrl-C again to exit at once)")
				cancel()
				continue
			}
			fleet.CloseTunnels()
			os.Exit(ExitInterrupted)
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// globalFlags are shared by the hub subcommands.
type globalFlags struct {
	files       []string
	project     string
	envFiles    []string
	profiles    []string
	demo        bool
	stateDir    string
	logFormat   string
	callTimeout time.Duration
}

type app struct {
	stdout, stderr io.Writer
	g              globalFlags
	env            envConfig // resolved once, at start
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr, env: processEnv()}
	root := &cobra.Command{
		Use:           "dive",
		Short:         "dive deploys docker-compose stacks (the DIVE V3 hub) straight through the Docker Engine API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\n  see '%s --help'", err, c.CommandPath())}
	})
	hub := &cobra.Command{Use: "hub", Short: "Deploy and operate the hub stack", PersistentPreRunE: a.checkGlobalFlags}
	pf := hub.PersistentFlags()
	pf.StringArrayVarP(&a.g.files, "file", "f", nil, "compose file (repeatable; default docker-compose.hub.yml in the current folder)")
	pf.StringVarP(&a.g.project, "project-name", "p", "", "project name (default: the compose file's name:, e.g. dive-hub)")
	pf.StringArrayVar(&a.g.envFiles, "env-file", nil, "env file (default .env.hub beside the compose file, when it exists)")
	pf.StringArrayVar(&a.g.profiles, "profile", nil, "enable a profile (repeatable)")
	pf.BoolVar(&a.g.demo, "demo", false, "use the embedded demo hub instead of a compose file")
	pf.StringVar(&a.g.stateDir, "state-dir", "", "where deploy records live (default $DIVE_STATE_DIR, else .dive/ beside the compose file; a per-user folder for --demo)")
	pf.StringVar(&a.g.logFormat, "log-format", "text", "stdout format: text or json (JSON lines)")
	pf.DurationVar(&a.g.callTimeout, "api-timeout", 30*time.Second, "deadline of each single Engine API call")
	hub.AddCommand(a.deployCmd(), a.rollbackCmd(), a.downCmd(), a.statusCmd(), a.planCmd(), a.logsCmd())
	hub.AddCommand(a.extraHubCommands()...)
	root.AddCommand(hub, a.fleetCmd(), a.nukeCmd(), a.versionCmd())
	root.AddCommand(&cobra.Command{Use: "standin", Hidden: true, DisableFlagParsing: true, RunE: func(c *cobra.Command, args []string) error {
		if code := standin.Main(args); code != 0 {
			return &ExitError{Code: code}
		}
		return nil
	}})
	return root
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{Use: "version", Short: "Print dive's version", Args: cobra.NoArgs, RunE: func(c *cobra.Command, _ []string) error {
		fmt.Fprintf(a.stdout, "dive %s\n", Version)
		return nil
	}}
}

// loaded is a stack with its graph and where its records go.
type loaded struct {
	st       *stack.Stack
	g        *graph.Graph
	stateDir string
	// hist caches the project's earlier deploys, read once per process
	// (a deploy needs them before it starts and for its reports).
	hist     []report.HistoryEntry
	histErr  error
	histRead bool
}

// history is the project's deploy history, read from disk once.
func (l *loaded) history() ([]report.HistoryEntry, error) {
	if !l.histRead {
		l.hist, l.histErr = report.LoadHistory(l.stateDir, l.st.Project.Name)
		l.histRead = true
	}
	return l.hist, l.histErr
}

// demoDir is where --demo materializes the embedded files.
func (a *app) demoDir() (string, error) {
	base := a.env.StateHome
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "dive"), nil
}

// load reads the stack the flags name. services restricts it.
func (a *app) load(ctx context.Context, services []string, standinImage string) (*loaded, error) {
	o := stack.Options{ProjectName: a.g.project, Profiles: a.g.profiles, Services: services, Env: map[string]string{}, Environ: a.env.Environ}
	if cache, err := os.UserCacheDir(); err == nil {
		o.SchemaCache = filepath.Join(cache, "dive", "schema-ok")
	}
	stateDir := a.g.stateDir
	if stateDir == "" {
		stateDir = a.env.StateDir
	}
	if a.g.demo {
		if len(a.g.files) > 0 {
			return nil, usageError{errors.New("--demo and -f/--file exclude each other")}
		}
		dir, err := a.demoDir()
		if err != nil {
			return nil, err
		}
		compose, env, err := demo.Materialize(filepath.Join(dir, "demo"))
		if err != nil {
			return nil, fmt.Errorf("write the demo hub files: %w", err)
		}
		o.Files = []string{compose}
		o.EnvFiles = []string{env}
		if len(a.g.envFiles) > 0 {
			o.EnvFiles = a.g.envFiles
		}
		if standinImage == "" {
			standinImage = "dive-standin:not-built"
		}
		o.Env["DIVE_STANDIN_IMAGE"] = standinImage
		if stateDir == "" {
			stateDir = dir
		}
	} else {
		o.Files = a.g.files
		if len(o.Files) == 0 {
			o.Files = []string{"docker-compose.hub.yml"}
		}
		o.EnvFiles = a.g.envFiles
		if len(o.EnvFiles) == 0 {
			def := filepath.Join(filepath.Dir(o.Files[0]), ".env.hub")
			if _, err := os.Stat(def); err == nil {
				o.EnvFiles = []string{def}
			}
		}
		if standinImage != "" {
			o.Env["DIVE_STANDIN_IMAGE"] = standinImage
		}
		if stateDir == "" {
			abs, _ := filepath.Abs(o.Files[0])
			stateDir = filepath.Join(filepath.Dir(abs), ".dive")
		}
	}
	st, err := stack.Load(ctx, o)
	if err != nil {
		return nil, err
	}
	g, err := st.Graph()
	if err != nil {
		return nil, err
	}
	return &loaded{st: st, g: g, stateDir: stateDir}, nil
}

// connect opens the engine with the call timeout from the flags.
func (a *app) connect(ctx context.Context, onRetry func(op string, attempt int, err error, wait time.Duration)) (*engine.Engine, error) {
	// ctx is the command's: Ctrl-C ends it, which bounds every engine call
	// still to come (engine.Options.Interrupt).
	// The engine is the docker CLI's: DOCKER_HOST (ssh:// included), else
	// DOCKER_CONTEXT or the current docker context.
	opts, where, err := fleet.EnvironmentClient(a.env.Docker)
	if err != nil {
		return nil, usageError{fmt.Errorf("the docker context of this environment: %w", err)}
	}
	return fleet.NewEngine(ctx, opts, where, engine.Options{CallTimeout: a.g.callTimeout, OnRetry: onRetry, Interrupt: ctx})
}

// ensureStandin builds the demo's stand-in image when the stack needs it.
func (a *app) ensureStandin(ctx context.Context, eng *engine.Engine) (string, bool, error) {
	bin, err := standin.LinuxBinary(eng.Arch(), a.env.StandinBinary)
	if err != nil {
		return "", false, err
	}
	return standin.EnsureImage(ctx, eng, bin)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
