package deploy

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/stack"
)

// waitTCP waits until the container listens on the port. It reads the
// container's own socket table through /proc/<pid>/net/tcp, which shows the
// container's network namespace; a TCP connect through a published port
// would succeed on docker-proxy before the app listens.
func (d *deployer) waitTCP(ctx context.Context, r *svcRun, id string, pid int, ready chan<- struct{}) {
	// A remote engine's pid (or one in a VM) names some process of this
	// host, or none.
	if !d.eng.ContainerPidHere(id, pid) || !fileExists(fmt.Sprintf("/proc/%d/net/tcp", pid)) {
		d.emitWarning(events.PhaseReady, r.svc.Name, fmt.Sprintf("%s: label %s needs the engine on this host (it reads the container's /proc/<pid>/net/tcp); counting the port as open", r.svc.Name, stack.LabelTCP))
		close(ready)
		return
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if listening(pid, r.svc.TCPPort) {
			close(ready)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func listening(pid, port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"tcp", "tcp6"} {
		fh, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
				fh.Close()
				return true
			}
		}
		fh.Close()
	}
	return false
}

// sampleStats records the container's CPU and memory peaks while the deploy runs.
func (d *deployer) sampleStats(ctx context.Context, r *svcRun, id string) {
	_ = d.eng.StatsStream(ctx, id, func(s engine.Stats) {
		r.mu.Lock()
		if s.CPUPercent > r.peakCPU {
			r.peakCPU = s.CPUPercent
		}
		if s.MemBytes > r.peakMem {
			r.peakMem = s.MemBytes
		}
		r.mu.Unlock()
	})
	r.mu.Lock()
	cpu, mem := r.peakCPU, r.peakMem
	r.mu.Unlock()
	if mem > 0 || cpu > 0 {
		d.emitStats(r, cpu, mem)
	}
}

// fileExists is used by the TCP readiness check.
func fileExists(p string) bool {
	_, err := os.Stat(filepath.Clean(p))
	return err == nil
}
