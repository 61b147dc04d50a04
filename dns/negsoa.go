package dns

import (
	"strings"
	"weak"

	"github.com/gslb/gslb/zones"
)

// The SOA of NXDOMAIN and NODATA replies on the fast path, written from a
// per-zone template instead of compressing its names per query (a third
// of an NXDOMAIN's cost).
//
// The template is the SOA as appendSOA writes it after the question
// "origin." (so the owner is a pointer to offset 12). For a longer
// question every pointer target moves by the same amount: a target in
// the question's origin part moves with the origin's position, and a
// target inside the SOA (RNAME pointing into MNAME) moves with the SOA's
// start, both by the question's extra length. That holds unless
// compression would find a longer match in the question than the origin:
// an MNAME or RNAME below the origin whose label just above it is also
// the question's (say MNAME ns1.example.test. and the question
// x.ns1.example.test.). Such questions, rare, take appendSOA.

// negSOA is one zone's template.
type negSOA struct {
	b    []byte   // the SOA record
	ptrs []int    // offsets in b of its compression pointers
	deep []string // the lowercase label above the origin of MNAME and RNAME, when below it
}

// negSOAs holds the templates of one snapshot's zones. It holds neither
// the snapshot nor its zones, so that it keeps no replaced set alive.
type negSOAs struct {
	snap     weak.Pointer[zones.Snapshot]
	byOrigin map[string]*negSOA
}

// appendNegSOA writes z's negative SOA after the question qname, as
// appendSOA does.
func (h *Handler) appendNegSOA(b []byte, snap *zones.Snapshot, z *zones.Zone, qname string) []byte {
	t := h.negSOA(snap, z)
	if t == nil || len(qname) < len(z.Origin) {
		return appendSOA(b, z, qname)
	}
	above := qname[:len(qname)-len(z.Origin)] // "x.y." or ""
	if len(t.deep) > 0 && above != "" {
		label := above[strings.LastIndexByte(above[:len(above)-1], '.')+1 : len(above)-1]
		for _, d := range t.deep {
			if strings.EqualFold(label, d) {
				return appendSOA(b, z, qname)
			}
		}
	}
	shift := len(above)
	start := len(b)
	b = append(b, t.b...)
	for _, p := range t.ptrs {
		v := uint16(b[start+p]&0x3F)<<8 | uint16(b[start+p+1])
		v += uint16(shift)
		if v >= 0x4000 {
			return appendSOA(b[:start], z, qname)
		}
		b[start+p], b[start+p+1] = 0xC0|byte(v>>8), byte(v)
	}
	return b
}

// negSOA returns z's template, building the snapshot's set on first use
// after a reload (two queries racing there build it twice; either wins).
// nil: z has no template (the root zone, or names appendSOA leaves to
// the general path).
func (h *Handler) negSOA(snap *zones.Snapshot, z *zones.Zone) *negSOA {
	c := h.negSOAs.Load()
	if c == nil || c.snap.Value() != snap {
		c = buildNegSOAs(snap)
		h.negSOAs.Store(c)
	}
	return c.byOrigin[z.Origin]
}

func buildNegSOAs(snap *zones.Snapshot) *negSOAs {
	c := &negSOAs{snap: weak.Make(snap), byOrigin: map[string]*negSOA{}}
	for _, z := range snap.Zones() {
		if t := newNegSOA(z); t != nil {
			c.byOrigin[z.Origin] = t
		}
	}
	return c
}

func newNegSOA(z *zones.Zone) *negSOA {
	if z.NegSOA == nil || z.Origin == "." {
		return nil
	}
	// The reply up to the SOA for the question z.Origin: header,
	// question name (len+1 bytes on the wire), type and class.
	pre := headerLen + len(z.Origin) + 1 + 4
	b := appendSOA(make([]byte, pre), z, z.Origin)
	if b == nil {
		return nil
	}
	t := &negSOA{b: b[pre:]}
	// Find the pointers: the owner, then (after type, class, TTL and
	// rdlength) MNAME and RNAME.
	off, ok := t.scanName(0)
	if !ok {
		return nil
	}
	if off, ok = t.scanName(off + 10); !ok {
		return nil
	}
	if _, ok = t.scanName(off); !ok {
		return nil
	}
	for _, n := range []string{z.NegSOA.Ns, z.NegSOA.Mbox} {
		n = strings.ToLower(n)
		if len(n) > len(z.Origin) && strings.HasSuffix(n, "."+z.Origin) {
			above := n[:len(n)-len(z.Origin)-1]
			t.deep = append(t.deep, above[strings.LastIndexByte(above, '.')+1:])
		}
	}
	return t
}

// scanName walks the name at off in t.b, noting a pointer that ends it,
// and returns the offset after it.
func (t *negSOA) scanName(off int) (int, bool) {
	for off < len(t.b) {
		c := t.b[off]
		switch {
		case c == 0:
			return off + 1, true
		case c&0xC0 == 0xC0:
			if off+1 >= len(t.b) {
				return 0, false
			}
			t.ptrs = append(t.ptrs, off)
			return off + 2, true
		case c > 63:
			return 0, false
		}
		off += int(c) + 1
	}
	return 0, false
}
