package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a length of time written the way people write it: "90s",
// "2m", "1h30m", or a number of days, "7d". A bare number ("90") is an
// error, since it does not say its unit, and so is a negative duration.
//
// Convert it with time.Duration(d).
type Duration time.Duration

// ParseDuration parses a duration as the config writes it: Go's
// time.ParseDuration syntax ("90s", "2m", "1h30m", "500ms"), or a whole
// number of days ("7d"). It refuses bare numbers other than 0 and negative
// durations.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, &valueError{msg: "is empty", fix: "write a number with a unit, like 90s or 2m"}
	}
	if s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err == nil {
			return Duration(time.Duration(n) * 24 * time.Hour), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &valueError{msg: fmt.Sprintf("%q is not a duration", s), fix: "write a number with a unit, like 90s or 2m"}
	}
	if d < 0 {
		return 0, &valueError{msg: fmt.Sprintf("%q is negative", s), fix: "write a duration of zero or more, like 90s or 2m"}
	}
	return Duration(d), nil
}

// String returns the duration the way the config writes it: "90s", "2m",
// "1h30m", "0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalYAML decodes a duration from a YAML scalar.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &valueError{msg: "must be a duration, not a " + kindName(n), fix: "write a number with a unit, like 90s or 2m"}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML encodes the duration as its string, like "90s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON encodes the duration as its string, like "90s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON decodes a duration from a JSON string, like "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
