package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSSHEngineURLsAreTakenAsTheDockerCLITakesThem(t *testing.T) {
	tests := []struct {
		url  string
		want SSHSpec
	}{
		{"ssh://h", SSHSpec{Host: "h"}},
		{"ssh://me@h", SSHSpec{User: "me", Host: "h"}},
		{"ssh://me@h:2222", SSHSpec{User: "me", Host: "h", Port: "2222"}},
		{"ssh://me@[::1]:2222", SSHSpec{User: "me", Host: "::1", Port: "2222"}},
		{"ssh://me@h/", SSHSpec{User: "me", Host: "h"}},
		{"ssh://me@h/run/user/1000/docker.sock", SSHSpec{User: "me", Host: "h", Socket: "/run/user/1000/docker.sock"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseSSH(tt.url)
			if err != nil || got != tt.want {
				t.Fatalf("ParseSSH = %+v, %v; want %+v", got, err, tt.want)
			}
			cfg := mustParse(t, "cluster:\n  r: "+tt.url+"\n")
			if cfg.Engines[0].URL != tt.url {
				t.Errorf("URL = %q", cfg.Engines[0].URL)
			}
		})
	}
}

func TestBadSSHEngineURLsAreErrors(t *testing.T) {
	tests := []oneError{
		{"password", "cluster:\n  r: ssh://me:secret@h\n", 2, 6, "cluster.r", "holds a password"},
		{"no host", "cluster:\n  r: ssh://me@\n", 2, 6, "cluster.r", "has no host"},
		{"bad port", "cluster:\n  r: ssh://me@h:0\n", 2, 6, "cluster.r", `invalid port "0"`},
		{"empty port", "cluster:\n  r: 'ssh://me@h:'\n", 2, 6, "cluster.r", "empty port"},
		{"query", "cluster:\n  r: ssh://me@h?x=1\n", 2, 6, "cluster.r", "query"},
		{"fragment", "cluster:\n  r: ssh://me@h#x\n", 2, 6, "cluster.r", "fragment"},
		{"host like an option", "cluster:\n  r: ssh://-oProxyCommand=x\n", 2, 6, "cluster.r", "starting with '-'"},
		{"user like an option", "cluster:\n  r: ssh://-oProxyCommand=x@h\n", 2, 6, "cluster.r", "starting with '-'"},
		{"tls on ssh", "cluster:\n  r:\n    url: ssh://me@h\n    tls: {}\n", 4, 5, "cluster.r.tls", "TLS does not apply to an ssh:// engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOneError(t, tt) })
	}
}

// writeTestPEM writes a self-signed certificate and its key as PEM files
// cert.pem and key.pem in dir.
func writeTestPEM(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*pem.Block{"cert.pem": {Type: "CERTIFICATE", Bytes: der}, "key.pem": {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckFilesReportsEachUnusableTLSFileAtItsPath(t *testing.T) {
	dir := t.TempDir()
	writeTestPEM(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"D": dir}
	src := `cluster:
  good:
    url: tcp://h:2376
    tls: {ca: $D/cert.pem, cert: $D/cert.pem, key: $D/key.pem}
  late:
    url: https://h
    tls:
      ca: $D/missing-ca.pem
      cert: $D/cert.pem
      key: $D/missing-key.pem
  junk:
    url: tcp://h:2376
    tls:
      ca: $D/junk.pem
      cert: $D/junk.pem
      key: $D/key.pem
`
	// The file loads: the TLS files may come later.
	cfg, err := testLoader(env).Parse("events.yml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	list := cfg.CheckFiles()
	want := []string{
		`events.yml:8:11: cluster.late.tls.ca: file "` + dir + `/missing-ca.pem": no such file or directory`,
		`events.yml:10:12: cluster.late.tls.key: file "` + dir + `/missing-key.pem": no such file or directory`,
		`events.yml:14:11: cluster.junk.tls.ca: "` + dir + `/junk.pem" holds no PEM certificate`,
		`events.yml:15:13: cluster.junk.tls.cert: "` + dir + `/junk.pem" holds no PEM certificate`,
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckFilesReportsACertificateAndKeyThatDoNotMatch(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeTestPEM(t, a)
	writeTestPEM(t, b)
	cfg, err := testLoader(map[string]string{"A": a, "B": b}).Parse("events.yml", []byte("cluster:\n  x:\n    url: tcp://h:1\n    tls: {cert: $A/cert.pem, key: $B/key.pem}\n"))
	if err != nil {
		t.Fatal(err)
	}
	list := cfg.CheckFiles()
	if len(list) != 1 || !strings.HasPrefix(list[0].Warning(), "events.yml:4:17: warning: cluster.x.tls.cert: ") || !strings.Contains(list[0].Msg, "not a usable certificate and key") {
		t.Fatalf("CheckFiles = %v, want a mismatch at the cert's path", list)
	}
}

func TestFromEnvFollowsTheDockerCLI(t *testing.T) {
	certs := t.TempDir()
	writeTestPEM(t, certs) // cert.pem and key.pem, no ca.pem
	noClient := t.TempDir()
	tests := []struct {
		name    string
		env     map[string]string
		want    Engine
		wantErr string
	}{
		{"nothing set", nil, Engine{URL: "unix:///var/run/docker.sock"}, ""},
		{"empty DOCKER_HOST", map[string]string{"DOCKER_HOST": ""}, Engine{URL: "unix:///var/run/docker.sock"}, ""},
		{"tcp", map[string]string{"DOCKER_HOST": "tcp://10.0.0.1:2375"}, Engine{URL: "tcp://10.0.0.1:2375"}, ""},
		{"tcp without port", map[string]string{"DOCKER_HOST": "tcp://10.0.0.1"}, Engine{URL: "tcp://10.0.0.1:2375"}, ""},
		{"tcp without host", map[string]string{"DOCKER_HOST": "tcp://:2380"}, Engine{URL: "tcp://localhost:2380"}, ""},
		{"tcp alone", map[string]string{"DOCKER_HOST": "tcp://"}, Engine{URL: "tcp://localhost:2375"}, ""},
		{"tcp with a path", map[string]string{"DOCKER_HOST": "tcp://h/base"}, Engine{URL: "tcp://h:2375/base"}, ""},
		{"tcp IPv6 without port", map[string]string{"DOCKER_HOST": "tcp://[::1]"}, Engine{URL: "tcp://[::1]:2375"}, ""},
		{"no scheme, address", map[string]string{"DOCKER_HOST": "10.0.0.1:2376"}, Engine{URL: "tcp://10.0.0.1:2376"}, ""},
		{"no scheme, path", map[string]string{"DOCKER_HOST": "/run/docker.sock"}, Engine{URL: "unix:///run/docker.sock"}, ""},
		{"unix alone", map[string]string{"DOCKER_HOST": "unix://"}, Engine{URL: "unix:///var/run/docker.sock"}, ""},
		{"ssh", map[string]string{"DOCKER_HOST": "ssh://me@h"}, Engine{URL: "ssh://me@h"}, ""},
		{"ssh ignores TLS", map[string]string{"DOCKER_HOST": "ssh://me@h", "DOCKER_TLS_VERIFY": "1"}, Engine{URL: "ssh://me@h"}, ""},
		{"unsupported scheme", map[string]string{"DOCKER_HOST": "fd://3"}, Engine{URL: "fd://3"}, `$DOCKER_HOST: unsupported scheme "fd"`},
		{"TLS verify, cert path", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": certs},
			Engine{URL: "tcp://h:2376", TLS: &TLS{CA: certs + "/ca.pem", Cert: certs + "/cert.pem", Key: certs + "/key.pem", Verify: true}}, ""},
		{"TLS verify is any value, even 0", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "0", "DOCKER_CERT_PATH": certs},
			Engine{URL: "tcp://h:2376", TLS: &TLS{CA: certs + "/ca.pem", Cert: certs + "/cert.pem", Key: certs + "/key.pem", Verify: true}}, ""},
		{"DOCKER_TLS without verify", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS": "1", "DOCKER_CERT_PATH": certs},
			Engine{URL: "tcp://h:2376", TLS: &TLS{CA: certs + "/ca.pem", Cert: certs + "/cert.pem", Key: certs + "/key.pem"}}, ""},
		{"no client certificate files", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": noClient},
			Engine{URL: "tcp://h:2376", TLS: &TLS{CA: noClient + "/ca.pem", Verify: true}}, ""},
		{"TLS without DOCKER_HOST", map[string]string{"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": noClient},
			Engine{URL: "tcp://localhost:2376", TLS: &TLS{CA: noClient + "/ca.pem", Verify: true}}, ""},
		{"cert path from DOCKER_CONFIG", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CONFIG": "/cfg", "HOME": "/home/me"},
			Engine{URL: "tcp://h:2376", TLS: &TLS{CA: "/cfg/ca.pem", Verify: true}}, ""},
		{"cert path from HOME", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "HOME": "/home/me"},
			Engine{URL: "tcp://h:2376", TLS: &TLS{CA: "/home/me/.docker/ca.pem", Verify: true}}, ""},
		{"cert path without TLS", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_CERT_PATH": certs}, Engine{URL: "tcp://h:2376"}, ""},
		{"TLS on unix", map[string]string{"DOCKER_TLS_VERIFY": "1", "DOCKER_HOST": "unix:///s"}, Engine{URL: "unix:///s"}, ""},
		{"API version", map[string]string{"DOCKER_API_VERSION": "1.41"}, Engine{URL: "unix:///var/run/docker.sock", APIVersion: "1.41"}, ""},
		{"bad API version", map[string]string{"DOCKER_API_VERSION": "41"}, Engine{URL: "unix:///var/run/docker.sock", APIVersion: "41"}, `$DOCKER_API_VERSION: "41" is not an API version`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := testLoader(tt.env).FromEnv()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("FromEnv error = %v, want %q", err, tt.wantErr)
			}
			tt.want.Name = "local"
			if !reflect.DeepEqual(cfg, &Config{Engines: []Engine{tt.want}}) {
				t.Errorf("FromEnv = %+v (TLS %+v), want %+v (TLS %+v)", cfg.Engines[0], cfg.Engines[0].TLS, tt.want, tt.want.TLS)
			}
			if !reflect.DeepEqual(testLoader(tt.env).Default(), cfg) {
				t.Errorf("Default differs from FromEnv")
			}
		})
	}
}
