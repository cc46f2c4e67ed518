package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// applyVolumes converts a service's volumes the way docker compose's
// buildContainerVolumes does: binds and declared named volumes without
// advanced options go into HostConfig.Binds ("src:target:rw"), everything
// else into HostConfig.Mounts.
func applyVolumes(svc types.ServiceConfig, p *types.Project, host *container.HostConfig, apiVersion string) error {
	for _, v := range svc.Volumes {
		m, err := volumeMount(p, v)
		if err != nil {
			return fmt.Errorf("service %q: volume %s: %w", svc.Name, v.Target, err)
		}
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
			if !versionAtLeast(apiVersion, "1.48") {
				return fmt.Errorf("service %q: volume %s of type image needs Engine API 1.48 (Docker 28); this engine speaks %s", svc.Name, v.Target, apiVersion)
			}
		}
		host.Mounts = append(host.Mounts, m)
	}
	return nil
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
