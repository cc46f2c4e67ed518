package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
)

// decodeAttributes decodes raw JSON into a copy of the zero body zero.
func decodeAttributes(zero Attributes, raw json.RawMessage) (Attributes, error) {
	p := reflect.New(reflect.TypeOf(zero))
	if len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if err := json.Unmarshal(raw, p.Interface()); err != nil {
			return nil, err
		}
	}
	a, _ := p.Elem().Interface().(Attributes)
	return a, nil
}

// upgradeV0 rewrites the attributes of a version-0 line in the version-1
// layout: the probe's detection lag lag_bound_ms becomes lag_ms; a
// newline-joined health_output or logs string becomes a list of lines;
// integer fields written as floats stay numbers (JSON decodes them).
func upgradeV0(k Kind, raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return raw, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	switch k {
	case ServiceReady, ServiceReused:
		if v, ok := m["lag_bound_ms"]; ok {
			if _, has := m["lag_ms"]; !has {
				m["lag_ms"] = v
			}
			delete(m, "lag_bound_ms")
		}
	case ServiceFailed:
		for _, key := range []string{"health_output", "logs"} {
			if s, ok := m[key].(string); ok {
				m[key] = splitLines(s)
			}
		}
	}
	return json.Marshal(m)
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
