package faults

import (
	"io"
	"net"
	"sync"
	"testing"
)

// sockProxy forwards every connection to a unix socket (the Docker daemon's)
// until it is killed: kill closes the listener and every connection at
// once, which is what a daemon that dies (or a socket that vanishes) looks
// like to a client.
type sockProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	killed bool
	served int
}

func startProxy(t *testing.T, path, target string) *sockProxy {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("proxy listen %s: %v", path, err)
	}
	p := &sockProxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(p.kill)
	return p
}

func (p *sockProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

// track registers conns; false when the proxy was killed meanwhile.
func (p *sockProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	p.served++
	return true
}

func (p *sockProxy) forward(c net.Conn) {
	up, err := net.Dial("unix", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// kill closes the listener and every open connection. Safe to call twice.
func (p *sockProxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		return
	}
	p.killed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
}

// connections is how many connections the proxy forwarded so far.
func (p *sockProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served
}
