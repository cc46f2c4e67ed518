package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/secopt"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

// ContainerSpec is everything needed to create one service container.
type ContainerSpec struct {
	Service string
	Name    string
	Image   string
	Hash    string
	Config  *container.Config
	Host    *container.HostConfig
	// Networks in the order to attach: the first goes into the create call,
	// the others are connected before start (API < 1.44 takes only one at create).
	Networks []NetworkAttachment
	// StopGrace is stop_grace_period (default 10s).
	StopGrace time.Duration
	// Warnings about settings that could not be applied.
	Warnings []string
	// Number is the replica number (com.docker.compose.container-number).
	Number int
	// Platform is the service's platform (create's platform parameter).
	Platform string
	// Files are secrets and configs copied in before the first start.
	Files []FileCopy
	// PostStart hooks run after the start, before the container counts as
	// started; PreStop hooks before a stop.
	PostStart, PreStop []types.ServiceHook
	Tty                bool
	// Inherited are the previous container's volumes this one mounts again
	// (BuildOptions.Inherit), by target.
	Inherited []mount.Mount

	// References resolved when the container is created: links to other
	// services' containers, external links, and the MAC address (in the
	// container config below API 1.44, on the first endpoint from 1.44).
	serviceLinks, externalLinks []string
	macAddress                  string
	// rawExposed are expose: ranges ("5000-5002") as written: compose sends
	// them so as ExposedPorts keys, which the client's typed port cannot carry.
	rawExposed []string
}

// NetworkAttachment is one network a container joins.
type NetworkAttachment struct {
	Name     string // engine name
	Endpoint *network.EndpointSettings
}

// ImageName is the image a service runs: its image:, or <project>-<service>
// for a build without one, as docker compose names it.
func ImageName(project string, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return project + "-" + s.Name
}

// ContainerName is container_name, or <project>-<service>-1 as docker compose names it.
func ContainerName(project string, s types.ServiceConfig) string {
	return ReplicaName(project, s, 1)
}

// ReplicaName is container_name, or <project>-<service>-<n> as docker
// compose names replica n.
func ReplicaName(project string, s types.ServiceConfig, n int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", project, s.Name, n)
}

// ConfigHash hashes a service's configuration with the image it runs, so a
// changed file or a rebuilt image means a changed container.
func ConfigHash(s types.ServiceConfig, imageID string) string {
	c := s
	// Fields that do not change the container.
	c.Scale = nil
	if c.Deploy != nil {
		// the replica count does not change a container (as compose's ServiceHash)
		d := *c.Deploy
		d.Replicas = nil
		c.Deploy = &d
	}
	c.Build = nil
	c.DependsOn = nil
	c.Profiles = nil
	c.PullPolicy = ""
	b, _ := json.Marshal(struct {
		S       types.ServiceConfig `json:"s"`
		ImageID string              `json:"image_id"`
		Version int                 `json:"v"`
	}{c, imageID, 1})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// BuildOptions carry what conversion needs beyond the service itself.
type BuildOptions struct {
	Project     *types.Project
	ImageID     string
	Class       string
	DiveVersion string
	// APIVersion is the negotiated Engine API version; settings that need a
	// newer one are dropped with a warning.
	APIVersion string
	EnvFiles   []string
	// Number is the replica number; 0 means 1.
	Number int
	// Inherit is the container this one replaces, whose anonymous volumes
	// it mounts again (docker compose's inherit); nil: none.
	Inherit *Inherit
}

// Spec converts a compose service into a container spec.
func Spec(svc types.ServiceConfig, o BuildOptions) (*ContainerSpec, error) {
	p := o.Project
	if o.Number < 1 {
		o.Number = 1
	}
	spec := &ContainerSpec{
		Service:   svc.Name,
		Number:    o.Number,
		Name:      ReplicaName(p.Name, svc, o.Number),
		Image:     ImageName(p.Name, svc),
		Hash:      ConfigHash(svc, o.ImageID),
		StopGrace: 10 * time.Second,
	}
	if svc.StopGracePeriod != nil {
		spec.StopGrace = time.Duration(*svc.StopGracePeriod)
	}
	cfg := containerConfig(svc, o, spec)
	host, err := hostConfig(svc, p)
	if err != nil {
		return nil, err
	}
	if err := applyPorts(svc, spec, cfg, host); err != nil {
		return nil, err
	}
	// volumes, secrets and configs
	if err := applyVolumes(svc, p, spec, host, o.APIVersion, o.Inherit); err != nil {
		return nil, err
	}
	if err := applyFiles(svc, p, spec, host); err != nil {
		return nil, err
	}
	applyComposeKeys(svc, o, spec, cfg, host)
	if err := CheckInterfaceNames(svc, o.APIVersion); err != nil {
		return nil, err
	}
	if err := applyNetworks(svc, p, spec, host); err != nil {
		return nil, err
	}
	spec.Config = cfg
	spec.Host = host
	return spec, nil
}

// specLabels are the labels of the container: the service's own, then
// compose's and dive's.
func specLabels(svc types.ServiceConfig, o BuildOptions, hash string) map[string]string {
	p := o.Project
	labels := map[string]string{}
	for k, v := range svc.Labels {
		labels[k] = v
	}
	for k, v := range svc.CustomLabels {
		labels[k] = v
	}
	labels[LabelProject] = p.Name
	labels[LabelService] = svc.Name
	labels[LabelNumber] = strconv.Itoa(o.Number)
	labels[LabelOneOff] = "False"
	labels[LabelConfigHash] = hash
	labels[LabelWorkingDir] = p.WorkingDir
	labels[LabelConfigFiles] = strings.Join(p.ComposeFiles, ",")
	if len(o.EnvFiles) > 0 {
		labels[LabelEnvFile] = strings.Join(o.EnvFiles, ",")
	}
	labels[LabelVersion] = ComposeVersion
	labels[LabelImage] = o.ImageID
	labels[LabelDependsOn] = dependsOnLabel(svc, p)
	labels[LabelManaged] = "true"
	labels[LabelRole] = "service"
	labels[LabelDiveVersion] = o.DiveVersion
	if o.Class != "" {
		labels[LabelClass] = o.Class
	}
	return labels
}

// specEnv is the environment of the container, sorted.
func specEnv(svc types.ServiceConfig) []string {
	env := make([]string, 0, len(svc.Environment))
	for k, v := range svc.Environment {
		if v == nil {
			// `- NAME` with NAME unset: passed bare, as docker compose does;
			// the engine then unsets NAME, even an image's default.
			env = append(env, k)
			continue
		}
		env = append(env, k+"="+*v)
	}
	sort.Strings(env)
	return env
}

// containerConfig is the container config of the service, before ports and
// the compose keys applyComposeKeys sets.
func containerConfig(svc types.ServiceConfig, o BuildOptions, spec *ContainerSpec) *container.Config {
	cfg := &container.Config{
		Image:      spec.Image,
		Env:        specEnv(svc),
		Labels:     specLabels(svc, o, spec.Hash),
		User:       svc.User,
		WorkingDir: svc.WorkingDir,
		Hostname:   svc.Hostname,
		Domainname: svc.DomainName,
		StopSignal: svc.StopSignal,
		Tty:        svc.Tty,
		OpenStdin:  svc.StdinOpen,
		// compose attaches the outputs of every container it creates
		AttachStdout: true,
		AttachStderr: true,
	}
	if len(svc.Command) > 0 {
		cfg.Cmd = []string(svc.Command)
	}
	if svc.Entrypoint != nil {
		cfg.Entrypoint = []string(svc.Entrypoint)
	}
	if svc.StopGracePeriod != nil {
		// whole seconds, truncated as compose's ToSeconds does (1500ms is 1)
		secs := int(time.Duration(*svc.StopGracePeriod).Seconds())
		cfg.StopTimeout = &secs
	}
	if hc := svc.HealthCheck; hc != nil {
		cfg.Healthcheck = healthConfig(svc, hc, o, spec)
	}
	return cfg
}

// healthConfig converts the service's healthcheck, warning on spec when the
// engine is too old for start_interval.
func healthConfig(svc types.ServiceConfig, hc *types.HealthCheckConfig, o BuildOptions, spec *ContainerSpec) *container.HealthConfig {
	// disable: true is Test [NONE] with the timings still set, as compose's
	// ToMobyHealthCheck sends it
	h := &container.HealthConfig{Test: []string(hc.Test)}
	if hc.Disable {
		h.Test = []string{"NONE"}
	}
	if hc.Interval != nil {
		h.Interval = time.Duration(*hc.Interval)
	}
	if hc.Timeout != nil {
		h.Timeout = time.Duration(*hc.Timeout)
	}
	if hc.StartPeriod != nil {
		h.StartPeriod = time.Duration(*hc.StartPeriod)
	}
	if hc.Retries != nil {
		h.Retries = int(*hc.Retries)
	}
	if hc.StartInterval != nil {
		if versionAtLeast(o.APIVersion, "1.44") {
			h.StartInterval = time.Duration(*hc.StartInterval)
		} else {
			spec.Warnings = append(spec.Warnings, fmt.Sprintf("service %q: healthcheck.start_interval needs Engine API 1.44 (Docker 25); this engine speaks %s, so the engine ignores it (dive's own probe still checks early)", svc.Name, o.APIVersion))
		}
	}
	return h
}

// hostConfig is the host config of the service, before ports, mounts,
// networks and the compose keys applyComposeKeys sets.
func hostConfig(svc types.ServiceConfig, p *types.Project) (*container.HostConfig, error) {
	host := &container.HostConfig{
		CapAdd:         svc.CapAdd,
		CapDrop:        svc.CapDrop,
		Privileged:     svc.Privileged,
		ReadonlyRootfs: svc.ReadOnly,
		Init:           svc.Init,
		GroupAdd:       svc.GroupAdd,
		DNSOptions:     svc.DNSOpts,
		DNSSearch:      []string(svc.DNSSearch),
		Sysctls:        map[string]string(svc.Sysctls),
		ShmSize:        int64(svc.ShmSize),
		UsernsMode:     container.UsernsMode(svc.UserNSMode),
		UTSMode:        container.UTSMode(svc.Uts),
		StorageOpt:     svc.StorageOpt,
		OomScoreAdj:    int(svc.OomScoreAdj),
	}
	if svc.CgroupParent != "" {
		host.CgroupParent = svc.CgroupParent
	}
	opts, unconfined, err := secopt.Parse(p, svc.SecurityOpt)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", svc.Name, err)
	}
	host.SecurityOpt = opts
	if unconfined {
		// systempaths=unconfined: nothing masked or read-only, as compose sends it
		host.MaskedPaths, host.ReadonlyPaths = []string{}, []string{}
	}
	for _, d := range svc.DNS {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("service %q: dns %q is not an IP address", svc.Name, d)
		}
		host.DNS = append(host.DNS, a)
	}
	if len(svc.ExtraHosts) > 0 {
		host.ExtraHosts = svc.ExtraHosts.AsList(":")
		sort.Strings(host.ExtraHosts)
	}
	if svc.Logging != nil {
		host.LogConfig = container.LogConfig{Type: svc.Logging.Driver, Config: map[string]string(svc.Logging.Options)}
	} else if svc.LogDriver != "" {
		host.LogConfig = container.LogConfig{Type: svc.LogDriver, Config: svc.LogOpt}
	}
	rp, err := restartPolicy(svc)
	if err != nil {
		return nil, err
	}
	host.RestartPolicy = rp
	resources(svc, &host.Resources)
	if err := checkServiceRefs(p, svc); err != nil {
		return nil, err
	}

	// tmpfs: short list form
	for _, t := range svc.Tmpfs {
		if host.Tmpfs == nil {
			host.Tmpfs = map[string]string{}
		}
		path, opts, _ := strings.Cut(t, ":")
		host.Tmpfs[path] = opts
	}
	return host, nil
}

// applyPorts sets the exposed ports on cfg (ranges on spec) and the port
// bindings on host.
func applyPorts(svc types.ServiceConfig, spec *ContainerSpec, cfg *container.Config, host *container.HostConfig) error {
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, e := range svc.Expose {
		if ports, _, _ := strings.Cut(e, "/"); strings.Contains(ports, "-") {
			// a range: compose sends it as written, the engine keeps it so
			if _, err := network.ParsePortRange(e); err != nil {
				return fmt.Errorf("service %q: expose %q: %w", svc.Name, e, err)
			}
			spec.rawExposed = append(spec.rawExposed, e)
			continue
		}
		port, err := parsePort(e, "tcp")
		if err != nil {
			return fmt.Errorf("service %q: expose %q: %w", svc.Name, e, err)
		}
		exposed[port] = struct{}{}
	}
	for _, pc := range svc.Ports {
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := parsePort(strconv.Itoa(int(pc.Target)), proto)
		if err != nil {
			return fmt.Errorf("service %q: port %d: %w", svc.Name, pc.Target, err)
		}
		exposed[port] = struct{}{}
		b := network.PortBinding{HostPort: pc.Published}
		if pc.HostIP != "" {
			a, err := netip.ParseAddr(pc.HostIP)
			if err != nil {
				return fmt.Errorf("service %q: port %d: host_ip %q is not an IP address", svc.Name, pc.Target, pc.HostIP)
			}
			b.HostIP = a
		}
		bindings[port] = append(bindings[port], b)
	}
	if len(exposed) > 0 {
		cfg.ExposedPorts = exposed
	}
	if len(bindings) > 0 {
		host.PortBindings = bindings
	}
	return nil
}

// applyNetworks sets the network mode on host and, without network_mode,
// the service's network attachments on spec, highest priority first.
func applyNetworks(svc types.ServiceConfig, p *types.Project, spec *ContainerSpec, host *container.HostConfig) error {
	if svc.NetworkMode != "" {
		mode, err := namespaceMode(p, svc.Name, "network_mode", svc.NetworkMode)
		if err != nil {
			return err
		}
		host.NetworkMode = container.NetworkMode(mode)
		return nil
	}
	names := svc.NetworksByPriority()
	for i, key := range names {
		nc := svc.Networks[key]
		engineName := key
		if pn, ok := p.Networks[key]; ok && pn.Name != "" {
			engineName = pn.Name
		}
		ep, err := endpointSettings(svc, key, nc, spec.Name)
		if err != nil {
			return err
		}
		if i == 0 {
			host.NetworkMode = container.NetworkMode(engineName)
		}
		spec.Networks = append(spec.Networks, NetworkAttachment{Name: engineName, Endpoint: ep})
	}
	return nil
}

// endpointSettings is the endpoint of container name on the service's
// network key; nc is that network's config, or nil.
func endpointSettings(svc types.ServiceConfig, key string, nc *types.ServiceNetworkConfig, name string) (*network.EndpointSettings, error) {
	ep := &network.EndpointSettings{}
	// compose's aliases: the container name, the service name, then the configured ones
	aliases := []string{name}
	if nc == nil || nc.ServiceNameAliasEnabled() {
		aliases = append(aliases, svc.Name)
	}
	if nc != nil {
		aliases = append(aliases, nc.Aliases...)
		// compose always passes an IPAM config for a configured network
		ep.IPAMConfig = &network.EndpointIPAMConfig{}
		for _, l := range nc.LinkLocalIPs {
			a, err := netip.ParseAddr(l)
			if err != nil {
				return nil, fmt.Errorf("service %q: network %s: link_local_ips %q: %w", svc.Name, key, l, err)
			}
			ep.IPAMConfig.LinkLocalIPs = append(ep.IPAMConfig.LinkLocalIPs, a)
		}
		if nc.Ipv4Address != "" {
			a, err := netip.ParseAddr(nc.Ipv4Address)
			if err != nil {
				return nil, fmt.Errorf("service %q: network %s: ipv4_address %q: %w", svc.Name, key, nc.Ipv4Address, err)
			}
			ep.IPAMConfig.IPv4Address = a
		}
		if nc.Ipv6Address != "" {
			a, err := netip.ParseAddr(nc.Ipv6Address)
			if err != nil {
				return nil, fmt.Errorf("service %q: network %s: ipv6_address %q: %w", svc.Name, key, nc.Ipv6Address, err)
			}
			ep.IPAMConfig.IPv6Address = a
		}
		if len(nc.DriverOpts) > 0 || nc.InterfaceName != "" {
			ep.DriverOpts = make(map[string]string, len(nc.DriverOpts)+1)
			for k, v := range nc.DriverOpts {
				ep.DriverOpts[k] = v
			}
		}
		if nc.InterfaceName != "" {
			// as compose: interface_name wins over the same driver_opts key
			ep.DriverOpts[endpointIfname] = nc.InterfaceName
		}
		ep.GwPriority = nc.GatewayPriority
	}
	ep.Aliases = aliases
	return ep, nil
}

// endpointIfname is the endpoint driver option naming the container's
// interface on a network (Engine API 1.49, Docker 28.1).
const endpointIfname = "com.docker.network.endpoint.ifname"

// CheckInterfaceNames refuses a service network's interface_name on an
// engine older than API 1.49 (Docker 28.1), as compose does; those engines
// would ignore it.
func CheckInterfaceNames(svc types.ServiceConfig, apiVersion string) error {
	if versionAtLeast(apiVersion, "1.49") || svc.NetworkMode != "" {
		return nil
	}
	for _, key := range svc.NetworksByPriority() {
		if nc := svc.Networks[key]; nc != nil && nc.InterfaceName != "" {
			return fmt.Errorf("service %q: network %s: interface_name requires Docker Engine v28.1 or later (Engine API 1.49); this engine speaks API %s", svc.Name, key, apiVersion)
		}
	}
	return nil
}

func restartPolicy(svc types.ServiceConfig) (container.RestartPolicy, error) {
	// deploy.restart_policy replaces restart whole, as compose's
	// getRestartPolicy: without a condition the policy has no name (the
	// engine's default, no restart), and max_attempts is the retry count
	// whatever the condition.
	if svc.Deploy != nil && svc.Deploy.RestartPolicy != nil {
		p := svc.Deploy.RestartPolicy
		rp := container.RestartPolicy{Name: restartMode(p.Condition)}
		if p.MaxAttempts != nil {
			rp.MaximumRetryCount = int(*p.MaxAttempts)
		}
		return rp, nil
	}
	r := svc.Restart
	name, max, _ := strings.Cut(r, ":")
	switch name {
	case "":
		return container.RestartPolicy{}, nil // unset: the engine's default, as compose sends it
	case "no":
		return container.RestartPolicy{Name: container.RestartPolicyDisabled}, nil
	case "always":
		return container.RestartPolicy{Name: container.RestartPolicyAlways}, nil
	case "unless-stopped":
		return container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}, nil
	case "on-failure":
		rp := container.RestartPolicy{Name: container.RestartPolicyOnFailure}
		if max != "" {
			n, err := strconv.Atoi(max)
			if err != nil {
				return rp, fmt.Errorf("service %q: restart %q: the retry count is not a number", svc.Name, r)
			}
			rp.MaximumRetryCount = n
		}
		return rp, nil
	}
	return container.RestartPolicy{}, fmt.Errorf("service %q: restart %q is not no, always, unless-stopped or on-failure[:N]", svc.Name, r)
}

// restartMode is the engine's name for a deploy.restart_policy condition,
// as compose's mapRestartPolicyCondition; "" stays "".
func restartMode(condition string) container.RestartPolicyMode {
	switch condition {
	case "none", "no":
		return container.RestartPolicyDisabled
	case "any", "always":
		return container.RestartPolicyAlways
	case "on-failure":
		return container.RestartPolicyOnFailure
	case "unless-stopped":
		return container.RestartPolicyUnlessStopped
	}
	return container.RestartPolicyMode(condition)
}

// resources applies mem_limit, cpus, deploy.resources.limits/reservations and friends.
func resources(svc types.ServiceConfig, r *container.Resources) {
	r.Memory = int64(svc.MemLimit)
	r.MemoryReservation = int64(svc.MemReservation)
	if svc.MemSwapLimit != 0 {
		r.MemorySwap = int64(svc.MemSwapLimit)
	}
	r.NanoCPUs = nanoCPUs(svc.CPUS)
	r.CPUShares = svc.CPUShares
	r.CPUQuota = svc.CPUQuota
	r.CPUPeriod = svc.CPUPeriod
	r.CpusetCpus = svc.CPUSet
	if svc.PidsLimit != 0 {
		n := svc.PidsLimit
		r.PidsLimit = &n
	}
	if svc.OomKillDisable {
		t := true
		r.OomKillDisable = &t
	}
	if svc.Deploy != nil {
		if l := svc.Deploy.Resources.Limits; l != nil {
			if l.MemoryBytes != 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.NanoCPUs != 0 {
				r.NanoCPUs = nanoCPUs(float32(l.NanoCPUs))
			}
			if l.Pids != 0 {
				n := l.Pids
				r.PidsLimit = &n
			}
		}
		if rs := svc.Deploy.Resources.Reservations; rs != nil {
			if rs.MemoryBytes != 0 {
				r.MemoryReservation = int64(rs.MemoryBytes)
			}
		}
	}
	r.Ulimits = append(r.Ulimits, ulimitList(svc.Ulimits)...)
}

// ulimitList converts compose ulimits (a service's or a build's), sorted by
// name.
func ulimitList(ulimits map[string]*types.UlimitsConfig) []*container.Ulimit {
	names := make([]string, 0, len(ulimits))
	for n := range ulimits {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*container.Ulimit
	for _, n := range names {
		u := ulimits[n]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		out = append(out, &container.Ulimit{Name: n, Soft: soft, Hard: hard})
	}
	return out
}

// nanoCPUs converts a compose cpus value (a float32) as compose's
// getDeployResources does: int64(cpus * 1e9) in float32 arithmetic,
// truncated, so 0.13 is 129999992 and 0.1 is 100000000.
func nanoCPUs(f float32) int64 {
	return int64(float32(f * 1e9))
}

// dependsOnLabel is com.docker.compose.depends_on: the service's
// dependencies but the optional ones (required: false) on a service the
// project does not run (disabled by its profiles, or not selected), which
// compose's NewGraph drops.
func dependsOnLabel(svc types.ServiceConfig, p *types.Project) string {
	var parts []string
	for name, d := range svc.DependsOn {
		if _, ok := p.Services[name]; !ok && !d.Required {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func parsePort(s, proto string) (network.Port, error) {
	if !strings.Contains(s, "/") {
		s += "/" + proto
	}
	return network.ParsePort(s)
}

func versionAtLeast(have, want string) bool {
	hm, hn := splitVersion(have)
	wm, wn := splitVersion(want)
	return hm > wm || (hm == wm && hn >= wn)
}

func splitVersion(v string) (int, int) {
	a, b, _ := strings.Cut(v, ".")
	x, _ := strconv.Atoi(a)
	y, _ := strconv.Atoi(b)
	return x, y
}

// HealthcheckCommand turns a healthcheck test into the command an exec runs:
// the exec form as is, the shell form through /bin/sh -c; nil for NONE.
func HealthcheckCommand(test []string) []string {
	if len(test) == 0 {
		return nil
	}
	switch test[0] {
	case "CMD":
		return test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(test[1:], " ")}
	case "NONE":
		return nil
	}
	return test
}

// VersionAtLeast compares Engine API versions like "1.41".
func VersionAtLeast(have, want string) bool { return versionAtLeast(have, want) }

// PortRange parses a published port or range ("8080", "8000-8010").
func PortRange(s string) (lo, hi int) {
	a, b, ok := strings.Cut(s, "-")
	lo, _ = strconv.Atoi(a)
	if !ok {
		return lo, lo
	}
	hi, _ = strconv.Atoi(b)
	return lo, hi
}

// EffectiveHealthcheck is the healthcheck a service's container runs: the
// file's (file) merged with its image's (image) the way the engine merges
// them at create (moby's daemon merge: the file's test, else the image's;
// each timing the file leaves unset or 0, the image's). A file's disable:
// true (test NONE) wins. nil when neither has one. What the container's
// inspect shows as Config.Healthcheck after create is this.
func EffectiveHealthcheck(file *types.HealthCheckConfig, image *container.HealthConfig) *types.HealthCheckConfig {
	if image == nil || (file != nil && file.Disable) {
		return file
	}
	out := types.HealthCheckConfig{}
	if file != nil {
		out = *file
	}
	if len(out.Test) == 0 {
		out.Test = types.HealthCheckTest(append([]string(nil), image.Test...))
	}
	fill := func(d **types.Duration, v time.Duration) {
		if (*d == nil || **d == 0) && v != 0 {
			x := types.Duration(v)
			*d = &x
		}
	}
	fill(&out.Interval, image.Interval)
	fill(&out.Timeout, image.Timeout)
	fill(&out.StartPeriod, image.StartPeriod)
	fill(&out.StartInterval, image.StartInterval)
	if (out.Retries == nil || *out.Retries == 0) && image.Retries != 0 {
		r := uint64(image.Retries)
		out.Retries = &r
	}
	return &out
}
