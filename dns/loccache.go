package dns

import (
	"encoding/binary"
	"net/netip"

	"github.com/gslb/gslb/geo"
)

// VersionedLocator is a Locator whose answers change only when Version
// does (geo.DB: when a reload replaces its databases). A UDP reader then
// keeps recent answers (locCache).
type VersionedLocator interface {
	Locator
	Version() uint64
}

// locCache is a UDP reader's memory of recent client locations: the
// Locate answer for an address, kept while the locator's Version stays
// the same. Clients repeat (a resolver's own address, the ECS subnets of
// its busy clients), and a lookup walks some thirty nodes of the
// database's search tree, most of them cold. Direct-mapped by a hash of
// the address: a new address evicts, nothing is allocated. Only its
// reader uses it.
type locCache struct {
	l     VersionedLocator
	slots [locCacheSlots]locEntry
}

type locEntry struct {
	ver  uint64 // the locator's Version when looked up; 0: empty
	addr netip.Addr
	loc  geo.Location
}

const locCacheSlots = 256 // a power of two

// newLocCache returns a cache for l, or nil when l has no Version (its
// answers could change unseen).
func newLocCache(l Locator) *locCache {
	vl, ok := l.(VersionedLocator)
	if !ok {
		return nil
	}
	return &locCache{l: vl}
}

// locate is l.Locate(a), from the cache when it holds a for the
// locator's current Version.
func (c *locCache) locate(a netip.Addr) geo.Location {
	v := c.l.Version()
	b := a.As16()
	h := (binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])) * 0x9E3779B97F4A7C15
	e := &c.slots[h>>(64-8)] // the top 8 bits: locCacheSlots
	if v != 0 && e.ver == v && e.addr == a {
		return e.loc
	}
	loc := c.l.Locate(a)
	e.ver, e.addr, e.loc = v, a, loc
	return loc
}

// reset forgets every answer (their strings belong to the databases).
func (c *locCache) reset() {
	if c != nil {
		clear(c.slots[:])
	}
}
