package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dive-hub/dive/internal/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// interface_name on an engine older than Docker 28.1 is a configuration
// error (exit 2) naming the service and the way out, as compose refuses it.
func TestCheckForEngineInterfaceName(t *testing.T) {
	f := filepath.Join(t.TempDir(), "compose.yml")
	require.NoError(t, os.WriteFile(f, []byte("services:\n  web:\n    image: x\n    networks:\n      default:\n        interface_name: lan0\n"), 0o644))
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{f}})
	require.NoError(t, err)

	err = checkForEngine(st, "1.41")
	require.True(t, stack.IsConfigError(err), "%v", err)
	assert.Equal(t, ExitConfig, exitCode(err))
	assert.Contains(t, err.Error(), `service "web": network default: interface_name requires Docker Engine v28.1 or later`)
	var ce *stack.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Fix, "remove interface_name")

	assert.NoError(t, checkForEngine(st, "1.49"))
}
