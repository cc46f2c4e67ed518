package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dive-hub/dive/internal/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// anonVolume is the name of the volume mounted at /anon in a container;
// seen collects it for the cleanup.
func anonVolume(t *testing.T, name string, seen map[string]bool) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--format", `{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}`, name).Output()
	require.NoError(t, err, "docker inspect %s", name)
	v := strings.TrimSpace(string(out))
	seen[v] = true
	return v
}

// TestAnonVolumesSurviveRecreate: a recreated container mounts its previous
// container's anonymous volume (`volumes: [/anon]`), data and all, as
// docker compose does: with the old container kept (now in the stopped
// mode: two writers), after a rollback (the new container's removal leaves
// the volume), with --no-rollback; -V gives a new one.
func TestAnonVolumesSurviveRecreate(t *testing.T) {
	needDocker(t)
	img := standinImage(t)
	project := uniqueProject("e2e-anonv")
	seen := map[string]bool{} // every anonymous volume of the test: they carry no project label
	t.Cleanup(func() {
		sweep(t, project, "")
		for v := range seen {
			_ = exec.Command("docker", "volume", "rm", v).Run()
		}
	})
	dir, state := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	require.NoError(t, os.WriteFile(file, []byte(`
services:
  a:
    image: `+img+`
    environment:
      STANDIN_NAME: a
      STANDIN_MODE: ${MODE:-serve}
      V: ${V:-1}
    volumes: [/anon]
`), 0o644))
	deploy := func(env []string, flags ...string) result {
		args := append([]string{"hub", "deploy", "-f", file, "-p", project, "--timeout", "2m", "--skip-preflight", "--no-validate"}, flags...)
		return dive(t, append([]string{"DIVE_STATE_DIR=" + state}, env...), args...)
	}
	name := project + "-a-1"
	write := func(data string) {
		t.Helper()
		marker := filepath.Join(dir, "marker")
		require.NoError(t, os.WriteFile(marker, []byte(data), 0o644))
		out, err := exec.Command("docker", "cp", marker, name+":/anon/marker").CombinedOutput()
		require.NoError(t, err, string(out))
	}
	read := func() string {
		t.Helper()
		out, _ := exec.Command("docker", "cp", name+":/anon/marker", "-").Output() // a tar stream holding the file
		return string(out)
	}

	r := deploy([]string{"V=1"})
	require.Equal(t, 0, r.code, "v1:\n%s\n%s", r.stdout, r.stderr)
	vol, id1 := anonVolume(t, name, seen), inspectContainer(t, name).ID
	require.NotEmpty(t, vol)
	write("v1 data")

	r = deploy([]string{"V=2"})
	require.Equal(t, 0, r.code, "v2:\n%s\n%s", r.stdout, r.stderr)
	id2 := inspectContainer(t, name).ID
	require.NotEqual(t, id1, id2, "recreated")
	assert.Equal(t, vol, anonVolume(t, name, seen), "the new container mounts the old one's volume")
	assert.Contains(t, read(), "v1 data")
	mode := ""
	for _, e := range lastDeployEvents(t, state, project) {
		if a, ok := e.Attrs.(events.ReplacingAttrs); ok {
			mode = a.Mode + ": " + a.Rule
		}
	}
	assert.Contains(t, mode, "stopped: it inherits the anonymous volume at /anon")
	assert.Equal(t, []string{name}, projectNames(t, project), "the kept container is removed, its volume is not")

	r = deploy([]string{"V=3", "MODE=crash"})
	require.Equal(t, 1, r.code, "v3:\n%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stderr, "rolled back")
	assert.Equal(t, id2, inspectContainer(t, name).ID, "v2's container restored")
	assert.Equal(t, vol, anonVolume(t, name, seen))
	assert.Contains(t, read(), "v1 data", "the failed container's removal left the volume it inherited")

	r = deploy([]string{"V=4"}, "--no-rollback")
	require.Equal(t, 0, r.code, "v4:\n%s\n%s", r.stdout, r.stderr)
	assert.Equal(t, vol, anonVolume(t, name, seen))
	assert.Contains(t, read(), "v1 data")

	r = deploy([]string{"V=5"}, "-V")
	require.Equal(t, 0, r.code, "v5:\n%s\n%s", r.stdout, r.stderr)
	assert.NotEqual(t, vol, anonVolume(t, name, seen), "-V: a new volume")
	assert.NotContains(t, read(), "v1 data") // vol is left behind, as docker compose leaves it
}
