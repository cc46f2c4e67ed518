package deploy

import (
	"context"
	"sync"
)

// signal is a one-shot outcome that many goroutines can wait on: it either
// holds (ok) or failed. The first call wins.
type signal struct {
	once  sync.Once
	final chan struct{}
	err   error
}

func newSignal() *signal { return &signal{final: make(chan struct{})} }

func (s *signal) ok()            { s.once.Do(func() { close(s.final) }) }
func (s *signal) fail(err error) { s.once.Do(func() { s.err = err; close(s.final) }) }

func (s *signal) isFinal() bool { return closed(s.final) }

// closed says whether ch is closed (a nil ch never is).
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// wait returns nil when the signal holds, its error when it failed, or the
// context's error.
func (s *signal) wait(ctx context.Context) error {
	select {
	case <-s.final:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// future is a value computed once, waited on by many.
type future[T any] struct {
	once sync.Once
	done chan struct{}
	v    T
	err  error
}

func newFuture[T any]() *future[T] { return &future[T]{done: make(chan struct{})} }

func (f *future[T]) set(v T, err error) {
	f.once.Do(func() { f.v, f.err = v, err; close(f.done) })
}

func (f *future[T]) wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
