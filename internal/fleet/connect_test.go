package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
