package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNukeScope: `dive nuke` removes what dive created and nothing else,
// not even containers that others ran from the images dive built (they
// inherit the image's labels, io.dive.managed among them), nor one that
// only claims the project's compose label.
func TestNukeScope(t *testing.T) {
	needDocker(t)
	project := uniqueProject("nuke")
	t.Cleanup(func() { sweep(t, project, "") })
	img := standinImage(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yml")
	require.NoError(t, os.WriteFile(file, []byte("services:\n  a:\n    image: "+img+"\n"), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plain, labelled := project+"-plain", project+"-labelled"
	for _, args := range [][]string{
		{"run", "-d", "--name", plain, img},
		{"run", "-d", "--name", labelled, "--label", "com.docker.compose.project=" + project, img},
	} {
		out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
		require.NoError(t, err, "docker %v: %s", args, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", plain, labelled).Run() })

	r := dive(t, nil, "hub", "deploy", "-f", file, "-p", project, "--state-dir", filepath.Join(dir, "state"))
	require.Equal(t, 0, r.code, "%s\n%s", r.stdout, r.stderr)

	r = dive(t, nil, "nuke", "project", project)
	assert.Equal(t, 1, r.code, "a dry run removes nothing")
	assert.Contains(t, r.stdout, "container "+project+"-a-1")
	r2 := dive(t, nil, "nuke", "all")
	for _, out := range []string{r.stdout, r2.stdout} {
		assert.NotContains(t, out, plain, "a container run from dive's image is not dive's")
		assert.NotContains(t, out, labelled, "a compose label alone does not make a container dive's")
	}

	r = dive(t, nil, "nuke", "project", project, "--confirm")
	require.Equal(t, 0, r.code, "%s\n%s", r.stdout, r.stderr)
	out, err := exec.CommandContext(ctx, "docker", "ps", "-a", "--filter", "name="+project, "--format", "{{.Names}}").Output()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{labelled, plain}, strings.Fields(string(out)), "only dive's container is gone")
}
