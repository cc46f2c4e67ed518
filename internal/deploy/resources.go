package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/stack"
)

// ensureResources creates the project's networks and volumes, all at once.
func (d *deployer) ensureResources(ctx context.Context) {
	p := d.st.Project
	used := map[string]bool{}
	usedVol := map[string]bool{}
	for _, n := range d.st.Names {
		for k := range d.st.Services[n].Config.Networks {
			used[k] = true
		}
		for _, v := range d.st.Services[n].Config.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				usedVol[v.Source] = true
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}
	for key, nc := range p.Networks {
		if !used[key] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := d.now()
			spec, err := engine.NewNetworkSpec(p.Name, key, nc) // with the file's ipam
			if err != nil {
				fail(err)
				return
			}
			name := spec.Name
			// Never abandoned half-way: the daemon would finish it anyway,
			// leaving an object nobody reported. Each call has its own deadline.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedOpTimeout)
			defer cancel()
			created, err := d.eng.EnsureNetwork(cctx, spec)
			if err != nil {
				fail(fmt.Errorf("network %s: %w", name, err))
				return
			}
			note := ""
			if created && bool(nc.External) {
				note = "external network was missing and has been created"
			}
			d.emitNetwork(name, created, note, d.now().Sub(t0))
		}()
	}
	for key, vc := range p.Volumes {
		if !usedVol[key] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := d.now()
			name := vc.Name
			if name == "" {
				name = p.Name + "_" + key
			}
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedOpTimeout)
			defer cancel()
			created, err := d.eng.EnsureVolume(cctx, engine.VolumeSpec{Name: name, Key: key, Project: p.Name, Driver: vc.Driver,
				DriverOpts: map[string]string(vc.DriverOpts), Labels: map[string]string(vc.Labels), External: bool(vc.External)})
			if err != nil {
				fail(fmt.Errorf("volume %s: %w", name, err))
				return
			}
			d.emitVolume(name, created, d.now().Sub(t0))
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Strings(errs)
		d.resources.set(struct{}{}, errors.New(strings.Join(errs, "; ")))
		return
	}
	d.resources.set(struct{}{}, nil)
}

// image returns the image ID for a service, building or pulling it once per
// image no matter how many services share it.
func (d *deployer) image(ctx context.Context, s *stack.Service) (string, error) {
	img, err := d.imageInfo(ctx, s)
	return img.ID, err
}

// imageInfo is the image of a service (its ID and its own healthcheck),
// built or pulled once per image.
func (d *deployer) imageInfo(ctx context.Context, s *stack.Service) (engine.Image, error) {
	if id, ok := d.o.Images[s.Name]; ok {
		return d.pinnedImage(ctx, s, id)
	}
	ref := engine.ImageName(d.st.Project.Name, s.Config)
	d.imagesMu.Lock()
	f, ok := d.images[ref]
	if !ok {
		f = newFuture[engine.Image]()
		d.images[ref] = f
	}
	d.imagesMu.Unlock()
	if !ok {
		d.imagesWG.Add(1)
		go func() {
			defer d.imagesWG.Done()
			f.set(d.ensureImage(ctx, ref, s))
		}()
	}
	return f.wait(ctx)
}

// pinnedImage checks that a pinned image is still on the engine: a
// rollback never builds or pulls.
func (d *deployer) pinnedImage(ctx context.Context, s *stack.Service, id string) (engine.Image, error) {
	got, err := d.eng.Image(ctx, id)
	if err != nil {
		return engine.Image{}, fmt.Errorf("inspect image %s of service %s: %w", short(id), s.Name, err)
	}
	if got.ID == "" {
		return engine.Image{}, fmt.Errorf("image %s of service %s is no longer on this engine (removed or pruned since); a rollback uses local images only, never pulls", id, s.Name)
	}
	return got, nil
}

func (d *deployer) ensureImage(ctx context.Context, ref string, s *stack.Service) (engine.Image, error) {
	t0 := d.now()
	b := s.Config.Build
	img, err := d.eng.Image(ctx, ref)
	if err != nil {
		return engine.Image{}, fmt.Errorf("inspect image %s of service %s: %w", ref, s.Name, err)
	}
	// As compose: a build: service is built again on --build, and on every
	// deploy with pull_policy: build.
	rebuild := b != nil && (d.o.Build || s.Config.PullPolicy == types.PullPolicyBuild)
	if img.ID != "" && !rebuild {
		d.emitImageReady(ref, false, true, d.now().Sub(t0))
		return img, nil
	}
	switch {
	case b != nil:
		d.emitImageBuilding(ref)
		args := map[string]*string{}
		for k, v := range b.Args {
			args[k] = v
		}
		err = d.eng.Build(ctx, engine.BuildSpec{Tag: ref, Context: b.Context, Dockerfile: b.Dockerfile, Args: args, Target: b.Target,
			Labels: map[string]string(b.Labels), NoCache: b.NoCache, Compose: b, Platform: s.Config.Platform}, nil)
		if err != nil {
			return engine.Image{}, fmt.Errorf("build image %s for service %s (context %s): %w", ref, s.Name, b.Context, err)
		}
	case s.Config.PullPolicy == types.PullPolicyNever:
		return engine.Image{}, fmt.Errorf("image %s of service %s is not present and pull_policy is never; build or load it first (docker load / docker build -t %s)", ref, s.Name, ref)
	default:
		perr := d.eng.Pull(ctx, ref)
		if perr != nil {
			return engine.Image{}, fmt.Errorf("image %s of service %s is not present locally and could not be pulled (%v); load it (docker load), build it, or add a build: section", ref, s.Name, perr)
		}
	}
	img, err = d.eng.Image(ctx, ref)
	if err != nil {
		return engine.Image{}, fmt.Errorf("inspect image %s of service %s after build/pull: %w", ref, s.Name, err)
	}
	if img.ID == "" {
		return engine.Image{}, fmt.Errorf("image %s of service %s is still missing after build/pull", ref, s.Name)
	}
	d.emitImageReady(ref, b != nil, false, d.now().Sub(t0))
	return img, nil
}
