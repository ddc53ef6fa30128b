package protocols

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not connected", fmt.Errorf("irc: %w", ErrNotConnected), true},
		{"rate limited", fmt.Errorf("discord: %w", ErrRateLimited), true},
		{"timeout", ErrTimeout, true},
		{"retry after", &RetryAfterError{Err: errors.New("429"), After: time.Second}, true},
		{"bad credentials", fmt.Errorf("matrix: %w", ErrBadCredentials), false},
		{"unknown patron", ErrUnknownPatron, false},
		{"rejected", ErrRejected, false},
		{"unsupported", ErrUnsupported, false},
		{"plain", errors.New("boom"), false},
		{"net timeout", &net.DNSError{Err: "x", IsTimeout: true, IsTemporary: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if got := RetryAfter(fmt.Errorf("x: %w", &RetryAfterError{Err: ErrRateLimited, After: 3 * time.Second})); got != 3*time.Second {
		t.Errorf("RetryAfter = %v, want 3s", got)
	}
}

func TestBackoffGrowsCapsAndResets(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 8 * time.Second, Stable: time.Minute, Rand: func() float64 { return 0.999999 }}
	var got []time.Duration
	for range 6 {
		got = append(got, b.Next(0).Round(time.Second))
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", got, want)
		}
	}
	if d := b.Next(2 * time.Minute).Round(time.Second); d != time.Second {
		t.Errorf("after a stable connection the delay is %v, want 1s", d)
	}
	// Jitter: the lowest draw gives half the delay.
	b = Backoff{Min: 2 * time.Second, Rand: func() float64 { return 0 }}
	if d := b.Next(0); d != time.Second {
		t.Errorf("lowest jitter gives %v, want 1s", d)
	}
}

func TestNames(t *testing.T) {
	if s := AccountBadCredentials.String(); s != "bad-credentials" {
		t.Errorf("AccountBadCredentials = %q", s)
	}
	if s := Composing.String(); s != "composing" {
		t.Errorf("Composing = %q", s)
	}
	a := Address{Network: "irc", Account: "unc-irc", User: "patron"}
	if a.String() != "irc/unc-irc/patron" || a.IsZero() {
		t.Errorf("Address = %q", a)
	}
}
