package conformance

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// caseSpec is one corpus file (plus NAME.override.yml when present, as a
// second -f). Its first lines may hold "# conformance: WORD..." markers:
// stdin (pass the file as -f -), start-fails (the engine cannot start it
// here: compare what was created).
type caseSpec struct {
	name       string
	files      []string
	stdin      bool
	startFails bool
	text       string // every file's text, to tell configured from engine-picked subnets
}

func loadCases(t *testing.T) []caseSpec {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("corpus", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []caseSpec
	for _, p := range paths {
		if strings.HasSuffix(p, ".override.yml") || strings.Contains(filepath.Base(p), ".part.") {
			continue
		}
		abs, _ := filepath.Abs(p)
		c := caseSpec{name: strings.TrimSuffix(filepath.Base(p), ".yml"), files: []string{abs}}
		ov := strings.TrimSuffix(abs, ".yml") + ".override.yml"
		if _, err := os.Stat(ov); err == nil {
			c.files = append(c.files, ov)
		}
		parts, _ := filepath.Glob(filepath.Join("corpus", "*.yml"))
		for _, f := range parts {
			b, _ := os.ReadFile(f)
			c.text += string(b)
		}
		b, _ := os.ReadFile(abs)
		for _, line := range strings.Split(string(b), "\n") {
			if words, ok := strings.CutPrefix(line, "# conformance:"); ok {
				for _, w := range strings.Fields(words) {
					c.stdin = c.stdin || w == "stdin"
					c.startFails = c.startFails || w == "start-fails"
				}
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// TestConformance deploys every corpus file with docker compose and with
// dive and requires the same containers, networks, volumes and injected
// files, up to the documented intentional differences.
func TestConformance(t *testing.T) {
	needSuite(t)
	cases := loadCases(t)
	ext := externalContainer(t)
	var mu sync.Mutex
	total := comparison{explained: map[string]int{}}
	services := 0
	t.Cleanup(func() {
		t.Logf("conformance: %d files, %d services, %d objects, %d fields compared; %d unexplained differences; explained: %v",
			len(cases), services, total.objects, total.fields, len(total.unexplained), total.explained)
	})
	sem := make(chan struct{}, 4) // files in flight: most of a case is waiting on the engine
	t.Run("corpus", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				res, n := runCase(t, c, ext)
				mu.Lock()
				total.objects += res.objects
				total.fields += res.fields
				total.unexplained = append(total.unexplained, res.unexplained...)
				for k, v := range res.explained {
					total.explained[k] += v
				}
				services += n
				mu.Unlock()
				for _, d := range res.unexplained {
					t.Errorf("unexplained difference: %s", d)
				}
				t.Logf("%s: %d objects, %d fields, explained %v", c.name, res.objects, res.fields, res.explained)
			})
		}
	})
}

func tag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// externalContainer runs the container the corpus's external_links point at.
func externalContainer(t *testing.T) string {
	name := "cf-ext-" + tag()
	out, err := exec.Command("docker", "run", "-d", "--name", name, "--label", "io.dive.test=conformance", "-e", "STANDIN_NAME=ext", env.image).CombinedOutput()
	if err != nil {
		t.Fatalf("external container: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", "-v", name).Run() })
	return name
}

// runCase deploys one file with both tools and compares the results.
func runCase(t *testing.T, c caseSpec, ext string) (comparison, int) {
	id := tag()
	pc, pd := "cfc"+id, "cfd"+id // same length: normalized alike
	vars := []string{"IMAGE=" + env.image, "CF_EXT=" + ext, "CF_SECRET=s3cr3t-from-env", "DOCKER_BUILDKIT=0",
		"DIVE_STATE_DIR=" + t.TempDir()}
	t.Cleanup(func() { sweep(pc); sweep(pd) })

	args := []string{"compose", "-p", pc}
	args = append(args, fileArgs(c)...)
	args = append(args, "up", "-d")
	out, err := run(t, c, vars, "docker", args...)
	if err != nil && !c.startFails {
		t.Errorf("docker compose up failed: %v\n%s", err, out)
	}
	composeObjs, services := snapshot(t, pc, c)
	composeObjs = append(composeObjs, psObject(t, c, vars, pc))
	downArgs := append(append([]string{"compose", "-p", pc}, fileArgs(c)...), "down", "-v", "--remove-orphans")
	if out, err := run(t, c, vars, "docker", downArgs...); err != nil {
		t.Logf("docker compose down: %v\n%s", err, out)
	}
	sweep(pc) // what compose's down left (a failed up)

	dargs := append([]string{"hub", "deploy", "-p", pd}, fileArgs(c)...)
	dargs = append(dargs, "--timeout", "5m")
	out, err = run(t, c, vars, env.dive, dargs...)
	if err != nil && !c.startFails {
		t.Errorf("dive hub deploy failed: %v\n%s", err, out)
	}
	diveObjs, _ := snapshot(t, pd, c)
	diveObjs = append(diveObjs, psObject(t, c, vars, pd))
	ddown := append(append([]string{"hub", "down", "-p", pd}, fileArgs(c)...), "-v")
	if out, err := run(t, c, vars, env.dive, ddown...); err != nil {
		t.Logf("dive hub down: %v\n%s", err, out)
	}
	return compare(composeObjs, diveObjs), services
}

func fileArgs(c caseSpec) []string {
	if c.stdin {
		return []string{"-f", "-"}
	}
	var a []string
	for _, f := range c.files {
		a = append(a, "-f", f)
	}
	return a
}

// run runs a command in the corpus folder, with the file on stdin for a
// stdin case, bounded by a generous hang guard.
func run(t *testing.T, c caseSpec, vars []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = filepath.Dir(c.files[0])
	cmd.Env = append(os.Environ(), vars...)
	if c.stdin {
		b, err := os.ReadFile(c.files[0])
		if err != nil {
			return "", err
		}
		cmd.Stdin = bytes.NewReader(b)
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	t0 := time.Now()
	err := cmd.Run()
	t.Logf("%s %s -> %v in %s", filepath.Base(name), strings.Join(args, " "), err, time.Since(t0).Round(time.Millisecond))
	return buf.String(), err
}

func sweep(project string) {
	f := "label=com.docker.compose.project=" + project
	if ids := lines("docker", "ps", "-aq", "--filter", f); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f", "-v"}, ids...)...).Run()
	}
	if ids := lines("docker", "network", "ls", "-q", "--filter", f); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"network", "rm"}, ids...)...).Run()
	}
	if ids := lines("docker", "volume", "ls", "-q", "--filter", f); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"volume", "rm", "-f"}, ids...)...).Run()
	}
	if ids := lines("docker", "images", "-q", "--filter", "reference="+project+"-*"); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rmi", "-f"}, ids...)...).Run()
	}
	lock := "label=io.dive.lock.project=" + project
	if ids := lines("docker", "volume", "ls", "-q", "--filter", lock); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"volume", "rm", "-f"}, ids...)...).Run()
	}
}

func lines(name string, args ...string) []string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

func inspect(t *testing.T, what string, ids []string) []map[string]any {
	if len(ids) == 0 {
		return nil
	}
	args := append([]string{what, "inspect"}, ids...)
	if what == "container" {
		args = append([]string{"inspect", "--type", "container"}, ids...)
	}
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	var docs []map[string]any
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return docs
}

// snapshot inspects a project's containers, networks and volumes, and the
// files added to each container's filesystem (secrets and configs copied in).
func snapshot(t *testing.T, project string, c caseSpec) ([]object, int) {
	f := "label=com.docker.compose.project=" + project
	cs := inspect(t, "container", lines("docker", "ps", "-aq", "--filter", f))
	ns := inspect(t, "network", lines("docker", "network", "ls", "-q", "--filter", f))
	vs := inspect(t, "volume", lines("docker", "volume", "ls", "-q", "--filter", f))
	n := &normalizer{project: project, ids: map[string]string{}}
	svcs := map[string]bool{}
	for _, d := range cs {
		id, _ := d["Id"].(string)
		name, _ := d["Name"].(string)
		n.ids[id] = "<c:" + strings.ReplaceAll(strings.TrimPrefix(name, "/"), project, "<P>") + ">"
		if cfg, ok := d["Config"].(map[string]any); ok {
			if l, ok := cfg["Labels"].(map[string]any); ok {
				svcs[fmt.Sprint(l["com.docker.compose.service"])] = true
			}
		}
		anonVolumes(d, n)
	}
	for _, d := range ns {
		id, _ := d["Id"].(string)
		name, _ := d["Name"].(string)
		n.ids[id] = "<n:" + strings.ReplaceAll(name, project, "<P>") + ">"
	}
	var objs []object
	for _, d := range cs {
		id, _ := d["Id"].(string)
		o := n.normalize("container", d, false)
		objs = append(objs, o)
		objs = append(objs, addedFiles(t, id, o.name)...)
	}
	for _, d := range ns {
		objs = append(objs, n.normalize("network", d, !configuredSubnet(d, c.text)))
	}
	for _, d := range vs {
		objs = append(objs, n.normalize("volume", d, false))
	}
	return objs, len(svcs)
}

// anonVolumes names anonymous volumes (random names) by container and target.
func anonVolumes(d map[string]any, n *normalizer) {
	ms, _ := d["Mounts"].([]any)
	name, _ := d["Name"].(string)
	for _, m := range ms {
		mm, _ := m.(map[string]any)
		v, _ := mm["Name"].(string)
		if mm["Type"] == "volume" && hex64.MatchString(v) && len(v) == 64 {
			n.ids[v] = fmt.Sprintf("<anon:%s:%v>", strings.ReplaceAll(strings.TrimPrefix(name, "/"), n.project, "<P>"), mm["Destination"])
		}
	}
}

func configuredSubnet(d map[string]any, text string) bool {
	ipam, _ := d["IPAM"].(map[string]any)
	cfgs, _ := ipam["Config"].([]any)
	for _, c := range cfgs {
		m, _ := c.(map[string]any)
		if s, _ := m["Subnet"].(string); s != "" && strings.Contains(text, s) {
			return true
		}
	}
	return false
}

// addedFiles reads the regular files added to a container's filesystem
// (docker diff "A"), with their content, mode and owner.
func addedFiles(t *testing.T, id, container string) []object {
	var objs []object
	out, err := exec.Command("docker", "diff", id).Output()
	if err != nil {
		return nil
	}
	var paths []string
	for _, l := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutPrefix(l, "A "); ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		raw, err := exec.Command("docker", "cp", id+":"+p, "-").Output()
		if err != nil {
			continue
		}
		tr := tar.NewReader(bytes.NewReader(raw))
		h, err := tr.Next()
		if err != nil || h.Typeflag != tar.TypeReg {
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(tr, 4096))
		objs = append(objs, object{kind: "file", name: container + ":" + p, fields: map[string]string{
			"content": string(body), "mode": fmt.Sprintf("%o", h.Mode), "uid": fmt.Sprint(h.Uid), "gid": fmt.Sprint(h.Gid)}})
	}
	return objs
}

// psObject is what `docker compose -p P ps -a` lists: the users' view of the
// project's containers must be the same after either tool deployed it.
func psObject(t *testing.T, c caseSpec, vars []string, project string) object {
	format := "{{.Name}} {{.Service}} {{.State}}"
	if c.startFails {
		format = "{{.Name}} {{.Service}}" // how far a failed start got is each tool's own
	}
	args := append(append([]string{"compose", "-p", project}, fileArgs(c)...), "ps", "-a", "--format", format)
	out, err := run(t, c, vars, "docker", args...)
	if err != nil {
		t.Errorf("docker compose ps: %v\n%s", err, out)
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			rows = append(rows, strings.ReplaceAll(l, project, "<P>"))
		}
	}
	sort.Strings(rows)
	o := object{kind: "ps", name: "docker compose ps", fields: map[string]string{}}
	for i, r := range rows {
		o.fields[fmt.Sprintf("row[%d]", i)] = r
	}
	return o
}
