package checkpoint

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// delivery is about the size of a journaled delivery (a die with a
// container, labels and attributes).
var delivery = []byte(`{"rule":"promote","command":"/usr/local/bin/promote","event":{"id":"0123456789abcdef01234567","engine":"db1","type":"container","action":"die","actorId":"4f1c0e8a9b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e","attributes":{"exitCode":"137","image":"mysql:8","name":"db-master","role":"master"},"time":"2024-05-01T12:00:00.123456789Z","container":{"id":"4f1c0e8a9b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e","engine":"db1","name":"db-master","image":"mysql:8","labels":{"role":"master"},"state":"exited","exitCode":137,"created":"2024-05-01T11:00:00Z"}},"attempt":0,"enqueued":"2024-05-01T12:00:00.2Z"}`)

// BenchmarkPutDeliveryWriteBehind is what Handle pays per delivery with the
// journal as built: PutDelivery, with Run committing behind.
func BenchmarkPutDeliveryWriteBehind(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, nil, 0)
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A bounded set of numbers: a daemon has that many pending, not b.N.
		s.PutDelivery(uint64(i%4096), delivery)
	}
	b.StopTimer()
	cancel()
	<-done
}

// BenchmarkCommitOneDelivery is the time from PutDelivery to the delivery
// on disk when the daemon is otherwise idle: one bbolt commit with fsync.
func BenchmarkCommitOneDelivery(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.PutDelivery(uint64(i%4096), delivery)
		if err := s.commit(nil, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutDeliverySyncBatch is the alternative not taken: each Handle
// writing its delivery with db.Batch and waiting for the commit. Run with
// -cpu to see how batching across engines helps.
func BenchmarkPutDeliverySyncBatch(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.Close()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := uint64(0)
		for pb.Next() {
			i = (i + 1) % 4096
			err := s.db.Batch(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketDeliveries).Put(seqKey(i), delivery)
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
