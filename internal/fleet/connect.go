package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/moby/moby/client"
)

// ConnectOptions are what every engine connection shares.
type ConnectOptions struct {
	CallTimeout time.Duration
	OnRetry     func(op string, attempt int, err error, wait time.Duration)
	// Docker is the docker CLI's environment (the caller reads it).
	Docker DockerEnv
}

// DockerEnv is what the docker CLI reads to choose its engine.
type DockerEnv struct {
	Host    string // DOCKER_HOST
	Context string // DOCKER_CONTEXT
	// Config is the docker CLI's configuration folder, where docker
	// contexts live ($DOCKER_CONFIG; "" for ~/.docker).
	Config string
}

// Connect opens one engine of the fleet with its own client, API
// negotiation and ping. An unreachable engine's error names it.
func Connect(ctx context.Context, e *Engine, o ConnectOptions) (*engine.Engine, error) {
	opts, where, err := clientOptions(e, o.Docker)
	if err != nil {
		return nil, fmt.Errorf("engine %s: %w", e.Describe(), err)
	}
	// The first contact gets the whole API deadline: an ssh handshake on a
	// busy machine takes seconds. A stopped local engine fails at once.
	eng, err := NewEngine(ctx, opts, where, engine.Options{CallTimeout: o.CallTimeout, PingTimeout: o.CallTimeout, OnRetry: o.OnRetry})
	var unreachable *engine.UnreachableError
	if errors.As(err, &unreachable) {
		return nil, &UnreachableError{Engine: e.Describe(), Name: e.Name, Err: unreachable.Reason()}
	}
	if err != nil {
		return nil, fmt.Errorf("engine %s: %w", e.Describe(), err)
	}
	return eng, nil
}

// UnreachableError says which engine of the fleet did not answer.
type UnreachableError struct {
	Engine string // name and address
	Name   string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("engine %s is not reachable: %v\n  fix: start that engine, or correct its address in the fleet file (or --engine %s=URL)", e.Engine, e.Err, e.Name)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// NewEngine opens the engine that clientOptions or EnvironmentClient
// described (opts, where) with o's call settings. Over ssh a new
// connection may be a new ssh session, so probes and stats stay on pooled
// connections (engine.Options.CostlyDial), the first contact gets the call
// timeout (a handshake on a busy machine takes seconds), and a connection
// that failed says what ssh said, not the client's placeholder host.
func NewEngine(ctx context.Context, opts []client.Opt, where string, o engine.Options) (*engine.Engine, error) {
	o.Client, o.Where = opts, where
	if costlyDial(where) {
		o.CostlyDial = true
		if o.PingTimeout == 0 {
			o.PingTimeout = o.CallTimeout
		}
		o.DialError = func() error { return SSHSetupError(where) }
		o.CheapNow = func() bool { return tunnelUp(where) }
	}
	return engine.New(ctx, o)
}

// costlyDial: a new connection to the engine at where is an ssh session.
func costlyDial(where string) bool { return strings.HasPrefix(where, "ssh://") }

// EnvironmentClient is the engine the docker CLI would use, as client
// options and the address messages show: DOCKER_HOST (an ssh:// one through ssh, the others with
// DOCKER_TLS_VERIFY & co as the docker client reads them), else the docker
// context named by DOCKER_CONTEXT or made current by `docker context use`
// (env.Config: the docker CLI's config folder). nil options: the docker
// client's own reading of the environment (DOCKER_HOST & co, or the local
// socket).
func EnvironmentClient(env DockerEnv) ([]client.Opt, string, error) {
	return clientOptions(&Engine{}, env)
}

// environmentEngine is the engine the environment names, in the docker
// CLI's order: DOCKER_HOST, DOCKER_CONTEXT, the config's currentContext.
// It returns an ssh:// DOCKER_HOST or a context (not "default"); else
// nothing, and the docker client reads the environment itself.
func environmentEngine(env DockerEnv) (host, context string, err error) {
	if h := env.Host; h != "" {
		if strings.HasPrefix(h, "ssh://") {
			return h, "", nil
		}
		return "", "", nil
	}
	name := env.Context
	if name == "" {
		if name, err = currentContext(env.Config); err != nil {
			return "", "", err
		}
	}
	if name == "default" {
		name = ""
	}
	return "", name, nil
}

// currentContext is the context `docker context use` made current: the
// currentContext of the docker CLI's config.json ("" when none).
func currentContext(dockerConfig string) (string, error) {
	dir, err := dockerConfigDir(dockerConfig)
	if err != nil {
		return "", nil // no home: no config either
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	return cfg.CurrentContext, nil
}

func dockerConfigDir(cfg string) (string, error) {
	if cfg != "" {
		return cfg, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".docker"), nil
}

// engineAddress is where an engine of the fleet file is: its host (a
// context's endpoint; "" for the environment's own reading: DOCKER_HOST &
// co, or the local socket), the TLS folder, and whether ssh may accept a
// host key seen for the first time. It reads no more than the docker
// CLI's configuration. An engine without host or context is the
// environment's (environmentEngine).
func engineAddress(e *Engine, env DockerEnv) (host, tlsDir string, acceptNew bool, err error) {
	host, tlsDir = e.Host, e.TLSDir
	// A new host key is accepted on first use only for a fleet file's
	// ssh:// host without ssh_known_hosts (as documented); an engine of
	// the environment or a docker context follows ssh's own configuration,
	// as the docker CLI does.
	acceptNew = host != ""
	context := e.Context
	if host == "" && context == "" {
		if host, context, err = environmentEngine(env); err != nil {
			return "", "", false, err
		}
	}
	if context != "" {
		if host, tlsDir, err = contextEndpoint(context, env.Config); err != nil {
			return "", "", false, err
		}
	}
	return host, tlsDir, acceptNew, nil
}

// clientOptions turns an engine of the fleet file into client options and
// the address messages show (engineAddress; nil options and "" for the
// environment's engine).
func clientOptions(e *Engine, env DockerEnv) ([]client.Opt, string, error) {
	host, tlsDir, acceptNew, err := engineAddress(e, env)
	if err != nil {
		return nil, "", err
	}
	if host == "" {
		return nil, "", nil // the environment's engine
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, "", fmt.Errorf("host %q: %w", host, err)
	}
	switch u.Scheme {
	case "unix", "tcp":
		opts := []client.Opt{client.WithHost(host)}
		if tlsDir != "" {
			opts = append(opts, client.WithTLSClientConfig(filepath.Join(tlsDir, "ca.pem"), filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem")))
		}
		return opts, host, nil
	case "ssh":
		key, knownHosts := e.SSHKey, e.SSHKnownHosts
		if e.Host == "" && e.Context == "" {
			key, knownHosts = "", "" // the environment's engine: ssh's own configuration
		}
		d := sshDialer(u, key, knownHosts, acceptNew)
		// The host is a placeholder: every connection goes through ssh.
		// Idle connections are kept (an ssh handshake costs far more than
		// a request), up to the scheduler's usual concurrency. MaxIdleConns
		// must be set: left 0, the client's WithHost (go-connections'
		// ConfigureTransport) makes it 6 and the idle timeout 30 s, and
		// every burst of more than 6 requests paid new ssh sessions.
		hc := &http.Client{Transport: &http.Transport{DialContext: d, MaxIdleConns: sshIdleConns, MaxIdleConnsPerHost: sshIdleConns, IdleConnTimeout: 90 * time.Second}}
		return []client.Opt{client.WithHTTPClient(hc), client.WithHost("http://docker.example.com"), client.WithDialContext(d)}, host, nil
	}
	return nil, "", fmt.Errorf("host %q: scheme %s is not unix, tcp or ssh", host, u.Scheme)
}

// contextEndpoint reads a docker context's engine endpoint the way the
// docker CLI stores it: <config>/contexts/meta/<sha256(name)>/meta.json,
// TLS material under contexts/tls/<sha256(name)>/docker/.
func contextEndpoint(name, cfg string) (host, tlsDir string, err error) {
	if cfg, err = dockerConfigDir(cfg); err != nil {
		return "", "", err
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	b, err := os.ReadFile(filepath.Join(cfg, "contexts", "meta", id, "meta.json"))
	if err != nil {
		return "", "", fmt.Errorf("docker context %q not found (%v); list them with 'docker context ls'", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return "", "", fmt.Errorf("docker context %q: %w", name, err)
	}
	host = meta.Endpoints["docker"].Host
	if host == "" {
		return "", "", fmt.Errorf("docker context %q has no docker endpoint", name)
	}
	dir := filepath.Join(cfg, "contexts", "tls", id, "docker")
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err == nil {
		tlsDir = dir
	}
	return host, tlsDir, nil
}

// sshDialer reaches the engine the way the docker CLI's connection helper
// does: each connection is `ssh USER@HOST docker system dial-stdio` (with
// `--host unix://PATH` for a URL with a path), whose stdin/stdout carry the
// HTTP connection to the remote engine's socket. Keep-alives make a dropped
// connection fail within 15-20 s, not hang (shorter ones dropped live
// connections on a machine with load 80). acceptNew accepts a host key
// seen for the first time (a fleet file's engine without ssh_known_hosts);
// otherwise ssh's own configuration decides, as for the docker CLI.
func sshDialer(u *url.URL, key, knownHosts string, acceptNew bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	args := []string{"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"}
	switch {
	case knownHosts != "":
		args = append(args, "-o", "UserKnownHostsFile="+knownHosts, "-o", "StrictHostKeyChecking=yes")
	case acceptNew:
		args = append(args, "-o", "StrictHostKeyChecking=accept-new")
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	if key != "" {
		args = append(args, "-i", key, "-o", "IdentitiesOnly=yes")
	}
	if u.User != nil && u.User.Username() != "" {
		args = append(args, "-l", u.User.Username())
	}
	base := args
	// No ControlMaster multiplexing: without ControlPersist the master is
	// the first connection, and its end (an idle HTTP connection closed)
	// takes every channel on it down, the event stream included.
	args = append(append([]string{}, base...), "--", u.Hostname(), "docker")
	path := ""
	if u.Path != "" && u.Path != "/" {
		path = u.Path
		args = append(args, "--host", "unix://"+u.Path)
	}
	args = append(args, "system", "dial-stdio")
	dest := sshDest(u)
	slots := handshakeSlots(dest)
	td := tunnelDest{key: strings.Join(append(append([]string{}, base...), u.Hostname(), path), "\x00"),
		base: base, host: u.Hostname(), where: u.Host, path: path, dest: dest, slots: slots}
	nameTunnel(u.String(), td.key)
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		if sshTunnels {
			if c, fallback, err := td.dial(ctx); !fallback {
				return c, err
			}
		}
		if err := take(ctx, slots); err != nil {
			return nil, err
		}
		defer func() { <-slots }()
		c, err := startCommandConn(exec.Command("ssh", args...), u.Host)
		if err == nil {
			if err = c.ping(ctx, sshSetupTimeout); err != nil {
				c.Close()
			}
		}
		setSetupError(dest, err)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// sshIdleConns is how many idle connections to an ssh engine are kept.
const sshIdleConns = 32

// sshSetupTimeout bounds setting up one ssh connection: the handshake and
// the remote engine's first answer (22 s measured at load ~170).
const sshSetupTimeout = 45 * time.Second

// sshHandshakes is how many ssh sessions to one destination (user@host:port,
// whatever engines of dive reach it) may be in their set-up at once: sshd
// drops connections at random beyond MaxStartups (10 unauthenticated ones
// by default), and a deploy opens its first connections all at once. A
// variable for tests.
var sshHandshakes = 4

var (
	slotsMu sync.Mutex
	slotsOf = map[string]chan struct{}{}
	// setupErrs is the last failed set-up per destination (nil once one
	// succeeds): the docker client reports a failed dial as "Cannot
	// connect to the Docker daemon at <its placeholder host>".
	setupErrs = map[string]error{}
)

func setSetupError(dest string, err error) {
	slotsMu.Lock()
	defer slotsMu.Unlock()
	setupErrs[dest] = err
}

// SSHSetupError is why the last ssh session to the engine at where (an
// ssh:// URL) could not be set up, or nil: what ssh or the remote docker
// said, for the message of a first contact that failed.
func SSHSetupError(where string) error {
	u, err := url.Parse(where)
	if err != nil || u.Scheme != "ssh" {
		return nil
	}
	slotsMu.Lock()
	defer slotsMu.Unlock()
	return setupErrs[sshDest(u)]
}

func sshDest(u *url.URL) string { return u.User.Username() + "@" + u.Host }

func handshakeSlots(dest string) chan struct{} {
	slotsMu.Lock()
	defer slotsMu.Unlock()
	ch, ok := slotsOf[dest]
	if !ok {
		ch = make(chan struct{}, sshHandshakes)
		slotsOf[dest] = ch
	}
	return ch
}

// pingRequest is what a new ssh connection first carries: its answer says
// the session is up and the remote engine answers, before the connection
// is handed to the HTTP client.
const pingRequest = "HEAD /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: dive-ssh-dial\r\n\r\n"

// ping sends HEAD /_ping and reads the answer's head (no body follows a
// HEAD), within limit.
func (c *commandConn) ping(ctx context.Context, limit time.Duration) error {
	return pingConn(ctx, c, c.where, limit, c.ended)
}

// pingConn sends HEAD /_ping on c and reads the answer's head within
// limit; ended turns a read error into the error to report.
func pingConn(ctx context.Context, c net.Conn, where string, limit time.Duration, ended func(error) error) error {
	done := make(chan error, 1)
	go func() {
		if _, err := c.Write([]byte(pingRequest)); err != nil {
			done <- err
			return
		}
		var head []byte
		buf := make([]byte, 512)
		for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			n, err := c.Read(buf)
			head = append(head, buf[:n]...)
			if err != nil {
				done <- ended(err)
				return
			}
			if len(head) > 16<<10 || bytes.Contains(head, []byte("\r\n\r\n")) && !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
				break
			}
		}
		if !bytes.HasPrefix(head, []byte("HTTP/1.")) || !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			line, _, _ := bytes.Cut(head, []byte("\n"))
			done <- fmt.Errorf("ssh connection to %s: the remote end did not answer as a docker engine: %q", where, bytes.TrimSpace(line))
			return
		}
		done <- nil
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		c.Close()
		<-done
		return fmt.Errorf("ssh connection to %s: no answer from the remote engine within %s", where, limit)
	case <-ctx.Done():
		c.Close()
		<-done
		return ctx.Err()
	}
}

// ended is a read error of a connection whose command may have ended: an
// EOF then carries what ssh said (waiting a moment for it to exit).
func (c *commandConn) ended(err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	return c.errWith(errors.New("the connection closed before the remote engine answered"))
}

// commandConn is a net.Conn over a command's stdin and stdout.
type commandConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	where  string

	stderr tailBuffer
	once   sync.Once
	done   chan struct{}
}

func startCommandConn(cmd *exec.Cmd, where string) (*commandConn, error) {
	c := &commandConn{cmd: cmd, where: where, done: make(chan struct{})}
	// Own pipes, not StdinPipe/StdoutPipe: Wait must not close our ends
	// while net/http still reads the last bytes.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, &c.stderr
	c.stdin, c.stdout = inW, outR
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// errWith adds what ssh said on stderr to a read or write error.
func (c *commandConn) errWith(err error) error {
	if err == nil {
		return nil
	}
	msg := c.stderr.text()
	if msg == "" {
		return fmt.Errorf("ssh connection to %s: %w", c.where, err)
	}
	return fmt.Errorf("ssh connection to %s: %w (ssh: %s)", c.where, err, strings.TrimPrefix(msg, "ssh: "))
}

func (c *commandConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if errors.Is(err, io.EOF) {
		// net/http expects io.EOF itself on a closed connection.
		return n, err
	}
	return n, c.errWith(err)
}

func (c *commandConn) Write(p []byte) (int, error) {
	n, err := c.stdin.Write(p)
	return n, c.errWith(err)
}

// Close ends the command: stdin first, then a kill if it lingers.
func (c *commandConn) Close() error {
	c.once.Do(func() {
		_ = c.stdin.Close()
		select {
		case <-c.done:
		case <-time.After(200 * time.Millisecond):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		_ = c.stdout.Close()
	})
	return nil
}

type dummyAddr string

func (a dummyAddr) Network() string { return "ssh" }
func (a dummyAddr) String() string  { return string(a) }

func (c *commandConn) LocalAddr() net.Addr                { return dummyAddr("local") }
func (c *commandConn) RemoteAddr() net.Addr               { return dummyAddr(c.where) }
func (c *commandConn) SetDeadline(t time.Time) error      { return nil }
func (c *commandConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *commandConn) SetWriteDeadline(t time.Time) error { return nil }
