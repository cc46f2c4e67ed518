// Package template renders compose file templates written in the DIVE
// team's placeholder form: {{INSTANCE_CODE_LOWER}}, {{INSTANCE_CODE_UPPER}},
// {{BACKEND_HOST_PORT}}… — an upper-case name between double braces, as
// DIVE's spoke generator (templates/spoke/docker-compose.template.yml)
// replaces them per instance.
//
// Only that form is touched: compose's own ${VAR}, ${VAR:-default} and
// $$ are left for compose-go to interpolate when the rendered file is
// loaded, so both forms can be combined, as DIVE's files do in
// ${POSTGRES_PASSWORD_{{INSTANCE_CODE_UPPER}}}. Go-template-like text such
// as {{.Name}} or {{ json . }} is not a placeholder and is left as is.
//
// Rendering is one pass over the bytes: a value is inserted verbatim (quote
// the placeholder in the template when a value may hold YAML syntax) and is
// never rendered again.
package template

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// placeholder is DIVE's form: {{NAME}}, NAME upper-case letters, digits and
// underscores, starting with a letter; no spaces inside the braces.
var placeholder = regexp.MustCompile(`\{\{([A-Z][A-Z0-9_]*)\}\}`)

// UnknownError names the placeholders a template uses that have no value.
type UnknownError struct {
	// Names of the placeholders without a value, sorted; Lines maps each to
	// the 1-based lines it appears on.
	Names []string
	Lines map[string][]int
	// Known are the names that had a value, sorted.
	Known []string
}

func (e *UnknownError) Error() string {
	parts := make([]string, len(e.Names))
	for i, n := range e.Names {
		lines := make([]string, len(e.Lines[n]))
		for j, l := range e.Lines[n] {
			lines[j] = strconv.Itoa(l)
		}
		word := "line"
		if len(lines) > 1 {
			word = "lines"
		}
		parts[i] = fmt.Sprintf("{{%s}} (%s %s)", n, word, strings.Join(lines, ", "))
	}
	known := "none"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("template placeholders without a value: %s; values given: %s", strings.Join(parts, ", "), known)
}

// Render returns src with every {{NAME}} placeholder replaced by
// vars[NAME]. A placeholder without a value is an *UnknownError naming it
// and its lines, unless it appears only in YAML comments (a template's
// header often documents placeholders an instance does not use): those are
// left as written. Placeholders with a value are replaced in comments too.
func Render(src []byte, vars map[string]string) ([]byte, error) {
	unknown := map[string][]int{}
	for i, line := range bytes.Split(src, []byte("\n")) {
		cut := commentStart(line)
		for _, m := range placeholder.FindAllSubmatchIndex(line, -1) {
			name := string(line[m[2]:m[3]])
			if _, ok := vars[name]; !ok && m[0] < cut {
				unknown[name] = append(unknown[name], i+1)
			}
		}
	}
	if len(unknown) > 0 {
		e := &UnknownError{Lines: unknown}
		for n := range unknown {
			e.Names = append(e.Names, n)
		}
		for n := range vars {
			e.Known = append(e.Known, n)
		}
		sort.Strings(e.Names)
		sort.Strings(e.Known)
		return nil, e
	}
	return placeholder.ReplaceAllFunc(src, func(m []byte) []byte {
		if v, ok := vars[string(m[2:len(m)-2])]; ok {
			return []byte(v)
		}
		return m // only in comments (checked above)
	}), nil
}

// Placeholders lists the distinct placeholder names src uses outside YAML
// comments, sorted: what an instance must give values for.
func Placeholders(src []byte) []string {
	seen := map[string]bool{}
	for _, line := range bytes.Split(src, []byte("\n")) {
		cut := commentStart(line)
		for _, m := range placeholder.FindAllSubmatchIndex(line, -1) {
			if m[0] < cut {
				seen[string(line[m[2]:m[3]])] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// InstanceVars are the values DIVE's generator derives from an instance
// code such as "nzl": INSTANCE_CODE and INSTANCE_CODE_UPPER ("NZL") and
// INSTANCE_CODE_LOWER ("nzl"). Callers add the rest (ports, URLs, names).
func InstanceVars(code string) map[string]string {
	return map[string]string{
		"INSTANCE_CODE":       strings.ToUpper(code),
		"INSTANCE_CODE_UPPER": strings.ToUpper(code),
		"INSTANCE_CODE_LOWER": strings.ToLower(code),
	}
}

// commentStart is the offset where a YAML comment starts on the line (a #
// at its start or after a space or tab, outside quotes), or len(line).
// Block scalars are not tracked: a # after a space inside one counts as a
// comment here, so an unknown placeholder after it goes unreported.
func commentStart(line []byte) int {
	var quote byte
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return i
		}
	}
	return len(line)
}
