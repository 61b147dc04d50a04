package dns

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/gslb/gslb/geo"
)

// addrLocator answers every address with a location naming it, so that
// an answer given for the wrong address shows.
type addrLocator struct{ ver uint64 }

func (l *addrLocator) Version() uint64 { return l.ver }

func (l *addrLocator) Locate(a netip.Addr) geo.Location {
	return geo.Location{Found: true, Country: fmt.Sprintf("%s@%d", a, l.ver)}
}

// The cache answers as the locator does, for many more addresses than it
// has slots (so slots are shared and evicted), and follows the Version.
func TestLocCacheAnswersAsLocator(t *testing.T) {
	l := &addrLocator{ver: 1}
	c := newLocCache(l)
	if c == nil {
		t.Fatal("no cache for a versioned locator")
	}
	addrs := make([]netip.Addr, 0, 4*locCacheSlots)
	for i := range 2 * locCacheSlots {
		addrs = append(addrs, netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}),
			netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}))
	}
	for round := range 3 {
		if round == 2 {
			l.ver = 2
		}
		for _, a := range addrs {
			if got, want := c.locate(a), l.Locate(a); got != want {
				t.Fatalf("round %d: locate(%s) = %q, want %q", round, a, got.Country, want.Country)
			}
		}
	}
	if newLocCache(MapLocator{}) != nil {
		t.Error("a cache for a locator without a Version")
	}
}
