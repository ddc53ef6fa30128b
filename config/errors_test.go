package config

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "owlgate.yaml", Line: 12, Column: 5, Key: "queues[0].fallback_after", Msg: `"90" is not a duration`, Fix: "write a number with a unit, like 90s or 2m"},
			`owlgate.yaml:12:5: queues[0].fallback_after: "90" is not a duration; write a number with a unit, like 90s or 2m`},
		{Error{File: "owlgate.yaml", Line: 3, Msg: "YAML syntax: x"}, "owlgate.yaml:3: YAML syntax: x"},
		{Error{File: "owlgate.yaml", Key: "k", Msg: "m"}, "owlgate.yaml: k: m"},
		{Error{Key: "k", Msg: "m", Fix: "f"}, "k: m; f"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	es := Errors{{File: "a", Line: 9, Msg: "late"}, {File: "a", Line: 2, Column: 3, Msg: "early"}, {File: "a", Line: 2, Column: 1, Msg: "first"}}
	err := es.err()
	if got := err.Error(); got != "a:2:1: first\na:2:3: early\na:9: late" {
		t.Errorf("Errors = %q", got)
	}
	wrapped := fmt.Errorf("check: %w", err)
	if got := AsErrors(wrapped); len(got) != 3 {
		t.Errorf("AsErrors(wrapped) = %v", got)
	}
	var one *Error
	if !errors.As(wrapped, &one) || one.Msg != "first" {
		t.Errorf("errors.As(*Error) = %v", one)
	}
	if AsErrors(errors.New("x")) != nil || (Errors{}).err() != nil {
		t.Errorf("AsErrors of another error, or an empty Errors")
	}
	if got := AsErrors(&Error{Msg: "x"}); len(got) != 1 {
		t.Errorf("AsErrors(*Error) = %v", got)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"id", "name", "library", "operators", "transcripts", "transcript_days", "fallback", "fallback_after", "idle_timeout", "nick", "server"}
	for in, want := range map[string]string{
		"nik": "nick", "opertors": "operators", "fallbak": "fallback", "fallback-after": "fallback_after",
		"FALLBACK_AFTER": "fallback_after", "transcript": "transcripts", "idle_timout": "idle_timeout",
		"libary": "library", "sevrer": "server", "nmae": "name",
		"colour": "", "x": "", "queues": "", "password": "",
	} {
		if got := suggest(in, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"nick", "nik", 1}, {"same", "same", 0}} {
		if got := levenshtein(tt.a, tt.b); got != tt.d {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}
