package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContextEndpoint(t *testing.T) {
	cfg := t.TempDir()
	sum := sha256.Sum256([]byte("deu"))
	id := hex.EncodeToString(sum[:])
	meta := filepath.Join(cfg, "contexts", "meta", id)
	require.NoError(t, os.MkdirAll(meta, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(meta, "meta.json"),
		[]byte(`{"Name":"deu","Endpoints":{"docker":{"Host":"tcp://10.1.2.3:2376","SkipTLSVerify":false}}}`), 0o644))
	tlsDir := filepath.Join(cfg, "contexts", "tls", id, "docker")
	require.NoError(t, os.MkdirAll(tlsDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tlsDir, "ca.pem"), nil, 0o644))

	host, dir, err := contextEndpoint("deu", cfg)
	require.NoError(t, err)
	assert.Equal(t, "tcp://10.1.2.3:2376", host)
	assert.Equal(t, tlsDir, dir)

	_, _, err = contextEndpoint("nope", cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `docker context "nope" not found`)
}

// A stopped local engine fails at once, naming the engine.
func TestConnectUnreachableNamesTheEngine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err := Connect(ctx, &Engine{Name: "two", Host: "unix://" + sock}, ConnectOptions{CallTimeout: 5 * time.Second})
	require.Error(t, err)
	var ue *UnreachableError
	require.True(t, errors.As(err, &ue), "%v", err)
	assert.Contains(t, err.Error(), "engine two (unix://"+sock+") is not reachable")
	assert.Contains(t, err.Error(), "--engine two=URL")
	assert.Less(t, time.Since(t0), 5*time.Second, "hang guard: a missing socket is refused at once")
}

// The ssh dialer speaks through a command's stdin and stdout.
func TestCommandConn(t *testing.T) {
	c, err := startCommandConn(exec.Command("cat"), "test")
	require.NoError(t, err)
	_, err = c.Write([]byte("ping\n"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	n, err := c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "ping\n", string(buf[:n]))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close twice is fine")
}

// An ssh destination's connections are set up at most sshHandshakes at a
// time (sshd drops connections beyond MaxStartups, 10 by default): a slot
// is held from the start of `ssh` until the remote engine answered the
// dialer's ping. A fake ssh on PATH logs its start, answers the ping after
// a while, then stays open.
func TestSSHHandshakesBounded(t *testing.T) {
	perSession(t)
	bin := t.TempDir()
	log := filepath.Join(bin, "log")
	script := "#!/bin/sh\necho start >>" + log + "\nsleep 0.3\necho answer >>" + log +
		"\nprintf 'HTTP/1.1 200 OK\\r\\nApi-Version: 1.41\\r\\n\\r\\n'\nexec cat >/dev/null\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "ssh"), []byte(script), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	u, err := url.Parse("ssh://root@handshakes.example:2222")
	require.NoError(t, err)
	conns := 3 * sshHandshakes
	var wg sync.WaitGroup
	opened := make(chan net.Conn, conns)
	for i := range conns {
		// Two engines of dive reaching one sshd share its slots.
		dial := sshDialer(u, "", "", i%2 == 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := dial(ctx, "tcp", "docker.example.com:80")
			if assert.NoError(t, err) {
				opened <- c
			}
		}()
	}
	wg.Wait()
	close(opened)
	for c := range opened {
		require.NoError(t, c.Close())
	}
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Fields(string(b))
	require.Len(t, lines, 2*conns)
	inHandshake, most := 0, 0
	for _, l := range lines {
		if l == "start" {
			inHandshake++
		} else {
			inHandshake--
		}
		most = max(most, inHandshake)
	}
	assert.NoError(t, SSHSetupError(u.String()), "the last set-up succeeded")
	assert.LessOrEqual(t, most, sshHandshakes, "at most %d ssh sessions in their set-up at once: %v", sshHandshakes, lines)
	assert.GreaterOrEqual(t, most, 2, "set-ups do overlap: %v", lines)
}

// A session that is not a docker engine's (ssh fails, or the remote runs
// something else) fails the dial with what the remote end said.
func TestSSHDialNotAnEngine(t *testing.T) {
	bin := t.TempDir()
	t.Cleanup(CloseTunnels)
	runs := filepath.Join(bin, "runs")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "ssh"), []byte("#!/bin/sh\necho run >>"+runs+"\necho 'root@x: Permission denied (publickey).' >&2\nexit 255\n"), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	u, err := url.Parse("ssh://root@denied.example")
	require.NoError(t, err)
	dial := sshDialer(u, "", "", false)
	for range 2 {
		_, err = dial(context.Background(), "tcp", "x:80")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Permission denied (publickey)")
		assert.Contains(t, err.Error(), "denied.example")
	}
	b, err := os.ReadFile(runs)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(b), "run"), "ssh's own failure is not retried by a session, and the next dial tries anew")
	// Kept for the message of a first contact that failed.
	require.Error(t, SSHSetupError("ssh://root@denied.example"))
	assert.Contains(t, SSHSetupError("ssh://root@denied.example").Error(), "Permission denied (publickey)")
	assert.NoError(t, SSHSetupError("ssh://other@denied.example"))
}

// The ssh command is the docker CLI's helper's: user, port, the socket of
// a URL with a path; a new host key accepted only when asked.
func TestSSHCommandLine(t *testing.T) {
	perSession(t)
	t.Cleanup(CloseTunnels)
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "ssh"), []byte("#!/bin/sh\necho \"$@\" >>"+argsFile+"\nexit 255\n"), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	u, err := url.Parse("ssh://me@gbr.example:2200/run/user/1000/docker.sock")
	require.NoError(t, err)
	for _, acceptNew := range []bool{false, true} {
		_ = os.Remove(argsFile)
		_, err = sshDialer(u, "", "", acceptNew)(context.Background(), "tcp", "x:80")
		require.Error(t, err)
		b, err := os.ReadFile(argsFile)
		require.NoError(t, err)
		args := string(b)
		assert.Contains(t, args, "-p 2200")
		assert.Contains(t, args, "-l me")
		assert.Contains(t, args, "-- gbr.example docker --host unix:///run/user/1000/docker.sock system dial-stdio")
		assert.Equal(t, acceptNew, strings.Contains(args, "StrictHostKeyChecking=accept-new"), args)
	}
	// The tunnel forwards the URL's socket (no need to ask the remote
	// docker CLI), with the same options.
	sshTunnels = true
	_ = os.Remove(argsFile)
	_, err = sshDialer(u, "", "", true)(context.Background(), "tcp", "x:80")
	require.Error(t, err)
	b, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 1, "the forward; ssh's own failure (exit 255) is not repeated by a session: %q", lines)
	assert.Regexp(t, `^-o BatchMode=yes .*-p 2200 -l me -N -o ExitOnForwardFailure=yes -o ControlPath=none -L /\S+/engine\.sock:/run/user/1000/docker\.sock -- gbr\.example$`, lines[0])
	assert.Contains(t, lines[0], "StrictHostKeyChecking=accept-new")
}

// The environment's engine is the docker CLI's: DOCKER_HOST first (only an
// ssh:// one needs dive's dialer), then DOCKER_CONTEXT, then the context
// `docker context use` made current; "default" is the local engine.
func TestEnvironmentEngine(t *testing.T) {
	cfg := t.TempDir()
	writeConfig := func(current string) {
		require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"`+current+`"}`), 0o644))
	}
	for _, tc := range []struct {
		host, ctxEnv, current string
		wantHost, wantContext string
	}{
		{host: "ssh://me@gbr.example", current: "deu", wantHost: "ssh://me@gbr.example"},
		{host: "ssh://me@gbr.example", ctxEnv: "fra", wantHost: "ssh://me@gbr.example"}, // DOCKER_HOST wins
		{host: "tcp://10.0.0.1:2376", current: "deu"},                                   // the docker client reads it (with DOCKER_TLS_VERIFY)
		{ctxEnv: "fra", current: "deu", wantContext: "fra"},
		{current: "deu", wantContext: "deu"},
		{current: "default"},
		{ctxEnv: "default", current: "deu"},
		{},
	} {
		writeConfig(tc.current)
		host, name, err := environmentEngine(DockerEnv{Host: tc.host, Context: tc.ctxEnv, Config: cfg})
		require.NoError(t, err)
		assert.Equal(t, tc.wantHost, host, "%+v", tc)
		assert.Equal(t, tc.wantContext, name, "%+v", tc)
	}

	// No config at all: the default engine.
	host, name, err := environmentEngine(DockerEnv{Config: t.TempDir()})
	require.NoError(t, err)
	assert.Empty(t, host+name)

	// A current context that does not exist is an error naming it, not a
	// silent fall back to the local engine.
	writeConfig("nowhere")
	_, _, err = EnvironmentClient(DockerEnv{Config: cfg})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `docker context "nowhere" not found`)

	// An ssh context is costly to dial.
	sum := sha256.Sum256([]byte("gbr"))
	meta := filepath.Join(cfg, "contexts", "meta", hex.EncodeToString(sum[:]))
	require.NoError(t, os.MkdirAll(meta, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name":"gbr","Endpoints":{"docker":{"Host":"ssh://me@gbr.example"}}}`), 0o644))
	writeConfig("gbr")
	opts, where, err := EnvironmentClient(DockerEnv{Config: cfg})
	require.NoError(t, err)
	assert.NotEmpty(t, opts)
	assert.Equal(t, "ssh://me@gbr.example", where)
	assert.True(t, costlyDial(where))
}
