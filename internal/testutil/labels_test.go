package testutil

import (
	"testing"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/lock"
	"github.com/stretchr/testify/assert"
)

// The sweep's labels are the ones dive writes.
func TestSweepLabels(t *testing.T) {
	assert.Equal(t, engine.LabelProject, labelProject)
	assert.Equal(t, lock.LabelProject, lockLabelProject)
}
