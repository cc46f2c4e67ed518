package engine

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
)

// NetworkIPAM converts a compose network's ipam section (driver, and per
// pool subnet, ip_range, gateway, aux_addresses) into the engine's, as
// docker compose passes it to the network create call; nil when the file
// has none (the engine then picks a subnet). ipam.options is not passed,
// as docker compose does not pass it either.
func NetworkIPAM(nc types.NetworkConfig) (*network.IPAM, error) {
	if nc.Ipam.Driver == "" && len(nc.Ipam.Config) == 0 {
		return nil, nil
	}
	out := &network.IPAM{Driver: nc.Ipam.Driver}
	for i, p := range nc.Ipam.Config {
		if p == nil {
			continue
		}
		c, err := ipamPool(p)
		if err != nil {
			return nil, fmt.Errorf("ipam.config[%d]: %w", i, err)
		}
		out.Config = append(out.Config, c)
	}
	return out, nil
}

func ipamPool(p *types.IPAMPool) (network.IPAMConfig, error) {
	var c network.IPAMConfig
	var err error
	if p.Subnet != "" {
		if c.Subnet, err = netip.ParsePrefix(p.Subnet); err != nil {
			return c, fmt.Errorf("subnet %q: %w", p.Subnet, err)
		}
	}
	if p.IPRange != "" {
		if c.IPRange, err = netip.ParsePrefix(p.IPRange); err != nil {
			return c, fmt.Errorf("ip_range %q: %w", p.IPRange, err)
		}
	}
	if p.Gateway != "" {
		if c.Gateway, err = netip.ParseAddr(p.Gateway); err != nil {
			return c, fmt.Errorf("gateway %q: %w", p.Gateway, err)
		}
	}
	names := make([]string, 0, len(p.AuxiliaryAddresses))
	for n := range p.AuxiliaryAddresses {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a, err := netip.ParseAddr(p.AuxiliaryAddresses[n])
		if err != nil {
			return c, fmt.Errorf("aux_addresses.%s %q: %w", n, p.AuxiliaryAddresses[n], err)
		}
		if c.AuxAddress == nil {
			c.AuxAddress = map[string]netip.Addr{}
		}
		c.AuxAddress[n] = a
	}
	return c, nil
}

// NewNetworkSpec is the network a deploy ensures for the compose network
// key: its engine name, driver, options, labels and ipam.
func NewNetworkSpec(project, key string, nc types.NetworkConfig) (NetworkSpec, error) {
	name := nc.Name
	if name == "" {
		name = key
	}
	ipam, err := NetworkIPAM(nc)
	if err != nil {
		return NetworkSpec{}, fmt.Errorf("network %s: %w", key, err)
	}
	return NetworkSpec{Name: name, Key: key, Project: project, Driver: nc.Driver, Options: map[string]string(nc.DriverOpts),
		Labels: map[string]string(nc.Labels), Internal: nc.Internal, External: bool(nc.External), Attach: nc.Attachable,
		IPAM: ipam, EnableIPv6: nc.EnableIPv6}, nil
}

// subnetsDiffer is an error when an existing network lacks a subnet the
// file asks for: containers with fixed addresses would fail to start, and
// the others would get addresses the file did not plan. An existing
// external network is used as it is, as docker compose does: its ipam in
// the file only applies when dive has to create it.
func subnetsDiffer(n NetworkSpec, have network.IPAM) error {
	if n.IPAM == nil || n.External {
		return nil
	}
	got := map[netip.Prefix]bool{}
	for _, c := range have.Config {
		got[c.Subnet.Masked()] = true
	}
	var missing, gotList []string
	for _, c := range n.IPAM.Config {
		if c.Subnet.IsValid() && !got[c.Subnet.Masked()] {
			missing = append(missing, c.Subnet.String())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	for p := range got {
		gotList = append(gotList, p.String())
	}
	sort.Strings(gotList)
	return fmt.Errorf("network %s exists with subnets [%s], but the file asks for %s; remove it (dive hub down, or docker network rm %s) so that dive creates it again, or change the file's ipam",
		n.Name, strings.Join(gotList, ", "), strings.Join(missing, ", "), n.Name)
}
