package zones

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
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

	mu      sync.Mutex // one load at a time
	files   map[string]*fileState
	serials map[string]uint32 // origin → highest serial served, so serials never fall
	serving map[string]string // origin → the file serving it
}

type fileState struct {
	zone *Zone // last good version served, nil if never served
	err  error // last read or parse error
}

// NewLoader returns a loader for the *.toml files in dir.
func NewLoader(dir string) *Loader { return &Loader{Dir: dir, files: map[string]*fileState{}} }

// Load reads every zone file and builds a snapshot. The snapshot holds the
// new version of each good file and the last good version of each bad one;
// the error (ConfigErrors) lists the problems. A missing directory is an
// error and yields no snapshot.
//
// A file whose content (sha256) is unchanged keeps its *Zone by pointer,
// serial included, even if its modification time changed. When two files
// claim one origin, the file already serving it keeps it; between new
// claimants the first by path wins. The others are reported and serve
// nothing.
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
	if l.files == nil {
		l.files = map[string]*fileState{}
	}
	if l.serials == nil {
		l.serials, l.serving = map[string]uint32{}, map[string]string{}
	}
	type candidate struct {
		path string
		st   *fileState
		z    *Zone
		new  bool // a version not yet served
	}
	var cands []candidate
	seen := map[string]bool{}
	fileErrs := map[string]ConfigErrors{}
	for _, path := range paths {
		seen[path] = true
		st := l.files[path]
		if st == nil {
			st = &fileState{}
			l.files[path] = st
		}
		z, err := readZone(path, st.zone)
		switch {
		case err != nil:
			st.err = err
			fileErrs[path] = asConfigErrors(path, err)
			if st.zone != nil {
				cands = append(cands, candidate{path, st, st.zone, false})
			}
		case st.zone != nil && st.zone.Hash == z.Hash:
			st.err = nil
			cands = append(cands, candidate{path, st, st.zone, false}) // unchanged: same pointer
		default:
			st.err = nil
			z.LoadedAt = now()
			if z.AutoSerial {
				floor := l.serials[z.Origin]
				if st.zone != nil {
					floor = max(floor, st.zone.Serial)
				}
				z.setSerial(autoSerial(z.ModTime, floor))
			}
			cands = append(cands, candidate{path, st, z, true})
		}
	}
	for path := range l.files {
		if !seen[path] {
			delete(l.files, path) // a removed file removes its zone
		}
	}
	// The file already serving an origin goes first, so that a second file
	// claiming it is the one rejected.
	sort.SliceStable(cands, func(i, j int) bool {
		return l.serving[cands[i].z.Origin] == cands[i].path && l.serving[cands[j].z.Origin] != cands[j].path
	})
	zs := make([]*Zone, len(cands))
	for i, c := range cands {
		zs[i] = c.z
	}
	snap, dups := NewSnapshot(zs, now())
	for _, e := range dups {
		fileErrs[e.File] = append(fileErrs[e.File], e)
	}
	serving := map[string]*Zone{}
	l.serving = map[string]string{}
	for _, c := range cands {
		if snap.zones[c.z.Origin] != c.z {
			continue // rejected: a new version is not kept as the last good one
		}
		if c.new {
			c.st.zone = c.z
		}
		serving[c.path] = c.z
		l.serving[c.z.Origin] = c.path
		l.serials[c.z.Origin] = max(l.serials[c.z.Origin], c.z.Serial)
	}
	var errs ConfigErrors
	for _, path := range paths {
		fs := FileStatus{File: path, Zone: serving[path]}
		if fs.Zone != nil {
			fs.Origin = fs.Zone.Origin
		}
		if es := fileErrs[path]; len(es) > 0 {
			es.sort()
			fs.Err = es
			errs = append(errs, es...)
		}
		snap.Files = append(snap.Files, fs)
	}
	if len(errs) > 0 {
		errs.sort()
		return snap, errs
	}
	return snap, nil
}

// autoSerial derives a serial from a file's modification time (seconds
// since 1970), and makes it exceed floor, the highest serial this origin
// had, so that it rises on every change within one process.
func autoSerial(mod time.Time, floor uint32) uint32 {
	s := uint32(1)
	if u := mod.Unix(); u > 1 {
		s = uint32(min(u, math.MaxUint32))
	}
	if floor != 0 && s <= floor {
		s = floor + 1
	}
	return s
}

// NewSnapshot assembles zones into a snapshot. A zone whose origin an
// earlier one in zs already has is left out and reported.
func NewSnapshot(zs []*Zone, now time.Time) (*Snapshot, ConfigErrors) {
	s := &Snapshot{zones: map[string]*Zone{}, Built: now}
	var errs ConfigErrors
	for _, z := range zs {
		if other, dup := s.zones[z.Origin]; dup {
			e := &ConfigError{File: z.File, Line: 1, Col: 1, Msg: fmt.Sprintf("duplicate zone %q (already loaded from %s)", z.Origin, other.File)}
			if z.originAt.line > 0 {
				e.Line, e.Col, e.Key = z.originAt.line, z.originAt.col, "origin"
			}
			errs = append(errs, e)
			continue
		}
		s.zones[z.Origin] = z
		s.list = append(s.list, z)
		s.maxLen = max(s.maxLen, z.Labels)
	}
	sort.Slice(s.list, func(i, j int) bool { return s.list[i].Origin < s.list[j].Origin })
	n := 0
	for _, z := range s.list {
		n += len(z.Nodes)
	}
	s.names = make(map[string]nodeRef, n)
	for _, z := range s.list {
		for name, node := range z.Nodes {
			if s.Find(name) == z {
				s.names[name] = nodeRef{z, node}
			}
		}
	}
	return s, errs
}

// readZone reads and parses one file, taking its modification time from
// the file it read (not from a later stat, which may see a newer file).
// When the content is that of prev (same hash), prev is returned without
// parsing: a reload parses only the files that changed.
func readZone(path string, prev *Zone) (*Zone, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file") // a named pipe would block the open
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	src, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.Hash == sha256.Sum256(src) {
		return prev, nil
	}
	return Parse(path, src, fi.ModTime())
}

func asConfigErrors(path string, err error) ConfigErrors {
	if es := Errors(err); es != nil {
		return es
	}
	return ConfigErrors{{File: path, Msg: cleanFSErr(err)}}
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
	read := map[string]bool{}
	for _, f := range files {
		if read[filepath.Clean(f)] {
			continue // named twice, e.g. as a file and through its directory
		}
		read[filepath.Clean(f)] = true
		z, err := readZone(f, nil)
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
