package fleet

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Stacks share an engine when their engines resolve to one address: the
// demo fleet's three engine names left to the environment are one engine
// on a laptop, and the hub and a spoke on one named engine share it too.
func TestSharing(t *testing.T) {
	fleet := func(engines map[string]*Engine, stacks map[string]string) (*Loaded, map[string]*engineConn) {
		f := &Fleet{Engines: engines}
		conns := map[string]*engineConn{}
		for _, name := range []string{"hub", "spoke-deu", "spoke-fra", "spoke-gbr"} {
			f.Stacks = append(f.Stacks, &Stack{Name: name, Engine: stacks[name]})
			conns[stacks[name]] = &engineConn{key: stacks[name], def: engines[stacks[name]]}
		}
		return &Loaded{Fleet: f}, conns
	}
	place := map[string]string{"hub": "one", "spoke-deu": "one", "spoke-fra": "two", "spoke-gbr": "three"}

	l, conns := fleet(map[string]*Engine{"one": {Name: "one"}, "two": {Name: "two"}, "three": {Name: "three"}}, place)
	assert.Equal(t, map[string]int{"hub": 4, "spoke-deu": 4, "spoke-fra": 4, "spoke-gbr": 4}, sharing(l, engineTargets(conns, DockerEnv{})),
		"three engine names left to the environment: one engine")

	l, conns = fleet(map[string]*Engine{
		"one":   {Name: "one", Host: "unix:///run/one.sock"},
		"two":   {Name: "two", Host: "tcp://10.0.0.2:2376"},
		"three": {Name: "three", Host: "ssh://root@gbr.example"},
	}, place)
	assert.Equal(t, map[string]int{"hub": 2, "spoke-deu": 2, "spoke-fra": 1, "spoke-gbr": 1}, sharing(l, engineTargets(conns, DockerEnv{})))
}
