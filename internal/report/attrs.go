package report

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event attributes arrive in two shapes: as the scheduler built them (int,
// bool, []string, time.Duration, error) and as encoding/json decoded them from
// events.jsonl (float64, bool, []any, string). These helpers accept both.

func attrString(a map[string]any, key string) string {
	v, ok := a[key]
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	case []byte:
		return string(x)
	default:
		return fmt.Sprint(x)
	}
}

func attrFloat(a map[string]any, key string) (float64, bool) {
	v, ok := a[key]
	if !ok || v == nil {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case time.Duration:
		// A duration stored under a *_ms key: convert to milliseconds.
		return float64(x) / float64(time.Millisecond), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	default:
		return 0, false
	}
}

func attrInt(a map[string]any, key string) (int, bool) {
	f, ok := attrFloat(a, key)
	if !ok {
		return 0, false
	}
	return int(f), true
}

func attrBool(a map[string]any, key string) bool {
	v, ok := a[key]
	if !ok || v == nil {
		return false
	}
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(strings.TrimSpace(x))
		return b
	default:
		f, ok := attrFloat(a, key)
		return ok && f != 0
	}
}

func attrStrings(a map[string]any, key string) []string {
	v, ok := a[key]
	if !ok || v == nil {
		return nil
	}
	switch x := v.(type) {
	case []string:
		return append([]string(nil), x...)
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if e == nil {
				continue
			}
			if s, ok := e.(string); ok {
				out = append(out, s)
			} else {
				out = append(out, fmt.Sprint(e))
			}
		}
		return out
	case string:
		if x == "" {
			return nil
		}
		parts := strings.Split(x, ",")
		out := make([]string, 0, len(parts))
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	default:
		return []string{fmt.Sprint(x)}
	}
}
