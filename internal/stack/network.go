package stack

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Network is one network the active services use, as a deploy treats it.
type Network struct {
	Key      string   `json:"key"`  // the compose key
	Name     string   `json:"name"` // the engine name
	Driver   string   `json:"driver,omitempty"`
	External bool     `json:"external,omitempty"`
	Subnets  []string `json:"subnets,omitempty"` // ipam.config subnets, as written
	// Note says what dive does that compose would not: it creates a missing
	// external network (compose refuses to start) with the file's ipam.
	Note string `json:"note,omitempty"`
}

// Networks lists the networks the active services use, sorted by key.
func (s *Stack) Networks() []Network {
	used := map[string]bool{}
	for _, n := range s.Names {
		for k := range s.Services[n].Config.Networks {
			used[k] = true
		}
	}
	var out []Network
	for key, nc := range s.Project.Networks {
		if !used[key] {
			continue
		}
		n := Network{Key: key, Name: nc.Name, Driver: nc.Driver, External: bool(nc.External)}
		if n.Name == "" {
			n.Name = key
		}
		for _, p := range nc.Ipam.Config {
			if p != nil && p.Subnet != "" {
				n.Subnets = append(n.Subnets, p.Subnet)
			}
		}
		if n.External {
			n.Note = "external: used as is when it exists; dive creates it when missing (docker compose would refuse)"
			if len(n.Subnets) > 0 {
				n.Note += ", with the file's ipam"
			}
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// checkNetworks refuses what the engine would refuse only once containers
// exist: an ipam pool that does not parse, and a fixed service address
// (ipv4_address, ipv6_address) outside its network's subnets or on a
// network dive creates without any subnet.
func (s *Stack) checkNetworks() error {
	var errs []string
	subnets := map[string][]netip.Prefix{}
	for key, nc := range s.Project.Networks {
		ps, perrs := ipamPools(key, nc)
		errs = append(errs, perrs...)
		subnets[key] = ps
	}
	for _, name := range s.Names {
		for key, sn := range s.Services[name].Config.Networks {
			if sn == nil {
				continue
			}
			for _, a := range []string{sn.Ipv4Address, sn.Ipv6Address} {
				if a == "" {
					continue
				}
				if err := fixedAddress(name, key, a, s.Project.Networks[key], subnets[key]); err != "" {
					errs = append(errs, err)
				}
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Strings(errs)
	return &ConfigError{Msg: strings.Join(s.Files, ", ") + ": " + strings.Join(errs, "; "),
		Fix: "networks.<name>.ipam.config takes subnet (like 172.20.0.0/16), gateway and ip_range inside it, aux_addresses; a service's ipv4_address must lie in one of its network's subnets"}
}

// ipamPools parses a network's ipam pools: the subnets, and errors naming
// the value that does not parse or does not fit.
func ipamPools(key string, nc types.NetworkConfig) ([]netip.Prefix, []string) {
	var out []netip.Prefix
	var errs []string
	for i, p := range nc.Ipam.Config {
		if p == nil {
			continue
		}
		where := fmt.Sprintf("network %q: ipam.config[%d]", key, i)
		var sub netip.Prefix
		if p.Subnet != "" {
			v, err := netip.ParsePrefix(p.Subnet)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: subnet %q is not a CIDR subnet", where, p.Subnet))
				continue
			}
			sub = v.Masked()
			out = append(out, sub)
		}
		inside := func(what, v string, ok bool) {
			if !ok {
				errs = append(errs, fmt.Sprintf("%s: %s %q does not parse", where, what, v))
			} else if sub.IsValid() && !sub.Contains(mustAddr(v)) {
				errs = append(errs, fmt.Sprintf("%s: %s %q is outside subnet %s", where, what, v, p.Subnet))
			}
		}
		if p.Gateway != "" {
			_, err := netip.ParseAddr(p.Gateway)
			inside("gateway", p.Gateway, err == nil)
		}
		if p.IPRange != "" {
			r, err := netip.ParsePrefix(p.IPRange)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: ip_range %q is not a CIDR range", where, p.IPRange))
			} else if sub.IsValid() && (!sub.Contains(r.Addr()) || r.Bits() < sub.Bits()) {
				errs = append(errs, fmt.Sprintf("%s: ip_range %q is outside subnet %s", where, p.IPRange, p.Subnet))
			}
		}
		for name, a := range p.AuxiliaryAddresses {
			_, err := netip.ParseAddr(a)
			inside("aux_addresses."+name, a, err == nil)
		}
	}
	return out, errs
}

// fixedAddress checks one ipv4_address/ipv6_address; "" when it is fine.
func fixedAddress(svc, key, a string, nc types.NetworkConfig, subnets []netip.Prefix) string {
	addr, err := netip.ParseAddr(a)
	if err != nil {
		field, kind := "ipv4_address", "IPv4"
		if strings.Contains(a, ":") {
			field, kind = "ipv6_address", "IPv6"
		}
		return fmt.Sprintf("service %q: network %q: %s %q is not an %s address", svc, key, field, a, kind)
	}
	if len(subnets) == 0 {
		if bool(nc.External) || (nc.Driver != "" && nc.Driver != "bridge") {
			return "" // the engine knows that network's subnets, the file does not
		}
		return fmt.Sprintf("service %q: network %q: address %s needs a subnet: the engine only accepts fixed addresses on networks created with ipam.config subnets", svc, key, a)
	}
	for _, p := range subnets {
		if p.Contains(addr) {
			return ""
		}
	}
	ss := make([]string, len(subnets))
	for i, p := range subnets {
		ss[i] = p.String()
	}
	return fmt.Sprintf("service %q: network %q: address %s is outside the network's subnets (%s)", svc, key, a, strings.Join(ss, ", "))
}

func mustAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// checkContainerNames refuses two active services with the same
// container_name, as docker compose does (dive would otherwise create one
// and fail the other with a misleading conflict).
func (s *Stack) checkContainerNames() error {
	by := map[string][]string{}
	for name, cfg := range s.Project.Services {
		if cfg.ContainerName != "" {
			by[cfg.ContainerName] = append(by[cfg.ContainerName], name)
		}
	}
	var errs []string
	for cn, svcs := range by {
		if len(svcs) > 1 {
			sort.Strings(svcs)
			errs = append(errs, fmt.Sprintf("services %s all set container_name %q", quoteJoin(svcs), cn))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Strings(errs)
	return &ConfigError{Msg: strings.Join(s.Files, ", ") + ": " + strings.Join(errs, "; "),
		Fix: "a container name is unique on the engine: give each service its own container_name (docker compose refuses such a file too)"}
}

func quoteJoin(ss []string) string {
	q := make([]string, len(ss))
	for i, v := range ss {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, " and ")
}

// Reference is a dependency that comes from a key other than depends_on:
// network_mode, ipc or pid "service:NAME", volumes_from or links.
// compose-go adds each to depends_on (condition service_started), so it is
// an edge of the graph like any other.
type Reference struct {
	From string `json:"from"`
	To   string `json:"to"`
	Key  string `json:"key"` // network_mode, ipc, pid, volumes_from, links
}

// References lists the active services' references to other services,
// sorted.
func (s *Stack) References() []Reference {
	var out []Reference
	add := func(from, key, to string) {
		if to != "" {
			out = append(out, Reference{From: from, To: to, Key: key})
		}
	}
	svcRef := func(v string) string {
		n, _ := strings.CutPrefix(v, types.ServicePrefix)
		if n == v {
			return ""
		}
		return n
	}
	for _, n := range s.Names {
		c := s.Services[n].Config
		add(n, "network_mode", svcRef(c.NetworkMode))
		add(n, "ipc", svcRef(c.Ipc))
		add(n, "pid", svcRef(c.Pid))
		for _, v := range c.VolumesFrom {
			if !strings.HasPrefix(v, types.ContainerPrefix) {
				name, _, _ := strings.Cut(v, ":")
				add(n, "volumes_from", name)
			}
		}
		for _, l := range c.Links {
			name, _, _ := strings.Cut(l, ":")
			add(n, "links", name)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.From != b.From {
			return a.From < b.From
		}
		if a.To != b.To {
			return a.To < b.To
		}
		return a.Key < b.Key
	})
	return out
}
