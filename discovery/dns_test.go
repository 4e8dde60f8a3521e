package discovery

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
)

// serveRecords writes dnsmasq's records and restarts it to serve them.
func serveRecords(t *testing.T, records string) {
	t.Helper()
	dir := os.Getenv("EVENTSD_DNS_DIR")
	if err := os.WriteFile(filepath.Join(dir, "records.conf"), []byte(records), 0o644); err != nil {
		t.Fatal(err)
	}
	hack(t, "dnsmasq.sh", "restart")
}

func TestDNSSourceNamesEnginesByTargetAndFollowsTheRecords(t *testing.T) {
	addr := service(t, "DNS")
	const srv = "_docker._tcp.eventsd.test"
	serveRecords(t, `local=/eventsd.test/
host-record=e1.eventsd.test,127.0.0.11
host-record=e2.eventsd.test,127.0.0.12
srv-host=_docker._tcp.eventsd.test,e1.eventsd.test,2375
srv-host=_docker._tcp.eventsd.test,e2.eventsd.test,2376
`)
	s := run(t, &DNS{Config: config.DNSDiscovery{SRV: srv, Interval: 200 * time.Millisecond, Resolver: addr}, opts: fast})
	s.wait("e1.eventsd.test=tcp://127.0.0.11:2375 e2.eventsd.test=tcp://127.0.0.12:2376")

	// The server down: nothing is removed; its records changed meanwhile
	// are applied once it answers.
	hack(t, "dnsmasq.sh", "kill")
	dir := os.Getenv("EVENTSD_DNS_DIR")
	if err := os.WriteFile(filepath.Join(dir, "records.conf"), []byte(`local=/eventsd.test/
host-record=e2.eventsd.test,127.0.0.12
srv-host=_docker._tcp.eventsd.test,e2.eventsd.test,2376
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s.quiet(1500 * time.Millisecond)
	hack(t, "dnsmasq.sh", "start")
	s.wait("e2.eventsd.test=tcp://127.0.0.12:2376")

	// A name that no longer exists is an empty set.
	serveRecords(t, "local=/eventsd.test/\nhost-record=e2.eventsd.test,127.0.0.12\n")
	s.wait("")
}
