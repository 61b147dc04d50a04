package dns_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
)

func useECS(c *dnssrv.Config) { c.UseECS = true }

// a renders the A (or AAAA) answer lines of pool name for addresses.
func a(name string, ttl int, addrs ...string) []string {
	var out []string
	for _, s := range addrs {
		t := "A"
		if netip.MustParseAddr(s).Is6() {
			t = "AAAA"
		}
		out = append(out, fmt.Sprintf("%s %d IN %s %s", name, ttl, t, s))
	}
	return out
}

// ecsEcho is the ECS option a reply carries for a query's prefix.
func ecsEcho(prefix string, scope int) string {
	e := dnstest.ECS(prefix)
	e.SourceScope = uint8(scope)
	return "ECS " + e.String()
}

const geoName = "geo.pools.test."

// TestECS: the client comes from ECS; the option comes back only when
// sent, with the scope the answer holds for (RFC 7871).
func TestECS(t *testing.T) {
	f := newFixture(t, useECS)
	geoAll := []string{"192.0.2.101", "192.0.2.102", "192.0.2.103", "192.0.2.104", "192.0.2.105", "192.0.2.106"}
	tests := []struct {
		name    string
		q       string // NAME TYPE
		ecs     string
		rcode   string
		answer  []string
		ns      []string
		ordered bool
		scope   int
	}{
		// Answers that do not depend on the client: scope 0.
		{name: "static", q: "static.example.test. A", ecs: "192.0.2.0/24", answer: staticA},
		{name: "static, IPv6 client", q: "static.example.test. A", ecs: "2001:db8:1::/48", answer: staticA},
		{name: "NXDOMAIN", q: "nope.example.test. A", ecs: "192.0.2.0/24", rcode: "NXDOMAIN", ns: []string{soaNeg}},
		{name: "roundrobin", q: "rr.pools.test. A", ecs: "81.2.69.0/24", answer: a("rr.pools.test.", 30, "192.0.2.1", "192.0.2.2", "192.0.2.3")},
		{name: "pool without the family", q: "v4only.pools.test. AAAA", ecs: "81.2.69.0/24", ns: []string{poolsSOA}},

		// geo: the database network, or the matched networks entry.
		{name: "geo country", q: "geo.pools.test. A", ecs: "81.2.69.0/24", answer: a(geoName, 30, "192.0.2.101"), scope: 24},
		{name: "geo country, host address", q: "geo.pools.test. A", ecs: "81.2.69.142/32", answer: a(geoName, 30, "192.0.2.101"), scope: 24},
		{name: "geo subdivision", q: "geo.pools.test. A", ecs: "198.51.100.0/24", answer: a(geoName, 30, "192.0.2.102"), scope: 24},
		{name: "geo country without its subdivision", q: "geo.pools.test. A", ecs: "216.160.83.0/24", answer: a(geoName, 30, "192.0.2.103"), scope: 24},
		{name: "geo continent", q: "geo.pools.test. A", ecs: "175.16.199.0/24", answer: a(geoName, 30, "192.0.2.104"), scope: 24},
		{name: "geo nearest fallback", q: "geo.pools.test. A", ecs: "89.160.20.0/24", ordered: true, scope: 24,
			answer: a(geoName, 30, "192.0.2.101", "192.0.2.103", "192.0.2.104", "192.0.2.102", "192.0.2.105", "192.0.2.106")},
		{name: "geo networks, longest prefix", q: "geo.pools.test. A", ecs: "203.0.113.200/32", answer: a(geoName, 30, "192.0.2.106"), scope: 25},
		{name: "geo networks, the /25 itself", q: "geo.pools.test. A", ecs: "203.0.113.128/25", answer: a(geoName, 30, "192.0.2.106"), scope: 25},
		// The /24 answer holds only for its lower half: the /25 inside it
		// goes elsewhere, so the scope is 25, longer than the source.
		{name: "geo networks, around a longer entry", q: "geo.pools.test. A", ecs: "203.0.113.0/24", answer: a(geoName, 30, "192.0.2.105"), scope: 25},
		{name: "geo networks, host", q: "geo.pools.test. A", ecs: "203.0.113.5/32", answer: a(geoName, 30, "192.0.2.105"), scope: 25},
		// 203.0.5.0 is in the database's 203.0.0.0/16 (AU) but outside
		// 203.0.113.0/24: 203.0.5 and 203.0.113 share 17 bits, so /18 is
		// the shortest scope that keeps the entry out.
		{name: "geo, wider DB network than a networks entry", q: "geo.pools.test. A", ecs: "203.0.5.0/24", ordered: true, scope: 18,
			answer: a(geoName, 30, "192.0.2.104", "192.0.2.102", "192.0.2.103", "192.0.2.101", "192.0.2.105", "192.0.2.106")},
		{name: "geo, client unknown", q: "geo.pools.test. A", ecs: "192.0.2.0/24", answer: a(geoName, 30, geoAll...), scope: 24},
		{name: "geo, client unknown, short source", q: "geo.pools.test. A", ecs: "10.1.0.0/16", answer: a(geoName, 30, geoAll...), scope: 16},
		{name: "geo, known but no tier and no coordinates", q: "geo.pools.test. A", ecs: "100.64.0.0/24", answer: a(geoName, 30, geoAll...), scope: 20},
		{name: "geo IPv6 client, A", q: "geo.pools.test. A", ecs: "2001:db8:1::/48", answer: a(geoName, 30, "192.0.2.104"), scope: 48},
		{name: "geo IPv6 client, AAAA", q: "geo.pools.test. AAAA", ecs: "2001:db8:1::/48", answer: a(geoName, 30, "2001:db8::104"), scope: 48},
		{name: "geo IPv6 networks", q: "geo.pools.test. AAAA", ecs: "2001:db8:ff:1::/64", answer: a(geoName, 30, "2001:db8::105"), scope: 48},
		{name: "geo IPv6 nearest fallback", q: "geo.pools.test. AAAA", ecs: "2001:db8:2::/56", ordered: true, scope: 48,
			answer: a(geoName, 30, "2001:db8::104", "2001:db8::105")},
		{name: "geo IPv6 unknown", q: "geo.pools.test. AAAA", ecs: "2001:db8:3::/48", answer: a(geoName, 30, "2001:db8::104", "2001:db8::105"), scope: 48},

		// nearest: the database network.
		{name: "nearest", q: "near.pools.test. A", ecs: "81.2.69.0/24", ordered: true, scope: 24,
			answer: a("near.pools.test.", 30, "192.0.2.121", "192.0.2.122", "192.0.2.123")},
		{name: "nearest, unknown", q: "near.pools.test. A", ecs: "192.0.2.0/24", scope: 24,
			answer: a("near.pools.test.", 30, "192.0.2.121", "192.0.2.122", "192.0.2.123")},

		// Source prefix 0: do not tailor; scope 0.
		{name: "source /0: no tailoring", q: "geo.pools.test. A", ecs: "0.0.0.0/0", answer: a(geoName, 30, geoAll...)},
		{name: "source /0 IPv6: no tailoring", q: "geo.pools.test. A", ecs: "::/0", answer: a(geoName, 30, geoAll...)},
		{name: "source /0, nearest", q: "near.pools.test. A", ecs: "0.0.0.0/0",
			answer: a("near.pools.test.", 30, "192.0.2.121", "192.0.2.122", "192.0.2.123")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := query{q: tt.q, edns: 1232, ecs: tt.ecs}
			want := dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: tt.answer, Ns: tt.ns, EDNS: ourEDNS,
				Options: []string{ecsEcho(tt.ecs, tt.scope)}}
			if tt.rcode != "" {
				want.Rcode = tt.rcode
			}
			f.run(t, q, want, tt.ordered)
			q.tcp = true
			f.run(t, q, want, tt.ordered)
		})
	}
}

// TestECSNotSent: with ECS in use, a query without the option gets none
// back and is answered for its source address (127.0.0.1: unknown).
func TestECSNotSent(t *testing.T) {
	f := newFixture(t, useECS)
	f.run(t, query{q: "geo.pools.test. A", edns: 1232}, dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", EDNS: ourEDNS,
		Answer: a(geoName, 30, "192.0.2.101", "192.0.2.102", "192.0.2.103", "192.0.2.104", "192.0.2.105", "192.0.2.106")}, false)
	f.run(t, query{q: "static.example.test. A", edns: 1232}, dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", EDNS: ourEDNS, Answer: staticA}, false)
}

// TestECSFamily0: "dig +subnet=0" sends family 0 with source /0: valid,
// answered untailored, echoed.
func TestECSFamily0(t *testing.T) {
	f := newFixture(t, useECS)
	m := query{q: "geo.pools.test. A", edns: 1232}.msg()
	m.IsEdns0().Option = append(m.IsEdns0().Option, rawECS(0, 0, 0))
	got, _ := dnstest.Exchange(t, "udp", f.addr, m)
	checkMsg(t, "family 0", got, expect(m, dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", EDNS: ourEDNS, Options: []string{"ECS 0.0.0.0/0/0"},
		Answer: a(geoName, 30, "192.0.2.101", "192.0.2.102", "192.0.2.103", "192.0.2.104", "192.0.2.105", "192.0.2.106")}), false)
}

// TestECSSticky: sticky answers hold for the hashed /24 (/56 for IPv6),
// whatever the source prefix.
func TestECSSticky(t *testing.T) {
	f := newFixture(t, useECS)
	tests := []struct {
		qtype string
		ecs   []string // all in one sticky subnet
		scope int
	}{
		{"A", []string{"192.0.2.0/24", "192.0.2.77/32", "192.0.2.200/32", "192.0.2.128/25"}, 24},
		{"A", []string{"198.51.100.0/24", "198.51.100.1/32"}, 24},
		{"AAAA", []string{"2001:db8:1:100::/56", "2001:db8:1:1ff::/64", "2001:db8:1:180::1/128"}, 56},
		{"A", []string{"2001:db8:1:100::/56", "2001:db8:1:1ff::/64"}, 56}, // IPv6 client, IPv4 answer
		{"AAAA", []string{"192.0.2.0/24", "192.0.2.9/32"}, 24},
	}
	for _, tt := range tests {
		t.Run(tt.qtype+" "+tt.ecs[0], func(t *testing.T) {
			var first string
			for _, e := range tt.ecs {
				got, _ := f.ask(t, query{q: "sticky.pools.test. " + tt.qtype, edns: 1232, ecs: e})
				r := dnstest.Render(got)
				if len(r.Answer) != 1 {
					t.Fatalf("ECS %s: %d answers, want 1:\n%s", e, len(r.Answer), r)
				}
				if first == "" {
					first = r.Answer[0]
				}
				if r.Answer[0] != first {
					t.Errorf("ECS %s: got %s, want %s (same sticky subnet as %s)", e, r.Answer[0], first, tt.ecs[0])
				}
				if want := []string{ecsEcho(e, tt.scope)}; !equal(r.Options, want) {
					t.Errorf("ECS %s: options %v, want %v", e, r.Options, want)
				}
			}
			if !strings.HasPrefix(first, "sticky.pools.test. 30 IN "+tt.qtype+" ") {
				t.Errorf("answer %q is not a sticky %s record", first, tt.qtype)
			}
		})
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// TestECSWithoutUseECS: a server not configured for ECS answers for the
// source address, so the ECS it echoes must say scope 0 even for a
// client-dependent policy: the answer holds for every subnet.
func TestECSWithoutUseECS(t *testing.T) {
	f := newFixture(t, nil)
	for _, q := range []string{"sticky.pools.test. A", "geo.pools.test. A", "near.pools.test. A"} {
		got, _ := f.ask(t, query{q: q, edns: 1232, ecs: "81.2.69.0/24"})
		r := dnstest.Render(got)
		if want := []string{"ECS 81.2.69.0/24/0"}; !equal(r.Options, want) {
			t.Errorf("%s +subnet=81.2.69.0/24 without UseECS: options %v, want %v", q, r.Options, want)
		}
	}
}

// rawECS is an ECS option as raw bytes (miekg/dns would mask or reject
// what these tests need to send).
func rawECS(family uint16, source, scope uint8, addr ...byte) *dns.EDNS0_LOCAL {
	return &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: append([]byte{byte(family >> 8), byte(family), source, scope}, addr...)}
}

// TestECSFormErr: RFC 7871 §6 errors get FORMERR.
func TestECSFormErr(t *testing.T) {
	f := newFixture(t, useECS)
	// The handler reads the option itself: the reply echoes the question
	// and the OPT (without the bad ECS).
	checked := dnstest.Msg{Rcode: "FORMERR", Flags: "qr rd", EDNS: ourEDNS}
	tests := []struct {
		name string
		opt  *dns.EDNS0_LOCAL
		want dnstest.Msg
	}{
		{"address bits beyond the source prefix", rawECS(1, 20, 0, 192, 0, 31), checked},
		{"host bits set, /24", rawECS(1, 24, 0, 192, 0, 2, 7), checked},
		{"address longer than the prefix needs", rawECS(1, 24, 0, 192, 0, 2, 0), checked},
		{"address shorter than the prefix needs", rawECS(1, 24, 0, 192, 0), checked},
		{"address with source /0", rawECS(1, 0, 0, 0), checked},
		{"IPv6 bits beyond", rawECS(2, 33, 0, 0x20, 0x01, 0x0d, 0xb8, 0xff), checked},
		{"IPv6 address too long", rawECS(2, 32, 0, 0x20, 0x01, 0x0d, 0xb8, 0), checked},
		{"family 3", rawECS(3, 24, 0, 192, 0, 2), checked},
		{"family 0 with a prefix", rawECS(0, 8, 0, 10), checked},
		{"prefix 33 for IPv4", rawECS(1, 33, 0, 192, 0, 2, 0, 0), checked},
		{"prefix 129 for IPv6", rawECS(2, 129, 0, make([]byte, 17)...), checked},
		{"empty option", &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET}, checked},
		{"three bytes", &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: []byte{0, 1, 24}}, checked},
	}
	for _, tt := range tests {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+netw, func(t *testing.T) {
				m := query{q: "geo.pools.test. A", edns: 1232, rd: true}.msg()
				m.IsEdns0().Option = append(m.IsEdns0().Option, tt.opt)
				got, _ := dnstest.Exchange(t, netw, f.addr, m)
				checkMsg(t, fmt.Sprintf("ECS %x", tt.opt.Data), got, expect(m, tt.want), false)
			})
		}
	}
}
