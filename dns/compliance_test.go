package dns_test

import (
	"regexp"
	"testing"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/dns/dnstest"
)

// TestEDNSCompliance runs the checks of ISC's EDNS compliance tests
// (genreport, https://ednscomp.isc.org) against the server, one row per
// check, named as genreport names it. Queries ask for the zone's SOA, as
// genreport does. Every reply must be the exact message wanted: no drops,
// clean flags, OPT only when the query had one, unknown options and flags
// not echoed.
func TestEDNSCompliance(t *testing.T) {
	f := newFixture(t, nil)
	soa := query{q: "example.test. SOA"}
	edns := func(q query) query { q.edns = 4096; return q }
	answer := []string{soaApex}
	withOpt := func(o ...dns.EDNS0) func(*dns.Msg) {
		return func(m *dns.Msg) { m.IsEdns0().Option = append(m.IsEdns0().Option, o...) }
	}
	version := func(v uint8) func(*dns.Msg) { return func(m *dns.Msg) { m.IsEdns0().SetVersion(v) } }
	unknownOpt := &dns.EDNS0_LOCAL{Code: 100, Data: []byte{}} // +ednsopt=100
	allFlags := func(m *dns.Msg) {
		m.Authoritative, m.Truncated, m.RecursionDesired, m.RecursionAvailable = true, true, true, true
		m.Zero, m.AuthenticatedData, m.CheckingDisabled = true, true, true
	}
	tests := []struct {
		name  string // genreport's name for the check
		q     query
		edit  func(*dns.Msg)
		want  dnstest.Msg
		check func(t *testing.T, got *dns.Msg, size int) // extra checks
	}{
		{name: "dns", q: soa,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer}},
		{name: "aa", q: soa, edit: func(m *dns.Msg) { m.Authoritative = true },
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer}},
		{name: "ad", q: soa, edit: func(m *dns.Msg) { m.AuthenticatedData = true },
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer}},
		{name: "cd", q: soa, edit: func(m *dns.Msg) { m.CheckingDisabled = true },
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa cd", Answer: answer}},
		{name: "ra", q: soa, edit: func(m *dns.Msg) { m.RecursionAvailable = true },
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer}},
		{name: "rd", q: soa, edit: func(m *dns.Msg) { m.RecursionDesired = true },
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa rd", Answer: answer}},
		{name: "tc", q: soa, edit: func(m *dns.Msg) { m.Truncated = true },
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer}},
		{name: "zflag", q: soa, edit: func(m *dns.Msg) { m.Zero = true },
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer}},
		{name: "opcode", q: soa, edit: func(m *dns.Msg) { m.Opcode = 15 },
			want: dnstest.Msg{Rcode: "NOTIMP", Opcode: "OPCODE15", Flags: "qr"}},
		{name: "opcodeflg", q: soa, edit: func(m *dns.Msg) { m.Opcode = 15; allFlags(m) },
			want: dnstest.Msg{Rcode: "NOTIMP", Opcode: "OPCODE15", Flags: "qr rd"}},
		{name: "opcode (with EDNS)", q: edns(soa), edit: func(m *dns.Msg) { m.Opcode = 15 },
			want: dnstest.Msg{Rcode: "NOTIMP", Opcode: "OPCODE15", Flags: "qr", EDNS: ourEDNS}},
		{name: "type666", q: query{q: "example.test. TYPE666"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "type666 (with EDNS)", q: edns(query{q: "example.test. TYPE666"}),
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}, EDNS: ourEDNS}},
		{name: "tcp", q: query{q: "example.test. SOA", tcp: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer}},
		{name: "edns", q: edns(soa),
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer, EDNS: ourEDNS}},
		{name: "edns1", q: edns(soa), edit: version(1),
			want: dnstest.Msg{Rcode: "BADVERS", Flags: "qr", EDNS: ourEDNS}},
		{name: "edns@512", q: query{q: "big.example.test. TXT", edns: 512, do: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa tc", EDNS: "version: 0, flags: do; udp: 1232"},
			check: func(t *testing.T, got *dns.Msg, size int) {
				if size > 512 || len(got.Answer) == 0 {
					t.Errorf("%d bytes with %d answers: want TC and as many answers as fit in 512", size, len(got.Answer))
				}
			}},
		{name: "edns@512 (answer fits)", q: query{q: "example.test. SOA", edns: 512, do: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer, EDNS: "version: 0, flags: do; udp: 1232"}},
		{name: "ednsopt", q: edns(soa), edit: withOpt(unknownOpt),
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer, EDNS: ourEDNS}},
		{name: "edns1opt", q: edns(soa), edit: func(m *dns.Msg) { version(1)(m); withOpt(unknownOpt)(m) },
			want: dnstest.Msg{Rcode: "BADVERS", Flags: "qr", EDNS: ourEDNS}},
		{name: "do", q: query{q: "example.test. SOA", edns: 4096, do: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer, EDNS: "version: 0, flags: do; udp: 1232"}},
		{name: "docd", q: query{q: "example.test. SOA", edns: 4096, do: true, cd: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa cd", Answer: answer, EDNS: "version: 0, flags: do; udp: 1232"}},
		{name: "edns1do", q: query{q: "example.test. SOA", edns: 4096, do: true}, edit: version(1),
			want: dnstest.Msg{Rcode: "BADVERS", Flags: "qr", EDNS: "version: 0, flags: do; udp: 1232"}},
		{name: "ednsflags", q: edns(soa), edit: func(m *dns.Msg) { m.IsEdns0().Hdr.Ttl |= 0x0080 },
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer, EDNS: ourEDNS}},
		{name: "optlist", q: edns(soa), edit: withOpt(
			&dns.EDNS0_NSID{Code: dns.EDNS0NSID},
			dnstest.ECS("192.0.2.0/24"),
			&dns.EDNS0_EXPIRE{Code: dns.EDNS0EXPIRE, Empty: true},
			&dns.EDNS0_LOCAL{Code: dns.EDNS0COOKIE, Data: clientCookie}),
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer, EDNS: ourEDNS,
				Options: []string{"ECS 192.0.2.0/24/0", "COOKIE c11e47c00c1e0001+server"}}},
		{name: "cookie (bind11)", q: edns(soa), edit: withOpt(&dns.EDNS0_LOCAL{Code: dns.EDNS0COOKIE, Data: clientCookie}),
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer, EDNS: ourEDNS,
				Options: []string{"COOKIE c11e47c00c1e0001+server"}}},
		{name: "ednstcp", q: query{q: "example.test. SOA", edns: 4096, tcp: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: answer, EDNS: ourEDNS}},
		{name: "ednstcp (large answer, no TC)", q: query{q: "big.example.test. TXT", edns: 512, tcp: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", EDNS: ourEDNS},
			check: func(t *testing.T, got *dns.Msg, size int) {
				if len(got.Answer) < 40 {
					t.Errorf("%d answers over TCP, want the whole RRset", len(got.Answer))
				}
			}},
	}
	// The server cookie changes with the time: compare its shape.
	cookieText := regexp.MustCompile(`^OPTION10 ([0-9a-f]{16})01000000[0-9a-f]{24}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.q.msg()
			if tt.edit != nil {
				tt.edit(m)
			}
			got, size := dnstest.Exchange(t, tt.q.net(), f.addr, m)
			r := dnstest.Render(got)
			for i, o := range r.Options {
				if c := cookieText.FindStringSubmatch(o); c != nil {
					r.Options[i] = "COOKIE " + c[1] + "+server"
				}
			}
			want := expect(m, tt.want)
			if tt.check != nil { // the answer is checked there
				r.Answer, want.Answer = nil, nil
				tt.check(t, got, size)
			}
			if g, w := r.Sorted(), want.Sorted(); !g.Equal(w) {
				t.Errorf("%s:\ngot:\n%s\nwant:\n%s", tt.q, g, w)
			}
		})
	}
}
