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
// ConfigMap's swap of its ..data symlink, is several events.
const watchSettle = 100 * time.Millisecond

// WatchConfig reloads the config file whenever its content changes, until
// ctx is done. It watches the file's directory, not the file: an editor
// that writes a new file and renames it over the old one, and a Kubernetes
// ConfigMap whose ..data symlink is swapped to a new directory, replace the
// file the daemon would be watching. Any change in the directory makes it
// read the file again once the directory is quiet for 100 ms, and reload
// when the content's hash differs from the last one read
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
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			d.log.V(2).Info("Config directory changed", "name", ev.Name, "op", ev.Op.String())
			settle.Reset(watchSettle)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			d.log.Error(err, "Watching the config file", "file", file)
		case <-settle.C:
			if _, changed, err := d.ReloadIfChanged(); changed && err == nil {
				d.log.Info("Config file changed, reloaded", "file", file)
			}
		}
	}
}
