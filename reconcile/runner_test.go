package reconcile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script     string
		wantCode   int
		wantSignal string // "" and wantCode 0: no error expected
	}{
		{script: "exit 0", wantCode: 0},
		{script: "true", wantCode: 0},
		{script: "false", wantCode: 1},
		{script: "exit 3", wantCode: 3},
		{script: "exit 255", wantCode: 255},
		{script: "kill -KILL $$", wantCode: -1, wantSignal: "killed"},
		{script: "kill -TERM $$", wantCode: -1, wantSignal: "terminated"},
	}
	r := NewRunner(Options{})
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			res, err := r.Run(context.Background(), Command{Script: tt.script, Env: pathEnv()})
			if res.ExitCode != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", res.ExitCode, tt.wantCode)
			}
			if res.PID <= 0 || res.Duration <= 0 || res.TimedOut || res.Killed {
				t.Errorf("Result = %+v: want a PID, a duration, not timed out or killed", res)
			}
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("Run error = %v, want nil", err)
				}
				return
			}
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("Run error = %v (%T), want *ExitError", err, err)
			}
			if ee.Code != tt.wantCode || ee.Signal != tt.wantSignal {
				t.Errorf("ExitError = %+v, want Code %d Signal %q", ee, tt.wantCode, tt.wantSignal)
			}
		})
	}
}

// TestRunEnvLiteral checks that values reach the handler verbatim and are
// never interpreted as shell code.
func TestRunEnvLiteral(t *testing.T) {
	t.Parallel()
	marker := tempPath(t, "marker")
	tests := []struct {
		name, value string
	}{
		{"spaces", "  two  words  "},
		{"newlines", "line1\nline2\n"},
		{"command substitution", "$(touch " + marker + ")"},
		{"backticks", "`touch " + marker + "`"},
		{"semicolon", "x; touch " + marker},
		{"quotes", `'single' "double" \back`},
		{"variable", "$HOME ${PATH}"},
		{"glob", "*"},
		{"empty", ""},
		{"equals", "a=b=c"},
	}
	r := NewRunner(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := r.Run(context.Background(), Command{
				Script: `printf '%s' "$VALUE"`,
				Env:    pathEnv("VALUE=" + tt.value),
				Dir:    t.TempDir(),
			})
			if err != nil {
				t.Fatalf("Run: %v (stderr %q)", err, res.Stderr)
			}
			if got := string(res.Stdout); got != tt.value {
				t.Errorf("handler saw %q, want %q", got, tt.value)
			}
		})
	}
	t.Cleanup(func() {
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("marker %s was created: an environment value was run as code", marker)
		}
	})
}

// TestRunEnvExact checks that the handler gets exactly Command.Env and nothing
// of the daemon's environment.
func TestRunEnvExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
	}{
		{name: "nil", env: nil},
		{name: "empty", env: []string{}},
		{name: "some", env: pathEnv("A=1", "B=two words", "C=line1\nline2", "D=")},
	}
	r := NewRunner(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Without PATH, dash searches its built-in default path.
			res, err := r.Run(context.Background(), Command{Script: "env -0", Env: tt.env})
			if err != nil {
				t.Fatalf("Run: %v (stderr %q)", err, res.Stderr)
			}
			var got []string
			for kv := range strings.SplitSeq(strings.TrimSuffix(string(res.Stdout), "\x00"), "\x00") {
				if kv != "" && !strings.HasPrefix(kv, "PWD=") { // dash exports PWD itself
					got = append(got, kv)
				}
			}
			want := slices.Clone(tt.env)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("handler environment = %q, want %q", got, want)
			}
		})
	}
}

func TestRunStdin(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), 1<<20) // far more than a pipe holds
	tests := []struct {
		name, script string
		stdin        []byte
		wantStdout   string
	}{
		{name: "json read by cat", script: "cat", stdin: []byte(`{"Type":"container","Action":"start"}` + "\n"),
			wantStdout: `{"Type":"container","Action":"start"}` + "\n"},
		{name: "not read", script: "exit 0", stdin: big},
		{name: "not read, slow exit", script: "sleep 0.2", stdin: big},
		{name: "partly read", script: "head -c 5", stdin: big, wantStdout: "xxxxx"},
		{name: "none is eof", script: "cat; echo done", wantStdout: "done\n"},
		// Written into the pipe before the start, or copied while it runs.
		{name: "fills the pipe exactly", script: "wc -c", stdin: bytes.Repeat([]byte("y"), stdinInPipe), wantStdout: "4096\n"},
		{name: "one byte more than the pipe", script: "wc -c", stdin: bytes.Repeat([]byte("y"), stdinInPipe+1), wantStdout: "4097\n"},
	}
	r := NewRunner(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := r.Run(ctx, Command{Script: tt.script, Env: pathEnv(), Stdin: tt.stdin})
			if err != nil {
				t.Fatalf("Run: %v (stderr %q)", err, res.Stderr)
			}
			if got := string(res.Stdout); got != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", got, tt.wantStdout)
			}
		})
	}
}

// TestRunLeavesNoFileOpen checks that the pipes of every kind of run, started
// or not, are all closed in the daemon afterwards.
func TestRunLeavesNoFileOpen(t *testing.T) {
	openFiles := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	r := NewRunner(Options{WaitDelay: 100 * time.Millisecond})
	missing := NewRunner(Options{Shell: "/no/such/shell"})
	ctx := context.Background()
	runs := []func(){
		func() { _, _ = r.Run(ctx, Command{Script: "true", Env: pathEnv()}) },
		func() { _, _ = r.Run(ctx, Command{Script: "cat; exit 3", Env: pathEnv(), Stdin: []byte("in\n")}) },
		func() {
			_, _ = r.Run(ctx, Command{Script: "echo out; echo err >&2", Env: pathEnv(), Stdin: bytes.Repeat([]byte("z"), 1<<17)})
		},
		func() {
			_, _ = r.Run(ctx, Command{Script: "sleep 10", Env: pathEnv(), Timeout: 50 * time.Millisecond, Grace: 50 * time.Millisecond})
		},
		func() { _, _ = missing.Run(ctx, Command{Script: "true", Stdin: []byte("in")}) },
	}
	before := openFiles()
	for range 5 {
		for _, run := range runs {
			run()
		}
	}
	if after := openFiles(); after > before {
		t.Errorf("%d files open after the runs, %d before", after, before)
	}
}

func TestRunDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res, err := NewRunner(Options{}).Run(context.Background(), Command{Script: "pwd -P", Env: pathEnv(), Dir: dir})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(res.Stdout)); got != want {
		t.Errorf("working directory = %q, want %q", got, want)
	}
}

func TestRunStartFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		cmd  Command
	}{
		{name: "no shell", opts: Options{Shell: "/nonexistent/sh"}, cmd: Command{Script: "true"}},
		{name: "no dir", cmd: Command{Script: "true", Dir: "/nonexistent/dir"}},
		{name: "nul in env", cmd: Command{Script: "true", Env: []string{"A=x\x00y"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRunner(tt.opts)
			res, err := r.Run(context.Background(), tt.cmd)
			var ee *ExitError
			if err == nil || errors.As(err, &ee) || errors.Is(err, ErrTimeout) {
				t.Fatalf("Run error = %v, want a start failure", err)
			}
			if res.ExitCode != -1 || res.PID != 0 {
				t.Errorf("Result = %+v, want ExitCode -1 and no PID", res)
			}
			if n := r.Running(); n != 0 {
				t.Errorf("Running() = %d after a failed start, want 0", n)
			}
		})
	}
}

func TestRunOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                   string
		script                 string
		wantStdout, wantStderr string // exact unless prefixed by zeros up to the limit
		truncated              bool
	}{
		{name: "separate streams", script: "echo out; echo err >&2", wantStdout: "out\n", wantStderr: "err\n"},
		{name: "exactly the limit", script: "head -c 1020 /dev/zero; printf TAIL",
			wantStdout: strings.Repeat("\x00", 1020) + "TAIL"},
		{name: "stdout keeps the tail", script: "head -c 100000 /dev/zero; printf TAIL; echo err >&2",
			wantStdout: strings.Repeat("\x00", 1020) + "TAIL", wantStderr: "err\n", truncated: true},
		{name: "stderr keeps the tail", script: "echo out; head -c 100000 /dev/zero >&2; printf TAIL >&2",
			wantStdout: "out\n", wantStderr: strings.Repeat("\x00", 1020) + "TAIL", truncated: true},
	}
	r := NewRunner(Options{MaxOutput: 1024})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := r.Run(context.Background(), Command{Script: tt.script, Env: pathEnv()})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if string(res.Stdout) != tt.wantStdout {
				t.Errorf("stdout = %q (%d bytes), want %d bytes ending %q", shorten(res.Stdout), len(res.Stdout), len(tt.wantStdout), shorten([]byte(tt.wantStdout)))
			}
			if string(res.Stderr) != tt.wantStderr {
				t.Errorf("stderr = %q (%d bytes), want %d bytes ending %q", shorten(res.Stderr), len(res.Stderr), len(tt.wantStderr), shorten([]byte(tt.wantStderr)))
			}
			if res.Truncated != tt.truncated {
				t.Errorf("Truncated = %v, want %v", res.Truncated, tt.truncated)
			}
		})
	}
}

func shorten(b []byte) []byte { return b[max(0, len(b)-16):] }

// TestRunOutputFlood checks that 50 MB of output neither blocks the handler
// nor costs memory beyond the bound. It is not parallel so that the heap
// statistics are its own.
func TestRunOutputFlood(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := NewRunner(Options{}).Run(context.Background(), Command{
		Script:  "yes | head -c 50000000",
		Env:     pathEnv(),
		Timeout: 15 * time.Second,
	})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Stdout) != DefaultMaxOutput || !res.Truncated {
		t.Errorf("got %d bytes, Truncated %v; want %d, true", len(res.Stdout), res.Truncated, DefaultMaxOutput)
	}
	if !bytes.HasSuffix(res.Stdout, []byte("y\ny\n")) {
		t.Errorf("stdout ends %q, want the tail of yes", shorten(res.Stdout))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("capturing 50 MB allocated %d bytes, want it bounded (< 8 MiB)", alloc)
	}
}

func TestRunConcurrent(t *testing.T) {
	t.Parallel()
	const n = 20
	r := NewRunner(Options{})
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			want := strconv.Itoa(i)
			res, err := r.Run(context.Background(), Command{
				Script: `sleep 0.1; printf '%s:' "$N"; cat`,
				Env:    pathEnv("N=" + want),
				Stdin:  []byte(want),
			})
			switch {
			case err != nil:
				errs[i] = err
			case string(res.Stdout) != want+":"+want:
				errs[i] = errors.New("stdout " + strconv.Quote(string(res.Stdout)) + ", want " + want + ":" + want)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	if got := r.Running(); got != 0 {
		t.Errorf("Running() = %d after all runs returned, want 0", got)
	}
}
