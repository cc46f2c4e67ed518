package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// An ssh engine's connections go through one ssh connection per
// destination that forwards a local unix socket to the remote engine's
// socket (`ssh -N -L LOCAL:REMOTE`): a new connection is then a channel of
// that ssh connection, not a new ssh session. A session runs the remote
// user's shell and `docker system dial-stdio`, which cost this machine's
// test host ~1 CPU-second each (0.7 of it the shell's profile), and a
// deploy opens as many as it has requests in flight.
//
// The remote socket is the URL's path, else what the remote docker CLI
// itself would use (`docker context inspect`: its DOCKER_HOST or current
// context), so the engine is the one `docker system dial-stdio` would
// reach. When the remote side has no unix socket endpoint, refuses
// forwarding (sshd's AllowStreamLocalForwarding, a key's
// no-port-forwarding or restrict) or the tunnel breaks, connections fall
// back to a session each, the docker CLI's way.

// sshTunnels turns the tunnel on; tests of the per-session dial turn it off.
var sshTunnels = true

type sshTunnel struct {
	once  sync.Once
	ready chan struct{}
	// After ready: local is the forwarded socket ("" when there is no
	// tunnel); fatal is an ssh failure to reach the host at all, which a
	// session per connection would only repeat.
	local string
	fatal error
	why   string // why there is no tunnel (for the record)
	dir   string
	cmd   *exec.Cmd
	done  chan struct{}
	dead  atomic.Bool
}

var (
	tunnelsMu sync.Mutex
	tunnels   = map[string]*sshTunnel{}
)

func tunnelFor(key string) *sshTunnel {
	tunnelsMu.Lock()
	defer tunnelsMu.Unlock()
	t, ok := tunnels[key]
	if !ok {
		t = &sshTunnel{ready: make(chan struct{})}
		tunnels[key] = t
	}
	return t
}

// dropTunnel forgets t (a set-up that failed), so that the next dial sets
// up a new one.
func dropTunnel(key string, t *sshTunnel) {
	tunnelsMu.Lock()
	defer tunnelsMu.Unlock()
	if tunnels[key] == t {
		delete(tunnels, key)
	}
}

// CloseTunnels ends every ssh tunnel of this process and removes its
// socket (on Linux the ssh processes also die with dive).
func CloseTunnels() {
	tunnelsMu.Lock()
	defer tunnelsMu.Unlock()
	for _, t := range tunnels {
		t.close()
	}
}

func (t *sshTunnel) close() {
	t.dead.Store(true)
	if t.cmd != nil && t.cmd.Process != nil {
		_ = t.cmd.Process.Kill()
		<-t.done
	}
	if t.dir != "" {
		_ = os.RemoveAll(t.dir)
	}
}

// setUp runs once per destination: find the remote socket, start
// `ssh -N -L`, wait for the local socket and ping the engine through it.
// base are ssh's options; path the URL's socket path or "".
func (t *sshTunnel) setUp(ctx context.Context, base []string, host, where, path string, slots chan struct{}) {
	t.once.Do(func() {
		defer close(t.ready)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sshSetupTimeout)
		defer cancel()
		if path == "" {
			p, err := remoteSocket(ctx, base, host, where, slots)
			if err != nil {
				if errors.As(err, new(sshFailed)) {
					t.fatal = err
				}
				t.why = err.Error()
				return
			}
			if path = p; path == "" {
				t.why = "the remote docker's endpoint is not a unix socket"
				return
			}
		}
		if err := t.start(ctx, base, host, where, path, slots); err != nil {
			t.why = err.Error()
			t.close()
			t.local = ""
		}
	})
}

// remoteSocket asks the remote docker CLI which engine it uses: a unix
// socket's path, or "" for another kind of endpoint.
func remoteSocket(ctx context.Context, base []string, host, where string, slots chan struct{}) (string, error) {
	if err := take(ctx, slots); err != nil {
		return "", err
	}
	defer func() { <-slots }()
	args := append(append([]string{}, base...), "--", host, "docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}")
	cmd := exec.CommandContext(ctx, "ssh", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 512 {
			msg = msg[:512]
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 255 {
			err = sshFailed{ee}
		}
		return "", fmt.Errorf("ssh connection to %s: %w (ssh: %s)", where, err, strings.TrimPrefix(msg, "ssh: "))
	}
	ep := strings.TrimSpace(string(out))
	if p, ok := strings.CutPrefix(ep, "unix://"); ok && strings.HasPrefix(p, "/") && !strings.ContainsAny(p, "\n ") {
		return p, nil
	}
	return "", nil
}

func take(ctx context.Context, slots chan struct{}) error {
	select {
	case slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *sshTunnel) start(ctx context.Context, base []string, host, where, path string, slots chan struct{}) error {
	if err := take(ctx, slots); err != nil {
		return err
	}
	defer func() { <-slots }()
	dir, err := os.MkdirTemp("", "dive-ssh-")
	if err != nil {
		return err
	}
	t.dir = dir
	local := filepath.Join(dir, "engine.sock")
	args := append(append([]string{}, base...), "-N", "-o", "ExitOnForwardFailure=yes", "-o", "ControlMaster=no",
		"-L", local+":"+path, "--", host)
	t.cmd = exec.Command("ssh", args...)
	t.cmd.SysProcAttr = tunnelProcAttr()
	var stderr bytes.Buffer
	t.cmd.Stderr = &limitedBuffer{b: &stderr}
	if err := t.cmd.Start(); err != nil {
		return fmt.Errorf("start ssh: %w", err)
	}
	t.done = make(chan struct{})
	go func() { _ = t.cmd.Wait(); t.dead.Store(true); close(t.done) }()
	// The local socket appears once ssh is connected and listening.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(local); err == nil {
			break
		}
		select {
		case <-t.done:
			return fmt.Errorf("ssh -L ended: %s", strings.TrimSpace(stderr.String()))
		case <-ctx.Done():
			return fmt.Errorf("ssh -L: no local socket within %s", sshSetupTimeout)
		case <-tick.C:
		}
	}
	t.local = local
	c, err := t.dial(ctx, where)
	if err != nil {
		return fmt.Errorf("the remote engine at %s did not answer through the tunnel: %w", path, err)
	}
	return c.Close()
}

// dial opens a connection through the tunnel and pings the engine on it.
func (t *sshTunnel) dial(ctx context.Context, where string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", t.local)
	if err != nil {
		return nil, err
	}
	if err := pingConn(ctx, c, where, sshSetupTimeout, func(err error) error { return err }); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

type limitedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *limitedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 4096 {
		w.b.Write(p)
	}
	return len(p), nil
}

// sshFailed is ssh's own failure (exit 255: the host, the login), not the
// remote command's.
type sshFailed struct{ *exec.ExitError }

func (sshFailed) Error() string { return "could not connect" }
