package engine

import (
	"context"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
)

// PortBindings returns the host ports a container is configured to publish
// (its HostConfig), whatever its state. The container list shows ports only
// once a container runs; a container being started (by a deploy that was
// killed, say) already holds its host ports (the engine's proxy binds
// them first) while the list shows none. Ranges are expanded; a
// binding without a host port (the engine picks one) is left out.
func (e *Engine) PortBindings(ctx context.Context, id string) ([]container.PortSummary, error) {
	ins, err := e.Inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	if ins.HostConfig == nil {
		return nil, nil
	}
	var out []container.PortSummary
	for port, bindings := range ins.HostConfig.PortBindings {
		for _, b := range bindings {
			lo, hi := hostPortRange(b.HostPort)
			for n := lo; n > 0 && n <= hi; n++ {
				out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: port.Num(), PublicPort: uint16(n), Type: string(port.Proto())})
			}
		}
	}
	return out, nil
}

// hostPortRange parses "8080" or "8000-8010"; 0, 0 when empty or invalid.
func hostPortRange(s string) (int, int) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	lo, err := strconv.Atoi(a)
	if err != nil || lo <= 0 || lo > 65535 {
		return 0, 0
	}
	if !isRange {
		return lo, lo
	}
	hi, err := strconv.Atoi(b)
	if err != nil || hi < lo || hi > 65535 {
		return 0, 0
	}
	return lo, hi
}
