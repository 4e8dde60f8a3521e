package daemon

import (
	"context"
	"time"

	"github.com/samalba/docker-eventsd/checkpoint"
	"github.com/samalba/docker-eventsd/controller"
)

// durableStore is where durable keeps the journal and the engines'
// checkpoints: the state file (checkpoint.Store) of a single daemon, or the
// shared journal in etcd (checkpoint.EtcdStore) of HA replicas.
type durableStore interface {
	controller.CompletionJournal
	State() *checkpoint.State
	Path() string
	Corrupt(err error) error
	ForgetEngines(keep []string) ([]string, error)
	DeleteEngine(name string) error
	ResetEngine(name string)
	Run(ctx context.Context, sources checkpoint.Sources, interval time.Duration)
	Flush(sources []checkpoint.Source) error
	Close() error
}

var (
	_ durableStore = (*checkpoint.Store)(nil)
	_ durableStore = (*checkpoint.EtcdStore)(nil)
)
