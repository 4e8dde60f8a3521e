package discovery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/samalba/docker-eventsd/config"
)

// etcdTimeout bounds one Get (the list) of an etcd source.
const etcdTimeout = 5 * time.Second

// Etcd is an etcd source: every key under Config.Prefix is an engine, named
// by the rest of the key, its value a URL or a JSON object {"url", "tls",
// "labels"}. It lists the prefix, then watches it from the list's revision
// + 1, so that no change falls between the two; a watch that breaks is
// resumed from the last revision seen, and a revision compacted meanwhile
// makes it list again. Every change is pushed as the full set.
type Etcd struct {
	Config config.EtcdDiscovery
	opts   Options
}

// Kind returns config.DiscoveryEtcd.
func (s *Etcd) Kind() string { return config.DiscoveryEtcd }

// Run follows the prefix until ctx is done.
func (s *Etcd) Run(ctx context.Context, push func([]config.Engine)) {
	log := logr.FromContextOrDiscard(ctx).WithValues("source", config.DiscoveryEtcd, "prefix", s.Config.Prefix)
	bo := s.opts.newBackoff()
	for ctx.Err() == nil {
		cli, err := s.client()
		if err != nil {
			log.Error(err, "Discovery: cannot make the etcd client, retrying")
			if !sleep(ctx, bo.NextBackOff()) {
				return
			}
			continue
		}
		s.follow(ctx, log, cli, push)
		_ = cli.Close()
	}
}

func (s *Etcd) client() (*clientv3.Client, error) {
	tc, err := tlsConfig(s.Config.TLS)
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{
		Endpoints:   s.Config.Endpoints,
		DialTimeout: etcdTimeout,
		TLS:         tc,
		Logger:      zap.NewNop(),
	})
}

// follow lists and watches until ctx is done.
func (s *Etcd) follow(ctx context.Context, log logr.Logger, cli *clientv3.Client, push func([]config.Engine)) {
	bo := s.opts.newBackoff()
	kvs := map[string][]byte{}
	var rev int64 // the revision kvs is at; 0: list first
	for ctx.Err() == nil {
		if rev == 0 {
			lctx, cancel := context.WithTimeout(ctx, etcdTimeout)
			resp, err := cli.Get(lctx, s.Config.Prefix, clientv3.WithPrefix())
			cancel()
			if err != nil {
				log.Error(err, "Discovery: cannot list etcd, its last engines stay; retrying")
				if !sleep(ctx, bo.NextBackOff()) {
					return
				}
				continue
			}
			clear(kvs)
			for _, kv := range resp.Kvs {
				kvs[string(kv.Key)] = kv.Value
			}
			rev = resp.Header.Revision
			log.V(1).Info("Discovery: etcd listed", "revision", rev, "keys", len(kvs))
			push(s.engines(log, kvs))
		}
		var err error
		rev, err = s.watch(ctx, log, cli, kvs, rev, push, bo.Reset)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			log.Info("Discovery: etcd revision compacted, listing again", "revision", rev)
			rev = 0
			continue
		}
		log.Error(err, "Discovery: etcd watch broken, resuming from the last revision", "revision", rev)
		if !sleep(ctx, bo.NextBackOff()) {
			return
		}
	}
}

// watch applies the changes after rev to kvs, pushing the set after each
// response, until the watch ends; it returns the last revision applied and
// why it ended. healthy is called on each response.
func (s *Etcd) watch(ctx context.Context, log logr.Logger, cli *clientv3.Client, kvs map[string][]byte, rev int64,
	push func([]config.Engine), healthy func()) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := cli.Watch(wctx, s.Config.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
	for resp := range wch {
		if resp.CompactRevision != 0 {
			return rev, rpctypes.ErrCompacted
		}
		if err := resp.Err(); err != nil {
			return rev, err
		}
		healthy()
		for _, ev := range resp.Events {
			switch ev.Type {
			case mvccpb.PUT:
				kvs[string(ev.Kv.Key)] = ev.Kv.Value
			case mvccpb.DELETE:
				delete(kvs, string(ev.Kv.Key))
			}
			rev = max(rev, ev.Kv.ModRevision)
		}
		if len(resp.Events) > 0 {
			push(s.engines(log, kvs))
		} else if resp.IsProgressNotify() {
			// Every event up to its revision was sent: a resumed watch may
			// start after it. (An event response's header may be ahead of
			// events still to come: only the events' revisions count then.)
			rev = max(rev, resp.Header.Revision)
		}
	}
	if ctx.Err() != nil {
		return rev, ctx.Err()
	}
	return rev, fmt.Errorf("etcd watch closed")
}

// engines checks the keys of kvs.
func (s *Etcd) engines(log logr.Logger, kvs map[string][]byte) []config.Engine {
	entries := make([]entry, 0, len(kvs))
	for _, k := range slices.Sorted(maps.Keys(kvs)) {
		entries = append(entries, entry{key: k, name: strings.TrimPrefix(k, s.Config.Prefix), value: kvs[k]})
	}
	return engines(log, config.DiscoveryEtcd, entries)
}
