// Package preflight checks, before a deploy creates anything, what would
// otherwise surface minutes into it as a timeout: the engine and its API
// version, free disk on Docker's data root, memory against the declared
// limits, the host ports the stack publishes, env files and variables,
// external networks and volumes, and images. Every problem is one Check with
// its fix; the model and renderers are package validate's.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/validate"
)

// Engine is what preflight needs of the Docker engine. *engine.Engine has
// all but VolumeExists; the CLI adds that in a thin adapter. Unit tests fake it.
type Engine interface {
	APIVersion() string
	ServerVersion() string
	Host() string
	Info(ctx context.Context) (engine.SystemInfo, error)
	ListContainers(ctx context.Context, project string) ([]engine.Container, error)
	NetworkExists(ctx context.Context, name string) (bool, error)
	VolumeExists(ctx context.Context, name string) (bool, error)
	// Image inspects a local image (ID "" when it is missing).
	Image(ctx context.Context, ref string) (engine.Image, error)
}

// DefaultMinFreeDisk is the free space required on Docker's data root.
const DefaultMinFreeDisk int64 = 2 << 30

// MinAPIVersion is the oldest Engine API dive supports (Docker 20.10).
const MinAPIVersion = "1.41"

// EnvMinFreeDisk overrides the free-disk threshold (bytes, or 2GiB, 500m, ...).
const EnvMinFreeDisk = "DIVE_MIN_FREE_DISK"

// Options tune a preflight.
type Options struct {
	// MinFreeDisk on Docker's data root; 0 means DefaultMinFreeDisk.
	MinFreeDisk int64
	// Local says the engine runs on this host, so /proc/meminfo, the data
	// root's free space and host ports can be checked here. nil: decided
	// from the engine's address and answer (sameHost).
	Local *bool
	// MemAvailable reads available memory; default /proc/meminfo MemAvailable.
	MemAvailable func() (int64, error)
	// DiskFree returns the free bytes of the file system holding path; default statfs.
	DiskFree func(path string) (int64, error)
	// Listen tries to bind a host port; default net.Listen / net.ListenPacket.
	Listen func(network, addr string) error
	// RemoveOrphans: the deploy removes the project's orphan containers
	// first (--remove-orphans), so a host port one holds is a warning, not
	// a failure.
	RemoveOrphans bool
	// ImageCheck may judge an image itself (the demo's stand-in image, which
	// deploy builds from dive's own binary). handled false falls through.
	ImageCheck func(ctx context.Context, ref string, services []string) (c validate.Check, handled bool)
}

// Check names of a preflight.
const (
	CheckCompose = "compose file"
	CheckEngine  = "engine"
	CheckDisk    = "disk"
	CheckMemory  = "memory"
	CheckPort    = "port"
	CheckEnvFile = "env file"
	CheckEnv     = "env"
	CheckNetwork = "network"
	CheckVolume  = "volume"
	CheckImage   = "image"
)

// Run checks the loaded stack st against the engine. It never returns an
// error: a failed engine call is a failed check.
func Run(ctx context.Context, st *stack.Stack, eng Engine, o Options) validate.Report {
	t0 := time.Now()
	if o.MinFreeDisk <= 0 {
		o.MinFreeDisk = DefaultMinFreeDisk
	}
	info := sync.OnceValues(func() (engine.SystemInfo, error) { return eng.Info(ctx) })
	local := sync.OnceValue(func() bool {
		if o.Local != nil {
			return *o.Local
		}
		if !isLocal(eng.Host()) {
			return false
		}
		i, err := info()
		return err != nil || sameHost(i, hostname, MemTotal)
	})
	if o.MemAvailable == nil {
		o.MemAvailable = MemAvailable
	}
	if o.DiskFree == nil {
		o.DiskFree = DiskFree
	}
	if o.Listen == nil {
		o.Listen = listen
	}
	rep := validate.Report{Kind: "preflight", Project: st.Project.Name}

	// Each group of checks runs in its own goroutine and writes its own slot,
	// so the output order is fixed whatever finishes first.
	var slots [8][]validate.Check
	var wg sync.WaitGroup
	run := func(i int, f func() []validate.Check) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots[i] = f()
		}()
	}
	slots[0] = composeChecks(st)
	slots[1] = envChecks(st)
	run(2, func() []validate.Check { return engineChecks(st, eng, o, info, local) })
	run(3, func() []validate.Check { return portChecks(ctx, st, eng, o, local) })
	run(4, func() []validate.Check { return networkChecks(ctx, st, eng) })
	run(5, func() []validate.Check { return volumeChecks(ctx, st, eng) })
	run(6, func() []validate.Check { return imageChecks(ctx, st, eng, o) })
	wg.Wait()
	for _, s := range slots {
		rep.Checks = append(rep.Checks, s...)
	}
	if ctx.Err() != nil {
		rep.Checks = append(rep.Checks, validate.Check{Name: CheckEngine, Status: validate.Fail, Detail: "preflight was interrupted: " + context.Cause(ctx).Error()})
	}
	rep.Finish(time.Since(t0))
	return rep
}

// isLocal says whether an engine address may be on this host.
func isLocal(host string) bool {
	return strings.HasPrefix(host, "unix://") || strings.HasPrefix(host, "npipe://")
}

var hostname = os.Hostname

// sameHost says whether the engine that answered on a local socket runs on
// this host: it names this host and reports this kernel's total memory. A
// socket forwarded from another host (ssh -L, socat) names that host; a
// socket mounted into a container, where dive runs, names the engine's
// host, whose ports and data root are not this container's. Either unread
// here: the socket's word is taken.
func sameHost(info engine.SystemInfo, hostname func() (string, error), memTotal func() (int64, error)) bool {
	if name, err := hostname(); err == nil && info.Name != "" && !strings.EqualFold(name, info.Name) {
		return false
	}
	if mem, err := memTotal(); err == nil && info.MemTotal > 0 && mem != info.MemTotal {
		return false
	}
	return true
}

func composeChecks(st *stack.Stack) []validate.Check {
	var files []string
	for _, f := range st.Files {
		files = append(files, filepath.Base(f))
	}
	detail := fmt.Sprintf("%s loaded: project %s, %d service", strings.Join(files, ", "), st.Project.Name, len(st.Names))
	if len(st.Names) != 1 {
		detail += "s"
	}
	if len(st.Disabled) > 0 {
		detail += fmt.Sprintf(" (%d disabled by profile: %s)", len(st.Disabled), strings.Join(st.Disabled, ", "))
	}
	out := []validate.Check{{Name: CheckCompose, Status: validate.Pass, Detail: detail}}
	for _, w := range st.Warnings {
		c := validate.Check{Name: CheckCompose, Status: validate.Warn, Detail: w, Fix: "remove the key, or apply it outside dive"}
		for _, n := range st.Names {
			if strings.HasPrefix(w, fmt.Sprintf("service %q", n)) {
				c.Service, c.Class = n, st.Services[n].Class
			}
		}
		out = append(out, c)
	}
	return out
}

// FromLoadError turns an error from loading the stack into a preflight
// report with one failed check that names the problem (a missing required
// variable, a missing env file, an invalid compose file).
func FromLoadError(err error) validate.Report {
	rep := validate.Report{Kind: "preflight"}
	var ce *stack.ConfigError
	c := validate.Check{Name: CheckCompose, Status: validate.Fail, Detail: err.Error()}
	if errors.As(err, &ce) {
		c.Detail, c.Fix = firstLine(ce.Msg), ce.Fix
		msg := ce.Msg
		switch {
		case strings.Contains(msg, "required variable "):
			c.Name = CheckEnv
			v := strings.Fields(msg[strings.Index(msg, "required variable ")+len("required variable "):])[0]
			where := ""
			if i := strings.Index(msg, "error while interpolating "); i >= 0 {
				where = strings.TrimSuffix(strings.Fields(msg[i+len("error while interpolating "):])[0], ":")
			}
			c.Detail = fmt.Sprintf("required variable %s is not set", v)
			if where != "" {
				c.Detail += " (used in " + where + ")"
			}
			if _, after, ok := strings.Cut(msg, "is missing a value: "); ok && strings.TrimSpace(after) != "" && strings.TrimSpace(after) != v {
				c.Detail += ": " + strings.TrimSpace(after)
			}
			if c.Fix == "" {
				c.Fix = fmt.Sprintf("set %s in the env file (--env-file) or in the environment", v)
			}
		case strings.Contains(msg, "env file"):
			c.Name = CheckEnvFile
		}
	}
	rep.Checks = []validate.Check{c}
	rep.Finish(0)
	return rep
}

// Unreachable is the report of a preflight whose engine did not answer.
func Unreachable(err error) validate.Report {
	rep := validate.Report{Kind: "preflight"}
	fix := "start the Docker engine, or point DOCKER_HOST at a running one"
	detail := err.Error()
	if d, f, ok := strings.Cut(detail, "\n  fix: "); ok {
		detail, fix = d, f
	}
	rep.Checks = []validate.Check{{Name: CheckEngine, Status: validate.Fail, Detail: detail, Fix: fix}}
	rep.Finish(0)
	return rep
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func engineChecks(st *stack.Stack, eng Engine, o Options, info func() (engine.SystemInfo, error), local func() bool) []validate.Check {
	var out []validate.Check
	api := eng.APIVersion()
	c := validate.Check{Name: CheckEngine, Status: validate.Pass,
		Detail: fmt.Sprintf("Docker %s at %s answers, Engine API %s", eng.ServerVersion(), eng.Host(), api)}
	if !engine.VersionAtLeast(api, MinAPIVersion) {
		c.Status = validate.Fail
		c.Detail = fmt.Sprintf("Docker %s at %s speaks Engine API %s; dive needs %s or newer (Docker 20.10+)", eng.ServerVersion(), eng.Host(), api, MinAPIVersion)
		c.Fix = "upgrade the Docker engine"
	}
	out = append(out, c)
	if !engine.VersionAtLeast(api, "1.44") {
		for _, n := range st.Names {
			s := st.Services[n]
			if hc := s.Config.HealthCheck; hc != nil && hc.StartInterval != nil && s.HasHealthcheck() {
				out = append(out, validate.Check{Name: CheckEngine, Service: n, Class: s.Class, Status: validate.Warn,
					Detail: fmt.Sprintf("healthcheck.start_interval needs Engine API 1.44 (Docker 25); this engine (API %s) ignores it", api),
					Fix:    "nothing to do: dive's own probe still checks early; upgrade Docker to have the engine honour it"})
			}
		}
	}
	if !engine.VersionAtLeast(api, "1.43") {
		for _, n := range st.Names {
			if s := st.Services[n]; len(s.Config.Annotations) > 0 {
				out = append(out, validate.Check{Name: CheckEngine, Service: n, Class: s.Class, Status: validate.Warn,
					Detail: fmt.Sprintf("annotations need Engine API 1.43 (Docker 24); this engine (API %s) cannot carry them, so dive drops them", api),
					Fix:    "upgrade Docker to have them applied, or remove them"})
			}
		}
	}

	i, err := info()
	if err != nil {
		return append(out, validate.Check{Name: CheckEngine, Status: validate.Fail, Detail: fmt.Sprintf("docker info failed: %v", err), Fix: "check the engine (docker info)"})
	}
	out = append(out, diskCheck(i, o, local()))
	out = append(out, memoryChecks(st, i, o, local())...)
	return out
}

func diskCheck(info engine.SystemInfo, o Options, local bool) validate.Check {
	c := validate.Check{Name: CheckDisk}
	root := info.DataRoot
	if root == "" {
		root = "/var/lib/docker"
	}
	if !local {
		c.Status, c.Detail = validate.Warn, fmt.Sprintf("the engine is not on this host, so free disk on its data root %s is not measured", root)
		c.Fix = fmt.Sprintf("make sure %s has at least %s free on the engine's host", root, bytesText(o.MinFreeDisk))
		return c
	}
	free, err := o.DiskFree(root)
	if err != nil {
		c.Status, c.Detail = validate.Warn, fmt.Sprintf("cannot measure free disk on Docker's data root %s: %v", root, err)
		c.Fix = fmt.Sprintf("check it yourself (df -h %s); it needs at least %s", root, bytesText(o.MinFreeDisk))
		return c
	}
	if free < o.MinFreeDisk {
		c.Status = validate.Fail
		c.Detail = fmt.Sprintf("only %s free on Docker's data root %s (needs at least %s)", bytesText(free), root, bytesText(o.MinFreeDisk))
		c.Fix = fmt.Sprintf("free space (docker image prune, docker builder prune, docker system df to see what uses it), or lower the threshold with --min-disk / %s", EnvMinFreeDisk)
		return c
	}
	c.Status, c.Detail = validate.Pass, fmt.Sprintf("%s free on Docker's data root %s (threshold %s)", bytesText(free), root, bytesText(o.MinFreeDisk))
	return c
}

// MemoryLimit is a service's effective memory limit: deploy.resources.limits.memory,
// else mem_limit (the engine conversion applies them in that precedence).
func MemoryLimit(s types.ServiceConfig) int64 {
	if s.Deploy != nil && s.Deploy.Resources.Limits != nil && s.Deploy.Resources.Limits.MemoryBytes > 0 {
		return int64(s.Deploy.Resources.Limits.MemoryBytes)
	}
	return int64(s.MemLimit)
}

// MemoryReservation is deploy.resources.reservations.memory, else mem_reservation.
func MemoryReservation(s types.ServiceConfig) int64 {
	if s.Deploy != nil && s.Deploy.Resources.Reservations != nil && s.Deploy.Resources.Reservations.MemoryBytes > 0 {
		return int64(s.Deploy.Resources.Reservations.MemoryBytes)
	}
	return int64(s.MemReservation)
}

func memoryChecks(st *stack.Stack, info engine.SystemInfo, o Options, local bool) []validate.Check {
	var limits, reserved int64
	var unlimited []string
	for _, n := range st.Names {
		s := st.Services[n].Config
		if l := MemoryLimit(s); l > 0 {
			limits += l
		} else {
			unlimited = append(unlimited, n)
		}
		reserved += MemoryReservation(s)
	}
	total := info.MemTotal
	avail, source := total, "the engine's total memory"
	var availErr error
	if local {
		if a, err := o.MemAvailable(); err == nil {
			avail, source = a, "MemAvailable in /proc/meminfo"
		} else {
			availErr = err
		}
	}
	c := validate.Check{Name: CheckMemory, Status: validate.Pass}
	lim := fmt.Sprintf("memory limits total %s over %d of %d services", bytesText(limits), len(st.Names)-len(unlimited), len(st.Names))
	if len(unlimited) == len(st.Names) {
		lim = "no service declares a memory limit"
	} else if len(unlimited) > 0 {
		lim += fmt.Sprintf(" (no limit: %s)", strings.Join(unlimited, ", "))
	}
	switch {
	case total > 0 && limits > total:
		c.Status = validate.Fail
		c.Detail = fmt.Sprintf("%s, more than the engine's %s of memory", lim, bytesText(total))
		c.Fix = "lower deploy.resources.limits.memory / mem_limit, or run on a host with more memory"
	case avail > 0 && limits > avail:
		c.Status = validate.Warn
		c.Detail = fmt.Sprintf("%s, more than the %s available now (%s)", lim, bytesText(avail), source)
		c.Fix = "limits are ceilings, so the stack may still fit; stop other workloads or add memory if containers get OOM-killed"
	case avail > 0 && reserved > avail:
		c.Status = validate.Warn
		c.Detail = fmt.Sprintf("memory reservations total %s, more than the %s available now (%s)", bytesText(reserved), bytesText(avail), source)
		c.Fix = "stop other workloads or add memory"
	default:
		c.Detail = fmt.Sprintf("%s; %s available (%s)", lim, bytesText(avail), source)
	}
	out := []validate.Check{c}
	if availErr != nil {
		out = append(out, validate.Check{Name: CheckMemory, Status: validate.Warn, Detail: fmt.Sprintf("cannot read available memory (%v); compared with the engine's total instead", availErr)})
	}
	return out
}

// hostPort is one host port the stack publishes.
type hostPort struct {
	service  string
	class    stack.Class
	ip       string // host_ip as written; "" is every address
	port     int
	proto    string
	target   uint32
	rangeLen int // >1 when published is a range of which the engine picks one
	rangeLo  int
}

func (h hostPort) addr() string {
	ip := h.ip
	if ip == "" {
		ip = "0.0.0.0"
	}
	return net.JoinHostPort(ip, strconv.Itoa(h.port))
}

func stackPorts(st *stack.Stack) []hostPort {
	var out []hostPort
	for _, n := range st.Names {
		s := st.Services[n]
		for _, pc := range s.Config.Ports {
			if pc.Published == "" {
				continue // the engine picks a free port
			}
			proto := pc.Protocol
			if proto == "" {
				proto = "tcp"
			}
			lo, hi := engine.PortRange(pc.Published)
			if lo <= 0 || hi < lo {
				continue
			}
			if hi-lo > 64 {
				hi = lo + 64
			}
			for p := lo; p <= hi; p++ {
				out = append(out, hostPort{service: n, class: s.Class, ip: pc.HostIP, port: p, proto: proto, target: pc.Target, rangeLen: hi - lo + 1, rangeLo: lo})
			}
		}
	}
	return out
}

func unspecifiedIP(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

func overlaps(a, b string) bool { return unspecifiedIP(a) || unspecifiedIP(b) || a == b }

func portChecks(ctx context.Context, st *stack.Stack, eng Engine, o Options, local func() bool) []validate.Check {
	ports := stackPorts(st)
	if len(ports) == 0 {
		return nil
	}
	// Two services of the stack on the same host port: the second cannot start.
	clash, out := portClashes(ports)
	if !local() {
		return append(out, validate.Check{Name: CheckPort, Status: validate.Warn,
			Detail: fmt.Sprintf("the engine at %s is not on this host, so its host ports are not checked", eng.Host()),
			Fix:    "make sure the published ports are free on the engine's host"})
	}
	errs := listenAll(ports, clash, o)

	// Taken ports held by this project's own containers are fine: the deploy
	// reuses or replaces them.
	h := &portHolders{ctx: ctx, eng: eng, project: st.Project.Name, configured: newConfiguredPorts(ctx, eng),
		declared: st.Declares, removeOrphans: o.RemoveOrphans}

	// A published range needs one free port of the range.
	rangeFree := map[string]bool{}
	for i, p := range ports {
		if errs[i] == nil && p.rangeLen > 1 {
			rangeFree[fmt.Sprintf("%s/%d", p.service, p.rangeLo)] = true
		}
	}
	reportedRange := map[string]bool{}
	for i, p := range ports {
		if clash[i] {
			continue
		}
		if p.rangeLen > 1 {
			key := fmt.Sprintf("%s/%d", p.service, p.rangeLo)
			if reportedRange[key] {
				continue
			}
			reportedRange[key] = true
			if rangeFree[key] {
				out = append(out, portCheck(p, validate.Pass, fmt.Sprintf("ports %d-%d on %s: at least one is free", p.rangeLo, p.rangeLo+p.rangeLen-1, orAll(p.ip)), ""))
				continue
			}
		}
		out = append(out, h.listenChecks(p, errs[i])...)
	}
	return out
}

// portClashes finds the host ports two services of the stack publish: the
// indexes in ports of both, and a check for each pair.
func portClashes(ports []hostPort) (map[int]bool, []validate.Check) {
	var out []validate.Check
	clash := map[int]bool{}
	for i := range ports {
		for j := i + 1; j < len(ports); j++ {
			a, b := ports[i], ports[j]
			if a.service != b.service && a.port == b.port && a.proto == b.proto && overlaps(a.ip, b.ip) && a.rangeLen == 1 && b.rangeLen == 1 {
				clash[i], clash[j] = true, true
				out = append(out, validate.Check{Name: CheckPort, Service: b.service, Class: validate.StrongestClass(a.class, b.class), Status: validate.Fail,
					Detail: fmt.Sprintf("port %s/%s is published by both %s and %s", b.addr(), b.proto, a.service, b.service),
					Fix:    "give one of them another host port in its ports: mapping"})
			}
		}
	}
	return clash, out
}

// listenAll tries to bind each port that does not clash, all at once; the
// errors are in the order of ports.
func listenAll(ports []hostPort, clash map[int]bool, o Options) []error {
	errs := make([]error, len(ports))
	var wg sync.WaitGroup
	for i, p := range ports {
		if clash[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = o.Listen(p.proto, p.addr())
		}()
	}
	wg.Wait()
	return errs
}

// portHolders finds the container holding a host port, listing the
// containers only when first needed.
type portHolders struct {
	ctx                  context.Context
	eng                  Engine
	project              string
	configured           *configuredPorts
	declared             func(service string) bool // the file declares the service (else its containers are orphans)
	removeOrphans        bool                      // the deploy removes orphans first
	own, managed         []engine.Container
	ownErr               error
	ownOnce, managedOnce sync.Once
}

// holder is the container publishing p, whether it is one of the project's,
// and whether there is one.
func (h *portHolders) holder(p hostPort) (engine.Container, bool, bool) {
	h.ownOnce.Do(func() { h.own, h.ownErr = h.eng.ListContainers(h.ctx, h.project) })
	for _, c := range h.own {
		if publishes(c, p) || h.configured.publishes(c, p) {
			return c, true, true
		}
	}
	h.managedOnce.Do(func() { h.managed, _ = h.eng.ListContainers(h.ctx, "") })
	for _, c := range h.managed {
		if publishes(c, p) {
			return c, false, true
		}
	}
	return engine.Container{}, false, false
}

func portCheck(p hostPort, st validate.Status, detail, fix string) validate.Check {
	return validate.Check{Name: CheckPort, Service: p.service, Class: p.class, Status: st, Detail: detail, Fix: fix}
}

// listenChecks are the checks of port p that binding it returned err.
func (h *portHolders) listenChecks(p hostPort, err error) []validate.Check {
	var out []validate.Check
	mk := func(st validate.Status, detail, fix string) validate.Check { return portCheck(p, st, detail, fix) }
	where := fmt.Sprintf("port %s", p.addr())
	if p.proto != "tcp" {
		where += "/" + p.proto
	}
	switch {
	case err == nil:
		out = append(out, mk(validate.Pass, where+" is free", ""))
	case errors.Is(err, syscall.EADDRINUSE):
		if c, ours, ok := h.holder(p); ok && ours && !h.declared(c.Service) {
			out = append(out, h.orphanCheck(p, where, c))
		} else if ok && ours {
			out = append(out, mk(validate.Pass, fmt.Sprintf("%s is held by this project's container %s (service %s); the deploy reuses or replaces it", where, c.Name, c.Service), ""))
		} else if ok {
			out = append(out, mk(validate.Fail, fmt.Sprintf("%s (service %s) is in use by container %s of project %s", where, p.service, c.Name, c.Project),
				fmt.Sprintf("stop that project (dive hub down -p %s) or change the ports: mapping", c.Project)))
		} else {
			out = append(out, mk(validate.Fail, fmt.Sprintf("%s (service %s) is in use by another process", where, p.service),
				"free it or change the ports: mapping"))
		}
		if h.ownErr != nil {
			out = append(out, mk(validate.Warn, fmt.Sprintf("could not list the project's containers to see who holds %s: %v", where, h.ownErr), ""))
		}
	case errors.Is(err, syscall.EACCES):
		out = append(out, mk(validate.Warn, fmt.Sprintf("%s (service %s) could not be tested: binding a port below 1024 needs root", where, p.service),
			"run preflight as root, or check it yourself (ss -ltnp)"))
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		out = append(out, mk(validate.Fail, fmt.Sprintf("%s (service %s): host_ip %s is not an address of this host", where, p.service, p.ip),
			"use an address this host has (ip addr), 127.0.0.1, or none for every address"))
	default:
		out = append(out, mk(validate.Fail, fmt.Sprintf("%s (service %s) cannot be bound: %v", where, p.service, err),
			"free it or change the ports: mapping"))
	}
	return out
}

// orphanCheck: port p is held by a container of the project whose service
// the file no longer declares. The deploy neither reuses nor replaces it, so
// its container cannot publish the port unless --remove-orphans removes the
// orphan first.
func (h *portHolders) orphanCheck(p hostPort, where string, c engine.Container) validate.Check {
	detail := fmt.Sprintf("%s (service %s) is held by orphan container %s of this project: its service %s is no longer in the compose file", where, p.service, c.Name, c.Service)
	if h.removeOrphans {
		return portCheck(p, validate.Warn, detail+"; --remove-orphans removes it before the deploy creates anything", "")
	}
	return portCheck(p, validate.Fail, detail+"; the deploy would leave it running",
		"deploy with --remove-orphans (it removes orphan containers first), or remove the project's containers: dive hub down")
}

func orAll(ip string) string {
	if ip == "" {
		return "every address"
	}
	return ip
}

func publishes(c engine.Container, p hostPort) bool {
	for _, cp := range c.Ports {
		if int(cp.PublicPort) != p.port || string(cp.Type) != p.proto {
			continue
		}
		ip := ""
		if cp.IP.IsValid() {
			ip = cp.IP.String()
		}
		if overlaps(ip, p.ip) {
			return true
		}
	}
	return false
}

// listen binds and releases a host port.
func listen(proto, addr string) error {
	switch proto {
	case "udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return pc.Close()
	case "sctp":
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

func networkChecks(ctx context.Context, st *stack.Stack, eng Engine) []validate.Check {
	users := map[string][]string{}
	classes := map[string][]stack.Class{}
	for _, n := range st.Names {
		s := st.Services[n]
		if s.Config.NetworkMode != "" {
			continue
		}
		for key := range s.Config.Networks {
			users[key] = append(users[key], n)
			classes[key] = append(classes[key], s.Class)
		}
	}
	var keys []string
	for key, nw := range st.Project.Networks {
		if nw.External && len(users[key]) > 0 {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	out := make([]validate.Check, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := st.Project.Networks[key].Name
			if name == "" {
				name = key
			}
			sort.Strings(users[key])
			c := validate.Check{Name: CheckNetwork, Class: validate.StrongestClass(classes[key]...)}
			ok, err := eng.NetworkExists(ctx, name)
			switch {
			case err != nil:
				c.Status, c.Detail, c.Fix = validate.Fail, fmt.Sprintf("cannot look up external network %s: %v", name, err), "check the engine (docker info)"
			case ok:
				c.Status, c.Detail = validate.Pass, fmt.Sprintf("external network %s exists (used by %s)", name, strings.Join(users[key], ", "))
			default:
				c.Status = validate.Warn
				c.Detail = fmt.Sprintf("external network %s does not exist (used by %s); the deploy will create it", name, strings.Join(users[key], ", "))
				c.Fix = fmt.Sprintf("create it yourself if other stacks must share it: docker network create %s", name)
			}
			out[i] = c
		}()
	}
	wg.Wait()
	return out
}

func volumeChecks(ctx context.Context, st *stack.Stack, eng Engine) []validate.Check {
	users := map[string][]string{}
	classes := map[string][]stack.Class{}
	for _, n := range st.Names {
		s := st.Services[n]
		for _, v := range s.Config.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				users[v.Source] = append(users[v.Source], n)
				classes[v.Source] = append(classes[v.Source], s.Class)
			}
		}
	}
	var keys []string
	for key, v := range st.Project.Volumes {
		if v.External && len(users[key]) > 0 {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	out := make([]validate.Check, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := st.Project.Volumes[key].Name
			if name == "" {
				name = key
			}
			c := validate.Check{Name: CheckVolume, Class: validate.StrongestClass(classes[key]...)}
			ok, err := eng.VolumeExists(ctx, name)
			switch {
			case err != nil:
				c.Status, c.Detail, c.Fix = validate.Fail, fmt.Sprintf("cannot look up external volume %s: %v", name, err), "check the engine (docker info)"
			case ok:
				c.Status, c.Detail = validate.Pass, fmt.Sprintf("external volume %s exists (used by %s)", name, strings.Join(users[key], ", "))
			default:
				c.Status = validate.Fail
				c.Detail = fmt.Sprintf("external volume %s does not exist (used by %s)", name, strings.Join(users[key], ", "))
				c.Fix = fmt.Sprintf("create it: docker volume create %s (dive never creates external volumes)", name)
			}
			out[i] = c
		}()
	}
	wg.Wait()
	return out
}

func imageChecks(ctx context.Context, st *stack.Stack, eng Engine, o Options) []validate.Check {
	type img struct {
		ref      string
		services []string
		classes  []stack.Class
		build    *types.BuildConfig
		never    bool
	}
	byRef := map[string]*img{}
	for _, n := range st.Names {
		s := st.Services[n]
		ref := engine.ImageName(st.Project.Name, s.Config)
		im := byRef[ref]
		if im == nil {
			im = &img{ref: ref}
			byRef[ref] = im
		}
		im.services = append(im.services, n)
		im.classes = append(im.classes, s.Class)
		if s.Config.Build != nil && im.build == nil {
			im.build = s.Config.Build
		}
		if s.Config.PullPolicy == types.PullPolicyNever {
			im.never = true
		}
	}
	refs := make([]string, 0, len(byRef))
	for r := range byRef {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	out := make([]validate.Check, len(refs))
	health := make([][]validate.Check, len(refs))
	waiters := healthyWaiters(st)
	var wg sync.WaitGroup
	for i, ref := range refs {
		im := byRef[ref]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := validate.Check{Name: CheckImage, Class: validate.StrongestClass(im.classes...)}
			if len(im.services) == 1 {
				c.Service = im.services[0]
			}
			used := strings.Join(im.services, ", ")
			image, err := eng.Image(ctx, ref)
			id := image.ID
			if id != "" {
				health[i] = imageHealthChecks(st, im.services, image, waiters)
			}
			switch {
			case err != nil:
				c.Status, c.Detail, c.Fix = validate.Fail, fmt.Sprintf("cannot inspect image %s: %v", ref, err), "check the engine (docker info)"
			case id != "":
				c.Status, c.Detail = validate.Pass, fmt.Sprintf("image %s is present (%s; used by %s)", ref, shortID(id), used)
				if im.build != nil {
					c.Detail += "; deploy --build rebuilds it"
				}
			default:
				if o.ImageCheck != nil {
					if hc, ok := o.ImageCheck(ctx, ref, im.services); ok {
						hc.Name, hc.Class = CheckImage, c.Class
						if hc.Service == "" {
							hc.Service = c.Service
						}
						out[i] = hc
						return
					}
				}
				switch {
				case im.build != nil:
					c.Status, c.Detail, c.Fix = buildable(ref, im.build, used)
				case im.never:
					c.Status = validate.Fail
					c.Detail = fmt.Sprintf("image %s (used by %s) is not present and pull_policy is never", ref, used)
					c.Fix = fmt.Sprintf("load or build it first: docker load -i …, or docker build -t %s …", ref)
				default:
					c.Status = validate.Warn
					c.Detail = fmt.Sprintf("image %s (used by %s) is not present locally; the deploy will pull it", ref, used)
					c.Fix = fmt.Sprintf("pull it now (docker pull %s) or load it (docker load) if this host cannot reach its registry", ref)
				}
			}
			out[i] = c
		}()
	}
	wg.Wait()
	for _, h := range health {
		out = append(out, h...)
	}
	return out
}

// healthyWaiters are, per service, the services that wait for it to be
// healthy (depends_on condition: service_healthy), when the file leaves
// its healthcheck to its image.
func healthyWaiters(st *stack.Stack) map[string][]string {
	out := map[string][]string{}
	for _, n := range st.Names {
		for dep, d := range st.Services[n].Config.DependsOn {
			if ds := st.Services[dep]; ds != nil && d.Condition == types.ServiceConditionHealthy && ds.ImageHealthcheckMatters() {
				out[dep] = append(out[dep], n)
			}
		}
	}
	for _, w := range out {
		sort.Strings(w)
	}
	return out
}

// imageHealthChecks warn about the services of a local image that others
// wait to be healthy for while neither the file nor the image gives them a
// healthcheck: the deploy would fail those dependents.
func imageHealthChecks(st *stack.Stack, services []string, image engine.Image, waiters map[string][]string) []validate.Check {
	var out []validate.Check
	for _, n := range services {
		s := st.Services[n]
		if len(waiters[n]) == 0 || stack.HealthcheckRuns(engine.EffectiveHealthcheck(s.Config.HealthCheck, image.Healthcheck)) {
			continue
		}
		classes := []stack.Class{}
		for _, w := range waiters[n] {
			classes = append(classes, st.Services[w].Class)
		}
		ref := engine.ImageName(st.Project.Name, s.Config)
		out = append(out, validate.Check{Name: CheckImage, Service: n, Class: validate.StrongestClass(classes...), Status: validate.Warn,
			Detail: fmt.Sprintf("%s wait(s) for %q to be healthy, but %q has no healthcheck: the compose file gives it none and its image %s has no HEALTHCHECK; the deploy will fail %s",
				strings.Join(waiters[n], ", "), n, n, ref, strings.Join(waiters[n], ", ")),
			Fix: fmt.Sprintf("give %q a healthcheck (healthcheck.test, or HEALTHCHECK in its Dockerfile), or make %s wait with condition: service_started", n, strings.Join(waiters[n], ", "))})
	}
	return out
}

// buildable checks that a build: section can be built: its context folder
// and its Dockerfile exist.
func buildable(ref string, b *types.BuildConfig, used string) (validate.Status, string, string) {
	ctxDir := b.Context
	if ctxDir == "" {
		ctxDir = "."
	}
	if strings.Contains(ctxDir, "://") || strings.HasPrefix(ctxDir, "git@") {
		return validate.Pass, fmt.Sprintf("image %s (used by %s) is not present; the deploy will build it from the remote context %s", ref, used, ctxDir), ""
	}
	fi, err := os.Stat(ctxDir)
	if err != nil || !fi.IsDir() {
		return validate.Fail, fmt.Sprintf("image %s (used by %s) is not present and its build context %s does not exist", ref, used, ctxDir),
			"fix build.context in the compose file, or check out the folder it names"
	}
	if b.DockerfileInline != "" {
		return validate.Pass, fmt.Sprintf("image %s (used by %s) is not present; the deploy will build it from %s (inline Dockerfile)", ref, used, ctxDir), ""
	}
	df := b.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	path := df
	if !filepath.IsAbs(path) {
		path = filepath.Join(ctxDir, df)
	}
	if _, err := os.Stat(path); err != nil {
		return validate.Fail, fmt.Sprintf("image %s (used by %s) is not present and its Dockerfile %s does not exist", ref, used, path),
			"fix build.dockerfile in the compose file, or add the file"
	}
	return validate.Pass, fmt.Sprintf("image %s (used by %s) is not present; the deploy will build it from %s", ref, used, path), ""
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
