package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// TestSmoke runs `owlgate-bench -smoke` (2 patrons, 1 operator, 10 messages
// each way and a burst of 10 each way through owlgate in component mode,
// with a real ngircd and Prosody) so that the load tool keeps working. It
// skips when a server is not installed, unless OWLGATE_REQUIRE_SERVERS=1.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and builds owlgate")
	}
	cfg, err := parseFlags([]string{"-smoke", "-quiet"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	results, err := benchmark(ctx, cfg, &out)
	if errors.Is(err, errMissing) {
		if os.Getenv("OWLGATE_REQUIRE_SERVERS") == "1" {
			t.Fatalf("%v (OWLGATE_REQUIRE_SERVERS=1: required)", err)
		}
		t.Skipf("%v; set OWLGATE_REQUIRE_SERVERS=1 to make this a failure", err)
	}
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Gateway != "owlgate" {
		t.Fatalf("results: %+v", results)
	}
	r := results[0]
	for name, l := range map[string]latencyStats{"patron→operator": r.P2O, "operator→patron": r.O2P} {
		if l.Sent != 10 || l.Received != 10 || l.P50 <= 0 || l.P99 < l.P50 {
			t.Errorf("latency %s: %+v", name, l)
		}
	}
	for name, b := range map[string]burstStats{"patron→operator": r.BurstP2O, "operator→patron": r.BurstO2P} {
		if b.Messages != 10 || b.Received != 10 || b.Durable != 10 || b.PerSecond <= 0 {
			t.Errorf("burst %s: %+v", name, b)
		}
	}
	if r.RSSChatsMB <= 0 {
		t.Errorf("no RSS measured: %+v", r)
	}
	if !bytes.Contains(out.Bytes(), []byte("patron→operator p50")) {
		t.Errorf("no table:\n%s", out.String())
	}
}
