package conformance

import (
	"fmt"
	"sort"
	"strings"
)

// intentional says whether a difference is one of the documented
// intentional differences (docs/compatibility.md, "Intentional
// differences"), and which.
func intentional(kind, path, composeVal, diveVal string) (string, bool) {
	label := func(prefix string) bool { return strings.HasPrefix(path, prefix) }
	switch {
	// 1. dive's own labels: io.dive.* on everything dive creates (over an
	// image's own io.dive.* labels, such as the stand-in image's role).
	case label("Config.Labels.io.dive.") || label("Labels.io.dive."):
		return "dive's own io.dive.* labels", true
	// 2. compose's config-hash label on networks and volumes: dive does not
	// set it, so compose adopts dive's networks and volumes instead of
	// recreating them over a hash computed another way.
	case diveVal == "" && (kind == "network" || kind == "volume") && path == "Labels.com.docker.compose.config-hash":
		return "no config-hash label on networks and volumes", true
	}
	return "", false
}

// difference is one field that differs.
type difference struct {
	object, path, compose, dive string
}

func (d difference) String() string {
	return fmt.Sprintf("%s %s: docker compose %q, dive %q", d.object, d.path, d.compose, d.dive)
}

// comparison is the verdict for one corpus file.
type comparison struct {
	objects, fields int
	unexplained     []difference
	explained       map[string]int // reason -> count
}

// compare diffs two snapshots object by object, field by field.
func compare(composeObjs, diveObjs []object) comparison {
	res := comparison{explained: map[string]int{}}
	index := func(objs []object) map[string]object {
		m := map[string]object{}
		for _, o := range objs {
			m[o.kind+" "+o.name] = o
		}
		return m
	}
	a, b := index(composeObjs), index(diveObjs)
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		ca, inA := a[k]
		cb, inB := b[k]
		switch {
		case !inA:
			res.unexplained = append(res.unexplained, difference{object: k, path: "(object)", compose: "", dive: "present"})
			continue
		case !inB:
			res.unexplained = append(res.unexplained, difference{object: k, path: "(object)", compose: "present", dive: ""})
			continue
		}
		res.objects++
		paths := map[string]bool{}
		for p := range ca.fields {
			paths[p] = true
		}
		for p := range cb.fields {
			paths[p] = true
		}
		var sorted []string
		for p := range paths {
			sorted = append(sorted, p)
		}
		sort.Strings(sorted)
		for _, p := range sorted {
			res.fields++
			va, vb := ca.fields[p], cb.fields[p]
			if va == vb {
				continue
			}
			if why, ok := intentional(ca.kind, p, va, vb); ok {
				res.explained[why]++
				continue
			}
			res.unexplained = append(res.unexplained, difference{object: k, path: p, compose: va, dive: vb})
		}
	}
	return res
}
