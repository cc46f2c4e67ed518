package faults

import (
	"testing"
	"time"
)

// dockerd stopping mid-deploy (it stops the containers on its way out) is
// reported as the engine lost, not as a service that exited on its own.
func TestEngineStoppedMidDeploy(t *testing.T) {
	f := newFixture(t, "engine-stopped")
	host, ctl := ownEngine(t, "dive-lost-"+randHex(2))
	f.slot()
	f.write(`services:
  cache:
` + image + healthcheck + `  slow:
` + image + `    environment:
      STANDIN_READY_AFTER: 60s
    healthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
      interval: 5s
      timeout: 5s
      retries: 20
      start_period: 90s
`)
	p := f.start([]string{"DOCKER_HOST=" + host}, f.hub("deploy")...)
	if !p.waitState(90*time.Second, "cache", "healthy") {
		p.wait()
		t.Fatal("cache never became healthy")
	}
	stopped := time.Now()
	ctl("stop")
	r := p.wait()
	wantCode(t, r, 1)
	wantOutput(t, r, "the engine was lost")
	within(t, "exit after the engine stopped (hang guard)", r.end.Sub(stopped), 40*time.Second, 1)
}
