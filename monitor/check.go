package monitor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/reconcile"
)

// Bounds of what a check keeps.
const (
	// MaxOutput is the number of bytes of an exec plugin's stdout (or of a
	// failed http check's body) carried into the event.
	MaxOutput = 4 << 10
	// maxBody is how much of an http body is read for body_contains.
	maxBody = 64 << 10
)

// outcome is the result of one check.
type outcome struct {
	ok bool
	// timeout is true when the check failed by its timeout (tcp_timeout).
	timeout bool
	// err says why it failed.
	err string
	// addr is where the check went.
	addr string
	// output is an exec plugin's stdout, bounded.
	output string
}

// failed returns a failed outcome for err.
func failed(addr string, err error) outcome {
	return outcome{addr: addr, err: err.Error(), timeout: isTimeout(err)}
}

// isTimeout reports whether err is a timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// checker makes one check of a target; ctx carries the check's timeout.
type checker interface {
	check(ctx context.Context, t *target) outcome
}

// tcpChecker connects and closes (connect.go). The address of a target is
// computed once.
type tcpChecker struct {
	port int
}

func (c *tcpChecker) check(ctx context.Context, t *target) outcome {
	if t.addr == "" {
		ep, err := t.endpoint(ctx)
		if err != nil {
			return failed("", err)
		}
		t.addr = ep.dial(c.port)
		if t.fixedPort != 0 {
			t.addr = net.JoinHostPort(ep.host, strconv.Itoa(t.fixedPort))
		}
	}
	deadline, _ := ctx.Deadline()
	if err := connect(t.addr, deadline); err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return outcome{addr: t.addr, err: "connection refused"}
		}
		return failed(t.addr, err)
	}
	return outcome{ok: true, addr: t.addr}
}

// httpChecker makes one request per check, without keep-alive: each check
// opens its own connection, so a server that stopped accepting fails.
type httpChecker struct {
	cfg    *config.HTTPCheck
	url    *template.Template
	client *http.Client
}

// newHTTPChecker builds the checker of c; the TLS files are read now.
func newHTTPChecker(c *config.HTTPCheck) (*httpChecker, error) {
	t, err := template.New("url").Option("missingkey=error").Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("url template: %w", err)
	}
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil, ForceAttemptHTTP2: false}
	if c.TLS != nil {
		tc := &tls.Config{InsecureSkipVerify: !c.TLS.Verify} //nolint:gosec // the config asks for it (verify: false)
		if c.TLS.CA != "" {
			pem, err := os.ReadFile(c.TLS.CA)
			if err != nil {
				return nil, fmt.Errorf("tls ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls ca %s: no certificate in it", c.TLS.CA)
			}
			tc.RootCAs = pool
		}
		if c.TLS.Cert != "" {
			cert, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
			if err != nil {
				return nil, fmt.Errorf("tls cert: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tc
	}
	return &httpChecker{cfg: c, url: t, client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

func (c *httpChecker) check(ctx context.Context, t *target) outcome {
	data := config.URLData{Name: t.name, Engine: t.engine}
	if t.containerID == "" {
		// A fixed target is its address as written: host or host:port.
		data.Address = t.name
	} else if strings.Contains(c.cfg.URL, "{{") {
		ep, err := t.endpoint(ctx)
		if err != nil {
			return failed("", err)
		}
		data.Address, data.PortMap = ep.host, ep.port
	}
	var b strings.Builder
	if err := c.url.Execute(&b, data); err != nil {
		return outcome{err: "url: " + err.Error()}
	}
	u := b.String()
	req, err := http.NewRequestWithContext(ctx, c.cfg.Method, u, nil)
	if err != nil {
		return outcome{addr: u, err: err.Error()}
	}
	for k, v := range c.cfg.Headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "docker-eventsd-monitor")
	resp, err := c.client.Do(req)
	if err != nil {
		return failed(u, unwrapURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return failed(u, fmt.Errorf("read body: %w", err))
	}
	if !c.statusOK(resp.StatusCode) {
		return outcome{addr: u, err: "status " + strconv.Itoa(resp.StatusCode), output: bounded(body)}
	}
	if c.cfg.BodyContains != "" && !bytes.Contains(body, []byte(c.cfg.BodyContains)) {
		return outcome{addr: u, err: fmt.Sprintf("status %d, body without %q", resp.StatusCode, c.cfg.BodyContains), output: bounded(body)}
	}
	return outcome{ok: true, addr: u}
}

// statusOK reports whether status passes: one of expect_status, or 200-399.
func (c *httpChecker) statusOK(status int) bool {
	if len(c.cfg.ExpectStatus) == 0 {
		return status >= 200 && status < 400
	}
	return slices.Contains(c.cfg.ExpectStatus, status)
}

// unwrapURL returns the cause inside an *url.Error, which repeats the URL.
func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// bounded returns b as a string of at most MaxOutput bytes.
func bounded(b []byte) string {
	if len(b) > MaxOutput {
		b = b[:MaxOutput]
	}
	return strings.TrimSpace(string(b))
}

// execChecker runs a plugin: exit 0 is healthy. It runs with /bin/sh -c in
// its own process group, in the config file's directory, the daemon's
// environment plus the target's (see targetEnv); the timeout kills the
// whole group (reconcile.Runner).
type execChecker struct {
	cfg     *config.ExecCheck
	dir     string
	environ []string
	runner  *reconcile.Runner
}

func (c *execChecker) check(ctx context.Context, t *target) outcome {
	addr := ""
	if t.key.id != "" { // an exec monitor without targets has no address
		if ep, err := t.endpoint(ctx); err == nil {
			addr = ep.host
			if t.fixedPort != 0 {
				addr = net.JoinHostPort(ep.host, strconv.Itoa(t.fixedPort))
			}
		}
	}
	env := append(slices.Clip(c.environ), t.env(addr)...)
	res, err := c.runner.Run(ctx, reconcile.Command{Script: c.cfg.Command, Env: env, Dir: c.dir, Grace: execGrace})
	out := bounded(res.Stdout)
	if err == nil {
		return outcome{ok: true, addr: addr, output: out}
	}
	o := outcome{addr: addr, output: out, err: err.Error(), timeout: res.TimedOut || errors.Is(err, context.DeadlineExceeded)}
	var exit *reconcile.ExitError
	switch {
	case o.timeout:
		o.err = "timed out"
	case errors.As(err, &exit) && res.ExitCode >= 0:
		o.err = "exit status " + strconv.Itoa(res.ExitCode)
	}
	if msg := lastLine(res.Stderr); msg != "" {
		o.err += ": " + msg
	}
	return o
}

// lastLine returns the last non-empty line of b, bounded.
func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}
