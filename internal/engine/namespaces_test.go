package engine

import (
	"net/netip"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSpecSharedNamespaces(t *testing.T) {
	st := loadConvert(t, `
name: ns
services:
  vpn:
    image: x
    container_name: the-vpn
  app:
    image: x
    network_mode: service:vpn
    ipc: service:vpn
    pid: service:store
    volumes_from: [store, "store:ro", "container:other:rw"]
  store:
    image: x
  plain:
    image: x
    ipc: shareable
    pid: host
`)
	app, err := Spec(st.Service("app").Config, BuildOptions{Project: st.Project})
	require.NoError(t, err)
	assert.Equal(t, container.NetworkMode("container:the-vpn"), app.Host.NetworkMode)
	assert.Empty(t, app.Networks, "a shared network namespace joins no network of its own")
	// ipc, pid and volumes_from references are resolved by Create to the
	// other container's ID, as docker compose does (the conformance suite
	// compares them); the spec keeps them as written.
	assert.Equal(t, container.IpcMode("service:vpn"), app.Host.IpcMode)
	assert.Equal(t, container.PidMode("service:store"), app.Host.PidMode)
	assert.Equal(t, []string{"store", "store:ro", "container:other:rw"}, app.Host.VolumesFrom)

	plain, err := Spec(st.Service("plain").Config, BuildOptions{Project: st.Project})
	require.NoError(t, err)
	assert.Equal(t, container.IpcMode("shareable"), plain.Host.IpcMode)
	assert.Equal(t, container.PidMode("host"), plain.Host.PidMode)

	// compose-go made each reference a dependency, started first, and the
	// namespace ones recreate the dependent when the other is recreated.
	deps := st.Service("app").Config.DependsOn
	require.Contains(t, deps, "vpn")
	require.Contains(t, deps, "store")
	assert.Equal(t, types.ServiceConditionStarted, deps["vpn"].Condition)
	assert.True(t, deps["vpn"].Restart)
}

func TestSpecServiceReferenceErrors(t *testing.T) {
	st := loadConvert(t, "name: e\nservices:\n  a:\n    image: x\n    network_mode: service:b\n  b:\n    image: x\n")
	delete(st.Project.Services, "b") // as if excluded after loading
	_, err := Spec(st.Service("a").Config, BuildOptions{Project: st.Project})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `service "a": network_mode refers to service "b"`)
}

func TestSpecUnsetEnvironmentPassedBare(t *testing.T) {
	t.Setenv("DIVE_TEST_SET", "v")
	st := loadConvert(t, "name: e\nservices:\n  a:\n    image: x\n    environment: [DIVE_TEST_SET, DIVE_TEST_SURELY_UNSET, B=1]\n")
	sp, err := Spec(st.Service("a").Config, BuildOptions{Project: st.Project})
	require.NoError(t, err)
	assert.Equal(t, []string{"B=1", "DIVE_TEST_SET=v", "DIVE_TEST_SURELY_UNSET"}, sp.Config.Env)
}

func TestNetworkIPAM(t *testing.T) {
	nc := types.NetworkConfig{Ipam: types.IPAMConfig{Driver: "default", Config: []*types.IPAMPool{{
		Subnet: "172.28.0.0/16", IPRange: "172.28.5.0/24", Gateway: "172.28.0.254",
		AuxiliaryAddresses: types.Mapping{"host1": "172.28.1.5"},
	}}}}
	spec, err := NewNetworkSpec("p", "internal", nc)
	require.NoError(t, err)
	assert.Equal(t, "internal", spec.Name)
	require.NotNil(t, spec.IPAM)
	assert.Equal(t, "default", spec.IPAM.Driver)
	assert.Equal(t, []network.IPAMConfig{{
		Subnet: netip.MustParsePrefix("172.28.0.0/16"), IPRange: netip.MustParsePrefix("172.28.5.0/24"),
		Gateway: netip.MustParseAddr("172.28.0.254"), AuxAddress: map[string]netip.Addr{"host1": netip.MustParseAddr("172.28.1.5")},
	}}, spec.IPAM.Config)

	none, err := NetworkIPAM(types.NetworkConfig{})
	require.NoError(t, err)
	assert.Nil(t, none, "no ipam: the engine picks")

	_, err = NetworkIPAM(types.NetworkConfig{Ipam: types.IPAMConfig{Config: []*types.IPAMPool{{Subnet: "nope"}}}})
	require.ErrorContains(t, err, `subnet "nope"`)
}

func TestSubnetsDiffer(t *testing.T) {
	want := NetworkSpec{Name: "n", IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: netip.MustParsePrefix("172.28.0.0/16")}}}}
	have := func(s string) network.IPAM {
		return network.IPAM{Config: []network.IPAMConfig{{Subnet: netip.MustParsePrefix(s)}}}
	}
	assert.NoError(t, subnetsDiffer(want, have("172.28.0.0/16")))
	err := subnetsDiffer(want, have("172.18.0.0/16"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "network n exists with subnets [172.18.0.0/16], but the file asks for 172.28.0.0/16")
	ext := want
	ext.External = true
	assert.NoError(t, subnetsDiffer(ext, have("172.18.0.0/16")), "an existing external network is used as it is")
	assert.NoError(t, subnetsDiffer(NetworkSpec{Name: "n"}, have("172.18.0.0/16")), "no ipam in the file")
}
