package stack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRawEnvFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "raw.env"), []byte("\uFEFFQUOTED=\"kept as is\"\n# comment\n\n  DOLLAR=$NOT_EXPANDED\nFROM_OS\nUNSET_ONE\n"), 0o644))
	t.Setenv("FROM_OS", "os-value")
	st := mustLoadIn(t, dir, "services:\n  a:\n    image: x\n    env_file:\n      - path: raw.env\n        format: raw\n      - path: nope.env\n        required: false\n")
	env := st.Services["a"].Config.Environment
	get := func(k string) string {
		v, ok := env[k]
		require.True(t, ok, k)
		require.NotNil(t, v, k)
		return *v
	}
	assert.Equal(t, `"kept as is"`, get("QUOTED"))
	assert.Equal(t, "$NOT_EXPANDED", get("DOLLAR"))
	assert.Equal(t, "os-value", get("FROM_OS"))
	// a bare KEY unset everywhere is left out, as docker/cli's kvfile
	// (compose's raw parser) does
	assert.NotContains(t, env, "UNSET_ONE")
	assert.Equal(t, map[string]string{"QUOTED": `"kept as is"`, "DOLLAR": "$NOT_EXPANDED", "FROM_OS": "os-value"},
		st.ServiceEnvFiles["a"], "what the env_file sets, read in its format")
}

// ServiceEnvFiles: what each service's env_file entries set, as compose-go
// reads them (later files winning, ${VAR} from the project environment,
// then from the service's environment:), also where environment: overrides
// the value.
func TestServiceEnvFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "one.env"), []byte("A_PASSWORD=first\nKEPT=one\nFROM_SVC=${SVC_VALUE}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "two.env"), []byte("A_PASSWORD=${DIVE_TEST_BASE}-second\nOVERRIDDEN=from-file\n"), 0o644))
	t.Setenv("DIVE_TEST_BASE", "base")
	st := mustLoadIn(t, dir, "services:\n  a:\n    image: x\n    env_file: [one.env, two.env]\n    environment:\n      SVC_VALUE: svc\n      OVERRIDDEN: literal\n  b:\n    image: x\n")
	assert.Equal(t, map[string]string{"A_PASSWORD": "base-second", "KEPT": "one", "FROM_SVC": "svc", "OVERRIDDEN": "from-file"}, st.ServiceEnvFiles["a"])
	assert.Equal(t, "literal", *st.Services["a"].Config.Environment["OVERRIDDEN"])
	assert.Equal(t, "base-second", *st.Services["a"].Config.Environment["A_PASSWORD"])
	assert.NotContains(t, st.ServiceEnvFiles, "b", "no env_file")
}

func TestRawEnvErrors(t *testing.T) {
	err := parseRawEnv(strings.NewReader("BAD KEY=1\n"), "f.env", map[string]string{}, nil)
	assert.ErrorContains(t, err, `f.env line 1: variable "BAD KEY" contains whitespace`)
	err = parseRawEnv(strings.NewReader("=1\n"), "f.env", map[string]string{}, nil)
	assert.ErrorContains(t, err, "no variable name")
}

func mustLoadIn(t *testing.T, dir, compose string) *Stack {
	t.Helper()
	f := filepath.Join(dir, "compose.yml")
	require.NoError(t, os.WriteFile(f, []byte(compose), 0o644))
	st, err := Load(context.Background(), Options{Files: []string{f}, ProjectName: "raw", Environ: os.Environ()})
	require.NoError(t, err)
	return st
}

func TestReplicasWithContainerName(t *testing.T) {
	_, err := load(t, "services:\n  a:\n    image: x\n    container_name: fixed\n    scale: 2\n", Options{})
	// compose-go refuses it, as docker compose does
	requireConfigError(t, err, "container name must be unique")
}
