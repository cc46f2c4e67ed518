package engine

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

// fakeDaemon answers the few routes New and VolumeInspect need on a unix
// socket, and the others with more (when given), until stopped.
func fakeDaemon(t *testing.T, sock string, more ...http.HandlerFunc) (stop func()) {
	t.Helper()
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			_, _ = w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/version"):
			_, _ = w.Write([]byte(`{"Version":"20.10.24","ApiVersion":"1.41","Os":"linux","Arch":"amd64"}`))
		case strings.Contains(r.URL.Path, "/volumes/"):
			_, _ = w.Write([]byte(`{"Name":"v","Labels":{}}`))
		case len(more) > 0:
			more[0](w, r)
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	return func() { _ = srv.Close() }
}

// After an engine went away, a call is made once, not retried; the first
// answer clears that.
func TestLostEngineCallsOnce(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	stop := fakeDaemon(t, sock)
	var retries atomic.Int32
	e, err := New(context.Background(), Options{
		Client:          []client.Opt{client.WithHost("unix://" + sock)},
		BreakerFailures: 100,
		OnRetry:         func(string, int, error, time.Duration) { retries.Add(1) },
	})
	require.NoError(t, err)
	defer e.Close()

	_, err = e.VolumeInspect(context.Background(), "v", client.VolumeInspectOptions{})
	require.NoError(t, err)
	require.False(t, e.Lost())

	stop()
	_, err = e.VolumeInspect(context.Background(), "v", client.VolumeInspectOptions{})
	var unreachable *UnreachableError
	require.ErrorAs(t, err, &unreachable)
	require.True(t, e.Lost(), "a refused connection after every retry marks the engine lost")
	require.EqualValues(t, 3, retries.Load(), "the first failure is retried (MaxTries 4)")

	retries.Store(0)
	_, err = e.VolumeInspect(context.Background(), "v", client.VolumeInspectOptions{})
	require.Error(t, err)
	require.Zero(t, retries.Load(), "a call to a lost engine is made once")

	stop = fakeDaemon(t, sock)
	defer stop()
	_, err = e.VolumeInspect(context.Background(), "v", client.VolumeInspectOptions{})
	require.NoError(t, err)
	require.False(t, e.Lost(), "an answer clears the loss")
}

// A slow answer (a call's deadline) is not a loss.
func TestTimeoutIsNotGone(t *testing.T) {
	require.False(t, gone(context.DeadlineExceeded))
	require.False(t, gone(&net.OpError{Op: "read", Err: timeoutErr{}}))
	require.True(t, gone(&net.OpError{Op: "dial", Err: errRefused{}}))
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

type errRefused struct{}

func (errRefused) Error() string { return "connection refused" }
