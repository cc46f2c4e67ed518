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
	"sync"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/moby/moby/client"
)

// ConnectOptions are what every engine connection shares.
type ConnectOptions struct {
	CallTimeout time.Duration
	OnRetry     func(op string, attempt int, err error, wait time.Duration)
	// DockerConfig is the docker CLI's configuration folder, where docker
	// contexts live (the caller resolves $DOCKER_CONFIG; default ~/.docker).
	DockerConfig string
}

// Connect opens one engine of the fleet with its own client, API
// negotiation and ping. An unreachable engine's error names it.
func Connect(ctx context.Context, e *Engine, o ConnectOptions) (*engine.Engine, error) {
	opts, where, err := clientOptions(e, o.DockerConfig)
	if err != nil {
		return nil, fmt.Errorf("engine %s: %w", e.Describe(), err)
	}
	// The first contact gets the whole API deadline: an ssh handshake on a
	// busy machine takes seconds. A stopped local engine fails at once.
	eng, err := engine.New(ctx, engine.Options{CallTimeout: o.CallTimeout, PingTimeout: o.CallTimeout, OnRetry: o.OnRetry, Client: opts, Where: where})
	var unreachable *engine.UnreachableError
	if errors.As(err, &unreachable) {
		return nil, &UnreachableError{Engine: e.Describe(), Name: e.Name, Err: unreachable.Err}
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

// clientOptions turns an engine of the fleet file into client options and
// the address messages show. The default engine is DOCKER_HOST & co.
func clientOptions(e *Engine, dockerConfig string) ([]client.Opt, string, error) {
	host, tlsDir := e.Host, e.TLSDir
	if e.Context != "" {
		var err error
		if host, tlsDir, err = contextEndpoint(e.Context, dockerConfig); err != nil {
			return nil, "", err
		}
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
		d := sshDialer(u, e.SSHKey, e.SSHKnownHosts)
		// The host is a placeholder: every connection goes through ssh.
		// Idle connections are kept (an ssh handshake costs far more than
		// a request), up to the scheduler's usual concurrency.
		hc := &http.Client{Transport: &http.Transport{DialContext: d, MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second}}
		return []client.Opt{client.WithHTTPClient(hc), client.WithHost("http://docker.example.com"), client.WithDialContext(d)}, host, nil
	}
	return nil, "", fmt.Errorf("host %q: scheme %s is not unix, tcp or ssh", host, u.Scheme)
}

// contextEndpoint reads a docker context's engine endpoint the way the
// docker CLI stores it: <config>/contexts/meta/<sha256(name)>/meta.json,
// TLS material under contexts/tls/<sha256(name)>/docker/.
func contextEndpoint(name, cfg string) (host, tlsDir string, err error) {
	if cfg == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", err
		}
		cfg = filepath.Join(home, ".docker")
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
// does: each connection is `ssh USER@HOST docker system dial-stdio`, whose
// stdin/stdout carry the HTTP connection to the remote engine's socket.
// Keep-alives make a dropped connection fail within 15-20 s, not hang
// (shorter ones dropped live connections on a machine with load 80).
func sshDialer(u *url.URL, key, knownHosts string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	args := []string{"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"}
	if knownHosts != "" {
		args = append(args, "-o", "UserKnownHostsFile="+knownHosts, "-o", "StrictHostKeyChecking=yes")
	} else {
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
	// No ControlMaster multiplexing: without ControlPersist the master is
	// the first connection, and its end (an idle HTTP connection closed)
	// takes every channel on it down, the event stream included.
	args = append(args, "--", u.Hostname(), "docker", "system", "dial-stdio")
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return startCommandConn(exec.Command("ssh", args...), u.Host)
	}
}

// commandConn is a net.Conn over a command's stdin and stdout.
type commandConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	where  string

	mu     sync.Mutex
	stderr bytes.Buffer
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
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, &limitedWriter{c: c}
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

type limitedWriter struct{ c *commandConn }

func (w *limitedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	if w.c.stderr.Len() < 4096 {
		w.c.stderr.Write(p)
	}
	return len(p), nil
}

// errWith adds what ssh said on stderr to a read or write error.
func (c *commandConn) errWith(err error) error {
	if err == nil {
		return nil
	}
	c.mu.Lock()
	msg := bytes.TrimSpace(c.stderr.Bytes())
	c.mu.Unlock()
	if len(msg) == 0 {
		return fmt.Errorf("ssh connection to %s: %w", c.where, err)
	}
	return fmt.Errorf("ssh connection to %s: %w (ssh: %s)", c.where, err, msg)
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
