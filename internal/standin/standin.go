// Package standin is the stand-in service: a tiny HTTP app, played by the dive
// binary itself (`dive standin`), that takes the place of every service of the
// demo hub. Environment variables make it behave like the real services do at
// start-up and when things go wrong (slow readiness, one-shot jobs, crashes,
// dependencies that are not there yet, OOM, slow shutdown), so the scheduler
// can be shown and tested against a realistic stack that builds in a second
// and runs FROM scratch.
//
// The package also builds the stand-in image (see EnsureImage).
package standin

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The environment variables that configure the stand-in. Durations are Go
// durations ("1.5s", "300ms").
const (
	EnvName             = "STANDIN_NAME"             // name used in log lines; default: the host name
	EnvPort             = "STANDIN_PORT"             // listen port on 0.0.0.0; default 8080
	EnvMode             = "STANDIN_MODE"             // serve (default), job, crash, never-ready, flap, oom, slow-stop
	EnvReadyAfter       = "STANDIN_READY_AFTER"      // /healthz turns 200 this long after t0; default 0
	EnvExitCode         = "STANDIN_EXIT_CODE"        // exit code of job (default 0) and crash (default 1)
	EnvCrashAfter       = "STANDIN_CRASH_AFTER"      // crash: exit this long after t0; default 0
	EnvCrashRuns        = "STANDIN_CRASH_RUNS"       // crash: crash only in the first N runs of the container (a restart keeps the count); default every run
	EnvUnhealthyAfter   = "STANDIN_UNHEALTHY_AFTER"  // flap: /healthz turns 503 this long after READY; default 1s
	EnvStopDelay        = "STANDIN_STOP_DELAY"       // slow-stop: keep running this long after SIGTERM; default 30s
	EnvRequires         = "STANDIN_REQUIRES"         // comma-separated host:port whose /healthz must answer 200 at start
	EnvRequiresTimeout  = "STANDIN_REQUIRES_TIMEOUT" // how long to retry each of them; default 2s
	EnvLogEvery         = "STANDIN_LOG_EVERY"        // heartbeat line period; default off
	EnvOOMMaxMiB        = "STANDIN_OOM_MAX_MIB"      // oom: stop allocating at this many MiB (a safety cap); default 1024
	defaultPort         = 8080
	defaultStopDelay    = 30 * time.Second
	defaultUnhealthy    = time.Second
	defaultReqTimeout   = 2 * time.Second
	defaultOOMMaxMiB    = 1024
	exitDependencyError = 3 // STANDIN_REQUIRES not met
	exitUsage           = 2 // bad configuration or arguments
)

// Mode is what the stand-in does.
type Mode string

const (
	ModeServe      Mode = "serve"       // HTTP server, ready after READY_AFTER
	ModeJob        Mode = "job"         // one-shot: wait READY_AFTER, exit EXIT_CODE
	ModeCrash      Mode = "crash"       // serve, exit EXIT_CODE (default 1) CRASH_AFTER after t0
	ModeNeverReady Mode = "never-ready" // serve, /healthz always 503
	ModeFlap       Mode = "flap"        // ready after READY_AFTER, unhealthy UNHEALTHY_AFTER later
	ModeOOM        Mode = "oom"         // once ready, allocate 16 MiB every 50ms until killed
	ModeSlowStop   Mode = "slow-stop"   // serve, ignore SIGTERM for STOP_DELAY
)

// modeList is every Mode, for error messages.
const modeList = "serve, job, crash, never-ready, flap, oom, slow-stop"

// config is the parsed environment. t0, the origin of READY_AFTER and
// CRASH_AFTER, is the moment every STANDIN_REQUIRES dependency answered (the
// process start when there are none).
type config struct {
	name            string
	port            int
	mode            Mode
	readyAfter      time.Duration
	crashAfter      time.Duration
	crashRuns       int
	unhealthyAfter  time.Duration
	stopDelay       time.Duration
	requires        []string
	requiresTimeout time.Duration
	logEvery        time.Duration
	exitCode        int
	oomMaxBytes     int64
}

// runtimeEnv is what the stand-in takes from the process, so tests can run it
// in-process on their own listener and buffers.
type runtimeEnv struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	listen func(network, addr string) (net.Listener, error)
}

// Main runs `dive standin ARGS...` and returns the process exit code.
//
//	dive standin                         run the stand-in app (configured by STANDIN_* variables)
//	dive standin probe [--url U] [--timeout D]   GET U (default http://127.0.0.1:$STANDIN_PORT/healthz); exit 0 on 200
//	dive standin tcp-probe [--timeout D] HOST:PORT   exit 0 if a TCP connection opens
//
// SIGTERM and SIGINT stop the app promptly with exit code 0 (it usually runs
// as PID 1 in a scratch container, where nothing else would handle them).
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return run(ctx, args, runtimeEnv{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr, listen: net.Listen})
}

func run(ctx context.Context, args []string, rt runtimeEnv) int {
	if len(args) > 0 {
		switch args[0] {
		case "probe":
			return probe(ctx, args[1:], rt)
		case "tcp-probe":
			return tcpProbe(ctx, args[1:], rt)
		case "help", "-h", "--help":
			fmt.Fprint(rt.stdout, usage)
			return 0
		default:
			fmt.Fprintf(rt.stderr, "standin: unknown command %q\n%s", args[0], usage)
			return exitUsage
		}
	}
	cfg, err := parseConfig(rt.getenv)
	if err != nil {
		fmt.Fprintf(rt.stderr, "standin: %v\n", err)
		return exitUsage
	}
	a := newApp(cfg, rt)
	if cfg.mode == ModeJob {
		return a.runJob(ctx)
	}
	return a.serve(ctx)
}

const usage = `usage:
  dive standin                                      run the stand-in app (STANDIN_* variables configure it)
  dive standin probe [--url URL] [--timeout 2s]     exit 0 if URL (default http://127.0.0.1:$STANDIN_PORT/healthz) answers 200
  dive standin tcp-probe [--timeout 2s] HOST:PORT   exit 0 if a TCP connection to HOST:PORT opens
`

// parseConfig reads the STANDIN_* variables. Error messages name the variable
// but never repeat its value: the stand-in never prints environment values.
func parseConfig(getenv func(string) string) (config, error) {
	cfg := config{
		name:            getenv(EnvName),
		port:            defaultPort,
		mode:            Mode(strings.TrimSpace(getenv(EnvMode))),
		unhealthyAfter:  defaultUnhealthy,
		stopDelay:       defaultStopDelay,
		requiresTimeout: defaultReqTimeout,
		oomMaxBytes:     defaultOOMMaxMiB << 20,
	}
	if cfg.name == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			cfg.name = h
		} else {
			cfg.name = "standin"
		}
	}
	if cfg.mode == "" {
		cfg.mode = ModeServe
	}
	if !validMode(cfg.mode) {
		return cfg, fmt.Errorf("invalid %s: want one of %s", EnvMode, modeList)
	}
	if v := strings.TrimSpace(getenv(EnvPort)); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return cfg, fmt.Errorf("invalid %s: want a port number 0-65535", EnvPort)
		}
		cfg.port = p
	}
	durations := []struct {
		env string
		dst *time.Duration
	}{
		{EnvReadyAfter, &cfg.readyAfter},
		{EnvCrashAfter, &cfg.crashAfter},
		{EnvUnhealthyAfter, &cfg.unhealthyAfter},
		{EnvStopDelay, &cfg.stopDelay},
		{EnvRequiresTimeout, &cfg.requiresTimeout},
		{EnvLogEvery, &cfg.logEvery},
	}
	for _, d := range durations {
		v := strings.TrimSpace(getenv(d.env))
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed < 0 {
			return cfg, fmt.Errorf("invalid %s: want a non-negative Go duration such as 1.5s or 300ms", d.env)
		}
		*d.dst = parsed
	}
	if cfg.mode == ModeCrash {
		cfg.exitCode = 1
	}
	if v := strings.TrimSpace(getenv(EnvExitCode)); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c < 0 || c > 255 {
			return cfg, fmt.Errorf("invalid %s: want an integer 0-255", EnvExitCode)
		}
		cfg.exitCode = c
	}
	if v := strings.TrimSpace(getenv(EnvCrashRuns)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("invalid %s: want a non-negative integer", EnvCrashRuns)
		}
		cfg.crashRuns = n
	}
	if v := strings.TrimSpace(getenv(EnvOOMMaxMiB)); v != "" {
		m, err := strconv.ParseInt(v, 10, 64)
		if err != nil || m <= 0 || m > 1<<20 {
			return cfg, fmt.Errorf("invalid %s: want a positive number of MiB", EnvOOMMaxMiB)
		}
		cfg.oomMaxBytes = m << 20
	}
	for _, dep := range strings.Split(getenv(EnvRequires), ",") {
		dep = strings.TrimSpace(dep)
		if dep == "" {
			continue
		}
		host, port, err := net.SplitHostPort(dep)
		if _, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil {
			return cfg, fmt.Errorf("invalid %s: want a comma-separated list of host:port", EnvRequires)
		}
		cfg.requires = append(cfg.requires, dep)
	}
	return cfg, nil
}

func validMode(m Mode) bool {
	switch m {
	case ModeServe, ModeJob, ModeCrash, ModeNeverReady, ModeFlap, ModeOOM, ModeSlowStop:
		return true
	}
	return false
}

// logger writes one line per event, "standin <name>: <message>", in a single
// Write so lines from concurrent goroutines never interleave.
type logger struct {
	mu   sync.Mutex
	w    io.Writer
	name string
}

func (l *logger) printf(format string, args ...any) {
	line := "standin " + l.name + ": " + fmt.Sprintf(format, args...) + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, line)
}
