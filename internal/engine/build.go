package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/go-archive"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/moby/patternmatcher/ignorefile"
)

// BuildSpec is a compose build: section, resolved.
type BuildSpec struct {
	Tag        string
	Context    string // folder
	Dockerfile string // relative to Context
	Args       map[string]*string
	Target     string
	Labels     map[string]string
	NoCache    bool
	// Compose is the service's build: section, for the keys beyond the
	// above (tags, pull, network, extra_hosts, isolation, shm_size,
	// ulimits, cache_from; platform, secrets, ssh, additional_contexts).
	Compose *types.BuildConfig
	// Platform is the service's platform: the image is built for it.
	Platform string
}

// legacyBuildRefusal names the build keys the legacy builder (the only one
// that needs no BuildKit session, so the only one dive drives through the
// Engine API) cannot carry, or "" when there is none. docker compose's
// classic builder refuses the same (privileged included); it ignores
// dockerfile_inline and builds the context's Dockerfile instead, which dive
// refuses rather than build something else than the file says.
func legacyBuildRefusal(b *types.BuildConfig) string {
	if b == nil {
		return ""
	}
	var keys []string
	if len(b.Secrets) > 0 {
		keys = append(keys, "build.secrets")
	}
	if len(b.SSH) > 0 {
		keys = append(keys, "build.ssh")
	}
	if len(b.AdditionalContexts) > 0 {
		keys = append(keys, "build.additional_contexts")
	}
	if len(b.Platforms) > 1 {
		keys = append(keys, "build.platforms (more than one)")
	}
	if b.Privileged {
		keys = append(keys, "build.privileged")
	}
	if b.DockerfileInline != "" {
		keys = append(keys, "build.dockerfile_inline")
	}
	return strings.Join(keys, ", ")
}

// ImageBuildOptions is the legacy builder's request for b, as docker compose
// v2.40.3's classic builder makes it (build_classic.go imageBuildOptions):
// the file's tags and then the image name, no_cache, pull, args, labels
// (with the classic builder label), network, extra_hosts, target,
// isolation. Beyond compose, the legacy builder's shm_size, ulimits and
// cache_from (image references) are passed too: compose's classic builder
// drops them, its BuildKit builder applies them. The context is not set.
func ImageBuildOptions(b BuildSpec) client.ImageBuildOptions {
	dockerfile := b.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	// As compose: the service's platform, else the build's single platform.
	platform := b.Platform
	// the builder label docker compose's classic builder sets: it is the one dive uses
	labels := map[string]string{LabelManaged: "true", "com.docker.compose.image.builder": "classic"}
	for k, v := range b.Labels {
		labels[k] = v
	}
	o := client.ImageBuildOptions{
		Version: build.BuilderV1, Dockerfile: dockerfile, Remove: true, ForceRemove: true,
		BuildArgs: b.Args, Target: b.Target, Labels: labels, NoCache: b.NoCache,
	}
	if c := b.Compose; c != nil {
		o.Tags = append(o.Tags, c.Tags...)
		o.NoCache = o.NoCache || c.NoCache
		o.PullParent = c.Pull
		o.NetworkMode = c.Network
		o.ExtraHosts = c.ExtraHosts.AsList(":")
		sort.Strings(o.ExtraHosts) // a map's order
		o.Isolation = container.Isolation(c.Isolation)
		o.ShmSize = int64(c.ShmSize)
		o.Ulimits = ulimitList(c.Ulimits)
		o.CacheFrom = cacheFromImages(c.CacheFrom)
		if platform == "" && len(c.Platforms) == 1 {
			platform = c.Platforms[0]
		}
	}
	o.Tags = append(o.Tags, b.Tag)
	o.Platforms = platformList(platform)
	return o
}

// cacheFromImages are the image references among cache_from entries: a
// plain reference, or type=registry,ref=X. Other cache types (local, gha,
// ...) are BuildKit's; the legacy builder has no use for them.
func cacheFromImages(entries []string) []string {
	var out []string
	for _, e := range entries {
		if !strings.Contains(e, "=") {
			out = append(out, e)
			continue
		}
		typ, ref := "registry", ""
		for _, f := range strings.Split(e, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch strings.TrimSpace(k) {
			case "type":
				typ = v
			case "ref":
				ref = v
			}
		}
		if typ == "registry" && ref != "" {
			out = append(out, ref)
		}
	}
	return out
}

// Build builds an image from a folder with the legacy builder (it needs no
// BuildKit session and works with every engine), honouring .dockerignore.
// The last lines of build output are returned in the error on failure.
func (e *Engine) Build(ctx context.Context, b BuildSpec, progress func(line string)) error {
	if keys := legacyBuildRefusal(b.Compose); keys != "" {
		return fmt.Errorf("build %s: %s need BuildKit, whose build session the Engine API build endpoint that dive uses (the legacy builder) cannot carry; build the image with 'docker compose build' or 'docker buildx build -t %s', then deploy again: dive uses an image that is already present", b.Tag, keys, b.Tag)
	}
	opts := ImageBuildOptions(b)
	var excludes []string
	if f, err := os.Open(filepath.Join(b.Context, ".dockerignore")); err == nil {
		excludes, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s/.dockerignore: %w", b.Context, err)
		}
	}
	if _, err := os.Stat(filepath.Join(b.Context, opts.Dockerfile)); err != nil {
		return fmt.Errorf("build context %s has no %s", b.Context, opts.Dockerfile)
	}
	tar, err := archive.TarWithOptions(b.Context, &archive.TarOptions{ExcludePatterns: excludes})
	if err != nil {
		return fmt.Errorf("pack build context %s: %w", b.Context, err)
	}
	defer tar.Close()
	// Streams are not retried: a build is bounded by the caller's deadline.
	res, err := e.cli.ImageBuild(ctx, tar, opts)
	if err != nil {
		return fmt.Errorf("build %s: %w", b.Tag, err)
	}
	defer res.Body.Close()
	return readBuildStream(res.Body, progress)
}
