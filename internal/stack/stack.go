// Package stack loads compose files with compose-go (nothing else in dive
// parses YAML) and adds what dive reads from labels: the service class, the
// start-up budget, probe settings and retries. It validates them and is pure:
// no I/O beyond reading files.
package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// Labels dive reads from the compose file.
const (
	LabelClass         = "dive.service.class"
	LabelTimeout       = "dive.service.timeout"
	LabelRetries       = "dive.service.retries"
	LabelDescription   = "dive.service.description"
	LabelProbeInterval = "dive.health.probe-interval"
	LabelTCP           = "dive.health.tcp"
	LabelMaxRestarts   = "dive.service.max-restarts"
)

// Class says what a service's failure means for the deploy.
type Class string

const (
	// Core: the hub is down without it; its failure fails the deploy.
	Core Class = "core"
	// Optional: reported, never blocks or fails the deploy.
	Optional Class = "optional"
	// Stretch: like optional, for services still being brought up.
	Stretch Class = "stretch"
)

// Defaults for what the compose file leaves out.
const (
	// DefaultBudgetNoHealthcheck is the start-up budget of a service without
	// a healthcheck (ready when running) or of a one-shot job.
	DefaultBudgetNoHealthcheck = 2 * time.Minute
	DefaultRetries             = 2
	DefaultMaxRestarts         = 3
	// Docker's own healthcheck defaults, used to derive budgets.
	dockerDefaultInterval = 30 * time.Second
	dockerDefaultTimeout  = 30 * time.Second
	dockerDefaultRetries  = 3
)

// ConfigError is a problem with the user's configuration: dive exits 2.
type ConfigError struct {
	Msg string // what is wrong, naming the file, service or variable
	Fix string // what to do about it
	Err error
}

func (e *ConfigError) Error() string {
	s := e.Msg
	if e.Fix != "" {
		s += "\n  fix: " + e.Fix
	}
	return s
}

func (e *ConfigError) Unwrap() error { return e.Err }

// IsConfigError reports whether err is (or wraps) a ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

// Options say which files to load and how, like docker compose's flags.
type Options struct {
	Files       []string          // -f; the first file's folder is the project folder
	ProjectName string            // -p; empty means COMPOSE_PROJECT_NAME, then name:, then the folder
	EnvFiles    []string          // --env-file; relative to the process's working folder
	Profiles    []string          // --profile
	Services    []string          // restrict to these services and their dependencies
	Env         map[string]string // extra variables, below Environ in precedence
	// Environ is the process environment ("KEY=value") that interpolates the
	// files, as compose does; the caller (cli) passes the process environment. The
	// package reads no environment variable itself.
	Environ []string
	// SkipSchema skips compose-go's JSON-schema validation (the slowest part
	// of a load); for files whose exact content already passed it.
	SkipSchema bool
	// SchemaCache is a folder remembering which exact file contents passed
	// schema validation, so that loading them again skips it (about 60 ms).
	SchemaCache string
}

// Service is a compose service with what dive adds from its labels.
type Service struct {
	Name   string
	Config types.ServiceConfig
	// Class is what the deploy acts on: core (blocking) or optional/stretch
	// (never blocking), resolved from the declared class.
	Class Class
	// Declared is the class as the file names it (dive.service.class, e.g.
	// init or infrastructure; core when absent); Stack.Classes defines it.
	Declared string
	// Budget is the start-up budget: from start to ready.
	Budget time.Duration
	// BudgetSource says where Budget came from: "label", "healthcheck" or "default".
	BudgetSource string
	// ProbeInterval is the first interval of dive's own exec probe; 0 with
	// ProbeOff false means the default cadence.
	ProbeInterval time.Duration
	ProbeOff      bool
	// TCPPort, when not zero, makes readiness wait for the container port to accept connections.
	TCPPort int
	// Retries is how many times a failed start of a core service is retried by recreating it.
	Retries int
	// MaxRestarts is how many engine restarts are tolerated before the service counts as crash-looping.
	MaxRestarts int
	// OneShot: a job that must exit 0: some other service waits on it with
	// service_completed_successfully, or its class is one-shot (init).
	OneShot bool
	// Description from the dive.service.description label.
	Description string

	retriesFromLabel bool
}

// Blocking reports whether the service's failure fails the deploy (its
// resolved class is core).
func (s *Service) Blocking() bool { return s.Class == Core }

// HasHealthcheck reports whether the compose file gives the container a
// healthcheck that runs. Its image may have one the file does not name (a
// Dockerfile HEALTHCHECK): the deploy reads the image
// (engine.EffectiveHealthcheck); see ImageHealthcheckMatters.
func (s *Service) HasHealthcheck() bool { return HealthcheckRuns(s.Config.HealthCheck) }

// ImageHealthcheckMatters reports whether the container's healthcheck
// depends on its image: the file names no test and does not disable the
// check, so the image's HEALTHCHECK (if any) is the one that runs.
func (s *Service) ImageHealthcheckMatters() bool {
	hc := s.Config.HealthCheck
	return hc == nil || (!hc.Disable && len(hc.Test) == 0)
}

// HealthcheckRuns reports whether a healthcheck runs: it has a test that
// is not NONE and is not disabled.
func HealthcheckRuns(hc *types.HealthCheckConfig) bool {
	if hc == nil || hc.Disable || len(hc.Test) == 0 {
		return false
	}
	return hc.Test[0] != "NONE"
}

// Stack is a loaded, validated compose project.
type Stack struct {
	Project  *types.Project
	Services map[string]*Service
	// Names of the active services, sorted.
	Names []string
	// Disabled are services a profile (or a service selection) excludes.
	Disabled []string
	// Files and WorkDir as resolved.
	Files   []string
	WorkDir string
	// EnvFile are the env files read: those given (--env-file), or the
	// project folder's .env that compose-go reads without them.
	EnvFile []string
	// GivenEnvFiles are the env files given (--env-file), absolute: what
	// compose's com.docker.compose.project.environment_file label lists
	// (none for a default .env).
	GivenEnvFiles []string
	// EnvFileValues holds every value read from env files (for masking secrets).
	EnvFileValues map[string]string
	// Environment is the interpolation environment (OS env included).
	Environment map[string]string
	// ServiceEnvFiles holds, per service with env_file: entries, the values
	// those files set (before the service's environment: overrides them),
	// for masking secrets and for keeping them out of the config record.
	ServiceEnvFiles map[string]map[string]string
	// Warnings about keys dive does not support, and similar.
	Warnings []string
	// Classes are the known service classes: the built-in ones and those
	// the file declares under x-dive.classes.
	Classes map[string]ClassDef
	// ScaledToZero are active services with scale: 0 or deploy.replicas: 0:
	// like docker compose, dive creates no container for them and their
	// dependents do not wait for them.
	ScaledToZero []string
}

// Service returns the named service or nil.
func (s *Stack) Service(name string) *Service { return s.Services[name] }

// Declares says whether the compose file declares a service of that name:
// active, disabled by a profile or left out by a service selection, or
// scaled to zero. A container of any other service is an orphan (docker
// compose counts the same services).
func (s *Stack) Declares(name string) bool {
	if _, ok := s.Services[name]; ok {
		return true
	}
	return slices.Contains(s.Disabled, name) || slices.Contains(s.ScaledToZero, name)
}

// Load reads and validates a stack. Every error it returns about the user's
// input is a *ConfigError.
func Load(ctx context.Context, o Options) (*Stack, error) {
	if len(o.Files) == 0 {
		return nil, &ConfigError{Msg: "no compose file given", Fix: "pass -f docker-compose.hub.yml, or run from the folder holding it"}
	}
	files, err := composeFiles(o.Files)
	if err != nil {
		return nil, err
	}
	workDir, err := projectDir(files)
	if err != nil {
		return nil, err
	}
	envFiles, envFileValues, err := readEnvFiles(o.EnvFiles)
	if err != nil {
		return nil, err
	}

	// compose-go warns on stderr through logrus about unset variables; dive
	// reports configuration problems itself.
	logrus.SetOutput(io.Discard)

	optFns, marker := projectOptions(o, workDir, files, envFiles, envFileValues)
	if len(envFiles) == 0 {
		// compose-go then reads <project>/.env when it exists.
		if err := checkInputFile("env file", filepath.Join(workDir, ".env")); err != nil {
			return nil, err
		}
	}
	popts, err := cli.NewProjectOptions(files, optFns...)
	if err != nil {
		return nil, wrapLoadError(files, err)
	}
	given := slices.Clone(envFiles)
	envFiles = addDotEnvFiles(popts.EnvFiles, envFiles, envFileValues)
	project, err := popts.LoadProject(ctx)
	if err != nil {
		return nil, wrapLoadError(files, err)
	}
	project, serviceEnvFiles, err := resolveServiceFiles(project, files)
	if err != nil {
		return nil, err
	}
	if marker != "" && !fileExistsAt(marker) {
		if os.MkdirAll(filepath.Dir(marker), 0o755) == nil {
			_ = os.WriteFile(marker, nil, 0o644)
		}
	}
	project, err = selectServices(project, o, files)
	if err != nil {
		return nil, err
	}

	st := &Stack{
		Project:       project,
		Services:      map[string]*Service{},
		Files:         files,
		WorkDir:       workDir,
		EnvFile:       envFiles,
		GivenEnvFiles: given,
		EnvFileValues: envFileValues,
		Environment:   map[string]string(popts.Environment),

		ServiceEnvFiles: serviceEnvFiles,
	}
	st.Disabled = project.DisabledServiceNames()
	sort.Strings(st.Disabled)

	if err := st.addServices(); err != nil {
		return nil, err
	}
	return st, nil
}

// composeFiles makes the compose files absolute and checks that they exist;
// "-" (standard input) stays as it is.
func composeFiles(given []string) ([]string, error) {
	files := make([]string, len(given))
	for i, f := range given {
		if f == "-" {
			// the compose file on standard input; compose-go reads it
			files[i] = f
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, &ConfigError{Msg: fmt.Sprintf("compose file %s: %v", f, err), Err: err}
		}
		if err := checkInputFile("compose file", abs); err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, &ConfigError{Msg: fmt.Sprintf("compose file %s not found", abs), Fix: "check the -f path; without -f dive looks for docker-compose.hub.yml in the current folder", Err: err}
		}
		files[i] = abs
	}
	return files, nil
}

// projectDir is the project folder: that of the first compose file.
func projectDir(files []string) (string, error) {
	workDir := filepath.Dir(files[0])
	if files[0] == "-" {
		// like docker compose: a file on stdin has the current folder as project folder
		wd, err := os.Getwd()
		if err != nil {
			return "", &ConfigError{Msg: fmt.Sprintf("compose file on standard input: current folder: %v", err), Err: err}
		}
		workDir = wd
	}
	return workDir, nil
}

// readEnvFiles makes the --env-file files absolute and reads them; values
// holds what they set, later files winning.
func readEnvFiles(given []string) (envFiles []string, values map[string]string, err error) {
	envFiles = make([]string, 0, len(given))
	values = map[string]string{}
	for _, f := range given {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, nil, &ConfigError{Msg: fmt.Sprintf("env file %s: %v", f, err), Err: err}
		}
		if err := checkInputFile("env file", abs); err != nil {
			return nil, nil, err
		}
		// dotenv reports a missing file as a plain "couldn't find env file"
		// error that does not wrap os.ErrNotExist: look first.
		_, err = os.Stat(abs)
		var vals map[string]string
		if err == nil {
			vals, err = dotenv.GetEnvFromFile(map[string]string{}, []string{abs})
		}
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil, &ConfigError{Msg: fmt.Sprintf("env file %s not found", abs), Fix: "create it (copy the example env file of your stack) or pass the right --env-file", Err: err}
			}
			return nil, nil, &ConfigError{Msg: fmt.Sprintf("env file %s: %v", abs, err), Fix: "fix the syntax: KEY=value, one per line", Err: err}
		}
		for k, v := range vals {
			values[k] = v
		}
		envFiles = append(envFiles, abs)
	}
	return envFiles, values, nil
}

// projectOptions are compose-go's options for loading the project, and the
// schema marker: the file whose presence says these files, in this
// environment, already passed schema validation ("" without a cache).
func projectOptions(o Options, workDir string, files, envFiles []string, envFileValues map[string]string) ([]cli.ProjectOptionsFn, string) {
	optFns := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(workDir),
		cli.WithEnv(o.Environ),
	}
	if len(o.Env) > 0 {
		inEnviron := map[string]bool{}
		for _, kv := range o.Environ {
			k, _, _ := strings.Cut(kv, "=")
			inEnviron[k] = true
		}
		extra := make([]string, 0, len(o.Env))
		for k, v := range o.Env {
			if !inEnviron[k] {
				extra = append(extra, k+"="+v)
			}
		}
		sort.Strings(extra)
		optFns = append(optFns, cli.WithEnv(extra))
	}
	optFns = append(optFns,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithResolvedPaths(true),
		// The services' env_file and label_file entries are read after
		// the load, once resolveServiceFiles has checked them.
		cli.WithoutEnvironmentResolution,
		cli.WithoutLabelsResolution,
	)
	if o.ProjectName != "" {
		optFns = append(optFns, cli.WithName(o.ProjectName))
	}
	// Interpolation happens before validation, so the environment is part
	// of what was validated.
	envKey := append(append([]string(nil), o.Environ...), envFiles...)
	for k, v := range o.Env {
		envKey = append(envKey, k+"="+v)
	}
	for k, v := range envFileValues {
		envKey = append(envKey, k+"="+v)
	}
	sort.Strings(envKey)
	marker := schemaMarker(o.SchemaCache, files, envKey)
	if o.SkipSchema || (marker != "" && fileExistsAt(marker)) {
		optFns = append(optFns, cli.WithLoadOptions(loader.WithSkipValidation))
	}
	if len(o.Profiles) > 0 {
		optFns = append(optFns, cli.WithProfiles(o.Profiles))
	} else {
		optFns = append(optFns, cli.WithDefaultProfiles())
	}
	return optFns, marker
}

// addDotEnvFiles adds to envFiles, and their values to envFileValues, the
// env files compose-go found itself (loaded lists them all).
func addDotEnvFiles(loaded, envFiles []string, envFileValues map[string]string) []string {
	// Without --env-file compose-go reads <project>/.env when it exists: its
	// values are secrets to mask like those of any other env file.
	for _, f := range loaded {
		if slices.Contains(envFiles, f) {
			continue
		}
		if vals, err := dotenv.GetEnvFromFile(map[string]string{}, []string{f}); err == nil {
			for k, v := range vals {
				envFileValues[k] = v
			}
			envFiles = append(envFiles, f)
		}
	}
	return envFiles
}

// selectServices checks the profiles and services asked for and narrows
// project to those services.
func selectServices(project *types.Project, o Options, files []string) (*types.Project, error) {
	// Unknown profiles: compose-go accepts them silently, which hides typos.
	known := map[string]bool{"*": true}
	for _, svc := range project.AllServices() {
		for _, p := range svc.Profiles {
			known[p] = true
		}
	}
	for _, p := range o.Profiles {
		if !known[p] {
			return nil, &ConfigError{Msg: fmt.Sprintf("profile %q is not used by any service in %s", p, strings.Join(files, ", ")),
				Fix: "known profiles: " + strings.Join(sortedKeys(known, "*"), ", ")}
		}
	}
	if len(o.Services) > 0 {
		for _, name := range o.Services {
			if _, err := project.GetService(name); err != nil {
				all := project.ServiceNames()
				sort.Strings(all)
				return nil, &ConfigError{Msg: fmt.Sprintf("service %q is not in %s (or a profile excludes it)", name, strings.Join(files, ", ")),
					Fix: "services: " + strings.Join(all, ", "), Err: err}
			}
		}
		var err error
		project, err = project.WithSelectedServices(o.Services)
		if err != nil {
			return nil, wrapLoadError(files, err)
		}
	}
	return project, nil
}

// addServices builds the active services from the loaded project: classes,
// labels, scale 0, and the checks compose-go leaves to the caller.
func (st *Stack) addServices() error {
	project, where := st.Project, strings.Join(st.Files, ", ")
	defs, err := parseClasses(project.Extensions)
	if err != nil {
		return &ConfigError{Msg: fmt.Sprintf("%s: %v", where, err), Err: err,
			Fix: fmt.Sprintf("declare classes as %s: {classes: {NAME: {blocking: true|false|dependents, one-shot: true|false}}}", ExtensionKey)}
	}
	st.Classes = defs
	if err := st.checkContainerNames(); err != nil {
		return err
	}
	oneShot := map[string]bool{}
	for _, svc := range project.Services {
		for dep, d := range svc.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				oneShot[dep] = true
			}
		}
	}
	var errs []string
	for name, cfg := range project.Services {
		if cfg.GetScale() == 0 {
			st.ScaledToZero = append(st.ScaledToZero, name)
			continue
		}
		s, problems := newService(name, cfg, oneShot[name], defs)
		if len(problems) > 0 {
			errs = append(errs, problems...)
			continue
		}
		st.Services[name] = s
		st.Names = append(st.Names, name)
		st.Warnings = append(st.Warnings, unsupported(cfg)...)
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		return &ConfigError{Msg: fmt.Sprintf("%s: invalid dive labels:\n  %s", where, strings.Join(errs, "\n  ")),
			Fix: fmt.Sprintf("%s is one of the known classes (%s; declare more under %s.classes); %s is a Go duration like 90s or 2m; %s is 0 to 10; %s is 0 or more; %s is a duration of at least 10ms, or off; %s is a port (1-65535)",
				LabelClass, classNames(defs), ExtensionKey, LabelTimeout, LabelRetries, LabelMaxRestarts, LabelProbeInterval, LabelTCP)}
	}
	resolveClasses(st.Services, defs)
	for _, s := range st.Services {
		if !s.retriesFromLabel && s.Class != Core {
			// Optional and stretch services are not retried unless asked:
			// they must never cost the deploy time.
			s.Retries = 0
		}
	}
	sort.Strings(st.Names)
	sort.Strings(st.ScaledToZero)
	sort.Strings(st.Warnings)
	if err := st.checkNetworks(); err != nil {
		return err
	}
	if err := checkValues(project, st.Files); err != nil {
		return err
	}
	return st.checkDependencies()
}

func newService(name string, cfg types.ServiceConfig, oneShot bool, defs map[string]ClassDef) (*Service, []string) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	s := &Service{Name: name, Config: cfg, Class: Core, Declared: string(Core), Retries: DefaultRetries, MaxRestarts: DefaultMaxRestarts, OneShot: oneShot}
	l := cfg.Labels
	if v, ok := l[LabelClass]; ok {
		c := strings.ToLower(strings.TrimSpace(v))
		def, known := defs[c]
		if !known {
			bad("service %q: label %s=%q is not a known class (%s)", name, LabelClass, v, classNames(defs))
		} else {
			s.Declared = c
			s.OneShot = s.OneShot || def.OneShot
		}
	}
	s.Description = l[LabelDescription]
	if v, ok := l[LabelTimeout]; ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			bad("service %q: label %s=%q is not a positive Go duration (like 90s or 2m)", name, LabelTimeout, v)
		}
		s.Budget, s.BudgetSource = d, "label"
	} else if s.HasHealthcheck() {
		s.Budget, s.BudgetSource = HealthcheckBudget(cfg.HealthCheck), "healthcheck"
	} else {
		s.Budget, s.BudgetSource = DefaultBudgetNoHealthcheck, "default"
	}
	if v, ok := l[LabelRetries]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 10 {
			bad("service %q: label %s=%q is not a whole number from 0 to 10", name, LabelRetries, v)
		} else {
			s.Retries, s.retriesFromLabel = n, true
		}
	}
	if v, ok := l[LabelMaxRestarts]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			bad("service %q: label %s=%q is not a whole number", name, LabelMaxRestarts, v)
		} else {
			s.MaxRestarts = n
		}
	}
	if v, ok := l[LabelProbeInterval]; ok {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, "off") {
			s.ProbeOff = true
		} else {
			d, err := time.ParseDuration(v)
			if err != nil || d < 10*time.Millisecond {
				bad("service %q: label %s=%q is not a duration of at least 10ms, nor off", name, LabelProbeInterval, v)
			} else {
				s.ProbeInterval = d
			}
		}
	}
	if v, ok := l[LabelTCP]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 65535 {
			bad("service %q: label %s=%q is not a port number from 1 to 65535", name, LabelTCP, v)
		} else {
			s.TCPPort = n
		}
	}
	return s, problems
}

// HealthcheckBudget derives a start-up budget from a healthcheck the way the
// engine would give up on it: start_period + retries × (interval + timeout).
func HealthcheckBudget(hc *types.HealthCheckConfig) time.Duration {
	interval, timeout, start := dockerDefaultInterval, dockerDefaultTimeout, time.Duration(0)
	retries := uint64(dockerDefaultRetries)
	if hc.Interval != nil && *hc.Interval > 0 {
		interval = time.Duration(*hc.Interval)
	}
	if hc.Timeout != nil && *hc.Timeout > 0 {
		timeout = time.Duration(*hc.Timeout)
	}
	if hc.StartPeriod != nil {
		start = time.Duration(*hc.StartPeriod)
	}
	if hc.Retries != nil && *hc.Retries > 0 {
		retries = *hc.Retries
	}
	return start + time.Duration(retries)*(interval+timeout)
}

// checkDependencies reports what compose-go lets through but dive cannot deploy:
// a service_healthy condition on a service whose healthcheck the file
// disables.
func (s *Stack) checkDependencies() error {
	var errs []string
	for _, name := range s.Names {
		for dep, d := range s.Services[name].Config.DependsOn {
			ds, ok := s.Services[dep]
			if !ok {
				if d.Required && !slices.Contains(s.ScaledToZero, dep) {
					errs = append(errs, fmt.Sprintf("service %q depends on %q, which is not defined or not enabled", name, dep))
				}
				continue
			}
			// Without a test in the file, the image's HEALTHCHECK may be
			// the one: the deploy decides from the image (as compose
			// does). A disabled check is certain now.
			if d.Condition == types.ServiceConditionHealthy && !ds.HasHealthcheck() && !ds.ImageHealthcheckMatters() {
				errs = append(errs, fmt.Sprintf("service %q waits for %q to be healthy, but %q disables its healthcheck", name, dep, dep))
			}
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return &ConfigError{Msg: strings.Join(s.Files, ", ") + ": " + strings.Join(errs, "; "),
			Fix: "give the dependency a healthcheck (remove disable: true / test: [NONE]), or use condition: service_started"}
	}
	return nil
}

func wrapLoadError(files []string, err error) error {
	msg := err.Error()
	where := strings.Join(files, ", ")
	switch {
	case strings.Contains(msg, "required variable"):
		// error while interpolating services.keycloak.environment.X: required variable X is missing a value: msg
		v := msg
		if i := strings.Index(msg, "required variable "); i >= 0 {
			v = strings.Fields(msg[i+len("required variable "):])[0]
		}
		return &ConfigError{Msg: fmt.Sprintf("%s: %s", where, msg),
			Fix: fmt.Sprintf("set %s in the env file (--env-file) or in the environment", v), Err: err}
	case strings.Contains(msg, "dependency cycle"):
		return &ConfigError{Msg: fmt.Sprintf("%s: %s", where, msg), Fix: "remove one of the depends_on edges of the cycle", Err: err}
	case strings.Contains(msg, "depends on undefined service"):
		return &ConfigError{Msg: fmt.Sprintf("%s: %s", where, msg), Fix: "define that service, enable its profile, or mark the dependency required: false", Err: err}
	case strings.Contains(msg, "env file"):
		return &ConfigError{Msg: fmt.Sprintf("%s: %s", where, msg), Fix: "create the env file, or mark it required: false in env_file", Err: err}
	case strings.Contains(msg, "validating"), strings.Contains(msg, "yaml"):
		return &ConfigError{Msg: fmt.Sprintf("%s is not a valid compose file: %s", where, msg), Fix: "fix the key or value named above (compose file reference: https://docs.docker.com/reference/compose-file/)", Err: err}
	case strings.Contains(msg, "invalid hostPort"), strings.Contains(msg, "invalid containerPort"), strings.Contains(msg, "invalid port"), strings.Contains(msg, "invalid proto"):
		if at := locate(files, msg[strings.LastIndex(msg, ": ")+2:]); at != "" {
			where = at
		}
		return &ConfigError{Msg: fmt.Sprintf("%s: ports: %s", where, msg),
			Fix: "a port is 1-65535: fix that ports: entry ([HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. 127.0.0.1:8080:80)", Err: err}
	}
	return &ConfigError{Msg: fmt.Sprintf("%s: %s", where, msg), Fix: "fix the key or value named above (compose file reference: https://docs.docker.com/reference/compose-file/)", Err: err}
}

// locate is "FILE:LINE (service S)" of the first line of files that holds
// token, for an error that names a value but not where it is; "" when no
// line does.
func locate(files []string, token string) string {
	token = strings.TrimSpace(token)
	if token == "" {
		return ""
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		service := ""
		for i, line := range strings.Split(string(b), "\n") {
			// a service's key: two spaces of indent under services:
			if len(line) > 2 && strings.HasPrefix(line, "  ") && line[2] != ' ' && line[2] != '#' && strings.HasSuffix(strings.TrimSpace(line), ":") {
				service = strings.TrimSuffix(strings.TrimSpace(line), ":")
			}
			if strings.Contains(line, token) {
				at := fmt.Sprintf("%s:%d", f, i+1)
				if service != "" {
					at += fmt.Sprintf(" (service %s)", service)
				}
				return at
			}
		}
	}
	return ""
}

func sortedKeys(m map[string]bool, skip string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != skip {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

// unsupported lists the keys of a service dive does not apply, so they are
// never dropped silently.
func unsupported(c types.ServiceConfig) []string {
	var keys []string
	add := func(cond bool, key string) {
		if cond {
			keys = append(keys, key)
		}
	}
	// Every key the engine's API can carry is applied (internal/engine);
	// these are the ones docker compose does not apply either on `up`
	// (develop is `compose watch`, the rest swarm, Windows or plugins).
	add(c.Develop != nil, "develop")
	add(len(c.PreStart) > 0, "pre_start")
	add(c.Provider != nil, "provider")
	add(len(c.Models) > 0, "models")
	add(c.CredentialSpec != nil, "credential_spec")
	add(c.UseAPISocket, "use_api_socket")
	add(len(c.LabelFiles) > 0 && len(c.Labels) == 0, "label_file")
	add(c.Deploy != nil && c.Deploy.Resources.Reservations != nil && c.Deploy.Resources.Reservations.NanoCPUs != 0, "deploy.resources.reservations.cpus")
	if c.Build != nil {
		add(len(c.Build.Platforms) > 1, "build.platforms")
	}
	keys = slices.Compact(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, fmt.Sprintf("service %q: %s is not supported by dive and is ignored", c.Name, k))
	}
	return out
}

// schemaMarker names the cache entry of these exact files' contents; "" when
// there is no cache or a file cannot be read.
func schemaMarker(dir string, files, env []string) string {
	if dir == "" {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "compose-go v2.16.2 schema\n")
	for _, e := range env {
		fmt.Fprintf(h, "%d %s\n", len(e), e)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return ""
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return filepath.Join(dir, hex.EncodeToString(h.Sum(nil))[:32])
}

func fileExistsAt(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
