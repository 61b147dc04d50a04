package rrl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Class is the kind of response being limited. Each class has its own
// buckets, so a flood of one kind does not limit another. Classifying a
// response is the caller's job; see the package documentation for which
// name to hash with each class.
type Class uint8

const (
	// Answer: NOERROR with records in the answer section.
	Answer Class = iota
	// NoData: NOERROR with an empty answer (the name exists, the type
	// does not).
	NoData
	// NXDomain: the name does not exist.
	NXDomain
	// Referral: NOERROR, no answer, NS records of a delegation in the
	// authority section.
	Referral
	// Error: any other rcode (REFUSED, FORMERR, SERVFAIL, NOTIMP, ...).
	Error
	numClasses
)

// String returns the lowercase name of the class, for logs and metrics.
func (c Class) String() string {
	switch c {
	case Answer:
		return "answer"
	case NoData:
		return "nodata"
	case NXDomain:
		return "nxdomain"
	case Referral:
		return "referral"
	case Error:
		return "error"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Action is what the caller does with the response.
type Action uint8

const (
	// Send: send the response as built.
	Send Action = iota
	// Slip: send instead a truncated response (TC=1, question only, no
	// records), so a real resolver behind the address retries over TCP,
	// which cannot be spoofed.
	Slip
	// Drop: send nothing.
	Drop
)

// String returns the lowercase name of the action.
func (a Action) String() string {
	switch a {
	case Send:
		return "send"
	case Slip:
		return "slip"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Defaults, as in NSD (rate, slip, prefixes) and BIND (window).
const (
	DefaultResponsesPerSecond = 200
	DefaultSlip               = 2
	DefaultWindow             = 15 * time.Second
	DefaultIPv4Prefix         = 24
	DefaultIPv6Prefix         = 56
	DefaultTableSize          = 65536
	maxTableSize              = 1 << 24
)

// Config sets the limits. Start from DefaultConfig and change what the
// configuration file sets: in a zero Config, ResponsesPerSecond 0 means
// "disabled" and Slip 0 means "drop all", while a zero Window, prefix
// length or TableSize means the default, and a nil Exempt means loopback.
type Config struct {
	// ResponsesPerSecond is the rate allowed per key (source prefix,
	// class, name); 0 disables limiting.
	ResponsesPerSecond int
	// Slip: every Slip-th limited response goes out truncated (Slip),
	// the others are dropped; the first limited response of a run
	// slips. 0 drops them all, 1 truncates them all.
	Slip int
	// Window is how long a key's debt is remembered: a key that keeps
	// asking faster than the rate owes at most Window × rate responses,
	// and a key unseen for Window starts again with full credit.
	Window time.Duration
	// IPv4Prefix and IPv6Prefix are the lengths of the source prefixes
	// that share one allowance (1..32 and 1..128).
	IPv4Prefix, IPv6Prefix int
	// Exempt prefixes are never limited nor counted in a bucket. nil
	// means loopback (127.0.0.0/8 and ::1/128); an empty non-nil slice
	// exempts nothing.
	Exempt []netip.Prefix
	// LogOnly does all the accounting but always returns Send; what
	// would have been limited is counted in Stats.WouldLimit.
	LogOnly bool
	// TableSize is the fixed number of buckets (rounded up to a power of
	// two, at most 1<<24). The table never grows.
	TableSize int
}

// DefaultConfig returns the defaults: 200 responses per second per /24 or
// /56, slip 2, a 15 s window, 65536 buckets, loopback exempt.
func DefaultConfig() Config {
	return Config{
		ResponsesPerSecond: DefaultResponsesPerSecond,
		Slip:               DefaultSlip,
		Window:             DefaultWindow,
		IPv4Prefix:         DefaultIPv4Prefix,
		IPv6Prefix:         DefaultIPv6Prefix,
		TableSize:          DefaultTableSize,
	}
}

// Validate reports values that New would have to clamp, in the words a
// configuration file error needs (the caller adds file and key position).
func (c Config) Validate() error {
	var errs []error
	if c.ResponsesPerSecond < 0 || c.ResponsesPerSecond > 1_000_000 {
		errs = append(errs, fmt.Errorf("rate %d out of range (want 0..1000000; 0 disables)", c.ResponsesPerSecond))
	}
	if c.Slip < 0 || c.Slip > 10 {
		errs = append(errs, fmt.Errorf("slip %d out of range (want 0..10)", c.Slip))
	}
	if c.Window != 0 && (c.Window < time.Second || c.Window > time.Hour) {
		errs = append(errs, fmt.Errorf("window %v out of range (want 1s..1h)", c.Window))
	}
	if c.IPv4Prefix < 0 || c.IPv4Prefix > 32 {
		errs = append(errs, fmt.Errorf("ipv4_prefix %d out of range (want 1..32)", c.IPv4Prefix))
	}
	if c.IPv6Prefix < 0 || c.IPv6Prefix > 128 {
		errs = append(errs, fmt.Errorf("ipv6_prefix %d out of range (want 1..128)", c.IPv6Prefix))
	}
	if c.TableSize < 0 || c.TableSize > maxTableSize {
		errs = append(errs, fmt.Errorf("table_size %d out of range (want 1..%d, or 0 for the default)", c.TableSize, maxTableSize))
	}
	for _, p := range c.Exempt {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("exempt prefix %q is not valid (want CIDR, e.g. \"192.0.2.0/24\")", p.String()))
		}
	}
	return errors.Join(errs...)
}

// Stats are cumulative counters since New.
type Stats struct {
	Checked    uint64 // calls to Check
	Exempt     uint64 // from an exempt prefix: sent, not accounted
	Limited    uint64 // Slip or Drop returned (Slipped + Dropped)
	Slipped    uint64 // Slip returned
	Dropped    uint64 // Drop returned
	WouldLimit uint64 // LogOnly: would have been Slip or Drop, Send returned
	Evicted    uint64 // a key took over a bucket another key had used within Window
}

// bucket is one key's account. The credit is kept as a theoretical arrival
// time (tat, GCRA): the key has full credit when tat <= now, each response
// moves tat one interval (1/rate) ahead, and a response is within the rate
// while tat - now <= burst.
type bucket struct {
	key   uint64 // full 64-bit keyed hash of the key; 0 = empty
	tat   int64  // nanoseconds since the Limiter's epoch
	seen  int64  // last Check of this key, nanoseconds since the epoch
	slips uint64 // limited responses since the key last had credit
}

// set is two buckets sharing a lock: a key lives in either, and a new key
// replaces the one used least recently. Two ways instead of one keep a busy
// key (the one under attack) in place when a spray of spoofed sources
// lands on its set.
type set struct {
	mu sync.Mutex
	b  [2]bucket
}

// counters are the Stats, sharded so parallel Checks do not all write one
// cache line.
type counters struct {
	checked, exempt, slipped, dropped, wouldLimit, evicted atomic.Uint64
	_                                                      [16]byte // to 64 bytes, one cache line
}

const numShards = 16

// Limiter decides, per response, whether to send it. It is safe for
// concurrent use and Check does not allocate.
type Limiter struct {
	rate     int64 // responses per second; 0 = disabled
	interval int64 // ns of credit one response costs (1s / rate)
	burst    int64 // tat may run this far ahead and the response still go out
	maxDebt  int64 // tat never runs further ahead than this
	window   int64 // ns
	slip     uint64
	v4mask   uint32
	v6hi     uint64
	v6lo     uint64
	exempt   []netip.Prefix
	logOnly  bool

	seed  maphash.Seed
	now   func() time.Time
	epoch time.Time

	sets  []set
	mask  uint64
	stats [numShards]counters
}

// New returns a Limiter for c; see Config for zero values. Values out of
// range are clamped: call c.Validate first to report them. now gives the
// time (nil means time.Now); only differences between its results are used,
// and with time.Now they come from the monotonic clock.
func New(c Config, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	d := DefaultConfig()
	if c.Window <= 0 {
		c.Window = d.Window
	}
	if c.IPv4Prefix <= 0 {
		c.IPv4Prefix = d.IPv4Prefix
	}
	if c.IPv6Prefix <= 0 {
		c.IPv6Prefix = d.IPv6Prefix
	}
	if c.TableSize <= 0 {
		c.TableSize = d.TableSize
	}
	if c.Exempt == nil {
		c.Exempt = []netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128"),
		}
	}
	rate := int64(min(max(c.ResponsesPerSecond, 0), 1_000_000))
	l := &Limiter{
		rate:    rate,
		window:  int64(min(c.Window, time.Hour)),
		slip:    uint64(min(max(c.Slip, 0), 10)),
		logOnly: c.LogOnly,
		seed:    maphash.MakeSeed(),
		now:     now,
	}
	if rate > 0 {
		l.interval = int64(time.Second) / rate
		l.burst = (rate - 1) * l.interval
		// A response is charged even when limited, down to a debt
		// of window × rate responses: tat at most 1s + window ahead.
		l.maxDebt = rate*l.interval + l.window
	}
	l.v4mask = ^uint32(0) << (32 - min(c.IPv4Prefix, 32))
	p6 := min(c.IPv6Prefix, 128)
	l.v6hi = ^uint64(0) << (64 - min(p6, 64))
	if p6 > 64 {
		l.v6lo = ^uint64(0) << (128 - p6)
	}
	for _, p := range c.Exempt {
		if p.IsValid() {
			l.exempt = append(l.exempt, p.Masked())
		}
	}
	n := 2
	for n < min(c.TableSize, maxTableSize) {
		n <<= 1
	}
	l.sets = make([]set, n/2)
	l.mask = uint64(n/2 - 1)
	l.epoch = now()
	return l
}

// HashName returns a hash of name for Check's nameHash, keyed with this
// Limiter's random seed. Pass the name already lowercased (the server
// lowercases the qname once per query); it does not allocate.
func (l *Limiter) HashName(name string) uint64 { return maphash.String(l.seed, name) }

// Exempt accounts one UDP response to src and reports true, as Check
// would with Send, when src is exempt (or limiting is off); false, having
// counted nothing, when Limit must decide. It lets the caller skip
// classifying and hashing the reply of a source that is never limited.
func (l *Limiter) Exempt(src netip.Addr) bool {
	src = src.Unmap().WithZone("")
	if l.rate != 0 && !l.isExempt(src) {
		return false
	}
	st := &l.stats[addrShard(src)]
	if l.rate != 0 {
		st.exempt.Add(1) // Stats counts it as checked too: one atomic add here
	} else {
		st.checked.Add(1)
	}
	return true
}

// Check accounts one UDP response of class c, keyed by name (see HashName),
// to src, and returns what to do with it. Never call it for TCP.
func (l *Limiter) Check(src netip.Addr, c Class, nameHash uint64) Action {
	if l.Exempt(src) {
		return Send
	}
	return l.Limit(src, c, nameHash)
}

// Limit is Check for a source Exempt has just said false for: it does not
// test the exemption again.
func (l *Limiter) Limit(src netip.Addr, c Class, nameHash uint64) Action {
	src = src.Unmap().WithZone("")

	h := l.keyHash(src, c, nameHash)
	st := &l.stats[h>>60&(numShards-1)]
	st.checked.Add(1)
	now := int64(l.now().Sub(l.epoch))

	s := &l.sets[h&l.mask]
	s.mu.Lock()
	b := &s.b[0]
	switch {
	case b.key == h:
	case s.b[1].key == h:
		b = &s.b[1]
	default:
		// Take an empty way, else the least recently used one.
		if b.key != 0 && (s.b[1].key == 0 || s.b[1].seen < b.seen) {
			b = &s.b[1]
		}
		if b.key != 0 && now-b.seen < l.window {
			st.evicted.Add(1)
		}
		*b = bucket{key: h, tat: now}
	}
	if now-b.seen >= l.window {
		b.tat = now // unseen for a window: debt forgiven
	}
	b.seen = now
	tat := max(b.tat, now)
	if tat == now {
		b.slips = 0 // full credit: a new run of limiting starts afresh
	}
	ok := tat-now <= l.burst
	b.tat = min(tat+l.interval, now+l.maxDebt)
	var a Action = Send
	if !ok {
		a = Drop
		if l.slip != 0 && b.slips%l.slip == 0 {
			a = Slip
		}
		b.slips++
	}
	s.mu.Unlock()

	switch {
	case a == Send:
	case l.logOnly:
		st.wouldLimit.Add(1)
		a = Send
	case a == Slip:
		st.slipped.Add(1)
	default:
		st.dropped.Add(1)
	}
	return a
}

func (l *Limiter) isExempt(a netip.Addr) bool {
	for _, p := range l.exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// keyHash hashes (masked source prefix, address family, class, nameHash)
// with the Limiter's seed, so that which keys share a set cannot be
// predicted from outside. 0 is reserved for an empty bucket.
func (l *Limiter) keyHash(a netip.Addr, c Class, nameHash uint64) uint64 {
	var k [8 + 8 + 8 + 2]byte
	if a.Is4() {
		v4 := a.As4()
		binary.BigEndian.PutUint32(k[12:], binary.BigEndian.Uint32(v4[:])&l.v4mask)
		k[25] = 4
	} else {
		v6 := a.As16()
		binary.BigEndian.PutUint64(k[0:], binary.BigEndian.Uint64(v6[0:])&l.v6hi)
		binary.BigEndian.PutUint64(k[8:], binary.BigEndian.Uint64(v6[8:])&l.v6lo)
		k[25] = 6
	}
	binary.LittleEndian.PutUint64(k[16:], nameHash)
	k[24] = byte(c)
	h := maphash.Bytes(l.seed, k[:])
	if h == 0 {
		h = 1
	}
	return h
}

// addrShard picks a counter shard for a Check that computes no key hash.
func addrShard(a netip.Addr) uint64 {
	v := a.As16()
	return uint64(v[15]) & (numShards - 1)
}

// Stats returns the counters. They are read one by one, not as one
// snapshot, so under load they may disagree by the Checks in flight.
func (l *Limiter) Stats() Stats {
	var s Stats
	for i := range l.stats {
		c := &l.stats[i]
		e := c.exempt.Load()
		s.Checked += c.checked.Load() + e
		s.Exempt += e
		s.Slipped += c.slipped.Load()
		s.Dropped += c.dropped.Load()
		s.WouldLimit += c.wouldLimit.Load()
		s.Evicted += c.evicted.Load()
	}
	s.Limited = s.Slipped + s.Dropped
	return s
}

// Buckets returns the fixed number of buckets in the table.
func (l *Limiter) Buckets() int { return 2 * len(l.sets) }
