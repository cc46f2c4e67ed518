package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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

// tunnelRetry is how long a tunnel that failed for a reason that may pass
// (a slow or restarting engine, a dropped connection) is left aside before
// a new one is tried; a refusal (forwarding prohibited, no unix socket)
// stays for the process.
var tunnelRetry = 30 * time.Second

var (
	noticeMu sync.Mutex
	noticeFn func(string)
)

// SetNotice sets where dive says that an ssh engine's connections went
// back to a session each (slower: an ssh login per connection) and why;
// nil says nothing.
func SetNotice(f func(string)) {
	noticeMu.Lock()
	defer noticeMu.Unlock()
	noticeFn = f
}

func notice(msg string) {
	noticeMu.Lock()
	f := noticeFn
	noticeMu.Unlock()
	if f != nil {
		f(msg)
	}
}

type sshTunnel struct {
	once  sync.Once
	ready chan struct{}
	// After ready: local is the forwarded socket ("" when there is no
	// tunnel); fatal is an ssh failure to reach the host at all, which a
	// session per connection would only repeat.
	local   string
	path    string // the remote socket
	fatal   error
	why     string // why there is no tunnel (for the record)
	exiting bool   // dive closed the tunnel during its set-up
	// stderr is the end of what the tunnel's ssh said.
	stderr tailBuffer
	dead   atomic.Bool

	mu     sync.Mutex // guards the process and its folder against close
	closed bool
	dir    string
	cmd    *exec.Cmd
	done   chan struct{} // closed when the tunnel's ssh has ended
}

var (
	tunnelsMu sync.Mutex
	tunnels   = map[string]*sshTunnel{}
)

// tunnelOfURL is the tunnel key of each ssh:// address a dialer was made
// for (tunnelUp).
var tunnelOfURL = map[string]string{}

func nameTunnel(where, key string) {
	tunnelsMu.Lock()
	defer tunnelsMu.Unlock()
	tunnelOfURL[where] = key
}

// tunnelUp says whether connections to the engine at where (an ssh://
// address) go through a live tunnel now.
func tunnelUp(where string) bool {
	u, err := url.Parse(where)
	if err != nil {
		return false
	}
	tunnelsMu.Lock()
	t := tunnels[tunnelOfURL[u.String()]]
	tunnelsMu.Unlock()
	if t == nil {
		return false
	}
	select {
	case <-t.ready:
		return t.local != "" && !t.dead.Load()
	default:
		return false
	}
}

func tunnelFor(key string) *sshTunnel {
	tunnelsMu.Lock()
	defer tunnelsMu.Unlock()
	t, ok := tunnels[key]
	if !ok {
		t = &sshTunnel{ready: make(chan struct{}), done: make(chan struct{})}
		tunnels[key] = t
	}
	return t
}

// dropTunnel forgets t, so that the next dial sets up a new one.
func dropTunnel(key string, t *sshTunnel) {
	tunnelsMu.Lock()
	defer tunnelsMu.Unlock()
	if tunnels[key] == t {
		delete(tunnels, key)
	}
}

// CloseTunnels ends every ssh tunnel of this process and removes its
// socket (on Linux the ssh processes also die with dive). A tunnel still
// being set up does not start its ssh afterwards.
func CloseTunnels() {
	tunnelsMu.Lock()
	all := make([]*sshTunnel, 0, len(tunnels))
	for k, t := range tunnels {
		all = append(all, t)
		delete(tunnels, k)
	}
	tunnelsMu.Unlock()
	for _, t := range all {
		t.close()
	}
}

func (t *sshTunnel) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	t.dead.Store(true)
	if t.cmd != nil && t.cmd.Process != nil {
		_ = t.cmd.Process.Kill()
		<-t.done // WaitDelay bounds it
	}
	if t.dir != "" {
		_ = os.RemoveAll(t.dir)
		t.dir = ""
	}
}

// tunnelDest is what a dialer knows of its tunnel: the key of the
// tunnels map, ssh's options (base), the host for ssh and for messages
// (where: host:port), the URL's socket path, the destination whose set-up
// slots and last error it shares.
type tunnelDest struct {
	key, host, where, path, dest string
	base                         []string
	slots                        chan struct{}
}

// dial is a connection through the destination's tunnel, set up on first
// use; fallback: there is no tunnel now, the connection is a session of
// its own.
func (d tunnelDest) dial(ctx context.Context) (c net.Conn, fallback bool, err error) {
	t := tunnelFor(d.key)
	select {
	case <-t.ready:
	default:
		// Its own goroutine: set-up keeps its deadline whatever this
		// dial's context does.
		go t.setUp(ctx, d)
	}
	select {
	case <-t.ready:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	if t.fatal != nil {
		// ssh could not reach the host: the next dial tries anew (the
		// engine's retries, a host back from a reboot).
		dropTunnel(d.key, t)
		setSetupError(d.dest, t.fatal)
		return nil, false, t.fatal
	}
	if t.local == "" || t.dead.Load() {
		return nil, true, nil
	}
	said := t.stderr.written()
	c, err = t.dial(ctx, d.where)
	if err == nil {
		setSetupError(d.dest, nil)
		return c, false, nil
	}
	if ctx.Err() != nil {
		return nil, false, ctx.Err()
	}
	select {
	case <-t.done:
		// The tunnel's ssh ended (dead until set up anew): a session of
		// its own, which also says what ssh says when the host is gone.
		return nil, true, nil
	case <-time.After(100 * time.Millisecond):
		// The tunnel is up: the remote engine is not.
		err = t.unanswered(d.where, said, err)
		setSetupError(d.dest, err)
		return nil, false, err
	}
}

// setUp runs once per tunnel: find the remote socket, start `ssh -N -L`,
// wait for the local socket and ping the engine through it. base are
// ssh's options; path the URL's socket path or "". A set-up that failed
// for a reason that may pass is dropped after tunnelRetry.
func (t *sshTunnel) setUp(ctx context.Context, d tunnelDest) {
	t.once.Do(func() {
		defer close(t.ready)
		defer func() {
			if t.fatal == nil && t.local == "" && !t.exiting {
				notice(fmt.Sprintf("ssh engine %s: no forward of its socket (%s); each connection is an ssh session of its own, which costs an ssh login", d.where, t.why))
			}
		}()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sshSetupTimeout)
		defer cancel()
		retryLater := func() { time.AfterFunc(tunnelRetry, func() { dropTunnel(d.key, t) }) }
		path := d.path
		if path == "" {
			p, err := remoteSocket(ctx, d)
			if err != nil {
				if errors.Is(err, errSSHFailed) {
					t.fatal = err
				} else {
					retryLater()
				}
				t.why = err.Error()
				return
			}
			if path = p; path == "" {
				t.why = "the remote docker's endpoint is not a unix socket"
				return
			}
		}
		if strings.ContainsAny(path, ":\\") {
			t.why = "the remote socket's path has a character ssh -L cannot take: " + path
			return
		}
		err := t.start(ctx, d, path)
		if err == nil {
			// A tunnel whose ssh ends (a dropped connection) is set up
			// anew after a while; meanwhile connections are sessions.
			go func() {
				<-t.done
				retryLater()
				t.mu.Lock()
				closed := t.closed
				t.mu.Unlock()
				if !closed {
					notice(fmt.Sprintf("ssh engine %s: the forward of its socket ended (%s); each connection is an ssh session of its own until a new forward is set up (in %s)", d.where, t.ended(), tunnelRetry))
				}
			}()
			return
		}
		t.why, t.exiting = err.Error(), errors.Is(err, errDiveExiting)
		t.close()
		t.local = ""
		switch {
		case errors.Is(err, errSSHFailed):
			t.fatal = err
		case !strings.Contains(err.Error(), "administratively prohibited"):
			retryLater()
		}
	})
}

// remoteSocket asks the remote docker CLI which engine it uses: a unix
// socket's path, or "" for another kind of endpoint.
func remoteSocket(ctx context.Context, d tunnelDest) (string, error) {
	if err := take(ctx, d.slots); err != nil {
		return "", err
	}
	defer func() { <-d.slots }()
	// The remote login shell parses the command: the template is quoted.
	args := append(append([]string{}, d.base...), "--", d.host, "docker", "context", "inspect", "--format", "'{{.Endpoints.docker.Host}}'")
	cmd := exec.CommandContext(ctx, "ssh", args...)
	// A ProxyCommand's child may keep ssh's pipes open after ssh ended.
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = tunnelProcAttr()
	var stderr tailBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := stderr.text()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 255 {
			err = errSSHFailed
		}
		return "", fmt.Errorf("ssh connection to %s: %w (ssh: %s)", d.where, err, strings.TrimPrefix(msg, "ssh: "))
	}
	// The last line: a login profile may print before it.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	ep := strings.TrimSpace(lines[len(lines)-1])
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

func (t *sshTunnel) start(ctx context.Context, d tunnelDest, path string) error {
	if err := take(ctx, d.slots); err != nil {
		return err
	}
	defer func() { <-d.slots }()
	where := d.where
	sweepOnce.Do(func() { sweepTunnelDirs(os.TempDir()) })
	dir, err := os.MkdirTemp("", tunnelDirPrefix)
	if err != nil {
		return err
	}
	// Whose folder it is, for the sweep of a later dive when this one is
	// killed before it could remove it.
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	local := filepath.Join(dir, "engine.sock")
	// Its own connection (ControlPath=none): as the client of a user's
	// ControlMaster the forward would live in that master, beyond dive.
	args := append(append([]string{}, d.base...), "-N", "-o", "ExitOnForwardFailure=yes", "-o", "ControlPath=none",
		"-L", local+":"+path, "--", d.host)
	cmd := exec.Command("ssh", args...)
	cmd.SysProcAttr = tunnelProcAttr()
	cmd.Stderr = &t.stderr
	cmd.WaitDelay = 2 * time.Second
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = os.RemoveAll(dir)
		return errDiveExiting
	}
	t.dir, t.cmd = dir, cmd
	if err := cmd.Start(); err != nil {
		t.cmd = nil
		t.mu.Unlock()
		return fmt.Errorf("start ssh: %w", err)
	}
	go func() { _ = cmd.Wait(); t.dead.Store(true); close(t.done) }()
	t.mu.Unlock()
	// The local socket appears once ssh is connected and listening.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(local); err == nil {
			break
		}
		select {
		case <-t.done:
			err := fmt.Errorf("ssh connection to %s: ssh -L ended (ssh: %s)", where, t.stderr.last())
			if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 255 {
				err = fmt.Errorf("ssh connection to %s: %w (ssh: %s)", where, errSSHFailed, t.stderr.last())
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("ssh -L: no local socket within %s", sshSetupTimeout)
		case <-tick.C:
		}
	}
	t.local, t.path = local, path
	said := t.stderr.written()
	c, err := t.dial(ctx, where)
	if err != nil {
		why := t.stderr.since(said)
		if strings.Contains(why, "connect failed") && !t.dead.Load() {
			// The forward works; the engine behind it does not answer
			// (stopped, restarting): the tunnel stays, and connections
			// through it fail at once with ssh's line until it answers.
			return nil
		}
		return fmt.Errorf("the remote engine at %s did not answer through the tunnel: %w (ssh: %s)", path, err, why)
	}
	return c.Close()
}

const tunnelDirPrefix = "dive-ssh-"

var sweepOnce sync.Once

// sweepTunnelDirs removes the tunnel folders in tmp of dive processes that
// are gone (killed before CloseTunnels; their ssh died with them): a
// folder whose pid file names no live process.
func sweepTunnelDirs(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, tunnelDirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// ended says how the tunnel's ssh ended: its exit status and its last line, unless
// that line is about a channel (an engine that did not answer earlier).
func (t *sshTunnel) ended() string {
	why := "ssh: " + t.cmd.ProcessState.String()
	if last := t.stderr.last(); last != "" && !channelLine.MatchString(last) {
		why += ": " + strings.TrimPrefix(last, "ssh: ")
	}
	return why
}

// channelLine is ssh's line about one forwarded connection.
var channelLine = regexp.MustCompile(`^channel \d+: `)

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

// tailBuffer keeps the end (4 KiB) of what a command (ssh) wrote.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
	n  int // bytes written in all
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += len(p)
	w.b = append(w.b, p...)
	if n := len(w.b); n > 4096 {
		w.b = append([]byte(nil), w.b[n-4096:]...)
	}
	return len(p), nil
}

// written counts what ssh wrote so far.
func (w *tailBuffer) written() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// since is the last line ssh wrote after it had written n bytes, waiting
// up to 100 ms for one (ssh logs a refused channel as it closes ours; the
// copy of its stderr may lag a moment); "" when it said nothing new.
func (w *tailBuffer) since(n int) string {
	for deadline := time.Now().Add(100 * time.Millisecond); w.written() <= n && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if w.written() <= n {
		return ""
	}
	return w.last()
}

// text is what is kept of what ssh wrote, trimmed.
func (w *tailBuffer) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.b))
}

// last is the last line ssh wrote.
func (w *tailBuffer) last() string {
	lines := strings.Split(w.text(), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// unanswered is the error of a connection through a live tunnel that the
// remote engine did not answer (ssh had written said bytes before it): the
// forward works, the remote socket does not (the engine stopped). A
// session of its own would cost an ssh login to say the same.
func (t *sshTunnel) unanswered(where string, said int, err error) error {
	why := t.stderr.since(said)
	if why == "" {
		why = err.Error()
	}
	return fmt.Errorf("ssh connection to %s: the remote engine at %s did not answer through the forward of its socket (ssh: %s)", where, t.path, strings.TrimPrefix(why, "ssh: "))
}

// errDiveExiting: the tunnel was closed while it was being set up.
var errDiveExiting = errors.New("dive is exiting")

// errSSHFailed is ssh's own failure (exit 255: the host, the login), not
// the remote command's: a session per connection would only repeat it.
var errSSHFailed = errors.New("could not connect")
