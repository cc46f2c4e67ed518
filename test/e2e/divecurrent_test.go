package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/template"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The DIVE team's current files (stacks/dive-current) deploy unchanged with
// stand-ins in place of their images: classes init/infrastructure, the
// vault-ha profile, ipam subnets with fixed addresses, network_mode
// service:, init jobs gating their dependents, scale 0, and a rendered spoke
// template. Where docker compose is installed, the networks, addresses and
// environments dive creates are compared with what compose creates.

// deployGuard is the hang guard of one deploy of a twenty-container stack on
// a busy engine; dive's own --timeout is below it.
const deployGuard = 12 * time.Minute

func TestDiveCurrentHubAndSpoke(t *testing.T) {
	needDocker(t)
	img := standinImage(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	hubFile := filepath.Join(root, "stacks", "dive-current", "docker-compose.hub.yml")

	hub := uniqueProject("dc-hub")
	shared := hub + "-shared"
	code := randomCode()
	spokeProject := "dive-spoke-" + code
	prefixes := freeSubnetPrefixes(t, 3)
	upper := strings.ToUpper(code)
	env := []string{"DIVE_STATE_DIR=" + t.TempDir(), "POSTGRES_PASSWORD=pg-secret", "MONGO_PASSWORD=mongo-secret", "KC_ADMIN_PASSWORD=kc-secret",
		"DIVE_HUB_SUBNET_PREFIX=" + prefixes[0], "DIVE_SHARED_SUBNET_PREFIX=" + prefixes[1], "DIVE_SHARED_NETWORK=" + shared,
		"POSTGRES_PASSWORD_" + upper + "=pg-" + code, "MONGO_PASSWORD_" + upper + "=mongo-" + code}
	t.Cleanup(func() {
		sweepWithin(t, 5*time.Minute, spokeProject, "")
		sweepWithin(t, 5*time.Minute, hub, shared)
	})
	spokeFile := renderSpoke(t, filepath.Join(root, "stacks", "dive-current", "spoke", "docker-compose.template.yml"), code, prefixes[2])

	// The stand-in plays every image the files name.
	hubArgs := []string{"-f", hubFile, "-p", hub, "--profile", "vault-ha"}
	hubPlan := plan(t, env, hubArgs...)
	spokePlan := plan(t, env, "-f", spokeFile)
	tagStandin(t, img, planImages(hubPlan), planImages(spokePlan))

	checkHubPlan(t, env, hubArgs, hubPlan)

	var composed map[string]containerView
	var composedNet network.IPAM
	if composeAvailable() {
		composed, composedNet = composeCreate(t, env, hubFile, hub+"c", shared, prefixes[1])
	} else {
		t.Log("docker compose is not installed: the comparison with compose is skipped")
	}

	// again: a `dive nuke` elsewhere on this engine removes dive's images
	tagStandin(t, standinImage(t), planImages(hubPlan))
	r := diveWithin(t, deployGuard, env, append([]string{"hub", "deploy", "--wait-all", "--timeout", "10m"}, hubArgs...)...)
	require.Equal(t, 0, r.code, "hub deploy failed:\n%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "validation: pass")

	got := inspectProject(t, hub)
	// the external network was missing: dive created it with the file's ipam
	sharedNet := inspectNetwork(t, shared)
	assert.Equal(t, prefixes[1]+".0/24", subnetOf(sharedNet.IPAM))
	assert.Equal(t, hub, sharedNet.Labels["io.dive.created-for"])
	internal := inspectNetwork(t, hub+"_hub-internal")
	p := prefixes[0]
	require.Len(t, internal.IPAM.Config, 1)
	assert.Equal(t, network.IPAMConfig{Subnet: netip.MustParsePrefix(p + ".0/24"), Gateway: netip.MustParseAddr(p + ".1"),
		IPRange: netip.MustParsePrefix(p + ".128/25"), AuxAddress: map[string]netip.Addr{"reserved-host": netip.MustParseAddr(p + ".250")}}, internal.IPAM.Config[0])
	fixed := map[string]string{"redis": ".10", "mongodb": ".11", "keycloak": ".20", "vault-seal": ".30", "vault-1": ".31", "vault-2": ".32", "vault-3": ".33"}
	for svc, last := range fixed {
		c := got[svc]
		require.True(t, c.found, svc)
		assert.Equal(t, p+last, c.ipv4, "%s: the address the file fixes", svc)
		assert.Equal(t, p+last, c.address, "%s: the address it runs with", svc)
	}
	// dive asks for container:<name>; the engine keeps the name, or the ID when that container exists already
	assert.Equal(t, hub+"-redis", got["redis-exporter"].networkModeTargets)
	assert.True(t, got["redis-exporter"].running, "redis-exporter runs in redis's network namespace")
	assert.False(t, got["seed-demo-data"].found, "deploy.replicas: 0 creates no container")
	assert.False(t, got["authzforce"].found, "profile xacml is not active")
	assertJobsGate(t, got, map[string][]string{
		"mongodb-init":  {"backend", "kas"},
		"keycloak-init": {"backend", "frontend"},
		"vault-init":    nil,
	})
	assert.Contains(t, got["backend"].env, "SPOKE_TOKEN", "an unset `- NAME` is passed bare, as compose does")
	if composed != nil {
		compareWithCompose(t, got, composed, internal.IPAM, composedNet)
	}

	// the hub goes first: its twenty healthchecks would weigh on the spoke's
	// deploy on a busy engine; the spoke's dive then creates the shared network
	d := dive(t, env, append([]string{"hub", "down", "-v"}, hubArgs...)...)
	require.Equal(t, 0, d.code, d.stdout+d.stderr)
	assertNothingLeft(t, hub, shared)

	// the rendered spoke, on the same shared network
	tagStandin(t, standinImage(t), planImages(spokePlan))
	r = diveWithin(t, deployGuard, env, "hub", "deploy", "--wait-all", "--timeout", "10m", "-f", spokeFile)
	require.Equal(t, 0, r.code, "spoke deploy failed:\n%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "validation: pass")
	spoke := inspectProject(t, spokeProject)
	spokeNet := inspectNetwork(t, spokeProject+"_dive-internal")
	assert.Equal(t, prefixes[2]+".0/24", subnetOf(spokeNet.IPAM))
	assert.Equal(t, prefixes[2]+".40", spoke["backend-"+code].address)
	assert.Equal(t, prefixes[2]+".11", spoke["mongodb-"+code].address)
	assert.Equal(t, "dive-spoke-"+code+"-frontend", spoke["tunnel-"+code].networkModeTargets)
	assertJobsGate(t, spoke, map[string][]string{
		"mongodb-init-" + code:  {"backend-" + code, "kas-" + code, "seed-" + code},
		"keycloak-init-" + code: {"backend-" + code, "frontend-" + code},
		"seed-" + code:          {"kas-" + code},
	})

	d = dive(t, env, "hub", "down", "-v", "-f", spokeFile)
	require.Equal(t, 0, d.code, d.stdout+d.stderr)
	assertNothingLeft(t, spokeProject, shared)
}

// randomCode is a lower-case instance code unique to the test.
func randomCode() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return "t" + string(b)
}

// freeSubnetPrefixes picks n /24 subnets (as their first three octets) in
// 10.200-249.x.0, a range docker's default pools never hand out, that no
// network on the engine overlaps.
func freeSubnetPrefixes(t *testing.T, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nets, err := docker.NetworkList(ctx, client.NetworkListOptions{})
	require.NoError(t, err)
	var used []netip.Prefix
	for _, nw := range nets.Items {
		for _, c := range nw.IPAM.Config {
			if c.Subnet.IsValid() {
				used = append(used, c.Subnet)
			}
		}
	}
	var out []string
	for len(out) < n {
		b := make([]byte, 2)
		_, _ = rand.Read(b)
		prefix := fmt.Sprintf("10.%d.%d", 200+int(b[0])%50, b[1])
		cand := netip.MustParsePrefix(prefix + ".0/24")
		free := true
		for _, u := range used {
			free = free && !u.Overlaps(cand)
		}
		if free {
			out = append(out, prefix)
			used = append(used, cand)
		}
	}
	return out
}

// renderSpoke renders the spoke template for one instance into a file.
func renderSpoke(t *testing.T, tmpl, code, subnetPrefix string) string {
	t.Helper()
	src, err := os.ReadFile(tmpl)
	require.NoError(t, err)
	vars := template.InstanceVars(code)
	vars["INSTANCE_NAME"] = "Test " + strings.ToUpper(code)
	vars["SPOKE_SUBNET_PREFIX"] = subnetPrefix
	vars["BACKEND_HOST_PORT"] = "0"
	out, err := template.Render(src, vars)
	require.NoError(t, err)
	assert.NotContains(t, string(out), "{{INSTANCE_CODE_LOWER}}")
	dir := filepath.Join(t.TempDir(), "instances", code)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f := filepath.Join(dir, "docker-compose.yml")
	require.NoError(t, os.WriteFile(f, out, 0o644))
	return f
}

// planJSON is the part of `dive hub plan --json` these tests read.
type planJSON struct {
	Services []struct {
		Name     string `json:"name"`
		Class    string `json:"class"`
		Declared string `json:"declared_class"`
		Image    string `json:"image"`
		OneShot  bool   `json:"one_shot"`
	} `json:"services"`
	References []struct {
		From, To, Key string
	} `json:"references"`
	ScaledToZero []string `json:"scaled_to_zero"`
	Networks     []struct {
		Name    string   `json:"name"`
		Subnets []string `json:"subnets"`
		Note    string   `json:"note"`
	} `json:"networks"`
}

func plan(t *testing.T, env []string, args ...string) planJSON {
	t.Helper()
	r := dive(t, env, append([]string{"hub", "plan", "--json"}, args...)...)
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	var p planJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &p), r.stdout)
	return p
}

func planImages(p planJSON) []string {
	var out []string
	for _, s := range p.Services {
		out = append(out, s.Image)
	}
	return out
}

// tagStandin tags the stand-in image as every image named, and untags them
// at the end (only the tags: the image itself belongs to the stand-in).
func tagStandin(t *testing.T, img string, lists ...[]string) {
	t.Helper()
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, l := range lists {
		for _, ref := range l {
			if seen[ref] {
				continue
			}
			seen[ref] = true
			_, err := docker.ImageTag(ctx, client.ImageTagOptions{Source: img, Target: ref})
			require.NoError(t, err, "tag %s as %s", img, ref)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, _ = docker.ImageRemove(ctx, ref, client.ImageRemoveOptions{})
			})
		}
	}
}

// checkHubPlan: classes, references as edges, scale 0, networks, and a
// partial plan that keeps network_mode's target.
func checkHubPlan(t *testing.T, env, hubArgs []string, p planJSON) {
	t.Helper()
	class := map[string]string{}
	for _, s := range p.Services {
		class[s.Name] = s.Declared + "→" + s.Class
	}
	assert.Equal(t, "init→core", class["mongodb-init"])
	assert.Equal(t, "init→core", class["keycloak-init"])
	assert.Equal(t, "init→optional", class["vault-init"], "nothing depends on it")
	assert.Equal(t, "infrastructure→core", class["vault-1"])
	assert.Contains(t, p.References, struct{ From, To, Key string }{"redis-exporter", "redis", "network_mode"})
	assert.Equal(t, []string{"seed-demo-data"}, p.ScaledToZero)
	require.Len(t, p.Networks, 2)

	part := plan(t, env, append(append([]string(nil), hubArgs...), "redis-exporter")...)
	var names []string
	for _, s := range part.Services {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"redis", "redis-exporter"}, sortedCopy(names), "a partial deploy keeps the network_mode target")
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// containerView is what the tests compare of one service's container.
type containerView struct {
	found, running     bool
	exitCode           int
	status             string
	started, finished  time.Time
	env                []string
	ipv4               string // the configured address on the project's internal network
	address            string // the address it has there (once started)
	networkMode        container.NetworkMode
	networkModeTargets string // the name of the container a container:X mode names
}

// inspectProject inspects every container of a project, by service.
func inspectProject(t *testing.T, project string) map[string]containerView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string]containerView{}
	for svc, id := range containerIDs(t, project) {
		ins, err := docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		require.NoError(t, err, svc)
		c := ins.Container
		v := containerView{found: true, running: c.State.Running, exitCode: c.State.ExitCode, status: string(c.State.Status),
			env: sortedCopy(c.Config.Env), networkMode: c.HostConfig.NetworkMode}
		v.started, _ = time.Parse(time.RFC3339Nano, c.State.StartedAt)
		v.finished, _ = time.Parse(time.RFC3339Nano, c.State.FinishedAt)
		if target, ok := strings.CutPrefix(string(c.HostConfig.NetworkMode), "container:"); ok {
			if ti, err := docker.ContainerInspect(ctx, target, client.ContainerInspectOptions{}); err == nil {
				v.networkModeTargets = strings.TrimPrefix(ti.Container.Name, "/")
			}
		}
		if c.NetworkSettings != nil {
			for name, ep := range c.NetworkSettings.Networks {
				if !strings.HasSuffix(name, "-internal") || ep == nil {
					continue
				}
				if ep.IPAMConfig != nil && ep.IPAMConfig.IPv4Address.IsValid() {
					v.ipv4 = ep.IPAMConfig.IPv4Address.String()
				}
				if ep.IPAddress.IsValid() {
					v.address = ep.IPAddress.String()
				}
			}
		}
		out[svc] = v
	}
	return out
}

func inspectNetwork(t *testing.T, name string) network.Inspect {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := docker.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	require.NoError(t, err, "network %s", name)
	return res.Network
}

func subnetOf(ipam network.IPAM) string {
	if len(ipam.Config) == 0 {
		return ""
	}
	return ipam.Config[0].Subnet.String()
}

// assertJobsGate: each one-shot job exited 0, and each of its dependents
// started only after the job had finished.
func assertJobsGate(t *testing.T, got map[string]containerView, jobs map[string][]string) {
	t.Helper()
	for job, dependents := range jobs {
		j := got[job]
		require.True(t, j.found, job)
		assert.Equal(t, "exited", j.status, job)
		assert.Equal(t, 0, j.exitCode, job)
		assert.False(t, j.finished.IsZero(), job)
		for _, d := range dependents {
			dv := got[d]
			require.True(t, dv.found, d)
			assert.False(t, dv.started.Before(j.finished), "%s started at %s, before %s finished at %s", d, dv.started, job, j.finished)
		}
	}
}

func composeAvailable() bool {
	return exec.Command("docker", "compose", "version").Run() == nil
}

// composeCreate has docker compose create the hub (into its own project)
// and returns what it created, then removes it. The external network is
// created first, with the file's subnet: compose refuses a missing one.
func composeCreate(t *testing.T, env []string, file, project, shared, sharedPrefix string) (map[string]containerView, network.IPAM) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := docker.NetworkCreate(ctx, shared, client.NetworkCreateOptions{Driver: "bridge",
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: netip.MustParsePrefix(sharedPrefix + ".0/24")}}}})
	require.NoError(t, err)
	args := []string{"compose", "-f", file, "-p", project, "--profile", "vault-ha"}
	run := func(extra ...string) {
		cmd := exec.CommandContext(ctx, "docker", append(append([]string(nil), args...), extra...)...)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Run(), "docker %s %s:\n%s", strings.Join(args, " "), strings.Join(extra, " "), out.String())
	}
	t.Cleanup(func() { sweepWithin(t, 5*time.Minute, project, "") })
	// compose names build: images <project>-<service>: the stand-in plays them too
	hubPlan := plan(t, env, "-f", file, "-p", project, "--profile", "vault-ha")
	img := ""
	for _, s := range hubPlan.Services {
		if s.Name == "redis" {
			img = s.Image
		}
	}
	ins, err := docker.ImageInspect(ctx, img)
	require.NoError(t, err)
	tagStandin(t, ins.ID, planImages(hubPlan))

	run("create")
	views := inspectProject(t, project)
	ipam := inspectNetwork(t, project+"_hub-internal").IPAM
	run("down", "-v")
	_, err = docker.NetworkRemove(ctx, shared, client.NetworkRemoveOptions{})
	require.NoError(t, err)
	return views, ipam
}

// compareWithCompose: the same networks, addresses and environments.
func compareWithCompose(t *testing.T, dive, compose map[string]containerView, diveNet, composeNet network.IPAM) {
	t.Helper()
	assert.Equal(t, composeNet.Config, diveNet.Config, "hub-internal's ipam as compose creates it")
	var diveSvcs, composeSvcs []string
	for s := range dive {
		diveSvcs = append(diveSvcs, s)
	}
	for s := range compose {
		composeSvcs = append(composeSvcs, s)
	}
	assert.Equal(t, sortedCopy(composeSvcs), sortedCopy(diveSvcs), "the same containers (none for scale 0)")
	for svc, c := range compose {
		d := dive[svc]
		assert.Equal(t, c.ipv4, d.ipv4, "%s: fixed address", svc)
		assert.Equal(t, c.env, d.env, "%s: environment", svc)
		if strings.HasPrefix(string(c.networkMode), "container:") {
			// compose names the other container by ID, dive by name: both the redis service's
			assert.True(t, strings.HasSuffix(c.networkModeTargets, "-redis"), "%s: compose's %s", svc, c.networkModeTargets)
			assert.True(t, strings.HasSuffix(d.networkModeTargets, "-redis"), "%s: dive's %s", svc, d.networkModeTargets)
		}
	}
}
