package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

func TestUnixSocketEngine(t *testing.T) {
	engines := testenv.Engines(t)
	dir := os.Getenv("EVENTSD_ENGINES_DIR")
	sock := filepath.Join(dir, "a", "docker.sock")
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("engine a's socket: %v", err)
	}
	cfg := fmt.Sprintf(`
cluster:
  local: unix://%s
events:
  - name: starts
    type: start
    command: '%s'
`, sock, recordCmd)
	d := startDaemon(t, cfg, 1)
	name := unique("unix")
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "sleep", "600")
	r := d.waitRun("starts", map[string]string{"FROM_CONTAINER": name}, 30*time.Second)
	if r.Env["ENGINE_LOCAL"] != "unix://"+sock {
		t.Errorf("ENGINE_LOCAL = %q", r.Env["ENGINE_LOCAL"])
	}
}

// TestTLSEngineWithClientCertificates puts engine a behind a TLS endpoint that
// requires a client certificate signed by the test's CA (what dockerd --tlsverify
// does), and checks that the daemon connects with the right certificates and
// reports a clear error with the wrong ones.
func TestTLSEngineWithClientCertificates(t *testing.T) {
	engines := testenv.Engines(t)
	dir := t.TempDir()
	ca, caKey := newCA(t, "eventsd test CA")
	writeCert(t, dir, "ca", ca, nil)
	srvCert, srvKey := newLeaf(t, ca, caKey, "engine", true)
	cliCert, cliKey := newLeaf(t, ca, caKey, "client", false)
	writeCert(t, dir, "client", cliCert, cliKey)
	other, otherKey := newCA(t, "someone else")
	strangerCert, strangerKey := newLeaf(t, other, otherKey, "stranger", false)
	writeCert(t, dir, "stranger", strangerCert, strangerKey)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	target := strings.TrimPrefix(engines["a"], "tcp://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c) //nolint:errcheck
				io.Copy(c, up)    //nolint:errcheck
			}()
		}
	}()
	tlsConfig := func(who string) string {
		return fmt.Sprintf(`
cluster:
  secure:
    url: tcp://%s
    tls: {ca: %s/ca.pem, cert: %s/%s.pem, key: %s/%s-key.pem}
events:
  - name: starts
    type: start
    command: '%s'
`, ln.Addr(), dir, dir, who, dir, who, recordCmd)
	}

	d := startDaemon(t, tlsConfig("client"), 1)
	name := unique("tls")
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "sleep", "600")
	d.waitRun("starts", map[string]string{"FROM_CONTAINER": name, "FROM_ENGINE": "secure"}, 30*time.Second)

	// A certificate the engine does not trust: never in sync, a clear error, retried.
	path := filepath.Join(t.TempDir(), "events.yml")
	if err := os.WriteFile(path, []byte(tlsConfig("stranger")), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := runFor(t, 3*time.Second, binary, "run", "-c", path, "--log-format", "json", "--heartbeat-timeout", "1s", "--max-backoff", "500ms")
	if strings.Contains(logs, "Engine in sync") {
		t.Fatalf("connected with an untrusted client certificate:\n%s", logs)
	}
	if !strings.Contains(logs, "Engine unreachable") || !strings.Contains(logs, "tls") {
		t.Fatalf("no clear TLS error in the log:\n%s", logs)
	}
}

func newCA(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func newLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, server bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// writeCert writes NAME.pem (and NAME-key.pem when key is not nil) into dir.
func writeCert(t *testing.T, dir, name string, cert *x509.Certificate, key *ecdsa.PrivateKey) {
	t.Helper()
	write := func(file, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", cert.Raw)
	if key != nil {
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write(name+"-key.pem", "EC PRIVATE KEY", der)
	}
}
