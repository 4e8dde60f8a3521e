package checkpoint

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func init() { lockTimeout = 100 * time.Millisecond }

// source is a fake Source.
type source struct {
	name string
	mu   sync.Mutex
	cp   []byte
	ver  uint64
	// before runs inside Checkpoint, before it returns.
	before func()
}

func (s *source) Name() string { return s.name }

func (s *source) Checkpoint() ([]byte, uint64, error) {
	if s.before != nil {
		s.before()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cp, s.ver, nil
}

func (s *source) CheckpointVersion() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ver
}

func (s *source) set(cp []byte) {
	s.mu.Lock()
	s.cp, s.ver = cp, s.ver+1
	s.mu.Unlock()
}

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// onDisk returns the journaled deliveries as committed, by sequence number.
func onDisk(t *testing.T, s *Store) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDeliveries).ForEach(func(k, v []byte) error {
			out[uint64(k[7])|uint64(k[6])<<8] = string(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStoreRoundTripsCheckpointsJournalAndStateRules(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "state") // created when missing
	s := open(t, dir)
	// Opaque bytes, not even JSON: the store does not read them.
	cp := []byte("\x00checkpoint of a\xff")
	src := &source{name: "a"}
	src.set(cp)
	s.PutDelivery(3, []byte(`{"n":3}`))
	s.PutDelivery(1, []byte(`{"n":1}`))
	s.PutDelivery(2, []byte(`{"n":2}`))
	s.DeleteDelivery(2)
	s.PutDelivery(1, []byte(`{"n":1,"attempt":1}`))
	s.PutStateRule("masters", []byte(`{"hash":"abc"}`))
	if err := s.Flush([]Source{src}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer s.Close()
	st := s.State()
	if got := st.Engines["a"]; !bytes.Equal(got, cp) {
		t.Errorf("checkpoint of a = %q, want %q", got, cp)
	}
	want := []Record{{Seq: 1, Data: []byte(`{"n":1,"attempt":1}`)}, {Seq: 3, Data: []byte(`{"n":3}`)}}
	if !reflect.DeepEqual(st.Deliveries, want) {
		t.Errorf("deliveries = %v, want %v", st.Deliveries, want)
	}
	if got := string(st.StateRules["masters"]); got != `{"hash":"abc"}` {
		t.Errorf("state rule masters = %s", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, mode %v, want 0600", err, fi.Mode())
	}
}

func TestCheckpointCommitIncludesDeliveriesPutBeforeTheCheckpointWasRead(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	src := &source{name: "a"}
	src.set([]byte(`{"lastSeen":42}`))
	// Handle journals a delivery, then the informer's checkpoint moves past
	// its event: the delivery must be in the commit of that checkpoint.
	src.before = func() { s.PutDelivery(7, []byte(`{}`)) }
	if err := s.Flush([]Source{src}); err != nil {
		t.Fatal(err)
	}
	if got := onDisk(t, s); got[7] != "{}" {
		t.Fatalf("journal on disk = %v, want delivery 7 with the checkpoint", got)
	}
}

func TestRunCommitsJournalAtOnceAndCheckpointsOnTheTicker(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	src := &source{name: "a"}
	src.set([]byte(`{"lastSeen":1}`))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, func() []Source { return []Source{src} }, time.Hour)
	}()
	defer func() {
		cancel()
		<-done
	}()
	s.PutDelivery(1, []byte(`{}`))
	deadline := time.Now().Add(5 * time.Second)
	for onDisk(t, s)[1] == "" {
		if time.Now().After(deadline) {
			t.Fatal("journaled delivery not committed without waiting for the ticker")
		}
		time.Sleep(time.Millisecond)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketEngines).Get([]byte("a")); v != nil {
			return fmt.Errorf("checkpoint written before the interval: %s", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnchangedCheckpointIsNotWrittenAgain(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	src := &source{name: "a"}
	src.set([]byte(`{"lastSeen":1}`))
	if err := s.Flush([]Source{src}); err != nil {
		t.Fatal(err)
	}
	st := s.db.Stats()
	before := st.TxStats.GetWrite()
	if err := s.Flush([]Source{src}); err != nil {
		t.Fatal(err)
	}
	st = s.db.Stats()
	if after := st.TxStats.GetWrite(); after != before {
		t.Errorf("an idle flush wrote %d pages", after-before)
	}
}

// wantCorrupt checks that err is a CorruptError about path that says how to
// start fresh, and that the file was left as it was.
func wantCorrupt(t *testing.T, err error, path string, content []byte) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Open: %v, want a CorruptError", err)
	}
	msg := err.Error()
	for _, want := range []string{"state file " + path, "mv " + path + " " + path + ".bad", "start fresh"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if content != nil {
		if got, _ := os.ReadFile(path); string(got) != string(content) {
			t.Errorf("the corrupt file was changed")
		}
	}
}

func TestGarbageStateFileIsRefusedWithTheFileAndTheWayOut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	garbage := []byte(strings.Repeat("not a bolt file\n", 1024))
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	wantCorrupt(t, err, path, garbage)
}

func TestTruncatedStateFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.PutDelivery(1, []byte(`{}`))
	if err := s.Flush(nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, FileName)
	data, _ := os.ReadFile(path)
	// Keep the first meta page only, and damage its checksum.
	data = data[:4096]
	data[100] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	wantCorrupt(t, err, path, data)
}

func TestBoltFileOfAnotherProgramIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	db.Close()
	_, err = Open(dir)
	wantCorrupt(t, err, path, nil)
	if !strings.Contains(err.Error(), "not a docker-eventsd state file") {
		t.Errorf("error %q does not say why", err)
	}
}

func TestStateFileOfAnotherSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_ = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("docker-eventsd/state/v9"))
	})
	s.Close()
	_, err := Open(dir)
	wantCorrupt(t, err, filepath.Join(dir, FileName), nil)
	if !strings.Contains(err.Error(), `schema "docker-eventsd/state/v9"`) {
		t.Errorf("error %q does not name the schema", err)
	}
}

func TestDeliveryKeyThatIsNotASequenceNumberIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_ = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDeliveries).Put([]byte("one"), []byte(`{}`))
	})
	s.Close()
	_, err := Open(dir)
	wantCorrupt(t, err, filepath.Join(dir, FileName), nil)
}

func TestRecordsAreOpaqueBytesReturnedAsWritten(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	// Not JSON: what a record means is its reader's business (the daemon
	// reports one it cannot decode with Corrupt).
	raw := []byte("{not json")
	src := &source{name: "a"}
	src.set(raw)
	s.PutDelivery(1, raw)
	s.PutStateRule("r", raw)
	if err := s.Flush([]Source{src}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	st := s.State()
	if !bytes.Equal(st.Engines["a"], raw) || len(st.Deliveries) != 1 || !bytes.Equal(st.Deliveries[0].Data, raw) || !bytes.Equal(st.StateRules["r"], raw) {
		t.Errorf("state = %+v, want every record %q", st, raw)
	}
}

func TestDeletedEngineIsNotWrittenAgainAndResetEngineWritesTheSameVersion(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	src := &source{name: "a"}
	src.set([]byte(`1`))
	sources := []Source{src}
	list := func() []Source { return sources }
	if err := s.commit(list, true); err != nil {
		t.Fatal(err)
	}
	sources = nil
	if err := s.DeleteEngine("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.commit(list, true); err != nil {
		t.Fatal(err)
	}
	if got := engineOnDisk(t, s, "a"); got != nil {
		t.Fatalf("deleted engine on disk: %q", got)
	}
	// A new source of the same name, at the version the old one was written
	// with: ResetEngine makes the next commit write it.
	next := &source{name: "a"}
	next.set([]byte(`2`))
	sources = []Source{next}
	if err := s.commit(list, true); err != nil {
		t.Fatal(err)
	}
	if got := engineOnDisk(t, s, "a"); string(got) != `2` {
		t.Fatalf("after DeleteEngine, new source on disk: %q, want 2", got)
	}
	newer := &source{name: "a"}
	newer.set([]byte(`3`))
	sources = []Source{newer}
	s.ResetEngine("a")
	if err := s.commit(list, true); err != nil {
		t.Fatal(err)
	}
	if got := engineOnDisk(t, s, "a"); string(got) != `3` {
		t.Errorf("after ResetEngine, replaced source on disk: %q, want 3", got)
	}
}

// engineOnDisk returns the committed checkpoint of the named engine.
func engineOnDisk(t *testing.T, s *Store, name string) []byte {
	t.Helper()
	var out []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bucketEngines).Get([]byte(name)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStateFileLockedByAnotherDaemonNamesIt(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	_, err := Open(dir)
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("Open: %v, want a LockedError", err)
	}
	want := fmt.Sprintf("state file %s is locked by another docker-eventsd (pid %d)", filepath.Join(dir, FileName), os.Getpid())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to say %q", err, want)
	}
}

func TestForgetEnginesRemovesCheckpointsOfEnginesGone(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	a, b := &source{name: "a"}, &source{name: "b"}
	a.set([]byte(`{"lastSeen":1}`))
	b.set([]byte(`{"lastSeen":2}`))
	if err := s.Flush([]Source{a, b}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	gone, err := s.ForgetEngines([]string{"a"})
	if err != nil || len(gone) != 1 || gone[0] != "b" {
		t.Fatalf("ForgetEngines = %v, %v; want [b]", gone, err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	if _, ok := s.State().Engines["b"]; ok || s.State().Engines["a"] == nil {
		t.Errorf("engines = %v, want a only", s.State().Engines)
	}
}

func TestHolderInReadsProcLocks(t *testing.T) {
	locks := `1: POSIX  ADVISORY  WRITE 11 08:01:99 0 EOF
2: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF
2: -> FLOCK  ADVISORY  WRITE 4343 08:01:1234567 0 EOF
`
	if got := holderIn(bufio.NewScanner(strings.NewReader(locks)), 1234567); got != 4242 {
		t.Errorf("holder = %d, want 4242", got)
	}
	if got := holderIn(bufio.NewScanner(strings.NewReader(locks)), 99); got != 0 {
		t.Errorf("holder of a POSIX lock = %d, want 0", got)
	}
}
