package stack

import (
	"testing"

	"github.com/dive-hub/dive/internal/graph"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIPAMChecks(t *testing.T) {
	const ok = `
services:
  a:
    image: x
    networks:
      net: {ipv4_address: 172.28.5.10}
      ext: {ipv4_address: 10.9.0.3}
networks:
  net:
    ipam:
      config:
        - subnet: 172.28.0.0/16
          ip_range: 172.28.5.0/24
          gateway: 172.28.5.254
          aux_addresses: {host1: 172.28.1.5}
  ext:
    external: true
`
	st := mustLoad(t, ok, Options{})
	nets := st.Networks()
	require.Len(t, nets, 2)
	assert.Equal(t, "ext", nets[0].Key)
	assert.True(t, nets[0].External)
	assert.Contains(t, nets[0].Note, "dive creates it when missing")
	assert.Equal(t, []string{"172.28.0.0/16"}, nets[1].Subnets)
	assert.Empty(t, nets[1].Note)

	tests := map[string]struct {
		compose string
		want    []string
	}{
		"bad subnet": {
			"services: {a: {image: x, networks: [n]}}\nnetworks: {n: {ipam: {config: [{subnet: 172.28.0.0}]}}}\n",
			[]string{`network "n": ipam.config[0]: subnet "172.28.0.0"`}},
		"gateway outside": {
			"services: {a: {image: x, networks: [n]}}\nnetworks: {n: {ipam: {config: [{subnet: 172.28.0.0/16, gateway: 10.0.0.1}]}}}\n",
			[]string{`gateway "10.0.0.1" is outside subnet 172.28.0.0/16`}},
		"ip_range outside": {
			"services: {a: {image: x, networks: [n]}}\nnetworks: {n: {ipam: {config: [{subnet: 172.28.0.0/16, ip_range: 172.29.0.0/24}]}}}\n",
			[]string{`ip_range "172.29.0.0/24" is outside`}},
		"address outside": {
			"services: {a: {image: x, networks: {n: {ipv4_address: 10.1.1.1}}}}\nnetworks: {n: {ipam: {config: [{subnet: 172.28.0.0/16}]}}}\n",
			[]string{`service "a": network "n": address 10.1.1.1 is outside the network's subnets (172.28.0.0/16)`}},
		"address without subnet": {
			"services: {a: {image: x, networks: {n: {ipv4_address: 10.1.1.1}}}}\nnetworks: {n: {}}\n",
			[]string{`service "a": network "n": address 10.1.1.1 needs a subnet`}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tt.compose, Options{})
			ce := requireConfigError(t, err, tt.want...)
			assert.Contains(t, ce.Fix, "ipam.config")
		})
	}
}

func TestDuplicateContainerName(t *testing.T) {
	_, err := load(t, `
services:
  a: {image: x, container_name: same}
  b: {image: x, container_name: same}
  c: {image: x, container_name: other}
`, Options{})
	ce := requireConfigError(t, err, `services "a" and "b" all set container_name "same"`)
	assert.Contains(t, ce.Fix, "container_name")
	// a profile that excludes one of them: no conflict, as in compose
	mustLoad(t, "services:\n  a: {image: x, container_name: same}\n  b: {image: x, container_name: same, profiles: [p]}\n", Options{})
}

func TestScaleZero(t *testing.T) {
	st := mustLoad(t, `
services:
  off:
    image: x
    deploy: {replicas: 0}
    healthcheck: {test: [CMD, x]}
  off2:
    image: x
    scale: 0
  web:
    image: x
    depends_on:
      off: {condition: service_healthy}
      off2: {condition: service_started}
`, Options{})
	assert.Equal(t, []string{"web"}, st.Names)
	assert.Equal(t, []string{"off", "off2"}, st.ScaledToZero)
	g, err := st.Graph()
	require.NoError(t, err)
	assert.Empty(t, g.Deps("web"), "compose does not wait for a service scaled to 0")
}

// network_mode, ipc, pid service: and volumes_from are dependency edges
// (compose-go adds them to depends_on), kept by a partial deploy.
func TestSharedNamespaceEdges(t *testing.T) {
	const compose = `
services:
  vpn: {image: x}
  store: {image: x}
  shm: {image: x}
  app:
    image: x
    network_mode: service:vpn
    ipc: service:shm
    pid: service:shm
    volumes_from: ["store:ro"]
  other: {image: x}
`
	for _, o := range []Options{{}, {Services: []string{"app"}}} {
		st := mustLoad(t, compose, o)
		g, err := st.Graph()
		require.NoError(t, err)
		var to []string
		for _, e := range g.Deps("app") {
			to = append(to, e.To)
			assert.Equal(t, graph.Started, e.Condition)
		}
		assert.Equal(t, []string{"shm", "store", "vpn"}, to, "%+v", o)
		if len(o.Services) > 0 {
			assert.Equal(t, []string{"app", "shm", "store", "vpn"}, st.Names)
		}
	}
}

func TestReferences(t *testing.T) {
	st := mustLoad(t, `
services:
  vpn: {image: x}
  store: {image: x}
  app:
    image: x
    network_mode: service:vpn
    ipc: service:vpn
    volumes_from: ["store:ro", "container:foreign"]
`, Options{})
	assert.Equal(t, []Reference{
		{From: "app", To: "store", Key: "volumes_from"},
		{From: "app", To: "vpn", Key: "ipc"},
		{From: "app", To: "vpn", Key: "network_mode"},
	}, st.References())
}
