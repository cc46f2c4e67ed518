package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/stacks/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const plantedSecret = "planted-S3cret-0b5e2d91"

// TestRecordsHistoryAndSecrets deploys the demo hub three times with a secret
// planted in its env file, then checks the records: every event line has the
// schema's fields, the metrics agree with the events, history gives
// percentiles per service and for the deploy, the HTML report renders, and
// the secret appears nowhere dive wrote.
func TestRecordsHistoryAndSecrets(t *testing.T) {
	needDocker(t)
	project := uniqueProject("e2e-rec")
	env := demoEnv(t, project)
	state := envValue(env, "XDG_STATE_HOME")
	t.Cleanup(func() { sweep(t, project, project+"-shared") })

	// The demo's env file with a planted secret.
	envFile := filepath.Join(t.TempDir(), ".env.hub")
	orig := string(demo.Files()[demo.EnvFile])
	var lines []string
	for _, l := range strings.Split(orig, "\n") {
		if strings.HasPrefix(l, "POSTGRES_PASSWORD=") {
			l = "POSTGRES_PASSWORD=" + plantedSecret
		}
		lines = append(lines, l)
	}
	require.NoError(t, os.WriteFile(envFile, []byte(strings.Join(lines, "\n")), 0o600))

	var outputs bytes.Buffer
	for i, extra := range [][]string{nil, {"--force-recreate"}, {"--force-recreate"}} {
		// --wait-all: every service, optional ones too, is waited on, so
		// that each deploy's outcome is success on a busy machine as well
		// (without it an optional service still starting is "degraded").
		args := append([]string{"hub", "deploy", "--demo", "-p", project, "--env-file", envFile, "--wait-all"}, extra...)
		r := dive(t, env, args...)
		require.Equal(t, 0, r.code, "deploy %d:\n%s\n%s", i+1, r.stdout, r.stderr)
		outputs.WriteString(r.stdout + r.stderr)
	}
	// The secret really is in the deployed containers' environment: it had
	// every chance to leak.
	insp, err := exec.Command("docker", "inspect", "--format", "{{json .Config.Env}}", project+"-postgres").CombinedOutput()
	require.NoError(t, err, string(insp))
	require.Contains(t, string(insp), plantedSecret)

	// history --json: percentiles for the deploy and every service.
	h := dive(t, env, "hub", "history", "--demo", "-p", project, "--json", "--env-file", envFile)
	require.Equal(t, 0, h.code, h.stderr)
	outputs.WriteString(h.stdout + h.stderr)
	var hist struct {
		Deploys  int `json:"deploys"`
		Duration struct {
			Count int     `json:"count"`
			P50   float64 `json:"p50_ms"`
			P95   float64 `json:"p95_ms"`
			P99   float64 `json:"p99_ms"`
		} `json:"deploy_duration"`
		Services []struct {
			Service     string `json:"service"`
			TimeToReady struct {
				Count int     `json:"count"`
				P50   float64 `json:"p50_ms"`
				P95   float64 `json:"p95_ms"`
				P99   float64 `json:"p99_ms"`
			} `json:"time_to_ready"`
		} `json:"services"`
	}
	require.NoError(t, json.Unmarshal([]byte(h.stdout), &hist), h.stdout)
	assert.Equal(t, 3, hist.Deploys)
	assert.Equal(t, 3, hist.Duration.Count)
	assert.True(t, hist.Duration.P50 > 0 && hist.Duration.P50 <= hist.Duration.P95 && hist.Duration.P95 <= hist.Duration.P99, "%+v", hist.Duration)
	perService := map[string]int{}
	for _, s := range hist.Services {
		perService[s.Service] = s.TimeToReady.Count
		if s.TimeToReady.Count > 0 {
			assert.True(t, s.TimeToReady.P50 > 0 && s.TimeToReady.P50 <= s.TimeToReady.P95 && s.TimeToReady.P95 <= s.TimeToReady.P99, "%s: %+v", s.Service, s.TimeToReady)
		}
	}
	for _, svc := range []string{"postgres", "keycloak", "backend", "frontend", "mongodb-rs-init"} {
		assert.Equal(t, 3, perService[svc], "time-to-ready samples of %s", svc)
	}

	// Every line of every events.jsonl has the schema's fields, and the
	// metrics agree with the events.
	runs, err := filepath.Glob(filepath.Join(state, "dive", project, "deploys", "*"))
	require.NoError(t, err)
	require.Len(t, runs, 3)
	for _, run := range runs {
		b, err := os.ReadFile(filepath.Join(run, "events.jsonl"))
		require.NoError(t, err)
		ready := map[string]bool{}
		for n, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &rec), "line %d of %s", n+1, run)
			for _, f := range []string{"ts", "level", "deploy_id", "phase", "event", "duration_ms"} {
				assert.Contains(t, rec, f, "line %d of %s", n+1, run)
			}
			_, err := time.Parse(time.RFC3339Nano, rec["ts"].(string))
			assert.NoError(t, err)
			assert.Equal(t, filepath.Base(run), rec["deploy_id"])
			if rec["event"] == "service_ready" {
				ready[rec["service"].(string)] = true
			}
		}
		var m struct {
			Outcome  string `json:"outcome"`
			Services []struct {
				Name    string `json:"name"`
				Outcome string `json:"outcome"`
			} `json:"services"`
		}
		mb, err := os.ReadFile(filepath.Join(run, "metrics.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(mb, &m))
		assert.Equal(t, "success", m.Outcome)
		require.NotEmpty(t, m.Services)
		for _, s := range m.Services {
			assert.Equal(t, ready[s.Name], s.Outcome == "ready", "metrics outcome of %s (%s) vs its events", s.Name, s.Outcome)
		}
		for _, f := range []string{"report.md", "report.json", "report.html"} {
			assert.FileExists(t, filepath.Join(run, f))
		}
	}

	// The HTML report, as a user gets it, renders in a real browser.
	rep := dive(t, env, "hub", "report", "--demo", "-p", project, "--last", "--format", "html", "--env-file", envFile)
	require.Equal(t, 0, rep.code, rep.stderr)
	assert.Contains(t, rep.stdout, "<svg")
	outputs.WriteString(rep.stdout)
	renderInChromium(t, rep.stdout)

	// The planted secret is nowhere: not on stdout/stderr, not under the state dir.
	assert.NotContains(t, outputs.String(), plantedSecret)
	require.NoError(t, filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if filepath.Base(p) == ".env.hub" && strings.Contains(p, filepath.Join("dive", "demo")) {
			return nil // the embedded demo's own env file, not dive output
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assert.NotContains(t, string(b), plantedSecret, "secret leaked into %s", p)
		return nil
	}))
}

// renderInChromium screenshots the page headless and checks it is not blank.
func renderInChromium(t *testing.T, html string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Log("chromium not installed: skipping the render check")
		return
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	require.NoError(t, os.WriteFile(page, []byte(html), 0o644))
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+shot, "--window-size=1280,1000", "file://"+page)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	b := img.Bounds()
	bg := img.At(b.Min.X, b.Min.Y)
	colors := map[[3]uint32]bool{}
	differ, total := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			total++
			c := img.At(x, y)
			if !sameColor(c, bg) {
				differ++
			}
			r, g, bl, _ := c.RGBA()
			colors[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	assert.Greater(t, float64(differ)/float64(total), 0.05, "the rendered report is (nearly) blank")
	assert.Greater(t, len(colors), 8, "the rendered report has too few colours")
}

func sameColor(a, b interface{ RGBA() (r, g, b, a uint32) }) bool {
	r1, g1, b1, _ := a.RGBA()
	r2, g2, b2, _ := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2
}

// TestSecretMaskedInDiagnosis makes a secret reach dive's own words: the
// healthcheck command carries a password (as the DIVE hub's redis-cli -a and
// mongosh checks do) and is missing from the image, so the diagnosis quotes
// the command. The password must be masked everywhere.
func TestSecretMaskedInDiagnosis(t *testing.T) {
	needDocker(t)
	img := ensureStandinViaDemoPlan(t)
	project := uniqueProject("e2e-mask")
	t.Cleanup(func() { sweep(t, project, "") })
	dir := t.TempDir()
	state := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env.hub"), []byte("REDIS_PASSWORD="+plantedSecret+"\n"), 0o600))
	compose := `
services:
  cache:
    image: ` + img + `
    environment:
      STANDIN_NAME: cache
    healthcheck:
      test: ["CMD", "/usr/local/bin/redis-cli", "-a", "${REDIS_PASSWORD}", "ping"]
      interval: 5s
      timeout: 2s
      retries: 3
`
	file := filepath.Join(dir, "docker-compose.hub.yml")
	require.NoError(t, os.WriteFile(file, []byte(compose), 0o644))
	r := dive(t, []string{"DIVE_STATE_DIR=" + state}, "hub", "deploy", "-f", file, "-p", project, "--timeout", "60s")
	require.Equal(t, 1, r.code, r.stdout+r.stderr)
	all := r.stdout + r.stderr
	assert.Contains(t, all, "redis-cli", "the diagnosis names the missing command")
	assert.Contains(t, all, "****", "the password is shown masked")
	assert.NotContains(t, all, plantedSecret)
	require.NoError(t, filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assert.NotContains(t, string(b), plantedSecret, "secret leaked into %s", p)
		return nil
	}))
}
