package discovery

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"

	"github.com/samalba/docker-eventsd/config"
)

// redisTimeout bounds one command of a Redis source.
const redisTimeout = 5 * time.Second

// Redis is a Redis source: a hash whose fields are engine names and whose
// values are a URL or a JSON object {"url", "tls", "labels"}. The whole
// hash is read at start, at each keyspace notification of the key, after
// each (re)subscription (a restarted server), and every Options.Resync as
// the safety net. It turns keyspace notifications on for hashes (CONFIG
// SET notify-keyspace-events, adding K and h to what is set) where the
// server allows it, and works without them.
type Redis struct {
	Config config.RedisDiscovery
	opts   Options
}

// Kind returns config.DiscoveryRedis.
func (s *Redis) Kind() string { return config.DiscoveryRedis }

// Run follows the hash until ctx is done.
func (s *Redis) Run(ctx context.Context, push func([]config.Engine)) {
	log := logr.FromContextOrDiscard(ctx).WithValues("source", config.DiscoveryRedis, "key", s.Config.Key)
	opt, err := redis.ParseURL(s.Config.URL)
	if err != nil {
		// The config checked the URL's form: this is a query parameter
		// go-redis refuses, which no retry mends.
		log.Error(err, "Discovery: bad Redis URL, the source gives nothing")
		<-ctx.Done()
		return
	}
	opt.MaxRetries = -1 // the loop below retries, with its own backoff
	cli := redis.NewClient(opt)
	defer cli.Close()

	changed := make(chan struct{}, 1)
	go s.subscribe(ctx, log, cli, opt.DB, changed)

	resync := s.opts.Resync
	if resync <= 0 {
		resync = DefaultResync
	}
	bo := s.opts.newBackoff()
	timer := time.NewTimer(0)
	defer timer.Stop()
	down := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			timer.Stop()
		case <-timer.C:
		}
		rctx, cancel := context.WithTimeout(ctx, redisTimeout)
		hash, err := cli.HGetAll(rctx, s.Config.Key).Result()
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !down {
				log.Error(err, "Discovery: cannot read the Redis hash, its last engines stay; retrying")
			}
			down = true
			timer.Reset(bo.NextBackOff())
			continue
		}
		if down {
			log.Info("Discovery: Redis is back")
			down = false
		}
		bo.Reset()
		entries := make([]entry, 0, len(hash))
		for _, k := range slices.Sorted(maps.Keys(hash)) {
			entries = append(entries, entry{key: k, name: k, value: []byte(hash[k])})
		}
		push(engines(log, config.DiscoveryRedis, entries))
		timer.Reset(resync)
	}
}

// subscribe listens to the keyspace notifications of the key, and signals
// changed at each one and at each (re)subscription, until ctx is done.
func (s *Redis) subscribe(ctx context.Context, log logr.Logger, cli *redis.Client, db int, changed chan<- struct{}) {
	channel := "__keyspace@" + strconv.Itoa(db) + "__:" + s.Config.Key
	ps := cli.Subscribe(ctx, channel)
	defer ps.Close()
	bo := s.opts.newBackoff()
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		msg, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil && !sleep(ctx, bo.NextBackOff()) {
				return
			}
			continue
		}
		bo.Reset()
		switch msg.(type) {
		case *redis.Subscription:
			// A first subscription, or one after a reconnect: the server may
			// be a new one, and changes may have been missed.
			s.notifications(ctx, log, cli)
			signal()
		case *redis.Message:
			signal()
		}
	}
}

// notifications turns the server's keyspace notifications for hashes on,
// keeping the classes already set. A server that refuses (CONFIG renamed
// or denied) is read every resync only.
func (s *Redis) notifications(ctx context.Context, log logr.Logger, cli *redis.Client) {
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	got, err := cli.ConfigGet(rctx, "notify-keyspace-events").Result()
	if err != nil {
		log.Info("Discovery: cannot read notify-keyspace-events, the hash is read every resync", "error", err.Error())
		return
	}
	cur := got["notify-keyspace-events"]
	want := cur
	if !strings.Contains(want, "K") {
		want += "K"
	}
	if !strings.Contains(want, "h") && !strings.Contains(want, "A") {
		want += "h"
	}
	if want == cur {
		return
	}
	if err := cli.ConfigSet(rctx, "notify-keyspace-events", want).Err(); err != nil {
		log.Info("Discovery: cannot turn keyspace notifications on, the hash is read every resync", "error", err.Error())
		return
	}
	log.V(1).Info("Discovery: keyspace notifications turned on", "notify-keyspace-events", want)
}
