package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// Minimum Engine API versions of settings newer than 1.41.
const (
	apiStartInterval = "1.44" // healthcheck.start_interval (Docker 25)
	apiAnnotations   = "1.43" // annotations (Docker 24)
	apiEndpointMAC   = "1.44" // mac_address per endpoint (Docker 25)
)

// serviceRef is the name of the service a "service:NAME" reference points
// at, or "".
func serviceRef(v string) string {
	name, ok := strings.CutPrefix(v, types.ServicePrefix)
	if !ok {
		return ""
	}
	return name
}

// applyComposeKeys applies the keys docker compose passes straight to the
// engine (namespaces, devices, cgroups, runtime, links, volumes_from, …), as
// compose's getCreateConfigs does. References to other services
// (service:NAME, links, volumes_from) are resolved at create time, when
// their containers exist (see resolveRefs).
func applyComposeKeys(svc types.ServiceConfig, o BuildOptions, spec *ContainerSpec, cfg *container.Config, host *container.HostConfig) {
	cfg.NetworkDisabled = svc.NetworkMode == "disabled"
	host.IpcMode = container.IpcMode(svc.Ipc)
	host.PidMode = container.PidMode(svc.Pid)
	host.CgroupnsMode = container.CgroupnsMode(svc.Cgroup)
	host.Runtime = svc.Runtime
	host.Isolation = container.Isolation(svc.Isolation)
	host.VolumeDriver = svc.VolumeDriver
	host.VolumesFrom = append([]string(nil), svc.VolumesFrom...)
	if len(svc.Annotations) > 0 {
		if versionAtLeast(o.APIVersion, apiAnnotations) {
			host.Annotations = map[string]string(svc.Annotations)
		} else {
			spec.Warnings = append(spec.Warnings, fmt.Sprintf("service %q: annotations need Engine API %s (Docker 24); this engine speaks %s and drops them", svc.Name, apiAnnotations, o.APIVersion))
		}
	}
	r := &host.Resources
	if svc.MemSwappiness != 0 {
		v := int64(svc.MemSwappiness)
		r.MemorySwappiness = &v
	}
	r.CPUCount = svc.CPUCount
	r.CPUPercent = int64(svc.CPUPercent * 100)
	r.CPURealtimePeriod = svc.CPURTPeriod
	r.CPURealtimeRuntime = svc.CPURTRuntime
	r.DeviceCgroupRules = svc.DeviceCgroupRules
	applyBlkio(svc.BlkioConfig, r)
	applyDevices(svc, r)
	spec.Platform = svc.Platform
	spec.serviceLinks = append([]string(nil), svc.Links...)
	spec.externalLinks = append([]string(nil), svc.ExternalLinks...)
	spec.macAddress = svc.MacAddress
	if names := svc.NetworksByPriority(); spec.macAddress == "" && len(names) > 0 && svc.Networks[names[0]] != nil {
		spec.macAddress = svc.Networks[names[0]].MacAddress
	}
	spec.PostStart = svc.PostStart
	spec.PreStop = svc.PreStop
	spec.Tty = svc.Tty
}

func applyBlkio(b *types.BlkioConfig, r *container.Resources) {
	if b == nil {
		return
	}
	r.BlkioWeight = b.Weight
	for _, d := range b.WeightDevice {
		r.BlkioWeightDevice = append(r.BlkioWeightDevice, &blkiodev.WeightDevice{Path: d.Path, Weight: d.Weight})
	}
	throttle := func(in []types.ThrottleDevice) []*blkiodev.ThrottleDevice {
		var out []*blkiodev.ThrottleDevice
		for _, d := range in {
			out = append(out, &blkiodev.ThrottleDevice{Path: d.Path, Rate: uint64(d.Rate)})
		}
		return out
	}
	r.BlkioDeviceReadBps = throttle(b.DeviceReadBps)
	r.BlkioDeviceReadIOps = throttle(b.DeviceReadIOps)
	r.BlkioDeviceWriteBps = throttle(b.DeviceWriteBps)
	r.BlkioDeviceWriteIOps = throttle(b.DeviceWriteIOps)
}

// applyDevices maps devices, CDI devices, gpus and
// deploy.resources.reservations.devices to device mappings and requests.
func applyDevices(svc types.ServiceConfig, r *container.Resources) {
	var cdi []string
	for _, d := range svc.Devices {
		if d.Source == d.Target && isCDIName(d.Source) {
			cdi = append(cdi, d.Source)
			continue
		}
		r.Devices = append(r.Devices, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: d.Target, CgroupPermissions: d.Permissions})
	}
	if svc.Deploy != nil && svc.Deploy.Resources.Reservations != nil {
		for _, d := range svc.Deploy.Resources.Reservations.Devices {
			r.DeviceRequests = append(r.DeviceRequests, container.DeviceRequest{Capabilities: [][]string{d.Capabilities},
				Count: int(d.Count), DeviceIDs: d.IDs, Driver: d.Driver, Options: d.Options})
		}
	}
	if len(cdi) > 0 {
		r.DeviceRequests = append(r.DeviceRequests, container.DeviceRequest{Driver: "cdi", DeviceIDs: cdi})
	}
	for _, g := range svc.Gpus {
		r.DeviceRequests = append(r.DeviceRequests, container.DeviceRequest{Driver: g.Driver, Count: int(g.Count), DeviceIDs: g.IDs,
			Capabilities: [][]string{append(append([]string(nil), g.Capabilities...), "gpu")}, Options: g.Options})
	}
}

// isCDIName reports whether a device is a CDI name: vendor.com/class=name.
func isCDIName(s string) bool {
	kind, name, ok := strings.Cut(s, "=")
	return ok && name != "" && strings.Contains(kind, "/") && !strings.HasPrefix(kind, "/")
}

// FileCopy is a secret or config whose content is copied into the
// container before it starts (environment and content sources), as
// docker compose's injectSecrets/injectConfigs do.
type FileCopy struct {
	Kind    string // "secret" or "config"
	Name    string
	Target  string
	Content string
	UID     string
	GID     string
	Mode    *types.FileMode
}

// applyFiles turns a service's secrets and configs into read-only bind
// mounts (file sources) and copies (environment and content sources).
func applyFiles(svc types.ServiceConfig, p *types.Project, spec *ContainerSpec, host *container.HostConfig) error {
	taken := map[string]bool{}
	for _, v := range svc.Volumes {
		taken[v.Target] = true
	}
	for _, m := range spec.Inherited {
		taken[m.Target] = true
	}
	for _, ref := range svc.Secrets {
		def, ok := p.Secrets[ref.Source]
		if !ok {
			return fmt.Errorf("service %q: secret %q is not defined in the top-level secrets section", svc.Name, ref.Source)
		}
		if err := addFile(svc, p, spec, host, taken, "secret", types.FileReferenceConfig(ref), types.FileObjectConfig(def)); err != nil {
			return err
		}
	}
	for _, ref := range svc.Configs {
		def, ok := p.Configs[ref.Source]
		if !ok {
			return fmt.Errorf("service %q: config %q is not defined in the top-level configs section", svc.Name, ref.Source)
		}
		if err := addFile(svc, p, spec, host, taken, "config", types.FileReferenceConfig(ref), types.FileObjectConfig(def)); err != nil {
			return err
		}
	}
	sort.SliceStable(spec.Files, func(i, j int) bool { return spec.Files[i].Target < spec.Files[j].Target })
	return nil
}

func addFile(svc types.ServiceConfig, p *types.Project, spec *ContainerSpec, host *container.HostConfig, taken map[string]bool, kind string, ref types.FileReferenceConfig, def types.FileObjectConfig) error {
	if bool(def.External) {
		return fmt.Errorf("service %q: %s %q is external: only swarm has external %ss; docker compose refuses it too", svc.Name, kind, ref.Source, kind)
	}
	if def.Driver != "" || def.TemplateDriver != "" {
		return fmt.Errorf("service %q: %s %q: driver and template_driver are swarm settings; docker compose refuses them too", svc.Name, kind, ref.Source)
	}
	target := fileTarget(kind, ref)
	content, inline := "", false
	switch {
	case def.Content != "":
		content, inline = def.Content, true
	case def.Environment != "":
		v, ok := p.Environment[def.Environment]
		if !ok {
			return fmt.Errorf("service %q: environment variable %q required by %s %q is not set", svc.Name, def.Environment, kind, ref.Source)
		}
		content, inline = v, true
	}
	if inline {
		if content == "" {
			return nil // compose copies nothing for empty content
		}
		if svc.ReadOnly {
			return fmt.Errorf("service %q: cannot create %s %q in a read-only service: `file` is the sole supported source", svc.Name, kind, ref.Source)
		}
		spec.Files = append(spec.Files, FileCopy{Kind: kind, Name: ref.Source, Target: target, Content: content, UID: ref.UID, GID: ref.GID, Mode: ref.Mode})
		return nil
	}
	if taken[target] {
		return nil // a volume at the same target wins, as in compose
	}
	taken[target] = true
	m := mount.Mount{Type: mount.TypeBind, Source: def.File, Target: target, ReadOnly: true}
	if kind == "secret" {
		m.BindOptions = &mount.BindOptions{} // compose passes create_host_path: false
	}
	host.Mounts = append(host.Mounts, m)
	return nil
}

// fileTarget is where compose puts a secret (/run/secrets/<name>, or a
// relative target under it) or a config (/<name>, or a relative target
// under /).
func fileTarget(kind string, ref types.FileReferenceConfig) string {
	base := "/"
	if kind == "secret" {
		base = "/run/secrets/"
	}
	switch {
	case ref.Target == "":
		return base + ref.Source
	case !strings.HasPrefix(ref.Target, "/"):
		return base + ref.Target
	}
	return ref.Target
}
