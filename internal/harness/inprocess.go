package harness

import (
	"context"
	"fmt"
	"time"
)

// InProcess runs a binary's run function in a goroutine: the end-to-end
// tests' Process. Stop cancels its context, which is what main does on
// SIGTERM.
type InProcess struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// StartInProcess runs fn until Stop.
func StartInProcess(ctx context.Context, fn func(ctx context.Context) error) *InProcess {
	ctx, cancel := context.WithCancel(ctx)
	p := &InProcess{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = fn(ctx)
	}()
	return p
}

// Alive reports whether fn still runs.
func (p *InProcess) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop cancels fn's context and waits up to timeout for it to return; the
// error is fn's, or that it did not stop.
func (p *InProcess) Stop(timeout time.Duration) error {
	p.cancel()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("still running %s after it was stopped", timeout)
	}
}
