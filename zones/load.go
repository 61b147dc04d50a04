package zones

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Store publishes whole snapshots. Readers never lock; a reload never
// blocks a query.
type Store struct{ cur atomic.Pointer[Snapshot] }

// Current returns the snapshot being served (nil before the first load).
func (s *Store) Current() *Snapshot { return s.cur.Load() }

// Replace publishes n; the old snapshot is collected once unused.
func (s *Store) Replace(n *Snapshot) { s.cur.Store(n) }

// Loader loads a zones directory again and again, keeping the last good
// version of every file that fails, reusing unchanged files by pointer, and
// keeping automatic serials rising.
type Loader struct {
	Dir string
	Now func() time.Time // nil: time.Now

	mu    sync.Mutex // one load at a time
	files map[string]*fileState
}

type fileState struct {
	zone *Zone // last good version, nil if never loaded
	err  error
}

// NewLoader returns a loader for the *.toml files in dir.
func NewLoader(dir string) *Loader { return &Loader{Dir: dir, files: map[string]*fileState{}} }

// Load reads every zone file and builds a snapshot. The snapshot holds the
// new version of each good file and the last good version of each bad one;
// the error (ConfigErrors) lists the problems. A missing directory is an
// error and yields no snapshot.
func (l *Loader) Load() (*Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	paths, err := zoneFiles(l.Dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var errs ConfigErrors
	for _, path := range paths {
		seen[path] = true
		st := l.files[path]
		if st == nil {
			st = &fileState{}
			l.files[path] = st
		}
		z, err := readZone(path)
		if err != nil {
			st.err = err
			errs = append(errs, asConfigErrors(path, err)...)
			continue
		}
		st.err = nil
		prev := st.zone
		if prev != nil && prev.Hash == z.Hash && prev.ModTime.Equal(z.ModTime) {
			continue // unchanged: keep the pointer (and its serial)
		}
		z.LoadedAt = now()
		if z.AutoSerial {
			z.setSerial(autoSerial(z.ModTime, prev, z))
		}
		st.zone = z
	}
	for path := range l.files {
		if !seen[path] {
			delete(l.files, path) // a removed file removes its zone
		}
	}
	snap, dupErrs := l.build(now())
	errs = append(errs, dupErrs...)
	if len(errs) > 0 {
		errs.sort()
		return snap, errs
	}
	return snap, nil
}

// autoSerial derives a serial from the file's modification time, and never
// lets it fall or repeat while the content changes within this process.
func autoSerial(mod time.Time, prev *Zone, z *Zone) uint32 {
	s := uint32(mod.Unix())
	if prev != nil && prev.Hash != z.Hash && s <= prev.Serial {
		s = prev.Serial + 1
	}
	if prev != nil && prev.Hash == z.Hash {
		s = max(s, prev.Serial)
	}
	return s
}

func (l *Loader) build(now time.Time) (*Snapshot, ConfigErrors) {
	paths := make([]string, 0, len(l.files))
	for p := range l.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var zs []*Zone
	var statuses []FileStatus
	for _, p := range paths {
		st := l.files[p]
		fs := FileStatus{File: p, Err: st.err, Zone: st.zone}
		if st.zone != nil {
			fs.Origin = st.zone.Origin
			zs = append(zs, st.zone)
		}
		statuses = append(statuses, fs)
	}
	snap, errs := NewSnapshot(zs, now)
	for i := range statuses {
		for _, e := range errs {
			if e.File == statuses[i].File {
				statuses[i].Err = e
				statuses[i].Zone = nil
			}
		}
	}
	snap.Files = statuses
	return snap, errs
}

// NewSnapshot assembles zones into a snapshot. A second zone with an origin
// already taken is left out and reported.
func NewSnapshot(zs []*Zone, now time.Time) (*Snapshot, ConfigErrors) {
	s := &Snapshot{zones: map[string]*Zone{}, Built: now}
	var errs ConfigErrors
	for _, z := range zs {
		if other, dup := s.zones[z.Origin]; dup {
			errs = append(errs, &ConfigError{File: z.File, Line: 1, Col: 1, Msg: fmt.Sprintf("duplicate zone %q (already loaded from %s)", z.Origin, other.File)})
			continue
		}
		s.zones[z.Origin] = z
		s.list = append(s.list, z)
		s.maxLen = max(s.maxLen, z.Labels)
	}
	sort.Slice(s.list, func(i, j int) bool { return s.list[i].Origin < s.list[j].Origin })
	return s, errs
}

func readZone(path string) (*Zone, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var mod time.Time
	if fi, err := os.Stat(path); err == nil {
		mod = fi.ModTime()
	}
	return Parse(path, src, mod)
}

func asConfigErrors(path string, err error) ConfigErrors {
	if es := Errors(err); es != nil {
		return es
	}
	return ConfigErrors{{File: path, Msg: err.Error()}}
}

// zoneFiles lists dir/*.toml, sorted. Hidden and editor temporary files are
// skipped so a half-written save is never loaded.
func zoneFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".toml") || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "#") {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	return out, nil
}

// IsZoneFile reports whether name (a base name) is one Load reads.
func IsZoneFile(name string) bool {
	return strings.HasSuffix(name, ".toml") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "#")
}

// LoadPaths parses zone files and directories of them, as `gslb check`
// does: every file, every error, then duplicate origins across them.
func LoadPaths(paths ...string) ([]*Zone, error) {
	var files []string
	var errs ConfigErrors
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &ConfigError{File: p, Msg: cleanFSErr(err)})
			continue
		}
		if fi.IsDir() {
			fs, err := zoneFiles(p)
			if err != nil {
				errs = append(errs, &ConfigError{File: p, Msg: cleanFSErr(err)})
			}
			if len(fs) == 0 && err == nil {
				errs = append(errs, &ConfigError{File: p, Msg: "no *.toml zone files in directory"})
			}
			files = append(files, fs...)
		} else {
			files = append(files, p)
		}
	}
	var zs []*Zone
	for _, f := range files {
		z, err := readZone(f)
		if err != nil {
			errs = append(errs, asConfigErrors(f, err)...)
			continue
		}
		zs = append(zs, z)
	}
	snap, dup := NewSnapshot(zs, time.Now())
	errs = append(errs, dup...)
	if len(errs) > 0 {
		errs.sort()
		return snap.list, errs
	}
	return snap.list, nil
}

func cleanFSErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
