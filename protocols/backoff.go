package protocols

import (
	"math/rand/v2"
	"time"
)

// Backoff computes reconnection delays: exponential from Min, doubled at
// each failure up to Max, with full jitter in [d/2, d), and reset to Min once
// a connection stayed up for Stable. The zero value uses the defaults
// (1s, 5m, 1m). It is not safe for concurrent use: each session owns one.
type Backoff struct {
	Min    time.Duration // first delay; default 1s
	Max    time.Duration // cap; default 5m
	Stable time.Duration // a connection up this long resets the delay; default 1m

	// Rand returns a number in [0,1); nil uses math/rand/v2. Tests set it.
	Rand func() float64

	attempt int
}

// Next returns how long to wait before the next attempt, after a connection
// that was up for the given time (0 when the attempt failed outright).
func (b *Backoff) Next(up time.Duration) time.Duration {
	minD, maxD, stable := b.Min, b.Max, b.Stable
	if minD <= 0 {
		minD = time.Second
	}
	if maxD <= 0 {
		maxD = 5 * time.Minute
	}
	if stable <= 0 {
		stable = time.Minute
	}
	if up >= stable {
		b.attempt = 0
	}
	d := minD
	for i := 0; i < b.attempt && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	b.attempt++
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

// Reset forgets past failures.
func (b *Backoff) Reset() { b.attempt = 0 }
