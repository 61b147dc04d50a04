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
	"time"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/cookie"
	"github.com/gslb/gslb/rrl"
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
	// Observer, when set, is told about every answered query (observe.go).
	Observer Observer

	// RRL limits UDP responses per source prefix, class and name (see
	// package rrl); TCP is never limited, nor a query with a valid server
	// cookie. nil means rrl.DefaultConfig(): on, 200 responses/s per
	// key, slip 2, loopback exempt. ResponsesPerSecond 0 turns it off.
	RRL *rrl.Config
	// Cookies holds the DNS Cookie secrets (RFC 7873, RFC 9018). nil
	// makes a random secret: fine for one node, not for an anycast set.
	Cookies *cookie.Config
	// CookieRequireForLarge, when > 0, caps UDP answers to clients
	// without a valid server cookie at this many bytes (at least 512):
	// a larger answer goes out truncated (TC=1), so large answers reach
	// only proven addresses or TCP. 0 turns it off.
	CookieRequireForLarge int
	// Now is the clock of RRL and cookies; nil means time.Now.
	Now func() time.Time
}

// Stats are counters the handler keeps without locks, for metrics.
type Stats struct {
	Queries  atomic.Uint64 // packets with a query header (QR=0), UDP and TCP
	Fast     atomic.Uint64 // of those, answered on the fast path (fast.go)
	Panics   atomic.Uint64 // answered SERVFAIL after a recovered panic
	Dropped  atomic.Uint64 // responses (QR=1), runts and (Linux) UDP datagrams over 4,096 bytes: never answered
	FormErrs atomic.Uint64 // FORMERR replies

	RRLSlipped atomic.Uint64 // UDP replies RRL replaced by a truncated one
	RRLDropped atomic.Uint64 // UDP replies RRL did not send

	CookieValid     atomic.Uint64 // queries with a valid server cookie (not rate limited)
	CookieFresh     atomic.Uint64 // a client cookie without a valid server cookie: given a new one
	CookieMalformed atomic.Uint64 // a malformed COOKIE option: FORMERR
	LargeTruncated  atomic.Uint64 // UDP answers truncated with CookieRequireForLarge in force
	TooBig          atomic.Uint64 // UDP answers the interface MTU could not carry unfragmented: sent truncated
	TSIG            atomic.Uint64 // TSIG-signed queries: NOTAUTH, BADKEY (we hold no keys)
}

// Handler answers DNS queries from wire bytes.
type Handler struct {
	cfg     Config
	sel     *Selector
	maxUDP  int
	rrl     *rrl.Limiter // nil: RRL off
	cookies *cookie.Server
	large   int  // CookieRequireForLarge; 0: off
	noFast  bool // tests: every query takes the general path
	scratch sync.Pool
	queries sync.Pool // *qstate
	negSOAs atomic.Pointer[negSOAs]
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
	rc := rrl.DefaultConfig()
	if cfg.RRL != nil {
		rc = *cfg.RRL
	}
	if rc.ResponsesPerSecond > 0 {
		h.rrl = rrl.New(rc, cfg.Now)
	}
	var cc cookie.Config
	if cfg.Cookies != nil {
		cc = *cfg.Cookies
	} else {
		cc.Secret, _ = cookie.RandomSecret() // crypto/rand does not fail
	}
	h.cookies = cookie.New(cc, cfg.Now)
	if cfg.CookieRequireForLarge > 0 {
		h.large = max(cfg.CookieRequireForLarge, 512)
	}
	h.scratch.New = func() any { return &scratch{eps: make([]*zones.Endpoint, 0, 16)} }
	h.queries.New = func() any { return new(qstate) }
	return h
}

// Selector returns the selection the handler uses (for explain).
func (h *Handler) Selector() *Selector { return h.sel }

// RRLStats returns the rate limiter's counters (zero when RRL is off).
func (h *Handler) RRLStats() rrl.Stats {
	if h.rrl == nil {
		return rrl.Stats{}
	}
	return h.rrl.Stats()
}

type scratch struct {
	eps []*zones.Endpoint
}

// qstate is the per-query memory Respond reuses (from Handler.queries):
// the parsed query, the reply message and the backing arrays of their
// sections, so that a common answer allocates nothing. Nothing in it may
// outlive the query: the reply is packed before it goes back to the pool,
// and the Observer sees the answer section only during Observe.
type qstate struct {
	p     parsed
	res   result
	m     dns.Msg
	c     Client
	sc    scratch
	q     [1]dns.Question
	ans   [8]dns.RR
	ns    [2]dns.RR
	extra [2]dns.RR
	reqEx [1]dns.RR
	eps   [16]*zones.Endpoint
	obs   Observation
}

func (h *Handler) getQS() *qstate {
	qs := h.queries.Get().(*qstate)
	qs.p = parsed{}
	qs.p.req.Question = qs.q[:0]
	qs.p.req.Extra = qs.reqEx[:0]
	qs.res = result{}
	qs.sc.eps = qs.eps[:0]
	return qs
}

// putQS returns qs to the pool, dropping its references to records and
// snapshots so that the pool does not keep an old snapshot alive.
func (h *Handler) putQS(qs *qstate) {
	qs.m = dns.Msg{}
	qs.p = parsed{}
	qs.res = result{}
	qs.c = Client{}
	clear(qs.q[:])
	clear(qs.ans[:])
	clear(qs.ns[:])
	clear(qs.extra[:])
	clear(qs.reqEx[:])
	clear(qs.eps[:])
	qs.obs = Observation{}
	h.queries.Put(qs)
}

// reply starts qs's reply message to req (see reply).
func (qs *qstate) reply(req *dns.Msg, rcode int) *dns.Msg {
	m := &qs.m
	*m = dns.Msg{}
	fillReply(m, req, rcode)
	m.Answer, m.Ns, m.Extra = qs.ans[:0], qs.ns[:0], qs.extra[:0]
	return m
}

// result is what building the answer tells the UDP rules that follow.
type result struct {
	qname  string        // the question's name, lowercase ("" without one)
	zone   string        // origin of the zone that answered ("" for none)
	z      *zones.Zone   // that zone, for the Observer
	cookie cookie.Status // 0: the query had no COOKIE option
}

// Respond answers the query in raw, sent from src over UDP or TCP, packing
// the reply into buf when it fits. It returns nil when nothing must be sent
// (a response, bytes without a DNS header, or a reply RRL dropped).
//
// The reply is built, then over UDP rate limited (RRL, skipped for a valid
// server cookie), then capped in size (the client's EDNS size, ours, and
// CookieRequireForLarge for clients without a valid cookie), then packed.
func (h *Handler) Respond(raw []byte, src netip.AddrPort, tcp bool, buf []byte) (out []byte) {
	return h.respond(raw, src, tcp, buf, nil)
}

// respond is Respond with the fast path's scratch fs (nil: one from a pool).
func (h *Handler) respond(raw []byte, src netip.AddrPort, tcp bool, buf []byte, fs *fastState) (out []byte) {
	hdr, ok := readHeader(raw)
	if !ok || hdr.qr() {
		h.Stats.Dropped.Add(1)
		return nil
	}
	h.Stats.Queries.Add(1)
	if !tcp && !h.noFast {
		if out, ok := h.fast(raw, hdr, src, buf, fs); ok {
			return out
		}
	}
	qs := h.getQS()
	defer func() {
		if r := recover(); r != nil {
			// qs is not reused: the panic may have left it half-written.
			h.Stats.Panics.Add(1)
			h.cfg.Log.Error("handler panic", "err", fmt.Sprint(r), "stack", string(debug.Stack()))
			out = errorReply(hdr, dns.RcodeServerFailure, buf)
			return
		}
		h.putQS(qs)
	}()
	p, res := &qs.p, &qs.res
	snap := h.cfg.Zones.Current()
	resp := h.answer(qs, snap, parse(raw, hdr, p, snap), src)
	if h.cfg.Observer != nil {
		h.observe(&qs.obs, &p.req, resp, src, tcp, res) // every reply built, RRL or not
	}
	size := dns.MaxMsgSize
	capped := false
	if !tcp {
		size = 512
		if p.opt != nil && resp.IsEdns0() != nil {
			size = max(512, min(int(p.opt.UDPSize()), h.maxUDP))
		}
		if res.cookie != cookie.Valid {
			if h.rrl != nil && !h.rrl.Exempt(src.Addr()) {
				class, name := h.rrlKey(resp, res)
				switch h.rrl.Limit(src.Addr(), class, name) {
				case rrl.Drop:
					h.Stats.RRLDropped.Add(1)
					return nil
				case rrl.Slip:
					h.Stats.RRLSlipped.Add(1)
					slip(resp)
				}
			}
			if h.large > 0 && h.large < size {
				size, capped = h.large, true
			}
		}
		if len(resp.Extra) > 0 && resp.IsTsig() != nil && resp.Len() > size {
			// Truncate leaves messages with a TSIG alone: drop the
			// (unsigned, informational) TSIG rather than exceed the size.
			resp.Extra = resp.Extra[:len(resp.Extra)-1]
		}
	}
	resp.Truncate(size)
	if capped && resp.Truncated {
		h.Stats.LargeTruncated.Add(1)
	}
	// Truncate turns compression off when the message fits without it;
	// we want it anyway (fewer bytes out, less to amplify).
	resp.Compress = true
	// PackBuffer uses buf only when its length (not capacity) fits.
	packed, err := resp.PackBuffer(buf[:cap(buf)])
	if err != nil {
		h.cfg.Log.Error("pack failed", "err", err, "qname", res.qname)
		return errorReply(hdr, dns.RcodeServerFailure, buf)
	}
	return packed
}

// rrlKey classifies a reply for RRL and picks the name it is counted
// under: the query name and type for answers and NODATA, the zone for
// NXDOMAIN (random names under one zone are one key, as in BIND), the
// delegation for referrals, and nothing for errors (one key per prefix).
func (h *Handler) rrlKey(m *dns.Msg, res *result) (rrl.Class, uint64) {
	if m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0 && !m.Authoritative && len(m.Ns) > 0 {
		if ns, isNS := m.Ns[0].(*dns.NS); isNS {
			return rrl.Referral, h.rrl.HashName(strings.ToLower(ns.Hdr.Name))
		}
	}
	var qt uint16
	if len(m.Question) == 1 {
		qt = m.Question[0].Qtype
	}
	return h.rrlClass(m.Rcode, len(m.Answer) > 0, res.qname, res.zone, qt)
}

// rrlClass is rrlKey for a reply that is not a referral, from its parts
// (the fast path has no dns.Msg): rcode, whether the answer section has
// records, the lowercase query name and type, and the zone's origin.
func (h *Handler) rrlClass(rcode int, answered bool, qname, zone string, qtype uint16) (rrl.Class, uint64) {
	switch rcode {
	case dns.RcodeSuccess:
		if answered {
			return rrl.Answer, h.rrl.HashName(qname) ^ uint64(qtype)
		}
		return rrl.NoData, h.rrl.HashName(qname) ^ uint64(qtype)
	case dns.RcodeNameError:
		return rrl.NXDomain, h.rrl.HashName(zone)
	}
	return rrl.Error, 0
}

// slip turns m into RRL's truncated reply: TC set, the question and the
// OPT (with its cookie) kept, no records, so it is no larger than the
// query and a real resolver retries over TCP.
func slip(m *dns.Msg) {
	opt := m.IsEdns0()
	m.Truncated = true
	m.Answer, m.Ns, m.Extra = nil, nil, nil
	if opt != nil {
		m.Extra = []dns.RR{opt}
	}
}

// truncatedReply rewrites reply b, in place, as slip leaves a reply: TC,
// the question and the OPT, no records. It is for a UDP reply the network
// cannot carry (EMSGSIZE), rare enough to go through dns.Msg. nil when b
// is not a message or would not get shorter.
func truncatedReply(b []byte) []byte {
	m := new(dns.Msg)
	if m.Unpack(b) != nil {
		return nil
	}
	slip(m)
	out, err := m.PackBuffer(b)
	if err != nil || len(out) >= len(b) || &out[0] != &b[0] {
		return nil
	}
	return out
}

// errorReply is a bare reply (no question) for a query whose handling
// panicked.
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
	fillReply(m, req, rcode)
	return m
}

func fillReply(m *dns.Msg, req *dns.Msg, rcode int) {
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	m.Rcode = rcode
	m.Question = req.Question
}

// answer builds the reply to the query parse read into qs.p (rcode is
// what parse returned) from snap and notes in qs.res what the UDP rules
// need. The reply is qs.m.
func (h *Handler) answer(qs *qstate, snap *zones.Snapshot, rcode int, src netip.AddrPort) *dns.Msg {
	p, res := &qs.p, &qs.res
	req := &p.req
	// Replies to a query with a good OPT carry one (RFC 6891 §7), errors
	// included.
	opt := p.opt
	if rcode != dns.RcodeSuccess {
		// Malformed: the question is echoed when it could be read, the
		// OPT when it was read whole.
		m := h.formErr(qs, req)
		if opt != nil {
			h.addOPT(m, opt, nil, 0, nil)
		}
		return m
	}
	if req.Opcode != dns.OpcodeQuery {
		m := qs.reply(req, dns.RcodeNotImplemented)
		m.CheckingDisabled = false
		if opt != nil {
			h.addOPT(m, opt, nil, 0, nil)
		}
		return m
	}
	if len(req.Question) != 1 {
		m := h.formErr(qs, req)
		if opt != nil {
			h.addOPT(m, opt, nil, 0, nil)
		}
		return m
	}
	q := req.Question[0]
	res.qname = strings.ToLower(q.Name)
	var ecs *dns.EDNS0_SUBNET
	var ck []byte // the COOKIE option of the reply
	if opt != nil {
		if opt.Version() != 0 {
			m := qs.reply(req, dns.RcodeBadVers)
			m.CheckingDisabled = false
			h.addOPT(m, opt, nil, 0, nil)
			return m
		}
		if p.nCookie > 0 {
			st := cookie.Malformed
			if p.nCookie == 1 {
				st, ck = h.cookies.Check(p.cookie, src.Addr(), make([]byte, 0, cookie.ReplyLen))
			}
			res.cookie = st
			switch st {
			case cookie.Malformed: // RFC 7873 §5.2.2: FORMERR, no cookie back
				h.Stats.CookieMalformed.Add(1)
				m := h.formErr(qs, req)
				h.addOPT(m, opt, nil, 0, nil)
				return m
			case cookie.Valid:
				h.Stats.CookieValid.Add(1)
			default:
				h.Stats.CookieFresh.Add(1)
			}
		}
		if p.nECS > 0 {
			e, ok := parseECS(p.ecs)
			if !ok || p.nECS > 1 {
				m := h.formErr(qs, req)
				h.addOPT(m, opt, nil, 0, ck)
				return m
			}
			ecs = e
			opt.Option = append(opt.Option, e) // for the Observer, as miekg/dns would have it
		}
	}
	if p.tsig != nil {
		// We hold no TSIG keys: RFC 8945 §5.2.1, NOTAUTH with an
		// unsigned TSIG saying BADKEY.
		h.Stats.TSIG.Add(1)
		m := qs.reply(req, dns.RcodeNotAuth)
		if opt != nil {
			h.addOPT(m, opt, nil, 0, ck)
		}
		m.Extra = append(m.Extra, &dns.TSIG{
			Hdr:       dns.RR_Header{Name: p.tsig.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
			Algorithm: p.tsig.Algorithm, TimeSigned: p.tsig.TimeSigned, Fudge: p.tsig.Fudge,
			OrigId: req.Id, Error: dns.RcodeBadKey,
		})
		return m
	}
	m := qs.reply(req, dns.RcodeSuccess)
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
		z := snap.Find(res.qname)
		if z == nil {
			m.Rcode = dns.RcodeRefused
			break
		}
		res.zone, res.z = z.Origin, z
		var hv HealthView
		if h.cfg.Health != nil {
			hv = h.cfg.Health()
		}
		c := h.client(&qs.c, src, ecs)
		scope = h.fromZone(m, z, res.qname, q.Qtype, c, hv, &qs.sc, nil)
	}
	if opt != nil {
		if !h.cfg.UseECS {
			// The answer was made for the source address, not the ECS
			// subnet: it holds for every subnet (RFC 7871 §7.2.1).
			scope = 0
		}
		h.addOPT(m, opt, ecs, scope, ck)
	}
	return m
}

func (h *Handler) formErr(qs *qstate, req *dns.Msg) *dns.Msg {
	h.Stats.FormErrs.Add(1)
	m := qs.reply(req, dns.RcodeFormatError)
	m.CheckingDisabled = false
	return m
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
// with its scope, our COOKIE (ck) when the query had one; unknown options
// and flags are not echoed.
func (h *Handler) addOPT(m *dns.Msg, q *dns.OPT, ecs *dns.EDNS0_SUBNET, scope int, ck []byte) {
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
	if ck != nil {
		// Raw bytes: EDNS0_COOKIE would hex-encode them and back.
		o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0COOKIE, Data: ck})
	}
	m.Extra = append(m.Extra, o)
}

// client is who the answer is for: the ECS address when configured and
// given (source prefix 0 means "don't tailor": no client), else the source.
// It is written to c.
func (h *Handler) client(c *Client, src netip.AddrPort, ecs *dns.EDNS0_SUBNET) *Client {
	if ecs == nil {
		return h.clientFor(c, src, false, 0, netip.Addr{})
	}
	a, _ := ecsAddr(ecs)
	return h.clientFor(c, src, true, int(ecs.SourceNetmask), a)
}

// clientFor is client from the parts of an ECS option (hasECS, its source
// prefix length and address).
func (h *Handler) clientFor(c *Client, src netip.AddrPort, hasECS bool, source int, addr netip.Addr) *Client {
	*c = Client{locator: h.cfg.Locator}
	if hasECS && h.cfg.UseECS {
		c.ECS = true
		if source == 0 {
			return c
		}
		c.Addr, c.SourceLen = addr, source
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
