package geo

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedTestdata returns the directory of MaxMind's public test databases,
// ../shared/testdata beside the repository root. The root is found by walking
// up to go.mod, so this works from any package directory and in CI's fresh
// clone. When the directory is missing the test is skipped, except under
// CI=true, where a missing fixture is a failure.
func sharedTestdata(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/gslb/gslb")) {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			dir = ""
			break
		}
		dir = parent
	}
	var td string
	if dir != "" {
		td = filepath.Join(filepath.Dir(dir), "shared", "testdata")
		if _, err := os.Stat(filepath.Join(td, "GeoIP2-City-Test.mmdb")); err == nil {
			return td
		}
	}
	msg := "MaxMind test databases not found at " + td + " (../shared/testdata beside the repository root)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func TestMaxMindCity(t *testing.T) {
	td := sharedTestdata(t)
	db := openTest(t, filepath.Join(td, "GeoIP2-City-Test.mmdb"))

	tests := []struct {
		addr string
		want Location
	}{
		{"81.2.69.142", Location{Found: true, Country: "GB", Subdivision: "ENG", Continent: "EU",
			Lat: 51.5142, Lon: -0.0931, HasLatLon: true, Prefix: netip.MustParsePrefix("81.2.69.142/31")}},
		{"81.2.69.170", Location{Found: true, Country: "GB", Subdivision: "ENG", Continent: "EU",
			Lat: 51.5142, Lon: -0.0931, HasLatLon: true, Prefix: netip.MustParsePrefix("81.2.69.160/27")}},
		{"::ffff:81.2.69.142", Location{Found: true, Country: "GB", Subdivision: "ENG", Continent: "EU",
			Lat: 51.5142, Lon: -0.0931, HasLatLon: true, Prefix: netip.MustParsePrefix("81.2.69.142/31")}},
		{"216.160.83.56", Location{Found: true, Country: "US", Subdivision: "WA", Continent: "NA",
			Lat: 47.2513, Lon: -122.3149, HasLatLon: true, Prefix: netip.MustParsePrefix("216.160.83.56/29")}},
		{"89.160.20.129", Location{Found: true, Country: "SE", Subdivision: "E", Continent: "EU",
			Lat: 58.4167, Lon: 15.6167, HasLatLon: true, Prefix: netip.MustParsePrefix("89.160.20.128/25")}},
		{"2001:218::1", Location{Found: true, Country: "JP", Continent: "AS",
			Lat: 35.68536, Lon: 139.75309, HasLatLon: true, Prefix: netip.MustParsePrefix("2001:218::/32")}},
		{"2a02:d3c0::1", Location{Found: true, Country: "GB", Continent: "EU",
			Lat: 54.75844, Lon: -2.69531, HasLatLon: true, // a country centroid, no subdivision
			Prefix: netip.MustParsePrefix("2a02:d3c0::/29")}},
		// Not in any block: the README's example of an ECS /24 that finds nothing.
		{"81.2.69.0", Location{}},
		{"10.0.0.1", Location{}},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got := db.Locate(netip.MustParseAddr(tt.addr))
			if got != tt.want {
				t.Errorf("Locate(%s)\n got %+v\nwant %+v", tt.addr, got, tt.want)
			}
		})
	}
	if info := db.Info()[0]; info.Type != "GeoIP2-City" || info.Kind != "city" || info.BuildTime.IsZero() {
		t.Errorf("Info: got %+v, want type GeoIP2-City, kind city, a build time", info)
	}
}

func TestMaxMindCountryAndASN(t *testing.T) {
	td := sharedTestdata(t)
	db := openTest(t,
		filepath.Join(td, "GeoIP2-Country-Test.mmdb"),
		filepath.Join(td, "GeoLite2-ASN-Test.mmdb"))

	tests := []struct {
		addr          string
		country, cont string
		asn           uint32
		found         bool
		prefix        string
	}{
		{"81.2.69.160", "GB", "EU", 0, true, "81.2.69.160/27"},
		{"2001:218::1", "JP", "AS", 0, true, "2001:218::/32"},
		{"1.0.0.1", "", "", 15169, false, ""},
		{"1.128.0.1", "", "", 1221, false, ""},
		{"12.81.92.1", "", "", 7018, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got := db.Locate(netip.MustParseAddr(tt.addr))
			var prefix netip.Prefix
			if tt.prefix != "" {
				prefix = netip.MustParsePrefix(tt.prefix)
			}
			if got.Found != tt.found || got.Country != tt.country || got.Continent != tt.cont ||
				got.ASN != tt.asn || got.Prefix != prefix || got.HasLatLon {
				t.Errorf("Locate(%s): got %+v, want found=%v %s/%s AS%d prefix %v, no coordinates",
					tt.addr, got, tt.found, tt.country, tt.cont, tt.asn, prefix)
			}
		})
	}
	info := db.Info()
	if info[0].Kind != "country" || info[1].Kind != "asn" || info[1].Type != "GeoLite2-ASN" {
		t.Errorf("Info: got %+v, want a country then an asn database", info)
	}
}

func TestMaxMindAllThree(t *testing.T) {
	td := sharedTestdata(t)
	// Country before City on the command line: City still supplies the
	// location, because City-like files are consulted first.
	db := openTest(t,
		filepath.Join(td, "GeoIP2-Country-Test.mmdb"),
		filepath.Join(td, "GeoLite2-ASN-Test.mmdb"),
		filepath.Join(td, "GeoIP2-City-Test.mmdb"))
	got := db.Locate(netip.MustParseAddr("81.2.69.142"))
	if !got.HasLatLon || got.Subdivision != "ENG" || got.Prefix != netip.MustParsePrefix("81.2.69.142/31") {
		t.Errorf("Locate(81.2.69.142): got %+v, want the City database's London answer", got)
	}
}

func TestMaxMindCorrupt(t *testing.T) {
	td := sharedTestdata(t)
	for _, name := range []string{
		"GeoIP2-City-Test-Broken-Double-Format.mmdb",
		"GeoIP2-City-Test-Invalid-Node-Count.mmdb",
		"MaxMind-DB-test-broken-pointers-24.mmdb",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(td, name)
			db, err := Open([]string{p}, testLogger(t))
			if err == nil {
				t.Fatalf("Open(%s): got no error, want one", name)
			}
			if db != nil || !strings.Contains(err.Error(), p) {
				t.Errorf("Open(%s): got db %v, error %q; want no DB and an error naming the file", name, db, err)
			}
			t.Logf("Open(%s): %v", name, err)
		})
	}

	// The same files arriving on reload: the good reader stays.
	dir := t.TempDir()
	live := filepath.Join(dir, "city.mmdb")
	good, err := os.ReadFile(filepath.Join(td, "GeoIP2-City-Test.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, live, good)
	db := openTest(t, live)
	for _, name := range []string{
		"GeoIP2-City-Test-Broken-Double-Format.mmdb",
		"GeoIP2-City-Test-Invalid-Node-Count.mmdb",
		"MaxMind-DB-test-broken-pointers-24.mmdb",
	} {
		bad, err := os.ReadFile(filepath.Join(td, name))
		if err != nil {
			t.Fatal(err)
		}
		replaceFile(t, live, bad)
		if err := db.Reload(); err == nil {
			t.Errorf("Reload with %s: got no error, want one", name)
		}
		if got := db.Locate(netip.MustParseAddr("81.2.69.142")); got.Country != "GB" {
			t.Errorf("after Reload with %s: Locate(81.2.69.142) = %+v, want the old GB answer", name, got)
		}
		if info := db.Info()[0]; info.Err == "" || info.Type != "GeoIP2-City" {
			t.Errorf("after Reload with %s: Info %+v, want an error and the old reader", name, info)
		}
	}
}
