package conformance

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestComparer checks the comparer itself: normalization of project names
// and IDs, run-time fields dropped, the intentional differences explained
// and anything else reported.
func TestComparer(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	doc := func(project, extraLabel string) map[string]any {
		labels := map[string]any{"com.docker.compose.project": project, "com.docker.compose.config-hash": project + "hash"}
		if extraLabel != "" {
			labels[extraLabel] = "true"
		}
		return map[string]any{
			"Id": id, "Name": "/" + project + "-web-1", "Created": project,
			"Config":     map[string]any{"Hostname": id[:12], "Env": []any{"B=2", "A=1"}, "Labels": labels},
			"HostConfig": map[string]any{"IpcMode": "container:" + id, "OomKillDisable": false},
			"State":      map[string]any{"Status": project},
		}
	}
	norm := func(project string, d map[string]any) object {
		n := &normalizer{project: project, ids: map[string]string{id: "<c:<P>-web-1>"}}
		return n.normalize("container", d, false)
	}
	a := norm("cfc1", doc("cfc1", ""))
	b := norm("cfd1", doc("cfd1", "io.dive.managed"))
	assert.Equal(t, "<P>-web-1", a.name)
	assert.Equal(t, "container:<c:<P>-web-1>", a.fields["HostConfig.IpcMode"])
	assert.Equal(t, "<c:<P>-web-1>", a.fields["Config.Hostname"])
	assert.Equal(t, "A=1", a.fields["Config.Env[0]"])
	assert.NotContains(t, a.fields, "State.Status")
	assert.NotContains(t, a.fields, "HostConfig.OomKillDisable")
	res := compare([]object{a}, []object{b})
	assert.Empty(t, res.unexplained)
	assert.Equal(t, map[string]int{"dive's own io.dive.* labels": 1}, res.explained)

	b.fields["HostConfig.Privileged"] = "true"
	res = compare([]object{a}, []object{b})
	if assert.Len(t, res.unexplained, 1) {
		assert.Equal(t, "HostConfig.Privileged", res.unexplained[0].path)
	}
	res = compare([]object{a}, nil)
	assert.Len(t, res.unexplained, 1, "a container only one tool made")
}
