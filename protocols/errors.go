package protocols

import (
	"errors"
	"time"
)

// Sentinel errors adapters wrap (with fmt.Errorf("...: %w", ErrX)) so that
// the gateway can tell what to do. Retryable sends can succeed later;
// permanent ones cannot, and the operator is told "message not received".
var (
	// ErrNotConnected: the account is not logged in right now. Retryable.
	ErrNotConnected = errors.New("account not connected")
	// ErrRateLimited: the network asked us to slow down. Retryable; wrap
	// it in a [RetryAfterError] when the network says when.
	ErrRateLimited = errors.New("rate limited by the network")
	// ErrTimeout: the network did not answer in time. Retryable.
	ErrTimeout = errors.New("network did not answer in time")

	// ErrBadCredentials: the network refused the account's credentials.
	// Permanent: fix the config.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrUnknownPatron: the patron does not exist on the network or can no
	// longer be reached there (left the server, blocked the account).
	// Permanent.
	ErrUnknownPatron = errors.New("patron unreachable on this network")
	// ErrRejected: the network refused the content (too long, filtered).
	// Permanent.
	ErrRejected = errors.New("rejected by the network")
	// ErrUnsupported: the network cannot carry this kind of event.
	// Permanent.
	ErrUnsupported = errors.New("not supported by this network")
)

// RetryAfterError is a retryable error whose network said when to retry.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return e.Err.Error() + " (retry after " + e.After.String() + ")"
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// Retryable reports whether sending again later can succeed after err: it is
// true for errors wrapping [ErrNotConnected], [ErrRateLimited], [ErrTimeout]
// or a [RetryAfterError], and for errors that have a `Temporary() bool`
// method returning true (as net errors do). Everything else, and nil, is
// permanent.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return true
	}
	if errors.Is(err, ErrNotConnected) || errors.Is(err, ErrRateLimited) || errors.Is(err, ErrTimeout) {
		return true
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) {
		return t.Temporary()
	}
	return false
}

// RetryAfter returns how long the network asked to wait before retrying, or
// 0 when it did not say.
func RetryAfter(err error) time.Duration {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After
	}
	return 0
}
