package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// BenchmarkEvents measures chat events persisted per second: each event is
// what the engine's SaveLine amounts to, one batch holding a new line (the
// engine does not save the chat's record for a new line: the store derives
// its Lines and LastActivity). Producers each own a chat, submit, and wait
// for the commit before the next event (as the gateway waits before it
// reports a message as stored); group commit makes their waits share
// fsyncs. One op is one event.
func BenchmarkEvents(b *testing.B) {
	for _, producers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			s, _ := openTemp(b)
			ctx := context.Background()
			recs := make([]routing.ChatRecord, producers)
			for p := range recs {
				recs[p] = record(routing.ChatID(p + 1))
			}
			submitWait(b, s, Batch{Chats: recs})

			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, producers)
			b.ResetTimer()
			start := time.Now()
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := recs[p]
					for next.Add(1) <= int64(b.N) {
						l := line(r.Lines)
						r.Lines++
						c := s.Submit(Batch{Lines: []ChatLine{{Chat: r.ID, Line: l}}})
						if err := c.Wait(ctx); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
		})
	}
}

// BenchmarkGuestExisting measures Guest for an address already assigned:
// the lookup every inbound message does.
func BenchmarkGuestExisting(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	for i := range 1000 {
		if _, err := s.Guest(ctx, addr(fmt.Sprintf("user%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	a := addr("user500")
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Guest(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Guest(ctx, a); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkLoad measures the start-up read of 1000 open chats with 20
// lines each.
func BenchmarkLoad(b *testing.B) {
	s, _ := openTemp(b)
	var batch Batch
	for id := routing.ChatID(1); id <= 1000; id++ {
		r := record(id)
		r.Lines = 20
		batch.Chats = append(batch.Chats, r)
		batch.Lines = append(batch.Lines, linesOf(id, 0, 20)...)
	}
	submitWait(b, s, batch)
	ctx := context.Background()
	for b.Loop() {
		st, err := s.Load(ctx, 10)
		if err != nil || len(st.Chats) != 1000 {
			b.Fatal(len(st.Chats), err)
		}
	}
}

// BenchmarkEventsPipelined measures chat events persisted per second the
// way the gateway submits them: its one event loop submits each event's
// batch without waiting, and whoever needs the durability (the adapter that
// delivered a patron's message) waits on the commit elsewhere. Here a
// second goroutine waits on every commit in order; the time ends when the
// last one is durable. One op is one event (a new line, as in
// BenchmarkEvents) over 100 open chats.
// pipelinedChats is how many chats the pipelined benchmarks keep open.
const pipelinedChats = 100

// pipelined opens a store with the pipelined benchmarks' open chats, and
// a goroutine that waits on every commit sent to commits, in order, and
// sends the first error (or nil) to waited once commits is closed.
func pipelined(b *testing.B) (*SQLite, []routing.ChatRecord, chan<- *Commit, <-chan error) {
	s, _ := openTemp(b)
	ctx := context.Background()
	recs := make([]routing.ChatRecord, pipelinedChats)
	for p := range recs {
		recs[p] = record(routing.ChatID(p + 1))
	}
	submitWait(b, s, Batch{Chats: recs})
	commits := make(chan *Commit, 4096)
	waited := make(chan error, 1)
	go func() {
		var first error
		for c := range commits {
			if err := c.Wait(ctx); err != nil && first == nil {
				first = err
			}
		}
		waited <- first
	}()
	return s, recs, commits, waited
}

func BenchmarkEventsPipelined(b *testing.B) {
	s, recs, commits, waited := pipelined(b)
	const chats = pipelinedChats
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		r := &recs[i%chats]
		l := line(r.Lines)
		r.Lines++
		commits <- s.Submit(Batch{Lines: []ChatLine{{Chat: r.ID, Line: l}}})
	}
	close(commits)
	if err := <-waited; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// BenchmarkMessagesPipelined measures what the gateway writes for the
// operator→patron and patron→operator round trip of the e2e benchmark,
// submitted the way the gateway does (pipelined, one batch per event): per
// op, one batch with a patron's line, one with an operator's line and its
// outbound message, and the outbound message of the op before marked done
// (the gateway takes those along in its next batch). One op is one round
// trip, two messages; over 100 open chats. cpu-ns/op is the process's CPU
// time per op, which the machine's other load disturbs less than the
// wall-clock figures.
func BenchmarkMessagesPipelined(b *testing.B) {
	s, recs, commits, waited := pipelined(b)
	const chats = pipelinedChats
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	var prev protocols.MessageID
	for i := range b.N {
		r := &recs[i%chats]
		l := line(r.Lines)
		r.Lines++
		commits <- s.Submit(Batch{Lines: []ChatLine{{Chat: r.ID, Line: l}}})
		l = line(r.Lines)
		r.Lines++
		o := Outbound{ID: protocols.MessageID(fmt.Sprintf("og%d.%x.m%d", r.ID, i, i)), Chat: r.ID, To: r.Patron, Text: l.Text, Created: l.At}
		batch := Batch{Lines: []ChatLine{{Chat: r.ID, Line: l}}, Outbound: []Outbound{o}}
		if prev != "" {
			batch.Done = []protocols.MessageID{prev}
		}
		commits <- s.Submit(batch)
		prev = o.ID
	}
	close(commits)
	if err := <-waited; err != nil {
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	b.ReportMetric(2*float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time this process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
