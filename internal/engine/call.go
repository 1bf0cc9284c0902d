package engine

import (
	"context"
	"errors"
)

// Errors of the methods a controller calls at run time (Publish,
// Subscribe, SetAudioLevelReport, …); internal/control turns them into the
// SDK's error names.
var (
	// ErrNotJoined: the engine has not joined a session yet, or Run has
	// returned.
	ErrNotJoined = errors.New("not joined")
	// ErrInvalidOperation: the call asks for the state that already is
	// (enabling what is enabled, unpublishing what is not published).
	ErrInvalidOperation = errors.New("invalid operation")
)

// call runs f on the run loop and returns its error, or ErrNotJoined when
// Run is not running (not started, or returned), or ctx's error.
func (e *Engine) call(ctx context.Context, f func() error) error {
	res := make(chan error, 1)
	select {
	case e.actions <- func() { res <- f() }:
	case <-e.done:
		return ErrNotJoined
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-res:
		return err
	case <-e.done:
		return ErrNotJoined
	case <-ctx.Done():
		return ctx.Err()
	}
}
