package monitor

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/samalba/docker-eventsd/informer"
)

func TestResolveFindsTheContainersAddress(t *testing.T) {
	published := map[int]Binding{8080: {HostPort: 32768}, 9090: {HostIP: "10.1.1.1", HostPort: 9091}}
	tests := []struct {
		name   string
		labels map[string]string
		url    string
		net    Network
		host   string
		port   int // where port 8080 is reached
		err    bool
	}{
		{"the label wins", map[string]string{LabelAddress: "db.internal"}, "tcp://10.0.0.9:2375",
			Network{HostMode: true, IPs: map[string]string{"bridge": "172.17.0.2"}}, "db.internal", 8080, false},
		{"host network is the engine's host", nil, "tcp://10.0.0.9:2375", Network{HostMode: true}, "10.0.0.9", 8080, false},
		{"host network on a unix socket is this host", nil, "unix:///var/run/docker.sock", Network{HostMode: true}, "127.0.0.1", 8080, false},
		{"a remote engine's published port", nil, "ssh://me@db1.example", Network{IPs: map[string]string{"bridge": "172.17.0.2"}, Published: map[int]Binding{8080: {HostPort: 32768}}}, "db1.example", 32768, false},
		{"a remote engine's bound IP", nil, "tcp://10.0.0.9:2375", Network{Published: map[int]Binding{9090: {HostIP: "10.1.1.1", HostPort: 9091}}}, "10.1.1.1", 8080, false},
		{"a local engine's container IP, first network by name", nil, "unix:///run/docker.sock",
			Network{IPs: map[string]string{"zeta": "10.9.0.2", "alpha": "10.8.0.2"}, Published: published}, "10.8.0.2", 8080, false},
		{"the network label picks one", map[string]string{LabelNetwork: "zeta"}, "unix:///run/docker.sock",
			Network{IPs: map[string]string{"zeta": "10.9.0.2", "alpha": "10.8.0.2"}}, "10.9.0.2", 8080, false},
		{"a local engine without IP: published on loopback", nil, "tcp://127.0.0.1:2375", Network{Published: map[int]Binding{8080: {HostPort: 32768}}}, "127.0.0.1", 32768, false},
		{"nothing", nil, "tcp://10.0.0.9:2375", Network{}, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := resolve(&informer.Container{Labels: tt.labels}, tt.url, tt.net)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (ep.host != tt.host || ep.port(8080) != tt.port) {
				t.Errorf("got %s:%d, want %s:%d", ep.host, ep.port(8080), tt.host, tt.port)
			}
		})
	}
}

func TestNetworkFromInspect(t *testing.T) {
	p, _ := network.ParsePort("8080/tcp")
	u, _ := network.ParsePort("53/udp")
	r := &container.InspectResponse{
		HostConfig: &container.HostConfig{NetworkMode: "bridge"},
		NetworkSettings: &container.NetworkSettings{
			Networks: map[string]*network.EndpointSettings{"bridge": {IPAddress: netip.MustParseAddr("172.17.0.3")}, "none": {}},
			Ports: network.PortMap{
				p: {{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: "32768"}, {HostIP: netip.MustParseAddr("::"), HostPort: "32768"}},
				u: {{HostPort: "53"}},
			},
		},
	}
	want := Network{IPs: map[string]string{"bridge": "172.17.0.3"}, Published: map[int]Binding{8080: {HostPort: 32768}}}
	if got := NetworkFromInspect(r); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	r.HostConfig.NetworkMode = "host"
	if !NetworkFromInspect(r).HostMode {
		t.Error("host network mode not seen")
	}
}
