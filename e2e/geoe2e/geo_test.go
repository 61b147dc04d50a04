// Package geoe2e tests geo steering end to end: zone files, real
// MaxMind-format databases (MaxMind's public test databases and ones the
// test writes), the DNS server, and ECS queries over UDP.
package geoe2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/geo"
	"github.com/gslb/gslb/geo/geotest"
	"github.com/gslb/gslb/zones"
)

// The zone: a geo pool with every tier and a nearest pool with three
// sites. Endpoint addresses say which rule picked them.
const zoneText = `
ns = ["ns1"]
[records.ns1]
A = ["198.51.100.53"]

[pools.www]
policy = "geo"
[[pools.www.endpoints]]
address = "192.0.2.1"          # the networks tier
networks = ["81.2.69.160/27"]
[[pools.www.endpoints]]
address = "192.0.2.2"          # subdivision
countries = ["US-CA"]
[[pools.www.endpoints]]
address = "192.0.2.3"          # country
countries = ["GB", "US"]
lat = 51.5
lon = -0.12
[[pools.www.endpoints]]
address = "192.0.2.4"          # continent
continents = ["AS"]
lat = 35.7
lon = 139.7
[[pools.www.endpoints]]
address = "2001:db8::3"
countries = ["GB"]
[[pools.www.endpoints]]
address = "2001:db8::4"
continents = ["AS"]

[pools.cdn]
policy = "nearest"
answers = 3
[[pools.cdn.endpoints]]
address = "192.0.2.50"   # London
lat = 51.5
lon = -0.12
[[pools.cdn.endpoints]]
address = "192.0.2.51"   # New York
lat = 40.7
lon = -74.0
[[pools.cdn.endpoints]]
address = "192.0.2.52"   # Tokyo
lat = 35.7
lon = 139.7
`

// sharedTestdata finds MaxMind's test databases in ../shared/testdata
// from the repository root. Missing fixtures skip, except under CI=true.
func sharedTestdata(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "testdata", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("fixture %s missing under CI=true: %v", p, err)
		}
		t.Skipf("fixture %s not found (MaxMind test databases live in ../shared/testdata): %v", p, err)
	}
	return p
}

// start serves zone (as example.test) with the given databases and
// returns the server's address; the database handle is returned for
// reload tests.
func start(t *testing.T, zone string, dbs []string) (string, *geo.DB) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "example.test.toml"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := zones.NewLoader(dir).Load()
	if err != nil {
		t.Fatal(err)
	}
	var store zones.Store
	store.Replace(snap)
	db, err := geo.Open(dbs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dnstest.Start(t, dnssrv.NewHandler(dnssrv.Config{Zones: &store, Locator: db, UseECS: true})), db
}

type result struct {
	rcode  string
	answer []string
	scope  int
}

func ask(t *testing.T, addr, q, subnet string) result {
	t.Helper()
	m := dnstest.Query(q)
	if subnet != "" {
		o := dnstest.EDNS(m, 1232)
		o.Option = append(o.Option, dnstest.ECS(subnet))
	}
	r, _ := dnstest.Exchange(t, "udp", addr, m)
	if !r.Authoritative {
		t.Errorf("%s from %s: AA not set", q, subnet)
	}
	res := result{rcode: dns.RcodeToString[r.Rcode], scope: -1}
	for _, rr := range r.Answer {
		res.answer = append(res.answer, strings.Join(strings.Fields(rr.String()), " "))
	}
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if s, ok := e.(*dns.EDNS0_SUBNET); ok {
				res.scope = int(s.SourceScope)
			}
		}
	}
	return res
}

func rr(name, addr string) string {
	t := "A"
	if strings.Contains(addr, ":") {
		t = "AAAA"
	}
	return name + " 30 IN " + t + " " + addr
}

func check(t *testing.T, got result, want result) {
	t.Helper()
	if got.rcode != want.rcode || strings.Join(got.answer, "\n") != strings.Join(want.answer, "\n") || got.scope != want.scope {
		t.Errorf("got %s %q scope %d, want %s %q scope %d", got.rcode, got.answer, got.scope, want.rcode, want.answer, want.scope)
	}
}

// TestGeoTiersMaxMindCity runs every tier against MaxMind's City test
// database; scopes are the database networks it holds (see
// ../shared/testdata/README.md).
func TestGeoTiersMaxMindCity(t *testing.T) {
	addr, _ := start(t, zoneText, []string{sharedTestdata(t, "GeoIP2-City-Test.mmdb")})
	www := "www.example.test."
	tests := []struct {
		name, q, subnet string
		want            result
	}{
		{"networks tier beats country", www + " A", "81.2.69.160/27", result{"NOERROR", []string{rr(www, "192.0.2.1")}, 27}},
		{"country GB (London /31)", www + " A", "81.2.69.142/32", result{"NOERROR", []string{rr(www, "192.0.2.3")}, 31}},
		{"subdivision US-CA", www + " A", "214.78.120.0/24", result{"NOERROR", []string{rr(www, "192.0.2.2")}, 22}},
		{"country US outside CA", www + " A", "216.160.83.56/29", result{"NOERROR", []string{rr(www, "192.0.2.3")}, 29}},
		{"continent AS (CN)", www + " A", "175.16.199.0/24", result{"NOERROR", []string{rr(www, "192.0.2.4")}, 24}},
		{"IPv6 client JP: continent AS", www + " AAAA", "2001:218::/32", result{"NOERROR", []string{rr(www, "2001:db8::4")}, 32}},
		{"IPv6 client GB", www + " AAAA", "2a02:d3c0::/29", result{"NOERROR", []string{rr(www, "2001:db8::3")}, 29}},
		// SE is in no tier: nearest by distance (London is closer than Tokyo).
		{"no tier: nearest (SE)", www + " A", "89.160.20.112/28", result{"NOERROR", []string{rr(www, "192.0.2.3")}, 28}},
		{"nearest London/NY/Tokyo from San Diego", "cdn.example.test. A", "214.78.120.0/22",
			result{"NOERROR", []string{rr("cdn.example.test.", "192.0.2.51"), rr("cdn.example.test.", "192.0.2.50"), rr("cdn.example.test.", "192.0.2.52")}, 22}},
		{"nearest from Changchun", "cdn.example.test. A", "175.16.199.0/24",
			result{"NOERROR", []string{rr("cdn.example.test.", "192.0.2.52"), rr("cdn.example.test.", "192.0.2.50"), rr("cdn.example.test.", "192.0.2.51")}, 24}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { check(t, ask(t, addr, tc.q, tc.subnet), tc.want) })
	}
	// Unknown to every database: the "no match" path has no location, so
	// every healthy endpoint is eligible; the scope is the source prefix,
	// never wider.
	got := ask(t, addr, www+" A", "192.0.2.0/24")
	if got.rcode != "NOERROR" || len(got.answer) != 1 || got.scope != 24 {
		t.Errorf("unknown client: got %s %q scope %d, want one answer with scope 24", got.rcode, got.answer, got.scope)
	}
}

// TestGeoFallbackWhenMatchedDown: with the GB endpoint set down, a GB
// client matches no tier and gets the nearest healthy endpoint with
// coordinates (Tokyo, the only one left).
func TestGeoFallbackWhenMatchedDown(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "city.mmdb")
	nets := []geotest.Net{
		{Prefix: netip.MustParsePrefix("198.18.0.0/24"), Country: "GB", Continent: "EU", Lat: 51.51, Lon: -0.09, HasLatLon: true},
		{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Country: "US", Subdivision: "NY", Continent: "NA", Lat: 40.71, Lon: -74.0, HasLatLon: true},
	}
	if err := geotest.WriteCity(db, nets); err != nil {
		t.Fatal(err)
	}
	// The zone has no checks, so take the endpoint out with state = "down";
	// the selection treats it exactly as a failing check.
	down := strings.Replace(zoneText, "address = \"192.0.2.3\"          # country", "address = \"192.0.2.3\"\nstate = \"down\"", 1)
	addr, _ := start(t, down, []string{db})
	www := "www.example.test."
	// GB client: its country endpoint is down, no EU endpoint exists, so
	// nearest by distance among the healthy ones with coordinates: Tokyo.
	check(t, ask(t, addr, www+" A", "198.18.0.0/24"), result{"NOERROR", []string{rr(www, "192.0.2.4")}, 24})
	// Without ECS the source address (127.0.0.1) is the client: unknown.
	if got := ask(t, addr, www+" A", ""); got.rcode != "NOERROR" || len(got.answer) != 1 || got.scope != -1 {
		t.Errorf("no ECS: got %s %q scope %d, want one answer and no ECS option", got.rcode, got.answer, got.scope)
	}
}

// TestGeoDatabaseReloadChangesAnswers: a database replaced on disk (by
// rename, as geoipupdate does) changes answers without a restart.
func TestGeoDatabaseReloadChangesAnswers(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "city.mmdb")
	write := func(country, continent string) {
		tmp := db + ".tmp"
		if err := geotest.WriteCity(tmp, []geotest.Net{{Prefix: netip.MustParsePrefix("198.18.0.0/24"), Country: country, Continent: continent}}); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, db); err != nil {
			t.Fatal(err)
		}
	}
	write("GB", "EU")
	addr, gdb := start(t, zoneText, []string{db})
	www := "www.example.test."
	check(t, ask(t, addr, www+" A", "198.18.0.0/24"), result{"NOERROR", []string{rr(www, "192.0.2.3")}, 24})
	write("JP", "AS")
	if err := gdb.Reload(); err != nil {
		t.Fatal(err)
	}
	check(t, ask(t, addr, www+" A", "198.18.0.0/24"), result{"NOERROR", []string{rr(www, "192.0.2.4")}, 24})
}
