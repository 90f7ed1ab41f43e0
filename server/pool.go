package server

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// pool admits at most workers+queue requests and runs at most workers of
// them at once. Admission is decided immediately (a full pool answers 429
// without waiting), so the memory held by waiting requests (their uploads)
// is bounded by queue × MaxUploadBytes; uploads still being read are
// bounded by Config.MaxUploads.
type pool struct {
	workers int
	admit   chan struct{} // one token per admitted request
	slots   chan struct{} // one token per running request
	waiting atomic.Int64
	running atomic.Int64

	mu      sync.Mutex
	avgWork float64 // moving average of work seconds, for Retry-After
}

func newPool(workers, queue int) *pool {
	return &pool{
		workers: workers,
		admit:   make(chan struct{}, workers+queue),
		slots:   make(chan struct{}, workers),
		avgWork: 1,
	}
}

// tryAdmit takes an admission token if one is free. Every successful call
// must be matched by leave.
func (p *pool) tryAdmit() bool {
	select {
	case p.admit <- struct{}{}:
		return true
	default:
		return false
	}
}

// leave returns an admission token.
func (p *pool) leave() { <-p.admit }

// acquire waits for a worker slot. On success the caller must call the
// returned release when its work (and the answer's encoding) is done.
func (p *pool) acquire(ctx context.Context) (release func(), err error) {
	// The waiting count drops before running rises, so that a scrape
	// never counts one request in both (the queue gauge stays within its
	// capacity).
	p.waiting.Add(1)
	select {
	case p.slots <- struct{}{}:
		p.waiting.Add(-1)
	case <-ctx.Done():
		p.waiting.Add(-1)
		return nil, context.Cause(ctx)
	}
	// A request whose context ended while it waited must not start work.
	if err := ctx.Err(); err != nil {
		<-p.slots
		return nil, context.Cause(ctx)
	}
	p.running.Add(1)
	start := time.Now()
	return func() {
		p.observe(time.Since(start))
		p.running.Add(-1)
		<-p.slots
	}, nil
}

// observe folds one work duration into the moving average.
func (p *pool) observe(d time.Duration) {
	p.mu.Lock()
	p.avgWork = 0.8*p.avgWork + 0.2*d.Seconds()
	p.mu.Unlock()
}

// retryAfter estimates in whole seconds when a refused request may find
// room: the queue ahead of it drained by all workers at the average pace,
// between 1 s and 2 min.
func (p *pool) retryAfter() int {
	p.mu.Lock()
	avg := p.avgWork
	p.mu.Unlock()
	ahead := float64(p.waiting.Load() + 1)
	s := math.Ceil(avg * ahead / float64(p.workers))
	return int(min(max(s, 1), 120))
}
