package discovery

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/samalba/docker-eventsd/config"
)

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	cli := redis.NewClient(opt)
	t.Cleanup(func() { cli.Close() })
	return cli
}

func hset(t *testing.T, cli *redis.Client, key, field, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var err error
	if value == "" {
		err = cli.HDel(ctx, key, field).Err()
	} else {
		err = cli.HSet(ctx, key, field, value).Err()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestRedisSourceFollowsTheHashByNotifications(t *testing.T) {
	url := service(t, "REDIS")
	cli := redisClient(t, url)
	key := "eventsd-test:" + t.Name()
	if err := cli.Del(context.Background(), key).Err(); err != nil {
		t.Fatal(err)
	}
	hset(t, cli, key, "a", "tcp://127.0.0.1:1")
	hset(t, cli, key, "bad", "{")
	// No resync within the test: the changes come by notification.
	opts := fast
	opts.Resync = time.Hour
	s := run(t, &Redis{Config: config.RedisDiscovery{URL: url, Key: key}, opts: opts})
	s.wait("a=tcp://127.0.0.1:1")
	hset(t, cli, key, "b", `{"url":"tcp://127.0.0.1:2"}`)
	s.wait("a=tcp://127.0.0.1:1 b=tcp://127.0.0.1:2")
	hset(t, cli, key, "a", "")
	s.wait("b=tcp://127.0.0.1:2")
	got, err := cli.ConfigGet(context.Background(), "notify-keyspace-events").Result()
	if err != nil || got["notify-keyspace-events"] == "" {
		t.Errorf("notify-keyspace-events = %v, %v: not turned on", got, err)
	}
}

func TestRedisSourceWithoutNotificationsReadsEveryResync(t *testing.T) {
	url := service(t, "REDIS")
	cli := redisClient(t, url)
	key := "eventsd-test:" + t.Name()
	if err := cli.Del(context.Background(), key).Err(); err != nil {
		t.Fatal(err)
	}
	// Another database: its notifications are not the ones subscribed, as
	// for a server that refuses CONFIG.
	opts := fast
	opts.Resync = 300 * time.Millisecond
	s := run(t, &Redis{Config: config.RedisDiscovery{URL: url, Key: key}, opts: opts})
	s.wait("")
	if err := cli.ConfigSet(context.Background(), "notify-keyspace-events", "").Err(); err != nil {
		t.Fatal(err)
	}
	hset(t, cli, key, "a", "tcp://127.0.0.1:1")
	s.wait("a=tcp://127.0.0.1:1")
}

func TestRedisKilledAndRestartedRemovesNothingAndIsReadAgain(t *testing.T) {
	url := service(t, "REDIS")
	cli := redisClient(t, url)
	key := "eventsd-test:" + t.Name()
	if err := cli.Del(context.Background(), key).Err(); err != nil {
		t.Fatal(err)
	}
	hset(t, cli, key, "a", "tcp://127.0.0.1:1")
	opts := fast
	opts.Resync = 200 * time.Millisecond
	s := run(t, &Redis{Config: config.RedisDiscovery{URL: url, Key: key}, opts: opts})
	s.wait("a=tcp://127.0.0.1:1")
	hack(t, "redis.sh", "kill")
	time.Sleep(time.Second)
	hack(t, "redis.sh", "start")
	hset(t, cli, key, "b", "tcp://127.0.0.1:2")
	pushes := s.wait("a=tcp://127.0.0.1:1 b=tcp://127.0.0.1:2")
	none(t, pushes, "a=tcp://127.0.0.1:1")
}
