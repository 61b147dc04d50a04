package dns

import (
	"hash/maphash"
	"unsafe"

	"github.com/gslb/gslb/zones"
)

// nameCache is a UDP reader's memory of the question names it has
// resolved on the fast path: the name's wire bytes as they came in the
// query map to the zone and node the snapshot has for it (no node: the
// name does not exist, and no wildcard or delegation covers it). A hit
// replaces reading the name into presentation form, checking its bytes,
// the snapshot lookup and, for a name that does not exist, the walk to
// its closest encloser and the wildcard check: steps whose code and data
// the kernel's work between two queries leaves cold. What follows
// (selection, health, the client, flags, EDNS, RRL, the Observer) is done
// per query as before.
//
// It is two-way set-associative: a hash of the bytes picks a set of two
// slots, and a new name takes the one not used last, so a lookup touches
// two slots, a hot name survives a stream of others, and a flood of
// distinct names costs no allocation. Only names the fast path
// accepted are stored, so equal bytes are a name already checked. The
// cache belongs to one reader (no locks) and holds one snapshot's data:
// it is emptied when the snapshot changes (use, from fastState.follow)
// and when its reader parks (release), so that no reader keeps an old
// snapshot alive.
type nameCache struct {
	snap *zones.Snapshot
	seed maphash.Seed
	sets [nameCacheSets]struct {
		ways [2]nameEntry
		last uint8 // the way used last
	}
}

// nameEntry is one slot. Names of up to nameCacheKey wire bytes are kept
// (longer ones are resolved every time); the presentation form of one is
// a byte shorter.
type nameEntry struct {
	klen uint8 // 0: empty
	slen uint8 // bytes in soa; 0: not written yet (or too long to keep)
	z    *zones.Zone
	node *zones.Node // nil: NXDOMAIN
	name string      // lowercase presentation form: node.Name, or in text
	key  [nameCacheKey]byte
	text [nameCacheKey]byte
	// soa is the negative SOA record of an empty answer (NXDOMAIN,
	// NODATA) as written after this question: it depends on nothing else.
	soa [nameCacheSOA]byte
}

const (
	nameCacheSets = 1024 // a power of two
	nameCacheKey  = 64
	nameCacheSOA  = 64 // a SOA whose names compress against the zone's origin fits
)

func newNameCache() *nameCache { return &nameCache{seed: maphash.MakeSeed()} }

// use readies the cache for answers from snap: when it holds another
// snapshot's names it is emptied first, and use reports true.
func (c *nameCache) use(snap *zones.Snapshot) bool {
	if c.snap == snap {
		return false
	}
	c.reset()
	c.snap = snap
	return true
}

// find returns the entry for the name in wire (the question name's bytes),
// if the cache has it (for the snapshot of the last use).
func (c *nameCache) find(wire []byte) *nameEntry {
	if c == nil || len(wire) > nameCacheKey {
		return nil
	}
	set := &c.sets[maphash.Bytes(c.seed, wire)&(nameCacheSets-1)]
	for i := range set.ways {
		if e := &set.ways[i]; int(e.klen) == len(wire) && string(e.key[:len(wire)]) == string(wire) {
			set.last = uint8(i)
			return e
		}
	}
	return nil
}

// add remembers that wire (the question name's bytes) is name, resolved
// in the snapshot of the last use to z and node, and returns its entry,
// whose name stays valid until its slot is next written (at a later add
// or reset); nil for a name too long to keep.
func (c *nameCache) add(wire []byte, name string, z *zones.Zone, node *zones.Node) *nameEntry {
	if len(wire) > nameCacheKey {
		return nil
	}
	set := &c.sets[maphash.Bytes(c.seed, wire)&(nameCacheSets-1)]
	set.last ^= 1
	e := &set.ways[set.last]
	e.klen, e.slen = uint8(copy(e.key[:], wire)), 0
	e.z, e.node = z, node
	if node != nil {
		e.name = node.Name
	} else {
		n := copy(e.text[:], name) // len(name) == len(wire)-1
		e.name = unsafe.String(&e.text[0], n)
	}
	return e
}

// reset empties the cache and lets go of the snapshot and its data.
func (c *nameCache) reset() {
	if c == nil || c.snap == nil {
		return
	}
	for i := range c.sets {
		for j := range c.sets[i].ways {
			e := &c.sets[i].ways[j]
			e.klen, e.slen, e.z, e.node, e.name = 0, 0, nil, nil, ""
		}
	}
	c.snap = nil
}
