package deploy

import "testing"

func TestZZTiming(t *testing.T) {
	st, g := loadStack(t, `
name: degraded
services:
  db:
    image: fake/db
    `+hc+`
    labels: {dive.service.timeout: 5s}
  otel:
    image: fake/otel
    `+hc+`
    labels: {dive.service.class: optional, dive.service.timeout: 1m}
`)
	fake := newFake(map[string]script{"db": {HealthyAfter: 50 * 1e6}, "otel": {NeverReady: true}})
	r := deployWith(t, fake, st, g)
	t.Log(r.elapsed, r.res.Outcome)
	for _, e := range r.evs {
		t.Log(e.Time.Format("05.000000"), e.Service, e.Kind, e.Attrs["signal"])
	}
}
