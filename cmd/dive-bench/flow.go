package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/standin"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func withEnv(env []string, kv ...string) []string {
	out := make([]string, 0, len(env)+len(kv))
	drop := map[string]bool{}
	for _, x := range kv {
		drop[strings.SplitN(x, "=", 2)[0]] = true
	}
	for _, x := range env {
		if !drop[strings.SplitN(x, "=", 2)[0]] {
			out = append(out, x)
		}
	}
	return append(out, kv...)
}

func withoutEnv(env []string, keys ...string) []string {
	drop := map[string]bool{}
	for _, k := range keys {
		drop[k] = true
	}
	var out []string
	for _, x := range env {
		if !drop[strings.SplitN(x, "=", 2)[0]] {
			out = append(out, x)
		}
	}
	return out
}

type demoResult struct {
	samples []*sample
	skipped string
}

func (b *bench) main() int {
	m := machineInfo()
	fmt.Printf("dive-bench: %d CPUs (%s), %s memory, %s, kernel %s\n", m.cpus, m.cpuModel, m.memory, m.os, m.kernel)
	fmt.Printf("load average at start: %s\n", m.loadStart)
	if m.load1Start > loadWarn {
		fmt.Printf("WARNING: load average %.2f > %.1f: other work on this machine skews the numbers; re-run on a quiet machine\n", m.load1Start, loadWarn)
	}
	if code := b.setup(&m); code != 0 {
		return code
	}
	defs, code := b.stackDefs()
	if code != 0 {
		return code
	}
	results, failures, code := b.runStacks(defs)
	if code != 0 {
		return code
	}
	demo, demoFailures := b.runDemo()
	failures += demoFailures
	if b.ctx.Err() != nil {
		return 130
	}
	m.loadEnd, _ = loadavg()

	rep := b.report(m, results, demo)
	fmt.Print("\n" + rep.text)
	if b.o.write != "" {
		if err := os.WriteFile(b.o.write, []byte(rep.markdown), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "dive-bench: write %s: %v\n", b.o.write, err)
			return 1
		}
		fmt.Printf("wrote %s\n", b.o.write)
	}
	if failures > 0 {
		fmt.Printf("%d measurement(s) failed (see above): the numbers are incomplete\n", failures)
		return 1
	}
	return 0
}

// setup snapshots the dive binary, ensures the stand-in image and detects
// docker compose; a non-zero result is the exit code.
func (b *bench) setup(m *machine) int {
	o := b.o
	var err error
	if b.tmp, err = os.MkdirTemp("", "dive-bench-"); err != nil {
		fmt.Fprintf(os.Stderr, "dive-bench: %v\n", err)
		return 1
	}
	b.rnd = randomHex(2)

	// A private copy of the binary: other builds may replace bin/dive while
	// the bench runs. The copy has the same bytes, hence the same stand-in image.
	src, err := filepath.Abs(o.dive)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dive-bench: %v\n", err)
		return 1
	}
	b.dive = filepath.Join(b.tmp, "dive")
	if err := copyFile(src, b.dive, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "dive-bench: copy %s: %v (build it with `make build`)\n", src, err)
		return 1
	}
	if out, err := exec.Command(b.dive, "version").Output(); err == nil {
		m.diveVersion = strings.TrimSpace(string(out))
	}
	if code := b.standinImage(m, src); code != 0 {
		return code
	}
	return b.detectCompose(m)
}

// standinImage ensures the stand-in image built from the dive binary.
func (b *bench) standinImage(m *machine, src string) int {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Minute)
	defer cancel()
	eng, err := engine.New(ctx, engine.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "dive-bench: %v\n", err)
		return 1
	}
	m.dockerServer, m.apiVersion = eng.ServerVersion(), eng.APIVersion()
	ref, built, err := standin.EnsureImage(ctx, eng, b.dive)
	eng.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dive-bench: %v\n", err)
		return 1
	}
	b.image = ref
	if built {
		fmt.Printf("built the stand-in image %s from %s\n", ref, src)
	}
	fmt.Printf("docker server %s (API %s), stand-in image %s\n", m.dockerServer, m.apiVersion, ref)
	b.env = withEnv(os.Environ(), "DIVE_STANDIN_IMAGE="+ref)
	b.env = withoutEnv(b.env, "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "COMPOSE_PROFILES", "DIVE_STATE_DIR")
	return 0
}

// detectCompose decides whether the compose columns run (-compose).
func (b *bench) detectCompose(m *machine) int {
	switch b.o.compose {
	case "off":
	case "auto", "on":
		out, err := exec.Command("docker", "compose", "version", "--short").Output()
		if err == nil {
			b.compose, b.composeV = true, strings.TrimSpace(string(out))
		} else if b.o.compose == "on" {
			fmt.Fprintln(os.Stderr, "dive-bench: -compose on, but `docker compose version` fails (scripts/install-compose.sh installs it)")
			return 1
		}
	default:
		fmt.Fprintln(os.Stderr, "dive-bench: -compose must be auto, on or off")
		return 2
	}
	if b.compose {
		m.compose = b.composeV
		fmt.Printf("docker compose %s\n", b.composeV)
	} else {
		m.compose = "not available (compose columns skipped)"
		fmt.Println("docker compose: not available; compose columns are skipped")
	}
	return 0
}

// stackDefs parses -stacks.
func (b *bench) stackDefs() ([]*stackDef, int) {
	o := b.o
	var defs []*stackDef
	for _, k := range strings.Split(o.stacks, ",") {
		switch strings.TrimSpace(k) {
		case "hub-shaped", "hub":
			defs = append(defs, hubStack(o.scale, o.rsInitDelay))
		case "chain-20", "chain":
			defs = append(defs, chainStack(20, o.chainDelay, o.interval))
		case "fanout-50", "fanout":
			defs = append(defs, fanoutStack(50, o.fanoutRoot, o.fanoutLeaf, o.interval))
		case "":
		default:
			d, ok := cadenceStack(strings.TrimSpace(k))
			if !ok {
				d, ok = flatStack(strings.TrimSpace(k))
			}
			if !ok {
				fmt.Fprintf(os.Stderr, "dive-bench: unknown stack %q (hub-shaped, chain-20, fanout-50, chain-N@INTERVAL, fanout-N@INTERVAL, flat-N)\n", k)
				return nil, 2
			}
			defs = append(defs, d)
		}
	}
	return defs, 0
}

// runStacks measures every stack with every tool, rotating which goes first.
func (b *bench) runStacks(defs []*stackDef) ([]*stackResult, int, int) {
	var results []*stackResult
	failures := 0
	for _, d := range defs {
		sr := &stackResult{def: d, file: filepath.Join(b.tmp, d.key, "docker-compose.yml")}
		sr.noprobeFile = filepath.Join(b.tmp, d.key, "docker-compose.noprobe.yml")
		err := os.MkdirAll(filepath.Dir(sr.file), 0o755)
		if err == nil {
			err = os.WriteFile(sr.file, []byte(composeFile(d)), 0o644)
		}
		if err == nil {
			err = os.WriteFile(sr.noprobeFile, []byte(composeFileProbes(d, false)), 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "dive-bench: %v\n", err)
			return nil, 0, 1
		}
		cp := d.criticalPath(appDelay, 0)
		fmt.Printf("\n== %s: %s\n   application critical path %.2fs: %s\n", d.key, d.about, cp.total.Seconds(), pathString(cp.path))
		results = append(results, sr)
		for run := 1; run <= b.o.runs && b.ctx.Err() == nil; run++ {
			failures += b.runTools(sr, run)
		}
	}
	return results, failures, 0
}

// runTools measures one run of a stack with each tool; it returns the
// number of failed measurements.
func (b *bench) runTools(sr *stackResult, run int) int {
	failures := 0
	tools := []string{"dive", "compose", "dive-noprobe"}
	// rotating order: each tool goes first in turn
	for i := 1; i < run; i++ {
		tools = append(tools[1:], tools[0])
	}
	for _, t := range tools {
		if t == "compose" && !b.compose || t == "dive-noprobe" && !b.o.noprobe || b.ctx.Err() != nil {
			continue
		}
		s := b.measure(sr, t, run)
		if s.err != nil || s.downErr != nil {
			failures++
		}
		switch t {
		case "dive":
			sr.dive = append(sr.dive, s)
		case "dive-noprobe":
			sr.noprobe = append(sr.noprobe, s)
		default:
			sr.compose = append(sr.compose, s)
		}
	}
	return failures
}

// runDemo measures the embedded demo hub (-demo).
func (b *bench) runDemo() (*demoResult, int) {
	demo := &demoResult{}
	failures := 0
	if !b.o.demo || b.ctx.Err() != nil {
		return demo, 0
	}
	fmt.Printf("\n== demo hub: dive hub deploy --demo (fresh, then no-op)\n")
	for run := 1; run <= b.o.runs && b.ctx.Err() == nil; run++ {
		s, err := b.measureDemo(run)
		if err != nil {
			demo.skipped = err.Error()
			break
		}
		if s.err != nil || s.downErr != nil {
			failures++
		}
		demo.samples = append(demo.samples, s)
	}
	return demo, failures
}

// measureDemo runs the embedded demo hub: fresh deploy, no-op deploy, down -v.
// Its host ports and shared network are moved so it cannot collide with a
// demo hub someone else runs on this machine.
func (b *bench) measureDemo(run int) (*sample, error) {
	p := b.newProject("demo", "demo", run, "")
	xdg := filepath.Join(b.tmp, "xdg-"+p.name)
	env := withEnv(withoutEnv(b.env, "DIVE_STANDIN_IMAGE"), "XDG_STATE_HOME="+xdg, "DIVE_SHARED_NETWORK="+p.name+"-shared")
	for _, k := range []string{"REDIS_HOST_PORT", "BACKEND_HOST_PORT", "FRONTEND_HOST_PORT", "KEYCLOAK_HTTP_PORT"} {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("no free port: %w", err)
		}
		env = withEnv(env, fmt.Sprintf("%s=%d", k, port))
	}
	p.env = env
	p.stateDir = filepath.Join(xdg, "dive")
	s := &sample{label: fmt.Sprintf("demo hub run %d, dive", run)}
	b.tr.add(p)
	label := fmt.Sprintf("[demo run %d/%d] dive   ", run, b.o.runs)
	seen := map[string]bool{}
	var demoDef = &stackDef{key: "demo"}
	wall, t0, out, err := b.deploy(b.ctx, p)
	if err != nil {
		s.err = fmt.Errorf("fresh deploy: %w", err)
		s.why = lastLine(out)
		fmt.Printf("%s fresh deploy FAILED: %v\n%s\n", label, err, tail(out, 25))
	} else {
		s.fresh = wall
		if f, err := newEventsFile(p.stateDir, p.name, seen); err == nil {
			if de, err := readEvents(f); err == nil {
				s.bd = analyze(demoDef, de, t0, wall)
			}
		}
		wall, t0, out, err = b.deploy(b.ctx, p)
		if err != nil {
			s.err = fmt.Errorf("no-op deploy: %w", err)
			s.why = lastLine(out)
			fmt.Printf("%s no-op deploy FAILED: %v\n%s\n", label, err, tail(out, 25))
		} else {
			s.noop = wall
			if f, err := newEventsFile(p.stateDir, p.name, seen); err == nil {
				if de, err := readEvents(f); err == nil {
					s.noopBD = analyze(demoDef, de, t0, wall)
				}
			}
		}
	}
	b.takeDown(p, label, s)
	if s.err == nil {
		extra := ""
		if s.noopBD != nil {
			extra = fmt.Sprintf("  (no-op: %d reused, deploy phase %s)", s.noopBD.reused, ms(s.noopBD.deploy))
		}
		fmt.Printf("%s fresh %6.2fs  no-op %5.2fs  down %s%s\n", label, s.fresh.Seconds(), s.noop.Seconds(), downText(s), extra)
	}
	return s, nil
}
