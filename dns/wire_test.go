package dns_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
)

const ourEDNS = "version: 0, flags:; udp: 1232"

// TestEDNS covers RFC 6891 as the ISC compliance tests probe it.
func TestEDNS(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name string
		msg  func() *dns.Msg
		want dnstest.Msg
	}{
		{name: "no OPT, no OPT back", msg: query{q: "static.example.test. A"}.msg,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA}},
		{name: "OPT echoed with our size", msg: query{q: "static.example.test. A", edns: 4096}.msg,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA, EDNS: ourEDNS}},
		{name: "small size, still our size back", msg: query{q: "static.example.test. A", edns: 512}.msg,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA, EDNS: ourEDNS}},
		{name: "DO echoed", msg: query{q: "static.example.test. A", edns: 1232, do: true}.msg,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA, EDNS: "version: 0, flags: do; udp: 1232"}},
		{name: "OPT on NXDOMAIN", msg: query{q: "nope.example.test. A", edns: 1232}.msg,
			want: dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{soaNeg}, EDNS: ourEDNS}},
		{name: "OPT on REFUSED", msg: query{q: "www.example.net. A", edns: 1232, do: true}.msg,
			want: dnstest.Msg{Rcode: "REFUSED", Flags: "qr", EDNS: "version: 0, flags: do; udp: 1232"}},
		{name: "OPT on a referral", msg: query{q: "host.sub.example.test. A", edns: 1232}.msg,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr", Ns: subNS, Extra: subGlue, EDNS: ourEDNS}},
		{name: "version 1: BADVERS", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A", edns: 1232}.msg()
			m.IsEdns0().SetVersion(1)
			return m
		}, want: dnstest.Msg{Rcode: "BADVERS", Flags: "qr", EDNS: ourEDNS}},
		{name: "version 1 with DO and RD", msg: func() *dns.Msg {
			m := query{q: "nope.example.test. A", edns: 1232, do: true, rd: true, cd: true}.msg()
			m.IsEdns0().SetVersion(1)
			return m
		}, want: dnstest.Msg{Rcode: "BADVERS", Flags: "qr rd", EDNS: "version: 0, flags: do; udp: 1232"}},
		{name: "version 255 outside our zones", msg: func() *dns.Msg {
			m := query{q: "www.example.net. A", edns: 1232}.msg()
			m.IsEdns0().SetVersion(255)
			return m
		}, want: dnstest.Msg{Rcode: "BADVERS", Flags: "qr", EDNS: ourEDNS}},
		{name: "unknown option not echoed", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A", edns: 1232}.msg()
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}})
			return m
		}, want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA, EDNS: ourEDNS}},
		{name: "unknown option with version 1", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A", edns: 1232}.msg()
			m.IsEdns0().SetVersion(1)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}})
			return m
		}, want: dnstest.Msg{Rcode: "BADVERS", Flags: "qr", EDNS: ourEDNS}},
		{name: "unknown flag not echoed", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A", edns: 1232, do: true}.msg()
			m.IsEdns0().Hdr.Ttl |= 0x4001
			return m
		}, want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA, EDNS: "version: 0, flags: do; udp: 1232"}},
		{name: "ECS ignored without UseECS: scope 0", msg: query{q: "static.example.test. A", edns: 1232, ecs: "192.0.2.0/24"}.msg,
			want: dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA, EDNS: ourEDNS, Options: []string{"ECS 192.0.2.0/24/0"}}},
	}
	for _, tt := range tests {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+netw, func(t *testing.T) {
				m := tt.msg()
				got, _ := dnstest.Exchange(t, netw, f.addr, m)
				checkMsg(t, tt.name, got, expect(m, tt.want), false)
			})
		}
	}
}

// TestBADVERSWire checks how BADVERS (16) is split between the header
// (low 4 bits: 0) and the OPT record (high 8 bits: 1).
func TestBADVERSWire(t *testing.T) {
	f := newFixture(t, nil)
	m := query{q: "static.example.test. A", edns: 1232}.msg()
	m.IsEdns0().SetVersion(1)
	raw, _ := m.Pack()
	out := dnstest.ExchangeRaw(t, "udp", f.addr, raw)
	if rc := out[3] & 0x0F; rc != 0 {
		t.Errorf("header rcode %d, want 0 (BADVERS lives in the OPT)", rc)
	}
	r := dnstest.Unpack(t, out)
	opt := r.IsEdns0()
	if opt == nil {
		t.Fatalf("no OPT in BADVERS reply")
	}
	if got := opt.Hdr.Ttl >> 24; got != 1 {
		t.Errorf("OPT extended rcode %d, want 1", got)
	}
	if opt.Version() != 0 {
		t.Errorf("OPT version %d, want 0", opt.Version())
	}
}

// TestTruncation: a reply that does not fit the UDP limit (512 without
// EDNS, the client's size with it, capped at ours) sets TC and carries as
// many whole records as fit; TCP carries everything.
func TestTruncation(t *testing.T) {
	f := newFixture(t, nil)
	full := map[string][]string{}
	for _, q := range []string{"big.example.test. TXT", "manya.example.test. A"} {
		r, _ := f.ask(t, query{q: q, tcp: true})
		if r.Truncated || len(r.Answer) < 40 {
			t.Fatalf("%s over TCP: tc=%v, %d answers, want the whole RRset", q, r.Truncated, len(r.Answer))
		}
		full[q] = dnstest.Render(r).Answer
	}
	tests := []struct {
		q     query
		limit int
		tc    bool
	}{
		{q: query{q: "big.example.test. TXT"}, limit: 512, tc: true},
		{q: query{q: "big.example.test. TXT", edns: 512}, limit: 512, tc: true},
		{q: query{q: "big.example.test. TXT", edns: 100}, limit: 512, tc: true}, // below 512 counts as 512
		{q: query{q: "big.example.test. TXT", edns: 1000}, limit: 1000, tc: true},
		{q: query{q: "big.example.test. TXT", edns: 4096}, limit: 1232, tc: true}, // our cap
		{q: query{q: "big.example.test. TXT", tcp: true}, limit: 65535},
		{q: query{q: "big.example.test. TXT", tcp: true, edns: 512}, limit: 65535}, // EDNS size is for UDP
		{q: query{q: "manya.example.test. A"}, limit: 512, tc: true},
		{q: query{q: "manya.example.test. A", edns: 1232}, limit: 1232},
		{q: query{q: "manya.example.test. A", rd: true, cd: true, edns: 512, do: true}, limit: 512, tc: true},
	}
	for _, tt := range tests {
		t.Run(tt.q.String(), func(t *testing.T) {
			m := tt.q.msg()
			got, size := dnstest.Exchange(t, tt.q.net(), f.addr, m)
			if size > tt.limit {
				t.Errorf("reply is %d bytes, limit %d", size, tt.limit)
			}
			all := full[tt.q.q]
			g := dnstest.Render(got)
			k := len(g.Answer)
			want := dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: all}
			if tt.tc {
				want.Flags = "qr aa tc"
				if k == 0 || k >= len(all) {
					t.Fatalf("truncated reply has %d of %d answers", k, len(all))
				}
				want.Answer = all[:k]
				// Maximal: one more record would not have fitted.
				more := got.Copy()
				more.Answer = append(more.Answer, dns.Copy(more.Answer[0]))
				more.Compress = true
				if l := more.Len(); l <= tt.limit {
					t.Errorf("%d answers take %d bytes with one more: the limit %d had room", k, l, tt.limit)
				}
			}
			if want.Flags == "qr aa" && tt.q.rd {
				want.Flags = "qr aa rd cd"
			} else if tt.q.rd {
				want.Flags = "qr aa tc rd cd"
			}
			if tt.q.edns > 0 {
				want.EDNS = ourEDNS
				if tt.q.do {
					want.EDNS = "version: 0, flags: do; udp: 1232"
				}
			}
			checkMsg(t, tt.q.String(), got, expect(m, want), true)
		})
	}
}

// TestNotImp: every opcode but QUERY gets NOTIMP with clean flags (RD
// kept; no AA, TC, RA, Z, AD, CD), the question and the OPT echoed.
func TestNotImp(t *testing.T) {
	f := newFixture(t, nil)
	for op := 1; op <= 15; op++ {
		for _, edns := range []bool{false, true} {
			name := dnstest.Render(&dns.Msg{MsgHdr: dns.MsgHdr{Opcode: op}}).Opcode
			if edns {
				name += "+edns"
			}
			t.Run(name, func(t *testing.T) {
				q := query{q: "static.example.test. A"}
				if edns {
					q.edns, q.do = 1232, true
				}
				m := q.msg()
				m.Opcode = op
				m.Authoritative, m.Truncated, m.RecursionDesired, m.RecursionAvailable = true, true, true, true
				m.Zero, m.AuthenticatedData, m.CheckingDisabled = true, true, true
				want := dnstest.Msg{Rcode: "NOTIMP", Opcode: dnstest.Render(m).Opcode, Flags: "qr rd"}
				if edns {
					want.EDNS = "version: 0, flags: do; udp: 1232"
				}
				for _, netw := range []string{"udp", "tcp"} {
					got, _ := dnstest.Exchange(t, netw, f.addr, m)
					checkMsg(t, netw+" "+name, got, expect(m, want), false)
				}
			})
		}
	}
}

// TestFormErr: malformed queries get FORMERR (never a crash, never
// silence).
func TestFormErr(t *testing.T) {
	f := newFixture(t, nil)
	aRR := func(s string) dns.RR {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return rr
	}
	noQuestion := []string{}
	tests := []struct {
		name string
		msg  func() *dns.Msg
		raw  []byte // used instead of msg when set
		want dnstest.Msg
	}{
		{name: "QDCOUNT 0", msg: func() *dns.Msg {
			return &dns.Msg{MsgHdr: dns.MsgHdr{Id: 9, RecursionDesired: true}}
		}, want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr rd", Question: noQuestion}},
		{name: "QDCOUNT 0 with EDNS", msg: func() *dns.Msg {
			m := &dns.Msg{MsgHdr: dns.MsgHdr{Id: 9}}
			dnstest.EDNS(m, 1232)
			return m
		}, want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr", Question: noQuestion, EDNS: ourEDNS}},
		{name: "QDCOUNT 2", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A", rd: true, cd: true}.msg()
			m.Question = append(m.Question, dns.Question{Name: "www.example.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
			return m
		}, want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr rd", Question: noQuestion}},
		{name: "ANCOUNT 1", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A"}.msg()
			m.Answer = []dns.RR{aRR("static.example.test. 300 IN A 192.0.2.1")}
			return m
		}, want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr"}},
		// Refused from the header counts: the OPT after the authority
		// record is not read, so not echoed.
		{name: "NSCOUNT 1", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A", edns: 1232}.msg()
			m.Ns = []dns.RR{aRR("example.test. 3600 IN NS ns1.example.test.")}
			return m
		}, want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr"}},
		{name: "two OPTs", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A", edns: 1232}.msg()
			dnstest.EDNS(m, 4096)
			return m
		}, want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr"}},
		{name: "OPT not owned by the root", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A", edns: 1232}.msg()
			m.IsEdns0().Hdr.Name = "example.test."
			return m
		}, want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr"}},
		{name: "two ECS options", msg: func() *dns.Msg {
			m := query{q: "static.example.test. A", edns: 1232, ecs: "192.0.2.0/24"}.msg()
			m.IsEdns0().Option = append(m.IsEdns0().Option, dnstest.ECS("198.51.100.0/24"))
			return m
		}, want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr", EDNS: ourEDNS}},
		{name: "question cut short",
			raw:  []byte{0, 7, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 6, 's', 't', 'a'},
			want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr rd", Question: noQuestion}},
		{name: "compression loop in the question",
			raw:  []byte{0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1},
			want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr", Question: noQuestion}},
		{name: "header only, QDCOUNT 1",
			raw:  []byte{0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
			want: dnstest.Msg{Rcode: "FORMERR", Flags: "qr", Question: noQuestion}},
	}
	for _, tt := range tests {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+netw, func(t *testing.T) {
				raw := tt.raw
				var m *dns.Msg
				if raw == nil {
					m = tt.msg()
					var err error
					if raw, err = m.Pack(); err != nil {
						t.Fatal(err)
					}
				} else {
					m = new(dns.Msg)
				}
				got := dnstest.Unpack(t, dnstest.ExchangeRaw(t, netw, f.addr, raw))
				want := expect(m, tt.want)
				if tt.raw != nil {
					want.Question = nil
				}
				checkMsg(t, tt.name, got, want, false)
				if id := uint16(raw[0])<<8 | uint16(raw[1]); got.Id != id {
					t.Errorf("reply id %d, want %d", got.Id, id)
				}
			})
		}
	}
}

// TestNoReply: responses (QR=1) and runts get no reply at all; the query
// sent after them is answered.
func TestNoReply(t *testing.T) {
	bad := map[string]func() []byte{
		"QR=1": func() []byte {
			m := query{q: "static.example.test. A"}.msg()
			m.Id, m.Response = 77, true
			raw, _ := m.Pack()
			return raw
		},
		"QR=1 answer": func() []byte {
			m := query{q: "static.example.test. A"}.msg()
			m.Id, m.Response, m.Authoritative = 77, true, true
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "static.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(192, 0, 2, 1)}}
			raw, _ := m.Pack()
			return raw
		},
		"QR=1 NOTIMP opcode": func() []byte {
			m := query{q: "static.example.test. A"}.msg()
			m.Id, m.Response, m.Opcode = 77, true, dns.OpcodeNotify
			raw, _ := m.Pack()
			return raw
		},
		"11 bytes": func() []byte { return []byte{0, 77, 0, 0, 0, 1, 0, 0, 0, 0, 0} },
	}
	good := query{q: "static.example.test. A"}.msg()
	good.Id = 78
	goodRaw, _ := good.Pack()
	for name, mk := range bad {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(name+"/"+netw, func(t *testing.T) {
				f := newFixture(t, nil)
				co := dnstest.Dial(t, netw, f.addr)
				if _, err := co.Write(mk()); err != nil {
					t.Fatal(err)
				}
				if _, err := co.Write(goodRaw); err != nil {
					t.Fatal(err)
				}
				r := dnstest.Unpack(t, dnstest.ReadRaw(t, co))
				if r.Id != 78 {
					t.Fatalf("first reply has id %d, want 78 (the query after the %s packet)", r.Id, name)
				}
				checkMsg(t, name, r, expect(good, dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA}), false)
				// Nothing else arrives. Over TCP the replies are in order,
				// so the answer above proves the first was dropped; over
				// UDP readers race, so give a stray reply time to show.
				_ = co.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				buf := make([]byte, 65535)
				if n, err := co.Read(buf); err == nil {
					t.Errorf("unexpected second reply (%d bytes)", n)
				} else if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("read: %v, want a timeout", err)
				}
				if d := f.h.Stats.Dropped.Load(); d != 1 {
					t.Errorf("Stats.Dropped = %d, want 1", d)
				}
			})
		}
	}
}

// TestTCPPipelining: two queries written back to back on one connection
// are both answered (RFC 7766 §6.2.1.1).
func TestTCPPipelining(t *testing.T) {
	f := newFixture(t, nil)
	q1 := query{q: "static.example.test. A"}.msg()
	q1.Id = 101
	q2 := query{q: "nope.example.test. AAAA", edns: 1232}.msg()
	q2.Id = 102
	var frames []byte
	for _, m := range []*dns.Msg{q1, q2} {
		raw, _ := m.Pack()
		frames = append(frames, byte(len(raw)>>8), byte(len(raw)))
		frames = append(frames, raw...)
	}
	co := dnstest.Dial(t, "tcp", f.addr)
	if _, err := co.Conn.Write(frames); err != nil { // one write: both queries in one segment
		t.Fatal(err)
	}
	want := map[uint16]dnstest.Msg{
		101: expect(q1, dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA}),
		102: expect(q2, dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{soaNeg}, EDNS: ourEDNS}),
	}
	for range 2 {
		r := dnstest.Unpack(t, dnstest.ReadRaw(t, co))
		w, ok := want[r.Id]
		if !ok {
			t.Fatalf("reply with id %d: not asked or answered twice", r.Id)
		}
		delete(want, r.Id)
		checkMsg(t, "pipelined", r, w, false)
	}
}

// TestTCPIdleTimeout: a connection left idle past TCPIdleTimeout is closed
// by the server, before and after a query.
func TestTCPIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	f := newFixtureServer(t, dnssrv.ServerConfig{TCPIdleTimeout: idle}, nil)
	for _, first := range []bool{false, true} {
		co := dnstest.Dial(t, "tcp", f.addr)
		start := time.Now()
		if first {
			m := query{q: "static.example.test. A"}.msg()
			if err := co.WriteMsg(m); err != nil {
				t.Fatal(err)
			}
			dnstest.ReadRaw(t, co)
			start = time.Now()
		}
		// Blocks until the server closes (the dial deadline is 5 s).
		_, err := co.Conn.Read(make([]byte, 1))
		took := time.Since(start)
		if !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("after query=%v: read: %v, want EOF (closed by the server)", first, err)
		}
		if took < idle-50*time.Millisecond || took > 3*time.Second {
			t.Errorf("after query=%v: closed after %v, want about %v", first, took, idle)
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestLargeQuery: a query over 512 bytes (a 700-byte padding option) is
// read whole and answered, over UDP and TCP.
func TestLargeQuery(t *testing.T) {
	f := newFixture(t, nil)
	for _, netw := range []string{"udp", "tcp"} {
		t.Run(netw, func(t *testing.T) {
			m := query{q: "static.example.test. A", edns: 1232}.msg()
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_PADDING{Padding: make([]byte, 700)})
			raw, _ := m.Pack()
			if len(raw) <= 700 {
				t.Fatalf("query is %d bytes, want > 700", len(raw))
			}
			got := dnstest.Unpack(t, dnstest.ExchangeRaw(t, netw, f.addr, raw))
			checkMsg(t, "padded query", got, expect(m, dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA, EDNS: ourEDNS}), false)
		})
	}
}

// TestChaos: version.bind and id.server (CHAOS TXT) when configured,
// REFUSED otherwise.
func TestChaos(t *testing.T) {
	on := newFixture(t, nil)
	off := newFixture(t, func(c *dnssrv.Config) { c.ChaosVersion, c.ChaosID = "", "" })
	ans := func(s string) dnstest.Msg { return dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: []string{s}} }
	refused := dnstest.Msg{Rcode: "REFUSED", Flags: "qr"}
	tests := []struct {
		q       string
		on, off dnstest.Msg
	}{
		{"version.bind. CH TXT", ans(`version.bind. 0 CH TXT "gslb test"`), refused},
		{"version.server. CH TXT", ans(`version.server. 0 CH TXT "gslb test"`), refused},
		{"id.server. CH TXT", ans(`id.server. 0 CH TXT "ns-test-1"`), refused},
		{"hostname.bind. CH TXT", ans(`hostname.bind. 0 CH TXT "ns-test-1"`), refused},
		{"VERSION.Bind. CH TXT", ans(`VERSION.Bind. 0 CH TXT "gslb test"`), refused},
		{"version.bind. CH ANY", ans(`version.bind. 0 CH TXT "gslb test"`), refused},
		{"version.bind. CH A", refused, refused},
		{"authors.bind. CH TXT", refused, refused},
		{"static.example.test. CH A", refused, refused},
		{"version.bind. IN TXT", refused, refused}, // not a zone of ours
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			on.run(t, query{q: tt.q}, tt.on, false)
			off.run(t, query{q: tt.q}, tt.off, false)
			on.run(t, query{q: tt.q, tcp: true, edns: 1232}, withEDNS(tt.on), false)
		})
	}
}

func withEDNS(m dnstest.Msg) dnstest.Msg {
	m.EDNS = ourEDNS
	return m
}
