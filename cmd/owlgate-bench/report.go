package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

type report struct {
	Machine string    `json:"machine"`
	Command string    `json:"command"`
	Results []*result `json:"results"`
}

type result struct {
	Gateway      string       `json:"gateway"`
	Mode         string       `json:"mode"`
	Patrons      int          `json:"patrons"`
	Operators    int          `json:"operators"`
	SetupSeconds float64      `json:"setup_s"`
	OpenSeconds  float64      `json:"open_chats_s"`
	LatencyRate  float64      `json:"latency_rate_each_way"`
	P2O          latencyStats `json:"latency_patron_to_operator"`
	O2P          latencyStats `json:"latency_operator_to_patron"`
	BurstP2O     burstStats   `json:"burst_patron_to_operator"`
	BurstO2P     burstStats   `json:"burst_operator_to_patron"`
	RSSIdleMB    float64      `json:"rss_idle_mb"`
	RSSChatsMB   float64      `json:"rss_chats_mb"`        // with Patrons chats open
	RSSAfterMB   float64      `json:"rss_after_mb"`        // after the latency and burst phases
	OpenChats    int          `json:"open_chats_in_store"` // owlgate: chats its store holds open at RSSChatsMB; -1: n/a
	ManyChats    int          `json:"many_chats,omitempty"`
	ManyOpen     int          `json:"many_open_in_store,omitempty"`
	RSSManyMB    float64      `json:"rss_many_chats_mb,omitempty"`
	Notes        []string     `json:"notes,omitempty"`
}

type latencyStats struct {
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
}

type burstStats struct {
	Messages     int      `json:"messages"`
	Received     int      `json:"received"`
	Senders      int      `json:"senders"`
	Seconds      float64  `json:"seconds"`
	PerSecond    float64  `json:"msgs_per_s"`
	WriteSeconds float64  `json:"write_s"`
	P50          float64  `json:"p50_ms"`
	P99          float64  `json:"p99_ms"`
	Durable      int      `json:"durable"` // found in owlgate's store; -1: not checked
	CPU          cpuStats `json:"cpu_s"`
	Note         string   `json:"note,omitempty"`
}

type cpuStats struct {
	Gateway float64 `json:"gateway"`
	Prosody float64 `json:"prosody"`
	Ngircd  float64 `json:"ngircd"`
	Bench   float64 `json:"bench"`
}

func printTable(out io.Writer, cfg *config, rs []*result) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(out, "\nowlgate-bench: %d patrons, %d operators; latency %d msgs each way at %.0f/s; burst %d msgs each way\n%s\n\n",
		cfg.Patrons, cfg.Operators, cfg.Messages, cfg.Rate, cfg.Burst, machine())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{""}
	for _, r := range rs {
		head = append(head, r.Gateway+" ("+r.Mode+")")
	}
	row := func(name string, f func(r *result) string) {
		cells := []string{name}
		for _, r := range rs {
			if r.Gateway == aloneGateway && !strings.HasPrefix(name, "burst") {
				cells = append(cells, "–") // only the bursts are measured there
				continue
			}
			cells = append(cells, f(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	ms := func(v float64) string { return fmt.Sprintf("%.2f ms", v) }
	lat := func(name string, get func(r *result) latencyStats) {
		if cfg.Messages == 0 {
			return
		}
		row(name+" p50", func(r *result) string { return ms(get(r).P50) })
		row(name+" p99", func(r *result) string { return ms(get(r).P99) })
		row(name+" max", func(r *result) string { return ms(get(r).Max) })
		row(name+" received", func(r *result) string { s := get(r); return fmt.Sprintf("%d/%d", s.Received, s.Sent) })
	}
	lat("patron→operator", func(r *result) latencyStats { return r.P2O })
	lat("operator→patron", func(r *result) latencyStats { return r.O2P })
	burst := func(name string, get func(r *result) burstStats) {
		if cfg.Burst == 0 {
			return
		}
		row(name+" msgs/s", func(r *result) string { return fmt.Sprintf("%.0f", get(r).PerSecond) })
		row(name+" received", func(r *result) string {
			b := get(r)
			return fmt.Sprintf("%d/%d in %.3fs", b.Received, b.Messages, b.Seconds)
		})
		row(name+" durable", func(r *result) string {
			b := get(r)
			if b.Durable < 0 {
				return "n/a"
			}
			return fmt.Sprintf("%d/%d", b.Durable, b.Messages)
		})
		row(name+" CPU s gw/prosody/ngircd/bench", func(r *result) string {
			c := get(r).CPU
			return fmt.Sprintf("%.2f/%.2f/%.2f/%.2f", c.Gateway, c.Prosody, c.Ngircd, c.Bench)
		})
	}
	burst("burst patron→operator", func(r *result) burstStats { return r.BurstP2O })
	burst("burst operator→patron", func(r *result) burstStats { return r.BurstO2P })
	row("RSS idle", func(r *result) string { return fmt.Sprintf("%.1f MB", r.RSSIdleMB) })
	row(fmt.Sprintf("RSS with %d chats", cfg.Patrons), func(r *result) string { return fmt.Sprintf("%.1f MB", r.RSSChatsMB) })
	row("RSS after the phases", func(r *result) string { return fmt.Sprintf("%.1f MB", r.RSSAfterMB) })
	if cfg.Chats > cfg.Patrons {
		row(fmt.Sprintf("RSS with %d chats", cfg.Chats), func(r *result) string {
			if r.ManyChats == 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.1f MB", r.RSSManyMB)
		})
		row("  chats open in owlgate's store", func(r *result) string {
			if r.ManyChats == 0 {
				return "n/a"
			}
			return fmt.Sprint(r.ManyOpen)
		})
	}
	row("opening the chats", func(r *result) string { return fmt.Sprintf("%.1f s", r.OpenSeconds) })
	tw.Flush()
	for _, r := range rs {
		for _, n := range append(r.Notes, r.BurstP2O.Note, r.BurstO2P.Note) {
			if n != "" {
				fmt.Fprintf(out, "%s: %s\n", r.Gateway, n)
			}
		}
	}
	if n := aloneNote(rs); n != "" {
		fmt.Fprintln(out, n)
	}
}
