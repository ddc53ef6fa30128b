package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0": 0, "0s": 0, "90s": 90 * time.Second, "2m": 2 * time.Minute, "1h30m": 90 * time.Minute,
		"500ms": 500 * time.Millisecond, "7d": 7 * 24 * time.Hour, " 5m ": 5 * time.Minute,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || time.Duration(got) != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"90":   `"90" is not a duration; write a number with a unit, like 90s or 2m`,
		"":     `is empty`,
		"1x":   `"1x" is not a duration`,
		"-1m":  `"-1m" is negative`,
		"d":    `"d" is not a duration`,
		"1.5d": `"1.5d" is not a duration`,
	}
	for in, want := range bad {
		if _, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDuration(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 90 * time.Second: "1m30s", 2 * time.Minute: "2m", time.Hour: "1h", 90 * time.Minute: "1h30m",
		time.Hour + time.Second: "1h0m1s", 500 * time.Millisecond: "500ms",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
		back, err := ParseDuration(Duration(d).String())
		if err != nil || time.Duration(back) != d {
			t.Errorf("round trip of %v: %v %v", d, back, err)
		}
	}
}

func TestDurationMarshal(t *testing.T) {
	var v struct {
		D Duration `yaml:"d" json:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 2m\n"), &v); err != nil || v.D != Duration(2*time.Minute) {
		t.Fatalf("yaml: %v %v", v.D, err)
	}
	if err := yaml.Unmarshal([]byte("d: 120\n"), &v); err == nil {
		t.Errorf("yaml accepted a bare number")
	}
	y, _ := yaml.Marshal(v)
	if string(y) != "d: 2m\n" {
		t.Errorf("yaml.Marshal = %q", y)
	}
	j, _ := json.Marshal(v)
	if string(j) != `{"d":"2m"}` {
		t.Errorf("json.Marshal = %s", j)
	}
	v.D = 0
	if err := json.Unmarshal(j, &v); err != nil || v.D != Duration(2*time.Minute) {
		t.Errorf("json.Unmarshal: %v %v", v.D, err)
	}
}
