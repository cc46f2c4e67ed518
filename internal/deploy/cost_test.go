package deploy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Probes keep to probeShare of the CPUs at their measured latency; deploys
// sharing one engine keep to it together.
func TestProbeSpacingShared(t *testing.T) {
	c := newEngineCost(2)
	c.record(costProbe, 400*time.Millisecond)
	assert.Equal(t, 800*time.Millisecond, c.probeSpacing(), "0.4 s probes within a quarter of 2 CPUs")
	c.sharing = 4
	assert.Equal(t, 3200*time.Millisecond, c.probeSpacing(), "four deploys on the engine: each a quarter of that")
}
