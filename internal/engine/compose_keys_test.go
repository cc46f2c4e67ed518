package engine

import (
	"archive/tar"
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const keysCompose = `
name: keys
services:
  owner:
    image: x
    ipc: shareable
  guest:
    image: x
    ipc: service:owner
    pid: host
    cgroup: private
    runtime: runc
    mac_address: 02:42:ac:11:00:99
    volumes_from: [owner:ro, "container:other"]
    links: [owner:o]
    external_links: [ext:e]
    devices: ["/dev/null:/dev/xnull:rwm", "vendor.com/gpu=all"]
    gpus: [{driver: nvidia, count: 1}]
    device_cgroup_rules: ["c 1:3 mr"]
    mem_swappiness: 10
    cpu_count: 2
    cpu_percent: 50
    blkio_config:
      weight: 300
      device_read_bps: [{path: /dev/sda, rate: 1mb}]
    annotations: {a: b}
    platform: linux/amd64
    post_start: [{command: [/bin/true], user: root}]
    pre_stop: [{command: [/bin/false]}]
    scale: 1
    secrets:
      - filesec
      - {source: envsec, target: named, uid: "1", gid: "2", mode: 0o400}
    configs:
      - filecfg
      - {source: inlinecfg, target: rel.conf}
secrets:
  filesec: {file: ./data/s.txt}
  envsec: {environment: KEYS_SECRET}
configs:
  filecfg: {file: ./data/s.txt}
  inlinecfg: {content: "k = v"}
`

func TestSpecComposeKeys(t *testing.T) {
	t.Setenv("KEYS_SECRET", "hush")
	st := loadConvert(t, keysCompose)
	sp := specFor(t, st, "guest")
	h := sp.Host
	assert.Equal(t, container.IpcMode("service:owner"), h.IpcMode, "resolved to container:<id> at create")
	assert.Equal(t, container.PidMode("host"), h.PidMode)
	assert.Equal(t, container.CgroupnsMode("private"), h.CgroupnsMode)
	assert.Equal(t, "runc", h.Runtime)
	assert.Equal(t, []string{"owner:ro", "container:other"}, h.VolumesFrom)
	assert.Equal(t, []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/xnull", CgroupPermissions: "rwm"}}, h.Devices)
	require.Len(t, h.DeviceRequests, 2)
	assert.Equal(t, container.DeviceRequest{Driver: "cdi", DeviceIDs: []string{"vendor.com/gpu=all"}}, h.DeviceRequests[0])
	assert.Equal(t, "nvidia", h.DeviceRequests[1].Driver)
	assert.Equal(t, [][]string{{"gpu"}}, h.DeviceRequests[1].Capabilities)
	assert.Equal(t, []string{"c 1:3 mr"}, h.DeviceCgroupRules)
	require.NotNil(t, h.MemorySwappiness)
	assert.Equal(t, int64(10), *h.MemorySwappiness)
	assert.Equal(t, int64(2), h.CPUCount)
	assert.Equal(t, int64(5000), h.CPUPercent, "compose multiplies cpu_percent by 100")
	assert.Equal(t, uint16(300), h.BlkioWeight)
	require.Len(t, h.BlkioDeviceReadBps, 1)
	assert.Equal(t, uint64(1<<20), h.BlkioDeviceReadBps[0].Rate)
	assert.Nil(t, h.Annotations, "API 1.41 cannot carry annotations")
	assert.Contains(t, sp.Warnings[0], "annotations need Engine API 1.43")
	assert.Equal(t, "linux/amd64", sp.Platform)
	assert.Equal(t, "02:42:ac:11:00:99", sp.macAddress)
	assert.Equal(t, []string{"owner:o"}, sp.serviceLinks)
	assert.Equal(t, []string{"ext:e"}, externalLinks(sp.externalLinks))
	require.Len(t, sp.PostStart, 1)
	assert.Equal(t, "root", sp.PostStart[0].User)
	require.Len(t, sp.PreStop, 1)

	// file sources: read-only binds (the secret's without host-path creation); the others copied in
	src := filepath.Join(st.WorkDir, "data", "s.txt")
	assert.Equal(t, []mount.Mount{
		{Type: mount.TypeBind, Source: src, Target: "/run/secrets/filesec", ReadOnly: true, BindOptions: &mount.BindOptions{}},
		{Type: mount.TypeBind, Source: src, Target: "/filecfg", ReadOnly: true},
	}, h.Mounts)
	require.Len(t, sp.Files, 2)
	assert.Equal(t, "/rel.conf", sp.Files[0].Target)
	assert.Equal(t, "k = v", sp.Files[0].Content)
	assert.Equal(t, "/run/secrets/named", sp.Files[1].Target)
	assert.Equal(t, "hush", sp.Files[1].Content)

	withAnn, err := Spec(st.Service("guest").Config, BuildOptions{Project: st.Project, APIVersion: "1.43"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "b"}, withAnn.Host.Annotations)
}

func TestFileTar(t *testing.T) {
	mode := types.FileMode(0o400)
	b, err := fileTar(FileCopy{Target: "/run/secrets/x", Content: "v", UID: "1", GID: "2", Mode: &mode})
	require.NoError(t, err)
	tr := tar.NewReader(bytes.NewReader(b))
	hdr, err := tr.Next()
	require.NoError(t, err)
	body, _ := io.ReadAll(tr)
	assert.Equal(t, "/run/secrets/x", hdr.Name)
	assert.Equal(t, int64(0o400), hdr.Mode)
	assert.Equal(t, 1, hdr.Uid)
	assert.Equal(t, 2, hdr.Gid)
	assert.Equal(t, "v", string(body))
	_, err = fileTar(FileCopy{Target: "/x", UID: "root"})
	assert.ErrorContains(t, err, `uid "root" is not a number`)
}

func TestReplicaNames(t *testing.T) {
	st := loadConvert(t, "name: rep\nservices:\n  w:\n    image: x\n    scale: 3\n")
	sp, err := Spec(st.Service("w").Config, BuildOptions{Project: st.Project, Number: 3})
	require.NoError(t, err)
	assert.Equal(t, "rep-w-3", sp.Name)
	assert.Equal(t, "3", sp.Config.Labels[LabelNumber])
	assert.Equal(t, []string{"rep-w-3", "w"}, sp.Networks[0].Endpoint.Aliases)
}

func TestLegacyBuildRefusal(t *testing.T) {
	assert.Equal(t, "", legacyBuildRefusal(&types.BuildConfig{Context: "."}))
	assert.Equal(t, "build.secrets, build.ssh, build.additional_contexts",
		legacyBuildRefusal(&types.BuildConfig{Secrets: []types.ServiceSecretConfig{{Source: "s"}}, SSH: types.SSHConfig{{ID: "default"}},
			AdditionalContexts: types.Mapping{"x": "y"}}))
	// compose's classic builder refuses privileged too; it would build the
	// context's Dockerfile instead of dockerfile_inline
	assert.Equal(t, "build.privileged, build.dockerfile_inline",
		legacyBuildRefusal(&types.BuildConfig{Context: ".", Privileged: true, DockerfileInline: "FROM scratch"}))
	assert.Equal(t, "", legacyBuildRefusal(&types.BuildConfig{Context: ".", NoCache: true, Tags: types.StringList{"x:1"}}))
}

func TestPlatformOf(t *testing.T) {
	p := platformOf("linux/arm64/v8")
	require.NotNil(t, p)
	assert.Equal(t, "linux", p.OS)
	assert.Equal(t, "arm64", p.Architecture)
	assert.Equal(t, "v8", p.Variant)
	assert.Nil(t, platformOf(""))
}
