package dns

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/geo"
	"github.com/gslb/gslb/zones"
)

// HealthView says whether a health target passes. Unknown keys are up.
type HealthView interface{ Up(key string) bool }

// Locator places a client address.
type Locator interface{ Locate(netip.Addr) geo.Location }

// Tracer receives the steps of a selection, for `gslb explain`. nil on the
// query path.
type Tracer interface {
	Step(format string, args ...any)
}

// Client is who a pool answers: the ECS address when used, else the source.
type Client struct {
	Addr      netip.Addr
	SourceLen int  // ECS source prefix length, or the address length
	ECS       bool // the address came from ECS
	loc       geo.Location
	located   bool
	locator   Locator
	cache     *locCache // a UDP reader's, for locator; nil: ask locator
}

// Location looks the client up once, on first use.
func (c *Client) Location() geo.Location {
	if !c.located {
		c.located = true
		switch {
		case !c.Addr.IsValid():
		case c.cache != nil:
			c.loc = c.cache.locate(c.Addr)
		case c.locator != nil:
			c.loc = c.locator.Locate(c.Addr)
		}
	}
	return c.loc
}

// Selection is the outcome of one pool selection.
type Selection struct {
	Endpoints []*zones.Endpoint
	// Scope is the ECS scope prefix length the answer holds for: 0 when it
	// does not depend on the client.
	Scope int
	// AllDown is set when no endpoint was up and when_all_down applied.
	AllDown bool
}

// Selector holds what a selection needs besides the pool: health, a
// random source and rotation counters. Its zero value is not usable; use
// NewSelector.
type Selector struct {
	rnd func(n int) int
	rot []rotor
}

type rotor struct {
	n [8]uint64 // padded so neighbouring counters do not share a cache line
}

const rotors = 1024

// NewSelector returns a selector; rnd(n) returns a number in [0, n).
func NewSelector(rnd func(n int) int) *Selector {
	return &Selector{rnd: rnd, rot: make([]rotor, rotors)}
}

// next returns a rotation step for pool p. Pools hash onto a fixed set of
// counters so that rotation needs no state in the immutable snapshot;
// two pools that share a counter still rotate. With a tracer (explain) it
// only reads the counter: explaining an answer must not move the
// rotation that queries see.
func (s *Selector) next(p *zones.Pool, tr Tracer) uint64 {
	r := &s.rot[p.Hash%rotors]
	if tr != nil {
		return atomic.LoadUint64(&r.n[0])
	}
	return atomicAdd(&r.n[0])
}

func healthy(e *zones.Endpoint, hv HealthView) bool {
	switch e.State {
	case zones.Up:
		return true
	case zones.Down, zones.Drain:
		return false
	}
	return e.CheckKey == "" || hv == nil || hv.Up(e.CheckKey)
}

// Select picks the endpoints of pool p for a query of qtype (A or AAAA).
// buf is scratch for the result. It is a pure function of its inputs plus
// the rotation counter and random source, shared by the server and explain.
func (s *Selector) Select(p *zones.Pool, qtype uint16, hv HealthView, c *Client, buf []*zones.Endpoint, tr Tracer) Selection {
	fam := p.Family(qtype)
	if len(fam) == 0 {
		if tr != nil {
			tr.Step("no %s endpoints in the pool: NODATA", dns.Type(qtype).String())
		}
		return Selection{}
	}
	fi := 0
	if qtype == dns.TypeAAAA {
		fi = 1
	}
	up := buf[:0]
	if p.AlwaysUp[fi] {
		up = append(up, fam...) // healthy whatever the health view says: no pass
	} else {
		for _, e := range fam {
			if healthy(e, hv) {
				up = append(up, e)
			} else if tr != nil {
				tr.Step("drop %s: %s", e.Addr, whyDown(e))
			}
		}
	}
	var sel Selection
	if len(up) == 0 {
		sel.AllDown = true
		if p.FailClosed {
			if tr != nil {
				tr.Step("every endpoint is down and when_all_down = \"none\": empty answer")
			}
			return sel
		}
		for _, e := range fam {
			if e.State != zones.Down && e.State != zones.Drain {
				up = append(up, e)
			}
		}
		if tr != nil {
			tr.Step("every endpoint is down and when_all_down = \"all\": serving all %d not set down by the operator", len(up))
		}
		if len(up) == 0 {
			return sel
		}
	}
	n := p.Answers
	if n == 0 || n > len(up) {
		n = len(up)
	}
	switch p.Policy {
	case zones.RoundRobin:
		rotate(up, s.next(p, tr))
		if tr != nil {
			tr.Step("roundrobin: rotated")
		}
	case zones.Weighted:
		if k := weightedPick(up, n, s.rnd); k > 0 {
			n = k // weight 0 is never drawn while a weighted endpoint is up
		}
		if tr != nil {
			tr.Step("weighted: drew %d by weight", n)
		}
	case zones.Failover:
		best := up[0].Priority
		for _, e := range up {
			best = min(best, e.Priority)
		}
		k := 0
		for _, e := range up {
			if e.Priority == best {
				up[k] = e
				k++
			}
		}
		up = up[:k]
		n = min(n, k)
		rotate(up, s.next(p, tr))
		if tr != nil {
			tr.Step("failover: priority %d has %d healthy endpoint(s)", best, k)
		}
	case zones.Sticky:
		sel.Scope = s.sticky(up, n, c)
		if tr != nil {
			tr.Step("sticky: client subnet %s hashed over %d endpoints", stickyPrefix(c.Addr), len(up))
		}
	case zones.Geo:
		up, sel.Scope = s.geo(p, up, c, tr)
		n = min(n, len(up))
	case zones.Nearest:
		up, sel.Scope = s.nearest(p, up, c, tr)
		n = min(n, len(up))
	}
	sel.Endpoints = up[:n]
	return sel
}

func whyDown(e *zones.Endpoint) string {
	switch e.State {
	case zones.Down:
		return "state = \"down\""
	case zones.Drain:
		return "state = \"drain\""
	}
	return "health check failing"
}

// trace is for paths off the query path (Explain). Its arguments are boxed
// and the slice allocated even when tr is nil, so the query path writes
// `if tr != nil { tr.Step(...) }` instead: that saved up to 12 allocations
// per geo answer.
func trace(tr Tracer, format string, args ...any) {
	if tr != nil {
		tr.Step(format, args...)
	}
}

func rotate(es []*zones.Endpoint, step uint64) {
	if len(es) < 2 {
		return
	}
	k := int(step % uint64(len(es)))
	slices.Reverse(es[:k])
	slices.Reverse(es[k:])
	slices.Reverse(es)
}

// weightedPick moves up to n distinct endpoints drawn by weight (without
// replacement) to the front of es and returns how many it drew: fewer than
// n when the rest weigh 0, and 0 when all do.
func weightedPick(es []*zones.Endpoint, n int, rnd func(int) int) int {
	for i := 0; i < n; i++ {
		var total uint64
		for _, e := range es[i:] {
			total += uint64(e.Weight)
		}
		if total == 0 {
			return i
		}
		r := uint64(rnd(int(min(total, math.MaxInt))))
		for j := i; j < len(es); j++ {
			w := uint64(es[j].Weight)
			if r < w {
				es[i], es[j] = es[j], es[i]
				break
			}
			r -= w
		}
	}
	return n
}

// stickyPrefix is the client subnet sticky hashes: /24 or /56.
func stickyPrefix(a netip.Addr) netip.Prefix {
	bits := 56
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

// sticky orders es by weighted rendezvous score for the client's subnet
// and returns the ECS scope (the hashed prefix length).
func (s *Selector) sticky(es []*zones.Endpoint, n int, c *Client) int {
	pfx := stickyPrefix(c.Addr)
	var key [16]byte
	a16 := pfx.Addr().As16()
	copy(key[:], a16[:])
	// Selection sort of the top n by score: n is small.
	score := func(e *zones.Endpoint) float64 {
		var b [32]byte
		copy(b[:16], key[:])
		ea := e.Addr.As16()
		copy(b[16:], ea[:])
		h := hash64(b[:])
		// Weighted rendezvous: -w / ln(u), u uniform in (0,1).
		u := (float64(h>>11) + 0.5) / (1 << 53)
		return -float64(e.Weight) / math.Log(u)
	}
	for i := 0; i < n; i++ {
		bi, bs := i, score(es[i])
		for j := i + 1; j < len(es); j++ {
			if sc := score(es[j]); sc > bs {
				bi, bs = j, sc
			}
		}
		es[i], es[bi] = es[bi], es[i]
	}
	if !c.Addr.IsValid() {
		return 0
	}
	return pfx.Bits()
}

// hash64 is a fixed (unseeded) hash, so sticky choices survive restarts
// and agree across servers.
func hash64(b []byte) uint64 {
	// FNV-1a then a finalizer from splitmix64 to spread the bits.
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// geo applies the tiers: networks, country/subdivision, continent, then
// nearest by distance, then everything healthy.
func (s *Selector) geo(p *zones.Pool, up []*zones.Endpoint, c *Client, tr Tracer) ([]*zones.Endpoint, int) {
	if !c.Addr.IsValid() {
		if tr != nil {
			tr.Step("no client address: all healthy endpoints")
		}
		rotate(up, s.next(p, tr))
		return up, 0
	}
	// Tier 1: networks, longest prefix wins.
	bestBits := -1
	for _, e := range up {
		for _, n := range e.Networks {
			if n.Contains(c.Addr) && n.Bits() > bestBits {
				bestBits = n.Bits()
			}
		}
	}
	scopeFloor := networkScope(p, c.Addr)
	if bestBits >= 0 {
		k := 0
		for _, e := range up {
			if matchNet(e, c.Addr, bestBits) {
				up[k] = e
				k++
			}
		}
		if tr != nil {
			tr.Step("tier networks: %s is in a /%d of %d endpoint(s)", c.Addr, bestBits, k)
		}
		out := up[:k]
		rotate(out, s.next(p, tr))
		return out, max(bestBits, scopeFloor)
	}
	loc := c.Location()
	scope := scopeFloor
	if loc.Prefix.IsValid() {
		scope = max(scope, loc.Prefix.Bits())
	} else {
		scope = max(scope, c.SourceLen)
	}
	// The client's location is traced once, by Handler.Explain.
	if loc.Country != "" {
		// Subdivision matches are more specific than country matches.
		if loc.Subdivision != "" {
			if out := filter(up, func(e *zones.Endpoint) bool { return hasSubdivision(e.Countries, loc.Country, loc.Subdivision) }); len(out) > 0 {
				if tr != nil {
					tr.Step("tier country: %s-%s matches %d endpoint(s)", loc.Country, loc.Subdivision, len(out))
				}
				rotate(out, s.next(p, tr))
				return out, scope
			}
		}
		if out := filter(up, func(e *zones.Endpoint) bool { return slices.Contains(e.Countries, loc.Country) }); len(out) > 0 {
			if tr != nil {
				tr.Step("tier country: %s matches %d endpoint(s)", loc.Country, len(out))
			}
			rotate(out, s.next(p, tr))
			return out, scope
		}
	}
	if loc.Continent != "" {
		if out := filter(up, func(e *zones.Endpoint) bool { return slices.Contains(e.Continents, loc.Continent) }); len(out) > 0 {
			if tr != nil {
				tr.Step("tier continent: %s matches %d endpoint(s)", loc.Continent, len(out))
			}
			rotate(out, s.next(p, tr))
			return out, scope
		}
	}
	if loc.HasLatLon && anyLoc(up) {
		if tr != nil {
			tr.Step("no tier matched a healthy endpoint: nearest by distance")
		}
		return s.sortByDistance(p, up, loc.Lat, loc.Lon, tr), scope
	}
	if tr != nil {
		tr.Step("no tier matched and no distance known: all healthy endpoints, rotated")
	}
	rotate(up, s.next(p, tr))
	return up, scope
}

// hasSubdivision reports whether list holds "COUNTRY-SUB" (without
// building that string on the query path).
func hasSubdivision(list []string, country, sub string) bool {
	for _, c := range list {
		if len(c) == len(country)+1+len(sub) && c[len(country)] == '-' &&
			c[:len(country)] == country && c[len(country)+1:] == sub {
			return true
		}
	}
	return false
}

// filter moves the endpoints that match to the front of es, in order, and
// returns them. es keeps every element (the rest follow).
func filter(es []*zones.Endpoint, match func(*zones.Endpoint) bool) []*zones.Endpoint {
	k := 0
	for i, e := range es {
		if match(e) {
			es[k], es[i] = es[i], es[k]
			k++
		}
	}
	return es[:k]
}

func matchNet(e *zones.Endpoint, a netip.Addr, bits int) bool {
	for _, n := range e.Networks {
		if n.Bits() == bits && n.Contains(a) {
			return true
		}
	}
	return false
}

// networkScope is the shortest prefix around a that contains no pool
// network that a itself is outside of: an answer's scope must not cover
// clients that a `networks` entry would send elsewhere.
func networkScope(p *zones.Pool, a netip.Addr) int {
	scope := 0
	for _, e := range p.Endpoints {
		for _, n := range e.Networks {
			if n.Addr().Is4() != a.Is4() || n.Contains(a) {
				continue
			}
			c := commonBits(a, n.Addr())
			if c < n.Bits() {
				scope = max(scope, c+1)
			}
		}
	}
	return scope
}

func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	off := 0
	if a.Is4() {
		off = 96
	}
	n := 0
	for i := 0; i < 16; i++ {
		d := x[i] ^ y[i]
		if d == 0 {
			n += 8
			continue
		}
		for d&0x80 == 0 {
			n++
			d <<= 1
		}
		break
	}
	return n - off
}

func anyLoc(es []*zones.Endpoint) bool {
	for _, e := range es {
		if e.HasLoc {
			return true
		}
	}
	return false
}

// sortByDistance orders es by distance from (lat, lon); endpoints without
// coordinates go last, in file order. Endpoints equally far (two in one
// datacenter) rotate among themselves from one query to the next, as a
// roundrobin pool does: in file order, the first of them would take all
// the traffic of `answers = 1`.
func (s *Selector) sortByDistance(p *zones.Pool, es []*zones.Endpoint, lat, lon float64, tr Tracer) []*zones.Endpoint {
	slices.SortStableFunc(es, func(a, b *zones.Endpoint) int {
		if a.HasLoc != b.HasLoc {
			if a.HasLoc {
				return -1
			}
			return 1
		}
		return cmp.Compare(geo.Distance(lat, lon, a.Lat, a.Lon), geo.Distance(lat, lon, b.Lat, b.Lon))
	})
	var step uint64
	stepped := false
	for i := 0; i < len(es) && es[i].HasLoc; { // the located ones come first
		d := geo.Distance(lat, lon, es[i].Lat, es[i].Lon)
		j := i + 1
		for j < len(es) && es[j].HasLoc && geo.Distance(lat, lon, es[j].Lat, es[j].Lon) == d {
			j++
		}
		if j-i > 1 {
			if !stepped { // one step per query, taken only when there is a tie
				step, stepped = s.next(p, tr), true
			}
			rotate(es[i:j], step)
			if tr != nil {
				tr.Step("  %d endpoints equally far: rotated", j-i)
			}
		}
		i = j
	}
	if tr != nil {
		for _, e := range es {
			if e.HasLoc {
				tr.Step("  %s at %.0f km", e.Addr, geo.Distance(lat, lon, e.Lat, e.Lon))
			}
		}
	}
	return es
}

func (s *Selector) nearest(p *zones.Pool, up []*zones.Endpoint, c *Client, tr Tracer) ([]*zones.Endpoint, int) {
	loc := c.Location()
	scope := c.SourceLen
	if loc.Prefix.IsValid() {
		scope = loc.Prefix.Bits()
	}
	if !c.Addr.IsValid() {
		scope = 0
	}
	if !loc.HasLatLon {
		if tr != nil {
			tr.Step("client %s: location unknown: all healthy endpoints, rotated", c.Addr)
		}
		rotate(up, s.next(p, tr))
		return up, scope
	}
	if tr != nil {
		tr.Step("client %s at %.2f,%.2f (database network %s): nearest first", c.Addr, loc.Lat, loc.Lon, loc.Prefix)
	}
	return s.sortByDistance(p, up, loc.Lat, loc.Lon, tr), scope
}
