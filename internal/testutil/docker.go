// Package testutil holds what the test suites share: the Docker daemon
// (ping, or skip), a sweep of a test's compose project, a buffer safe for
// concurrent writers and readers, and the round trip of a deploy's records.
// Only tests import it.
package testutil

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Labels the sweep removes by.
const (
	labelProject     = "com.docker.compose.project" // engine.LabelProject
	lockLabelProject = "io.dive.lock.project"       // lock.LabelProject
)

// PingDocker returns a client of the daemon of the environment (DOCKER_HOST
// & co) when it answers a ping within 3 s.
func PingDocker() (*client.Client, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("no Docker daemon answers within 3s: %w", err)
	}
	return cli, nil
}

// Docker returns a client of the daemon, closed when the test ends, or skips
// the test in -short mode or when no daemon answers.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no engine tests")
	}
	cli, err := PingDocker()
	if err != nil {
		t.Skip(err.Error())
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Sweep removes every container, network and volume of a compose project,
// the project's lock marker volumes, and the extra networks named, whatever
// state they are in. It returns what it could not remove (empty when all is
// gone). It is a test's own cleanup: it touches nothing of another project.
func Sweep(ctx context.Context, cli *client.Client, project string, extraNetworks ...string) []string {
	var left []string
	pf := client.Filters{}.Add("label", labelProject+"="+project)
	if cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: pf}); err == nil {
		for _, c := range cs.Items {
			if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				left = append(left, fmt.Sprintf("container %s: %v", c.ID[:12], err))
			}
		}
	} else {
		left = append(left, "container list: "+err.Error())
	}
	if ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: pf}); err == nil {
		for _, n := range ns.Items {
			if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
				left = append(left, fmt.Sprintf("network %s: %v", n.Name, err))
			}
		}
	} else {
		left = append(left, "network list: "+err.Error())
	}
	for _, n := range extraNetworks {
		_, _ = cli.NetworkRemove(ctx, n, client.NetworkRemoveOptions{}) // may be gone already
	}
	for _, label := range []string{labelProject, lockLabelProject} {
		vf := client.Filters{}.Add("label", label+"="+project)
		vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: vf})
		if err != nil {
			left = append(left, "volume list: "+err.Error())
			continue
		}
		for _, v := range vs.Items {
			if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil {
				left = append(left, fmt.Sprintf("volume %s: %v", v.Name, err))
			}
		}
	}
	return left
}
