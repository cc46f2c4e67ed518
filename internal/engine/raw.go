package engine

import (
	"context"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/sony/gobreaker/v2"
)

// The Engine API calls that packages outside engine need in the moby
// client's own shapes (the lock's marker volume: lock.VolumeAPI; the
// stand-in image: standin.ImageAPI). Like every other call they go through
// the engine's per-call deadline, retries and breaker; ImageBuild is a stream
// and, as Build, is bounded by the caller's deadline, not retried.

// VolumeCreate creates a volume (or returns the existing one of that name).
func (e *Engine) VolumeCreate(ctx context.Context, o client.VolumeCreateOptions) (client.VolumeCreateResult, error) {
	return do(ctx, e, "volume create", func(ctx context.Context) (client.VolumeCreateResult, error) {
		return e.cli.VolumeCreate(ctx, o)
	})
}

// VolumeInspect inspects a volume.
func (e *Engine) VolumeInspect(ctx context.Context, name string, o client.VolumeInspectOptions) (client.VolumeInspectResult, error) {
	return do(ctx, e, "volume inspect", func(ctx context.Context) (client.VolumeInspectResult, error) {
		return e.cli.VolumeInspect(ctx, name, o)
	})
}

// VolumeRemove removes a volume.
func (e *Engine) VolumeRemove(ctx context.Context, name string, o client.VolumeRemoveOptions) (client.VolumeRemoveResult, error) {
	return do(ctx, e, "volume remove", func(ctx context.Context) (client.VolumeRemoveResult, error) {
		return e.cli.VolumeRemove(ctx, name, o)
	})
}

// VolumeExists reports whether a volume of that name exists.
func (e *Engine) VolumeExists(ctx context.Context, name string) (bool, error) {
	_, err := e.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// ImageInspect inspects an image.
func (e *Engine) ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return do(ctx, e, "image inspect", func(ctx context.Context) (client.ImageInspectResult, error) {
		return e.cli.ImageInspect(ctx, ref, opts...)
	})
}

// ImageBuild starts a build from a context stream; the caller reads the
// result's body. Not retried (the stream is consumed), bounded by ctx, and
// refused while the breaker is open.
func (e *Engine) ImageBuild(ctx context.Context, body io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
	if e.breaker.State() == gobreaker.StateOpen {
		return client.ImageBuildResult{}, ErrBreakerOpen
	}
	return e.cli.ImageBuild(ctx, body, o)
}
