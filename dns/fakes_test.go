package dns

// Test doubles shared by the internal tests and, exported from this test
// file, by the external (package dns_test) ones.

import (
	"net/netip"
	"sync/atomic"

	"github.com/gslb/gslb/geo"
	"github.com/gslb/gslb/zones"
)

// DownSet is a HealthView: the check keys in it are down, every other key
// is up.
type DownSet map[string]bool

// Up implements HealthView.
func (d DownSet) Up(key string) bool { return !d[key] }

// MapLocator is a Locator over a fixed table: the longest prefix holding
// the address wins, and the result carries that prefix as the database
// network. Unknown addresses get the zero Location.
type MapLocator map[netip.Prefix]geo.Location

// Locate implements Locator.
func (m MapLocator) Locate(a netip.Addr) geo.Location {
	best, bits := geo.Location{}, -1
	for p, l := range m {
		if p.Contains(a) && p.Bits() > bits {
			best, bits = l, p.Bits()
			best.Found, best.Prefix = true, p
		}
	}
	return best
}

// TestLocator places the clients the tests use. Networks follow MaxMind's
// test databases where they can (81.2.69.0/24 GB, 216.160.83.0/24 US-WA,
// 175.16.199.0/24 CN, 89.160.20.0/24 SE).
var TestLocator = MapLocator{
	netip.MustParsePrefix("81.2.69.0/24"):    {Country: "GB", Subdivision: "ENG", Continent: "EU", Lat: 51.51, Lon: -0.13, HasLatLon: true},
	netip.MustParsePrefix("216.160.83.0/24"): {Country: "US", Subdivision: "WA", Continent: "NA", Lat: 47.25, Lon: -122.31, HasLatLon: true},
	netip.MustParsePrefix("198.51.100.0/24"): {Country: "US", Subdivision: "CA", Continent: "NA", Lat: 37.77, Lon: -122.42, HasLatLon: true},
	netip.MustParsePrefix("175.16.199.0/24"): {Country: "CN", Subdivision: "22", Continent: "AS", Lat: 43.88, Lon: 125.32, HasLatLon: true},
	netip.MustParsePrefix("89.160.20.0/24"):  {Country: "SE", Subdivision: "E", Continent: "EU", Lat: 58.41, Lon: 15.62, HasLatLon: true},
	netip.MustParsePrefix("203.0.0.0/16"):    {Country: "AU", Subdivision: "NSW", Continent: "OC", Lat: -33.87, Lon: 151.21, HasLatLon: true},
	netip.MustParsePrefix("100.64.0.0/20"):   {Country: "BR", Continent: "SA"}, // no coordinates
	netip.MustParsePrefix("2001:db8:1::/48"): {Country: "JP", Continent: "AS", Lat: 35.68, Lon: 139.69, HasLatLon: true},
	netip.MustParsePrefix("2001:db8:2::/48"): {Country: "GB", Continent: "EU", Lat: 51.51, Lon: -0.13, HasLatLon: true},
}

// PoolOf returns the pool named name (FQDN) from the loaded zones.
func PoolOf(snap *zones.Snapshot, name string) *zones.Pool {
	z := snap.Find(name)
	if z == nil || z.Nodes[name] == nil {
		return nil
	}
	return z.Nodes[name].Pool
}

// CheckKeys returns the check keys of the endpoints of pool with the
// given addresses.
func CheckKeys(p *zones.Pool, addrs ...string) []string {
	var keys []string
	for _, a := range addrs {
		for _, e := range p.Endpoints {
			if e.Addr == netip.MustParseAddr(a) {
				keys = append(keys, e.CheckKey)
			}
		}
	}
	return keys
}

// GeneralPathOnly makes h answer every query on the general path (no
// fast path), for comparing the two.
func GeneralPathOnly(h *Handler) { h.noFast = true }

// ReaderScratch is a UDP reader's fast-path scratch, its name cache
// included.
type ReaderScratch = fastState

// NewReaderScratch returns the scratch a new UDP reader of a handler with
// locator l starts with.
func NewReaderScratch(l Locator) *ReaderScratch {
	return &fastState{cache: newNameCache(), loc: newLocCache(l)}
}

// VersionLocator is l with a Version, set by the test.
type VersionLocator struct {
	Locator
	Ver   atomic.Uint64
	Calls atomic.Int64
}

func (v *VersionLocator) Version() uint64 { return v.Ver.Load() }

func (v *VersionLocator) Locate(a netip.Addr) geo.Location {
	v.Calls.Add(1)
	return v.Locator.Locate(a)
}

// RespondUDP answers raw as a UDP reader with scratch s does.
func (h *Handler) RespondUDP(raw []byte, src netip.AddrPort, buf []byte, s *ReaderScratch) []byte {
	return h.respond(raw, src, false, buf, s)
}
