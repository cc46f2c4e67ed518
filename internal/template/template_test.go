package template

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const spoke = `# DIVE V3 Spoke Instance: {{INSTANCE_CODE_UPPER}} ({{INSTANCE_NAME}})
# Generated At: {{TIMESTAMP}}
name: dive-spoke-{{INSTANCE_CODE_LOWER}}
services:
  backend-{{INSTANCE_CODE_LOWER}}:
    image: dive/backend
    container_name: dive-spoke-{{INSTANCE_CODE_LOWER}}-backend
    environment:
      PASSWORD: ${MONGO_PASSWORD_{{INSTANCE_CODE_UPPER}}}
      DEFAULTED: ${HUB_URL:-https://dive-hub-backend:4000}
      ESCAPED: $$HOME
      NAME: "{{INSTANCE_NAME}}"
      FORMAT: '{{.State.Status}} {{ json . }} {{lower}}'
    ports:
      - "{{BACKEND_HOST_PORT}}:4000" # {{UNUSED_IN_COMMENT}}
`

func TestRender(t *testing.T) {
	vars := InstanceVars("nzl")
	vars["INSTANCE_NAME"] = "New Zealand"
	vars["BACKEND_HOST_PORT"] = "14000"
	out, err := Render([]byte(spoke), vars)
	require.NoError(t, err)
	want := `# DIVE V3 Spoke Instance: NZL (New Zealand)
# Generated At: {{TIMESTAMP}}
name: dive-spoke-nzl
services:
  backend-nzl:
    image: dive/backend
    container_name: dive-spoke-nzl-backend
    environment:
      PASSWORD: ${MONGO_PASSWORD_NZL}
      DEFAULTED: ${HUB_URL:-https://dive-hub-backend:4000}
      ESCAPED: $$HOME
      NAME: "New Zealand"
      FORMAT: '{{.State.Status}} {{ json . }} {{lower}}'
    ports:
      - "14000:4000" # {{UNUSED_IN_COMMENT}}
`
	assert.Equal(t, want, string(out))
}

func TestRenderUnknown(t *testing.T) {
	_, err := Render([]byte(spoke), map[string]string{"INSTANCE_CODE_LOWER": "nzl"})
	var ue *UnknownError
	require.True(t, errors.As(err, &ue), "%T %v", err, err)
	assert.Equal(t, []string{"BACKEND_HOST_PORT", "INSTANCE_CODE_UPPER", "INSTANCE_NAME"}, ue.Names)
	assert.Equal(t, []int{9}, ue.Lines["INSTANCE_CODE_UPPER"], "line 1 is a comment")
	assert.Equal(t, []int{12}, ue.Lines["INSTANCE_NAME"])
	assert.Equal(t, "template placeholders without a value: {{BACKEND_HOST_PORT}} (line 15), {{INSTANCE_CODE_UPPER}} (line 9), {{INSTANCE_NAME}} (line 12); values given: INSTANCE_CODE_LOWER", err.Error())
}

func TestRenderValuesAreNotRenderedAgain(t *testing.T) {
	out, err := Render([]byte("a: {{A}}{{B}}"), map[string]string{"A": "{{B}}", "B": "x"})
	require.NoError(t, err)
	assert.Equal(t, "a: {{B}}x", string(out))
}

func TestPlaceholders(t *testing.T) {
	assert.Equal(t, []string{"BACKEND_HOST_PORT", "INSTANCE_CODE_LOWER", "INSTANCE_CODE_UPPER", "INSTANCE_NAME"}, Placeholders([]byte(spoke)))
	assert.Empty(t, Placeholders([]byte("services: {}\n")))
}

func TestCommentStart(t *testing.T) {
	tests := map[string]int{
		"# all":                 0,
		"a: b # c":              5,
		"a: b#c":                6,
		`a: "x # y" # z`:        11,
		`a: 'it''s # no' # yes`: 16,
		"a: b\t# c":             5,
		"":                      0,
	}
	for line, want := range tests {
		assert.Equal(t, want, commentStart([]byte(line)), line)
	}
}
