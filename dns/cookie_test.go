package dns_test

import (
	"bytes"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/cookie"
	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
)

var clientCookie = []byte{0xc1, 0x1e, 0x47, 0xc0, 0x0c, 0x1e, 0x00, 0x01}

// withCookie returns q's message with a COOKIE option of data (q must
// have EDNS).
func withCookie(q query, data []byte) *dns.Msg {
	m := q.msg()
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0COOKIE, Data: data})
	return m
}

// cookieOf returns the COOKIE option data of m, nil without one.
func cookieOf(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	o := m.IsEdns0()
	if o == nil {
		return nil
	}
	for _, e := range o.Option {
		if c, ok := e.(*dns.EDNS0_COOKIE); ok {
			b, err := hex.DecodeString(c.Cookie)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	return nil
}

// exchangeOn sends m on c and returns the reply.
func exchangeOn(t testing.TB, c net.Conn, m *dns.Msg) *dns.Msg {
	t.Helper()
	r, _ := exchangeSize(t, c, m)
	return r
}

// exchangeSize is exchangeOn also returning the reply's size on the wire.
func exchangeSize(t testing.TB, c net.Conn, m *dns.Msg) (*dns.Msg, int) {
	t.Helper()
	co := &dns.Conn{Conn: c}
	_ = c.SetDeadline(time.Now().Add(dnstest.Timeout))
	if err := co.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	raw := dnstest.ReadRaw(t, co)
	return dnstest.Unpack(t, raw), len(raw)
}

func cookieFixture(t testing.TB, secret byte, prev *[16]byte, now func() time.Time, edit func(*dnssrv.Config)) *fixture {
	return newFixture(t, func(c *dnssrv.Config) {
		c.Cookies = &cookie.Config{Secret: [16]byte{secret, 1, 2, 3}, PreviousSecret: prev}
		c.Now = now
		if edit != nil {
			edit(c)
		}
	})
}

// TestCookies: DNS Cookies (RFC 7873, RFC 9018) through the server: a
// server cookie for a client cookie, valid ones echoed, invalid ones
// replaced, malformed options FORMERR, secrets shared across nodes and
// rolled over.
func TestCookies(t *testing.T) {
	static := query{q: "static.example.test. A", edns: 1232}
	f := cookieFixture(t, 1, nil, nil, nil)
	c1 := udpFrom(t, "127.0.0.1", f.addr)

	// First contact: our server cookie comes back after the client's.
	r := exchangeOn(t, c1, withCookie(static, clientCookie))
	first := cookieOf(t, r)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 || len(first) != 24 || !bytes.Equal(first[:8], clientCookie) ||
		first[8] != 1 || first[9]|first[10]|first[11] != 0 {
		t.Fatalf("client cookie only: %s, cookie %x; want the answer and client cookie + version 1 server cookie", dnstest.Render(r), first)
	}

	tests := []struct {
		name   string
		conn   net.Conn
		q      query
		cookie []byte
		same   bool // the reply echoes the cookie sent
	}{
		{name: "valid server cookie echoed", conn: c1, q: static, cookie: first, same: true},
		{name: "valid over TCP", conn: tcpFrom(t, "127.0.0.1", f.addr).Conn, q: static, cookie: first, same: true},
		{name: "valid on REFUSED", conn: c1, q: query{q: "www.example.org. A", edns: 1232}, cookie: first, same: true},
		{name: "valid on NXDOMAIN", conn: c1, q: query{q: "nope.example.test. A", edns: 1232}, cookie: first, same: true},
		{name: "another client cookie", conn: c1, q: static, cookie: append([]byte{9}, first[1:]...)},
		{name: "another address", conn: udpFrom(t, "127.0.0.2", f.addr), q: static, cookie: first},
		{name: "hash changed", conn: c1, q: static, cookie: append(append([]byte{}, first[:23]...), first[23]^1)},
		{name: "unknown version", conn: c1, q: static, cookie: append(append(append([]byte{}, first[:8]...), 2), first[9:]...)},
		{name: "server cookie of 8 bytes", conn: c1, q: static, cookie: append(append([]byte{}, clientCookie...), make([]byte, 8)...)},
		{name: "server cookie of 32 bytes", conn: c1, q: static, cookie: append(append([]byte{}, clientCookie...), make([]byte, 32)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchangeOn(t, tt.conn, withCookie(tt.q, tt.cookie))
			got := cookieOf(t, r)
			if len(got) != 24 || !bytes.Equal(got[:8], tt.cookie[:8]) {
				t.Fatalf("reply cookie %x, want %x + a 16-byte server cookie", got, tt.cookie[:8])
			}
			if tt.same != bytes.Equal(got, tt.cookie) {
				t.Errorf("sent %x, got %x back: echoed = %v, want %v", tt.cookie, got, !tt.same, tt.same)
			}
			if len(r.Question) != 1 || r.Rcode == dns.RcodeFormatError {
				t.Errorf("reply %s", dnstest.Render(r))
			}
		})
	}

	malformed := []struct {
		name string
		opts [][]byte
	}{
		{"5 bytes", [][]byte{clientCookie[:5]}},
		{"9 bytes", [][]byte{append(append([]byte{}, clientCookie...), 1)}},
		{"15 bytes", [][]byte{make([]byte, 15)}},
		{"41 bytes", [][]byte{make([]byte, 41)}},
		{"empty", [][]byte{{}}},
		{"two options", [][]byte{clientCookie, clientCookie}},
	}
	for _, tt := range malformed {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run("malformed "+tt.name+"/"+netw, func(t *testing.T) {
				m := static.msg()
				for _, o := range tt.opts {
					m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0COOKIE, Data: o})
				}
				got, _ := dnstest.Exchange(t, netw, f.addr, m)
				checkMsg(t, "COOKIE "+tt.name, got, expect(m, dnstest.Msg{Rcode: "FORMERR", Flags: "qr", EDNS: ourEDNS}), false)
			})
		}
	}

	t.Run("BADVERS carries no cookie", func(t *testing.T) {
		m := withCookie(static, first)
		m.IsEdns0().SetVersion(1)
		if got := cookieOf(t, exchangeOn(t, c1, m)); got != nil {
			t.Errorf("BADVERS reply has cookie %x", got)
		}
	})

	if f.h.Stats.CookieValid.Load() == 0 || f.h.Stats.CookieFresh.Load() == 0 || f.h.Stats.CookieMalformed.Load() != 2*uint64(len(malformed)) {
		t.Errorf("Stats: valid %d, fresh %d, malformed %d", f.h.Stats.CookieValid.Load(), f.h.Stats.CookieFresh.Load(), f.h.Stats.CookieMalformed.Load())
	}
}

// TestCookieSecrets: nodes sharing a secret accept each other's cookies;
// a node rolling over accepts the previous secret's cookies and replaces
// them; a cookie over an hour old is replaced.
func TestCookieSecrets(t *testing.T) {
	static := query{q: "static.example.test. A", edns: 1232}
	old := [16]byte{1, 1, 2, 3}
	a := cookieFixture(t, 1, nil, nil, nil)
	b := cookieFixture(t, 1, nil, nil, nil)     // same secret
	other := cookieFixture(t, 2, nil, nil, nil) // another secret
	rolled := cookieFixture(t, 2, &old, nil, nil)
	later := cookieFixture(t, 1, nil, func() time.Time { return time.Now().Add(2 * time.Hour) }, nil)
	ask := func(f *fixture, ck []byte) []byte {
		return cookieOf(t, exchangeOn(t, udpFrom(t, "127.0.0.1", f.addr), withCookie(static, ck)))
	}
	fromA := ask(a, clientCookie)
	if got := ask(b, fromA); !bytes.Equal(got, fromA) {
		t.Errorf("node with the same secret: sent %x, got %x, want it echoed (valid)", fromA, got)
	}
	if got := ask(other, fromA); bytes.Equal(got, fromA) {
		t.Errorf("node with another secret echoed %x, want a new cookie", got)
	}
	fromRolled := ask(rolled, fromA)
	if bytes.Equal(fromRolled, fromA) || len(fromRolled) != 24 {
		t.Errorf("rolled-over node: sent %x, got %x, want a new cookie made with the new secret", fromA, fromRolled)
	}
	if got := ask(other, fromRolled); !bytes.Equal(got, fromRolled) {
		t.Errorf("the new cookie %x is not valid at a node with the new secret (got %x)", fromRolled, got)
	}
	if rolled.h.Stats.CookieValid.Load() != 1 {
		t.Errorf("rolled-over node counted %d valid cookies, want 1 (the previous secret's)", rolled.h.Stats.CookieValid.Load())
	}
	if got := ask(later, fromA); bytes.Equal(got, fromA) {
		t.Errorf("two hours later the cookie was echoed: want a fresh one")
	}
}

// TestCookieRRL: a valid server cookie proves the source address, so RRL
// does not limit it; without one the same burst is limited.
func TestCookieRRL(t *testing.T) {
	const rate, n = 5, 40
	f := rrlFixture(t, rate, nil)
	c := udpFrom(t, "127.0.0.2", f.addr)
	static := query{q: "static.example.test. A", edns: 1232}
	ck := cookieOf(t, exchangeOn(t, c, withCookie(static, clientCookie)))
	if r := burst(t, c, n, func(int) *dns.Msg { return withCookie(static, ck) }); r.full != n {
		t.Errorf("burst with a valid cookie: %v, want all answered", r)
	}
	if r := burst(t, c, n, func(int) *dns.Msg { return withCookie(static, clientCookie) }); r.full > rate+1 {
		t.Errorf("burst with a client cookie only: %v, want it limited", r)
	}
	if r := burst(t, c, n, same(static)); r.full > 0 {
		t.Errorf("burst without a cookie: %v, want it limited", r)
	}
}

// TestCookieRequireForLarge: with require_for_large, UDP answers above it
// to clients without a valid server cookie are truncated to it (TC=1); a
// valid cookie, or TCP, gets the whole answer.
func TestCookieRequireForLarge(t *testing.T) {
	f := cookieFixture(t, 1, nil, nil, func(c *dnssrv.Config) { c.CookieRequireForLarge = 600 })
	big := query{q: "manya.example.test. A", edns: 1232}
	c := udpFrom(t, "127.0.0.1", f.addr)
	full, _ := dnstest.Exchange(t, "tcp", f.addr, big.msg())
	raw, _ := full.Pack()
	if len(raw) <= 600 || full.Truncated {
		t.Fatalf("%s is %d bytes over TCP, want more than 600 for this test", big, len(raw))
	}
	valid := cookieOf(t, exchangeOn(t, c, withCookie(query{q: "static.example.test. A", edns: 1232}, clientCookie)))
	tests := []struct {
		name string
		m    *dns.Msg
		tc   bool
	}{
		{"no cookie", big.msg(), true},
		{"client cookie only", withCookie(big, clientCookie), true},
		{"invalid server cookie", withCookie(big, append(append([]byte{}, clientCookie...), make([]byte, 16)...)), true},
		{"valid server cookie", withCookie(big, valid), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, size := exchangeSize(t, c, tt.m)
			if tt.tc != r.Truncated || (tt.tc && size > 600) || (!tt.tc && len(r.Answer) != len(full.Answer)) {
				t.Errorf("TC %v, %d bytes, %d answers; want TC %v within 600 bytes, or all %d answers", r.Truncated, size, len(r.Answer), tt.tc, len(full.Answer))
			}
			if tt.m.IsEdns0() != nil && len(tt.m.IsEdns0().Option) > 0 && len(cookieOf(t, r)) != 24 {
				t.Errorf("no server cookie in the reply")
			}
		})
	}
	if got := f.h.Stats.LargeTruncated.Load(); got != 3 {
		t.Errorf("Stats.LargeTruncated = %d, want 3", got)
	}
}
