package dns_test

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/dns/dnstest"
)

// TestQueryParsing: the handler reads the header, the question, one OPT
// and one TSIG, and nothing else. A QUERY with records in the answer or
// authority section, or more than two in the additional section, is
// refused with FORMERR from the header counts before any record is read
// (so an OPT after them is not seen and not echoed); any additional
// record other than OPT and TSIG (last) is FORMERR too, as in NSD. Other
// opcodes may carry records: they are skipped unread, and the OPT found
// after them is echoed in the NOTIMP.
func TestQueryParsing(t *testing.T) {
	f := newFixture(t, nil)
	q := func(id, an, ns, ar uint16) wire {
		return wire(nil).header(id, 0, 1, an, ns, ar).question("static.example.test.", dns.TypeA, dns.ClassINET)
	}
	a := func(w wire) wire {
		return w.name("static.example.test.").rr(dns.TypeA, dns.ClassINET, 60, []byte{192, 0, 2, 1})
	}
	question := []string{"static.example.test. IN A"}
	formerr := dnstest.Msg{Rcode: "FORMERR", Opcode: "QUERY", Flags: "qr", Question: question}
	withOPT := func(m dnstest.Msg) dnstest.Msg { m.EDNS = ourEDNS; return m }
	tsig := func(w wire) wire {
		return w.name("key.").rr(dns.TypeTSIG, dns.ClassANY, 0, tsigRDATA("hmac-sha256.", make([]byte, 32), nil))
	}
	tests := []struct {
		name string
		raw  []byte
		want dnstest.Msg
	}{
		{"answer record, then OPT", a(q(1, 1, 0, 1)).opt(1232, 0), formerr},
		{"authority record, then OPT", a(q(2, 0, 1, 1)).opt(1232, 0), formerr},
		{"ANCOUNT 65535, no records", q(3, 65535, 0, 0), formerr},
		{"ARCOUNT 3", q(4, 0, 0, 3).opt(1232, 0), formerr},
		{"A record in additional", a(q(5, 0, 0, 1)), formerr},
		{"OPT then an A record", a(q(6, 0, 0, 2).opt(1232, 0)), formerr},
		{"SIG(0) in additional", q(7, 0, 0, 1).name(".").rr(dns.TypeSIG, dns.ClassANY, 0, make([]byte, 30)), formerr},
		{"TSIG before OPT", tsig(q(8, 0, 0, 2)).opt(1232, 0), formerr},
		{"two TSIGs", tsig(tsig(q(9, 0, 0, 2))), formerr},
		{"TSIG with empty RDATA", q(10, 0, 0, 1).name("key.").rr(dns.TypeTSIG, dns.ClassANY, 0, nil), formerr},
		{"OPT option past its RDATA", q(11, 0, 0, 1).opt(1232, 0, []byte{0, 10, 0, 9, 1}), formerr},
		{"OPT cut short", q(12, 0, 0, 1).opt(1232, 0, option(10, clientCookie))[:55], formerr},
		{"trailing bytes ignored", append(q(13, 0, 0, 1).opt(1232, 0), 1, 2, 3),
			withOPT(dnstest.Msg{Rcode: "NOERROR", Opcode: "QUERY", Flags: "qr aa", Question: question, Answer: staticA})},
		{"UPDATE with records: skipped, OPT echoed", a(a(wire(nil).header(14, 5<<11, 1, 1, 1, 2).question("example.test.", dns.TypeSOA, dns.ClassINET))).
			name("x.").rr(dns.TypeA, dns.ClassINET, 0, []byte{1, 2, 3, 4}).opt(1232, 0),
			dnstest.Msg{Rcode: "NOTIMP", Opcode: "UPDATE", Flags: "qr", Question: []string{"example.test. IN SOA"}, EDNS: ourEDNS}},
		{"NOTIFY with a record cut short", wire(nil).header(15, 4<<11, 1, 1, 0, 0).question("example.test.", dns.TypeSOA, dns.ClassINET).name("example.test.").u16(6),
			dnstest.Msg{Rcode: "FORMERR", Opcode: "NOTIFY", Flags: "qr", Question: []string{"example.test. IN SOA"}}},
	}
	for _, tt := range tests {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+netw, func(t *testing.T) {
				got := dnstest.Unpack(t, dnstest.ExchangeRaw(t, netw, f.addr, tt.raw))
				checkMsg(t, tt.name, got, tt.want, false)
			})
		}
	}
}

// TestTSIG: we hold no TSIG keys, so a signed query gets NOTAUTH with an
// unsigned TSIG saying BADKEY (RFC 8945 §5.2.1), naming the key and
// algorithm it was signed with; the OPT is echoed.
func TestTSIG(t *testing.T) {
	f := newFixture(t, nil)
	for _, edns := range []bool{false, true} {
		for _, netw := range []string{"udp", "tcp"} {
			m := query{q: "static.example.test. A", rd: true}.msg()
			if edns {
				dnstest.EDNS(m, 1232)
			}
			m.Id = 4242
			m.SetTsig("transfer.key.", dns.HmacSHA256, 300, 1700000000)
			co := dnstest.Dial(t, netw, f.addr)
			co.TsigSecret = map[string]string{"transfer.key.": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}
			if err := co.WriteMsg(m); err != nil {
				t.Fatal(err)
			}
			got := dnstest.Unpack(t, dnstest.ReadRaw(t, co))
			ts := got.IsTsig()
			if ts == nil {
				t.Fatalf("edns=%v %s: no TSIG in %v", edns, netw, got)
			}
			got.Extra = got.Extra[:len(got.Extra)-1]
			want := dnstest.Msg{Rcode: "NOTAUTH", Opcode: "QUERY", Flags: "qr rd", Question: []string{"static.example.test. IN A"}}
			if edns {
				want.EDNS = ourEDNS
			}
			checkMsg(t, netw, got, want, false)
			if ts.Hdr.Name != "transfer.key." || ts.Hdr.Class != dns.ClassANY || ts.Algorithm != dns.HmacSHA256 ||
				ts.TimeSigned != 1700000000 || ts.Fudge != 300 || ts.MACSize != 0 || ts.OrigId != 4242 || ts.Error != dns.RcodeBadKey {
				t.Errorf("edns=%v %s: TSIG %v, want transfer.key. hmac-sha256. 1700000000 300, no MAC, orig id 4242, BADKEY", edns, netw, ts)
			}
		}
	}
	if n := f.h.Stats.TSIG.Load(); n != 4 {
		t.Errorf("Stats.TSIG = %d, want 4", n)
	}
}
