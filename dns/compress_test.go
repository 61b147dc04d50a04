package dns_test

import "testing"

// TestRepliesCompressed: answers go out with name compression (as NSD and
// gdnsd send them), over UDP and TCP, with and without EDNS, so a reply
// is as small as its records allow.
func TestRepliesCompressed(t *testing.T) {
	f := newFixture(t, nil)
	for _, q := range []query{
		{q: "rr.pools.test. A"},
		{q: "rr.pools.test. A", edns: 1232},
		{q: "rr.pools.test. A", tcp: true},
		{q: "nope.pools.test. A"},
	} {
		got, size := f.ask(t, q)
		if len(got.Answer)+len(got.Ns) == 0 {
			t.Fatalf("%s: empty reply %v", q, got)
		}
		got.Compress = true
		if want := got.Len(); size != want {
			t.Errorf("%s: reply is %d bytes, want %d (compressed)", q, size, want)
		}
	}
}
