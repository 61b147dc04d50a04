package geo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Reload re-reads every file and then publishes the new set in one atomic
// swap, so a lookup sees either the old or the new set, never a mix. A file
// whose bytes did not change keeps its reader. A file that fails (missing,
// corrupt, of an unknown type) keeps serving its previous version; its error
// is logged at Warn, shown in Info, and returned (joined with the others).
// Callers need not log the returned error again. Reload on a nil DB is a
// no-op. Concurrent calls are serialised.
func (d *DB) Reload() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.cur.Load()
	if old == nil {
		return nil
	}
	now := time.Now()
	files := make([]*file, len(old.files))
	var errs []error
	for i, prev := range old.files {
		f, err := load(prev.path, prev, now)
		if err != nil {
			kept := *prev
			kept.err = err.Error()
			files[i] = &kept
			errs = append(errs, err)
			d.log.Warn("geoip reload rejected", "file", prev.path, "err", err)
			continue
		}
		files[i] = f
		if f.reader != prev.reader {
			d.logLoaded(f)
		}
	}
	d.cur.Store(newSet(files))
	return errors.Join(errs...)
}

// Watch reloads the databases when their files change, until ctx is done; it
// then returns nil. It watches the files' directories rather than the files:
// geoipupdate (like most careful writers) writes a temporary file and renames
// it over the old one, which a watch on the old file would never see. Events
// for the database names start a short debounce, so a burst of writes is one
// Reload. Failed reloads are logged by Reload. Watch returns an error only if
// it cannot set up the watches. On a nil or empty DB it just waits for ctx.
func (d *DB) Watch(ctx context.Context) error {
	if d == nil || d.cur.Load() == nil || len(d.cur.Load().files) == 0 {
		<-ctx.Done()
		return nil
	}
	want := make(map[string]bool) // database paths
	dirs := make(map[string]bool) // directory → any name in it matters
	for _, f := range d.cur.Load().files {
		abs, err := filepath.Abs(f.path)
		if err != nil {
			return fmt.Errorf("geoip watch %s: %w", f.path, err)
		}
		want[abs] = true
		dir := filepath.Dir(abs)
		// A symlinked file (a Kubernetes volume, a versioned-file scheme) can
		// change through a rename of some other name in its directory, so
		// every event there counts. Unchanged files reload cheaply.
		fi, err := os.Lstat(abs)
		dirs[dir] = dirs[dir] || (err == nil && fi.Mode()&fs.ModeSymlink != 0)
	}

	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("geoip watch: %w", err)
	}
	defer w.Close()
	for dir := range dirs {
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("geoip watch %s: %w", dir, err)
		}
	}
	if d.watching != nil {
		d.watching()
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			name := filepath.Clean(ev.Name)
			if ev.Op == fsnotify.Chmod || !(want[name] || dirs[filepath.Dir(name)]) {
				continue
			}
			timer.Reset(d.debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			d.log.Warn("geoip watch error", "err", err)
		case <-timer.C:
			_ = d.Reload() // Reload logs each failure
		}
	}
}
