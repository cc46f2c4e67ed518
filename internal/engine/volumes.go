package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// Inherit is the container a recreated one replaces, for its anonymous
// volumes (docker compose's inherit, off with --renew-anon-volumes).
type Inherit struct {
	// Mounts are the previous container's mounts, as the engine lists them.
	Mounts []container.MountPoint
	// ImageVolumes are the VOLUME paths of the image the new container runs.
	ImageVolumes map[string]struct{}
}

// applyVolumes converts a service's volumes the way docker compose's
// buildContainerVolumes does: binds and declared named volumes without
// advanced options go into HostConfig.Binds ("src:target:rw"), everything
// else into HostConfig.Mounts. With in, the previous container's
// anonymous volumes are mounted again where compose's
// buildContainerMountOptions mounts them (inheritedMounts); spec.Inherited
// lists them.
func applyVolumes(svc types.ServiceConfig, p *types.Project, spec *ContainerSpec, host *container.HostConfig, apiVersion string, in *Inherit) error {
	inherited, own := inheritedMounts(svc.Volumes, in)
	for _, v := range own {
		m, err := volumeMount(p, v)
		if err != nil {
			return fmt.Errorf("service %q: volume %s: %w", svc.Name, v.Target, err)
		}
		delete(inherited, m.Target) // the service's own volume at that target wins
		switch v.Type {
		case types.VolumeTypeBind:
			if !bindNeedsMountAPI(v.Bind) {
				host.Binds = append(host.Binds, bindString(m.Source, v))
				continue
			}
		case types.VolumeTypeVolume:
			if v.Source != "" && declaredVolume(p, m.Source) && !volumeNeedsMountAPI(v.Volume) {
				host.Binds = append(host.Binds, bindString(m.Source, v))
				continue
			}
		case types.VolumeTypeImage:
			if err := imageMountSupported(svc.Name, v.Target, apiVersion); err != nil {
				return err
			}
		}
		host.Mounts = append(host.Mounts, m)
	}
	targets := make([]string, 0, len(inherited))
	for t := range inherited {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		m := inherited[t]
		spec.Inherited = append(spec.Inherited, m)
		if b, ok := inheritedBind(p, svc.Volumes, m); ok {
			host.Binds = append(host.Binds, b)
			continue
		}
		if m.Type == mount.TypeImage {
			if err := imageMountSupported(svc.Name, m.Target, apiVersion); err != nil {
				return err
			}
		}
		host.Mounts = append(host.Mounts, m)
	}
	return nil
}

func imageMountSupported(service, target, apiVersion string) error {
	if !versionAtLeast(apiVersion, "1.48") {
		return fmt.Errorf("service %q: volume %s of type image needs Engine API 1.48 (Docker 28); this engine speaks %s", service, target, apiVersion)
	}
	return nil
}

// inheritedMounts is docker compose's buildContainerMountOptions with
// inherit: every mount of the previous container but a tmpfs is mounted
// again, by volume name (a bind: by host path), at the same destination
// and read-only when it was, when the destination is a VOLUME of the image
// or the target of a volume of the service without a source (an anonymous
// one: `volumes: [/data]`, or a tmpfs entry). Those service volumes are
// dropped; own are the service volumes left, which win over an inherited
// mount at their target. Keyed by target.
func inheritedMounts(vols []types.ServiceVolumeConfig, in *Inherit) (map[string]mount.Mount, []types.ServiceVolumeConfig) {
	mounts := map[string]mount.Mount{}
	if in == nil {
		return mounts, vols
	}
	for _, m := range in.Mounts {
		if m.Type == mount.TypeTmpfs {
			continue
		}
		src := m.Source
		if m.Type == mount.TypeVolume {
			src = m.Name
		}
		im := mount.Mount{Type: m.Type, Source: src, Target: m.Destination, ReadOnly: !m.RW}
		if _, ok := in.ImageVolumes[m.Destination]; ok {
			mounts[m.Destination] = im
		}
		left := make([]types.ServiceVolumeConfig, 0, len(vols))
		for _, v := range vols {
			if v.Target != m.Destination || v.Source != "" {
				left = append(left, v)
				continue
			}
			mounts[m.Destination] = im
		}
		vols = left
	}
	return mounts, vols
}

// inheritedBind is the Binds form compose gives an inherited mount whose
// target the service declares (its buildContainerVolumes): a bind without
// advanced options, or a declared named volume without them, as
// "src:target:mode" with the service volume's mode; ok false: a mount.
func inheritedBind(p *types.Project, vols []types.ServiceVolumeConfig, m mount.Mount) (string, bool) {
	var v *types.ServiceVolumeConfig
	for i := range vols {
		if vols[i].Target == m.Target {
			v = &vols[i]
			break
		}
	}
	if v == nil {
		return "", false
	}
	switch m.Type {
	case mount.TypeBind:
		if !bindNeedsMountAPI(v.Bind) {
			return bindString(m.Source, *v), true
		}
	case mount.TypeVolume:
		if declaredVolume(p, m.Source) && !volumeNeedsMountAPI(v.Volume) {
			return bindString(m.Source, *v), true
		}
	}
	return "", false
}

func volumeMount(p *types.Project, v types.ServiceVolumeConfig) (mount.Mount, error) {
	src := v.Source
	switch v.Type {
	case types.VolumeTypeBind:
		if !filepath.IsAbs(src) {
			src = filepath.Join(p.WorkingDir, src)
		}
	case types.VolumeTypeVolume:
		if pv, ok := p.Volumes[v.Source]; ok && v.Source != "" && pv.Name != "" {
			src = pv.Name
		}
	}
	m := mount.Mount{Type: mount.Type(v.Type), Source: src, Target: v.Target, ReadOnly: v.ReadOnly, Consistency: mount.Consistency(v.Consistency)}
	switch v.Type {
	case types.VolumeTypeBind:
		if b := v.Bind; b != nil {
			m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(b.Propagation), CreateMountpoint: bool(b.CreateHostPath)}
			switch b.Recursive {
			case "disabled":
				m.BindOptions.NonRecursive = true
			case "writable":
				m.BindOptions.ReadOnlyNonRecursive = true
			case "readonly":
				m.BindOptions.ReadOnlyForceRecursive = true
			}
		}
	case types.VolumeTypeVolume:
		if vv := v.Volume; vv != nil {
			m.VolumeOptions = &mount.VolumeOptions{NoCopy: vv.NoCopy, Subpath: vv.Subpath, Labels: vv.Labels}
		}
	case types.VolumeTypeTmpfs:
		if t := v.Tmpfs; t != nil {
			m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(t.Size), Mode: os.FileMode(t.Mode)}
		}
	case types.VolumeTypeImage:
		if im := v.Image; im != nil {
			m.ImageOptions = &mount.ImageOptions{Subpath: im.SubPath}
		}
	}
	return m, nil
}

func declaredVolume(p *types.Project, name string) bool {
	for _, v := range p.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

// bindNeedsMountAPI: the Binds syntax cannot say "do not create the host
// path", a propagation or a recursion mode.
func bindNeedsMountAPI(b *types.ServiceVolumeBind) bool {
	return b != nil && (!bool(b.CreateHostPath) || b.Propagation != "" || b.Recursive != "")
}

func volumeNeedsMountAPI(v *types.ServiceVolumeVolume) bool {
	return v != nil && (len(v.Labels) > 0 || v.Subpath != "" || v.NoCopy)
}

// bindString is compose's toBindString: "source:target:rw|ro[,selinux][,propagation][,nocopy]".
func bindString(src string, v types.ServiceVolumeConfig) string {
	opts := []string{"rw"}
	if v.ReadOnly {
		opts[0] = "ro"
	}
	if v.Bind != nil && v.Bind.SELinux != "" {
		opts = append(opts, v.Bind.SELinux)
	}
	if v.Bind != nil && v.Bind.Propagation != "" {
		opts = append(opts, v.Bind.Propagation)
	}
	if v.Volume != nil && v.Volume.NoCopy {
		opts = append(opts, "nocopy")
	}
	return fmt.Sprintf("%s:%s:%s", src, v.Target, strings.Join(opts, ","))
}
