package checkpoint

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestDeadLettersSurviveReopenAndGiveUpMovesTheDeliveryInOneCommit(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.PutDelivery(3, []byte(`{"n":3}`))
	s.PutDelivery(4, []byte(`{"n":4}`))
	s.PutDelivery(9, []byte(`{"n":9}`))
	if err := s.Flush(nil); err != nil {
		t.Fatal(err)
	}
	s.GiveUpDelivery(3, "r\x00a\x00ev3", []byte(`given-up`), []byte(`dead 3`))
	s.GiveUpDelivery(4, "", nil, []byte(`dead 4`))
	s.GiveUpDelivery(9, "r\x00a\x00ev9", []byte(`given-up`), []byte(`dead 9`))
	s.DeleteDeadLetter(4)
	s.ReviveDeadLetter(9, 10, []byte(`{"n":10}`))
	if err := s.Flush(nil); err != nil {
		t.Fatal(err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDeliveries).Get(seqKey(3)) != nil {
			t.Error("delivery 3 is still pending after it was given up")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	st := s.State()
	if len(st.DeadLetters) != 1 || st.DeadLetters[0].Seq != 3 || string(st.DeadLetters[0].Data) != "dead 3" {
		t.Errorf("dead letters = %+v, want only 3 (4 dropped, 9 revived)", st.DeadLetters)
	}
	if len(st.Deliveries) != 1 || st.Deliveries[0].Seq != 10 || string(st.Deliveries[0].Data) != `{"n":10}` {
		t.Errorf("deliveries = %+v, want only 10, the revived 9", st.Deliveries)
	}
	if string(st.Completed["r\x00a\x00ev3"]) != "given-up" || len(st.Completed) != 2 {
		t.Errorf("completed = %q, want ev3 and ev9 recorded", st.Completed)
	}
}

func TestADeadLetterKeyThatIsNotAnIDRefusesTheFile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketDead).Put([]byte("x"), []byte("y")) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("Open succeeded over a dead letter keyed by something else than an ID")
	} else if _, ok := err.(*CorruptError); !ok {
		t.Fatalf("Open = %T %v, want a CorruptError", err, err)
	}
}
