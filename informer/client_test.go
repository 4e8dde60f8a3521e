package informer

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
)

// testPKI is a CA, an engine certificate for 127.0.0.1 and a client
// certificate, as PEM files in dir: ca.pem, engine.pem, engine-key.pem,
// client.pem, client-key.pem.
type testPKI struct {
	dir    string
	engine tls.Certificate
	pool   *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	p := &testPKI{dir: dir, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	for i, name := range []string{"engine", "client"} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if name == "engine" {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		write(name+".pem", "CERTIFICATE", der)
		write(name+"-key.pem", "EC PRIVATE KEY", kder)
		if name == "engine" {
			p.engine = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		}
	}
	return p
}

func (p *testPKI) path(name string) string { return filepath.Join(p.dir, name) }

// pingServer answers /_ping over TLS with the engine certificate, requiring
// a client certificate of the CA when clientAuth, and counts connections.
func pingServer(t *testing.T, p *testPKI, clientAuth bool) (addr string, conns *atomic.Int64) {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{p.engine}, MinVersion: tls.VersionTLS12}
	if clientAuth {
		cfg.ClientCAs, cfg.ClientAuth = p.pool, tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int64{}
	counted := &countingListener{Listener: ln, n: conns}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		_, _ = w.Write([]byte("OK"))
	}), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(counted, cfg)) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), conns
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func ping(cli Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cli.Ping(ctx, client.PingOptions{})
	return err
}

func TestHTTPSEngineWithoutTLSSettingsSpeaksTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	first := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 5)
		n, _ := bufio.NewReader(c).Read(b)
		first <- b[:n]
	}()
	cli, err := NewClient(config.Engine{Name: "e", URL: "https://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	go ping(cli) //nolint:errcheck // the listener never answers
	select {
	case b := <-first:
		// A TLS record of type handshake (22), version 3.x: a ClientHello.
		if len(b) < 3 || b[0] != 22 || b[1] != 3 {
			t.Fatalf("first bytes on the wire %q: not a TLS handshake", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
	}
}

// TestHTTPSEngineIsVerifiedAgainstTheSystemRoots pings a TLS engine whose CA
// is not given in the config: it fails while the CA is not among the
// system's roots, and succeeds once it is (SSL_CERT_FILE, in a process of
// its own since the roots are read once per process).
func TestHTTPSEngineIsVerifiedAgainstTheSystemRoots(t *testing.T) {
	if url := os.Getenv("EVENTSD_TEST_PING_URL"); url != "" {
		cli, err := NewClient(config.Engine{Name: "e", URL: url})
		if err == nil {
			err = ping(cli)
		}
		if err != nil {
			os.Stdout.WriteString("PING FAILED: " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Exit(0)
	}
	p := newTestPKI(t)
	addr, _ := pingServer(t, p, false)
	run := func(roots string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHTTPSEngineIsVerifiedAgainstTheSystemRoots$")
		cmd.Env = append(os.Environ(), "EVENTSD_TEST_PING_URL=https://"+addr, "SSL_CERT_FILE="+roots, "SSL_CERT_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(filepath.Join(t.TempDir(), "none.pem")); err == nil || !strings.Contains(out, "certificate signed by unknown authority") {
		t.Fatalf("with the CA not among the system roots: %v\n%s", err, out)
	}
	if out, err := run(p.path("ca.pem")); err != nil {
		t.Fatalf("with the CA among the system roots: %v\n%s", err, out)
	}
}

func TestMissingTLSFileFailsEachConnectionNamingItUntilItAppears(t *testing.T) {
	p := newTestPKI(t)
	addr, conns := pingServer(t, p, true)
	late := t.TempDir()
	e := config.Engine{Name: "late", URL: "tcp://" + addr, TLS: &config.TLS{
		CA: filepath.Join(late, "ca.pem"), Cert: filepath.Join(late, "client.pem"), Key: filepath.Join(late, "client-key.pem"), Verify: true}}
	cli, err := NewClient(e)
	if err != nil {
		t.Fatalf("NewClient with missing TLS files: %v, want a client", err)
	}
	for _, f := range []string{"ca.pem", "client.pem", "client-key.pem"} {
		err := ping(cli)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(late, f)) || !strings.Contains(err.Error(), "no such file or directory") {
			t.Fatalf("ping without %s: %v, want an error naming it", f, err)
		}
		if strings.Contains(err.Error(), "check if the path is correct") {
			t.Errorf("ping without %s: %v: worded as a socket path to check", f, err)
		}
		data, rerr := os.ReadFile(p.path(f))
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err := os.WriteFile(filepath.Join(late, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections made while a file was missing, want 0", n)
	}
	if err := ping(cli); err != nil {
		t.Fatalf("ping once the files are there: %v", err)
	}
	// The event stream's own connections use the same files.
	res := cli.docker().Events(context.Background(), client.EventsListOptions{})
	if err := <-res.Err; err != nil && strings.Contains(err.Error(), "tls") {
		t.Fatalf("events: %v", err)
	}
}

func TestEngineCertificateFromAnotherCAIsRefused(t *testing.T) {
	p, other := newTestPKI(t), newTestPKI(t)
	addr, _ := pingServer(t, p, true)
	for _, tt := range []struct {
		name    string
		verify  bool
		wantErr string
	}{
		{"verify", true, "certificate signed by unknown authority"},
		{"verify false", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := NewClient(config.Engine{Name: "e", URL: "tcp://" + addr, TLS: &config.TLS{
				CA: other.path("ca.pem"), Cert: p.path("client.pem"), Key: p.path("client-key.pem"), Verify: tt.verify}})
			if err != nil {
				t.Fatal(err)
			}
			err = ping(cli)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ping = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestRenewedClientCertificateIsTakenByTheNextConnection(t *testing.T) {
	p, other := newTestPKI(t), newTestPKI(t)
	addr, _ := pingServer(t, p, true)
	dir := t.TempDir()
	cp := func(from *testPKI) {
		for _, f := range []string{"client.pem", "client-key.pem"} {
			data, err := os.ReadFile(from.path(f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cp(other) // a certificate the engine does not trust
	cli, err := NewClient(config.Engine{Name: "e", URL: "tcp://" + addr, TLS: &config.TLS{
		CA: p.path("ca.pem"), Cert: filepath.Join(dir, "client.pem"), Key: filepath.Join(dir, "client-key.pem"), Verify: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(cli); err == nil {
		t.Fatal("ping with an untrusted client certificate succeeded")
	}
	cp(p)
	if err := ping(cli); err != nil {
		t.Fatalf("ping with the renewed certificate: %v", err)
	}
}

func TestSSHEngineReportsWhySSHFailed(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	cli, err := NewClient(config.Engine{Name: "remote", URL: "ssh://me@127.0.0.1:" + itoa(port)})
	if err != nil {
		t.Fatal(err)
	}
	err = ping(cli)
	if err == nil || !strings.Contains(err.Error(), "ssh me@127.0.0.1:"+itoa(port)) || !strings.Contains(err.Error(), "Connection refused") {
		t.Fatalf("ping = %v, want ssh's own reason", err)
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func TestSSHDialerRunsDialStdioAsTheDockerCLI(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"ssh://h", "-o ConnectTimeout=30 -o BatchMode=yes -T -- h docker system dial-stdio"},
		{"ssh://me@h:2222", "-o ConnectTimeout=30 -o BatchMode=yes -T -l me -p 2222 -- h docker system dial-stdio"},
		{"ssh://me@h/run/my docker.sock", "-o ConnectTimeout=30 -o BatchMode=yes -T -l me -- h docker '--host=unix:///run/my docker.sock' system dial-stdio"},
	}
	for _, tt := range tests {
		sp, err := config.ParseSSH(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(newSSHDialer(sp).args, " "); got != tt.want {
			t.Errorf("%s: ssh %s\nwant ssh %s", tt.url, got, tt.want)
		}
	}
}

func TestAPIVersionOfTheEngineIsSpokenWithoutNegotiation(t *testing.T) {
	var asked atomic.Value
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.URL.Path)
		w.Header().Set("Api-Version", "1.45")
		_, _ = w.Write([]byte("[]"))
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	cli, err := NewClient(config.Engine{Name: "e", URL: "tcp://" + ln.Addr().String(), APIVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerList(ctx, client.ContainerListOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, _ := asked.Load().(string); p != "/v1.41/containers/json" {
		t.Errorf("list asked %q, want /v1.41/containers/json", p)
	}
	if _, err := NewClient(config.Engine{Name: "e", URL: "tcp://h:1", APIVersion: "41"}); err == nil {
		t.Error("NewClient took API version 41")
	}
}
