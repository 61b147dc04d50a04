package dns

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/cookie"
	"github.com/gslb/gslb/rrl"
	"github.com/gslb/gslb/zones"
)

// The fast path: the common UDP query (one lowercase question for A or
// AAAA in class IN, no flags but RD/AD/CD, at most an OPT with nothing we
// act on but ECS and a COOKIE) whose name is a pool, a static A/AAAA set,
// an empty answer or a name that does not exist, answered by writing the
// reply bytes directly: the question is copied from the query, answer
// owners are a pointer to it (0xC00C), and no dns.Msg is built or packed.
//
// Everything else (CNAMEs, wildcards, referrals, other types, malformed
// cookies, TSIG, malformed or odd queries, answers that would not fit)
// returns false before anything is counted, and the general path answers
// it, so the protocol rules live in one place; the fast path only writes,
// faster, what the general path would have sent. TestFastMatchesGeneral and
// FuzzFastPath compare the two on the same queries.

// fastFlags are the header flags a query may carry and stay on the fast
// path: RD and CD (copied to the reply) and AD (ignored). Everything else
// (QR, opcode, AA, TC, RA, Z, rcode) must be zero.
const fastFlags = 0x0100 | 0x0020 | 0x0010

// lowerSimple marks the bytes of the names the fast path answers (as read
// by readSimpleName, with its dots): lowercase letters, digits, '-' and
// '_'. Mixed case (echoed as asked) and '*' take the general path.
var lowerSimple = newByteSet(func(c int) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
})

// fastState is the fast path's per-query scratch: a UDP reader's own (its
// cache lines stay warm between queries, and no sync.Pool is touched), or
// one from fastPool for other callers of Respond.
type fastState struct {
	name [maxSimpleName]byte
	wild [maxSimpleName + 2]byte // "*." and the closest encloser
	ck   [cookie.ReplyLen]byte   // our COOKIE option
	eps  [16]*zones.Endpoint
	c    Client
	obs  Observation // what the Observer is shown; refers to snapshot data (see follow)

	cache *nameCache // a UDP reader's; nil for pooled states
	loc   *locCache  // a UDP reader's, when the Locator has a Version
}

// follow readies a UDP reader's state for snapshot snap: when it is not
// the one the state holds data of (the name cache's entries, endpoints
// left in eps by earlier answers), they are let go, so that a busy reader
// keeps no old snapshot alive; eps is not cleared per query.
func (fs *fastState) follow(snap *zones.Snapshot) {
	if fs.cache != nil && fs.cache.use(snap) {
		clear(fs.eps[:])
		fs.obs = Observation{}
	}
}

// release lets go of everything a UDP reader's state holds of snapshots
// and databases: the reader parks, and may not answer again for a long
// time, while reloads replace what it would hold on to. (Keeping what is
// current would not do: a reload may come while it is parked.) A reader
// parks after 10 ms without a query, so under load this is rare.
func (fs *fastState) release() {
	if fs.cache != nil {
		fs.cache.reset()
		clear(fs.eps[:])
		fs.obs = Observation{}
	}
	fs.loc.reset() // the locations' strings would keep replaced databases' memory
}

var fastPool = sync.Pool{New: func() any { return new(fastState) }}

// fastQuery is what the fast path read from a query.
type fastQuery struct {
	qend   int // end of the question (type and class included)
	qtype  uint16
	edns   bool
	size   int    // the OPT's UDP payload size
	do     bool   // DNSSEC OK
	ecs    []byte // the ECS option's data (checked), nil without one
	ecsSrc int
	ecsIP  netip.Addr
	cookie []byte        // the COOKIE option's data, nil without one
	ck     []byte        // the COOKIE option of the reply (Check)
	ckSt   cookie.Status // what Check said of it
}

// fast answers the query in raw over UDP when it is a common one; ok is
// false when the general path must answer it (nothing was counted then).
// fs is the caller's scratch, or nil for one from fastPool.
func (h *Handler) fast(raw []byte, hdr rawHeader, src netip.AddrPort, buf []byte, fs *fastState) (out []byte, ok bool) {
	if hdr.flags&^fastFlags != 0 || hdr.qd != 1 || hdr.an != 0 || hdr.ns != 0 || hdr.ar > 1 {
		return nil, false
	}
	pooled := fs == nil
	if pooled {
		fs = fastPool.Get().(*fastState)
	}
	defer func() {
		if r := recover(); r != nil {
			// The panic may have left fs half-written: start it afresh.
			c, l := fs.cache, fs.loc
			*fs = fastState{cache: c, loc: l}
			c.reset()
			l.reset()
			h.Stats.Panics.Add(1)
			h.cfg.Log.Error("handler panic", "err", fmt.Sprint(r), "stack", string(debug.Stack()))
			out, ok = errorReply(hdr, dns.RcodeServerFailure, buf), true
		}
		if pooled {
			clear(fs.eps[:]) // a pooled state keeps no snapshot data (a reader's: see follow)
			fs.obs = Observation{}
			fastPool.Put(fs)
		}
	}()
	var q fastQuery
	end, ok := readFastQuery(raw, hdr, &q)
	if !ok {
		return nil, false
	}
	if q.cookie != nil {
		if q.ckSt, q.ck = h.cookies.Check(q.cookie, src.Addr(), fs.ck[:0]); q.ckSt == cookie.Malformed {
			return nil, false // FORMERR
		}
	}
	size := 512
	if q.edns {
		size = max(512, min(q.size, h.maxUDP))
	}
	if h.large > 0 && h.large < size && q.ckSt != cookie.Valid {
		size = h.large
	}
	snap := h.cfg.Zones.Current()
	fs.follow(snap)
	var (
		qname string // may alias fs.name or the cache: looked up, never kept
		z     *zones.Zone
		node  *zones.Node
	)
	e := fs.cache.find(raw[headerLen:end])
	if e != nil {
		qname, z, node = e.name, e.z, e.node
	} else {
		if qname, z, node, ok = h.resolveFast(snap, raw, fs); !ok {
			return nil, false
		}
		if fs.cache != nil {
			if e = fs.cache.add(raw[headerLen:end], qname, z, node); e != nil {
				qname = e.name
			}
		}
	}
	var (
		rcode = dns.RcodeSuccess
		pool  *zones.Pool
		ans   []dns.RR // answer records (endpoint or static RRs)
		eps   []*zones.Endpoint
		scope int
	)
	switch {
	case node == nil:
		rcode = dns.RcodeNameError
	case node.Pool != nil: // never beside a CNAME (zones rejects that)
		pool = node.Pool
		var hv HealthView
		if h.cfg.Health != nil && pool.Check != nil { // without a check no endpoint asks hv
			hv = h.cfg.Health()
		}
		c := h.clientFor(&fs.c, src, q.ecs != nil, q.ecsSrc, q.ecsIP)
		c.cache = fs.loc
		sel := h.sel.Select(pool, q.qtype, hv, c, fs.eps[:0], nil)
		eps, scope = sel.Endpoints, sel.Scope
	default:
		// A CNAME is alone at its name: with an address set there is none.
		if ans = node.Sets[q.qtype]; len(ans) == 0 && len(node.Sets[dns.TypeCNAME]) > 0 {
			return nil, false
		}
	}
	if !h.cfg.UseECS {
		scope = 0 // see answer
	}

	answered := len(eps)+len(ans) > 0
	b := h.writeFast(buf[:0], raw, hdr, &q, rcode, snap, z, qname, e, eps, ans, scope)
	if b == nil || len(b) > size {
		return nil, false
	}
	if h.cfg.Observer != nil {
		// The reader's own, field by field (a composite literal would be
		// built on the stack and copied over).
		o := &fs.obs
		o.Name, o.Qtype, o.Rcode, o.TCP, o.Src = qname, q.qtype, rcode, false, src
		if node != nil {
			o.Name = node.Name // a string that outlives fs
		}
		o.Zone, o.Pool = z, pool
		o.Answer, o.Picked = ans, eps // a pool answer: Answer nil, Picked's RRs
		o.HasECS, o.ECS, o.Scope = q.ecs != nil, netip.Prefix{}, 0
		if q.ecs != nil {
			if q.ecsIP.IsValid() {
				o.ECS, _ = q.ecsIP.Prefix(q.ecsSrc)
			}
			if q.ecsSrc > 0 {
				o.Scope = scope
			}
		}
		h.cfg.Observer.Observe(o)
	}
	switch {
	case q.cookie == nil:
	case q.ckSt == cookie.Valid:
		h.Stats.CookieValid.Add(1)
	default:
		h.Stats.CookieFresh.Add(1)
	}
	if h.rrl != nil && q.ckSt != cookie.Valid && !h.rrl.Exempt(src.Addr()) { // a valid cookie proves the address
		class, key := h.rrlClass(rcode, answered, qname, z.Origin, q.qtype)
		switch h.rrl.Limit(src.Addr(), class, key) {
		case rrl.Drop:
			h.Stats.RRLDropped.Add(1)
			h.Stats.Fast.Add(1)
			return nil, true
		case rrl.Slip:
			h.Stats.RRLSlipped.Add(1)
			h.Stats.Fast.Add(1)
			return h.writeSlip(buf[:0], raw, hdr, &q, rcode, scope), true
		}
	}
	h.Stats.Fast.Add(1)
	return b, true
}

// resolveFast reads the question name of raw (into fs.name, lowercase
// presentation form) and finds it in snap: its zone and node, or no node
// for a name that does not exist. ok is false when the general path must
// answer: a name the fast path does not read, one outside our zones, at or
// below a delegation, or one a wildcard covers.
func (h *Handler) resolveFast(snap *zones.Snapshot, raw []byte, fs *fastState) (qname string, z *zones.Zone, node *zones.Node, ok bool) {
	name, _, ok := readSimpleName(raw, headerLen, fs.name[:0])
	if !ok || len(name) < 2 { // not the root either
		return "", nil, nil, false
	}
	for _, c := range name {
		if !lowerSimple.has(c) {
			return "", nil, nil, false
		}
	}
	qname = unsafe.String(&name[0], len(name))
	if z, node = snap.Lookup(qname); z == nil {
		return "", nil, nil, false
	}
	if node == nil {
		cut, _, encloser := walk(z, qname)
		if cut != nil {
			return "", nil, nil, false
		}
		w := append(append(fs.wild[:0], "*."...), encloser...)
		if z.Nodes[string(w)] != nil {
			return "", nil, nil, false // a wildcard answers it
		}
	} else if node.Referral {
		return "", nil, nil, false
	}
	return qname, z, node, true
}

// readFastQuery finds the end of the question name (end) and reads the
// type, class and OPT after it into q, which is zero when called (filled
// in place: returned, its 150 bytes were copied once more per query); ok
// is false for anything the fast path leaves alone. The name itself is
// read by resolveFast, when the reader's cache does not know it.
func readFastQuery(raw []byte, hdr rawHeader, q *fastQuery) (end int, ok bool) {
	off := headerLen
	for {
		if off >= len(raw) || raw[off] > 63 { // a pointer, or malformed
			return 0, false
		}
		c := int(raw[off])
		off += 1 + c
		if c == 0 {
			break
		}
	}
	if off+4 > len(raw) {
		return 0, false
	}
	end = off
	q.qtype = binary.BigEndian.Uint16(raw[off:])
	if (q.qtype != dns.TypeA && q.qtype != dns.TypeAAAA) || binary.BigEndian.Uint16(raw[off+2:]) != dns.ClassINET {
		return 0, false
	}
	q.qend = off + 4
	if hdr.ar == 0 {
		return end, true
	}
	// The OPT: owned by the root, version 0, no extended rcode bits.
	o := q.qend
	if o+11 > len(raw) || raw[o] != 0 || binary.BigEndian.Uint16(raw[o+1:]) != dns.TypeOPT ||
		raw[o+5] != 0 || raw[o+6] != 0 {
		return 0, false
	}
	q.edns = true
	q.size = int(binary.BigEndian.Uint16(raw[o+3:]))
	q.do = raw[o+7]&0x80 != 0
	rd := raw[o+11:]
	n := int(binary.BigEndian.Uint16(raw[o+9:]))
	if n > len(rd) {
		return 0, false
	}
	var opts ednsOptions
	if !opts.scan(rd[:n]) || opts.nECS > 1 || opts.nCookie > 1 {
		return 0, false // malformed, or two of one: FORMERR
	}
	if opts.nECS == 1 {
		e, ok := readECSData(opts.ecs)
		if !ok {
			return 0, false // FORMERR
		}
		q.ecs, q.ecsSrc, q.ecsIP = opts.ecs, e.source, e.addr
	}
	q.cookie = opts.cookie
	return end, true
}

// writeFast writes the reply: the header, the question as asked, the
// answer (eps or the static records ans) or, when it is empty, the zone's
// SOA in the authority section (kept in the name's cache entry ne, when
// there is one, for the next time), and our OPT. nil means it cannot be
// written here (a name the writer does not handle).
func (h *Handler) writeFast(b, raw []byte, hdr rawHeader, q *fastQuery, rcode int, snap *zones.Snapshot,
	z *zones.Zone, qname string, ne *nameEntry, eps []*zones.Endpoint, ans []dns.RR, scope int) []byte {
	nAns := len(eps) + len(ans)
	nNS := 0
	if nAns == 0 {
		nNS = 1
	}
	b = appendHeader(b, hdr, rcode, false, nAns, nNS, q.edns)
	b = append(b, raw[headerLen:q.qend]...)
	n := 16 // the record's length in Endpoint.Wire
	if q.qtype == dns.TypeAAAA {
		n = 28
	}
	for _, e := range eps {
		b = append(b, e.Wire[:n]...)
	}
	for _, rr := range ans {
		var a netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(rr.AAAA.To16())
		}
		if !a.IsValid() {
			return nil
		}
		b = appendAddr(b, q.qtype, rr.Header().Ttl, a)
	}
	if nNS == 1 {
		if ne != nil && ne.slen > 0 {
			b = append(b, ne.soa[:ne.slen]...)
		} else {
			start := len(b)
			if b = h.appendNegSOA(b, snap, z, qname); b == nil {
				return nil
			}
			if ne != nil && len(b)-start <= len(ne.soa) {
				ne.slen = uint8(copy(ne.soa[:], b[start:])) // for the next query of this name
			}
		}
	}
	if q.edns {
		b = h.appendOPT(b, q, scope)
	}
	return b
}

// writeSlip writes RRL's truncated reply (see slip): TC, the question,
// the OPT, no records.
func (h *Handler) writeSlip(b, raw []byte, hdr rawHeader, q *fastQuery, rcode, scope int) []byte {
	b = appendHeader(b, hdr, rcode, true, 0, 0, q.edns)
	b = append(b, raw[headerLen:q.qend]...)
	if q.edns {
		b = h.appendOPT(b, q, scope)
	}
	return b
}

// appendHeader writes an authoritative reply header to the query hdr: its
// ID and opcode (0), RD and CD copied.
func appendHeader(b []byte, hdr rawHeader, rcode int, tc bool, an, ns int, edns bool) []byte {
	flags := 0x8000 | 0x0400 | hdr.flags&(0x0100|0x0010) | uint16(rcode)
	if tc {
		flags |= 0x0200
	}
	ar := 0
	if edns {
		ar = 1
	}
	b = binary.BigEndian.AppendUint16(b, hdr.id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(an))
	b = binary.BigEndian.AppendUint16(b, uint16(ns))
	return binary.BigEndian.AppendUint16(b, uint16(ar))
}

// appendAddr writes an A or AAAA record owned by the question name.
func appendAddr(b []byte, qtype uint16, ttl uint32, a netip.Addr) []byte {
	b = append(b, 0xC0, headerLen)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
	b = binary.BigEndian.AppendUint32(b, ttl)
	if qtype == dns.TypeA {
		b = binary.BigEndian.AppendUint16(b, 4)
		a4 := a.As4()
		return append(b, a4[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, 16)
	a16 := a.As16()
	return append(b, a16[:]...)
}

// appendSOA writes z's negative SOA, its names compressed as miekg/dns
// would: the owner (the origin) is the end of the question name, MNAME
// points into the question where they share a suffix, RNAME into either.
func appendSOA(b []byte, z *zones.Zone, qname string) []byte {
	soa := z.NegSOA
	known := [2]written{{name: qname, off: headerLen, literal: len(qname)}}
	b, _ = appendName(b, z.Origin, known[:1])
	if b == nil {
		return nil
	}
	b = binary.BigEndian.AppendUint16(b, dns.TypeSOA)
	b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
	b = binary.BigEndian.AppendUint32(b, soa.Hdr.Ttl)
	rdlen := len(b)
	b = append(b, 0, 0)
	mname := len(b)
	b, lit := appendName(b, soa.Ns, known[:1])
	known[1] = written{name: strings.ToLower(soa.Ns), off: mname, literal: lit}
	b, _ = appendName(b, soa.Mbox, known[:])
	if b == nil {
		return nil // (a failed MNAME passes nil on)
	}
	b = binary.BigEndian.AppendUint32(b, soa.Serial)
	b = binary.BigEndian.AppendUint32(b, soa.Refresh)
	b = binary.BigEndian.AppendUint32(b, soa.Retry)
	b = binary.BigEndian.AppendUint32(b, soa.Expire)
	b = binary.BigEndian.AppendUint32(b, soa.Minttl)
	binary.BigEndian.PutUint16(b[rdlen:], uint16(len(b)-rdlen-2))
	return b
}

// written is a name already in the reply, for compression: its lowercase
// presentation form, where it starts, and how many of its characters were
// written as labels (the rest, if any, is a pointer). For names of plain
// labels, a suffix's offset in the presentation form is its offset on the
// wire.
type written struct {
	name    string
	off     int
	literal int
}

// appendName writes name as its labels up to the longest suffix already
// in the reply (a pointer to it), or in full, and returns how many of its
// characters it wrote as labels. Names with escapes (a dotted RNAME local
// part) or malformed labels return nil: the general path writes those.
func appendName(b []byte, name string, known []written) ([]byte, int) {
	if b == nil || name == "" || name[len(name)-1] != '.' || strings.IndexByte(name, '\\') >= 0 {
		return nil, 0
	}
	lower := strings.ToLower(name)
	// Try each suffix, longest first, at label boundaries; not the root.
	for i := 0; i < len(lower)-1; {
		suffix := lower[i:]
		for _, k := range known {
			j := len(k.name) - len(suffix)
			if j >= 0 && j <= k.literal && k.name[j:] == suffix && (j == 0 || k.name[j-1] == '.') && k.off+j < 0x4000 {
				b = appendLabels(b, name[:i])
				if b == nil {
					return nil, 0
				}
				return binary.BigEndian.AppendUint16(b, 0xC000|uint16(k.off+j)), i
			}
		}
		dot := strings.IndexByte(suffix, '.')
		if dot < 0 {
			break
		}
		i += dot + 1
	}
	b = appendLabels(b, name)
	if b == nil {
		return nil, 0
	}
	return append(b, 0), len(name)
}

// appendLabels writes the labels of names ("a.b.", "" or ".") without
// the final root label.
func appendLabels(b []byte, names string) []byte {
	for names != "" && names != "." {
		i := strings.IndexByte(names, '.')
		if i <= 0 || i > 63 {
			return nil
		}
		b = append(b, byte(i))
		b = append(b, names[:i]...)
		names = names[i+1:]
	}
	return b
}

// appendOPT writes our OPT as addOPT builds it: our UDP size, DO copied,
// the ECS option echoed with the scope when the query had one, then our
// COOKIE when it had one.
func (h *Handler) appendOPT(b []byte, q *fastQuery, scope int) []byte {
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, dns.TypeOPT)
	b = binary.BigEndian.AppendUint16(b, uint16(h.maxUDP))
	var flags uint16
	if q.do {
		flags = 0x8000
	}
	b = append(b, 0, 0) // extended rcode, version
	b = binary.BigEndian.AppendUint16(b, flags)
	rdlen := len(b)
	b = append(b, 0, 0)
	if q.ecs != nil {
		b = binary.BigEndian.AppendUint16(b, optECS)
		b = binary.BigEndian.AppendUint16(b, uint16(len(q.ecs)))
		b = append(b, q.ecs[:3]...) // family, source prefix length
		if q.ecsSrc > 0 {
			b = append(b, byte(scope))
		} else {
			b = append(b, 0)
		}
		b = append(b, q.ecs[4:]...)
	}
	if q.ck != nil {
		b = binary.BigEndian.AppendUint16(b, optCookie)
		b = binary.BigEndian.AppendUint16(b, uint16(len(q.ck)))
		b = append(b, q.ck...)
	}
	binary.BigEndian.PutUint16(b[rdlen:], uint16(len(b)-rdlen-2))
	return b
}
