package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchSettle is how long the config's directory must be quiet after a
// change before the file is read: an editor's write-then-rename, or a
// ConfigMap's swap of its ..data symlink, is several events. watchMaxDelay
// bounds the wait in a directory that is never quiet (a log file written
// beside the config): the file is read at the latest that long after the
// first change.
const (
	watchSettle   = 100 * time.Millisecond
	watchMaxDelay = time.Second
)

// WatchConfig reloads the config file whenever its content changes, until
// ctx is done. It watches the file's directory, not the file: an editor
// that writes a new file and renames it over the old one, and a Kubernetes
// ConfigMap whose ..data symlink is swapped to a new directory, replace the
// file the daemon would be watching. When the file is a symlink into
// another directory, that directory is watched too (followed when the link
// changes). Any change in a watched directory makes it read the file again
// once the directory is quiet for 100 ms (at the latest 1 s after the first
// change), and reload when the content's hash differs from the last one read
// (ReloadIfChanged). It returns an error when the directory cannot be
// watched, nil when ctx is done.
func (d *Daemon) WatchConfig(ctx context.Context) error {
	file := d.opts.Config.File
	if file == "" {
		return errors.New("watch config: the daemon runs the default config, no file")
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	defer w.Close()
	dir := filepath.Dir(file)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch config %s: %w", dir, err)
	}
	d.log.Info("Watching the config file", "file", file, "dir", dir)
	target := d.followTarget(w, file, dir, "")
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	var first time.Time // of the changes not read yet; zero when none
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			d.log.V(2).Info("Config directory changed", "name", ev.Name, "op", ev.Op.String())
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			if wait := min(watchSettle, first.Add(watchMaxDelay).Sub(now)); wait > 0 {
				settle.Reset(wait)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			d.log.Error(err, "Watching the config file", "file", file)
		case <-settle.C:
			first = time.Time{}
			target = d.followTarget(w, file, dir, target)
			if _, changed, err := d.ReloadIfChanged(); changed && err == nil {
				d.log.Info("Config file changed, reloaded", "file", file)
			}
		}
	}
}

// followTarget watches the directory the config file's symlinks lead to
// when it is not dir (nor the one watched already, prev), and stops
// watching prev then. It returns the directory now watched for the target,
// "" when none.
func (d *Daemon) followTarget(w *fsnotify.Watcher, file, dir, prev string) string {
	real, err := filepath.EvalSymlinks(file)
	if err != nil {
		return prev // not there now: the next change looks again
	}
	next, err := filepath.Abs(filepath.Dir(real))
	if err != nil {
		return prev
	}
	if abs, err := filepath.Abs(dir); err == nil && next == abs {
		next = ""
	}
	if next == prev {
		return prev
	}
	if prev != "" {
		_ = w.Remove(prev) // gone already when a ConfigMap swap deleted it
	}
	if next != "" {
		if err := w.Add(next); err != nil {
			d.log.Error(err, "Watching the config file's target directory", "file", file, "dir", next)
			return ""
		}
		d.log.V(1).Info("Watching the config file's target directory", "file", file, "dir", next)
	}
	return next
}
