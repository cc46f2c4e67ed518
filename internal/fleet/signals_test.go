package fleet

import "github.com/dive-hub/dive/internal/events"

func evt(service string, kind events.Kind) events.Event {
	e := events.Event{Service: service, Kind: kind}
	switch kind {
	case events.ServiceFailed:
		e.Attrs = events.ServiceFailedAttrs{Reason: "exit 1"}
	case events.ServiceSkipped:
		e.Attrs = events.ServiceSkippedAttrs{Reason: "exit 1"}
	default:
		e.Attrs, _ = events.NewAttributes(kind)
	}
	return e
}
