package engine

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Alive dials the engine afresh, without the client's pooled connections:
// a dockerd that is shutting down closes its listener first, then stops
// the containers, while pooled connections still answer. So a failed dial
// while containers die says the engine is going away. Only unix and tcp
// hosts are dialled; other schemes count as alive.
func (e *Engine) Alive(ctx context.Context) error {
	u, err := url.Parse(e.daemonHost)
	if err != nil {
		return nil
	}
	network, addr := u.Scheme, u.Host
	switch network {
	case "unix":
		addr = u.Path
	case "tcp", "http", "https":
		network = "tcp"
	default:
		return nil
	}
	if strings.TrimSpace(addr) == "" {
		return nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return fmt.Errorf("the engine at %s does not accept connections any more: %w", e.daemonHost, err)
	}
	return c.Close()
}
