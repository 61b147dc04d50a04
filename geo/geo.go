package geo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Location is what the databases know about a client address. The zero value
// means nothing is known.
type Location struct {
	// Found is true when some City- or Country-like database knew the
	// address: at least one of Country, Continent or the coordinates is set.
	// An ASN alone does not make a location.
	Found bool
	// Country is the ISO 3166-1 alpha-2 code, upper case; "" if unknown.
	// Where a database gives only the registered country, that is used.
	Country string
	// Subdivision is the ISO 3166-2 code of the first (largest) subdivision
	// without its country prefix, e.g. "CA" or "ENG" (callers compose
	// "US-CA"); "" if unknown.
	Subdivision string
	// Continent is one of AF AN AS EU NA OC SA; "" if unknown.
	Continent string
	// Lat and Lon are decimal degrees, valid when HasLatLon.
	Lat, Lon  float64
	HasLatLon bool
	// ASN is the autonomous system number, 0 if unknown. An ASN database
	// wins over an ASN carried in a City record.
	ASN uint32
	// Prefix is the database network the address fell in, from the database
	// that supplied the location, in the address's own family: an IPv4
	// client gets an IPv4 prefix such as 81.2.69.160/27, never the
	// ::ffff:0:0/96 form. Invalid (the zero Prefix) when Found is false.
	Prefix netip.Prefix
}

// Info describes one database file of a DB, for logs and the status page.
type Info struct {
	Path string
	// Type is the file's own database_type, e.g. "GeoIP2-City".
	Type string
	// Kind is how the file is used: "city" (location, with coordinates where
	// present), "country" (location without them) or "asn".
	Kind string
	// BuildTime is when the file says it was built.
	BuildTime time.Time
	// LoadedAt is when the version now serving was read.
	LoadedAt time.Time
	// Err is the last reload error for this file ("" when the last reload
	// read it fine). A file with Err set keeps serving its previous version.
	Err string
}

// FileError says which database file failed to load and why. Open and
// Reload return them (joined when several files fail).
type FileError struct {
	Path string
	// Problem is a short description: "cannot read file", "not a MaxMind
	// database", "corrupt database", "unknown database type".
	Problem string
	Err     error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("geoip database %s: %s: %v", e.Path, e.Problem, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// kind is how a database is used.
type kind uint8

const (
	kindCity kind = iota + 1
	kindCountry
	kindASN
)

func (k kind) String() string {
	switch k {
	case kindCity:
		return "city"
	case kindCountry:
		return "country"
	case kindASN:
		return "asn"
	}
	return "unknown"
}

// file is one loaded database. Read-only once published in a readerSet.
type file struct {
	path     string
	kind     kind
	reader   *maxminddb.Reader
	data     []byte // the bytes reader reads; compared on reload to skip unchanged files
	loadedAt time.Time
	err      string // last reload error
}

// readerSet is the state a DB publishes: immutable but for the caches of
// decoded records.
type readerSet struct {
	files []*file             // in the order given to Open, for Info
	loc   []*maxminddb.Reader // City-like files first, then Country; each in Open order
	asn   []*maxminddb.Reader // ASN files, in Open order
	// Decoded records by their data offset, one cache per reader (loc's,
	// then asn's). Many networks share a record (every GB address of a
	// country database, a whole city), so the walk down the search tree
	// stays per query but decoding the record (most of a lookup's cost)
	// happens once per record that stays in its slot.
	caches []*recCache
	gen    uint64 // from setGen: Version
}

// setGen numbers the reader sets of every DB, so that no two share a
// Version.
var setGen atomic.Uint64

// recCacheSize is the slots per database file: 32 KiB of pointers.
const recCacheSize = 4096

// recCache is a direct-mapped cache of decoded records; a slot is replaced
// whole (a new decoded value), never written in place.
type recCache [recCacheSize]atomic.Pointer[decoded]

// decoded is what Locate uses of one record.
type decoded struct {
	off    uintptr
	ok     bool // it decoded
	asn    uint32
	hasLoc bool
	loc    Location // Country, Subdivision, Continent and coordinates
}

func newSet(files []*file) *readerSet {
	s := &readerSet{files: files, gen: setGen.Add(1)}
	for _, k := range []kind{kindCity, kindCountry} {
		for _, f := range files {
			if f.kind == k {
				s.loc = append(s.loc, f.reader)
			}
		}
	}
	for _, f := range files {
		if f.kind == kindASN {
			s.asn = append(s.asn, f.reader)
		}
	}
	s.caches = make([]*recCache, len(s.loc)+len(s.asn))
	for i := range s.caches {
		s.caches[i] = new(recCache)
	}
	return s
}

// decode returns the record res found in reader i's cache (see caches),
// decoding it into rec on a miss.
func (s *readerSet) decode(i int, res maxminddb.Result, rec *record) *decoded {
	off := res.Offset()
	slot := &s.caches[i][(off>>2)%recCacheSize] // records are at least 4 bytes apart
	if d := slot.Load(); d != nil && d.off == off {
		return d
	}
	rec.reset()
	d := &decoded{off: off}
	if res.Decode(rec) == nil {
		d.ok, d.asn, d.hasLoc = true, rec.asn, rec.hasLocation()
		if d.hasLoc {
			rec.fill(&d.loc)
		}
	}
	slot.Store(d)
	return d
}

// DB is a set of MaxMind-format databases (City, Country, ASN) answering
// Locate. Locate is lock-free and safe from many goroutines, also while a
// Reload runs. A nil *DB is valid: it locates nothing, so the server can run
// without databases.
type DB struct {
	log      *slog.Logger
	cur      atomic.Pointer[readerSet]
	mu       sync.Mutex // serialises Reload; never taken by Locate or Info
	records  sync.Pool  // *record scratch for Locate
	debounce time.Duration
	// watching, when set (by tests), is called once Watch has its watches.
	watching func()
}

// Open loads the databases at paths. Each file's type comes from its
// database_type metadata (a name containing City, Enterprise or Location is
// City-like, Country is Country, ASN or ISP is ASN, as in GeoLite2-City,
// GeoIP2-Country, DBIP-ASN-Lite); a file with another name is used if its
// records carry a country, continent, coordinates or an ASN. Every file is
// fully verified first. If any file is missing, unreadable, corrupt or of an
// unknown type, Open returns an error naming each such file and why, and no
// DB. No paths gives an empty DB. log may be nil.
func Open(paths []string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &DB{log: log.With("component", "geo"), debounce: 200 * time.Millisecond}
	d.records.New = func() any { return new(record) }

	var errs []error
	seen := make(map[string]bool, len(paths))
	files := make([]*file, 0, len(paths))
	for _, p := range paths {
		key := p
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if seen[key] {
			errs = append(errs, &FileError{Path: p, Problem: "listed twice", Err: errors.New("each file may be given once")})
			continue
		}
		seen[key] = true
		f, err := load(p, nil, time.Now())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, f)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, f := range files {
		d.logLoaded(f)
	}
	d.cur.Store(newSet(files))
	return d, nil
}

// load reads and verifies the database at path. If prev holds a reader of
// the same bytes, it returns a copy of prev (with its error cleared) instead.
func load(path string, prev *file, now time.Time) (*file, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the FileError
		}
		return nil, &FileError{Path: path, Problem: "cannot read file", Err: err}
	}
	if prev != nil && prev.reader != nil && bytes.Equal(data, prev.data) {
		f := *prev
		f.err = ""
		return &f, nil
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, &FileError{Path: path, Problem: "not a MaxMind database", Err: err}
	}
	if err := r.Verify(); err != nil {
		return nil, &FileError{Path: path, Problem: "corrupt database", Err: err}
	}
	k, err := detectKind(r)
	if err != nil {
		return nil, &FileError{Path: path, Problem: "unknown database type", Err: err}
	}
	return &file{path: path, kind: k, reader: r, data: data, loadedAt: now}, nil
}

// probeRecords is how many records detectKind decodes for an unnamed type.
const probeRecords = 256

// detectKind decides how a database is used, from its database_type where
// that names a known schema, else from what its first records carry.
func detectKind(r *maxminddb.Reader) (kind, error) {
	t := r.Metadata.DatabaseType
	words := strings.FieldsFunc(strings.ToLower(t), func(c rune) bool {
		return (c < 'a' || c > 'z') && (c < '0' || c > '9')
	})
	has := func(w ...string) bool {
		for _, x := range words {
			for _, y := range w {
				if x == y {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("city", "enterprise", "location"):
		return kindCity, nil
	case has("country"):
		return kindCountry, nil
	case has("asn", "isp"):
		return kindASN, nil
	}

	var rec record
	n := 0
	var sawLocation, sawASN bool
	for res := range r.Networks() {
		if n++; n > probeRecords {
			break
		}
		rec.reset()
		if err := res.Decode(&rec); err != nil {
			return 0, fmt.Errorf("type %q: reading a record: %w", t, err)
		}
		if rec.latLon() {
			return kindCity, nil
		}
		sawLocation = sawLocation || rec.hasLocation()
		sawASN = sawASN || rec.asn != 0
	}
	switch {
	case sawLocation:
		return kindCountry, nil
	case sawASN:
		return kindASN, nil
	}
	return 0, fmt.Errorf("%q: its records carry no country, continent, coordinates or ASN", t)
}

// Locate returns what the databases know about a. IPv4-mapped IPv6 addresses
// are unmapped first and zones are ignored. The location (and Prefix) comes
// from the first City-like, then Country-like database that knows a; the ASN
// from the first ASN database that knows it, else from the location record.
// It takes no lock and allocates nothing in the common case (a record
// decoded before and still cached; a record decoded anew allocates its
// cache entry).
func (d *DB) Locate(a netip.Addr) Location {
	var loc Location
	if d == nil || !a.IsValid() {
		return loc
	}
	set := d.cur.Load()
	if set == nil {
		return loc
	}
	a = a.Unmap().WithZone("")
	rec := d.records.Get().(*record)
	defer d.records.Put(rec)

	for i, r := range set.loc {
		res := r.Lookup(a)
		if !res.Found() {
			continue
		}
		d := set.decode(i, res, rec)
		if !d.ok {
			continue // a record this file cannot decode: try the next file
		}
		if loc.ASN == 0 {
			loc.ASN = d.asn
		}
		if !d.hasLoc {
			continue
		}
		asn := loc.ASN
		loc = d.loc
		loc.ASN = asn
		loc.Found = true
		loc.Prefix = familyPrefix(res.Prefix(), a)
		break
	}
	for i, r := range set.asn {
		res := r.Lookup(a)
		if !res.Found() {
			continue
		}
		if d := set.decode(len(set.loc)+i, res, rec); d.ok && d.asn != 0 {
			loc.ASN = d.asn
			break
		}
	}
	return loc
}

// familyPrefix returns p in a's family. maxminddb already gives IPv4 clients
// IPv4 prefixes for networks inside the IPv4 subtree; a record covering more
// than the whole IPv4 space (an IPv6 prefix shorter than /96) holds for every
// IPv4 address, i.e. 0.0.0.0/0.
func familyPrefix(p netip.Prefix, a netip.Addr) netip.Prefix {
	if a.Is4() && p.Addr().Is6() {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return p.Masked()
}

// Version identifies the set of databases Locate answers from: every
// Reload publishes a new set with a new Version, and nothing else changes
// Locate's answers, so a caller may keep Locate's answer for an address
// while Version stays the same. Versions are never 0, except for a nil DB.
func (d *DB) Version() uint64 {
	if d == nil {
		return 0
	}
	if set := d.cur.Load(); set != nil {
		return set.gen
	}
	return 0
}

// Info describes each database file, in the order given to Open.
func (d *DB) Info() []Info {
	if d == nil {
		return nil
	}
	set := d.cur.Load()
	if set == nil {
		return nil
	}
	out := make([]Info, len(set.files))
	for i, f := range set.files {
		out[i] = Info{
			Path:      f.path,
			Type:      f.reader.Metadata.DatabaseType,
			Kind:      f.kind.String(),
			BuildTime: f.reader.Metadata.BuildTime().UTC(),
			LoadedAt:  f.loadedAt,
			Err:       f.err,
		}
	}
	return out
}

func (d *DB) logLoaded(f *file) {
	d.log.Info("geoip database loaded",
		"file", f.path,
		"type", f.reader.Metadata.DatabaseType,
		"kind", f.kind.String(),
		"build_time", f.reader.Metadata.BuildTime().UTC().Format(time.RFC3339))
}
