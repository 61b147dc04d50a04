package dns

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/zones"
)

// ZoneSource publishes the zones being served (a *zones.Store).
type ZoneSource interface{ Current() *zones.Snapshot }

// Config is what the handler needs; zero values have working defaults.
type Config struct {
	Zones   ZoneSource
	Health  func() HealthView // nil: every endpoint is up
	Locator Locator           // nil: no client is located
	Log     *slog.Logger
	Rand    func(n int) int // nil: math/rand/v2

	// UseECS takes the client from EDNS Client Subnet when present.
	UseECS bool
	// MaxUDPSize caps UDP answers (and is advertised in our OPT); the
	// client's own EDNS size caps them further. Default 1232.
	MaxUDPSize int
	// ChaosVersion answers version.bind/version.server (CHAOS TXT); ""
	// refuses. ChaosID answers id.server/hostname.bind; "" refuses.
	ChaosVersion string
	ChaosID      string
}

// Stats are counters the handler keeps without locks.
type Stats struct {
	Queries  atomic.Uint64
	Panics   atomic.Uint64
	Dropped  atomic.Uint64 // responses (QR=1) and unparseable headers
	FormErrs atomic.Uint64
}

// Handler answers DNS queries from wire bytes.
type Handler struct {
	cfg     Config
	sel     *Selector
	maxUDP  int
	scratch sync.Pool
	Stats   Stats
}

// NewHandler returns a handler for cfg.
func NewHandler(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.IntN
	}
	h := &Handler{cfg: cfg, sel: NewSelector(cfg.Rand), maxUDP: cfg.MaxUDPSize}
	if h.maxUDP < 512 {
		h.maxUDP = 1232
	}
	h.scratch.New = func() any { return &scratch{eps: make([]*zones.Endpoint, 0, 16)} }
	return h
}

// Selector returns the selection the handler uses (for explain).
func (h *Handler) Selector() *Selector { return h.sel }

type scratch struct {
	eps []*zones.Endpoint
}

// Respond answers the query in raw, sent from src over UDP or TCP, packing
// the reply into buf when it fits. It returns nil when nothing must be sent
// (a response, or bytes without a DNS header).
func (h *Handler) Respond(raw []byte, src netip.AddrPort, tcp bool, buf []byte) (out []byte) {
	hdr, ok := readHeader(raw)
	if !ok || hdr.qr() {
		h.Stats.Dropped.Add(1)
		return nil
	}
	h.Stats.Queries.Add(1)
	defer func() {
		if r := recover(); r != nil {
			h.Stats.Panics.Add(1)
			h.cfg.Log.Error("handler panic", "err", fmt.Sprint(r), "stack", string(debug.Stack()))
			out = errorReply(hdr, dns.RcodeServerFailure, buf)
		}
	}()
	req := new(dns.Msg)
	if err := req.Unpack(raw); err != nil {
		h.Stats.FormErrs.Add(1)
		return errorReply(hdr, dns.RcodeFormatError, buf)
	}
	resp := h.answer(req, raw, hdr, src, tcp)
	if resp == nil {
		return nil
	}
	size := dns.MaxMsgSize
	if !tcp {
		size = 512
		if opt := resp.IsEdns0(); opt != nil {
			size = h.maxUDP
			if q := req.IsEdns0(); q != nil {
				size = max(512, min(int(q.UDPSize()), h.maxUDP))
			}
		}
	}
	resp.Truncate(size)
	// PackBuffer uses buf only when its length (not capacity) fits.
	packed, err := resp.PackBuffer(buf[:cap(buf)])
	if err != nil {
		h.cfg.Log.Error("pack failed", "err", err, "qname", req.Question[0].Name)
		return errorReply(hdr, dns.RcodeServerFailure, buf)
	}
	return packed
}

// errorReply is a bare reply (no question) for queries we cannot parse.
func errorReply(hdr rawHeader, rcode int, buf []byte) []byte {
	m := &dns.Msg{MsgHdr: dns.MsgHdr{Id: hdr.id, Response: true, Opcode: hdr.opcode(), Rcode: rcode,
		RecursionDesired: hdr.flags&0x0100 != 0}}
	out, err := m.PackBuffer(buf[:cap(buf)])
	if err != nil {
		return nil
	}
	return out
}

// reply starts a response echoing the question as asked, with clean flags:
// RD and CD are copied (RFC 1035, RFC 4035 §3.1.6), nothing else.
func reply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	m.Rcode = rcode
	m.Question = req.Question
	return m
}

func (h *Handler) answer(req *dns.Msg, raw []byte, hdr rawHeader, src netip.AddrPort, tcp bool) *dns.Msg {
	// EDNS: at most one OPT, in the additional section, with owner ".".
	// Replies to a query with a good OPT carry one (RFC 6891 §7), errors
	// included.
	var opt *dns.OPT
	badOPT := false
	for _, rr := range req.Extra {
		if o, isOpt := rr.(*dns.OPT); isOpt {
			if opt != nil || o.Hdr.Name != "." {
				badOPT = true
			}
			opt = o
		}
	}
	if badOPT {
		opt = nil
	}
	if req.Opcode != dns.OpcodeQuery {
		m := reply(req, dns.RcodeNotImplemented)
		m.CheckingDisabled = false
		if len(req.Question) > 1 {
			m.Question = nil
		}
		if opt != nil {
			h.addOPT(m, opt, nil, 0)
		}
		return m
	}
	if len(req.Question) != 1 || len(req.Answer) > 0 || len(req.Ns) > 0 || badOPT {
		m := h.formErr(req)
		if len(req.Question) != 1 {
			m.Question = nil
		}
		if opt != nil {
			h.addOPT(m, opt, nil, 0)
		}
		return m
	}
	var ecs *dns.EDNS0_SUBNET
	if opt != nil {
		if opt.Version() != 0 {
			m := reply(req, dns.RcodeBadVers)
			m.CheckingDisabled = false
			h.addOPT(m, opt, nil, 0)
			return m
		}
		for _, o := range opt.Option {
			if e, isECS := o.(*dns.EDNS0_SUBNET); isECS {
				if ecs != nil {
					m := h.formErr(req)
					h.addOPT(m, opt, nil, 0)
					return m
				}
				ecs = e
			}
		}
		if ecs != nil && !validECS(ecs, raw, hdr) {
			m := h.formErr(req)
			h.addOPT(m, opt, nil, 0)
			return m
		}
	}
	q := req.Question[0]
	m := reply(req, dns.RcodeSuccess)
	scope := 0
	switch {
	case q.Qclass == dns.ClassCHAOS:
		h.chaos(m, q)
	case q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
		m.Rcode = dns.RcodeRefused
	case q.Qtype == dns.TypeOPT:
		m.Rcode = dns.RcodeFormatError
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		m.Rcode = dns.RcodeRefused
	case q.Qtype == dns.TypeMAILA || q.Qtype == dns.TypeMAILB || q.Qtype == dns.TypeTKEY || q.Qtype == dns.TypeTSIG:
		m.Rcode = dns.RcodeNotImplemented
	default:
		snap := h.cfg.Zones.Current()
		qname := strings.ToLower(q.Name)
		z := snap.Find(qname)
		if z == nil {
			m.Rcode = dns.RcodeRefused
			break
		}
		var hv HealthView
		if h.cfg.Health != nil {
			hv = h.cfg.Health()
		}
		c := h.client(src, ecs)
		sc := h.scratch.Get().(*scratch)
		scope = h.fromZone(m, z, qname, q.Qtype, c, hv, sc, nil)
		h.scratch.Put(sc)
	}
	if opt != nil {
		if !h.cfg.UseECS {
			// The answer was made for the source address, not the ECS
			// subnet: it holds for every subnet (RFC 7871 §7.2.1).
			scope = 0
		}
		h.addOPT(m, opt, ecs, scope)
	}
	return m
}

func (h *Handler) formErr(req *dns.Msg) *dns.Msg {
	h.Stats.FormErrs.Add(1)
	m := reply(req, dns.RcodeFormatError)
	m.CheckingDisabled = false
	return m
}

// validECS applies RFC 7871 §6: a known family, a prefix the family
// allows, exactly the address bytes the prefix needs, no bits beyond it.
func validECS(e *dns.EDNS0_SUBNET, raw []byte, hdr rawHeader) bool {
	if _, ok := ecsRawCheck(raw, hdr); !ok {
		return false
	}
	switch e.Family {
	case 0:
		return e.SourceNetmask == 0
	case 1, 2:
	default:
		return false
	}
	a, ok := ecsAddr(e)
	if !ok {
		return false
	}
	p, err := a.Prefix(int(e.SourceNetmask))
	return err == nil && p.Addr() == a
}

func ecsAddr(e *dns.EDNS0_SUBNET) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(e.Address)
	if !ok {
		return netip.Addr{}, false
	}
	if e.Family == 1 {
		a = a.Unmap()
		return a, a.Is4()
	}
	return a, true
}

// addOPT echoes EDNS: our payload size, version 0, DO copied, ECS echoed
// with its scope; unknown options and flags are not echoed.
func (h *Handler) addOPT(m *dns.Msg, q *dns.OPT, ecs *dns.EDNS0_SUBNET, scope int) {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(uint16(h.maxUDP))
	if q.Do() {
		o.SetDo()
	}
	if m.Rcode > 0xF {
		o.SetExtendedRcode(uint16(m.Rcode))
	}
	if ecs != nil {
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: ecs.Family, SourceNetmask: ecs.SourceNetmask, Address: ecs.Address}
		if ecs.SourceNetmask > 0 {
			e.SourceScope = uint8(scope)
		}
		o.Option = append(o.Option, e)
	}
	m.Extra = append(m.Extra, o)
}

// client is who the answer is for: the ECS address when configured and
// given (source prefix 0 means "don't tailor": no client), else the source.
func (h *Handler) client(src netip.AddrPort, ecs *dns.EDNS0_SUBNET) *Client {
	c := &Client{locator: h.cfg.Locator}
	if ecs != nil && h.cfg.UseECS {
		c.ECS = true
		if ecs.SourceNetmask == 0 {
			return c
		}
		a, _ := ecsAddr(ecs)
		c.Addr, c.SourceLen = a, int(ecs.SourceNetmask)
		return c
	}
	c.Addr = src.Addr().Unmap()
	c.SourceLen = c.Addr.BitLen()
	return c
}

func (h *Handler) chaos(m *dns.Msg, q dns.Question) {
	name := strings.ToLower(q.Name)
	var txt string
	switch name {
	case "version.bind.", "version.server.":
		txt = h.cfg.ChaosVersion
	case "id.server.", "hostname.bind.":
		txt = h.cfg.ChaosID
	}
	if txt == "" || (q.Qtype != dns.TypeTXT && q.Qtype != dns.TypeANY) {
		m.Rcode = dns.RcodeRefused
		return
	}
	m.Authoritative = true
	m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS}, Txt: []string{txt}})
}

// Explain answers qname/qtype for a client the way a query would be
// answered (client = ECS address with prefix bits, or a source address when
// bits is its full length), reporting each step to tr. It uses the same
// lookup and selection code as Respond.
func (h *Handler) Explain(qname string, qtype uint16, client netip.Addr, bits int, tr Tracer) *dns.Msg {
	req := new(dns.Msg)
	req.SetQuestion(dns.Fqdn(qname), qtype)
	m := reply(req, dns.RcodeSuccess)
	snap := h.cfg.Zones.Current()
	lname := strings.ToLower(req.Question[0].Name)
	z := snap.Find(lname)
	if z == nil {
		trace(tr, "%s is in none of our zones: REFUSED", lname)
		m.Rcode = dns.RcodeRefused
		return m
	}
	trace(tr, "zone %s (serial %d, %s)", z.Origin, z.Serial, z.File)
	var hv HealthView
	if h.cfg.Health != nil {
		hv = h.cfg.Health()
	}
	c := &Client{locator: h.cfg.Locator, Addr: client.Unmap(), SourceLen: bits}
	if client.IsValid() {
		c.ECS = bits < client.BitLen()
		loc := c.Location()
		if loc.Found {
			trace(tr, "client %s: country %q subdivision %q continent %q, lat/lon known: %v, database network %s", c.Addr, loc.Country, loc.Subdivision, loc.Continent, loc.HasLatLon, loc.Prefix)
		} else {
			trace(tr, "client %s: not in any GeoIP database", c.Addr)
		}
	}
	sc := h.scratch.Get().(*scratch)
	defer h.scratch.Put(sc)
	h.fromZone(m, z, lname, qtype, c, hv, sc, tr)
	return m
}
