package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// stdinInPipe is the largest stdin document written into the pipe before the
// handler starts: a pipe holds at least one page, so the write never blocks.
// A larger one is copied by os/exec while the handler runs.
const stdinInPipe = 4096

// pipes are a handler's standard streams, made by Run rather than by os/exec:
// os/exec makes every pipe end pollable (two fcntl and an epoll_ctl each,
// and as many to undo) and copies each stream on a goroutine of its own,
// stdin included. Here only the ends the daemon reads are pollable, and a
// stdin document that fits a pipe is written into it before the handler
// starts. With a handler run per event, that is a fifth of the daemon's work
// per run.
type pipes struct {
	// The handler's ends, closed in the daemon once it started.
	stdin          io.Reader // *os.File, a *bytes.Reader for os/exec to copy, or nil
	stdout, stderr *os.File
	// The daemon's ends: pollable, read until EOF by drain.
	outR, errR *os.File
}

// openPipes makes the pipes of a run with this stdin document.
func openPipes(stdin []byte) (p *pipes, err error) {
	p = &pipes{}
	defer func() {
		if err != nil {
			p.closeChild()
			p.closeParent()
		}
	}()
	if p.outR, p.stdout, err = outputPipe(); err != nil {
		return p, err
	}
	if p.errR, p.stderr, err = outputPipe(); err != nil {
		return p, err
	}
	switch {
	case len(stdin) == 0:
		// os/exec gives /dev/null.
	case len(stdin) > stdinInPipe:
		// os/exec copies it from a goroutine and ignores EPIPE.
		p.stdin = bytes.NewReader(stdin)
	default:
		if p.stdin, err = filledPipe(stdin); err != nil {
			return p, err
		}
	}
	return p, nil
}

// outputPipe returns a pipe for an output stream: r, the daemon's end,
// non-blocking and pollable; w, the handler's, blocking as programs expect
// (O_NONBLOCK belongs to each end's open file, not to the pipe).
func outputPipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[0]), syscall.F_SETFL, syscall.O_NONBLOCK); e != 0 {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("pipe: %w", e)
	}
	// NewFile sees O_NONBLOCK and hands r to the runtime's poller.
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}

// filledPipe returns the read end of a pipe that holds doc and whose write
// end is closed: the handler reads doc, then EOF. doc must fit a pipe.
func filledPipe(doc []byte) (*os.File, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	for len(doc) > 0 {
		n, err := syscall.Write(fds[1], doc)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			syscall.Close(fds[0])
			syscall.Close(fds[1])
			return nil, fmt.Errorf("write stdin: %w", err)
		}
		doc = doc[n:]
	}
	syscall.Close(fds[1])
	return os.NewFile(uintptr(fds[0]), "|0"), nil
}

// closeChild closes the daemon's copies of the handler's ends.
func (p *pipes) closeChild() {
	for _, f := range []*os.File{p.stdout, p.stderr} {
		if f != nil {
			f.Close()
		}
	}
	if f, ok := p.stdin.(*os.File); ok {
		f.Close()
	}
}

// closeParent closes the daemon's ends; a drain reading one returns.
func (p *pipes) closeParent() {
	for _, f := range []*os.File{p.outR, p.errR} {
		if f != nil {
			f.Close()
		}
	}
}

// drain reads both output streams into out and errOut until EOF, each on a
// goroutine; the returned channel gets a value as each one ends.
func (p *pipes) drain(out, errOut io.ReaderFrom) <-chan struct{} {
	done := make(chan struct{}, 2)
	for _, s := range []struct {
		f  *os.File
		to io.ReaderFrom
	}{{p.outR, out}, {p.errR, errOut}} {
		go func() {
			_, _ = s.to.ReadFrom(s.f) // an error (the end closed by await) ends the capture
			done <- struct{}{}
		}()
	}
	return done
}

// await waits for both drains to end, for at most delay once the handler's
// shell is gone: a background process it started may keep the pipes open.
// Then it closes the daemon's ends, which ends the drains (the background
// process gets EPIPE or SIGPIPE when it writes again), and waits for them.
func (p *pipes) await(done <-chan struct{}, delay time.Duration) {
	t := time.NewTimer(delay)
	defer t.Stop()
	for n := 0; n < 2; n++ {
		select {
		case <-done:
		case <-t.C:
			p.closeParent()
			for ; n < 2; n++ {
				<-done
			}
			return
		}
	}
	p.closeParent()
}
