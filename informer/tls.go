package informer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/samalba/docker-eventsd/config"
)

// tlsFiles is the TLS material of one engine, read from its files when a
// connection needs it rather than when the daemon starts: secrets are often
// mounted after the daemon started, and replaced while it runs. Until every
// file can be read, each connection fails with the error of the first one
// that cannot, naming it; once read, the files are read again only when one
// of them changed (size or modification time), so that a renewed
// certificate is taken by the next connection.
type tlsFiles struct {
	t config.TLS

	mu sync.Mutex
	// stamps are the stat results the material was read with, one per file.
	stamps []fileStamp
	// material is what the files held; nil until they were read.
	material *tlsMaterial
}

// tlsMaterial is what an engine's TLS files hold.
type tlsMaterial struct {
	// roots verify the engine's certificate; nil means the system's roots.
	roots *x509.CertPool
	// cert is the client certificate; nil when there is none.
	cert *tls.Certificate
}

// fileStamp identifies one version of a file.
type fileStamp struct {
	size  int64
	mtime time.Time
}

func newTLSFiles(t config.TLS) *tlsFiles { return &tlsFiles{t: t} }

// paths returns the files of the material, CA first.
func (f *tlsFiles) paths() []string {
	var p []string
	for _, s := range []string{f.t.CA, f.t.Cert, f.t.Key} {
		if s != "" {
			p = append(p, s)
		}
	}
	return p
}

// load returns the material, reading the files when they were never read or
// changed since.
func (f *tlsFiles) load() (*tlsMaterial, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	paths := f.paths()
	stamps := make([]fileStamp, len(paths))
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, f.fileError(p, err)
		}
		stamps[i] = fileStamp{size: st.Size(), mtime: st.ModTime()}
	}
	if f.material != nil && equalStamps(stamps, f.stamps) {
		return f.material, nil
	}
	m, err := f.read()
	if err != nil {
		return nil, err
	}
	f.material, f.stamps = m, stamps
	return m, nil
}

func equalStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].size != b[i].size || !a[i].mtime.Equal(b[i].mtime) {
			return false
		}
	}
	return true
}

// read reads the files.
func (f *tlsFiles) read() (*tlsMaterial, error) {
	m := &tlsMaterial{}
	if f.t.CA != "" {
		pem, err := os.ReadFile(f.t.CA)
		if err != nil {
			return nil, f.fileError(f.t.CA, err)
		}
		m.roots = x509.NewCertPool()
		if !m.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate in the file", f.t.CA)
		}
	}
	if f.t.Cert != "" || f.t.Key != "" {
		pair, err := tls.LoadX509KeyPair(f.t.Cert, f.t.Key)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return nil, f.fileError(pe.Path, err)
			}
			return nil, fmt.Errorf("tls cert %s, key %s: %w", f.t.Cert, f.t.Key, err)
		}
		m.cert = &pair
	}
	return m, nil
}

// fileError names the role of the file at path in err.
func (f *tlsFiles) fileError(path string, err error) error {
	role := "file"
	switch path {
	case f.t.CA:
		role = "ca"
	case f.t.Cert:
		role = "cert"
	case f.t.Key:
		role = "key"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	// %v, not %w: the Docker client words a "not exist" error as a socket
	// path to check, which this is not.
	return fmt.Errorf("tls %s %s: %v", role, path, err)
}

// config returns the TLS configuration of the engine's connections. Its
// callbacks load the material at each handshake: the engine's certificate
// is verified as crypto/tls would (chain to the roots, host name), against
// the CA of the files, and the client certificate is the one of the files.
// verify: false accepts any certificate, as the Docker CLI's
// DOCKER_TLS_VERIFY unset does, but still needs the files to be readable.
func (f *tlsFiles) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done by VerifyConnection, with roots read when
		// they are needed; crypto/tls takes its roots once.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			m, err := f.load()
			if err != nil {
				return nil, err
			}
			if m.cert == nil {
				return &tls.Certificate{}, nil // none: the engine decides
			}
			return m.cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			m, err := f.load()
			if err != nil || !f.t.Verify {
				return err
			}
			return verifyPeer(cs, m.roots)
		},
	}
}

// verifyPeer verifies the engine's certificate chain against roots (nil:
// the system's) and its name, as crypto/tls does when it verifies.
func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the engine sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}

// dialer wraps d: a connection is dialed only once the files can be read,
// so that an engine whose files are missing reports the missing file, not
// a TLS failure after a TCP connection.
func (f *tlsFiles) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, err := f.load(); err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, addr)
	}
}
