package monitor

import (
	"context"
	"net"
	"time"
)

// connect opens a TCP connection to addr and closes it with a reset, by
// deadline: the whole tcp check. The deadline, not a context, bounds it (a
// cancellable context costs the dial a goroutine); keep-alive is off, and
// SO_LINGER 0 leaves no TIME_WAIT socket behind at thousands of checks a
// second.
func connect(addr string, deadline time.Time) error {
	d := net.Dialer{Deadline: deadline, KeepAlive: -1}
	conn, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return conn.Close()
}
