package fleet

import "github.com/dive-hub/dive/internal/events"

func evt(service string, kind events.Kind) events.Event {
	return events.Event{Service: service, Kind: kind, Attrs: map[string]any{"reason": "exit 1"}}
}
