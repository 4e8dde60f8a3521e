package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// engineClient returns a client of the engine at url, API version
// negotiated.
func engineClient(ctx context.Context, url string) (*client.Client, error) {
	host := url
	for _, p := range []string{"http://", "https://"} {
		if strings.HasPrefix(host, p) {
			host = "tcp://" + strings.TrimPrefix(host, p)
		}
	}
	c, err := client.New(client.WithHost(host))
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("ping %s: %w", url, err)
	}
	return c, nil
}

// trapCmd is a container command whose process ignores SIGUSR1 (and, as PID
// 1, SIGTERM): `docker kill -s USR1` on it is a cheap event.
var trapCmd = []string{"sh", "-c", `trap "" USR1; while true; do sleep 1; done`}

// runContainer creates and starts a container (network none) and returns its
// ID.
func runContainer(ctx context.Context, c *client.Client, name, image string, cmd []string) (string, error) {
	_, _ = c.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true})
	r, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     &container.Config{Image: image, Cmd: cmd, Labels: map[string]string{"eventsd-bench": "1"}},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	if _, err := c.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	return r.ID, nil
}

// removeContainers removes containers by name, ignoring errors.
func removeContainers(c *client.Client, names ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range names {
		_, _ = c.ContainerRemove(ctx, n, client.ContainerRemoveOptions{Force: true})
	}
}
