package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dive-hub/dive/internal/events"
)

var svgRe = regexp.MustCompile(`(?s)<svg\b.*?</svg>`)

// checkSVGs parses every inline SVG of the page as XML and returns them.
func checkSVGs(t *testing.T, page string) []string {
	t.Helper()
	svgs := svgRe.FindAllString(page, -1)
	require.NotEmpty(t, svgs)
	for i, s := range svgs {
		dec := xml.NewDecoder(strings.NewReader(s))
		dec.Strict = true
		depth := 0
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "svg #%d is not well-formed XML", i)
			switch tok.(type) {
			case xml.StartElement:
				depth++
			case xml.EndElement:
				depth--
			}
		}
		assert.Equal(t, 0, depth, "svg #%d unbalanced", i)
	}
	return svgs
}

func renderHTML(t *testing.T, m Metrics, hist []HistoryEntry) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, m, hist))
	return buf.String()
}

func TestHTMLStructure(t *testing.T) {
	hist, cur := exampleHistory()
	page := renderHTML(t, cur, hist)
	svgs := checkSVGs(t, page)

	// Self-contained: no scripts, no external resources. The only URL is the
	// SVG namespace.
	assert.NotContains(t, page, "<script")
	assert.NotContains(t, page, "<link")
	assert.NotContains(t, page, "@import")
	assert.NotContains(t, page, "src=")
	withoutNS := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
	assert.NotRegexp(t, `https?://`, withoutNS)

	// The Gantt chart: one row per service, each with its bar segments.
	var gantt string
	for _, s := range svgs {
		if strings.Contains(s, `class="chart gantt"`) {
			gantt = s
		}
	}
	require.NotEmpty(t, gantt)
	assert.Equal(t, len(cur.Services), strings.Count(gantt, `<g class="gantt-row"`))
	for _, s := range cur.Services {
		assert.Contains(t, gantt, `data-service="`+s.Name+`" data-outcome="`+s.Outcome+`"`)
	}
	// Degraded fixture: 7 ready + 1 failed + 1 pending have a starting
	// segment; 9 are up (7 ready + 2 reused); 5 waited on dependencies.
	assert.Equal(t, 9, strings.Count(gantt, `class="seg-start"`))
	assert.Equal(t, 9, strings.Count(gantt, `class="seg-ready"`))
	assert.Equal(t, 5, strings.Count(gantt, `class="seg-wait"`))
	assert.Contains(t, gantt, "failed after 10.9 s")
	assert.Contains(t, gantt, "still starting")
	assert.Contains(t, gantt, ">0s<")
	assert.Contains(t, gantt, ">30s<")
	// Critical-path connectors: one per link after the first.
	assert.Equal(t, len(cur.CriticalPath.Links)-1, strings.Count(gantt, `stroke-dasharray="3 2"`))

	// The trend chart: one bar per deploy, this one outlined.
	var trend string
	for _, s := range svgs {
		if strings.Contains(s, `class="chart trend"`) {
			trend = s
		}
	}
	require.NotEmpty(t, trend)
	assert.Equal(t, len(hist)+1, strings.Count(trend, `<g class="trend-bar">`))
	assert.Contains(t, trend, "this deploy")
	assert.Contains(t, trend, deployColor(DeployFailed))
	assert.Contains(t, trend, "p50 ")

	// The rest of the report.
	for _, want := range []string{"Critical path", "opal-server", "health check failed 10 times", "exit code 137", "OOM-killed",
		"raise mem_limit", "Killed", "Warnings and retries", "exited with code 137", "Phases", "Deploy duration trend", "512.0 MiB"} {
		assert.Contains(t, page, want)
	}
}

func TestHTMLEscapes(t *testing.T) {
	f := newFx(hubT0, "esc")
	f.e(0, "", events.PhaseDeploy, 0, events.DeployStartedAttrs{Project: `p&<b>`})
	f.e(0.1, `a<script>alert(1)</script>`, events.PhaseStart, 0, events.ServiceStartingAttrs{})
	f.e(1, `a<script>alert(1)</script>`, events.PhaseStart, 0, events.ServiceFailedAttrs{Reason: `"quoted" & <tag>`, Logs: []string{"line1", "</pre><script>x</script>"}})
	f.e(2, "", events.PhaseStart, 0, events.WarningAttrs{Note: events.Note{Message: "]]> & <!-- -->"}})
	f.e(2, "", events.PhaseDeploy, 0, events.DeployFinishedAttrs{Outcome: "failed", Error: "<b>boom</b>"})
	m := Compute(Deploy{ID: "esc"}, f.evs)
	page := renderHTML(t, m, []HistoryEntry{{Metrics: m}})
	checkSVGs(t, page)
	assert.NotContains(t, page, "<script")
	assert.NotContains(t, page, "<b>boom")
	assert.Contains(t, page, "&lt;script&gt;")
}

func TestHTMLEmptyDeploy(t *testing.T) {
	page := renderHTML(t, Compute(Deploy{ID: "x", Project: "p"}, nil), nil)
	checkSVGs(t, page)
	assert.Contains(t, page, "no critical path")
	assert.NotContains(t, page, `class="chart trend"`)
}

const chromium = "/usr/bin/chromium"

func runChromium(t *testing.T, tmp string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(tmp, "profile")}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+tmp)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "chromium timed out; stderr:\n%s", errb.String())
	require.NoError(t, err, "chromium failed; stderr:\n%s", errb.String())
	return out.String(), errb.String()
}

// TestHTMLRendersInChromium renders the report in headless Chromium and
// checks that the screenshot is not blank and the page logged no errors.
// Set DIVE_SCREENSHOT_DIR to keep the screenshot.
func TestHTMLRendersInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("chromium not installed (apt-get install -y chromium)")
	}
	if testing.Short() {
		t.Skip("slow: starts a browser")
	}
	tmp := t.TempDir()
	hist, cur := exampleHistory()
	htmlPath := filepath.Join(tmp, "report.html")
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, cur, hist))
	require.NoError(t, os.WriteFile(htmlPath, buf.Bytes(), 0o644))
	url := "file://" + htmlPath

	shot := filepath.Join(tmp, "shot.png")
	if dir := os.Getenv("DIVE_SCREENSHOT_DIR"); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		shot = filepath.Join(dir, "report.png")
	}
	runChromium(t, tmp, "--hide-scrollbars", "--screenshot="+shot, "--window-size=1280,900", url)

	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	b := img.Bounds()
	assert.Equal(t, 1280, b.Dx())
	assert.Equal(t, 900, b.Dy())

	// The page background is #f1f5f9; panels, text and bars differ from it.
	bgR, bgG, bgB := uint32(0xf1), uint32(0xf5), uint32(0xf9)
	near := func(c [3]uint32, r, g, b, tol uint32) bool {
		d := func(a, b uint32) uint32 {
			if a > b {
				return a - b
			}
			return b - a
		}
		return d(c[0], r) <= tol && d(c[1], g) <= tol && d(c[2], b) <= tol
	}
	rgb := func(x, y int) [3]uint32 {
		r, g, bb, _ := img.At(x, y).RGBA()
		return [3]uint32{r >> 8, g >> 8, bb >> 8}
	}
	var differ, total int
	colours := map[[3]uint32]int{}
	var green, hatch bool
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			c := rgb(x, y)
			total++
			if !near(c, bgR, bgG, bgB, 6) {
				differ++
			}
			colours[[3]uint32{c[0] >> 4, c[1] >> 4, c[2] >> 4}]++
			green = green || near(c, 0x16, 0xa3, 0x4a, 12) // a "starting: ready" bar
			hatch = hatch || near(c, 0xa3, 0xb1, 0xc4, 12) // a waiting segment
		}
	}
	share := float64(differ) / float64(total)
	t.Logf("screenshot %s: %.0f%% of pixels differ from the background, %d distinct colours", shot, share*100, len(colours))
	assert.Greater(t, share, 0.5, "the page looks blank")
	assert.Greater(t, len(colours), 20, "too few colours: nothing was drawn")
	assert.True(t, green, "no green Gantt bar visible")
	assert.True(t, hatch, "no waiting segment visible")

	// The DOM as Chromium parsed it, and the console: no errors.
	dom, stderr := runChromium(t, tmp, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
	assert.Contains(t, dom, `class="chart gantt"`)
	assert.Equal(t, len(cur.Services), strings.Count(dom, `class="gantt-row"`))
	assert.Contains(t, dom, `class="chart trend"`)
	for _, bad := range []string{"Uncaught", "ERROR:CONSOLE"} {
		assert.NotContains(t, stderr, bad)
	}
}
