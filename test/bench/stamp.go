package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A handler under measurement runs `exec STAMP`: the stamp program appends
// one line to $STAMP_FILE with the event's time and its own clock, taken
// first thing. It is a small C program when a C compiler is there (about
// 0.3 ms from exec to clock), else the bench's own binary re-executed with
// BENCH_STAMP=1 (a Go start: about 1 ms more). The daemon's handlers and the
// baselines use the same stamp, so its cost is in both.

// stampC is the stamp in C.
const stampC = `#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static const char *env(const char *k) { const char *v = getenv(k); return v && *v ? v : "-"; }
int main(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char line[512];
	int n = snprintf(line, sizeof line, "%s %s %lld%09ld %s %s %s\n", env("STAMP_TAG"), env("EVENT_TIME"),
		(long long)ts.tv_sec, ts.tv_nsec, env("EVENT_ACTION"), env("EVENT_SYNTHETIC"), env("FROM_CONTAINER"));
	int fd = open(env("STAMP_FILE"), O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0) return 1;
	if (write(fd, line, n) != n) return 1;
	return close(fd);
}
`

// stampEnv makes the bench binary act as the stamp.
const stampEnv = "BENCH_STAMP"

// RunStampIfAsked is called first thing in main (and TestMain): when
// BENCH_STAMP=1 the process is a stamp.
func RunStampIfAsked() {
	if os.Getenv(stampEnv) != "1" {
		return
	}
	now := time.Now().UnixNano()
	env := func(k string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return "-"
	}
	line := fmt.Sprintf("%s %s %d %s %s %s\n", env("STAMP_TAG"), env("EVENT_TIME"), now,
		env("EVENT_ACTION"), env("EVENT_SYNTHETIC"), env("FROM_CONTAINER"))
	f, err := os.OpenFile(env("STAMP_FILE"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		os.Exit(1)
	}
	_, err = f.WriteString(line)
	if err != nil || f.Close() != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// stampTool returns the command that stamps (a shell word list) and a
// description. It compiles the C stamp into dir when cc works.
func stampTool(dir string) (cmd string, env []string, desc string) {
	src := filepath.Join(dir, "stamp.c")
	bin := filepath.Join(dir, "stamp")
	if err := os.WriteFile(src, []byte(stampC), 0o644); err == nil {
		if out, err := exec.Command("cc", "-O2", "-o", bin, src).CombinedOutput(); err == nil {
			return bin, nil, "C stamp (cc)"
		} else if len(out) > 0 {
			logf("cc failed, using the Go stamp: %s", strings.TrimSpace(string(out)))
		}
	}
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return self, []string{stampEnv + "=1"}, "Go stamp (bench binary re-executed)"
}

// stamp is one line written by the stamp.
type stamp struct {
	Tag       string
	EventTime time.Time
	At        time.Time
	Action    string
	Synthetic bool
	Container string
}

// Latency is the time from the event's time to the handler's clock.
func (s stamp) Latency() time.Duration { return s.At.Sub(s.EventTime) }

// readStamps reads a stamp file (a missing file has no stamps).
func readStamps(path string) ([]stamp, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []stamp
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 6 {
			continue
		}
		st := stamp{Tag: fl[0], Action: fl[3], Synthetic: fl[4] == "1", Container: fl[5]}
		if fl[1] != "-" {
			t, err := time.Parse(time.RFC3339Nano, fl[1])
			if err != nil {
				return nil, fmt.Errorf("stamp %q: %w", sc.Text(), err)
			}
			st.EventTime = t
		}
		n, err := strconv.ParseInt(fl[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("stamp %q: %w", sc.Text(), err)
		}
		st.At = time.Unix(0, n)
		out = append(out, st)
	}
	return out, sc.Err()
}

// waitStamps waits until path holds at least n stamps accepted by keep.
func waitStamps(path string, n int, keep func(stamp) bool, timeout time.Duration) ([]stamp, error) {
	deadline := time.Now().Add(timeout)
	for {
		all, err := readStamps(path)
		if err != nil {
			return nil, err
		}
		var got []stamp
		for _, s := range all {
			if keep == nil || keep(s) {
				got = append(got, s)
			}
		}
		if len(got) >= n {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("%s: %d stamps after %v, want %d", path, len(got), timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
