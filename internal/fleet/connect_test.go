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

// An ssh engine's connections are set up at most sshHandshakes at a time
// (sshd drops connections beyond MaxStartups, 10 by default): a slot is
// held from the start of `ssh` until the session first answers. A fake
// ssh on PATH logs its start, answers after a while, then stays open.
func TestSSHHandshakesBounded(t *testing.T) {
	bin := t.TempDir()
	log := filepath.Join(bin, "log")
	script := "#!/bin/sh\necho start >>" + log + "\nsleep 0.2\necho answer >>" + log + "\nprintf x\nexec cat >/dev/null\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "ssh"), []byte(script), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	u, err := url.Parse("ssh://root@engine.example:2222")
	require.NoError(t, err)
	dial := sshDialer(u, "", "")
	conns := 3 * sshHandshakes
	var wg sync.WaitGroup
	opened := make(chan net.Conn, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := dial(ctx, "tcp", "docker.example.com:80")
			if !assert.NoError(t, err) {
				return
			}
			opened <- c
			buf := make([]byte, 1)
			_, err = c.Read(buf)
			assert.NoError(t, err)
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
	assert.Equal(t, sshHandshakes, most, "at most %d ssh sessions in their handshake at once: %v", sshHandshakes, lines)
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
		{host: "tcp://10.0.0.1:2376", current: "deu"}, // the docker client reads it (with DOCKER_TLS_VERIFY)
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
	_, _, _, err = EnvironmentClient(DockerEnv{Config: cfg})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `docker context "nowhere" not found`)

	// An ssh context is costly to dial.
	sum := sha256.Sum256([]byte("gbr"))
	meta := filepath.Join(cfg, "contexts", "meta", hex.EncodeToString(sum[:]))
	require.NoError(t, os.MkdirAll(meta, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name":"gbr","Endpoints":{"docker":{"Host":"ssh://me@gbr.example"}}}`), 0o644))
	writeConfig("gbr")
	opts, where, costly, err := EnvironmentClient(DockerEnv{Config: cfg})
	require.NoError(t, err)
	assert.NotEmpty(t, opts)
	assert.Equal(t, "ssh://me@gbr.example", where)
	assert.True(t, costly)
}
