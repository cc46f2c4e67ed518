package standin

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

const (
	// ImageRepository is the repository of the stand-in image; the tag is the
	// first TagLength hex digits of the sha256 of the dive binary inside.
	ImageRepository = "dive-standin"
	TagLength       = 12

	// Labels of the stand-in image.
	LabelManaged      = "io.dive.managed"        // "true"
	LabelRole         = "io.dive.role"           // "standin"
	LabelBinarySHA256 = "io.dive.standin.sha256" // full sha256 of /dive

	// EnvBinary names a linux build of dive to put in the image.
	EnvBinary = "DIVE_STANDIN_BINARY"

	dockerfile = `FROM scratch
COPY dive /dive
ENTRYPOINT ["/dive","standin"]
`
)

// ImageAPI is the subset of *client.Client (github.com/moby/moby/client) used here.
type ImageAPI interface {
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error)
}

// LinuxBinary returns the path of a static linux/<engineArch> build of dive to
// put in the stand-in image. engineArch is the engine's GOARCH (ServerVersion's
// Arch; "x86_64" and "aarch64" are accepted too). It looks, in order, at
// explicit, the caller's $DIVE_STANDIN_BINARY (an explicit choice wins), at the running executable when
// it is a linux build for that arch, and at a sibling file dive-linux-<arch> next
// to the executable. Each candidate must be an ELF for that machine and
// statically linked: a cgo build would not start in a FROM scratch image.
func LinuxBinary(engineArch, explicit string) (string, error) {
	exe, exeErr := os.Executable()
	if exeErr == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
	}
	getenv := func(k string) string {
		if k == EnvBinary {
			return explicit
		}
		return ""
	}
	return linuxBinary(engineArch, runtime.GOOS, runtime.GOARCH, exe, exeErr, getenv)
}

func linuxBinary(engineArch, goos, goarch, exe string, exeErr error, getenv func(string) string) (string, error) {
	arch := normalizeArch(engineArch)
	if arch == "" {
		return "", errors.New("stand-in binary: the engine did not report its architecture")
	}
	if p := getenv(EnvBinary); p != "" {
		if err := checkLinuxBinary(p, arch); err != nil {
			return "", fmt.Errorf("stand-in binary from %s: %w", EnvBinary, err)
		}
		return p, nil
	}
	var why []string
	if exeErr != nil {
		why = append(why, fmt.Sprintf("cannot locate the running executable: %v", exeErr))
	} else if goos == "linux" && goarch == arch {
		err := checkLinuxBinary(exe, arch)
		if err == nil {
			return exe, nil
		}
		why = append(why, "the running executable cannot be used: "+err.Error())
	} else {
		why = append(why, fmt.Sprintf("this dive is a %s/%s build and the engine runs linux/%s", goos, goarch, arch))
	}
	name := "dive-linux-" + arch
	sibling := name
	if exeErr == nil {
		sibling = filepath.Join(filepath.Dir(exe), name)
		err := checkLinuxBinary(sibling, arch)
		if err == nil {
			return sibling, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("stand-in binary %s: %w", sibling, err)
		}
		why = append(why, "there is no "+sibling)
	}
	return "", fmt.Errorf("no static linux/%s build of dive for the stand-in image (%s); get one with `make dist`, "+
		"or `GOOS=linux GOARCH=%s CGO_ENABLED=0 go build -o %s ./cmd/dive`, or point %s at one",
		arch, strings.Join(why, "; "), arch, sibling, EnvBinary)
}

func normalizeArch(a string) string {
	switch a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

// elfMachine is the ELF machine of a linux GOARCH; ok is false for one not listed.
func elfMachine(arch string) (m elf.Machine, ok bool) {
	switch arch {
	case "amd64":
		return elf.EM_X86_64, true
	case "arm64":
		return elf.EM_AARCH64, true
	case "arm":
		return elf.EM_ARM, true
	case "386":
		return elf.EM_386, true
	case "ppc64le":
		return elf.EM_PPC64, true
	case "s390x":
		return elf.EM_S390, true
	case "riscv64":
		return elf.EM_RISCV, true
	}
	return 0, false
}

// checkLinuxBinary reports why path cannot run as /dive in a FROM scratch
// image on a linux/arch engine: not a file, not ELF, wrong machine, or
// dynamically linked. It reads only the ELF headers.
func checkLinuxBinary(path, arch string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not a linux executable: %w", path, err)
	}
	defer f.Close()
	if want, ok := elfMachine(arch); ok && f.Machine != want {
		return fmt.Errorf("%s is built for %s, the engine needs linux/%s", path, f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked and cannot run FROM scratch (build it with CGO_ENABLED=0)", path)
		}
	}
	return nil
}

// EnsureImage makes sure the stand-in image for binaryPath exists and returns
// its reference, e.g. "dive-standin:3fa9c1e2b7d4". The tag comes from the
// sha256 of the binary, so an unchanged dive finds its image with one
// ImageInspect and a new build gets a new image. built reports whether a build
// happened. Old stand-in images are not removed here: they carry the labels
// io.dive.managed=true and io.dive.role=standin for whoever prunes them.
//
// The binary's hash is remembered in os.UserCacheDir()/dive/standin-sha256.json,
// keyed by path, size and mtime: hashing 24 MB takes 25 ms on an idle machine
// but over 100 ms on a busy one, and this runs on every deploy.
func EnsureImage(ctx context.Context, api ImageAPI, binaryPath string) (ref string, built bool, err error) {
	return ensureImage(ctx, api, binaryPath, defaultHashCache(binaryPath))
}

func ensureImage(ctx context.Context, api ImageAPI, binaryPath, hashCache string) (ref string, built bool, err error) {
	sum, err := binarySHA256(binaryPath, hashCache)
	if err != nil {
		return "", false, fmt.Errorf("stand-in image: hash %s: %w", binaryPath, err)
	}
	ref = ImageRepository + ":" + sum[:TagLength]
	_, err = api.ImageInspect(ctx, ref)
	if err == nil {
		return ref, false, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return "", false, fmt.Errorf("stand-in image: inspect %s: %w", ref, err)
	}
	buildContext, err := standinBuildContext(binaryPath)
	if err != nil {
		return "", false, fmt.Errorf("stand-in image: build context: %w", err)
	}
	res, err := api.ImageBuild(ctx, buildContext, client.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels: map[string]string{
			LabelManaged:      "true",
			LabelRole:         "standin",
			LabelBinarySHA256: sum,
		},
		// Version left empty: the legacy builder; BuildKit would need a session.
	})
	if err != nil {
		return "", false, fmt.Errorf("stand-in image: build %s: %w", ref, err)
	}
	defer res.Body.Close()
	if err := readBuildOutput(res.Body); err != nil {
		return "", false, fmt.Errorf("stand-in image: build %s: %w", ref, err)
	}
	return ref, true, nil
}

// defaultHashCache is the file binarySHA256 remembers its last answer in; ""
// (no cache) when the user has no cache directory.
// One file per binary path, so that several dive binaries on one machine
// (an installed one, a test build) do not evict each other.
func defaultHashCache(binaryPath string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(binaryPath)
	if err != nil {
		abs = binaryPath
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(dir, "dive", "standin-sha256-"+hex.EncodeToString(sum[:6])+".json")
}

// hashCacheEntry is the content of the hash cache: one binary, the last one hashed.
type hashCacheEntry struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	ModTimeNS int64  `json:"mtime_ns"`
	SHA256    string `json:"sha256"`
}

// binarySHA256 returns the hex sha256 of the file at path, from cacheFile when
// it holds an entry for the same path, size and mtime. The cache is best
// effort: any trouble reading or writing it only costs a hash.
func binarySHA256(path, cacheFile string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	key := hashCacheEntry{Path: abs, Size: st.Size(), ModTimeNS: st.ModTime().UnixNano()}
	if cacheFile != "" {
		var cached hashCacheEntry
		if b, err := os.ReadFile(cacheFile); err == nil && json.Unmarshal(b, &cached) == nil {
			sum := cached.SHA256
			cached.SHA256 = ""
			if cached == key && isHexSHA256(sum) {
				return sum, nil
			}
		}
	}
	// Hashing a file being replaced would store the old stat with the new
	// hash; harmless, since the next stat then differs and hashes again.
	sum, err := fileSHA256(abs)
	if err != nil {
		return "", err
	}
	if cacheFile != "" {
		key.SHA256 = sum
		_ = writeHashCache(cacheFile, key)
	}
	return sum, nil
}

func isHexSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// writeHashCache replaces cacheFile through a temporary file and a rename, so
// concurrent deploys never read half an entry.
func writeHashCache(cacheFile string, e hashCacheEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cacheFile), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(cacheFile), ".standin-sha256-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), cacheFile)
}

// fileSHA256 hashes the whole file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// standinBuildContext is the tar build context, in memory: the Dockerfile and
// the binary as "dive".
func standinBuildContext(binaryPath string) (*bytes.Reader, error) {
	bin, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(bin) + 4096)
	tw := tar.NewWriter(&buf)
	// A fixed mtime keeps the context, and the image, the same for the same binary.
	mtime := time.Unix(0, 0)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"dive", 0o755, bin},
	} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return bytes.NewReader(buf.Bytes()), nil
}

// buildMessage is one JSON line of the build output stream.
type buildMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readBuildOutput reads the build's JSON-lines body to EOF and returns the
// build's own error, if it reported one.
func readBuildOutput(body io.Reader) error {
	dec := json.NewDecoder(body)
	for {
		var m buildMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
