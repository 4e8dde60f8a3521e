package controller

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/checkpoint"
	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller/controllertest"
	"github.com/samalba/docker-eventsd/informer"
)

// BenchmarkHandle measures Handle for an event that one rule of three fires:
// without a journal (memory), encoding for a journal that drops everything
// (encode), and with the state file's write-behind journal committing behind
// (journal: on a 2-core machine the commits compete with Handle for the CPU).
func BenchmarkHandle(b *testing.B) {
	cfg := localConfig(
		config.Rule{Name: "promote", Types: []string{"die"}, Selector: config.Selector{FromContainer: "db-*"}, Action: config.Action{Command: "promote"}},
		config.Rule{Name: "lb", Types: []string{"start", "die"}, Selector: config.Selector{FromContainer: "web-*"}, Action: config.Action{Command: "lb"}},
		config.Rule{Name: "log", Types: []string{"oom"}, Action: config.Action{Log: "oom"}},
	)
	events := make([]*informer.Event, 1024)
	for i := range events {
		ev := died("db-"+strconv.Itoa(i%16), "ev"+strconv.Itoa(i))
		events[i] = ev
	}
	for _, mode := range []string{"memory", "encode", "journal"} {
		b.Run(mode, func(b *testing.B) {
			opts := Options{Config: cfg, Runner: &controllertest.Runner{}, Workers: 4}
			if mode == "encode" {
				opts.Journal = nopJournal{}
			}
			if mode == "journal" {
				s, err := checkpoint.Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					s.Run(ctx, nil, time.Second)
				}()
				defer func() {
					cancel()
					<-done
				}()
				opts.Journal = s
			}
			c := New(opts)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = c.Run(ctx, time.Second)
			}()
			defer func() {
				cancel()
				<-done
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Handle(events[i%len(events)])
			}
		})
	}
}

// nopJournal drops everything.
type nopJournal struct{}

func (nopJournal) PutDelivery(uint64, []byte)  {}
func (nopJournal) DeleteDelivery(uint64)       {}
func (nopJournal) PutStateRule(string, []byte) {}
