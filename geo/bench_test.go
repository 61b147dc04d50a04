package geo

import (
	"net/netip"
	"path/filepath"
	"testing"
)

var benchAddrs = []netip.Addr{
	netip.MustParseAddr("81.2.69.170"),
	netip.MustParseAddr("2001:218::1"),
	netip.MustParseAddr("198.18.1.9"),
	netip.MustParseAddr("10.0.0.1"), // unknown
}

// BenchmarkLocate looks addresses up in a generated City database plus an
// ASN database, the production pairing.
func BenchmarkLocate(b *testing.B) {
	city, asn := writeTestDBs(b)
	db, err := Open([]string{city, asn}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = db.Locate(benchAddrs[i%len(benchAddrs)])
		i++
	}
}

// BenchmarkLocateMaxMindCity uses MaxMind's City test database, whose records
// carry the full GeoIP2 payload (names in many languages) that Locate skips.
func BenchmarkLocateMaxMindCity(b *testing.B) {
	td := sharedTestdata(b)
	db, err := Open([]string{filepath.Join(td, "GeoIP2-City-Test.mmdb")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	a := netip.MustParseAddr("81.2.69.142")
	b.ReportAllocs()
	for b.Loop() {
		_ = db.Locate(a)
	}
}

func TestLocateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	city, asn := writeTestDBs(t)
	db := openTest(t, city, asn)
	for _, a := range benchAddrs {
		db.Locate(a) // warm the reader's string cache
		if n := testing.AllocsPerRun(200, func() { db.Locate(a) }); n != 0 {
			t.Errorf("Locate(%s): %v allocations per call, want 0", a, n)
		}
	}
}

// TestLocateCache checks that answers from the decoded-record cache are
// the answers of a fresh lookup: every address asked twice, in a different
// order, of one DB, and once of a DB of its own.
func TestLocateCache(t *testing.T) {
	city, asn := writeTestDBs(t)
	shared, err := Open([]string{city, asn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for i := range benchAddrs {
			a := benchAddrs[(i*7+round)%len(benchAddrs)]
			fresh, err := Open([]string{city, asn}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := shared.Locate(a), fresh.Locate(a); got != want {
				t.Errorf("round %d, %s: cached %+v, fresh %+v", round, a, got, want)
			}
		}
	}
}
