package geo

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gslb/gslb/geo/geotest"
)

var (
	london = geotest.Net{
		Prefix: netip.MustParsePrefix("81.2.69.160/27"), Country: "GB", Subdivision: "ENG",
		Continent: "EU", Lat: 51.5142, Lon: -0.0931, HasLatLon: true, ASN: 64500, City: "London",
	}
	tokyo = geotest.Net{
		Prefix: netip.MustParsePrefix("2001:218::/32"), Country: "JP", Subdivision: "13",
		Continent: "AS", Lat: 35.685, Lon: 139.753, HasLatLon: true,
	}
	gbV6 = geotest.Net{ // country and continent only, like the MaxMind test DB
		Prefix: netip.MustParsePrefix("2a02:d3c0::/29"), Country: "GB", Continent: "EU",
	}
	docNet = geotest.Net{ // a reserved (documentation) range
		Prefix: netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Subdivision: "US-CA",
		Continent: "NA", Lat: 32.74, Lon: -117.09, HasLatLon: true,
	}
	benchNet = geotest.Net{ // RFC 2544 benchmarking range, also reserved
		Prefix: netip.MustParsePrefix("198.18.1.0/24"), Country: "US", Continent: "NA",
		Lat: 40.71, Lon: -74.0, HasLatLon: true,
	}
	cityNets = []geotest.Net{london, tokyo, gbV6, docNet, benchNet}

	asnNets = []geotest.Net{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), ASN: 20712},
		{Prefix: netip.MustParsePrefix("2001:218::/32"), ASN: 2914},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), ASN: 64496},
	}
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// writeTestDBs writes the City and ASN test databases into a new directory.
func writeTestDBs(t testing.TB) (city, asn string) {
	t.Helper()
	dir := t.TempDir()
	city, asn = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := geotest.WriteCity(city, cityNets); err != nil {
		t.Fatal(err)
	}
	if err := geotest.WriteASN(asn, asnNets); err != nil {
		t.Fatal(err)
	}
	return city, asn
}

func openTest(t testing.TB, paths ...string) *DB {
	t.Helper()
	db, err := Open(paths, testLogger(t))
	if err != nil {
		t.Fatalf("Open(%q): %v", paths, err)
	}
	return db
}

func TestLocateGenerated(t *testing.T) {
	city, asn := writeTestDBs(t)
	db := openTest(t, city, asn)

	tests := []struct {
		name string
		addr string
		want Location
	}{
		{
			name: "ipv4 all fields, ASN database wins over City traits",
			addr: "81.2.69.170",
			want: Location{Found: true, Country: "GB", Subdivision: "ENG", Continent: "EU",
				Lat: 51.5142, Lon: -0.0931, HasLatLon: true, ASN: 20712,
				Prefix: netip.MustParsePrefix("81.2.69.160/27")},
		},
		{
			name: "ipv4-mapped ipv6 is unmapped, prefix in IPv4 form",
			addr: "::ffff:81.2.69.191",
			want: Location{Found: true, Country: "GB", Subdivision: "ENG", Continent: "EU",
				Lat: 51.5142, Lon: -0.0931, HasLatLon: true, ASN: 20712,
				Prefix: netip.MustParsePrefix("81.2.69.160/27")},
		},
		{
			name: "6to4 address of the same network stays IPv6",
			addr: "2002:5102:45aa::1",
			want: Location{Found: true, Country: "GB", Subdivision: "ENG", Continent: "EU",
				Lat: 51.5142, Lon: -0.0931, HasLatLon: true, ASN: 20712,
				Prefix: netip.MustParsePrefix("2002:5102:45a0::/43")},
		},
		{
			name: "ipv6",
			addr: "2001:218::1",
			want: Location{Found: true, Country: "JP", Subdivision: "13", Continent: "AS",
				Lat: 35.685, Lon: 139.753, HasLatLon: true, ASN: 2914,
				Prefix: netip.MustParsePrefix("2001:218::/32")},
		},
		{
			name: "ipv6 with zone",
			addr: "2001:218::1%eth0",
			want: Location{Found: true, Country: "JP", Subdivision: "13", Continent: "AS",
				Lat: 35.685, Lon: 139.753, HasLatLon: true, ASN: 2914,
				Prefix: netip.MustParsePrefix("2001:218::/32")},
		},
		{
			name: "country and continent without coordinates",
			addr: "2a02:d3c7:ffff::1",
			want: Location{Found: true, Country: "GB", Continent: "EU",
				Prefix: netip.MustParsePrefix("2a02:d3c0::/29")},
		},
		{
			name: "reserved documentation range, subdivision given with country prefix",
			addr: "192.0.2.77",
			want: Location{Found: true, Country: "US", Subdivision: "CA", Continent: "NA",
				Lat: 32.74, Lon: -117.09, HasLatLon: true,
				Prefix: netip.MustParsePrefix("192.0.2.0/24")},
		},
		{
			name: "reserved benchmarking range",
			addr: "198.18.1.9",
			want: Location{Found: true, Country: "US", Continent: "NA",
				Lat: 40.71, Lon: -74.0, HasLatLon: true,
				Prefix: netip.MustParsePrefix("198.18.1.0/24")},
		},
		{
			name: "ASN known, location not",
			addr: "81.2.69.1",
			want: Location{ASN: 20712},
		},
		{
			name: "ASN known for a reserved range",
			addr: "203.0.113.5",
			want: Location{ASN: 64496},
		},
		{name: "unknown ipv4", addr: "10.1.2.3", want: Location{}},
		{name: "unknown ipv6", addr: "2001:db8::1", want: Location{}},
		{name: "neighbour of a known network", addr: "198.18.0.1", want: Location{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := db.Locate(netip.MustParseAddr(tt.addr))
			if got != tt.want {
				t.Errorf("Locate(%s)\n got %+v\nwant %+v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestLocateInvalidAndNil(t *testing.T) {
	var nilDB *DB
	if got := nilDB.Locate(netip.MustParseAddr("81.2.69.170")); got != (Location{}) {
		t.Errorf("nil DB: got %+v, want zero Location", got)
	}
	if err := nilDB.Reload(); err != nil {
		t.Errorf("nil DB Reload: %v", err)
	}
	if info := nilDB.Info(); info != nil {
		t.Errorf("nil DB Info: got %v, want nil", info)
	}

	empty := openTest(t)
	if got := empty.Locate(netip.MustParseAddr("81.2.69.170")); got != (Location{}) {
		t.Errorf("empty DB: got %+v, want zero Location", got)
	}

	city, _ := writeTestDBs(t)
	db := openTest(t, city)
	if got := db.Locate(netip.Addr{}); got != (Location{}) {
		t.Errorf("invalid addr: got %+v, want zero Location", got)
	}
}

func TestCityOnlyASNFromTraits(t *testing.T) {
	city, _ := writeTestDBs(t)
	db := openTest(t, city)
	got := db.Locate(netip.MustParseAddr("81.2.69.170"))
	if got.ASN != 64500 {
		t.Errorf("ASN without an ASN database: got %d, want 64500 (from traits)", got.ASN)
	}
}

func TestInfo(t *testing.T) {
	dir := t.TempDir()
	city, asn := filepath.Join(dir, "c.mmdb"), filepath.Join(dir, "a.mmdb")
	built := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := (geotest.Options{BuildTime: built}).WriteCity(city, cityNets); err != nil {
		t.Fatal(err)
	}
	if err := (geotest.Options{BuildTime: built}).WriteASN(asn, asnNets); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	db := openTest(t, city, asn)
	info := db.Info()
	if len(info) != 2 {
		t.Fatalf("Info: got %d entries, want 2", len(info))
	}
	want := []struct{ path, typ, kind string }{
		{city, "GeoIP2-City", "city"},
		{asn, "GeoLite2-ASN", "asn"},
	}
	for i, w := range want {
		got := info[i]
		if got.Path != w.path || got.Type != w.typ || got.Kind != w.kind || got.Err != "" {
			t.Errorf("Info[%d]: got %+v, want path %s type %s kind %s", i, got, w.path, w.typ, w.kind)
		}
		if !got.BuildTime.Equal(built) {
			t.Errorf("Info[%d].BuildTime: got %v, want %v", i, got.BuildTime, built)
		}
		if got.LoadedAt.Before(before.Add(-time.Second)) {
			t.Errorf("Info[%d].LoadedAt: got %v, want about %v", i, got.LoadedAt, before)
		}
	}
}

func TestTypeDetection(t *testing.T) {
	latLon := []geotest.Net{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Country: "FR", Lat: 48.85, Lon: 2.35, HasLatLon: true}}
	countryOnly := []geotest.Net{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Country: "FR", Continent: "EU"}}
	asnOnly := []geotest.Net{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), ASN: 64511}}
	nothing := []geotest.Net{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), City: "Nowhere"}}

	tests := []struct {
		name    string
		dbType  string
		nets    []geotest.Net
		asn     bool // write with WriteASN
		want    string
		wantErr string
	}{
		{name: "GeoLite2 city", dbType: "GeoLite2-City", nets: latLon, want: "city"},
		{name: "GeoIP2 country", dbType: "GeoIP2-Country", nets: countryOnly, want: "country"},
		{name: "GeoLite2 country", dbType: "GeoLite2-Country", nets: countryOnly, want: "country"},
		{name: "GeoIP2 enterprise", dbType: "GeoIP2-Enterprise", nets: latLon, want: "city"},
		{name: "DB-IP city lite", dbType: "DBIP-City-Lite", nets: latLon, want: "city"},
		{name: "DB-IP country lite", dbType: "DBIP-Country-Lite", nets: countryOnly, want: "country"},
		{name: "DB-IP ASN lite", dbType: "DBIP-ASN-Lite", nets: asnOnly, asn: true, want: "asn"},
		{name: "GeoIP2 ISP", dbType: "GeoIP2-ISP", nets: asnOnly, asn: true, want: "asn"},
		{name: "unnamed with coordinates", dbType: "Example-Geo", nets: latLon, want: "city"},
		{name: "unnamed with country", dbType: "Example-Geo", nets: countryOnly, want: "country"},
		{name: "unnamed with ASN", dbType: "Example-Routing", nets: asnOnly, asn: true, want: "asn"},
		{name: "unnamed with nothing usable", dbType: "GeoIP2-Anonymous-IP", nets: nothing,
			wantErr: `unknown database type: "GeoIP2-Anonymous-IP": its records carry no country`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.mmdb")
			o := geotest.Options{DatabaseType: tt.dbType}
			write := o.WriteCity
			if tt.asn {
				write = o.WriteASN
			}
			if err := write(p, tt.nets); err != nil {
				t.Fatal(err)
			}
			db, err := Open([]string{p}, testLogger(t))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("Open: got error %v, want one naming %s and containing %q", err, p, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := db.Info()[0].Kind; got != tt.want {
				t.Errorf("kind of %q: got %s, want %s", tt.dbType, got, tt.want)
			}
			if loc := db.Locate(netip.MustParseAddr("192.0.2.1")); !loc.Found && loc.ASN == 0 {
				t.Errorf("Locate in %q database: got %+v, want something", tt.dbType, loc)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good, _ := writeTestDBs(t)
	missing := filepath.Join(dir, "missing.mmdb")
	garbage := filepath.Join(dir, "garbage.mmdb")
	empty := filepath.Join(dir, "empty.mmdb")
	truncated := filepath.Join(dir, "truncated.mmdb")
	if err := os.WriteFile(garbage, []byte("this is not a database\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the metadata (at the end) but lose the start of the search tree.
	if err := os.WriteFile(truncated, b[len(b)/2:], 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		paths []string
		want  []string // substrings of the error
		is    error
	}{
		{name: "missing", paths: []string{good, missing}, want: []string{missing, "cannot read file", "no such file"}, is: fs.ErrNotExist},
		{name: "garbage", paths: []string{garbage}, want: []string{garbage, "not a MaxMind database"}},
		{name: "empty", paths: []string{empty}, want: []string{empty, "not a MaxMind database"}},
		{name: "truncated", paths: []string{truncated}, want: []string{truncated}},
		{name: "directory", paths: []string{dir}, want: []string{dir, "cannot read file"}},
		{name: "listed twice", paths: []string{good, good}, want: []string{good, "listed twice"}},
		{name: "every bad file is named", paths: []string{garbage, good, missing}, want: []string{garbage, missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(tt.paths, testLogger(t))
			if err == nil {
				t.Fatalf("Open(%q): got no error, want one", tt.paths)
			}
			if db != nil {
				t.Errorf("Open(%q): got a DB with error %v, want nil", tt.paths, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%q): error %q does not contain %q", tt.paths, err, w)
				}
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Errorf("Open(%q): error %v is not a *FileError", tt.paths, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Open(%q): error %v is not %v", tt.paths, err, tt.is)
			}
		})
	}
}

// replaceFile writes data beside path and renames it over path, as
// geoipupdate does.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReload(t *testing.T) {
	city, asn := writeTestDBs(t)
	db := openTest(t, city, asn)
	addr := netip.MustParseAddr("81.2.69.170")
	loadedAt := db.Info()[0].LoadedAt

	// Unchanged files keep their readers.
	if err := db.Reload(); err != nil {
		t.Fatalf("Reload of unchanged files: %v", err)
	}
	if got := db.Info()[0].LoadedAt; !got.Equal(loadedAt) {
		t.Errorf("unchanged file reloaded: LoadedAt %v, want %v", got, loadedAt)
	}

	// A corrupt replacement keeps the old reader and reports the error.
	replaceFile(t, city, []byte("corrupt"))
	err := db.Reload()
	if err == nil || !strings.Contains(err.Error(), city) {
		t.Fatalf("Reload with corrupt %s: got error %v, want one naming the file", city, err)
	}
	if got := db.Locate(addr); got.Country != "GB" {
		t.Errorf("after failed reload: Locate(%s) = %+v, want the old GB answer", addr, got)
	}
	info := db.Info()
	if !strings.Contains(info[0].Err, "not a MaxMind database") || info[1].Err != "" {
		t.Errorf("after failed reload: Info errors %q, %q; want the city file's error only", info[0].Err, info[1].Err)
	}
	if info[0].Type != "GeoIP2-City" {
		t.Errorf("after failed reload: Info type %q, want the old reader's GeoIP2-City", info[0].Type)
	}

	// A missing file also keeps the old reader.
	if err := os.Remove(city); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Reload with %s missing: got %v, want not-exist", city, err)
	}
	if got := db.Locate(addr); got.Country != "GB" {
		t.Errorf("after missing file: Locate(%s) = %+v, want the old GB answer", addr, got)
	}

	// A good replacement is picked up and clears the error.
	moved := london
	moved.Country, moved.Subdivision, moved.Continent = "IE", "L", "EU"
	if err := geotest.WriteCity(city, []geotest.Net{moved}); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); err != nil {
		t.Fatalf("Reload with a good file: %v", err)
	}
	if got := db.Locate(addr); got.Country != "IE" || got.Subdivision != "L" {
		t.Errorf("after good reload: Locate(%s) = %+v, want IE/L", addr, got)
	}
	if info := db.Info(); info[0].Err != "" || !info[0].LoadedAt.After(loadedAt) {
		t.Errorf("after good reload: Info %+v, want no error and a later LoadedAt than %v", info[0], loadedAt)
	}
}

// Version stays while nothing is reloaded and changes with every Reload,
// so callers may keep Locate's answers in between.
func TestVersion(t *testing.T) {
	city, asn := writeTestDBs(t)
	db := openTest(t, city, asn)
	v := db.Version()
	if v == 0 {
		t.Fatal("Version of an open DB is 0")
	}
	db.Locate(netip.MustParseAddr("81.2.69.170"))
	if got := db.Version(); got != v {
		t.Errorf("Version moved from %d to %d without a Reload", v, got)
	}
	if err := db.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := db.Version(); got == v || got == 0 {
		t.Errorf("Version after Reload is %d (was %d), want a new one", got, v)
	}
	if v := (*DB)(nil).Version(); v != 0 {
		t.Errorf("nil DB Version %d, want 0", v)
	}
}

// TestReloadConcurrent runs lookups while reloads swap files, for the race
// detector.
func TestReloadConcurrent(t *testing.T) {
	city, asn := writeTestDBs(t)
	db := openTest(t, city, asn)
	addrs := []netip.Addr{
		netip.MustParseAddr("81.2.69.170"), netip.MustParseAddr("2001:218::1"),
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.1"),
	}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 2000; i++ {
				loc := db.Locate(addrs[i%len(addrs)])
				if i%len(addrs) == 0 && loc.Country != "GB" && loc.Country != "IE" {
					t.Errorf("Locate during reload: got %+v, want GB or IE", loc)
					return
				}
				_ = db.Info()
			}
		}()
	}
	variants := [][]geotest.Net{cityNets, {london}}
	for i := 0; i < 10; i++ {
		nets := variants[i%2]
		if i%3 == 0 {
			l := london
			l.Country = "IE"
			nets = []geotest.Net{l}
		}
		if err := geotest.WriteCity(city, nets); err != nil {
			t.Fatal(err)
		}
		if err := db.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}
