package dns_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/rrl"
	"github.com/gslb/gslb/zones"
)

// checkReply is what any reply out to the bytes raw must satisfy: nothing
// for a response (QR=1) or a runt; otherwise a well-formed reply with the
// query's ID and opcode, clean flags (no RA, AD or Z; TC only over UDP),
// at most one question, and within 512 bytes over UDP (1232 with EDNS).
func checkReply(raw, out []byte, tcp bool) error {
	if len(raw) < 12 || raw[2]&0x80 != 0 {
		if out != nil {
			return fmt.Errorf("replied to a response or runt")
		}
		return nil
	}
	if out == nil {
		return fmt.Errorf("no reply")
	}
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		return fmt.Errorf("reply does not unpack: %v", err)
	}
	if !r.Response || r.Id != uint16(raw[0])<<8|uint16(raw[1]) || r.Opcode != int(raw[2]>>3&0xF) {
		return fmt.Errorf("reply header %+v: want QR and the query's ID and opcode", r.MsgHdr)
	}
	if r.RecursionAvailable || r.AuthenticatedData || r.Zero || (tcp && r.Truncated) {
		return fmt.Errorf("reply flags %+v", r.MsgHdr)
	}
	if len(r.Question) > 1 {
		return fmt.Errorf("reply has %d questions", len(r.Question))
	}
	if !tcp {
		limit := 512
		if r.IsEdns0() != nil {
			limit = 1232
		}
		if len(out) > limit {
			return fmt.Errorf("UDP reply of %d bytes, limit %d", len(out), limit)
		}
	}
	return nil
}

// FuzzServeDNS feeds arbitrary bytes to Handler.Respond, the path every
// UDP packet and TCP message takes (header checks, parsing, answer, RRL,
// cookies, truncation, pack): over TCP, over UDP from an RRL-exempt
// source, and over UDP from a limited one. Never a panic (Stats.Panics),
// every reply passes checkReply, and a reply RRL slipped has TC and no
// records. Seeds: the queries below and testdata/fuzz/FuzzServeDNS (the
// query-of-death shapes, see TestFuzzCorpus).
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
		{q: "nope.example.test. A", edns: 1232},
	}
	for _, s := range seeds {
		raw, err := s.msg().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	var store zones.Store
	store.Replace(loadSnapshot(f))
	rc := rrl.DefaultConfig()
	rc.ResponsesPerSecond = 50 // reach the limit quickly
	h := dnssrv.NewHandler(dnssrv.Config{Zones: &store, Locator: dnssrv.TestLocator, UseECS: true,
		ChaosVersion: "v", ChaosID: "id", RRL: &rc})
	exempt := netip.MustParseAddrPort("127.0.0.1:5353")
	limited := netip.MustParseAddrPort("192.0.2.7:5353")
	buf := make([]byte, 0, 65535)
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, c := range []struct {
			src netip.AddrPort
			tcp bool
		}{{exempt, true}, {exempt, false}, {limited, false}} {
			slipped, dropped := h.Stats.RRLSlipped.Load(), h.Stats.RRLDropped.Load()
			out := h.Respond(raw, c.src, c.tcp, buf)
			if p := h.Stats.Panics.Load(); p > 0 {
				t.Fatalf("handler panicked on %x", raw)
			}
			if out == nil && h.Stats.RRLDropped.Load() > dropped {
				continue
			}
			if err := checkReply(raw, out, c.tcp); err != nil {
				t.Fatalf("src %v tcp=%v: %v\nquery %x\nreply %x", c.src, c.tcp, err, raw, out)
			}
			if h.Stats.RRLSlipped.Load() > slipped {
				r := new(dns.Msg)
				_ = r.Unpack(out)
				if !r.Truncated || len(r.Answer) > 0 || len(r.Ns) > 0 {
					t.Fatalf("slipped reply %v: want TC and no records", r)
				}
			}
		}
	})
}

// ecsQuery is a query for geo.pools.test. A with one ECS option whose data
// is d.
func ecsQuery(d []byte) []byte {
	return wire(nil).header(0x1234, 0, 1, 0, 0, 1).question("geo.pools.test.", 1, 1).opt(1232, 0, option(8, d))
}

// ecsValid is RFC 7871 §6 written independently of the handler: family
// 1 or 2 (or 0 with prefix 0 and no address, what dig sends), a prefix
// the family allows, exactly ceil(prefix/8) address bytes, no bits set
// beyond the prefix.
func ecsValid(d []byte) (netip.Prefix, bool) {
	if len(d) < 4 {
		return netip.Prefix{}, false
	}
	fam, src, addr := int(d[0])<<8|int(d[1]), int(d[2]), d[4:]
	var full []byte
	switch fam {
	case 0:
		return netip.Prefix{}, src == 0 && len(addr) == 0
	case 1:
		full = make([]byte, 4)
	case 2:
		full = make([]byte, 16)
	default:
		return netip.Prefix{}, false
	}
	if src > 8*len(full) || len(addr)*8 < src || len(addr)*8 >= src+8 {
		return netip.Prefix{}, false
	}
	copy(full, addr)
	a, _ := netip.AddrFromSlice(full)
	p := netip.PrefixFrom(a, src)
	return p, p.Masked() == p
}

// FuzzECS: arbitrary ECS option data in a query gets FORMERR when RFC 7871
// §6 says it is invalid, and otherwise an answer echoing the option's
// family, prefix and address with a scope no longer than the prefix.
func FuzzECS(f *testing.F) {
	for _, d := range [][]byte{
		{0, 1, 24, 0, 81, 2, 69},
		{0, 1, 32, 0, 81, 2, 69, 142},
		{0, 1, 0, 0},
		{0, 0, 0, 0},
		{0, 2, 48, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 1},
		{0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0},
		{0, 1, 20, 0, 192, 0, 31},
		{0, 1, 24, 0, 192, 0, 2, 0},
		{0, 3, 24, 0, 192, 0, 2},
		{0, 2, 129, 0},
		{},
	} {
		f.Add(d)
	}
	var store zones.Store
	store.Replace(loadSnapshot(f))
	h := dnssrv.NewHandler(dnssrv.Config{Zones: &store, Locator: dnssrv.TestLocator, UseECS: true, RRL: &rrl.Config{}})
	src := netip.MustParseAddrPort("192.0.2.7:5353")
	buf := make([]byte, 0, 65535)
	f.Fuzz(func(t *testing.T, d []byte) {
		if len(d) > 60000 { // the rest of the query must fit too
			d = d[:60000]
		}
		raw := ecsQuery(d)
		out := h.Respond(raw, src, false, buf)
		if h.Stats.Panics.Load() > 0 {
			t.Fatalf("handler panicked on ECS %x", d)
		}
		if err := checkReply(raw, out, false); err != nil {
			t.Fatalf("ECS %x: %v", d, err)
		}
		r := new(dns.Msg)
		_ = r.Unpack(out)
		p, valid := ecsValid(d)
		if !valid {
			if r.Rcode != dns.RcodeFormatError {
				t.Fatalf("ECS %x is invalid: rcode %s, want FORMERR", d, dns.RcodeToString[r.Rcode])
			}
			return
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			t.Fatalf("ECS %x is valid: rcode %s with %d answers, want an answer", d, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		var echo *dns.EDNS0_SUBNET
		if o := r.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if s, ok := e.(*dns.EDNS0_SUBNET); ok {
					echo = s
				}
			}
		}
		if echo == nil || echo.Family != uint16(d[0])<<8|uint16(d[1]) || echo.SourceNetmask != d[2] ||
			echo.SourceScope > map[uint16]uint8{0: 0, 1: 32, 2: 128}[echo.Family] {
			t.Fatalf("ECS %x: echoed %v", d, echo)
		}
		if p.IsValid() {
			got, _ := netip.AddrFromSlice(echo.Address)
			if got.Unmap() != p.Addr().Unmap() && !bytes.Equal(echo.Address, p.Addr().AsSlice()) {
				t.Fatalf("ECS %x: echoed address %v, want %v", d, echo.Address, p.Addr())
			}
		}
	})
}
