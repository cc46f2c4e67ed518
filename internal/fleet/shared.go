package fleet

import (
	"context"
	"fmt"
	"sort"

	"github.com/dive-hub/dive/internal/engine"
)

// ensureShared creates, before an engine's stacks start, the external
// networks two or more of its stacks use (DIVE's dive-shared when the hub
// and a spoke share an engine). Two stacks creating it at once could
// otherwise both create it: Engine API 1.41 allows duplicate names. Engine
// names that are one engine (one address) count as one, and their
// connections take turns here: the second finds the network made.
func (r *runner) ensureShared(ctx context.Context, engineName string, eng *engine.Engine) error {
	target := r.targets[engineName]
	if mu := r.sharedMu[target]; mu != nil {
		mu.Lock()
		defer mu.Unlock()
	}
	users := map[string][]*LoadedStack{}
	for _, s := range r.l.Fleet.Stacks {
		if r.targets[s.Engine] != target {
			continue
		}
		ls := r.l.Stacks[s.Name]
		for name := range externalNetworks(ls) {
			users[name] = append(users[name], ls)
		}
	}
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if len(users[n]) < 2 {
			continue
		}
		if _, err := eng.EnsureNetwork(ctx, engine.NetworkSpec{Name: n, Key: n, Project: users[n][0].St.Project.Name, External: true}); err != nil {
			return fmt.Errorf("shared external network %s: %w", n, err)
		}
	}
	return nil
}

// externalNetworks are the external networks the stack's active services use.
func externalNetworks(ls *LoadedStack) map[string]bool {
	out := map[string]bool{}
	p := ls.St.Project
	for _, n := range ls.St.Names {
		for key := range ls.St.Services[n].Config.Networks {
			if nc, ok := p.Networks[key]; ok && bool(nc.External) {
				name := nc.Name
				if name == "" {
					name = key
				}
				out[name] = true
			}
		}
	}
	return out
}
