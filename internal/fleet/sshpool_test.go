package fleet

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
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

func TestMain(m *testing.M) {
	if sock := os.Getenv(envFakeSSH); sock != "" && filepath.Base(os.Args[0]) == "ssh" {
		os.Exit(relay(sock))
	}
	os.Exit(m.Run())
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
	dir := t.TempDir()
	sock := filepath.Join(dir, "engine.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	var accepted atomic.Int32
	var release atomic.Pointer[chan struct{}]
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Api-Version", "1.41")
			if r.URL.Path == "/_ping" { // the dialer's, on each new connection
				w.WriteHeader(http.StatusOK)
				return
			}
			<-*release.Load() // every request of a burst is in flight at once
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

	bin := t.TempDir()
	self, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.Symlink(self, filepath.Join(bin, "ssh")))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(envFakeSSH, sock)

	u, err := url.Parse("ssh://root@engine.example")
	require.NoError(t, err)
	opts, _, err := clientOptions(&Engine{Name: "x", Host: u.String()}, DockerEnv{})
	require.NoError(t, err)
	// A fixed API version: no negotiation pings beside the bursts.
	cli, err := client.New(append(opts, client.WithAPIVersion("1.41"))...)
	require.NoError(t, err)
	defer cli.Close()

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
