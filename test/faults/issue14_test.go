package faults

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Faults of issue 14 (found by trying to break dive): secrets in clear,
// unbounded reads, unvalidated flags, configuration errors caught late.
// The engine-fault ones (graceful stop, own ports, frozen and restarted
// engines) are in issue14_engine_test.go.

// Secret values from the env file never reach any output: not the deploy's
// stdout/stderr, not `hub logs` (with and without --follow), not the
// records (events.jsonl, metrics.json, reports, breakers.json). That
// includes *_URL variables whose value carries credentials: a password in
// the userinfo, a token in the query, a webhook's path.
func TestSecretsNeverInClear(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "secrets")
	f.slot()
	secrets := map[string]string{
		"DB_PASSWORD":       "pw-Fault14-s3cret",
		"DATABASE_URL":      "postgres://app:url-pass-6161@db:5432/app",
		"NOTIFY_URL":        "https://notify.example.com/send?channel=ops&token=tok-query-7272",
		"ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T1/B2/tok-webhook-5150",
	}
	clear := []string{"pw-Fault14-s3cret", "url-pass-6161", "tok-query-7272", "tok-webhook-5150"}
	var env strings.Builder
	for k, v := range secrets {
		env.WriteString(k + "=" + v + "\n")
	}
	envFile := filepath.Join(f.dir, "fault.env")
	if err := os.WriteFile(envFile, []byte(env.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Both services print every secret in each log line (the stand-in's
	// name prefixes its lines); the optional one crashes, so the deploy's
	// diagnosis shows its logs and the breaker records its failure.
	name := `"db=${DB_PASSWORD} dsn=${DATABASE_URL} notify=${NOTIFY_URL} hook=${ALERT_WEBHOOK_URL}"`
	// api has no healthcheck: its readiness is not the point, and a
	// loaded machine's engine times healthchecks out.
	f.write(`services:
  api:
` + image + `    environment:
      STANDIN_NAME: ` + name + `
      STANDIN_LOG_EVERY: 200ms
  crasher:
` + image + `    restart: "no"
    labels:
      dive.service.class: optional
    environment:
      STANDIN_NAME: ` + name + `
      STANDIN_MODE: crash
      STANDIN_READY_AFTER: 10s
      STANDIN_CRASH_AFTER: 300ms
` + slowHealthcheck)
	withEnv := func(cmd string, extra ...string) []string {
		return f.hub(cmd, append([]string{"--env-file", envFile}, extra...)...)
	}
	r := f.dive(nil, withEnv("deploy", "--wait-all")...)
	wantCode(t, r, 0)
	wantOutput(t, r, "crasher (optional) failed", "db=****")
	within(t, "deploy (hang guard)", r.elapsed, 150*time.Second, 1)
	outputs := map[string]string{"deploy": r.output()}

	logs := f.dive(nil, withEnv("logs")...)
	wantCode(t, logs, 0)
	wantOutput(t, logs, "db=****", "notify.example.com")
	outputs["logs"] = logs.output()

	// --follow: wait for fresh lines of api's heartbeat, then Ctrl-C.
	p := f.start(nil, withEnv("logs", "--follow", "api")...)
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(p.stdout.String(), "db=") < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	follow := p.wait()
	if !strings.Contains(follow.stdout, "db=****") {
		t.Errorf("logs --follow printed no masked line")
	}
	outputs["logs --follow"] = follow.output()

	for what, out := range outputs {
		for _, s := range clear {
			if strings.Contains(out, s) {
				t.Errorf("the output of %s shows the secret %q", what, s)
			}
		}
	}
	files := 0
	_ = filepath.WalkDir(f.stateDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		files++
		for _, s := range clear {
			if strings.Contains(string(b), s) {
				t.Errorf("record %s shows the secret %q", strings.TrimPrefix(path, f.stateDir+"/"), s)
			}
		}
		return nil
	})
	if files < 4 {
		t.Errorf("only %d record files under %s; want events.jsonl, metrics.json, reports, breakers.json", files, f.stateDir)
	}
}

// A compose or env file that never ends (/dev/zero), a FIFO nobody writes
// to, or a huge file: exit 2 at once naming the file, nothing created.
func TestUnboundedInputs(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	fifoDir := t.TempDir()
	fifo := filepath.Join(fifoDir, "input.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(fifoDir, "big.env")
	if err := os.WriteFile(big, make([]byte, 5<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args func(f *fixture) []string
		want []string
	}{
		{"compose-dev-zero", func(f *fixture) []string {
			return []string{"hub", "deploy", "-f", "/dev/zero", "-p", f.project, "--state-dir", f.stateDir}
		}, []string{"compose file /dev/zero is not a regular file", "character device"}},
		{"compose-fifo", func(f *fixture) []string {
			return []string{"hub", "deploy", "-f", fifo, "-p", f.project, "--state-dir", f.stateDir}
		}, []string{"compose file " + fifo + " is not a regular file", "named pipe"}},
		{"env-dev-zero", func(f *fixture) []string { return f.hub("deploy", "--env-file", "/dev/zero") },
			[]string{"env file /dev/zero is not a regular file"}},
		{"env-fifo", func(f *fixture) []string { return f.hub("deploy", "--env-file", fifo) },
			[]string{"env file " + fifo + " is not a regular file", "named pipe"}},
		{"env-huge", func(f *fixture) []string { return f.hub("plan", "--env-file", big) },
			[]string{"env file " + big, "more than the 4 MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "input-"+tt.name)
			f.write("services:\n  web:\n" + image + healthcheck)
			configFailure(t, f, nil, tt.args(f), tt.want...)
		})
	}
}

// Flags with values that mean nothing are usage errors (exit 2) naming
// the flag and what it accepts, before anything runs.
func TestFlagsValidated(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	tests := []struct {
		cmd  string
		flag []string
		want string
	}{
		{"deploy", []string{"--timeout=0s"}, "--timeout 0s: must be a positive duration"},
		{"deploy", []string{"--timeout=-5s"}, "--timeout -5s: must be a positive duration"},
		{"deploy", []string{"--api-timeout=0s"}, "--api-timeout 0s: must be a positive duration"},
		{"deploy", []string{"--api-timeout=-1s"}, "--api-timeout -1s: must be a positive duration"},
		{"deploy", []string{"--log-format=xml"}, `--log-format "xml": must be one of ["text" "json"]`},
		{"deploy", []string{"--wait-lock=-1s"}, "--wait-lock -1s: must be 0"},
		{"down", []string{"--wait-lock=-1s"}, "--wait-lock -1s: must be 0"},
		{"status", []string{"--api-timeout=0s"}, "--api-timeout 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd+strings.Join(tt.flag, ""), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "flags")
			f.write("services:\n  web:\n" + image + healthcheck)
			r := configFailure(t, f, nil, f.hub(tt.cmd, tt.flag...), tt.want)
			if strings.Contains(r.output(), "not reachable") {
				t.Errorf("a bad flag must not be reported as an engine problem")
			}
		})
	}
}

// Values the compose schema lets through but the engine refuses are
// configuration errors: exit 2 naming the service and the value, before
// any network or container exists; validate and plan refuse them too.
func TestBadValuesRefusedBeforeEngine(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	tests := map[string]struct{ yaml, want string }{
		"restart":      {"    restart: sometimes\n", `restart "sometimes" is not a restart policy`},
		"dns":          {"    dns: [notanip]\n", `dns "notanip" is not an IP address`},
		"expose":       {"    expose: [\"80-abc\"]\n", `expose "80-abc" is not a port`},
		"ipv4":         {"    networks:\n      default:\n        ipv4_address: 999.1.1.1\n", `ipv4_address "999.1.1.1" is not an IPv4 address`},
		"cpus":         {"    cpus: -3\n", "cpus -3 is negative"},
		"network-mode": {"    network_mode: service:nosuch\n", `"nosuch"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "value-"+name)
			// A second, valid service: the project network would be
			// created for it if the check came late.
			f.write("services:\n  ok:\n" + image + healthcheck + "  web:\n" + image + tt.yaml)
			configFailure(t, f, nil, f.hub("deploy"), tt.want, f.file)
			if name == "restart" {
				configFailure(t, f, nil, f.hub("plan"), tt.want)
				configFailure(t, f, nil, f.hub("validate"), tt.want)
			}
		})
	}
}
