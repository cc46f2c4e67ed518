package fleet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envFakeSSH makes this test binary, run as `ssh`, relay its stdin and
// stdout to the unix socket it names, as `ssh HOST docker system
// dial-stdio` relays them to the remote engine's socket.
const envFakeSSH = "DIVE_TEST_FAKE_SSH_SOCKET"

// envFakeSSHLog names a file where the fake ssh logs each run's mode
// (inspect, forward, dial-stdio); envFakeSSHNoForward makes it refuse
// forwarding, as an sshd with AllowStreamLocalForwarding no does.
const (
	envFakeSSHLog       = "DIVE_TEST_FAKE_SSH_LOG"
	envFakeSSHNoForward = "DIVE_TEST_FAKE_SSH_NO_FORWARD"
)

func TestMain(m *testing.M) {
	if sock := os.Getenv(envFakeSSH); sock != "" && filepath.Base(os.Args[0]) == "ssh" {
		os.Exit(fakeSSH(sock, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeSSH plays `ssh` with the remote engine at sock: the remote docker
// CLI's `context inspect`, a forward of a local socket (-N -L), or
// `docker system dial-stdio`.
func fakeSSH(sock string, args []string) int {
	logMode := func(mode string) {
		if f := os.Getenv(envFakeSSHLog); f != "" {
			fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err == nil {
				_, _ = fh.WriteString(mode + "\n")
				_ = fh.Close()
			}
		}
	}
	for i, a := range args {
		switch {
		case a == "inspect":
			logMode("inspect")
			fmt.Println("unix://" + sock)
			return 0
		case a == "-L" && i+1 < len(args):
			logMode("forward")
			local, remote, _ := strings.Cut(args[i+1], ":")
			ln, err := net.Listen("unix", local)
			if err != nil {
				return 255
			}
			for {
				c, err := ln.Accept()
				if err != nil {
					return 255
				}
				if os.Getenv(envFakeSSHNoForward) != "" {
					// As an sshd that does not allow the forward: each
					// channel is refused when it opens.
					fmt.Fprintln(os.Stderr, "channel 2: open failed: administratively prohibited: open failed")
					c.Close()
					continue
				}
				go func() {
					defer c.Close()
					r, err := net.Dial("unix", remote)
					if err != nil {
						// A refused channel: the local connection closes.
						fmt.Fprintln(os.Stderr, "channel 2: open failed: connect failed: Connection refused")
						return
					}
					defer r.Close()
					go func() { _, _ = io.Copy(r, c) }()
					_, _ = io.Copy(c, r)
				}()
			}
		}
	}
	logMode("dial-stdio")
	return relay(sock)
}

func relay(sock string) int {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return 255
	}
	go func() {
		_, _ = io.Copy(c, os.Stdin)
		_ = c.(*net.UnixConn).CloseWrite()
	}()
	_, _ = io.Copy(os.Stdout, c)
	return 0
}

// An ssh engine's idle connections are kept for the next requests: each
// new one is an ssh session. The docker client's WithHost used to bring the
// pool down to 6 idle connections (30 s), so every burst of more than 6
// requests opened new sessions.
func TestSSHConnectionsReused(t *testing.T) {
	perSession(t)
	var release atomic.Pointer[chan struct{}]
	// every request of a burst is in flight at once
	sock, accepted, _ := fakeEngine(t, func() { <-*release.Load() })
	fakeSSHOnPath(t, sock)
	// A fixed API version: no negotiation pings beside the bursts.
	cli := sshClient(t, "ssh://root@engine.example")

	const burst = 10 // more than the 6 idle connections the client would keep
	for round := range 4 {
		gate := make(chan struct{})
		release.Store(&gate)
		// A connection goes back to the pool a moment after its answer was
		// read: the next burst starts once all of this one's are back.
		var backInPool atomic.Int32
		trace := &httptrace.ClientTrace{PutIdleConn: func(err error) {
			if err == nil {
				backInPool.Add(1)
			}
		}}
		var wg sync.WaitGroup
		for range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(context.Background(), trace), 30*time.Second)
				defer cancel()
				_, err := cli.ContainerList(ctx, client.ContainerListOptions{})
				assert.NoError(t, err)
			}()
		}
		// Let the burst open what it needs, then answer it.
		require.Eventually(t, func() bool { return accepted.Load() >= burst || round > 0 }, 20*time.Second, 10*time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		close(gate)
		wg.Wait()
		require.Eventually(t, func() bool { return backInPool.Load() >= burst }, 20*time.Second, 5*time.Millisecond,
			"round %d: every connection back in the pool", round)
	}
	assert.Equal(t, int32(burst), accepted.Load(), "the first burst opens %d sessions; the next three reuse them", burst)
}

// fakeSSHOnPath puts this test binary on PATH as `ssh`, reaching the
// engine at sock; it returns the file where each run logs its mode.
func fakeSSHOnPath(t *testing.T, sock string) string {
	t.Helper()
	bin := t.TempDir()
	self, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.Symlink(self, filepath.Join(bin, "ssh")))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(envFakeSSH, sock)
	log := filepath.Join(bin, "modes")
	t.Setenv(envFakeSSHLog, log)
	t.Cleanup(CloseTunnels)
	return log
}

func sshModes(t *testing.T, log string) []string {
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	return strings.Fields(string(b))
}

// fakeEngine answers a ping at once and every other request once wait
// returns (nil: at once); it counts its connections.
func fakeEngine(t *testing.T, wait func()) (string, *atomic.Int32, func()) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "engine.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	var accepted atomic.Int32
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Api-Version", "1.41")
			if r.URL.Path == "/_ping" { // the dialer's, on each new connection
				w.WriteHeader(http.StatusOK)
				return
			}
			if wait != nil {
				wait()
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("[]"))
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				accepted.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sock, &accepted, func() { _ = srv.Close() }
}

func sshClient(t *testing.T, host string) *client.Client {
	t.Helper()
	opts, _, err := clientOptions(&Engine{Name: "x", Host: host}, DockerEnv{})
	require.NoError(t, err)
	cli, err := client.New(append(opts, client.WithAPIVersion("1.41"))...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// burst sends n requests at once; every one must succeed.
func burst(t *testing.T, cli *client.Client, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := cli.ContainerList(ctx, client.ContainerListOptions{})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
}

// tunnelOf is the tunnel of this process to host.
func tunnelOf(t *testing.T, host string) *sshTunnel {
	t.Helper()
	tunnelsMu.Lock()
	defer tunnelsMu.Unlock()
	for k, tun := range tunnels {
		if strings.Contains(k, host) {
			return tun
		}
	}
	t.Fatalf("no tunnel to %s", host)
	return nil
}

// An ssh engine's connections are channels of one ssh connection that
// forwards the socket the remote docker CLI names: two ssh runs (the
// question, the forward) for any number of connections, where a session
// each used to run the remote shell and `docker system dial-stdio` per
// connection. When the tunnel breaks, connections fall back to a session
// each; CloseTunnels removes it.
func TestSSHTunnel(t *testing.T) {
	sock, accepted, stop := fakeEngine(t, nil)
	log := fakeSSHOnPath(t, sock)
	cli := sshClient(t, "ssh://root@tunnel.example")
	for range 3 {
		burst(t, cli, 10)
	}
	assert.Equal(t, []string{"inspect", "forward"}, sshModes(t, log), "one question and one forward, no session per connection")
	assert.GreaterOrEqual(t, accepted.Load(), int32(10), "a burst of 10 has 10 connections to the engine")
	tun := tunnelOf(t, "tunnel.example")
	require.NotEmpty(t, tun.local)
	dir := tun.dir
	assert.True(t, tunnelUp("ssh://root@tunnel.example"), "probes attach and stats stream through the tunnel")
	assert.False(t, tunnelUp("ssh://root@other.example"))

	// The remote engine stops while the tunnel lives: a new connection
	// fails at once with what ssh said, without a session of its own.
	stop()
	cli.Close()
	cli = sshClient(t, "ssh://root@tunnel.example")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err := cli.ContainerList(ctx, client.ContainerListOptions{})
	cancel()
	require.Error(t, err)
	assert.Contains(t, SSHSetupError("ssh://root@tunnel.example").Error(), "open failed: connect failed: Connection refused")
	assert.Equal(t, []string{"inspect", "forward"}, sshModes(t, log), "no session for an engine that does not answer")
	sock2, _, _ := fakeEngine(t, nil)
	require.NoError(t, os.Rename(sock2, sock)) // the engine is back at its socket
	burst(t, cli, 3)
	assert.Equal(t, []string{"inspect", "forward"}, sshModes(t, log), "the tunnel serves the engine once back")

	// The tunnel's ssh ends (a dropped connection): the next connections
	// are sessions of their own, and requests still succeed; dive says so.
	said := notices(t)
	require.NoError(t, tun.cmd.Process.Kill())
	<-tun.done
	require.Eventually(t, func() bool { return len(said()) > 0 }, 10*time.Second, 10*time.Millisecond)
	assert.Contains(t, said()[0], "ssh engine tunnel.example: the forward of its socket ended (ssh: signal: killed)")
	cli.Close()
	cli = sshClient(t, "ssh://root@tunnel.example")
	burst(t, cli, 3)
	modes := sshModes(t, log)
	assert.Equal(t, []string{"inspect", "forward"}, modes[:2])
	assert.Contains(t, modes[2:], "dial-stdio")
	assert.NotContains(t, modes[2:], "forward", "a broken tunnel is not set up again at once")
	assert.False(t, tunnelUp("ssh://root@tunnel.example"), "without the tunnel, probes and stats stay on pooled connections")

	CloseTunnels()
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "CloseTunnels removes the tunnel's socket folder: %v", err)
}

// An sshd that refuses to forward sockets leaves the docker CLI's way: a
// session per connection.
func TestSSHTunnelRefused(t *testing.T) {
	sock, _, _ := fakeEngine(t, nil)
	log := fakeSSHOnPath(t, sock)
	t.Setenv(envFakeSSHNoForward, "1")
	said := notices(t)
	cli := sshClient(t, "ssh://root@noforward.example")
	burst(t, cli, 4)
	modes := sshModes(t, log)
	require.GreaterOrEqual(t, len(modes), 3)
	assert.Equal(t, []string{"inspect", "forward"}, modes[:2])
	for _, m := range modes[2:] {
		assert.Equal(t, "dial-stdio", m)
	}
	tun := tunnelOf(t, "noforward.example")
	assert.Empty(t, tun.local)
	assert.Contains(t, tun.why, "administratively prohibited")
	require.Len(t, said(), 1, "the fallback is said once")
	assert.Contains(t, said()[0], "ssh engine noforward.example: no forward of its socket")
	assert.Contains(t, said()[0], "administratively prohibited")
	burst(t, cli, 2)
	assert.NotContains(t, sshModes(t, log)[2:], "forward", "a refusal is not asked again")
}

// notices records what dive says of its ssh tunnels during the test.
func notices(t *testing.T) func() []string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	SetNotice(func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() })
	t.Cleanup(func() { SetNotice(nil) })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// A dive killed before it removed its tunnel's folder: the next dive
// removes it, and leaves the folders of live processes alone.
func TestSweepTunnelDirs(t *testing.T) {
	tmp := t.TempDir()
	gone := exec.Command(os.Args[0], "-test.run=^$")
	require.NoError(t, gone.Run())
	mk := func(name, pid string) string {
		dir := filepath.Join(tmp, name)
		require.NoError(t, os.Mkdir(dir, 0o700))
		if pid != "" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "pid"), []byte(pid), 0o600))
		}
		return dir
	}
	dead := mk(tunnelDirPrefix+"dead", strconv.Itoa(gone.Process.Pid))
	live := mk(tunnelDirPrefix+"live", strconv.Itoa(os.Getppid()))
	mine := mk(tunnelDirPrefix+"mine", strconv.Itoa(os.Getpid()))
	nopid := mk(tunnelDirPrefix+"nopid", "")
	other := mk("other-dead", strconv.Itoa(gone.Process.Pid))
	sweepTunnelDirs(tmp)
	assert.NoDirExists(t, dead)
	for _, d := range []string{live, mine, nopid, other} {
		assert.DirExists(t, d)
	}
}

// perSession turns the tunnel off: the test is about the per-session dial.
func perSession(t *testing.T) {
	t.Helper()
	sshTunnels = false
	t.Cleanup(func() { sshTunnels = true })
}

// An engine that is stopped while its host answers: the tunnel comes up,
// dials fail at once with ssh's line (no session each), and the same
// tunnel serves the engine once it is back.
func TestSSHTunnelEngineStopped(t *testing.T) {
	sock, _, stop := fakeEngine(t, nil)
	stop()
	log := fakeSSHOnPath(t, sock)
	cli := sshClient(t, "ssh://root@stopped.example")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cli.ContainerList(ctx, client.ContainerListOptions{})
	require.Error(t, err)
	assert.Contains(t, SSHSetupError("ssh://root@stopped.example").Error(), "did not answer through the forward")
	assert.Equal(t, []string{"inspect", "forward"}, sshModes(t, log))
	sock2, _, _ := fakeEngine(t, nil)
	require.NoError(t, os.Rename(sock2, sock))
	burst(t, cli, 3)
	assert.Equal(t, []string{"inspect", "forward"}, sshModes(t, log), "the same tunnel, once the engine is back")
}
