package dns_test

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/zones"
)

// FuzzServeDNS feeds arbitrary bytes to Handler.Respond as a UDP and a
// TCP query: never a panic (Stats.Panics), every query with a header gets a
// well-formed reply with its ID, and UDP replies respect the size limits.
func FuzzServeDNS(f *testing.F) {
	seeds := []query{
		{q: "static.example.test. A"},
		{q: "www.example.test. AAAA", edns: 1232, do: true},
		{q: "alias.example.test. A", rd: true},
		{q: "foo.dev.example.test. ANY"},
		{q: "host.sub.example.test. A", edns: 512},
		{q: "big.example.test. TXT"},
		{q: "geo.pools.test. A", edns: 1232, ecs: "81.2.69.0/24"},
		{q: "sticky.pools.test. AAAA", edns: 1232, ecs: "2001:db8:1::/48"},
		{q: "version.bind. CH TXT"},
		{q: "example.test. AXFR"},
	}
	for _, s := range seeds {
		raw, err := s.msg().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte{0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1})
	var store zones.Store
	store.Replace(loadSnapshot(f))
	h := dnssrv.NewHandler(dnssrv.Config{Zones: &store, Locator: dnssrv.TestLocator, UseECS: true,
		ChaosVersion: "v", ChaosID: "id"})
	src := netip.MustParseAddrPort("192.0.2.7:5353")
	buf := make([]byte, 0, 65535)
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, tcp := range []bool{false, true} {
			out := h.Respond(raw, src, tcp, buf)
			if p := h.Stats.Panics.Load(); p > 0 {
				t.Fatalf("handler panicked on %x", raw)
			}
			if len(raw) < 12 || raw[2]&0x80 != 0 {
				if out != nil {
					t.Fatalf("replied to a response or runt %x", raw)
				}
				continue
			}
			if out == nil {
				t.Fatalf("no reply to query %x", raw)
			}
			r := dnstest.Unpack(t, out)
			if !r.Response || r.Id != uint16(raw[0])<<8|uint16(raw[1]) {
				t.Fatalf("reply %v to %x: want QR and the query's ID", r.MsgHdr, raw)
			}
			if tcp {
				continue
			}
			limit := 512
			var req dns.Msg
			if req.Unpack(raw) == nil && req.IsEdns0() != nil {
				limit = 1232
			}
			if len(out) > limit {
				t.Fatalf("UDP reply of %d bytes, limit %d, to %x", len(out), limit, raw)
			}
		}
	})
}
