package daemon

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samalba/docker-eventsd/checkpoint"
	"github.com/samalba/docker-eventsd/config"
)

// rawSource is a checkpoint.Source with fixed bytes.
type rawSource struct {
	name string
	data []byte
}

func (s rawSource) Name() string                        { return s.name }
func (s rawSource) Checkpoint() ([]byte, uint64, error) { return s.data, 1, nil }
func (s rawSource) CheckpointVersion() uint64           { return 1 }

func TestUndecodableRecordMakesNewRefuseTheStateFile(t *testing.T) {
	t.Parallel()
	garbage := []byte("{not json")
	tests := []struct {
		name  string
		write func(s *checkpoint.Store) error
		want  string
	}{
		{"engine checkpoint", func(s *checkpoint.Store) error {
			return s.Flush([]checkpoint.Source{rawSource{"a", garbage}})
		}, `checkpoint of engine "a"`},
		{"pending delivery", func(s *checkpoint.Store) error {
			s.PutDelivery(7, garbage)
			return s.Flush(nil)
		}, "pending delivery 7"},
		{"state rule record", func(s *checkpoint.Store) error {
			s.PutStateRule("running", garbage)
			return s.Flush(nil)
		}, `state rule "running"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, err := checkpoint.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.write(s); err != nil {
				t.Fatal(err)
			}
			s.Close()
			cfg, err := config.Parse("events.yml", []byte("cluster:\n  a: tcp://a.invalid:2375\n"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(Options{Config: cfg, StateDir: dir})
			var ce *checkpoint.CorruptError
			if !errors.As(err, &ce) || ce.Path != filepath.Join(dir, checkpoint.FileName) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want a CorruptError of %s about %s", err, filepath.Join(dir, checkpoint.FileName), tt.want)
			}
			// Refused, not taken: the file is not locked any more.
			s, err = checkpoint.Open(dir)
			if err != nil {
				t.Fatalf("state file still held after New failed: %v", err)
			}
			s.Close()
		})
	}
}
