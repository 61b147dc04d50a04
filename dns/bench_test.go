package dns_test

import (
	"net/netip"
	"testing"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/rrl"
	"github.com/gslb/gslb/zones"
)

// BenchmarkServeDNS measures query bytes → reply bytes as a UDP reader
// answers them: with a reused buffer and the reader's own scratch, its
// name cache included (RespondUDP). RRL runs in log-only mode: every
// reply is accounted as in production, none is limited (the benchmark
// asks far above 200/s from one address).
func BenchmarkServeDNS(b *testing.B) {
	var store zones.Store
	store.Replace(loadSnapshot(b))
	health := dnssrv.DownSet{}
	rc := rrl.DefaultConfig()
	rc.LogOnly = true
	loc := &dnssrv.VersionLocator{Locator: dnssrv.TestLocator} // as geo.DB: the reader keeps locations
	loc.Ver.Store(1)
	h := dnssrv.NewHandler(dnssrv.Config{
		RRL:     &rc,
		Zones:   &store,
		Health:  func() dnssrv.HealthView { return health },
		Locator: loc,
		UseECS:  true,
	})
	tests := []struct {
		name string
		q    query
		src  string // source address
	}{
		{"static", query{q: "static.example.test. A"}, "192.0.2.7"},
		{"nxdomain", query{q: "nope.example.test. A"}, "192.0.2.7"},
		{"static-edns", query{q: "static.example.test. A", edns: 1232}, "192.0.2.7"},
		{"roundrobin", query{q: "rr.pools.test. A"}, "192.0.2.7"},
		{"weighted", query{q: "weighted.pools.test. A"}, "192.0.2.7"},
		{"failover", query{q: "failover.pools.test. A"}, "192.0.2.7"},
		{"sticky", query{q: "sticky.pools.test. A"}, "192.0.2.7"},
		{"geo", query{q: "geo1.pools.test. A"}, "81.2.69.142"},
		{"geo-ecs", query{q: "geo1.pools.test. A", edns: 1232, ecs: "81.2.69.0/24"}, "192.0.2.7"},
		{"roundrobin-cookie", query{q: "rr.pools.test. A", edns: 1232, cookie: "0102030405060708"}, "192.0.2.7"},
		{"nearest", query{q: "near.pools.test. A"}, "81.2.69.142"},
	}
	for _, tt := range tests {
		raw, err := tt.q.msg().Pack()
		if err != nil {
			b.Fatal(err)
		}
		src := netip.AddrPortFrom(netip.MustParseAddr(tt.src), 5353)
		buf := make([]byte, 0, 65535)
		scratch := dnssrv.NewReaderScratch(loc)
		// Sanity: the reply is an answer.
		if r := dnstest.Render(dnstest.Unpack(b, h.RespondUDP(raw, src, buf, scratch))); r.Rcode == "SERVFAIL" || r.Rcode == "FORMERR" {
			b.Fatalf("%s: %s", tt.name, r)
		}
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if out := h.RespondUDP(raw, src, buf, scratch); len(out) == 0 {
					b.Fatal("no reply")
				}
			}
		})
	}
}
