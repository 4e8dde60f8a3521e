package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// counter is an atomic count.
type counter struct{ n atomic.Int64 }

func (c *counter) add(n int64) { c.n.Add(n) }
func (c *counter) load() int64 { return c.n.Load() }

// histogram records durations in log-linear buckets (16 per power of two:
// within 4.5% of the truth), lock-free.
type histogram struct {
	buckets [64 * 16]atomic.Int64
	n       atomic.Int64
	max     atomic.Int64
}

func newHistogram() *histogram { return &histogram{} }

func bucketOf(ns int64) int {
	if ns < 16 {
		return int(max(ns, 0))
	}
	exp := 63 - bits.LeadingZeros64(uint64(ns)) // >= 4
	sub := int((ns >> (exp - 4)) & 15)
	return (exp-3)*16 + sub
}

func bucketValue(b int) int64 {
	if b < 16 {
		return int64(b)
	}
	exp := b/16 + 3
	sub := int64(b % 16)
	lo := (int64(16) + sub) << (exp - 4)
	return lo + (int64(1)<<(exp-4))/2
}

func (h *histogram) add(d time.Duration) {
	ns := int64(d)
	h.buckets[bucketOf(ns)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			break
		}
	}
}

// quantile returns the q-quantile (0..1).
func (h *histogram) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for b := range h.buckets {
		seen += h.buckets[b].Load()
		if seen >= rank {
			return time.Duration(min(bucketValue(b), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

func (h *histogram) count() int64 { return h.n.Load() }

// reset forgets everything recorded.
func (h *histogram) reset() {
	for b := range h.buckets {
		h.buckets[b].Store(0)
	}
	h.n.Store(0)
	h.max.Store(0)
}

// percentile returns the q-quantile (0..1) of sorted samples (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortDurations(ds []time.Duration) []time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

// tail counts the lines of a growing file that contain a string, reading
// only what was appended since the last call.
type tail struct {
	path string
	pat  []byte
	off  int64
	rest []byte
	n    int64
	buf  []byte
}

func newTail(path, pat string) *tail {
	return &tail{path: path, pat: []byte(pat), buf: make([]byte, 1<<20)}
}

// count reads what was appended and returns the total count.
func (t *tail) count() int64 {
	f, err := os.Open(t.path)
	if err != nil {
		return t.n
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return t.n
	}
	for {
		k, err := f.Read(t.buf)
		if k > 0 {
			t.off += int64(k)
			chunk := append(t.rest, t.buf[:k]...)
			last := bytes.LastIndexByte(chunk, '\n')
			if last < 0 {
				t.rest = chunk
			} else {
				t.n += int64(bytes.Count(chunk[:last+1], t.pat))
				t.rest = append(t.rest[:0:0], chunk[last+1:]...)
			}
		}
		if err != nil || k == 0 {
			return t.n
		}
	}
}

// grepLines returns the lines of a file that contain s.
func grepLines(path, s string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			out = append(out, sc.Text())
		}
	}
	return out, sc.Err()
}

// procStatus reads VmRSS and VmHWM (bytes) of a process.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm, nil
}

// cpuTime returns the user+system CPU time of a process.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	sy, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+sy) * time.Second / 100 // USER_HZ
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// machineBusy returns the CPU time of the whole machine spent busy and in
// total (all CPUs), from /proc/stat, in clock ticks.
func machineBusy() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal
			total += n
			if i != 3 && i != 4 {
				busy += n
			}
		}
	}
	return busy, total
}

// busySince returns the fraction of the machine's CPU busy since (b0, t0).
func busySince(b0, t0 int64) float64 {
	b1, t1 := machineBusy()
	if t1 == t0 {
		return 0
	}
	return float64(b1-b0) / float64(t1-t0)
}
