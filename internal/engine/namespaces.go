package engine

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
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

// checkServiceRefs refuses ipc, pid and volumes_from references to
// services without a container (excluded, undefined, scaled to 0) before
// anything is created; Create resolves the valid ones to the referenced
// container's ID, as docker compose does (resolveRefs).
func checkServiceRefs(p *types.Project, svc types.ServiceConfig) error {
	if _, err := namespaceMode(p, svc.Name, "ipc", svc.Ipc); err != nil {
		return err
	}
	if _, err := namespaceMode(p, svc.Name, "pid", svc.Pid); err != nil {
		return err
	}
	for _, v := range svc.VolumesFrom {
		if strings.HasPrefix(v, types.ContainerPrefix) {
			continue
		}
		name, _, _ := strings.Cut(v, ":")
		if _, err := serviceContainer(p, svc.Name, "volumes_from", name); err != nil {
			return err
		}
	}
	return nil
}
