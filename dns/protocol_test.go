package dns_test

import (
	"testing"

	"github.com/gslb/gslb/dns/dnstest"
)

// Lines that many expectations share.
const (
	soaNeg   = "example.test. 60 IN SOA ns1.example.test. hostmaster.example.test. 2024010101 3600 600 1209600 60"
	soaApex  = "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2024010101 3600 600 1209600 60"
	negSOA30 = "neg.test. 30 IN SOA ns1.example.test. hostmaster.neg.test. 7 3600 600 1209600 300"
	poolsSOA = "pools.test. 60 IN SOA ns1.example.test. hostmaster.pools.test. 1 3600 600 1209600 60"
	dsLine   = "sub.example.test. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
)

var (
	staticA = []string{"static.example.test. 300 IN A 192.0.2.1", "static.example.test. 300 IN A 192.0.2.2"}
	subNS   = []string{
		"sub.example.test. 3600 IN NS ns1.sub.example.test.",
		"sub.example.test. 3600 IN NS ns2.sub.example.test.",
		"sub.example.test. 3600 IN NS ns1.example.test.",
		"sub.example.test. 3600 IN NS ns.elsewhere.test.",
	}
	// Glue: only the name servers inside sub.example.test. (ns1.example.test.
	// is in our zone but outside the delegation: not glue).
	subGlue = []string{
		"ns1.sub.example.test. 3600 IN A 192.0.2.54",
		"ns1.sub.example.test. 3600 IN AAAA 2001:db8::54",
		"ns2.sub.example.test. 3600 IN A 192.0.2.55",
	}
)

func cat(ss ...[]string) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s...)
	}
	return out
}

// TestAnswers covers what an authoritative server answers from its zones:
// AA, REFUSED, negative answers, CNAME chains, wildcards, delegations,
// minimal ANY, unknown types, zone transfers and case.
func TestAnswers(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name    string
		q       query
		want    dnstest.Msg
		ordered bool // record order is part of the expectation
	}{
		// Plain answers: AA set, nothing else.
		{name: "static A", q: query{q: "static.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA}},
		{name: "static AAAA", q: query{q: "static.example.test. AAAA"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"static.example.test. 300 IN AAAA 2001:db8::1"}}},
		{name: "apex MX", q: query{q: "example.test. MX"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"example.test. 3600 IN MX 10 mail.example.test."}}},
		{name: "apex NS", q: query{q: "example.test. NS"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"example.test. 3600 IN NS ns1.example.test.", "example.test. 3600 IN NS ns2.example.test."}}},
		{name: "apex SOA", q: query{q: "example.test. SOA"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{soaApex}}},
		{name: "pool A", q: query{q: "www.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"www.example.test. 30 IN A 192.0.2.10"}}},
		{name: "pool AAAA", q: query{q: "www.example.test. AAAA"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"www.example.test. 30 IN AAAA 2001:db8::10"}}},
		{name: "pool name, static-less type", q: query{q: "www.example.test. TXT"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "class ANY is IN", q: query{q: "static.example.test. ANY TXT"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{`static.example.test. 300 IN TXT "static text"`}}},

		// Not ours.
		{name: "outside every zone", q: query{q: "www.example.net. A"},
			want: dnstest.Msg{Rcode: "REFUSED", Flags: "qr"}},
		{name: "parent of our zones", q: query{q: "test. SOA"},
			want: dnstest.Msg{Rcode: "REFUSED", Flags: "qr"}},
		{name: "root", q: query{q: ". NS"},
			want: dnstest.Msg{Rcode: "REFUSED", Flags: "qr"}},
		{name: "class HS", q: query{q: "static.example.test. HS A"},
			want: dnstest.Msg{Rcode: "REFUSED", Flags: "qr"}},

		// Negative answers: SOA in authority, TTL = min(SOA TTL, minimum).
		{name: "NXDOMAIN", q: query{q: "nope.example.test. A"},
			want: dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "NXDOMAIN deep", q: query{q: "a.b.nope.example.test. AAAA"},
			want: dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "NODATA", q: query{q: "mail.example.test. MX"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "NXDOMAIN, SOA TTL below minimum", q: query{q: "nope.neg.test. A"},
			want: dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{negSOA30}}},
		{name: "NODATA, SOA TTL below minimum", q: query{q: "here.neg.test. AAAA"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{negSOA30}}},
		{name: "unknown type TYPE666", q: query{q: "static.example.test. TYPE666"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "pool without the family", q: query{q: "v4only.example.test. AAAA"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},

		// CNAME chains inside the zone.
		{name: "CNAME two hops", q: query{q: "alias.example.test. A"}, ordered: true,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: cat([]string{
				"alias.example.test. 3600 IN CNAME alias2.example.test.",
				"alias2.example.test. 600 IN CNAME static.example.test.",
			}, staticA)}},
		{name: "CNAME chain to NODATA", q: query{q: "alias.example.test. MX"}, ordered: true,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{
				"alias.example.test. 3600 IN CNAME alias2.example.test.",
				"alias2.example.test. 600 IN CNAME static.example.test.",
			}, Ns: []string{soaNeg}}},
		{name: "CNAME asked for", q: query{q: "alias.example.test. CNAME"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"alias.example.test. 3600 IN CNAME alias2.example.test."}}},
		{name: "CNAME loop terminates", q: query{q: "loop-a.example.test. A"}, ordered: true,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{
				"loop-a.example.test. 3600 IN CNAME loop-b.example.test.",
				"loop-b.example.test. 3600 IN CNAME loop-a.example.test.",
			}}},
		{name: "CNAME to a missing name (RFC 6604)", q: query{q: "dangling.example.test. A"},
			want: dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Answer: []string{"dangling.example.test. 3600 IN CNAME missing.example.test."}, Ns: []string{soaNeg}}},
		{name: "CNAME out of zone stops", q: query{q: "outside.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"outside.example.test. 3600 IN CNAME www.example.net."}}},
		{name: "CNAME to a pool", q: query{q: "topool.example.test. A"}, ordered: true,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{
				"topool.example.test. 3600 IN CNAME www.example.test.",
				"www.example.test. 30 IN A 192.0.2.10",
			}}},
		{name: "CNAME into a delegation", q: query{q: "todeleg.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"todeleg.example.test. 3600 IN CNAME host.sub.example.test."}, Ns: subNS, Extra: subGlue}},

		// Wildcards (RFC 4592).
		{name: "wildcard match", q: query{q: "foo.dev.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"foo.dev.example.test. 3600 IN A 198.51.100.80"}}},
		{name: "wildcard match, several labels", q: query{q: "a.b.c.dev.example.test. TXT"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{`a.b.c.dev.example.test. 3600 IN TXT "wild"`}}},
		{name: "wildcard NODATA", q: query{q: "foo.dev.example.test. MX"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "existing name beside the wildcard", q: query{q: "host.dev.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"host.dev.example.test. 3600 IN A 198.51.100.81"}}},
		{name: "existing name: no wildcard for its other types", q: query{q: "host.dev.example.test. TXT"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "no wildcard below an existing name", q: query{q: "x.host.dev.example.test. A"},
			want: dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "empty non-terminal is NODATA, not the wildcard", q: query{q: "ent.dev.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "empty non-terminal blocks the wildcard below it", q: query{q: "x.ent.dev.example.test. A"},
			want: dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "the wildcard's parent is an empty non-terminal", q: query{q: "dev.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "literal * name", q: query{q: "*.dev.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"*.dev.example.test. 3600 IN A 198.51.100.80"}}},
		{name: "wildcard CNAME", q: query{q: "x.cn.example.test. A"}, ordered: true,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: cat([]string{"x.cn.example.test. 3600 IN CNAME static.example.test."}, staticA)}},

		// Delegations: referrals are not authoritative.
		{name: "referral below the cut", q: query{q: "host.sub.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr", Ns: subNS, Extra: subGlue}},
		{name: "referral for a glue name", q: query{q: "ns1.sub.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr", Ns: subNS, Extra: subGlue}},
		{name: "NS at the cut is a referral", q: query{q: "sub.example.test. NS"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr", Ns: subNS, Extra: subGlue}},
		{name: "A at the cut is a referral", q: query{q: "sub.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr", Ns: subNS, Extra: subGlue}},
		{name: "DS at the cut is ours", q: query{q: "sub.example.test. DS"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{dsLine}}},
		{name: "DS below the cut is a referral", q: query{q: "host.sub.example.test. DS"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr", Ns: subNS, Extra: subGlue}},
		{name: "no DS at the cut: NODATA", q: query{q: "nods.example.test. DS"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "referral without glue", q: query{q: "x.nods.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr", Ns: []string{"nods.example.test. 3600 IN NS ns.elsewhere.test."}}},

		// Minimal ANY (RFC 8482): one RRset.
		{name: "ANY at a static name", q: query{q: "static.example.test. ANY"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA}},
		{name: "ANY at the apex", q: query{q: "example.test. ANY"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"example.test. 3600 IN NS ns1.example.test.", "example.test. 3600 IN NS ns2.example.test."}}},
		{name: "ANY at a pool", q: query{q: "www.example.test. ANY"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"www.example.test. 30 IN A 192.0.2.10"}}},
		{name: "ANY at a wildcard", q: query{q: "foo.dev.example.test. ANY"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"foo.dev.example.test. 3600 IN A 198.51.100.80"}}},
		{name: "ANY at an empty non-terminal", q: query{q: "ent.dev.example.test. ANY"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "ANY at a CNAME follows it", q: query{q: "alias2.example.test. ANY"}, ordered: true,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: cat([]string{"alias2.example.test. 600 IN CNAME static.example.test."}, staticA)}},

		// Zone transfers and meta types.
		{name: "AXFR over UDP", q: query{q: "example.test. AXFR"},
			want: dnstest.Msg{Rcode: "REFUSED", Flags: "qr"}},
		{name: "AXFR over TCP", q: query{q: "example.test. AXFR", tcp: true},
			want: dnstest.Msg{Rcode: "REFUSED", Flags: "qr"}},
		{name: "IXFR", q: query{q: "example.test. IXFR", tcp: true},
			want: dnstest.Msg{Rcode: "REFUSED", Flags: "qr"}},
		{name: "MAILB", q: query{q: "example.test. MAILB"},
			want: dnstest.Msg{Rcode: "NOTIMP", Flags: "qr"}},
		{name: "QTYPE OPT", q: query{q: "example.test. OPT"},
			want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr"}},

		// Case: the question as asked, names matched without case.
		{name: "mixed case pool", q: query{q: "wWw.ExAmPlE.tEsT. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"www.example.test. 30 IN A 192.0.2.10"}}},
		{name: "mixed case static", q: query{q: "StAtIc.EXAMPLE.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA}},
		{name: "mixed case NXDOMAIN", q: query{q: "NoPe.ExAmPlE.TeSt. A"},
			want: dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "mixed case wildcard", q: query{q: "FoO.DeV.example.test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{"foo.dev.example.test. 3600 IN A 198.51.100.80"}}},
		{name: "mixed case referral", q: query{q: "HOST.Sub.Example.Test. A"},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr", Ns: subNS, Extra: subGlue}},

		// Header bits: RD and CD are copied, RA, AD and Z never set.
		{name: "RD CD AD Z in the query", q: query{q: "static.example.test. A", rd: true, cd: true, ad: true, z: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa rd cd", Answer: staticA}},
		{name: "RD alone", q: query{q: "static.example.test. A", rd: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa rd", Answer: staticA}},
		{name: "AD and Z alone", q: query{q: "nope.example.test. A", ad: true, z: true},
			want: dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{soaNeg}}},
		{name: "RD on a refusal", q: query{q: "www.example.net. A", rd: true, cd: true},
			want: dnstest.Msg{Rcode: "REFUSED", Flags: "qr rd cd"}},

		// The same over TCP.
		{name: "TCP static", q: query{q: "static.example.test. A", tcp: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA}},
		{name: "TCP referral", q: query{q: "host.sub.example.test. A", tcp: true},
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr", Ns: subNS, Extra: subGlue}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.run(t, tt.q, tt.want, tt.ordered)
		})
	}
}
