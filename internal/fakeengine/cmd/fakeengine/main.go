// Command fakeengine serves many fake Docker engines on loopback, for
// benchmarks and tests of docker-eventsd (see package
// github.com/samalba/docker-eventsd/internal/fakeengine).
//
//	fakeengine -engines 100 -containers 100 -base-port 30000 -control 127.0.0.1:29999
//	fakeengine -engines 10 -socket-dir /tmp/fake -rate 5000 -mix kill=1,exec=1
//	fakeengine -api 1.52 -engines 2      (answer as Docker 29; see -help)
//
// It prints the control address ("# control: http://ADDR") and the engines
// as a docker-eventsd cluster: block (name: url) on stdout, then serves
// until SIGINT or SIGTERM. The control address answers
// /fake/stats, /fake/engines, /fake/fault and /fake/load.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

func main() {
	var o fakeengine.Options
	flag.IntVar(&o.Engines, "engines", 1, "number of engines")
	flag.IntVar(&o.Containers, "containers", 10, "running containers per engine")
	flag.StringVar(&o.Host, "host", "127.0.0.1", "address the engines listen on (TCP)")
	flag.IntVar(&o.BasePort, "base-port", 0, "port of engine 0, then +1 each (0: free ports)")
	flag.StringVar(&o.SocketDir, "socket-dir", "", "serve engine N on the unix socket DIR/eN.sock instead of TCP")
	api := flag.String("api", fakeengine.APIVersion, "API version to answer as (the Docker release of that version): 1.41 (dockerd 20.10), 1.44 ... 1.51 (Docker 25-28), 1.52 or newest (Docker 29)")
	control := flag.String("control", "127.0.0.1:0", "address of the control API")
	rate := flag.Float64("rate", 0, "events per second over all engines (0: no load until POST /fake/load)")
	mix := flag.String("mix", fakeengine.DefaultMix.String(), "load mix: start=W,die=W,kill=W,health_status=W,exec=W")
	duration := flag.Duration("duration", 0, "stop the load after this long (0: never)")
	flag.Parse()
	mode, err := fakeengine.ModeFor(*api)
	if err != nil {
		fmt.Fprintln(os.Stderr, "-api:", err)
		os.Exit(2)
	}
	o.Mode = mode

	srv, err := fakeengine.NewServer(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *control)
	if err != nil {
		fmt.Fprintln(os.Stderr, "control:", err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(ln, srv.ControlHandler()) }() //nolint:gosec // a test tool on loopback
	fmt.Fprintf(os.Stderr, "fakeengine: %d engines as %s, control http://%s/fake/stats\n", srv.Len(), mode, ln.Addr())
	fmt.Printf("# control: http://%s\n", ln.Addr())
	fmt.Println("cluster:")
	for i, u := range srv.URLs() {
		fmt.Printf("  e%d: %s\n", i, u)
	}
	if *rate > 0 {
		m, err := fakeengine.ParseMix(*mix)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		srv.StartLoad(fakeengine.LoadOptions{Rate: *rate, Mix: m, Duration: *duration})
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			st := srv.Stats()
			fmt.Fprintf(os.Stderr, "fakeengine: emitted %d, written %d, dropped %d\n", st.Emitted, st.Written, st.Dropped)
			return
		case <-t.C:
			st := srv.Stats()
			fmt.Fprintf(os.Stderr, "fakeengine: subscribers %d, emitted %d, written %d, dropped %d\n",
				st.Subscribers, st.Emitted, st.Written, st.Dropped)
		}
	}
}
