package checkpoint

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// completedOnDisk returns the committed completed-delivery records, by key.
func completedOnDisk(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCompleted).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCompletedDeliveriesRoundTripAndForgetCompletedRemovesOne(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.PutDelivery(1, []byte(`{"n":1}`))
	s.PutDelivery(2, []byte(`{"n":2}`))
	if err := s.Flush(nil); err != nil {
		t.Fatal(err)
	}
	s.CompleteDelivery(1, "r\x00a\x00ev1", []byte("\x00one\xff"))
	s.CompleteDelivery(2, "r\x00a\x00ev2", []byte(`two`))
	s.ForgetCompleted("r\x00a\x00ev2")
	if err := s.Flush(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	st := s.State()
	if len(st.Deliveries) != 0 {
		t.Errorf("deliveries = %v, want none: both completed", st.Deliveries)
	}
	if len(st.Completed) != 1 || string(st.Completed["r\x00a\x00ev1"]) != "\x00one\xff" {
		t.Errorf("completed = %q, want only ev1's record, as written", st.Completed)
	}
}

func TestCompleteDeliveryCommitsTheRemovalAndTheRecordTogetherAtOnce(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	s.PutDelivery(5, []byte(`{}`))
	if err := s.Flush(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, nil, time.Hour) // the ticker never fires: only the wake-up commits
	}()
	defer func() {
		cancel()
		<-done
	}()
	s.CompleteDelivery(5, "k5", []byte(`done`))
	deadline := time.Now().Add(5 * time.Second)
	for {
		// One read transaction sees both buckets as of one commit.
		var pending, completed bool
		err := s.db.View(func(tx *bolt.Tx) error {
			pending = tx.Bucket(bucketDeliveries).Get(seqKey(5)) != nil
			completed = tx.Bucket(bucketCompleted).Get([]byte("k5")) != nil
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if pending == completed {
			t.Fatalf("on disk: pending %v, completed %v; want the delivery in exactly one of them", pending, completed)
		}
		if completed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("completion not committed without waiting for the ticker")
		}
		time.Sleep(time.Millisecond)
	}
	if got := completedOnDisk(t, s); got["k5"] != "done" {
		t.Errorf("completed on disk = %v", got)
	}
}
