package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rollbackEvents: db is replaced (kept stopped), fails, and is rolled back
// with api (kept side by side); the optional extra is rolled back alone in
// the second list.
func rollbackEvents(t0 time.Time, deployScope bool) []events.Event {
	at := func(ms int, svc string, dur time.Duration, a events.Attributes) events.Event {
		return events.Event{Time: t0.Add(time.Duration(ms) * time.Millisecond), DeployID: "d1", Service: svc, Kind: a.Kind(), Attrs: a, Duration: dur}
	}
	scope, cause, outcome := "deploy", "db", "failed"
	if !deployScope {
		scope, cause, outcome = "service", "db", "degraded"
	}
	return []events.Event{
		at(0, "", 0, events.DeployStartedAttrs{Project: "p", Services: []string{"db", "api"}}),
		at(100, "db", 0, events.ReplacingAttrs{Class: "core", Container: "p-db-1", ContainerID: "aaa", KeptAs: "p-db-1-dive-prev", Mode: "stopped", Rule: "r"}),
		at(150, "api", 0, events.ReplacingAttrs{Class: "core", Container: "p-api-1", ContainerID: "bbb", KeptAs: "p-api-1-dive-prev", Mode: "side-by-side", Rule: "r"}),
		at(200, "db", 0, events.ServiceStartingAttrs{Class: "core", Attempt: 1}),
		at(900, "db", 700*time.Millisecond, events.ServiceFailedAttrs{Class: "core", Reason: "exited with code 1"}),
		at(2400, "db", 1500*time.Millisecond, events.RolledBackAttrs{Class: "core", Scope: scope, Action: "restored", Cause: cause, ContainerID: "aaa", ReadyMS: 1200, SinceFailureMS: 1500}),
		at(2500, "api", 0, events.RolledBackAttrs{Class: "core", Scope: scope, Action: "restored", Cause: cause, ContainerID: "bbb", ReadyMS: 50, SinceFailureMS: 1600}),
		at(2600, "", 2600*time.Millisecond, events.DeployFinishedAttrs{Outcome: outcome}),
	}
}

func TestComputeRollback(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	m := Compute(Deploy{ID: "d1", Project: "p", Services: []ServiceInfo{{Name: "db", Class: "core"}, {Name: "api", Class: "core", DependsOn: []string{"db"}}}}, rollbackEvents(t0, true))
	assert.Equal(t, "complete", m.RolledBack)
	assert.Equal(t, "db", m.RollbackCause)
	db := svcOf(t, m, "db")
	assert.Equal(t, "stopped", db.Replaced)
	assert.Equal(t, "aaa", db.KeptContainer)
	assert.Equal(t, "restored", db.RolledBack)
	assert.InDelta(t, 1500, val(t, db.RollbackSinceFailureMS), 0.01)
	assert.InDelta(t, 1200, val(t, db.RollbackReadyMS), 0.01)
	assert.Equal(t, "side-by-side", svcOf(t, m, "api").Replaced)

	var md bytes.Buffer
	require.NoError(t, WriteMarkdown(&md, m, nil))
	assert.Contains(t, md.String(), "## Replaced and rolled back")
	assert.Contains(t, md.String(), "**Rolled back** after db failed: the hub runs the previous configuration.")
	var html bytes.Buffer
	require.NoError(t, WriteHTML(&html, m, nil))
	assert.Contains(t, html.String(), `id="rollback"`)
	assert.Contains(t, html.String(), "seg-rollback")
	assert.Contains(t, html.String(), "Rolled back after db failed")
	assert.Contains(t, html.String(), "↺ rolled back in 1.5")

	// History marks the rolled-back deploy.
	s := Summarize([]HistoryEntry{{Metrics: m}}, 5)
	require.Len(t, s.History, 1)
	assert.Equal(t, "complete", s.History[0].RolledBack)
	var txt bytes.Buffer
	require.NoError(t, WriteHistoryText(&txt, s))
	assert.Contains(t, txt.String(), "failed, rolled back")

	// A service rolled back alone does not roll the deploy back.
	alone := Compute(Deploy{ID: "d1", Project: "p"}, rollbackEvents(t0, false))
	assert.Equal(t, "services", alone.RolledBack)
	assert.Empty(t, alone.RollbackCause)
	md.Reset()
	require.NoError(t, WriteMarkdown(&md, alone, nil))
	assert.True(t, strings.Contains(md.String(), "rolled back alone"))
}
