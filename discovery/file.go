package discovery

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
)

// fileSettle is how long the file's directory must be quiet after a change
// before the file is read (an editor's write-then-rename, a ConfigMap's
// symlink swap, are several events).
const fileSettle = 100 * time.Millisecond

// File is a file source: a YAML mapping of engine names to a URL or to
// {url, tls, labels}, as cluster: (see config.Loader.ParseEngineFile). It
// watches the file's directory, so that a file renamed over it and a
// swapped symlink count as changes. A file that is missing or is no
// mapping is a source that cannot be reached: the last set stays, and it
// is read again at the next change of the directory, or after a backoff.
type File struct {
	// Path is the engines file.
	Path string
	opts Options
}

// Kind returns config.DiscoveryFile.
func (f *File) Kind() string { return config.DiscoveryFile }

// Run watches the file until ctx is done.
func (f *File) Run(ctx context.Context, push func([]config.Engine)) {
	log := logr.FromContextOrDiscard(ctx).WithValues("source", config.DiscoveryFile, "file", f.Path)
	bo := f.opts.newBackoff()
	for ctx.Err() == nil {
		if err := f.watch(ctx, log, push); err != nil {
			log.Error(err, "Discovery: cannot watch the engines file, retrying")
			if !sleep(ctx, bo.NextBackOff()) {
				return
			}
			continue
		}
		bo.Reset()
	}
}

// watch reads the file at start and at each change until ctx is done; it
// returns an error when the directory cannot be watched.
func (f *File) watch(ctx context.Context, log logr.Logger, push func([]config.Engine)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(f.Path)); err != nil {
		return err
	}
	var last []byte
	read := func() bool {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			log.Error(err, "Discovery: cannot read the engines file, its last engines stay")
			return false
		}
		if last != nil && bytes.Equal(data, last) {
			return true
		}
		got, err := f.opts.Loader.ParseEngineFile(f.Path, data)
		if err != nil {
			log.Error(err, "Discovery: the engines file is no mapping of engines, its last engines stay")
			return false
		}
		for _, e := range got.Skipped {
			log.Error(e, "Discovery: bad entry skipped", "key", e.Field, "line", e.Line, "col", e.Col)
		}
		last = data
		config.SortEngines(got.Engines)
		push(got.Engines)
		return true
	}
	bo := f.opts.newBackoff()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	if !read() {
		retry.Reset(bo.NextBackOff())
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			log.V(2).Info("Discovery: engines file directory changed", "name", ev.Name, "op", ev.Op.String())
			settle.Reset(fileSettle)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Error(err, "Discovery: watching the engines file")
		case <-settle.C:
			if read() {
				bo.Reset()
				retry.Stop()
			} else {
				retry.Reset(bo.NextBackOff())
			}
		case <-retry.C:
			if read() {
				bo.Reset()
			} else {
				retry.Reset(bo.NextBackOff())
			}
		}
	}
}
