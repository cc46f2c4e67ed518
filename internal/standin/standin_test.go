package standin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary play the stand-in: `<test binary> standin ...`
// runs Main, the way `dive standin ...` does. The signal test runs the binary
// like that, and the integration test puts a linux build of it in the image.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "standin" {
		os.Exit(Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// syncBuffer is an io.Writer safe for the app's goroutines and the test's reads.
type syncBuffer = testutil.LockedBuffer

// eventually polls cond every 10ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}

// running is an in-process stand-in on a random 127.0.0.1 port.
type running struct {
	url    string // http://127.0.0.1:port
	out    *syncBuffer
	cancel context.CancelFunc // plays SIGTERM
	code   chan int
}

// startApp runs the stand-in in-process with env (and nothing from the OS environment).
func startApp(t *testing.T, env map[string]string) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{url: "http://" + ln.Addr().String(), out: &syncBuffer{}, cancel: cancel, code: make(chan int, 1)}
	rt := runtimeEnv{
		getenv: func(k string) string { return env[k] },
		stdout: r.out,
		stderr: r.out,
		listen: func(string, string) (net.Listener, error) { return ln, nil },
	}
	go func() { r.code <- run(ctx, nil, rt) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.code:
		case <-time.After(5 * time.Second):
			t.Errorf("stand-in did not stop within 5s of cancel")
		}
	})
	return r
}

// exitCode waits for the app to return.
func (r *running) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case c := <-r.code:
		r.code <- c // keep it for Cleanup
		return c
	case <-time.After(within):
		t.Fatalf("stand-in did not exit within %s; output:\n%s", within, r.out.String())
		return -1
	}
}

func (r *running) healthz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get(r.url + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// stampOf returns the unix-nanos stamp of the first "<event> <nanos>" line.
func stampOf(t *testing.T, out, event string) int64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		_, rest, ok := strings.Cut(line, ": "+event+" ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
		require.NoError(t, err, line)
		return n
	}
	t.Fatalf("no %s line in output:\n%s", event, out)
	return 0
}

func TestHealthzTurnsReadyAfterDelay(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	started := time.Now()
	r := startApp(t, map[string]string{EnvName: "db", EnvReadyAfter: delay.String()})

	eventually(t, 2*time.Second, "the server to answer", func() bool { c, _ := r.healthz(t); return c != 0 })
	code, body := r.healthz(t)
	if time.Since(started) < delay {
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Contains(t, body, "not ready (ready in ")
	}
	eventually(t, 5*time.Second, "/healthz to answer 200", func() bool { c, _ := r.healthz(t); return c == http.StatusOK })
	assert.GreaterOrEqual(t, time.Since(started), delay, "ready before STANDIN_READY_AFTER")

	out := r.out.String()
	assert.Contains(t, out, "standin db: listening on :")
	ready, first := stampOf(t, out, "READY"), stampOf(t, out, "HEALTHZ-FIRST-200")
	assert.LessOrEqual(t, ready, first, "first 200 served before READY")
	assert.GreaterOrEqual(t, time.Duration(ready-started.UnixNano()), delay)
	assert.Less(t, strings.Index(out, ": READY "), strings.Index(out, ": HEALTHZ-FIRST-200 "))
	assert.Equal(t, 1, strings.Count(out, "HEALTHZ-FIRST-200"), "logged once")

	stopAt := time.Now()
	r.cancel()
	assert.Equal(t, 0, r.exitCode(t, 3*time.Second))
	assert.Less(t, time.Since(stopAt), 1500*time.Millisecond, "stop must be prompt")
}

func TestJobExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"default exit 0", map[string]string{EnvMode: "job"}, 0},
		{"exit code 7 after delay", map[string]string{EnvMode: "job", EnvExitCode: "7", EnvReadyAfter: "100ms"}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			started := time.Now()
			r := startApp(t, tc.env)
			assert.Equal(t, tc.want, r.exitCode(t, 3*time.Second))
			if d := tc.env[EnvReadyAfter]; d != "" {
				want, _ := time.ParseDuration(d)
				assert.GreaterOrEqual(t, time.Since(started), want)
			}
			assert.Contains(t, r.out.String(), fmt.Sprintf("exit code %d", tc.want))
		})
	}
}

// TestMainJobWithSetenv runs the exported entry point as the CLI will.
func TestMainJobWithSetenv(t *testing.T) {
	t.Setenv(EnvMode, "job")
	t.Setenv(EnvExitCode, "4")
	t.Setenv(EnvName, "rs-init")
	assert.Equal(t, 4, Main(nil))
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestRequiresNotReadyExits3(t *testing.T) {
	t.Parallel()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(notReady.Close)
	down := closedPort(t)
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(up.Close)
	upAddr := strings.TrimPrefix(up.URL, "http://")
	notReadyAddr := strings.TrimPrefix(notReady.URL, "http://")

	for _, mode := range []string{"serve", "job"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			started := time.Now()
			r := startApp(t, map[string]string{
				EnvName:            "backend",
				EnvMode:            mode,
				EnvRequires:        upAddr + "," + down + " , " + notReadyAddr,
				EnvRequiresTimeout: "300ms",
			})
			assert.Equal(t, 3, r.exitCode(t, 3*time.Second))
			assert.GreaterOrEqual(t, time.Since(started), 300*time.Millisecond, "must retry for the whole timeout")
			out := r.out.String()
			assert.Contains(t, out, "standin backend: FATAL dependency "+down+" not ready")
			assert.Contains(t, out, "standin backend: FATAL dependency "+notReadyAddr+" not ready")
			assert.Contains(t, out, "healthz answered 503")
			assert.NotContains(t, out, "FATAL dependency "+upAddr)
			assert.NotContains(t, out, "READY")
		})
	}
}

func TestRequiresWaitsThenCountsReadyAfter(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var depReadyAt atomic.Int64
	dep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/healthz", r.URL.Path)
		if calls.Add(1) < 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		depReadyAt.CompareAndSwap(0, time.Now().UnixNano())
	}))
	t.Cleanup(dep.Close)
	addr := strings.TrimPrefix(dep.URL, "http://")
	r := startApp(t, map[string]string{EnvName: "keycloak", EnvRequires: addr, EnvReadyAfter: "200ms"})

	// While the dependency is checked, /healthz already answers 503.
	eventually(t, 2*time.Second, "/healthz to answer 200", func() bool { c, _ := r.healthz(t); return c == http.StatusOK })
	out := r.out.String()
	assert.Contains(t, out, "dependency "+addr+" ready after")
	assert.GreaterOrEqual(t, calls.Load(), int32(4), "must retry a 503")
	ready := stampOf(t, out, "READY")
	assert.GreaterOrEqual(t, time.Duration(ready-depReadyAt.Load()), 200*time.Millisecond,
		"READY_AFTER counts from the moment the dependencies answered")
}

func TestCrashMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{EnvMode: "crash", EnvCrashAfter: "150ms"}, 1},
		{map[string]string{EnvMode: "crash", EnvExitCode: "42"}, 42},
	} {
		started := time.Now()
		r := startApp(t, tc.env)
		assert.Equal(t, tc.want, r.exitCode(t, 3*time.Second))
		if d := tc.env[EnvCrashAfter]; d != "" {
			assert.GreaterOrEqual(t, time.Since(started), 150*time.Millisecond)
		}
		assert.Contains(t, r.out.String(), "CRASH ")
	}
}

func TestNeverReady(t *testing.T) {
	t.Parallel()
	r := startApp(t, map[string]string{EnvMode: "never-ready"})
	eventually(t, 2*time.Second, "the server to answer", func() bool { c, _ := r.healthz(t); return c != 0 })
	// Observe for a while: it must never turn 200.
	end := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(end) {
		code, body := r.healthz(t)
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Equal(t, "not ready (never-ready mode)", body)
	}
	assert.NotContains(t, r.out.String(), "READY")
}

func TestFlap(t *testing.T) {
	t.Parallel()
	r := startApp(t, map[string]string{EnvMode: "flap", EnvReadyAfter: "50ms", EnvUnhealthyAfter: "200ms"})
	eventually(t, 2*time.Second, "/healthz to answer 200", func() bool { c, _ := r.healthz(t); return c == http.StatusOK })
	eventually(t, 2*time.Second, "/healthz to turn 503 again", func() bool {
		c, body := r.healthz(t)
		return c == http.StatusServiceUnavailable && body == "unhealthy (flap mode)"
	})
	out := r.out.String()
	assert.GreaterOrEqual(t, time.Duration(stampOf(t, out, "UNHEALTHY")-stampOf(t, out, "READY")), 200*time.Millisecond)
}

func TestSlowStop(t *testing.T) {
	t.Parallel()
	const delay = 400 * time.Millisecond
	r := startApp(t, map[string]string{EnvMode: "slow-stop", EnvStopDelay: delay.String()})
	eventually(t, 2*time.Second, "/healthz to answer 200", func() bool { c, _ := r.healthz(t); return c == http.StatusOK })
	stopAt := time.Now()
	r.cancel()
	eventually(t, time.Second, "the stop to be logged", func() bool { return strings.Contains(r.out.String(), "ignoring it for 400ms") })
	code, _ := r.healthz(t)
	assert.Equal(t, http.StatusOK, code, "still serving while it ignores SIGTERM")
	assert.Equal(t, 0, r.exitCode(t, 3*time.Second))
	assert.GreaterOrEqual(t, time.Since(stopAt), delay)
}

func TestOOMStopsAtCap(t *testing.T) {
	t.Parallel()
	r := startApp(t, map[string]string{EnvMode: "oom", EnvOOMMaxMiB: "40"})
	eventually(t, 3*time.Second, "the allocator to reach its cap", func() bool {
		return strings.Contains(r.out.String(), "reached the STANDIN_OOM_MAX_MIB cap of 40 MiB")
	})
	out := r.out.String()
	assert.Contains(t, out, "oom: holding 16 MiB")
	assert.Contains(t, out, "oom: holding 32 MiB")
	assert.NotContains(t, out, "oom: holding 48 MiB")
	code, _ := r.healthz(t)
	assert.Equal(t, http.StatusOK, code)
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	r := startApp(t, map[string]string{EnvName: "opa", EnvLogEvery: "50ms"})
	eventually(t, 2*time.Second, "two heartbeat lines", func() bool { return strings.Count(r.out.String(), "standin opa: alive ") >= 2 })
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value"
	for _, tc := range []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{EnvMode: secret}, "invalid STANDIN_MODE: want one of serve, job"},
		{map[string]string{EnvPort: secret}, "invalid STANDIN_PORT"},
		{map[string]string{EnvPort: "70000"}, "invalid STANDIN_PORT"},
		{map[string]string{EnvReadyAfter: secret}, "invalid STANDIN_READY_AFTER"},
		{map[string]string{EnvStopDelay: "-1s"}, "invalid STANDIN_STOP_DELAY"},
		{map[string]string{EnvExitCode: "256"}, "invalid STANDIN_EXIT_CODE"},
		{map[string]string{EnvRequires: "db:8080," + secret}, "invalid STANDIN_REQUIRES"},
		{map[string]string{EnvRequires: "db:http"}, "invalid STANDIN_REQUIRES"},
		{map[string]string{EnvOOMMaxMiB: "0"}, "invalid STANDIN_OOM_MAX_MIB"},
	} {
		_, err := parseConfig(func(k string) string { return tc.env[k] })
		require.Error(t, err, tc.env)
		assert.Contains(t, err.Error(), tc.wantErr)
		assert.NotContains(t, err.Error(), secret, "error messages must not repeat env values")
	}

	cfg, err := parseConfig(func(k string) string {
		return map[string]string{EnvName: "x", EnvMode: "crash", EnvRequires: " a:1, b:2 ,,", EnvReadyAfter: "1.5s"}[k]
	})
	require.NoError(t, err)
	assert.Equal(t, config{
		name: "x", port: 8080, mode: ModeCrash, readyAfter: 1500 * time.Millisecond,
		unhealthyAfter: time.Second, stopDelay: 30 * time.Second, requires: []string{"a:1", "b:2"},
		requiresTimeout: 2 * time.Second, exitCode: 1, oomMaxBytes: 1 << 30,
	}, cfg)

	r := startApp(t, map[string]string{EnvMode: "nope"})
	assert.Equal(t, 2, r.exitCode(t, time.Second))
}

func TestProbe(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(ready.Close)
	warming := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready (ready in 1.2s)")
	}))
	t.Cleanup(warming.Close)
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hang }))
	t.Cleanup(func() { close(hang); slow.Close() })

	probeOut := func(args ...string) (int, string) {
		var out, errOut syncBuffer
		code := run(context.Background(), append([]string{"probe"}, args...), runtimeEnv{getenv: os.Getenv, stdout: &out, stderr: &errOut})
		return code, out.String() + errOut.String()
	}

	// Default URL: 127.0.0.1:$STANDIN_PORT/healthz.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ready.URL, "http://"))
	t.Setenv(EnvPort, port)
	code, out := probeOut()
	assert.Equal(t, 0, code)
	assert.Equal(t, "healthz: 200 ok\n", out)

	code, out = probeOut("--url", warming.URL+"/healthz")
	assert.Equal(t, 1, code)
	assert.Equal(t, "healthz: 503 not ready (ready in 1.2s)\n", out)

	code, out = probeOut("--url", "http://"+closedPort(t)+"/healthz")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "healthz: unreachable: ")
	assert.Contains(t, out, "connection refused")

	started := time.Now()
	code, out = probeOut("--url", slow.URL, "--timeout", "150ms")
	assert.Equal(t, 1, code)
	assert.Equal(t, "healthz: no answer within 150ms\n", out)
	assert.Less(t, time.Since(started), 2*time.Second)

	code, _ = probeOut("--bogus")
	assert.Equal(t, 1, code, "bad arguments are a failed probe too")
	code, _ = probeOut("extra")
	assert.Equal(t, 1, code)

	// Through Main, as the healthcheck calls it.
	assert.Equal(t, 0, Main([]string{"probe"}))
}

func TestTCPProbe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var out syncBuffer
	rt := runtimeEnv{getenv: func(string) string { return "" }, stdout: &out, stderr: &out}
	assert.Equal(t, 0, run(context.Background(), []string{"tcp-probe", ln.Addr().String()}, rt))
	assert.Equal(t, 1, run(context.Background(), []string{"tcp-probe", closedPort(t)}, rt))
	assert.Equal(t, 1, run(context.Background(), []string{"tcp-probe"}, rt))
	assert.Contains(t, out.String(), ln.Addr().String()+": open")
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	rt := runtimeEnv{getenv: func(string) string { return "" }, stdout: &out, stderr: &out}
	assert.Equal(t, 2, run(context.Background(), []string{"frobnicate"}, rt))
	assert.Contains(t, out.String(), `unknown command "frobnicate"`)
}

// TestSIGTERMStopsPromptly runs the stand-in as a real process and signals it,
// the way `docker stop` does to PID 1.
func TestSIGTERMStopsPromptly(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on windows")
	}
	t.Parallel()
	for _, tc := range []struct {
		mode     string
		wantStop time.Duration // at least
	}{
		{"serve", 0},
		{"job", 0},
		{"slow-stop", 300 * time.Millisecond},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "standin")
			cmd.Env = append(os.Environ(), EnvPort+"=0", EnvMode+"="+tc.mode, EnvName+"=sig",
				EnvReadyAfter+"=1h", EnvStopDelay+"=300ms")
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			lines := bufio.NewScanner(stdout)
			want := "standin sig: listening on"
			if tc.mode == "job" {
				want = "standin sig: job started"
			}
			for lines.Scan() && !strings.Contains(lines.Text(), want) {
			}
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			stopAt := time.Now()
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			err = cmd.Wait()
			took := time.Since(stopAt)
			require.NoError(t, err, "must exit 0 on SIGTERM")
			assert.GreaterOrEqual(t, took, tc.wantStop)
			assert.Less(t, took, tc.wantStop+1500*time.Millisecond, "must stop promptly")
		})
	}
}
