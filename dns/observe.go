package dns

import (
	"iter"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/zones"
)

// Observer is told about every query the handler answers, for metrics and
// the query log. Observe runs inline on the query path, once per reply
// built (before truncation and packing), from many goroutines at once: it
// must be fast, must not block and must not lock. It sees every reply
// built, malformed queries' FORMERR included, before RRL may drop or
// truncate it. Queries that get no reply (responses, headerless bytes) or a
// bare error reply (panics) are counted in Handler.Stats instead.
type Observer interface {
	Observe(o *Observation)
}

// Observation describes one answered query. It is passed by pointer into
// the handler's own per-query state, so that observing allocates and
// copies nothing: o and everything it refers to are valid only during
// Observe. Copy what you keep: the Observation itself, Name (it may alias
// the handler's scratch: clone it), the Answer and Picked slices (the
// records and endpoints themselves are immutable and may be kept).
//
// (The fast path writes each field in turn into its reused Observation:
// a field added here must be set there too. TestFastMatchesGeneral
// compares the whole Observation of both paths, so a field the fast path
// leaves out fails it.)
type Observation struct {
	Name  string // the question name as asked; "" when the query had no single question
	Qtype uint16
	Rcode int
	TCP   bool
	Src   netip.AddrPort // the query's source address

	// HasECS is set when the query carried an EDNS Client Subnet option;
	// ECS is its subnet (invalid for family 0) and Scope the scope prefix
	// length the reply carries back.
	HasECS bool
	ECS    netip.Prefix
	Scope  int

	Zone *zones.Zone // the zone that answered; nil for none (REFUSED outside our zones, CHAOS, FORMERR...)
	Pool *zones.Pool // the pool that answered an A/AAAA query (also with no address); nil for other answers

	// Answer is the reply's answer section, except for a pool answer
	// written on the fast path: Answer is nil then, and the records are
	// the RRs of Picked's endpoints, in order (see Records).
	Answer []dns.RR

	// Picked is the pool endpoints answered, in answer order, when the
	// handler has them at hand (the fast path); nil otherwise. Like
	// Answer, valid only during Observe. Use Endpoints to read them.
	Picked []*zones.Endpoint
}

// Records yields the answer's records: Answer, or the RRs of Picked's
// endpoints when the fast path left Answer nil.
func (o *Observation) Records() iter.Seq[dns.RR] {
	return func(yield func(dns.RR) bool) {
		if o.Answer == nil {
			for _, e := range o.Picked {
				if !yield(e.RR) {
					return
				}
			}
			return
		}
		for _, rr := range o.Answer {
			if !yield(rr) {
				return
			}
		}
	}
}

// Endpoints yields the pool endpoints in the answer, in answer order:
// Picked when it is set; else they are found in Answer. Pool records are
// the endpoints' own prebuilt RRs, so they are matched by identity; the
// scan resumes after the last match, which makes a rotated answer
// (roundrobin, failover) linear in the pool size.
func (o *Observation) Endpoints() iter.Seq[*zones.Endpoint] {
	return func(yield func(*zones.Endpoint) bool) {
		if o.Pool == nil {
			return
		}
		if o.Picked != nil {
			for _, e := range o.Picked {
				if !yield(e) {
					return
				}
			}
			return
		}
		next := 0
		for _, rr := range o.Answer {
			var fam []*zones.Endpoint
			switch rr.Header().Rrtype {
			case dns.TypeA:
				fam = o.Pool.V4
			case dns.TypeAAAA:
				fam = o.Pool.V6
			default:
				continue
			}
			for k := range fam {
				i := next + k
				if i >= len(fam) {
					i -= len(fam)
				}
				if fam[i].RR == rr {
					if !yield(fam[i]) {
						return
					}
					next = i + 1
					break
				}
			}
		}
	}
}

// observe reports the reply resp to req to the configured Observer; res
// is what answer noted (the zone, the lowercase name).
func (h *Handler) observe(o *Observation, req, resp *dns.Msg, src netip.AddrPort, tcp bool, res *result) {
	*o = Observation{Rcode: resp.Rcode, TCP: tcp, Src: src, Answer: resp.Answer, Zone: res.z}
	if len(req.Question) == 1 {
		o.Name, o.Qtype = req.Question[0].Name, req.Question[0].Qtype
		if res.z != nil {
			o.Pool = answeringPool(res.z, res.qname, o.Qtype, resp)
		}
	}
	if opt := req.IsEdns0(); opt != nil {
		for _, eo := range opt.Option {
			if e, ok := eo.(*dns.EDNS0_SUBNET); ok {
				o.HasECS = true
				if a, ok := ecsAddr(e); ok {
					o.ECS, _ = a.Prefix(int(e.SourceNetmask))
				}
				o.Scope = replyScope(resp)
				break
			}
		}
	}
	h.cfg.Observer.Observe(o)
}

// answeringPool finds the pool behind an A/AAAA answer: the owner of its
// address records (after any CNAME), or, for an empty NOERROR answer, the
// name asked.
func answeringPool(z *zones.Zone, lname string, qtype uint16, resp *dns.Msg) *zones.Pool {
	if resp.Rcode != dns.RcodeSuccess {
		return nil
	}
	owner := ""
	for i := len(resp.Answer) - 1; i >= 0; i-- {
		if t := resp.Answer[i].Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA {
			owner = resp.Answer[i].Header().Name
			break
		}
	}
	if owner == "" {
		if len(resp.Answer) > 0 || (qtype != dns.TypeA && qtype != dns.TypeAAAA) {
			return nil
		}
		owner = lname
	}
	if n := z.Nodes[owner]; n != nil {
		return n.Pool
	}
	return nil
}

// replyScope is the ECS scope prefix length in resp's OPT, 0 without one.
func replyScope(resp *dns.Msg) int {
	for i := len(resp.Extra) - 1; i >= 0; i-- {
		if opt, ok := resp.Extra[i].(*dns.OPT); ok {
			for _, eo := range opt.Option {
				if e, ok := eo.(*dns.EDNS0_SUBNET); ok {
					return int(e.SourceScope)
				}
			}
			return 0
		}
	}
	return 0
}
