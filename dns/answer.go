package dns

import (
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/zones"
)

const maxCNAMEHops = 8

// fromZone fills m with the answer for qname/qtype from zone z (RFC 1034
// §4.3.2 with RFC 4592 wildcards, RFC 6604 rcodes for CNAME chains and
// RFC 8482 minimal ANY) and returns the ECS scope of the answer.
func (h *Handler) fromZone(m *dns.Msg, z *zones.Zone, qname string, qtype uint16, c *Client, hv HealthView, sc *scratch, tr Tracer) int {
	m.Authoritative = true
	scope := 0
	name := qname
	for hop := 0; ; hop++ {
		cut, node, encloser := walk(z, name)
		if cut != nil && !(qtype == dns.TypeDS && cut.Name == name) {
			h.referral(m, z, cut)
			return scope
		}
		wild := false
		if node == nil {
			if w := z.Nodes["*."+encloser]; w != nil && encloser != "" {
				node, wild = w, true
			} else {
				m.Rcode = dns.RcodeNameError
				m.Ns = append(m.Ns, z.NegSOA)
				return scope
			}
		}
		if cn := node.Sets[dns.TypeCNAME]; len(cn) > 0 && qtype != dns.TypeCNAME {
			m.Answer = append(m.Answer, owned(cn[0], name, wild))
			if tr != nil {
				tr.Step("%s is a CNAME to %s", name, cn[0].(*dns.CNAME).Target)
			}
			target := strings.ToLower(cn[0].(*dns.CNAME).Target)
			if !dns.IsSubDomain(z.Origin, target) || hop >= maxCNAMEHops || inAnswer(m, target) {
				return scope
			}
			name = target
			continue
		}
		if qtype == dns.TypeANY {
			qtype = minimalANY(node)
			if qtype == 0 {
				m.Ns = append(m.Ns, z.NegSOA)
				return scope
			}
		}
		if node.Pool != nil && (qtype == dns.TypeA || qtype == dns.TypeAAAA) {
			if tr != nil {
				tr.Step("%s is pool %q (policy %s, %d endpoints)", name, node.Pool.Key, node.Pool.Policy, len(node.Pool.Endpoints))
			}
			sel := h.sel.Select(node.Pool, qtype, hv, c, sc.eps[:0], tr)
			if tr != nil {
				tr.Step("ECS scope /%d", sel.Scope)
			}
			scope = max(scope, sel.Scope)
			m.Answer = slices.Grow(m.Answer, len(sel.Endpoints))
			for _, e := range sel.Endpoints {
				m.Answer = append(m.Answer, e.RR)
			}
			if len(sel.Endpoints) == 0 {
				m.Ns = append(m.Ns, z.NegSOA)
			}
			return scope
		}
		rrs := node.Sets[qtype]
		if len(rrs) == 0 {
			m.Ns = append(m.Ns, z.NegSOA)
			return scope
		}
		m.Answer = slices.Grow(m.Answer, len(rrs))
		for _, rr := range rrs {
			m.Answer = append(m.Answer, owned(rr, name, wild))
		}
		return scope
	}
}

// walk finds, for name in z: the highest delegation point at or above it
// (below the apex), the node itself, and otherwise the closest encloser.
func walk(z *zones.Zone, name string) (cut, node *zones.Node, encloser string) {
	node = z.Nodes[name]
	off := 0
	for {
		suffix := name[off:]
		if len(suffix) < len(z.Origin) {
			break
		}
		n := z.Nodes[suffix]
		if n != nil {
			if encloser == "" && off > 0 {
				encloser = suffix
			}
			if n.Cut {
				cut = n
			}
		}
		if len(suffix) == len(z.Origin) {
			break
		}
		var end bool
		off, end = dns.NextLabel(name, off)
		if end {
			break
		}
	}
	return cut, node, encloser
}

func (h *Handler) referral(m *dns.Msg, z *zones.Zone, cut *zones.Node) {
	if len(m.Answer) == 0 {
		m.Authoritative = false
	}
	ns := cut.Sets[dns.TypeNS]
	m.Ns = append(m.Ns, ns...)
	for _, rr := range ns {
		target := strings.ToLower(rr.(*dns.NS).Ns)
		if !dns.IsSubDomain(cut.Name, target) {
			continue // glue only for names inside the delegated zone
		}
		if n := z.Nodes[target]; n != nil {
			m.Extra = append(m.Extra, n.Sets[dns.TypeA]...)
			m.Extra = append(m.Extra, n.Sets[dns.TypeAAAA]...)
		}
	}
}

// minimalANY picks the one RRset an ANY query gets (RFC 8482 §4.2).
func minimalANY(n *zones.Node) uint16 {
	if n.Pool != nil {
		if len(n.Pool.V4) > 0 {
			return dns.TypeA
		}
		return dns.TypeAAAA
	}
	var best uint16
	for t := range n.Sets {
		if best == 0 || t < best {
			best = t
		}
	}
	return best
}

// owned returns rr, or for a wildcard match a copy owned by name.
func owned(rr dns.RR, name string, wild bool) dns.RR {
	if !wild {
		return rr
	}
	c := dns.Copy(rr)
	c.Header().Name = name
	return c
}

func inAnswer(m *dns.Msg, name string) bool {
	for _, rr := range m.Answer {
		if strings.EqualFold(rr.Header().Name, name) {
			return true
		}
	}
	return false
}
