package informer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
)

// ssh:// engines are reached as the Docker CLI reaches them
// (github.com/docker/cli/cli/connhelper): each connection is one process of
// the local ssh client, running `docker system dial-stdio` on the remote
// host, whose standard input and output are the connection. ssh's own
// configuration (~/.ssh/config, keys, the agent, known_hosts) applies.
const (
	// sshConnectTimeout is ssh's ConnectTimeout, as the CLI's.
	sshConnectTimeout = "30"
	// sshKillTimeout is how long a closed connection's ssh has to exit after
	// SIGTERM before it is killed.
	sshKillTimeout = 3 * time.Second
	// sshExitWait is how long a read or write that found the connection
	// closed waits for ssh's exit status, to report why.
	sshExitWait = 5 * time.Second
	// sshStderrTail is how much of ssh's standard error is kept, for errors.
	sshStderrTail = 4 << 10
	// sshHandshakeTimeout bounds the handshake of a new connection: ssh's
	// ConnectTimeout, then the login and the remote docker CLI.
	sshHandshakeTimeout = time.Minute
	// sshIdleConns and sshIdleTimeout keep the connections of pings, lists
	// and inspects between requests: each new one is an ssh login.
	sshIdleConns   = 4
	sshIdleTimeout = 5 * time.Minute
)

// newSSHClient returns the client of an ssh:// engine. Its events come
// through the Docker client's Events, on a connection of the same transport.
func newSSHClient(e config.Engine) (*client.Client, error) {
	sp, err := config.ParseSSH(e.URL)
	if err != nil {
		return nil, err
	}
	d := newSSHDialer(sp)
	tr := &http.Transport{
		DialContext:         d.dial,
		ReadBufferSize:      apiReadBuffer,
		WriteBufferSize:     apiWriteBuffer,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: sshIdleConns,
		IdleConnTimeout:     sshIdleTimeout,
		DisableCompression:  true,
	}
	// WithHost first: it would set the transport's proxy and dialer, which
	// WithHTTPClient then replaces. The host names the engine in the
	// client's errors; nothing is dialed to it.
	host := "http://" + sp.Host
	if strings.Contains(sp.Host, ":") {
		host = "http://[" + sp.Host + "]"
	}
	return client.New(append([]client.Opt{
		client.WithHost(host),
		client.WithHTTPClient(&http.Client{Transport: tr}),
		client.WithScheme("http"),
		client.WithUserAgent(userAgent),
	}, apiVersion(e)...)...)
}

// sshDialer starts one ssh process per connection.
type sshDialer struct {
	// dest names the engine in errors: [user@]host[:port].
	dest string
	// args are ssh's arguments.
	args []string
}

func newSSHDialer(sp config.SSHSpec) *sshDialer {
	// BatchMode: a daemon has no one to answer a password or host key
	// prompt; -T: no terminal, so no login shell.
	args := []string{"-o", "ConnectTimeout=" + sshConnectTimeout, "-o", "BatchMode=yes", "-T"}
	dest := sp.Host
	if sp.User != "" {
		args = append(args, "-l", sp.User)
		dest = sp.User + "@" + dest
	}
	if sp.Port != "" {
		args = append(args, "-p", sp.Port)
		dest = net.JoinHostPort(dest, sp.Port)
	}
	args = append(args, "--", sp.Host, "docker")
	if sp.Socket != "" {
		// The remote shell reads the command: quote the path.
		args = append(args, shellQuote("--host=unix://"+sp.Socket))
	}
	args = append(args, "system", "dial-stdio")
	return &sshDialer{dest: dest, args: args}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// dial starts ssh and waits until the engine answers through it (see
// handshake). ctx bounds the dial only: the process lives as long as the
// connection, which the transport may keep beyond the request that dialed
// it.
func (d *sshDialer) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", d.dest, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("ssh %s: %w", d.dest, err)
	}
	c := &sshConn{dest: d.dest, r: outR, w: inW, stderr: &tailBuffer{max: sshStderrTail}, exited: make(chan struct{})}
	c.cmd = exec.Command("ssh", d.args...)
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = inR, outW, c.stderr
	c.cmd.SysProcAttr = sshProcAttr()
	err = c.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		outR.Close()
		inW.Close()
		return nil, fmt.Errorf("ssh %s: %w", d.dest, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	if err := c.handshake(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// sshPing is the request of a connection's handshake.
const sshPing = "GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: " + userAgent + "\r\n\r\n"

// handshake pings the engine through the new connection, so that a dial
// returns once the connection reaches the engine (an ssh login takes a
// second or more), as a TCP dial does once connected. The HTTP transport
// lets a dial go on when the request that started it is given up (a ping
// that timed out): the connection it makes then serves the next request,
// where without the handshake each timed-out ping would kill the login it
// waited for.
func (c *sshConn) handshake(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	_ = c.r.SetReadDeadline(time.Now().Add(sshHandshakeTimeout))
	defer c.r.SetReadDeadline(time.Time{}) //nolint:errcheck
	if _, err := io.WriteString(c, sshPing); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("ssh %s: no answer to a ping: %w", c.dest, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("ssh %s: reading the answer to a ping: %w", c.dest, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ssh %s: ping answered %s", c.dest, resp.Status)
	}
	if n := br.Buffered(); n > 0 {
		c.pre, _ = br.Peek(n)
	}
	return nil
}

// sshConn is a connection through one ssh process: what is written goes to
// its standard input, what is read comes from its standard output.
type sshConn struct {
	dest   string
	cmd    *exec.Cmd
	r      *os.File // ssh's standard output
	w      *os.File // ssh's standard input
	stderr *tailBuffer
	// pre is what the handshake read past the answer to its ping.
	pre []byte
	// exited is closed once ssh exited; waitErr is then its status.
	exited  chan struct{}
	waitErr error
	closed  sync.Once
}

var _ net.Conn = (*sshConn)(nil)

func (c *sshConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	n, err := c.r.Read(p)
	if err != nil {
		err = c.why(err)
	}
	return n, err
}

func (c *sshConn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		err = c.why(err)
	}
	return n, err
}

// why turns the end of the connection (err) into ssh's exit status and the
// end of its standard error, when ssh failed: "Connection refused",
// "Permission denied (publickey)", "docker: command not found".
func (c *sshConn) why(err error) error {
	if errors.Is(err, os.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	select {
	case <-c.exited:
	case <-time.After(sshExitWait):
		return err
	}
	if c.waitErr == nil {
		return err
	}
	msg := strings.TrimSpace(c.stderr.String())
	if msg == "" {
		return fmt.Errorf("ssh %s: %w (ssh: %v)", c.dest, err, c.waitErr)
	}
	return fmt.Errorf("ssh %s: %w (ssh: %v: %s)", c.dest, err, c.waitErr, msg)
}

// Close ends the connection: ssh gets SIGTERM, then SIGKILL if it is still
// there after sshKillTimeout. It does not wait.
func (c *sshConn) Close() error {
	c.closed.Do(func() {
		c.w.Close()
		c.r.Close()
		pid := c.cmd.Process.Pid
		// ssh leads its own session (sshProcAttr): signal its group, which
		// holds a ProxyCommand too.
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		go func() {
			select {
			case <-c.exited:
			case <-time.After(sshKillTimeout):
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		}()
	})
	return nil
}

func (c *sshConn) LocalAddr() net.Addr  { return sshAddr("local") }
func (c *sshConn) RemoteAddr() net.Addr { return sshAddr(c.dest) }

func (c *sshConn) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}
func (c *sshConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *sshConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// sshAddr is the address of either end of an sshConn.
type sshAddr string

func (a sshAddr) Network() string { return "ssh" }
func (a sshAddr) String() string  { return string(a) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

var _ io.Writer = (*tailBuffer)(nil)
