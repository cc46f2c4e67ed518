package stack

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/secopt"
)

// Value checks the compose schema lets through but the engine refuses (or,
// worse, refuses only after the project network and other containers
// exist). Each returns one problem per bad value, naming the service, the
// key, the value and what is accepted; Load turns them into one
// ConfigError (exit 2) before anything touches the engine, so validate,
// plan and deploy all refuse them.

// valueCheck is one family of checks on a service.
type valueCheck func(p *types.Project, name string, s types.ServiceConfig) []string

var valueChecks = []valueCheck{checkRestart, checkDNS, checkExpose, checkStaticIPs, checkCPUs, checkNetworkMode, checkSecurityOpt}

// checkValues runs every value check on every active service.
func checkValues(p *types.Project, files []string) error {
	var problems []string
	for name, s := range p.Services {
		for _, check := range valueChecks {
			problems = append(problems, check(p, name, s)...)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return &ConfigError{Msg: fmt.Sprintf("%s: invalid values:\n  %s", strings.Join(files, ", "), strings.Join(problems, "\n  ")),
		Fix: "correct each value named above (compose file reference: https://docs.docker.com/reference/compose-file/services/)"}
}

// checkRestart: no, always, unless-stopped, on-failure or on-failure:N.
func checkRestart(_ *types.Project, name string, s types.ServiceConfig) []string {
	r := s.Restart
	switch r {
	case "", types.RestartPolicyNo, types.RestartPolicyAlways, types.RestartPolicyUnlessStopped, types.RestartPolicyOnFailure:
		return nil
	}
	if n, ok := strings.CutPrefix(r, types.RestartPolicyOnFailure+":"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 0 {
			return nil
		}
	}
	return []string{fmt.Sprintf("service %q: restart %q is not a restart policy; use no, always, unless-stopped, on-failure or on-failure:N (N a count of retries)", name, r)}
}

// checkDNS: every dns: entry is an IP address.
func checkDNS(_ *types.Project, name string, s types.ServiceConfig) []string {
	var out []string
	for _, d := range s.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			out = append(out, fmt.Sprintf("service %q: dns %q is not an IP address (e.g. 1.1.1.1 or 2606:4700::1111)", name, d))
		}
	}
	return out
}

// checkExpose: PORT, PORT/PROTO, START-END or START-END/PROTO, ports 1-65535, proto tcp, udp or sctp.
func checkExpose(_ *types.Project, name string, s types.ServiceConfig) []string {
	var out []string
	for _, e := range s.Expose {
		if !validExpose(e) {
			out = append(out, fmt.Sprintf("service %q: expose %q is not a port; use PORT, PORT/PROTO, START-END or START-END/PROTO (ports 1-65535; tcp, udp or sctp)", name, e))
		}
	}
	return out
}

func validExpose(e string) bool {
	ports, proto, hasProto := strings.Cut(e, "/")
	if hasProto && proto != "tcp" && proto != "udp" && proto != "sctp" {
		return false
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 1 || a > 65535 {
		return false
	}
	if !isRange {
		return true
	}
	b, err := strconv.Atoi(hi)
	return err == nil && b >= a && b <= 65535
}

// checkSecurityOpt: KEY=VALUE, KEY:VALUE or no-new-privileges, and a
// seccomp profile file that reads as JSON (compose sends its content).
func checkSecurityOpt(p *types.Project, name string, s types.ServiceConfig) []string {
	if _, _, err := secopt.Parse(p, s.SecurityOpt); err != nil {
		return []string{fmt.Sprintf("service %q: %v", name, err)}
	}
	return nil
}

// checkStaticIPs: ipv4_address is an IPv4 address, ipv6_address an IPv6 one.
func checkStaticIPs(_ *types.Project, name string, s types.ServiceConfig) []string {
	var out []string
	for net, n := range s.Networks {
		if n == nil {
			continue
		}
		if a := n.Ipv4Address; a != "" {
			if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
				out = append(out, fmt.Sprintf("service %q: networks.%s.ipv4_address %q is not an IPv4 address (four numbers 0-255, e.g. 172.28.0.10)", name, net, a))
			}
		}
		if a := n.Ipv6Address; a != "" {
			if ip, err := netip.ParseAddr(a); err != nil || !ip.Is6() || ip.Is4In6() {
				out = append(out, fmt.Sprintf("service %q: networks.%s.ipv6_address %q is not an IPv6 address (e.g. 2001:db8::10)", name, net, a))
			}
		}
	}
	return out
}

// checkCPUs: cpus and deploy.resources cpus are not negative.
func checkCPUs(_ *types.Project, name string, s types.ServiceConfig) []string {
	var out []string
	bad := func(key string, v float32) {
		if v < 0 {
			out = append(out, fmt.Sprintf("service %q: %s %g is negative; use a number of CPUs like 0.5 or 2 (0 or unset: no limit)", name, key, v))
		}
	}
	bad("cpus", s.CPUS)
	if d := s.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil {
			bad("deploy.resources.limits.cpus", float32(l.NanoCPUs))
		}
		if r := d.Resources.Reservations; r != nil {
			bad("deploy.resources.reservations.cpus", float32(r.NanoCPUs))
		}
	}
	return out
}

// checkNetworkMode: service:NAME names an active service of the project
// (not itself); container:NAME names something.
func checkNetworkMode(p *types.Project, name string, s types.ServiceConfig) []string {
	mode := s.NetworkMode
	if target, ok := strings.CutPrefix(mode, types.ServicePrefix); ok {
		switch {
		case target == name:
			return []string{fmt.Sprintf("service %q: network_mode %q names the service itself; name another service, or remove network_mode", name, mode)}
		case target == "":
			return []string{fmt.Sprintf("service %q: network_mode %q names no service; use service:NAME with one of: %s", name, mode, strings.Join(sortedServiceNames(p), ", "))}
		}
		if _, ok := p.Services[target]; ok {
			return nil
		}
		if _, ok := p.DisabledServices[target]; ok {
			return []string{fmt.Sprintf("service %q: network_mode %q names a service that is not enabled (a profile or the service selection excludes it); enable it", name, mode)}
		}
		return []string{fmt.Sprintf("service %q: network_mode %q names no service of the project; use service:NAME with one of: %s", name, mode, strings.Join(sortedServiceNames(p), ", "))}
	}
	if target, ok := strings.CutPrefix(mode, types.ContainerPrefix); ok && target == "" {
		return []string{fmt.Sprintf("service %q: network_mode %q names no container; use container:NAME", name, mode)}
	}
	return nil
}

func sortedServiceNames(p *types.Project) []string {
	names := p.ServiceNames()
	sort.Strings(names)
	return names
}
