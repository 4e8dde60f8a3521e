package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/samalba/docker-eventsd/informer"
)

// RecordLine is one line of a recording (`docker-eventsd record`, JSON
// lines): an event as the rules saw it, with its cached container, or the
// first list of an engine (the containers already there when the recording
// began).
type RecordLine struct {
	// At is when the daemon handed the event on (the daemon's clock), or
	// listed the engine: replay --speed keeps the time between lines.
	At       time.Time       `json:"at"`
	Event    *informer.Event `json:"event,omitempty"`
	Baseline *RecordBaseline `json:"baseline,omitempty"`
}

// RecordBaseline is the containers of an engine when it was first in sync.
type RecordBaseline struct {
	Engine     string                `json:"engine"`
	Containers []*informer.Container `json:"containers"`
}

// Recorder writes a recording: it is the Observe of a daemon (Handle) and
// records each engine's first list (Baselines). Every line is flushed as it
// is written. It is safe for concurrent use.
type Recorder struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
	n   int
}

// NewRecorder returns a Recorder that writes to w.
func NewRecorder(w io.Writer) *Recorder { return &Recorder{w: bufio.NewWriter(w)} }

// Handle records ev.
func (r *Recorder) Handle(ev *informer.Event) { r.write(RecordLine{At: time.Now(), Event: ev}) }

// Lines returns the number of lines written, and the first error of a write
// (after which nothing more is written).
func (r *Recorder) Lines() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.err
}

// Baselines records the containers of each engine of d once it is first in
// sync, and returns once every engine's is written or ctx is done. Each list
// is taken while no event line can be written: an event applied to a cache
// after its list is recorded after it.
func (r *Recorder) Baselines(ctx context.Context, d *Daemon) {
	var wg sync.WaitGroup
	for _, name := range d.Engines() {
		inf := d.Informer(name)
		if inf == nil {
			continue
		}
		wg.Go(func() {
			select {
			case <-inf.Synced():
			case <-ctx.Done():
				return
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			r.writeLocked(RecordLine{At: time.Now(), Baseline: &RecordBaseline{Engine: inf.Name(), Containers: inf.Cache().List()}})
		})
	}
	wg.Wait()
}

func (r *Recorder) write(line RecordLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeLocked(line)
}

func (r *Recorder) writeLocked(line RecordLine) {
	if r.err != nil {
		return
	}
	data, err := json.Marshal(line)
	if err == nil {
		data = append(data, '\n')
		_, err = r.w.Write(data)
	}
	if err == nil {
		err = r.w.Flush()
	}
	if err != nil {
		r.err = err
		return
	}
	r.n++
}
