package engine

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
)

// serviceContainer names the container of another service of the project,
// for a "service:NAME" reference in key of service svc. docker compose puts
// that container's ID; dive puts its name, known before the container
// exists (the engine stores the ID when it exists already, else resolves
// the name at start). compose-go made NAME a dependency: it starts first,
// and a recreate of it recreates svc (restart: true).
func serviceContainer(p *types.Project, svc, key, name string) (string, error) {
	other, ok := p.Services[name]
	if !ok {
		if _, disabled := p.DisabledServices[name]; disabled {
			return "", fmt.Errorf("service %q: %s refers to service %q, which a profile or the service selection excludes", svc, key, name)
		}
		return "", fmt.Errorf("service %q: %s refers to service %q, which is not defined", svc, key, name)
	}
	if other.GetScale() == 0 {
		return "", fmt.Errorf("service %q: %s refers to service %q, which is scaled to 0 and has no container", svc, key, name)
	}
	return ContainerName(p.Name, other), nil
}

// namespaceMode turns network_mode, ipc or pid "service:NAME" into
// "container:<NAME's container>"; any other value is kept as written.
func namespaceMode(p *types.Project, svc, key, mode string) (string, error) {
	name, ok := strings.CutPrefix(mode, types.ServicePrefix)
	if !ok {
		return mode, nil
	}
	c, err := serviceContainer(p, svc, key, name)
	if err != nil {
		return "", err
	}
	return types.ContainerPrefix + c, nil
}

// sharedNamespaces applies ipc, pid and volumes_from, resolving references
// to other services to their containers. volumes_from keeps the :ro/:rw
// mode as written.
func sharedNamespaces(p *types.Project, svc types.ServiceConfig, host *container.HostConfig) error {
	ipc, err := namespaceMode(p, svc.Name, "ipc", svc.Ipc)
	if err != nil {
		return err
	}
	pid, err := namespaceMode(p, svc.Name, "pid", svc.Pid)
	if err != nil {
		return err
	}
	host.IpcMode, host.PidMode = container.IpcMode(ipc), container.PidMode(pid)
	for _, v := range svc.VolumesFrom {
		if c, ok := strings.CutPrefix(v, types.ContainerPrefix); ok {
			host.VolumesFrom = append(host.VolumesFrom, c)
			continue
		}
		name, mode, _ := strings.Cut(v, ":")
		c, err := serviceContainer(p, svc.Name, "volumes_from", name)
		if err != nil {
			return err
		}
		if mode != "" {
			c += ":" + mode
		}
		host.VolumesFrom = append(host.VolumesFrom, c)
	}
	return nil
}
