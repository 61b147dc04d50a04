package geo

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeRaw writes records in whatever layout a test needs, for formats that
// geotest does not produce.
func writeRaw(t *testing.T, dbType string, recs map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: dbType, Description: map[string]string{"en": "test"},
		IncludeReservedNetworks: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, rec := range recs {
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "raw.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFlatLayout reads IPinfo-style records: flat keys, names beside codes,
// ASN as "AS…" strings, coordinates as strings.
func TestFlatLayout(t *testing.T) {
	path := writeRaw(t, "ipinfo lite.mmdb", map[string]mmdbtype.Map{
		"192.0.2.0/24": {
			"asn": mmdbtype.String("AS15169"), "as_name": mmdbtype.String("Example"),
			"continent": mmdbtype.String("North America"), "continent_code": mmdbtype.String("NA"),
			"country": mmdbtype.String("United States"), "country_code": mmdbtype.String("US"),
		},
		"198.51.100.0/24": {
			"country":     mmdbtype.String("DE"),
			"continent":   mmdbtype.String("EU"),
			"region_code": mmdbtype.String("BE"),
			"lat":         mmdbtype.String("52.52"),
			"lng":         mmdbtype.String("13.405"),
			"asn":         mmdbtype.Uint32(64496),
		},
		"203.0.113.0/24": { // wrong kinds everywhere: skipped, not fatal
			"country": mmdbtype.Uint32(7), "location": mmdbtype.String("x"),
			"subdivisions": mmdbtype.Map{}, "traits": mmdbtype.Slice{}, "asn": mmdbtype.Float64(1),
			"continent_code": mmdbtype.String("OC"),
		},
	})
	db := openTest(t, path)
	tests := []struct {
		addr string
		want Location
	}{
		{"192.0.2.1", Location{Found: true, Country: "US", Continent: "NA", ASN: 15169,
			Prefix: netip.MustParsePrefix("192.0.2.0/24")}},
		{"198.51.100.1", Location{Found: true, Country: "DE", Subdivision: "BE", Continent: "EU",
			Lat: 52.52, Lon: 13.405, HasLatLon: true, ASN: 64496,
			Prefix: netip.MustParsePrefix("198.51.100.0/24")}},
		{"203.0.113.1", Location{Found: true, Continent: "OC",
			Prefix: netip.MustParsePrefix("203.0.113.0/24")}},
	}
	for _, tt := range tests {
		if got := db.Locate(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Locate(%s)\n got %+v\nwant %+v", tt.addr, got, tt.want)
		}
	}
}

// TestCoveringIPv6Record: a record above the IPv4 subtree (here ::/1) holds
// for every IPv4 client, whose prefix is then 0.0.0.0/0, not an IPv6 one.
func TestCoveringIPv6Record(t *testing.T) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "GeoIP2-Country", Description: map[string]string{"en": "test"},
		IncludeReservedNetworks: true, DisableIPv4Aliasing: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, all, _ := net.ParseCIDR("::/0")
	if err := tree.Insert(all, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("AQ")}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "all.mmdb")
	f, _ := os.Create(path)
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db := openTest(t, path)
	// The writer splits ::/0 at the root, so IPv6 clients see ::/1.
	for addr, want := range map[string]string{"192.0.2.1": "0.0.0.0/0", "2001:db8::1": "::/1"} {
		got := db.Locate(netip.MustParseAddr(addr))
		if !got.Found || got.Country != "AQ" || got.Prefix != netip.MustParsePrefix(want) {
			t.Errorf("Locate(%s): got %+v, want AQ with prefix %s", addr, got, want)
		}
	}
}
