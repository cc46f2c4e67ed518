package standin

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeELF writes a minimal 64-bit little-endian ELF executable header for
// machine; dynamic adds a PT_INTERP program header, as a cgo build has.
func writeELF(t *testing.T, path string, machine elf.Machine, dynamic bool) {
	t.Helper()
	progs := []elf.Prog64{{Type: uint32(elf.PT_LOAD)}}
	if dynamic {
		progs = append([]elf.Prog64{{Type: uint32(elf.PT_INTERP)}}, progs...)
	}
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: uint16(len(progs)), Shentsize: 64,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	require.NoError(t, binary.Write(&buf, binary.LittleEndian, hdr))
	require.NoError(t, binary.Write(&buf, binary.LittleEndian, progs))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o755))
}

func TestLinuxBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	dynamic := filepath.Join(dir, "dynamic")
	arm := filepath.Join(dir, "arm")
	notELF := filepath.Join(dir, "script")
	writeELF(t, static, elf.EM_X86_64, false)
	writeELF(t, dynamic, elf.EM_X86_64, true)
	writeELF(t, arm, elf.EM_AARCH64, false)
	require.NoError(t, os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755))

	withSibling := t.TempDir()
	macExe := filepath.Join(withSibling, "dive")
	writeELF(t, filepath.Join(withSibling, "dive-linux-amd64"), elf.EM_X86_64, false)
	writeELF(t, filepath.Join(withSibling, "dive-linux-arm64"), elf.EM_X86_64, false) // wrong machine

	for _, tc := range []struct {
		name        string
		arch, goos  string
		goarch, exe string
		envBinary   string
		want        string
		wantErr     []string
	}{
		{name: "linux static executable", arch: "amd64", goos: "linux", goarch: "amd64", exe: static, want: static},
		{name: "engine reports x86_64", arch: "x86_64", goos: "linux", goarch: "amd64", exe: static, want: static},
		{name: "env wins over the executable", arch: "amd64", goos: "linux", goarch: "amd64", exe: static, envBinary: dynamic,
			wantErr: []string{"DIVE_STANDIN_BINARY", "dynamically linked", "CGO_ENABLED=0"}},
		{name: "env", arch: "arm64", goos: "darwin", goarch: "arm64", exe: macExe, envBinary: arm, want: arm},
		{name: "env not ELF", arch: "amd64", goos: "linux", goarch: "amd64", exe: static, envBinary: notELF,
			wantErr: []string{"not a linux executable"}},
		{name: "cgo executable, no sibling", arch: "amd64", goos: "linux", goarch: "amd64", exe: dynamic,
			wantErr: []string{"dynamically linked", "make dist", "GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o " + filepath.Join(dir, "dive-linux-amd64") + " ./cmd/dive", "DIVE_STANDIN_BINARY"}},
		{name: "mac executable uses the sibling", arch: "amd64", goos: "darwin", goarch: "arm64", exe: macExe,
			want: filepath.Join(withSibling, "dive-linux-amd64")},
		{name: "sibling for the wrong machine", arch: "arm64", goos: "darwin", goarch: "arm64", exe: macExe,
			wantErr: []string{"dive-linux-arm64 is built for EM_X86_64, the engine needs linux/arm64"}},
		{name: "linux arm64 engine, amd64 dive, no sibling", arch: "arm64", goos: "linux", goarch: "amd64", exe: static,
			wantErr: []string{"this dive is a linux/amd64 build and the engine runs linux/arm64", "GOARCH=arm64"}},
		{name: "no arch", arch: "", goos: "linux", goarch: "amd64", exe: static, wantErr: []string{"architecture"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == EnvBinary {
					return tc.envBinary
				}
				return ""
			}
			got, err := linuxBinary(tc.arch, tc.goos, tc.goarch, tc.exe, nil, getenv)
			if tc.wantErr != nil {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	_, err := linuxBinary("amd64", "linux", "amd64", "", errors.New("no /proc"), func(string) string { return "" })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot locate the running executable: no /proc")
}

// fakeImageAPI records calls; inspectErr nil means the image exists.
type fakeImageAPI struct {
	inspectErr error
	buildBody  string
	buildErr   error

	inspected []string
	builds    []client.ImageBuildOptions
	contexts  [][]byte
}

func (f *fakeImageAPI) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	f.inspected = append(f.inspected, ref)
	return client.ImageInspectResult{}, f.inspectErr
}

func (f *fakeImageAPI) ImageBuild(_ context.Context, buildContext io.Reader, opts client.ImageBuildOptions) (client.ImageBuildResult, error) {
	b, err := io.ReadAll(buildContext)
	if err != nil {
		return client.ImageBuildResult{}, err
	}
	f.builds = append(f.builds, opts)
	f.contexts = append(f.contexts, b)
	if f.buildErr != nil {
		return client.ImageBuildResult{}, f.buildErr
	}
	return client.ImageBuildResult{Body: io.NopCloser(strings.NewReader(f.buildBody))}, nil
}

func fakeBinary(t *testing.T) (path, sum string) {
	t.Helper()
	content := []byte("not really dive " + t.Name())
	path = filepath.Join(t.TempDir(), "dive")
	require.NoError(t, os.WriteFile(path, content, 0o755))
	h := sha256.Sum256(content)
	return path, hex.EncodeToString(h[:])
}

// errNotFound is the engine's own message for a missing image.
//
//lint:ignore ST1005 the Docker Engine's message, capitalised as it sends it
var errNotFound = fmt.Errorf("Error: No such image: x: %w", cerrdefs.ErrNotFound)

func TestEnsureImageFoundNeedsNoBuild(t *testing.T) {
	t.Parallel()
	bin, sum := fakeBinary(t)
	api := &fakeImageAPI{}
	ref, built, err := ensureImage(context.Background(), api, bin, "")
	require.NoError(t, err)
	assert.False(t, built)
	assert.Equal(t, "dive-standin:"+sum[:12], ref)
	assert.Equal(t, []string{ref}, api.inspected)
	assert.Empty(t, api.builds)
}

func TestEnsureImageBuildsWhenMissing(t *testing.T) {
	t.Parallel()
	bin, sum := fakeBinary(t)
	api := &fakeImageAPI{
		inspectErr: errNotFound,
		buildBody:  `{"stream":"Step 1/4 : FROM scratch\n"}` + "\n" + `{"aux":{"ID":"sha256:abc"}}` + "\n" + `{"stream":"Successfully built abc\n"}`,
	}
	ref, built, err := ensureImage(context.Background(), api, bin, "")
	require.NoError(t, err)
	assert.True(t, built)
	assert.Regexp(t, regexp.MustCompile(`^dive-standin:[0-9a-f]{12}$`), ref)
	assert.Equal(t, "dive-standin:"+sum[:12], ref)

	require.Len(t, api.builds, 1)
	opts := api.builds[0]
	assert.Equal(t, []string{ref}, opts.Tags)
	assert.True(t, opts.Remove)
	assert.True(t, opts.ForceRemove)
	assert.Empty(t, opts.Version, "legacy builder")
	assert.Equal(t, "true", opts.Labels["io.dive.managed"])
	assert.Equal(t, "standin", opts.Labels["io.dive.role"])
	assert.Equal(t, sum, opts.Labels[LabelBinarySHA256])

	files := map[string]*tar.Header{}
	data := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(api.contexts[0]))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[hdr.Name], data[hdr.Name] = hdr, string(b)
	}
	require.Len(t, files, 2)
	assert.Equal(t, "FROM scratch\nCOPY dive /dive\nENTRYPOINT [\"/dive\",\"standin\"]\n", data["Dockerfile"])
	assert.Equal(t, "not really dive "+t.Name(), data["dive"])
	assert.Equal(t, int64(0o755), files["dive"].Mode)

	// The same binary gives the same context, byte for byte.
	_, _, err = ensureImage(context.Background(), api, bin, "")
	require.NoError(t, err)
	assert.Equal(t, api.contexts[0], api.contexts[1])
}

func TestEnsureImageErrors(t *testing.T) {
	t.Parallel()
	bin, _ := fakeBinary(t)
	for _, tc := range []struct {
		name    string
		api     *fakeImageAPI
		path    string
		wantErr string
	}{
		{"build reports errorDetail", &fakeImageAPI{inspectErr: errNotFound,
			buildBody: `{"stream":"Step 2/4 : COPY dive /dive\n"}` + "\n" + `{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}`},
			bin, "build dive-standin:"},
		{"build reports error only", &fakeImageAPI{inspectErr: errNotFound, buildBody: `{"error":"no space left on device"}`}, bin, ""},
		{"truncated output", &fakeImageAPI{inspectErr: errNotFound, buildBody: `{"stream":"Step 1`}, bin, "read build output"},
		{"build request fails", &fakeImageAPI{inspectErr: errNotFound, buildErr: errors.New("connection reset")}, bin, "connection reset"},
		{"inspect fails", &fakeImageAPI{inspectErr: errors.New("daemon gone")}, bin, "inspect dive-standin:"},
		{"missing binary", &fakeImageAPI{}, filepath.Join(t.TempDir(), "nope"), "hash "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, built, err := ensureImage(context.Background(), tc.api, tc.path, "")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			if strings.HasPrefix(tc.name, "build reports") {
				assert.Contains(t, err.Error(), "no space left on device")
			}
			assert.Empty(t, ref)
			assert.False(t, built)
			if tc.name == "inspect fails" {
				assert.Empty(t, tc.api.builds, "only a missing image is built")
			}
		})
	}
}

func TestBinarySHA256Cache(t *testing.T) {
	t.Parallel()
	bin, want := fakeBinary(t)
	cache := filepath.Join(t.TempDir(), "dive", "standin-sha256.json")

	got, err := binarySHA256(bin, cache)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	b, err := os.ReadFile(cache)
	require.NoError(t, err, "the first hash is remembered")
	assert.Contains(t, string(b), want)

	// Same path, size and mtime: the cache answers, not the file.
	fake := strings.Repeat("ab", 32)
	require.NoError(t, os.WriteFile(cache, bytes.Replace(b, []byte(want), []byte(fake), 1), 0o600))
	got, err = binarySHA256(bin, cache)
	require.NoError(t, err)
	assert.Equal(t, fake, got)

	// A new mtime (a new build) means hashing again.
	st, err := os.Stat(bin)
	require.NoError(t, err)
	later := st.ModTime().Add(time.Second)
	require.NoError(t, os.Chtimes(bin, later, later))
	got, err = binarySHA256(bin, cache)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// A broken cache, or none, only costs a hash.
	require.NoError(t, os.WriteFile(cache, []byte("{not json"), 0o600))
	got, err = binarySHA256(bin, cache)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	got, err = binarySHA256(bin, filepath.Join(bin, "not-a-dir", "cache.json"))
	require.NoError(t, err)
	assert.Equal(t, want, got)
	got, err = binarySHA256(bin, "")
	require.NoError(t, err)
	assert.Equal(t, want, got)
}
