package dns

import (
	"encoding/binary"
	"net"
	"net/netip"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/zones"
)

// Reading a query from its bytes. We parse the header, the question, the
// OPT record and a TSIG record, and nothing else (HARDENING.md: servers
// have died parsing records nobody needed). A QUERY may not carry records
// in the answer or authority section, nor anything in the additional
// section but one OPT and one TSIG (last): NSD's rules. Those checks run
// on the raw counts, before any record is read. miekg/dns is used for two
// bounded pieces only: the question name (UnpackDomainName, which stops
// compression loops) and the TSIG record.

const headerLen = 12

// EDNS option codes we read; every other option is skipped unread.
const (
	optECS    = 8
	optCookie = 10
)

type rawHeader struct {
	id             uint16
	flags          uint16
	qd, an, ns, ar uint16
}

func readHeader(b []byte) (rawHeader, bool) {
	if len(b) < headerLen {
		return rawHeader{}, false
	}
	return rawHeader{
		id:    binary.BigEndian.Uint16(b[0:]),
		flags: binary.BigEndian.Uint16(b[2:]),
		qd:    binary.BigEndian.Uint16(b[4:]),
		an:    binary.BigEndian.Uint16(b[6:]),
		ns:    binary.BigEndian.Uint16(b[8:]),
		ar:    binary.BigEndian.Uint16(b[10:]),
	}, true
}

func (h rawHeader) qr() bool    { return h.flags&0x8000 != 0 }
func (h rawHeader) opcode() int { return int(h.flags>>11) & 0xF }

// msgHdr is the header as miekg/dns would have unpacked it.
func (h rawHeader) msgHdr() dns.MsgHdr {
	f := h.flags
	return dns.MsgHdr{
		Id:                 h.id,
		Response:           f&0x8000 != 0,
		Opcode:             h.opcode(),
		Authoritative:      f&0x0400 != 0,
		Truncated:          f&0x0200 != 0,
		RecursionDesired:   f&0x0100 != 0,
		RecursionAvailable: f&0x0080 != 0,
		Zero:               f&0x0040 != 0,
		AuthenticatedData:  f&0x0020 != 0,
		CheckingDisabled:   f&0x0010 != 0,
		Rcode:              int(f & 0xF),
	}
}

// parsed is what a query says, as far as we read it.
type parsed struct {
	hdr  rawHeader
	req  dns.Msg   // header, question (when hasQ) and OPT (when opt != nil); nothing else
	hasQ bool      // the question was read (even when the query is malformed later)
	opt  *dns.OPT  // nil without EDNS or when the OPT was malformed (then bad is set)
	tsig *dns.TSIG // a TSIG record, always the last one

	ednsOptions

	name [maxSimpleName]byte // scratch for the question name (readSimpleName)
}

// parse reads the query in b (whose header is h) into p and returns
// dns.RcodeSuccess, or dns.RcodeFormatError when it is malformed; p then
// holds what could be read (the question, for the reply to echo it).
// snap, when not nil, lends the question name its string when the name is
// one of its nodes' (see internName).
func parse(b []byte, h rawHeader, p *parsed, snap *zones.Snapshot) int {
	p.hdr = h
	p.req.MsgHdr = h.msgHdr()
	query := h.opcode() == dns.OpcodeQuery
	if h.qd > 1 {
		return dns.RcodeFormatError
	}
	off := headerLen
	if h.qd == 1 {
		var name string
		raw, end, ok := readSimpleName(b, off, p.name[:0])
		if ok {
			name = internName(snap, raw)
		} else {
			var err error
			name, end, err = dns.UnpackDomainName(b, off)
			if err != nil {
				return dns.RcodeFormatError
			}
		}
		if end+4 > len(b) {
			return dns.RcodeFormatError
		}
		p.req.Question = append(p.req.Question[:0], dns.Question{
			Name: name, Qtype: binary.BigEndian.Uint16(b[end:]), Qclass: binary.BigEndian.Uint16(b[end+2:]),
		})
		p.hasQ = true
		off = end + 4
	}
	if query && (h.an > 0 || h.ns > 0 || h.ar > 2) {
		// From the counts alone: nothing past the question is read.
		return dns.RcodeFormatError
	}
	// Other opcodes (answered NOTIMP) may carry records: skip them unread,
	// to find an OPT to echo.
	for i := 0; i < int(h.an)+int(h.ns); i++ {
		_, _, rdEnd, ok := rrBounds(b, off)
		if !ok {
			return dns.RcodeFormatError
		}
		off = rdEnd
	}
	for i := 0; i < int(h.ar); i++ {
		typ, rdStart, rdEnd, ok := rrBounds(b, off)
		if !ok || p.tsig != nil { // TSIG must be the last record (RFC 8945 §5.1)
			p.opt = nil
			return dns.RcodeFormatError
		}
		switch typ {
		case dns.TypeOPT:
			// One OPT, owned by the root (RFC 6891 §6.1.1).
			if p.opt != nil || b[off] != 0 || !p.readOPT(b, off, rdStart, rdEnd) {
				p.opt = nil
				return dns.RcodeFormatError
			}
		case dns.TypeTSIG:
			// miekg/dns unpacks empty RDATA as a TSIG with no fields,
			// which our NOTAUTH reply would echo unpackable.
			rr, _, err := dns.UnpackRR(b, off)
			t, isTSIG := rr.(*dns.TSIG)
			if err != nil || !isTSIG || rdStart == rdEnd {
				p.opt = nil
				return dns.RcodeFormatError
			}
			p.tsig = t
		default:
			if query { // a record nobody needs: refuse rather than read it
				p.opt = nil
				return dns.RcodeFormatError
			}
		}
		off = rdEnd
	}
	if p.opt != nil {
		p.req.Extra = append(p.req.Extra[:0], p.opt)
	}
	return dns.RcodeSuccess
}

// rrBounds reads the fixed part of the record at off without reading its
// owner name beyond its labels' lengths (pointers are not followed) and
// returns its type and where its RDATA starts and ends.
func rrBounds(b []byte, off int) (typ uint16, rdStart, rdEnd int, ok bool) {
	end, ok := skipName(b, off)
	if !ok || end+10 > len(b) {
		return 0, 0, 0, false
	}
	typ = binary.BigEndian.Uint16(b[end:])
	rdStart = end + 10
	rdEnd = rdStart + int(binary.BigEndian.Uint16(b[end+8:]))
	if rdEnd > len(b) {
		return 0, 0, 0, false
	}
	return typ, rdStart, rdEnd, true
}

// readOPT builds p.opt from the OPT record at off and notes the options
// we use; it reports false when an option runs past the RDATA.
func (p *parsed) readOPT(b []byte, off, rdStart, rdEnd int) bool {
	hdr := b[off+1:] // the owner is the root: one zero byte
	p.opt = &dns.OPT{Hdr: dns.RR_Header{
		Name:     ".",
		Rrtype:   dns.TypeOPT,
		Class:    binary.BigEndian.Uint16(hdr[2:]),
		Ttl:      binary.BigEndian.Uint32(hdr[4:]),
		Rdlength: binary.BigEndian.Uint16(hdr[8:]),
	}}
	return p.ednsOptions.scan(b[rdStart:rdEnd])
}

// ednsOptions are the OPT options we act on: the data of the first ECS
// and COOKIE option, and how many of each there were.
type ednsOptions struct {
	ecs, cookie   []byte
	nECS, nCookie int
}

// scan reads the options in an OPT's RDATA, skipping those we do not use
// unread; it reports false when an option runs past the RDATA.
func (o *ednsOptions) scan(rd []byte) bool {
	for len(rd) > 0 {
		if len(rd) < 4 {
			return false
		}
		code := binary.BigEndian.Uint16(rd)
		n := int(binary.BigEndian.Uint16(rd[2:]))
		if 4+n > len(rd) {
			return false
		}
		data := rd[4 : 4+n : 4+n]
		switch code {
		case optECS:
			if o.nECS == 0 {
				o.ecs = data
			}
			o.nECS++
		case optCookie:
			if o.nCookie == 0 {
				o.cookie = data
			}
			o.nCookie++
		}
		rd = rd[4+n:]
	}
	return true
}

// skipName returns the offset after the (possibly compressed) name at off.
// It follows no pointer, so it cannot loop.
func skipName(b []byte, off int) (int, bool) {
	for n := 0; n < 128; n++ {
		if off >= len(b) {
			return 0, false
		}
		c := int(b[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				return off + 1, true
			}
			off += 1 + c
		case 0xC0:
			return off + 2, off+2 <= len(b)
		default:
			return 0, false
		}
	}
	return 0, false
}

// ecsData is an ECS option as readECSData checked it.
type ecsData struct {
	family uint16
	source int        // source prefix length
	addr   netip.Addr // the address, zero bits after the prefix; invalid for family 0
}

// readECSData reads ECS option data and applies RFC 7871 §6: a known
// family, a prefix the family allows, exactly the address bytes the prefix
// needs, and no bits set beyond the prefix. Family 0 with prefix 0 and no
// address is what dig sends for +subnet=0 and is accepted ("don't
// tailor"). It allocates nothing.
func readECSData(d []byte) (ecsData, bool) {
	if len(d) < 4 {
		return ecsData{}, false
	}
	e := ecsData{family: binary.BigEndian.Uint16(d), source: int(d[2])}
	addr := d[4:]
	var size int
	switch e.family {
	case 0:
		return e, e.source == 0 && len(addr) == 0
	case 1:
		size = net.IPv4len
	case 2:
		size = net.IPv6len
	default:
		return ecsData{}, false
	}
	if e.source > 8*size || len(addr) != (e.source+7)/8 {
		return ecsData{}, false
	}
	if e.source%8 != 0 && addr[len(addr)-1]&(0xFF>>(e.source%8)) != 0 {
		return ecsData{}, false
	}
	var a [16]byte
	copy(a[:], addr)
	if e.family == 1 {
		e.addr = netip.AddrFrom4([4]byte(a[:4]))
	} else {
		e.addr = netip.AddrFrom16(a)
	}
	return e, true
}

// parseECS is readECSData as miekg/dns's option, for the general path.
func parseECS(d []byte) (*dns.EDNS0_SUBNET, bool) {
	e, ok := readECSData(d)
	if !ok {
		return nil, false
	}
	o := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: e.family, SourceNetmask: d[2], SourceScope: d[3]}
	if e.addr.IsValid() {
		o.Address = net.IP(e.addr.AsSlice())
	}
	return o, true
}

// maxSimpleName is the longest name readSimpleName returns: a name of 255
// octets on the wire is 254 characters with its final dot.
const maxSimpleName = 254

// simpleByte marks the bytes of simple names: letters, digits, '-', '_'
// and '*', which dns.UnpackDomainName copies as they are (it escapes
// other specials), so that a name made of them reads the same without it.
var simpleByte = newByteSet(func(c int) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '*'
})

// byteSet is a set of bytes as a bitmap: 32 bytes, so the query path's
// character checks touch one cache line instead of a 256-byte table's four.
type byteSet [4]uint64

func newByteSet(in func(c int) bool) (s byteSet) {
	for c := range 256 {
		if in(c) {
			s[c>>6] |= 1 << (c & 63)
		}
	}
	return s
}

func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// readSimpleName reads the name at off into buf (in presentation form,
// with its final dot) when it has no compression pointer and only simple
// bytes, which is what dns.UnpackDomainName would return for it without
// allocating. ok is false for every other name, including malformed ones:
// dns.UnpackDomainName reads (or rejects) those.
func readSimpleName(b []byte, off int, buf []byte) (name []byte, end int, ok bool) {
	for {
		if off >= len(b) {
			return nil, 0, false
		}
		c := int(b[off])
		off++
		if c == 0 {
			break
		}
		if c > 63 || off+c > len(b) || len(buf)+c+1 > maxSimpleName {
			return nil, 0, false
		}
		for _, ch := range b[off : off+c] {
			if !simpleByte.has(ch) {
				return nil, 0, false
			}
		}
		buf = append(buf, b[off:off+c]...)
		buf = append(buf, '.')
		off += c
	}
	if len(buf) == 0 {
		buf = append(buf, '.')
	}
	return buf, off, true
}

// internName returns name as a string: the owner name of snap's node when
// name is that (lowercase) name, so that the common question allocates
// nothing, and a new string otherwise.
func internName(snap *zones.Snapshot, name []byte) string {
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			return string(name) // echoed as asked: not the owner's spelling
		}
	}
	// Find and the map index keep nothing of the key.
	if z := snap.Find(unsafe.String(&name[0], len(name))); z != nil {
		if n := z.Nodes[string(name)]; n != nil && n.Name == string(name) {
			return n.Name
		}
	}
	return string(name)
}
