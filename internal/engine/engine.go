// Package engine is the one place dive talks to Docker, through
// github.com/moby/moby/client with API version negotiation (Engine API 1.41
// and up). Every call has its own deadline, transient failures are retried
// with exponential backoff and jitter, and a circuit breaker stops hammering
// an engine that keeps failing.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/sony/gobreaker/v2"
)

// Options configure an Engine.
type Options struct {
	// CallTimeout bounds every single Engine API call (not streams). Default 30s.
	CallTimeout time.Duration
	// MaxTries for a transient failure. Default 4.
	MaxTries uint
	// BreakerFailures is how many consecutive transport failures open the breaker. Default 5.
	BreakerFailures uint32
	// OnRetry is told about every retry (op, attempt, error, wait).
	OnRetry func(op string, attempt int, err error, wait time.Duration)
	// PingTimeout bounds the first contact. Default 5s.
	PingTimeout time.Duration
	// Interrupt, when it ends (the user's Ctrl-C), bounds every call still
	// running or made afterwards, also those on contexts detached from
	// cancellation (operations a deploy never abandons half-way, the lock's
	// release): they end AfterInterrupt after it, each with at least
	// MinCallAfterInterrupt, so dive exits promptly even when the engine
	// is frozen. nil: no such bound.
	Interrupt context.Context
	// AfterInterrupt is that bound. Default DefaultAfterInterrupt.
	AfterInterrupt time.Duration
	// Client, when set, replaces the environment (client.FromEnv) as the
	// way to reach the engine: a fleet's engines each have their own host,
	// TLS material or ssh dialer.
	Client []client.Opt
	// Where names the engine in messages (default: the client's host).
	Where string
	// CostlyDial says a new connection to the engine is expensive (ssh:
	// a key exchange and a remote `docker system dial-stdio`, about a
	// CPU-second each on a small host). Exec probes and stats then use
	// pooled connections (a detached exec polled by inspect, one-shot
	// stats polled) instead of one connection each.
	CostlyDial bool
	// CheapNow, when set, says whether a CostlyDial engine's new
	// connections are cheap after all for now (an ssh engine reached
	// through a forward of its socket, where a connection is a channel of
	// one ssh connection): exec probes then attach (their output kept) and
	// stats stream, as on a local engine.
	CheapNow func() bool
	// DialError, when set, says why the last new connection failed (what
	// ssh said): an unreachable engine's message shows it instead of the
	// docker client's "Cannot connect to the Docker daemon at <its
	// placeholder host>".
	DialError func() error
}

// DefaultAfterInterrupt is how long engine calls may still run after an
// interrupt: dive promises to exit within 2 s of Ctrl-C.
const DefaultAfterInterrupt = time.Second

// MinCallAfterInterrupt is the least time a call made after the interrupt
// bound gets: enough for a healthy local engine to release the lock.
const MinCallAfterInterrupt = 200 * time.Millisecond

// LostCallTimeout bounds each call, made once and not retried, to an engine
// that went away (see Engine.Lost).
const LostCallTimeout = 2 * time.Second

// Engine wraps the Docker client.
type Engine struct {
	cli        *client.Client
	opts       Options
	apiVersion string
	server     string
	os, arch   string
	breaker    *gobreaker.CircuitBreaker[any]
	daemonHost string
	// interruptedAt is when opts.Interrupt ended (unix nanos; 0: not yet).
	interruptedAt atomic.Int64
	// lost is set when the engine went away (its event stream broke, or a
	// call failed to reach it after every retry); cleared by the next call
	// that gets an answer. While set, a call makes one attempt bounded by
	// LostCallTimeout: the work that follows a loss (rollback, the lock's
	// release, the report's last looks) is told at once, not after
	// retries against a dead engine.
	lost atomic.Bool
	ncpu atomic.Int32 // the engine's CPUs, once its info said
	// statsSlots bounds the one-shot stats calls in flight (statsPolls).
	statsSlots chan struct{}
	hooks      hookRegistry // post_start hooks of the containers it created
}

// UnreachableError says the daemon did not answer.
type UnreachableError struct {
	Host string
	Err  error
	// Why, when set, is what the message shows instead of Err (what ssh
	// said); Err stays the error the client returned.
	Why error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("Docker engine at %s is not reachable: %v\n  fix: start it (as root: scripts/docker-up.sh, or 'systemctl start docker'), or point DOCKER_HOST at a running engine", e.Host, e.Reason())
}

// Reason is why the engine did not answer, as the message says it: Why
// when the dialer knew, else the client's error.
func (e *UnreachableError) Reason() error {
	if e.Why != nil {
		return e.Why
	}
	return e.Err
}

// costlyDial: new connections cost a session now (see Options.CostlyDial).
func (e *Engine) costlyDial() bool {
	return e.opts.CostlyDial && (e.opts.CheapNow == nil || !e.opts.CheapNow())
}

// unreachable wraps err, with what the dialer knows of why.
func (e *Engine) unreachable(err error) *UnreachableError {
	u := &UnreachableError{Host: e.daemonHost, Err: err}
	if e.opts.DialError != nil && client.IsErrConnectionFailed(err) {
		u.Why = e.opts.DialError()
	}
	return u
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// ErrBreakerOpen is returned while the engine breaker is open.
var ErrBreakerOpen = errors.New("engine circuit breaker is open")

// New connects to the engine named by the environment (DOCKER_HOST & co),
// negotiates the API version and checks that it answers.
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.MaxTries == 0 {
		o.MaxTries = 4
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.PingTimeout == 0 {
		o.PingTimeout = 5 * time.Second
	}
	if o.AfterInterrupt <= 0 {
		o.AfterInterrupt = DefaultAfterInterrupt
	}
	copts := o.Client
	if copts == nil {
		copts = []client.Opt{client.FromEnv}
	}
	cli, err := client.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	e := &Engine{cli: cli, opts: o, daemonHost: cli.DaemonHost(), statsSlots: make(chan struct{}, statsPolls)}
	if o.Interrupt != nil {
		context.AfterFunc(o.Interrupt, func() { e.interruptedAt.CompareAndSwap(0, time.Now().UnixNano()) })
	}
	if o.Where != "" {
		e.daemonHost = o.Where
	}
	e.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:    "engine " + e.daemonHost,
		Timeout: 10 * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= o.BreakerFailures
		},
		// Only a daemon that cannot be reached trips the breaker; a slow
		// answer on a loaded machine (a per-call deadline) does not.
		IsSuccessful: func(err error) bool {
			return err == nil || !isTransport(err) || errors.Is(err, context.DeadlineExceeded)
		},
	})
	pctx, cancel := context.WithTimeout(ctx, o.PingTimeout)
	defer cancel()
	ping, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		cli.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, e.unreachable(err)
	}
	_ = ping
	e.apiVersion = cli.ClientVersion()
	vctx, cancel2 := context.WithTimeout(ctx, o.PingTimeout)
	defer cancel2()
	if v, err := cli.ServerVersion(vctx, client.ServerVersionOptions{}); err == nil {
		e.server, e.os, e.arch = v.Version, v.Os, v.Arch
	}
	return e, nil
}

// Close releases the client.
func (e *Engine) Close() error { return e.cli.Close() }

// APIVersion is the negotiated Engine API version.
func (e *Engine) APIVersion() string { return e.apiVersion }

// ServerVersion is the engine's version, e.g. 20.10.24+dfsg1.
func (e *Engine) ServerVersion() string { return e.server }

// Arch is the engine's architecture in Go terms (amd64, arm64).
func (e *Engine) Arch() string {
	switch e.arch {
	case "x86_64", "":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return e.arch
}

// Host is the daemon address.
func (e *Engine) Host() string { return e.daemonHost }

// CallContext derives the context of one engine call from parent: it ends
// after limit, and, once the Interrupt of the options has ended, at the
// interrupt's bound (see Options.Interrupt) even when parent is detached
// from cancellation. Callers that reach the engine outside Engine (the
// lock's marker volume) use it too.
func (e *Engine) CallContext(parent context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	return e.callContext(parent, limit)
}

func (e *Engine) callContext(parent context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, limit)
	if e.opts.Interrupt == nil {
		return ctx, cancel
	}
	stop := context.AfterFunc(e.opts.Interrupt, func() {
		e.interruptedAt.CompareAndSwap(0, time.Now().UnixNano())
		bound := time.Unix(0, e.interruptedAt.Load()).Add(e.opts.AfterInterrupt)
		// cancel after the call ended is harmless; the timer then only fires.
		time.AfterFunc(max(time.Until(bound), MinCallAfterInterrupt), cancel)
	})
	return ctx, func() { stop(); cancel() }
}

// do runs one Engine API call with a per-call deadline, retries transient
// failures and feeds the breaker.
func do[T any](ctx context.Context, e *Engine, op string, fn func(context.Context) (T, error)) (T, error) {
	return doFor(ctx, e, op, 0, fn)
}

// doFor is do for a call that is asked to take up to asked itself (a stop's
// grace period): its deadline is asked plus the per-call timeout, so the
// engine's own work always has the usual margin on top.
func doFor[T any](ctx context.Context, e *Engine, op string, asked time.Duration, fn func(context.Context) (T, error)) (T, error) {
	limit := e.opts.CallTimeout + max(asked, 0)
	tries := e.opts.MaxTries
	if e.lost.Load() {
		limit, tries = min(limit, LostCallTimeout), 1
	}
	attempt := 0
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = 2 * time.Second
	bo.RandomizationFactor = 0.5
	res, err := backoff.Retry(ctx, func() (T, error) {
		attempt++
		var zero T
		out, err := e.breaker.Execute(func() (any, error) {
			cctx, cancel := e.callContext(ctx, limit)
			defer cancel()
			v, err := fn(cctx)
			if err != nil && cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
				err = fmt.Errorf("%s: no answer from the engine within %s: %w", op, limit, err)
			}
			return v, err
		})
		if err != nil {
			if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
				return zero, backoff.Permanent(fmt.Errorf("%s: %w after %d consecutive engine failures; not calling %s again for 10s: check the daemon (docker info)", op, ErrBreakerOpen, e.opts.BreakerFailures, e.daemonHost))
			}
			if ctx.Err() != nil || !Transient(err) {
				return zero, backoff.Permanent(err)
			}
			return zero, err
		}
		v, _ := out.(T)
		return v, nil
	}, backoff.WithBackOff(bo), backoff.WithMaxTries(tries), backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			if e.opts.OnRetry != nil {
				e.opts.OnRetry(op, attempt, err, wait)
			}
		}))
	if err != nil && isTransport(err) && !errors.Is(err, ErrBreakerOpen) && ctx.Err() == nil {
		err = e.unreachable(err)
		if gone(err) {
			e.lost.Store(true)
		}
	}
	if answered := err == nil || !isTransport(err) && !errors.Is(err, ErrBreakerOpen) && ctx.Err() == nil; answered {
		e.lost.Store(false)
	}
	return res, err
}

// Lost reports whether the engine went away and has not answered since.
func (e *Engine) Lost() bool { return e.lost.Load() }

// Transient reports whether an engine error is worth retrying: the
// connection broke, or the daemon answered 5xx for something other than a
// definite refusal.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if isTransport(err) {
		return true
	}
	switch {
	case cerrdefs.IsNotFound(err), cerrdefs.IsConflict(err), cerrdefs.IsInvalidArgument(err),
		cerrdefs.IsAlreadyExists(err), cerrdefs.IsPermissionDenied(err), cerrdefs.IsUnauthorized(err),
		cerrdefs.IsNotImplemented(err), cerrdefs.IsFailedPrecondition(err), cerrdefs.IsCanceled(err):
		return false
	case cerrdefs.IsUnavailable(err), cerrdefs.IsDeadlineExceeded(err):
		return true
	case cerrdefs.IsInternal(err), cerrdefs.IsUnknown(err):
		// 500s: some are definite (port taken, OCI runtime errors), some transient.
		msg := err.Error()
		for _, definite := range []string{"port is already allocated", "address already in use", "OCI runtime", "executable file not found", "no such file", "bind source path does not exist", "invalid"} {
			if strings.Contains(msg, definite) {
				return false
			}
		}
		return true
	}
	return false
}

func isTransport(err error) bool {
	if err == nil {
		return false
	}
	if client.IsErrConnectionFailed(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && !errors.Is(err, context.Canceled) {
		return true
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrNotExist) && strings.Contains(err.Error(), "docker.sock")
}

// gone reports whether a transport error says the engine is not there (the
// connection was refused or broke), as opposed to a slow answer: a timeout
// on a saturated engine is not a loss.
func gone(err error) bool {
	if !isTransport(err) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

// Definite reports whether an error will not go away by trying again the
// same way: the daemon refused for a reason that a retry cannot change.
func Definite(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"port is already allocated", "address already in use", "executable file not found", "no such file or directory", "permission denied", "invalid"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return cerrdefs.IsNotFound(err) || cerrdefs.IsInvalidArgument(err) || cerrdefs.IsPermissionDenied(err)
}
