// Package dnstest runs a gslb DNS server on loopback for tests, sends it
// queries over UDP and TCP, and renders replies the way dig prints them so
// that tests compare whole messages as text.
package dnstest

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
)

// Timeout bounds every exchange helpers make.
const Timeout = 5 * time.Second

// Start serves h over UDP and TCP on 127.0.0.1 (one free port for both)
// and returns the address. The server is closed when the test ends.
func Start(t testing.TB, h *dnssrv.Handler) (addr string) {
	t.Helper()
	return StartConfig(t, dnssrv.ServerConfig{}, h)
}

// StartConfig is Start with server limits (timeouts, caps) set by cfg.
// cfg.Listen is replaced by 127.0.0.1:0.
func StartConfig(t testing.TB, cfg dnssrv.ServerConfig, h *dnssrv.Handler) (addr string) {
	t.Helper()
	cfg.Listen = []string{"127.0.0.1:0"}
	s := dnssrv.NewServer(cfg, h)
	if err := s.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	addrs := s.UDPAddrs()
	if len(addrs) != 1 {
		t.Fatalf("server bound %v, want one address", addrs)
	}
	return addrs[0]
}

// Dial opens a miekg/dns connection to addr over netw ("udp" or "tcp")
// with a deadline of Timeout.
func Dial(t testing.TB, netw, addr string) *dns.Conn {
	t.Helper()
	co, err := dns.DialTimeout(netw, addr, Timeout)
	if err != nil {
		t.Fatalf("dial %s %s: %v", netw, addr, err)
	}
	t.Cleanup(func() { co.Close() })
	_ = co.SetDeadline(time.Now().Add(Timeout))
	return co
}

// ExchangeRaw sends the query bytes over netw and returns the reply bytes
// (without the TCP length prefix).
func ExchangeRaw(t testing.TB, netw, addr string, query []byte) []byte {
	t.Helper()
	co := Dial(t, netw, addr)
	if _, err := co.Write(query); err != nil {
		t.Fatalf("write %s: %v", netw, err)
	}
	return ReadRaw(t, co)
}

// ReadRaw reads one reply from co.
func ReadRaw(t testing.TB, co *dns.Conn) []byte {
	t.Helper()
	buf := make([]byte, dns.MaxMsgSize)
	n, err := co.Read(buf)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return buf[:n]
}

// Exchange sends m over netw and returns the reply, unpacked, and its size
// on the wire.
func Exchange(t testing.TB, netw, addr string, m *dns.Msg) (*dns.Msg, int) {
	t.Helper()
	raw, err := m.Pack()
	if err != nil {
		t.Fatalf("pack query: %v", err)
	}
	out := ExchangeRaw(t, netw, addr, raw)
	return Unpack(t, out), len(out)
}

// Unpack parses reply bytes, failing the test on error.
func Unpack(t testing.TB, raw []byte) *dns.Msg {
	t.Helper()
	r := new(dns.Msg)
	if err := r.Unpack(raw); err != nil {
		t.Fatalf("unpack reply (%d bytes): %v", len(raw), err)
	}
	return r
}

// Query returns a query for "NAME TYPE" or "NAME CLASS TYPE" (TYPE may be
// TYPEnnn), with ID 1 and no flags set: no RD, no EDNS.
func Query(q string) *dns.Msg {
	f := strings.Fields(q)
	class := uint16(dns.ClassINET)
	if len(f) == 3 {
		c, ok := dns.StringToClass[strings.ToUpper(f[1])]
		if !ok {
			panic("dnstest: unknown class in " + q)
		}
		class, f = c, []string{f[0], f[2]}
	}
	if len(f) != 2 {
		panic("dnstest: want \"NAME [CLASS] TYPE\", got " + q)
	}
	qt, ok := dns.StringToType[strings.ToUpper(f[1])]
	if !ok {
		var n uint16
		if _, err := fmt.Sscanf(strings.ToUpper(f[1]), "TYPE%d", &n); err != nil {
			panic("dnstest: unknown type in " + q)
		}
		qt = n
	}
	m := &dns.Msg{MsgHdr: dns.MsgHdr{Id: 1, Opcode: dns.OpcodeQuery}}
	m.Question = []dns.Question{{Name: f[0], Qtype: qt, Qclass: class}}
	return m
}

// EDNS adds an OPT record with the given payload size to m and returns
// it, so callers can set flags and options.
func EDNS(m *dns.Msg, size uint16) *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(size)
	m.Extra = append(m.Extra, o)
	return o
}

// Msg is a reply as dig shows it. Sections hold RRs in zone-file text with
// single spaces; the OPT record is rendered into EDNS and Options instead
// of Extra.
type Msg struct {
	Rcode    string // "NOERROR", "BADVERS"… (extended rcodes included)
	Opcode   string // "QUERY" …
	Flags    string // in dig's order: "qr aa tc rd ra z ad cd"
	Question []string
	Answer   []string
	Ns       []string
	Extra    []string
	EDNS     string   // "" without OPT, else as dig: "version: 0, flags: do; udp: 1232"
	Options  []string // EDNS options: "ECS 192.0.2.0/24/0", "PADDING 0x00…"
}

// Render turns m into a Msg, keeping the order of records.
func Render(m *dns.Msg) Msg {
	r := Msg{
		Rcode:  rcodeName(m),
		Opcode: opcodeName(m.Opcode),
		Flags:  Flags(m),
	}
	for _, q := range m.Question {
		r.Question = append(r.Question, fmt.Sprintf("%s %s %s", q.Name, className(q.Qclass), dns.Type(q.Qtype).String()))
	}
	r.Answer = lines(m.Answer)
	r.Ns = lines(m.Ns)
	for _, rr := range m.Extra {
		o, isOpt := rr.(*dns.OPT)
		if !isOpt {
			r.Extra = append(r.Extra, Line(rr))
			continue
		}
		fl := ""
		if o.Do() {
			fl += " do"
		}
		if z := o.Hdr.Ttl & 0x7FFF; z != 0 {
			fl += fmt.Sprintf(" z=%#04x", z)
		}
		if r.EDNS != "" {
			r.EDNS += " | " // a second OPT: show it, tests will fail loudly
		}
		r.EDNS += fmt.Sprintf("version: %d, flags:%s; udp: %d", o.Version(), fl, o.UDPSize())
		for _, e := range o.Option {
			r.Options = append(r.Options, optionText(e))
		}
	}
	return r
}

// Sorted returns a copy of m with every section sorted, for comparisons
// where record order is not under test.
func (m Msg) Sorted() Msg {
	for _, s := range []*[]string{&m.Answer, &m.Ns, &m.Extra, &m.Options} {
		*s = slices.Sorted(slices.Values(*s))
	}
	return m
}

// String prints m like dig does.
func (m Msg) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, ";; opcode: %s, status: %s, flags: %s\n", m.Opcode, m.Rcode, m.Flags)
	if m.EDNS != "" {
		fmt.Fprintf(&b, ";; EDNS: %s\n", m.EDNS)
		for _, o := range m.Options {
			fmt.Fprintf(&b, ";; %s\n", o)
		}
	}
	section := func(name string, ss []string) {
		fmt.Fprintf(&b, ";; %s:\n", name)
		for _, s := range ss {
			fmt.Fprintf(&b, "%s\n", s)
		}
	}
	section("QUESTION", m.Question)
	section("ANSWER", m.Answer)
	section("AUTHORITY", m.Ns)
	section("ADDITIONAL", m.Extra)
	return b.String()
}

// Equal reports whether two rendered messages are the same.
func (m Msg) Equal(o Msg) bool {
	return m.Rcode == o.Rcode && m.Opcode == o.Opcode && m.Flags == o.Flags && m.EDNS == o.EDNS &&
		slices.Equal(m.Question, o.Question) && slices.Equal(m.Answer, o.Answer) && slices.Equal(m.Ns, o.Ns) &&
		slices.Equal(m.Extra, o.Extra) && slices.Equal(m.Options, o.Options)
}

// Flags renders the header flags in dig's order.
func Flags(m *dns.Msg) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{m.Response, "qr"}, {m.Authoritative, "aa"}, {m.Truncated, "tc"}, {m.RecursionDesired, "rd"},
		{m.RecursionAvailable, "ra"}, {m.Zero, "z"}, {m.AuthenticatedData, "ad"}, {m.CheckingDisabled, "cd"},
	} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return strings.Join(f, " ")
}

// Line renders one RR as zone-file text with single spaces.
func Line(rr dns.RR) string {
	return strings.Join(strings.Fields(rr.String()), " ")
}

func lines(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, Line(rr))
	}
	return out
}

func rcodeName(m *dns.Msg) string {
	if m.Rcode == dns.RcodeBadVers && m.IsEdns0() != nil {
		return "BADVERS"
	}
	if s, ok := dns.RcodeToString[m.Rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", m.Rcode)
}

func opcodeName(op int) string {
	if s, ok := dns.OpcodeToString[op]; ok {
		return s
	}
	return fmt.Sprintf("OPCODE%d", op)
}

func className(c uint16) string {
	if s, ok := dns.ClassToString[c]; ok {
		return s
	}
	return fmt.Sprintf("CLASS%d", c)
}

func optionText(e dns.EDNS0) string {
	switch o := e.(type) {
	case *dns.EDNS0_SUBNET:
		return "ECS " + o.String()
	case *dns.EDNS0_PADDING:
		return fmt.Sprintf("PADDING %d bytes", len(o.Padding))
	case *dns.EDNS0_LOCAL:
		return fmt.Sprintf("OPTION%d %x", o.Code, o.Data)
	}
	return fmt.Sprintf("OPTION%d %s", e.Option(), e.String())
}

// ECS returns an ECS option for a prefix such as "192.0.2.0/24" or
// "2001:db8::/56" (family from the address).
func ECS(prefix string) *dns.EDNS0_SUBNET {
	ip, n, err := net.ParseCIDR(prefix)
	if err != nil {
		panic("dnstest: bad ECS prefix " + prefix)
	}
	bits, _ := n.Mask.Size()
	e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 2, SourceNetmask: uint8(bits), Address: ip}
	if ip4 := ip.To4(); ip4 != nil {
		e.Family, e.Address = 1, ip4
	}
	return e
}
