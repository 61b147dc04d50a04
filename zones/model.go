package zones

import (
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Everything reachable from a Snapshot is read-only once built: the server
// reads it from many goroutines without locks. To reorder or filter, copy.

// Snapshot is one consistent, validated set of zones.
type Snapshot struct {
	zones  map[string]*Zone // by lowercase origin
	list   []*Zone          // sorted by origin
	Files  []FileStatus     // every file seen by the load that built this
	Built  time.Time
	maxLen int // most labels in any origin
	// names holds every node under the zone Find picks for its name (a
	// parent zone's glue below a child zone we also serve is left out):
	// the query path's one map lookup for a name that exists.
	names map[string]nodeRef
}

type nodeRef struct {
	z *Zone
	n *Node
}

// FileStatus is the outcome of the last load of one zone file.
type FileStatus struct {
	File   string
	Origin string // "" if the file never loaded
	Err    error  // last load error; nil when the serving version is current
	Zone   *Zone  // the version serving (the last good one when Err != nil)
}

// Zone is one zone's data, ready to answer from.
type Zone struct {
	Origin string // lowercase FQDN
	File   string
	Serial uint32
	// AutoSerial is set when the file leaves serial at 0: the serial then
	// comes from the file's modification time (see Loader).
	AutoSerial bool
	LoadedAt   time.Time
	Hash       [32]byte // sha256 of the file
	ModTime    time.Time

	TTL    uint32   // default TTL of static records
	SOA    *dns.SOA // Hdr.Ttl is the zone TTL
	NegTTL uint32   // min(SOA TTL, SOA minimum): TTL of the SOA in negative answers
	NegSOA *dns.SOA // the SOA as negative answers carry it (TTL = NegTTL)
	NS     []dns.RR // apex NS set

	Nodes  map[string]*Node // every owner name and empty non-terminal, lowercase FQDN
	Pools  []*Pool          // sorted by name
	Checks map[string]*Check
	Labels int // labels in Origin

	originAt pos // where the file sets origin, if it does: for duplicate-zone errors
}

func (z *Zone) setSerial(s uint32) {
	z.Serial, z.SOA.Serial, z.NegSOA.Serial = s, s, s
}

// Node is one owner name in a zone.
type Node struct {
	Name string              // lowercase FQDN
	Sets map[uint16][]dns.RR // static RRsets by type
	Pool *Pool               // A/AAAA answered by this pool, or nil
	Cut  bool                // NS below the apex: a delegation point
	// Referral is set at and below a delegation point: queries there get
	// a referral (but DS at the cut itself).
	Referral bool
}

// Empty reports whether the node is an empty non-terminal.
func (n *Node) Empty() bool { return len(n.Sets) == 0 && n.Pool == nil }

// Policy is how a pool picks its endpoints.
type Policy uint8

const (
	RoundRobin Policy = iota
	Weighted
	Failover
	Geo
	Nearest
	Sticky
)

var policyNames = []string{"roundrobin", "weighted", "failover", "geo", "nearest", "sticky"}

func (p Policy) String() string { return policyNames[p] }

// State is the operator's override of an endpoint's health.
type State uint8

const (
	Auto  State = iota // the check decides
	Up                 // always served
	Down               // never served
	Drain              // never served in new answers (same as down for DNS)
)

var stateNames = []string{"auto", "up", "down", "drain"}

func (s State) String() string { return stateNames[s] }

// Pool is a load-balanced name.
type Pool struct {
	Name        string // lowercase FQDN
	Key         string // the key as written in the file
	Zone        string
	Policy      Policy
	Answers     int    // most records in one answer; 0 means all
	TTL         uint32 // TTL of its A/AAAA answers
	Check       *Check // nil: endpoints are always up
	FailClosed  bool   // when_all_down = "none"
	Endpoints   []*Endpoint
	V4, V6      []*Endpoint // per family, in file order
	TotalWeight [2]uint64   // per family (0: v4, 1: v6)
	// AlwaysUp is set per family (0: v4, 1: v6) when every endpoint of it
	// is served whatever the health says: state "up", or no check and
	// neither "down" nor "drain". The query path then skips the health
	// pass.
	AlwaysUp [2]bool
	// Hash is a hash of Name (FNV-1a), fixed at load, for tables the
	// query path keys by pool without hashing the name per query.
	Hash uint64
}

// Family returns the endpoints that answer qtype (A or AAAA).
func (p *Pool) Family(qtype uint16) []*Endpoint {
	if qtype == dns.TypeAAAA {
		return p.V6
	}
	return p.V4
}

// Endpoint is one address of a pool.
//
// The fields every answer reads come first, so that they share a cache
// line: a query touches each endpoint of its pool.
type Endpoint struct {
	Addr   netip.Addr
	State  State
	Weight uint32
	Index  int // position in Pool.Endpoints
	// Wire is the answer record as a reply to a question for the pool's
	// name carries it, for writing replies without encoding: owner a
	// pointer to the question name at offset 12 (0xC00C), type, class IN,
	// the pool TTL, the address. 16 bytes are used for IPv4, 28 for IPv6.
	Wire       [28]byte
	CheckKey   string // identity of its health target; "" without a check
	Priority   int
	RR         dns.RR   // the prebuilt A/AAAA answer record (owner = pool name, TTL = pool TTL)
	Countries  []string // upper case: "GB" or "US-CA"
	Continents []string
	Networks   []netip.Prefix
	Lat, Lon   float64
	HasLoc     bool
}

// Check is a [checks.NAME] table, defaults applied.
type Check struct {
	Name      string
	Type      string // http | https | tcp | dns
	Port      uint16
	Path      string
	Host      string
	Expect    []string
	Body      string
	Headers   map[string]string
	Insecure  bool
	Query     string // dns: name to ask
	QueryType string // dns: type to ask
	Interval  time.Duration
	Timeout   time.Duration
	Rise      int
	Fall      int
}

// key identifies the probe target of addr under this check: equal keys can
// share one prober across pools and zones, and survive reloads.
func (c *Check) key(addr netip.Addr) string {
	var b strings.Builder
	b.WriteString(c.Type)
	b.WriteByte('|')
	b.WriteString(netip.AddrPortFrom(addr, c.Port).String())
	for _, s := range []string{c.Path, c.Host, strings.Join(c.Expect, ","), c.Body, c.Query, c.QueryType,
		c.Interval.String(), c.Timeout.String()} {
		b.WriteByte('|')
		b.WriteString(s)
	}
	b.WriteByte('|')
	b.WriteString(strings.Join([]string{itoa(c.Rise), itoa(c.Fall), btoa(c.Insecure)}, ","))
	hk := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		hk = append(hk, k)
	}
	sort.Strings(hk)
	for _, k := range hk {
		b.WriteString("|" + k + ":" + c.Headers[k])
	}
	return b.String()
}

// Find returns the zone with the longest origin that contains qname
// (lowercase FQDN), or nil.
func (s *Snapshot) Find(qname string) *Zone {
	if s == nil || len(s.zones) == 0 {
		return nil
	}
	// Skip labels until at most maxLen remain, then try each suffix.
	n := dns.CountLabel(qname)
	off := 0
	for ; n > s.maxLen; n-- {
		off, _ = dns.NextLabel(qname, off)
	}
	for {
		if z, ok := s.zones[qname[off:]]; ok {
			return z
		}
		var end bool
		off, end = dns.NextLabel(qname, off)
		if end {
			if z, ok := s.zones["."]; ok {
				return z
			}
			return nil
		}
	}
}

// Lookup returns the zone Find returns for qname (lowercase FQDN) and, when
// that zone has a node for qname, the node: one map lookup when it does.
func (s *Snapshot) Lookup(qname string) (*Zone, *Node) {
	if s == nil {
		return nil, nil
	}
	if r, ok := s.names[qname]; ok {
		return r.z, r.n
	}
	return s.Find(qname), nil
}

// Zones returns every zone, sorted by origin.
func (s *Snapshot) Zones() []*Zone {
	if s == nil {
		return nil
	}
	return s.list
}

// Zone returns the zone with exactly this origin, or nil.
func (s *Snapshot) Zone(origin string) *Zone {
	if s == nil {
		return nil
	}
	return s.zones[strings.ToLower(dns.Fqdn(origin))]
}
