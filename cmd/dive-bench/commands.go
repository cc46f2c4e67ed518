package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// command runs one command in its own process group (so a Ctrl-C reaches
// only this program, which then stops the command with SIGINT), and returns
// its wall time from start to exit.
func (b *bench) command(ctx context.Context, env []string, name string, args ...string) (time.Duration, time.Time, []byte, error) {
	d, t0, out, _, err := b.commandRSS(ctx, env, name, args...)
	return d, t0, out, err
}

// commandRSS is command that also returns the command's peak resident set
// size in KiB (the kernel's ru_maxrss of the process; for docker compose, the
// CLI plugin it runs counts too, being its child).
func (b *bench) commandRSS(ctx context.Context, env []string, name string, args ...string) (time.Duration, time.Time, []byte, int64, error) {
	cctx, cancel := context.WithTimeout(ctx, b.o.cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	t0 := time.Now()
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	d := time.Since(t0)
	var rss int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss
		}
	}
	if b.o.verbose {
		fmt.Printf("$ %s %s  (%.2fs)\n%s\n", name, strings.Join(args, " "), d.Seconds(), out.String())
	}
	if err != nil && cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		err = fmt.Errorf("%w (timed out after %s)", err, b.o.cmdTimeout)
	}
	return d, t0, out.Bytes(), rss, err
}

// deploy runs the tool's deploy of p and keeps the largest peak RSS of its
// deploys in p.rssKB.
func (b *bench) deploy(ctx context.Context, p *project) (time.Duration, time.Time, []byte, error) {
	var args []string
	name := b.dive
	switch p.tool {
	case "dive", "dive-noprobe":
		args = []string{"hub", "deploy", "-f", p.file, "-p", p.name, "--state-dir", p.stateDir, "--wait-all", "--timeout", b.o.cmdTimeout.String()}
	case "demo":
		args = []string{"hub", "deploy", "--demo", "-p", p.name}
	default:
		name = "docker"
		args = []string{"compose", "-p", p.name, "-f", p.file, "up", "-d", "--wait", "--wait-timeout", strconv.Itoa(int(b.o.cmdTimeout.Seconds()))}
	}
	d, t0, out, rss, err := b.commandRSS(ctx, p.env, name, args...)
	p.rssKB = max(p.rssKB, rss)
	return d, t0, out, err
}

func (b *bench) down(ctx context.Context, p *project) (time.Duration, []byte, error) {
	var d time.Duration
	var out []byte
	var err error
	switch p.tool {
	case "dive", "dive-noprobe":
		d, _, out, err = b.command(ctx, p.env, b.dive, "hub", "down", "-f", p.file, "-p", p.name, "--state-dir", p.stateDir, "-v")
	case "demo":
		d, _, out, err = b.command(ctx, p.env, b.dive, "hub", "down", "--demo", "-p", p.name, "-v")
	default:
		d, _, out, err = b.command(ctx, p.env, "docker", "compose", "-p", p.name, "-f", p.file, "down", "-v")
	}
	return d, out, err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// lastLine is the last non-empty line of a command's output, shortened.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 240 {
		l = l[:240] + "…"
	}
	return l
}

func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    | " + strings.Join(lines, "\n    | ")
}
