package index

import (
	"log/slog"
	"sync"
	"time"
)

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen // one probe is in flight
)

type outcome int

const (
	outcomeSuccess outcome = iota // the index answered sensibly (2xx or 4xx)
	outcomeFailure                // transient failure that the index is to blame for
	outcomeNeutral                // the caller gave up; says nothing about the index
)

// breaker is a consecutive-failure circuit breaker. Only state transitions are
// logged, so an outage produces two log lines however many requests it hits.
type breaker struct {
	failuresToOpen int
	cooldown       time.Duration
	now            func() time.Time
	logger         *slog.Logger

	mu        sync.Mutex
	state     breakerState
	failures  int
	openUntil time.Time
}

// allow reports whether a call may go ahead and whether it is the half-open probe.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerClosed:
		return true, false
	case breakerOpen:
		if b.now().Before(b.openUntil) {
			return false, false
		}
		b.state = breakerHalfOpen
		return true, true
	default: // half-open: the probe decides, everyone else waits for it
		return false, false
	}
}

func (b *breaker) record(probe bool, o outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerClosed:
		switch o {
		case outcomeSuccess:
			b.failures = 0
		case outcomeFailure:
			b.failures++
			if b.failures >= b.failuresToOpen {
				b.state = breakerOpen
				b.openUntil = b.now().Add(b.cooldown)
				b.logger.Warn("index unavailable, circuit open",
					slog.Int("consecutive_failures", b.failures),
					slog.Duration("cooldown", b.cooldown))
			}
		}
	case breakerHalfOpen:
		if !probe {
			return // calls that started before the breaker opened do not count
		}
		switch o {
		case outcomeSuccess:
			b.state = breakerClosed
			b.failures = 0
			b.logger.Info("index available again, circuit closed")
		case outcomeFailure:
			// Still down: stay open quietly, the opening was already logged.
			b.state = breakerOpen
			b.openUntil = b.now().Add(b.cooldown)
		case outcomeNeutral:
			// The probe learned nothing; let the next call probe right away.
			b.state = breakerOpen
			b.openUntil = b.now()
		}
	}
}

func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state != breakerClosed
}
