package geotest

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
)

var nets = []Net{
	{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Country: "GB", Subdivision: "ENG", Continent: "EU",
		Lat: 51.5142, Lon: -0.0931, HasLatLon: true, City: "London", ASN: 20712},
	{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Country: "US", Subdivision: "US-CA", Continent: "NA"},
	{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Country: "SE", Continent: "EU"},
	{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Country: "JP", Continent: "AS", Lat: 35.685, Lon: 139.753, HasLatLon: true},
	{Prefix: netip.MustParsePrefix("2001:db8:1::/48"), Country: "DE", Continent: "EU"},
	{Prefix: netip.MustParsePrefix("2001:218::/32"), Country: "JP", Continent: "AS"},
}

// TestCityReadByGeoIP2 checks the record layout against the reference reader.
func TestCityReadByGeoIP2(t *testing.T) {
	p := filepath.Join(t.TempDir(), "city.mmdb")
	if err := WriteCity(p, nets); err != nil {
		t.Fatal(err)
	}
	r, err := geoip2.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Metadata().DatabaseType; got != "GeoIP2-City" {
		t.Errorf("database_type: got %q, want GeoIP2-City", got)
	}
	if md := r.Metadata(); md.IPVersion != 6 {
		t.Errorf("ip_version: got %d, want 6", md.IPVersion)
	}

	tests := []struct {
		addr, country, sub, cont, city string
		lat                            float64
		prefix                         string
	}{
		{"81.2.69.142", "GB", "ENG", "EU", "London", 51.5142, "81.2.69.0/24"},
		// Found through the ::ffff:0:0/96 alias; the reader reports the
		// network as written (geo.Locate unmaps first).
		{"::ffff:81.2.69.142", "GB", "ENG", "EU", "London", 51.5142, "::ffff:81.2.69.0/120"},
		{"192.0.2.1", "US", "CA", "NA", "", 0, "192.0.2.0/24"},       // reserved: documentation
		{"198.51.100.255", "SE", "", "EU", "", 0, "198.51.100.0/24"}, // reserved: documentation
		{"198.18.2.7", "JP", "", "AS", "", 35.685, "198.18.2.0/24"},  // reserved: benchmarking
		{"2001:db8:1::5", "DE", "", "EU", "", 0, "2001:db8:1::/48"},  // reserved: documentation
		{"2001:218::1", "JP", "", "AS", "", 0, "2001:218::/32"},
	}
	for _, tt := range tests {
		c, err := r.City(netip.MustParseAddr(tt.addr))
		if err != nil {
			t.Errorf("City(%s): %v", tt.addr, err)
			continue
		}
		sub := ""
		if len(c.Subdivisions) > 0 {
			sub = c.Subdivisions[0].ISOCode
		}
		var lat float64
		if c.Location.Latitude != nil {
			lat = *c.Location.Latitude
		}
		if !c.HasData() || c.Country.ISOCode != tt.country || sub != tt.sub || c.Continent.Code != tt.cont ||
			c.City.Names.English != tt.city || lat != tt.lat || c.Traits.Network.String() != tt.prefix {
			t.Errorf("City(%s): got %s/%s/%s %q lat %v net %v, want %s/%s/%s %q lat %v net %s", tt.addr,
				c.Country.ISOCode, sub, c.Continent.Code, c.City.Names.English, lat, c.Traits.Network,
				tt.country, tt.sub, tt.cont, tt.city, tt.lat, tt.prefix)
		}
	}
	if c, err := r.City(netip.MustParseAddr("10.0.0.1")); err != nil || c.HasData() {
		t.Errorf("City(10.0.0.1): got %+v, %v; want no data", c, err)
	}
}

func TestASNReadByGeoIP2(t *testing.T) {
	p := filepath.Join(t.TempDir(), "asn.mmdb")
	if err := WriteASN(p, []Net{
		{Prefix: netip.MustParsePrefix("1.0.0.0/24"), ASN: 15169},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), ASN: 64496},
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), ASN: 64497},
	}); err != nil {
		t.Fatal(err)
	}
	r, err := geoip2.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Metadata().DatabaseType; got != "GeoLite2-ASN" {
		t.Errorf("database_type: got %q, want GeoLite2-ASN", got)
	}
	for addr, want := range map[string]uint{"1.0.0.1": 15169, "203.0.113.9": 64496, "2001:db8::1": 64497} {
		a, err := r.ASN(netip.MustParseAddr(addr))
		if err != nil || a.AutonomousSystemNumber != want {
			t.Errorf("ASN(%s): got %d, %v; want %d", addr, a.AutonomousSystemNumber, err, want)
		}
	}
	if err := WriteASN(p, []Net{{Prefix: netip.MustParsePrefix("1.0.0.0/24")}}); err == nil {
		t.Error("WriteASN of a network without ASN: got no error, want one")
	}
}

func TestReproducible(t *testing.T) {
	dir := t.TempDir()
	o := Options{BuildTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Description: "demo"}
	a, b := filepath.Join(dir, "a.mmdb"), filepath.Join(dir, "b.mmdb")
	if err := o.WriteCity(a, nets); err != nil {
		t.Fatal(err)
	}
	// Same networks in another order: the tree, not the input order, decides the bytes.
	rev := make([]Net, len(nets))
	for i, n := range nets {
		rev[len(nets)-1-i] = n
	}
	if err := o.WriteCity(b, rev); err != nil {
		t.Fatal(err)
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if len(ab) == 0 || !bytes.Equal(ab, bb) {
		t.Errorf("two writes with a fixed BuildTime differ (%d vs %d bytes)", len(ab), len(bb))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestInvalidInput(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.mmdb")
	tests := []struct {
		name string
		net  Net
	}{
		{"no prefix", Net{Country: "GB"}},
		{"subdivision of another country", Net{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Country: "GB", Subdivision: "US-CA"}},
		{"mapped prefix shorter than the IPv4 space", Net{Prefix: netip.MustParsePrefix("::ffff:0:0/90"), Country: "GB"}},
	}
	for _, tt := range tests {
		if err := WriteCity(p, []Net{tt.net}); err == nil {
			t.Errorf("WriteCity(%s): got no error, want one", tt.name)
		}
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("failed writes left %s behind", p)
	}
}
