package discovery

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileSourceFollowsRenamesAndSymlinkSwapsAndKeepsItsSetOverABrokenFile(t *testing.T) {
	dir := t.TempDir()
	// As a Kubernetes ConfigMap: engines.yml -> ..data/engines.yml, ..data
	// a symlink to a versioned directory swapped by rename.
	version := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "engines.yml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("v1", "a: tcp://127.0.0.1:1\n")
	file := filepath.Join(dir, "engines.yml")
	if err := os.Symlink("..data/engines.yml", file); err != nil {
		t.Fatal(err)
	}
	s := run(t, &File{Path: file, opts: fast})
	s.wait("a=tcp://127.0.0.1:1")
	version("v2", "a: tcp://127.0.0.1:1\nb: {url: tcp://127.0.0.1:2}\nbad: nope\n")
	s.wait("a=tcp://127.0.0.1:1 b=tcp://127.0.0.1:2")
	version("v3", "[broken\n")
	version("v4", "b: tcp://127.0.0.1:2\n")
	pushes := s.wait("b=tcp://127.0.0.1:2")
	none(t, pushes, "b=tcp://127.0.0.1:2")
}

func TestFileSourceThatIsMissingPushesNothingUntilItAppears(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "engines.yml")
	s := run(t, &File{Path: file, opts: fast})
	s.quiet(300 * 1e6)
	if err := os.WriteFile(file+".tmp", []byte("a: tcp://127.0.0.1:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
	s.wait("a=tcp://127.0.0.1:1")
}
