package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// fakes are fake engines: in the bench's process, or in a fakeengine
// process of their own (so that the daemon's process and profile hold only
// the daemon).
type fakes interface {
	URLs() []string
	Stats() (fakeengine.Stats, error)
	StartLoad(o fakeengine.LoadOptions) error
	StopLoad() error
	Fault(i int, mode string) error
	// Pid is the process serving the fakes.
	Pid() int
	Close() error
}

// startFakes starts fake engines: in process when bin is "", else by running
// the fakeengine binary bin.
func startFakes(bin string, o fakeengine.Options) (fakes, error) {
	if bin == "" {
		s, err := fakeengine.NewServer(o)
		if err != nil {
			return nil, err
		}
		return localFakes{s}, nil
	}
	args := []string{"-engines", strconv.Itoa(o.Engines), "-containers", strconv.Itoa(o.Containers)}
	if o.BasePort > 0 {
		args = append(args, "-base-port", strconv.Itoa(o.BasePort))
	}
	if o.SocketDir != "" {
		args = append(args, "-socket-dir", o.SocketDir)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &remoteFakes{cmd: cmd}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "# control: "); ok {
			r.control = v
			continue
		}
		if line == "cluster:" {
			continue
		}
		_, u, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if ok {
			r.urls = append(r.urls, u)
		}
		if len(r.urls) == o.Engines {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if r.control == "" || len(r.urls) != o.Engines {
		_ = r.Close()
		return nil, fmt.Errorf("fakeengine: got %d engine URLs, want %d", len(r.urls), o.Engines)
	}
	return r, nil
}

type localFakes struct{ s *fakeengine.Server }

func (l localFakes) URLs() []string                              { return l.s.URLs() }
func (l localFakes) Stats() (fakeengine.Stats, error)            { return l.s.Stats(), nil }
func (l localFakes) StartLoad(o fakeengine.LoadOptions) error    { l.s.StartLoad(o); return nil }
func (l localFakes) StopLoad() error                             { l.s.StopLoad(); return nil }
func (l localFakes) Fault(i int, mode string) error              { return l.s.Fault(i, mode) }
func (l localFakes) Pid() int                                    { return os.Getpid() }
func (l localFakes) Close() error                                { l.s.Close(); return nil }
func (l localFakes) EngineStats(i int) (fakeengine.Stats, error) { return l.s.EngineStats(i), nil }

type remoteFakes struct {
	cmd     *exec.Cmd
	control string
	urls    []string
}

func (r *remoteFakes) URLs() []string { return r.urls }
func (r *remoteFakes) Pid() int       { return r.cmd.Process.Pid }

func (r *remoteFakes) call(method, path string, q url.Values) (*http.Response, error) {
	req, err := http.NewRequest(method, r.control+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

func (r *remoteFakes) Stats() (fakeengine.Stats, error) {
	var st fakeengine.Stats
	resp, err := r.call(http.MethodGet, "/fake/stats", nil)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// EngineStats returns engine i's counters.
func (r *remoteFakes) EngineStats(i int) (fakeengine.Stats, error) {
	var st fakeengine.Stats
	resp, err := r.call(http.MethodGet, "/fake/stats", url.Values{"engine": {strconv.Itoa(i)}})
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (r *remoteFakes) StartLoad(o fakeengine.LoadOptions) error {
	q := url.Values{"rate": {strconv.FormatFloat(o.Rate, 'f', -1, 64)}, "mix": {o.Mix.String()}}
	if o.Duration > 0 {
		q.Set("duration", o.Duration.String())
	}
	if o.Tick > 0 {
		q.Set("tick", o.Tick.String())
	}
	resp, err := r.call(http.MethodPost, "/fake/load", q)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func (r *remoteFakes) StopLoad() error {
	resp, err := r.call(http.MethodDelete, "/fake/load", nil)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func (r *remoteFakes) Fault(i int, mode string) error {
	resp, err := r.call(http.MethodPost, "/fake/fault", url.Values{"engine": {strconv.Itoa(i)}, "mode": {mode}})
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func (r *remoteFakes) Close() error {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	return nil
}

// clusterYAML renders engines e0..eN-1 at urls as a cluster: block.
func clusterYAML(urls []string) string {
	var b strings.Builder
	b.WriteString("cluster:\n")
	for i, u := range urls {
		fmt.Fprintf(&b, "  e%d: %s\n", i, u)
	}
	return b.String()
}
