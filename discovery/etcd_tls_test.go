package discovery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/samalba/docker-eventsd/config"
)

// Ports of the TLS etcd this test starts (this package's range, beside
// hack/etcd.sh's 24310-24311).
const tlsEtcdClient, tlsEtcdPeer = "127.0.0.1:24312", "127.0.0.1:24313"

// writePair writes a certificate signed by ca (self-signed when ca is nil)
// and its key as dir/name.pem and dir/name-key.pem.
func writePair(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:         isCA, BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func TestEtcdSourceOverTLSWithAClientCertificate(t *testing.T) {
	service(t, "ETCD") // etcd is installed: hack/test.sh runs one
	dir := t.TempDir()
	ca, caKey := writePair(t, dir, "ca", nil, nil, true)
	writePair(t, dir, "server", ca, caKey, false)
	writePair(t, dir, "client", ca, caKey, false)
	p := func(name string) string { return filepath.Join(dir, name) }
	cmd := exec.Command("etcd", "--name", "tls", "--data-dir", p("data"),
		"--listen-client-urls", "https://"+tlsEtcdClient, "--advertise-client-urls", "https://"+tlsEtcdClient,
		"--listen-peer-urls", "http://"+tlsEtcdPeer, "--initial-advertise-peer-urls", "http://"+tlsEtcdPeer,
		"--initial-cluster", "tls=http://"+tlsEtcdPeer, "--log-level", "error",
		"--cert-file", p("server.pem"), "--key-file", p("server-key.pem"),
		"--client-cert-auth", "--trusted-ca-file", p("ca.pem"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	tlsCfg := &config.TLS{CA: p("ca.pem"), Cert: p("client.pem"), Key: p("client-key.pem"), Verify: true}
	tc, err := tlsConfig(tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	ep := "https://" + tlsEtcdClient
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, TLS: tc, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := cli.Put(ctx, "/tls/a", "tcp://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	s := run(t, &Etcd{Config: config.EtcdDiscovery{Endpoints: []string{ep}, Prefix: "/tls/", TLS: tlsCfg}, opts: fast})
	s.wait("a=tcp://127.0.0.1:1")

	// Without the client certificate the server refuses it: nothing pushed.
	noCert := run(t, &Etcd{Config: config.EtcdDiscovery{Endpoints: []string{ep}, Prefix: "/tls/", TLS: &config.TLS{CA: p("ca.pem"), Verify: true}}, opts: fast})
	noCert.quiet(2 * time.Second)
}
