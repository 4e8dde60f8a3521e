package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// markerName is the container the bench signals on every fake engine to see
// how far behind the daemon is: the load generator leaves it alone
// (fakeengine.NoLoadLabel), and the daemon's rule markerRule logs each of its
// kill events. An engine's events are handled in order, so when the daemon
// logs a marker it has handled everything the engine emitted before it.
const markerName = "bench-marker"

// markerRule is the rule that logs the markers ("Rule fired", rule marker).
const markerRule = `  - name: marker
    type: kill
    from_container: ` + markerName + `
    log: marker
`

// markers signals the marker container of every engine and measures, from
// the daemon's log, when the daemon handled each signal.
type markers struct {
	names []string // engine names, as in clusterYAML
	clis  []*client.Client
	log   *markerLog

	mu   sync.Mutex
	sent [][]time.Time // by engine: when each marker was sent
	seen []int         // by engine: markers logged so far
	lag  *histogram    // of the markers logged since the last reset
}

// newMarkers creates and starts the marker container on every engine.
func newMarkers(ctx context.Context, urls []string) (*markers, error) {
	m := &markers{clis: make([]*client.Client, len(urls)), sent: make([][]time.Time, len(urls)),
		seen: make([]int, len(urls)), lag: newHistogram()}
	for i := range urls {
		m.names = append(m.names, fmt.Sprintf("e%d", i))
	}
	err := m.each(func(i int) error {
		c, err := engineClient(ctx, urls[i])
		if err != nil {
			return err
		}
		m.clis[i] = c
		r, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: markerName,
			Config: &container.Config{Image: "bench/app:1", Cmd: []string{"sleep", "infinity"},
				Labels: map[string]string{fakeengine.NoLoadLabel: "1"}}})
		if err != nil {
			return fmt.Errorf("create %s on %s: %w", markerName, urls[i], err)
		}
		_, err = c.ContainerStart(ctx, r.ID, client.ContainerStartOptions{})
		return err
	})
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// each runs f for every engine, a few at a time.
func (m *markers) each(f func(i int) error) error {
	idx := make(chan int)
	errs := make(chan error, len(m.clis))
	var wg sync.WaitGroup
	for range min(8, len(m.clis)) {
		wg.Go(func() {
			for i := range idx {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range m.clis {
		idx <- i
	}
	close(idx)
	wg.Wait()
	close(errs)
	return <-errs
}

// Close closes the clients.
func (m *markers) Close() {
	for _, c := range m.clis {
		if c != nil {
			c.Close()
		}
	}
}

// watch starts reading the daemon's log for markers.
func (m *markers) watch(path string) {
	m.log = &markerLog{path: path, engine: map[string]int{}}
	for i, n := range m.names {
		m.log.engine[n] = i
	}
}

// round signals every engine's marker once.
func (m *markers) round(ctx context.Context) error {
	return m.each(func(i int) error {
		m.mu.Lock()
		m.sent[i] = append(m.sent[i], time.Now())
		m.mu.Unlock()
		_, err := m.clis[i].ContainerKill(ctx, markerName, client.ContainerKillOptions{Signal: "USR1"})
		return err
	})
}

// update reads the new marker lines of the log and records their lag.
func (m *markers) update() error {
	lines, err := m.log.read()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range lines {
		i := l.engine
		if m.seen[i] < len(m.sent[i]) {
			m.lag.add(l.ts.Sub(m.sent[i][m.seen[i]]))
		}
		m.seen[i]++
	}
	return nil
}

// pending returns how many markers sent were not logged yet.
func (m *markers) pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for i := range m.sent {
		n += len(m.sent[i]) - m.seen[i]
	}
	return n
}

// markerLine is a logged marker.
type markerLine struct {
	engine int
	ts     time.Time
}

// markerLog reads the "Rule fired" lines of rule marker as the log grows.
type markerLog struct {
	path   string
	off    int64
	rest   []byte
	engine map[string]int
}

func (l *markerLog) read() ([]markerLine, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(l.off, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	l.off += int64(len(data))
	data = append(l.rest, data...)
	last := bytes.LastIndexByte(data, '\n')
	if last < 0 {
		l.rest = data
		return nil, nil
	}
	l.rest = append([]byte(nil), data[last+1:]...)
	var out []markerLine
	sc := bufio.NewScanner(bytes.NewReader(data[:last+1]))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"msg":"Rule fired"`)) || !bytes.Contains(line, []byte(`"rule":"marker"`)) {
			continue
		}
		var v struct {
			TS     string `json:"ts"`
			Engine string `json:"engine"`
		}
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, fmt.Errorf("marker line %q: %w", line, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, v.TS)
		if err != nil {
			return nil, fmt.Errorf("marker line %q: %w", line, err)
		}
		i, ok := l.engine[v.Engine]
		if !ok {
			return nil, fmt.Errorf("marker line of unknown engine %q", strings.TrimSpace(v.Engine))
		}
		out = append(out, markerLine{engine: i, ts: ts})
	}
	return out, sc.Err()
}
