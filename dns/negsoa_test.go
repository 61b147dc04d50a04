package dns_test

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
	"weak"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/zones"
)

// The fast path's negative-SOA templates do not keep a replaced zone set
// alive: after a reload the old snapshot is collected even before the
// next NXDOMAIN (which would rebuild them).
func TestNegSOAKeepsNoSnapshot(t *testing.T) {
	var store zones.Store
	old := loadSnapshot(t)
	store.Replace(old)
	h := dnssrv.NewHandler(dnssrv.Config{Zones: &store})
	raw, err := query{q: "nope.example.test. A"}.msg().Pack()
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddrPort("192.0.2.7:5353")
	if r := dnstest.Render(dnstest.Unpack(t, h.Respond(raw, src, false, make([]byte, 0, 512)))); r.Rcode != "NXDOMAIN" {
		t.Fatalf("want NXDOMAIN, got %s", r)
	}
	if h.Stats.Fast.Load() != 1 {
		t.Fatal("the NXDOMAIN did not take the fast path: the test proves nothing")
	}
	gone := weak.Make(old)
	old = nil
	store.Replace(loadSnapshot(t))
	for range 3 { // sync.Pool scratch may hold the last answer's zone until its second GC
		runtime.GC()
	}
	if gone.Value() != nil {
		t.Fatal("the replaced snapshot is still reachable")
	}
	runtime.KeepAlive(h) // the handler (and its templates) live on
}

// A UDP reader's name cache and scratch hold the snapshot they answered
// from; once the snapshot is replaced and the reader parks (idle), they
// must not keep it alive.
func TestUDPReaderKeepsNoOldSnapshot(t *testing.T) {
	var store zones.Store
	old := loadSnapshot(t)
	store.Replace(old)
	h := dnssrv.NewHandler(dnssrv.Config{Zones: &store})
	addr := dnstest.StartConfig(t, dnssrv.ServerConfig{UDPReaders: 1}, h)
	for _, q := range []string{"rr.pools.test. A", "nope.example.test. A", "static.example.test. A"} {
		dnstest.Exchange(t, "udp", addr, query{q: q}.msg())
	}
	if n := h.Stats.Fast.Load(); n != 3 {
		t.Fatalf("%d of 3 queries took the fast path: the test proves nothing", n)
	}
	// Let the reader park first (10 ms without a query): a reload while it
	// waits must not leave it holding the old snapshot either.
	time.Sleep(50 * time.Millisecond)
	gone := weak.Make(old)
	old = nil
	store.Replace(loadSnapshot(t))
	deadline := time.Now().Add(5 * time.Second)
	for gone.Value() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the replaced snapshot is still reachable 5 s after the reload")
		}
		time.Sleep(20 * time.Millisecond) // the reader parks after 10 ms without a query
		runtime.GC()
	}
}
