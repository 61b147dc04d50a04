package dns_test

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/cookie"
	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/rrl"
	"github.com/gslb/gslb/zones"
)

// twin is two handlers on the same zones, health and locator, with the
// same random sequence and rotation: one answering on the fast path where
// it can, the other always on the general path.
type twin struct {
	fast, gen       *dnssrv.Handler
	fastObs, genObs *recorder
	scratch         *dnssrv.ReaderScratch // the fast handler answers as a UDP reader, name cache included
}

// recorder keeps the last observation, with the endpoints it yields in
// place of Picked (which only the fast path sets): the two paths must
// report the same endpoints, however they find them.
type recorder struct {
	last dnssrv.Observation
	eps  []*zones.Endpoint
}

func (r *recorder) Observe(ob *dnssrv.Observation) {
	o := *ob                               // valid only during Observe: keep a copy
	o.Answer = slices.Collect(o.Records()) // the fast path leaves it nil for pools
	o.Name = strings.Clone(o.Name)         // may alias the handler's scratch
	r.eps = slices.Collect(o.Endpoints())
	o.Picked = nil
	r.last = o
}

// The twins' clock and cookie secret: server cookies carry the time, so
// both handlers must read the same one.
var (
	twinNow     = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	twinCookies = cookie.Config{Secret: [16]byte{1, 2, 3}}
)

// validCookie returns COOKIE option data (hex) with a server cookie the
// twins accept from src.
func validCookie(t testing.TB, client string, src netip.Addr) string {
	t.Helper()
	cc, err := hex.DecodeString(client)
	if err != nil {
		t.Fatal(err)
	}
	st, reply := cookie.New(twinCookies, func() time.Time { return twinNow }).Check(cc, src, nil)
	if reply == nil {
		t.Fatalf("client cookie %s: %v", client, st)
	}
	return hex.EncodeToString(reply)
}

func newTwin(t testing.TB, snap *zones.Snapshot, useECS bool, rc rrl.Config) *twin {
	t.Helper()
	var store zones.Store
	store.Replace(snap)
	down := dnssrv.DownSet{}
	if p := dnssrv.PoolOf(snap, "failover.pools.test."); p != nil {
		for _, k := range dnssrv.CheckKeys(p, "192.0.2.31") {
			down[k] = true
		}
	}
	// A locator with a Version: the fast handler's reader keeps its
	// answers (the general path never does).
	loc := &dnssrv.VersionLocator{Locator: dnssrv.TestLocator}
	loc.Ver.Store(1)
	tw := &twin{fastObs: &recorder{}, genObs: &recorder{}, scratch: dnssrv.NewReaderScratch(loc)}
	mk := func(obs *recorder) *dnssrv.Handler {
		rnd := rand.New(rand.NewPCG(1, 2))
		return dnssrv.NewHandler(dnssrv.Config{
			Now:      func() time.Time { return twinNow },
			Zones:    &store,
			Health:   func() dnssrv.HealthView { return down },
			Locator:  loc,
			Rand:     rnd.IntN,
			UseECS:   useECS,
			RRL:      &rc,
			Cookies:  &twinCookies,
			Observer: obs,
		})
	}
	tw.fast, tw.gen = mk(tw.fastObs), mk(tw.genObs)
	dnssrv.GeneralPathOnly(tw.gen)
	return tw
}

// compare sends raw to both handlers and fails unless the replies and
// the observations are the same; it reports whether the fast path
// answered.
func (tw *twin) compare(t testing.TB, label string, raw []byte, src netip.AddrPort) bool {
	t.Helper()
	before := tw.fast.Stats.Fast.Load()
	fo := tw.fast.RespondUDP(raw, src, make([]byte, 0, 1232), tw.scratch)
	go_ := tw.gen.Respond(raw, src, false, make([]byte, 0, 1232))
	took := tw.fast.Stats.Fast.Load() > before
	if (fo == nil) != (go_ == nil) {
		t.Fatalf("%s: fast reply %x, general reply %x", label, fo, go_)
	}
	if fo == nil {
		return took
	}
	fm, gm := new(dns.Msg), new(dns.Msg)
	if err := fm.Unpack(fo); err != nil {
		t.Fatalf("%s: fast reply does not unpack: %v\n%x", label, err, fo)
	}
	if err := gm.Unpack(go_); err != nil {
		t.Fatalf("%s: general reply does not unpack: %v", label, err)
	}
	if f, g := dnstest.Render(fm), dnstest.Render(gm); !f.Equal(g) || fm.Id != gm.Id {
		t.Fatalf("%s (fast path: %v):\nfast:\n%s\ngeneral:\n%s", label, took, f, g)
	}
	// Compressed alike, too: as small as the general path's reply.
	if len(fo) != len(go_) {
		t.Fatalf("%s: fast reply is %d bytes, general %d:\nfast:    %x\ngeneral: %x", label, len(fo), len(go_), fo, go_)
	}
	if f, g := fmt.Sprint(tw.fastObs.last, tw.fastObs.eps), fmt.Sprint(tw.genObs.last, tw.genObs.eps); f != g {
		t.Fatalf("%s: observations differ:\nfast:    %s\ngeneral: %s", label, f, g)
	}
	return took
}

// TestFastMatchesGeneral asks every name of the test zones, and names
// that do not exist, for A, AAAA and other types, with and without EDNS,
// DO, ECS and header flags, from several clients, and checks that the
// fast path sends what the general path sends and tells the Observer the
// same, and that it does answer the common queries.
func TestFastMatchesGeneral(t *testing.T) {
	t.Run("testdata", func(t *testing.T) { fastMatchesGeneral(t, loadSnapshot(t)) })
	// The child of testdata's delegation sub.example.test served too:
	// the parent's glue there is not the child's.
	zs, err := zones.LoadPaths("testdata")
	if err != nil {
		t.Fatal(err)
	}
	child, err := zones.Parse("sub.example.test.toml", []byte(`ns = ["ns1"]
[records.ns1]
A = "192.0.2.54"
[records.www]
A = "192.0.2.60"
`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	snap, errs := zones.NewSnapshot(append(zs, child), time.Now())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	t.Run("child-zone", func(t *testing.T) { fastMatchesGeneral(t, snap) })
}

func fastMatchesGeneral(t *testing.T, snap *zones.Snapshot) {
	var names []string
	for _, z := range snap.Zones() {
		for n := range z.Nodes {
			names = append(names, n)
		}
		names = append(names, "nope."+z.Origin, "a.b.nope."+z.Origin, "x.wild."+z.Origin,
			// Below the SOA's MNAME and RNAME: their compression
			// points into the question (appendNegSOA's exception).
			"x.ns1."+z.Origin, "hostmaster."+z.Origin, "x.y.hostmaster."+z.Origin, "ns2."+z.Origin)
	}
	names = append(names, "outside.invalid.", "RR.pools.test.")
	slices.Sort(names)

	valid := validCookie(t, "0102030405060708", netip.MustParseAddr("192.0.2.7"))
	edns := []query{{}, {edns: 512}, {edns: 1232, do: true}, {edns: 4096},
		{edns: 1232, cookie: "0102030405060708"}, {edns: 1232, cookie: valid},
		{edns: 1232, cookie: "0102030405060708" + strings.Repeat("ab", 16)}, {edns: 1232, cookie: "0102030405"},
		{edns: 1232, ecs: "81.2.69.0/24", cookie: valid},
		{edns: 1232, ecs: "81.2.69.0/24"}, {edns: 1232, ecs: "216.160.83.0/24"},
		{edns: 1232, ecs: "175.16.199.0/20"}, {edns: 1232, ecs: "2001:db8:1::/48"},
		{edns: 1232, ecs: "0.0.0.0/0"}, {edns: 1232, ecs: "10.0.0.0/8"}}
	flags := []query{{}, {rd: true}, {cd: true, ad: true}, {z: true}}
	srcs := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.7:5353"),
		netip.MustParseAddrPort("81.2.69.142:5353"),
		netip.MustParseAddrPort("[2001:db8:2::1]:5353"),
	}
	for _, useECS := range []bool{true, false} {
		t.Run(fmt.Sprintf("ecs=%v", useECS), func(t *testing.T) {
			rc := rrl.DefaultConfig()
			rc.LogOnly = true
			tw := newTwin(t, snap, useECS, rc)
			fast, total := 0, 0
			for _, name := range names {
				for _, qt := range []string{"A", "AAAA", "TXT"} {
					for _, e := range edns {
						for _, f := range flags {
							for _, src := range srcs {
								q := e
								q.q = name + " " + qt
								q.rd, q.cd, q.ad, q.z = f.rd, f.cd, f.ad, f.z
								raw, err := q.msg().Pack()
								if err != nil {
									t.Fatal(err)
								}
								total++
								if tw.compare(t, fmt.Sprintf("%s from %s", q, src), raw, src) {
									fast++
								}
							}
						}
					}
				}
			}
			// Again, names in reverse and types interleaved: each query is
			// now answered from the reader's name cache, out of the order
			// in which it was filled.
			for i := len(names) - 1; i >= 0; i-- {
				for _, qt := range []string{"AAAA", "A"} {
					q := query{q: names[i] + " " + qt, edns: 1232}
					raw, err := q.msg().Pack()
					if err != nil {
						t.Fatal(err)
					}
					total++
					if tw.compare(t, fmt.Sprintf("%s, again", q), raw, srcs[0]) {
						fast++
					}
				}
			}
			t.Logf("%d of %d queries on the fast path", fast, total)
			for _, c := range []struct {
				name      string
				fast, gen uint64
			}{
				{"Queries", tw.fast.Stats.Queries.Load(), tw.gen.Stats.Queries.Load()},
				{"FormErrs", tw.fast.Stats.FormErrs.Load(), tw.gen.Stats.FormErrs.Load()},
				{"CookieValid", tw.fast.Stats.CookieValid.Load(), tw.gen.Stats.CookieValid.Load()},
				{"CookieFresh", tw.fast.Stats.CookieFresh.Load(), tw.gen.Stats.CookieFresh.Load()},
				{"CookieMalformed", tw.fast.Stats.CookieMalformed.Load(), tw.gen.Stats.CookieMalformed.Load()},
			} {
				if c.fast != c.gen {
					t.Errorf("Stats.%s: %d with the fast path, %d without", c.name, c.fast, c.gen)
				}
			}
			if fast < total/4 {
				t.Errorf("only %d of %d queries took the fast path", fast, total)
			}
		})
	}
}

// TestFastPathTaken pins down which queries the fast path answers.
func TestFastPathTaken(t *testing.T) {
	snap := loadSnapshot(t)
	tw := newTwin(t, snap, true, rrl.Config{})
	src := netip.MustParseAddrPort("192.0.2.7:5353")
	tests := []struct {
		q    query
		fast bool
	}{
		{query{q: "rr.pools.test. A"}, true},
		{query{q: "rr.pools.test. AAAA"}, true},
		{query{q: "rr.pools.test. A", edns: 1232, do: true, ecs: "81.2.69.0/24"}, true},
		{query{q: "geo1.pools.test. A", edns: 1232, ecs: "81.2.69.0/24"}, true},
		{query{q: "static.example.test. A"}, true},
		{query{q: "nope.example.test. A"}, true},
		{query{q: "rr.pools.test. TXT"}, false},        // other types
		{query{q: "RR.pools.test. A"}, false},          // mixed case
		{query{q: "rr.pools.test. A", z: true}, false}, // Z flag
		{query{q: "rr.pools.test. CH A"}, false},       // class
		{query{q: "rr.pools.test. A", edns: 1232, cookie: "0102030405060708"}, true},
		{query{q: "rr.pools.test. A", edns: 1232, cookie: validCookie(t, "0102030405060708", src.Addr())}, true},
		{query{q: "rr.pools.test. A", edns: 1232, cookie: "0102030405"}, false}, // malformed: FORMERR
	}
	for _, tt := range tests {
		raw, err := tt.q.msg().Pack()
		if err != nil {
			t.Fatal(err)
		}
		if got := tw.compare(t, tt.q.String(), raw, src); got != tt.fast {
			t.Errorf("%s: fast path %v, want %v", tt.q, got, tt.fast)
		}
	}
}

// TestFastPathRRL checks that the fast path's replies are rate limited
// like the general path's: the same sequence of answers, slips and drops.
func TestFastPathRRL(t *testing.T) {
	snap := loadSnapshot(t)
	rc := rrl.DefaultConfig()
	rc.ResponsesPerSecond, rc.Window, rc.Slip = 5, time.Second, 2
	rc.Exempt = nil
	tw := newTwin(t, snap, true, rc)
	src := netip.MustParseAddrPort("192.0.2.7:5353")
	for i, q := range []query{{q: "rr.pools.test. A"}, {q: "nope.example.test. A", edns: 1232}} {
		raw, _ := q.msg().Pack()
		for j := range 40 {
			if !tw.compare(t, fmt.Sprintf("%s #%d.%d", q, i, j), raw, src) {
				t.Fatalf("%s: not on the fast path", q)
			}
		}
	}
	fs, gs := tw.fast.Stats.RRLSlipped.Load(), tw.gen.Stats.RRLSlipped.Load()
	fd, gd := tw.fast.Stats.RRLDropped.Load(), tw.gen.Stats.RRLDropped.Load()
	if fs != gs || fd != gd || fs == 0 || fd == 0 {
		t.Errorf("slipped %d/%d, dropped %d/%d (fast/general): want equal and not 0", fs, gs, fd, gd)
	}
}

// TestFastPathRRLExemptSources: sources taking turns, exempt from rate
// limiting or not (a v4-mapped exempt address among them), are limited
// and accounted on the fast path as on the general path.
func TestFastPathRRLExemptSources(t *testing.T) {
	snap := loadSnapshot(t)
	rc := rrl.DefaultConfig()
	rc.ResponsesPerSecond, rc.Window, rc.Slip = 5, time.Second, 2
	rc.Exempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tw := newTwin(t, snap, true, rc)
	srcs := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:5353"),
		netip.MustParseAddrPort("192.0.2.7:5353"),
		netip.MustParseAddrPort("127.0.0.1:5353"),
		netip.MustParseAddrPort("[::ffff:127.0.0.2]:5353"),
		netip.MustParseAddrPort("192.0.2.7:5353"),
		netip.MustParseAddrPort("192.0.2.7:5353"),
	}
	raw, _ := query{q: "rr.pools.test. A"}.msg().Pack()
	for i := range 40 {
		for j, src := range srcs {
			if !tw.compare(t, fmt.Sprintf("#%d.%d from %s", i, j, src), raw, src) {
				t.Fatal("not on the fast path")
			}
		}
	}
	fs, fd := tw.fast.Stats.RRLSlipped.Load(), tw.fast.Stats.RRLDropped.Load()
	if fs+fd == 0 {
		t.Error("192.0.2.7 was never limited: the test proves nothing")
	}
	if f, g := tw.fast.RRLStats(), tw.gen.RRLStats(); f != g || f.Exempt != 40*3 {
		t.Errorf("rate limiting's counts: fast path %+v, general path %+v; want equal, %d exempt", f, g, 40*3)
	}
}

// FuzzFastPath feeds bytes to a fast and a general handler and requires
// the same reply (or none) from both. Seeds: common queries and their
// variations.
func FuzzFastPath(f *testing.F) {
	for _, q := range []query{
		{q: "rr.pools.test. A"}, {q: "geo1.pools.test. A", edns: 1232, ecs: "81.2.69.0/24"},
		{q: "nope.example.test. AAAA", edns: 512, do: true}, {q: "static.example.test. A", rd: true},
		{q: "sticky.pools.test. AAAA", edns: 1232, ecs: "2001:db8:1::/48"},
	} {
		raw, err := q.msg().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	snap := loadSnapshot(f)
	src := netip.MustParseAddrPort("192.0.2.7:5353")
	f.Fuzz(func(t *testing.T, raw []byte) {
		tw := newTwin(t, snap, true, rrl.Config{})
		label := strings.TrimSpace(fmt.Sprintf("%x", raw))
		tw.compare(t, label, raw, src)
		if n := tw.fast.Stats.Panics.Load(); n > 0 {
			t.Fatalf("%d panics", n)
		}
	})
}

// panicOnce is an Observer that panics the first time it is called.
type panicOnce struct{ done atomic.Bool }

func (p *panicOnce) Observe(*dnssrv.Observation) {
	if !p.done.Swap(true) {
		panic("test observer panic")
	}
}

// A panic on the fast path (here in the Observer) gets SERVFAIL, and the
// UDP reader's scratch it left half-written is reset: the same reader goes
// on answering in full.
func TestFastPathPanicRecovers(t *testing.T) {
	f := newFixture(t, func(c *dnssrv.Config) { c.Observer = &panicOnce{} })
	static := query{q: "static.example.test. A"}
	f.run(t, static, dnstest.Msg{Rcode: "SERVFAIL", Flags: "qr", Question: []string{}}, true)
	if n := f.h.Stats.Panics.Load(); n != 1 {
		t.Fatalf("Stats.Panics = %d, want 1", n)
	}
	fast := f.h.Stats.Fast.Load()
	f.run(t, static, dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: staticA}, false)
	f.run(t, query{q: "nope.example.test. A"}, dnstest.Msg{Rcode: "NXDOMAIN", Flags: "qr aa", Ns: []string{soaNeg}}, true)
	if n := f.h.Stats.Fast.Load() - fast; n != 2 {
		t.Errorf("%d of the 2 queries after the panic took the fast path, want 2", n)
	}
}

// The UDP reader's name cache answers from the snapshot being served: after
// a reload, a name that went away is NXDOMAIN and a new one is answered.
// Many more distinct names than it has slots for are answered alike, and
// cost no allocation.
func TestNameCacheFollowsReload(t *testing.T) {
	snapOf := func(src string) *zones.Snapshot { return snapshotOf(t, "cache.test.toml", src) }
	one := snapOf("ns = [\"ns1\"]\n[records.ns1]\nA = \"192.0.2.53\"\n[records.a]\nA = \"192.0.2.1\"\n")
	two := snapOf("ns = [\"ns1\"]\n[records.ns1]\nA = \"192.0.2.53\"\n[records.b]\nA = \"192.0.2.2\"\n" +
		"[pools.a]\naddresses = [\"192.0.2.10\", \"192.0.2.11\"]\n")
	var store zones.Store
	store.Replace(one)
	h := dnssrv.NewHandler(dnssrv.Config{Zones: &store})
	gen := dnssrv.NewHandler(dnssrv.Config{Zones: &store})
	dnssrv.GeneralPathOnly(gen)
	scratch := dnssrv.NewReaderScratch(nil)
	src := netip.MustParseAddrPort("127.0.0.1:5353") // loopback: exempt from RRL
	buf := make([]byte, 0, 1232)
	ask := func(name, rcode string, answers int) {
		t.Helper()
		raw, err := query{q: name + " A"}.msg().Pack()
		if err != nil {
			t.Fatal(err)
		}
		fast := h.Stats.Fast.Load()
		fm, gm := new(dns.Msg), new(dns.Msg)
		if err := fm.Unpack(h.RespondUDP(raw, src, buf, scratch)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h.Stats.Fast.Load() != fast+1 {
			t.Fatalf("%s: not answered on the fast path", name)
		}
		if err := gm.Unpack(gen.Respond(raw, src, false, buf)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f, g := dnstest.Render(fm), dnstest.Render(gm)
		if !f.Equal(g) || f.Rcode != rcode || len(f.Answer) != answers {
			t.Fatalf("%s: want %s with %d answers as the general path gives:\nfast:\n%s\ngeneral:\n%s", name, rcode, answers, f, g)
		}
	}
	ask("a.cache.test.", "NOERROR", 1)
	ask("b.cache.test.", "NXDOMAIN", 0)
	ask("a.cache.test.", "NOERROR", 1) // from the cache
	store.Replace(two)
	ask("a.cache.test.", "NOERROR", 2) // now a pool
	ask("b.cache.test.", "NOERROR", 1)
	ask("a.cache.test.", "NOERROR", 2)

	var names [][]byte
	for i := range 5000 {
		raw, err := query{q: fmt.Sprintf("n%d.cache.test. A", i)}.msg().Pack()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, raw)
	}
	for range 2 {
		for i := range names {
			if i%997 == 0 {
				ask(fmt.Sprintf("n%d.cache.test.", i), "NXDOMAIN", 0)
			}
			h.RespondUDP(names[i], src, buf, scratch)
		}
		ask("a.cache.test.", "NOERROR", 2)
	}
	i := 0
	if n := testing.AllocsPerRun(3*len(names), func() {
		h.RespondUDP(names[i%len(names)], src, buf, scratch)
		i++
	}); n != 0 {
		t.Errorf("%v allocations per query over %d names, want 0", n, len(names))
	}
}

// A UDP reader keeps the locator's answers while its Version stays, and
// asks again once it changes; the answers equal the general path's.
func TestLocCacheFollowsVersion(t *testing.T) {
	var store zones.Store
	store.Replace(loadSnapshot(t))
	loc := &dnssrv.VersionLocator{Locator: dnssrv.TestLocator}
	loc.Ver.Store(1)
	h := dnssrv.NewHandler(dnssrv.Config{Zones: &store, Locator: loc, UseECS: true})
	gen := dnssrv.NewHandler(dnssrv.Config{Zones: &store, Locator: loc, UseECS: true})
	dnssrv.GeneralPathOnly(gen)
	scratch := dnssrv.NewReaderScratch(loc)
	src := netip.MustParseAddrPort("127.0.0.1:5353")
	buf := make([]byte, 0, 1232)
	ask := func(ecs string, calls int64) {
		t.Helper()
		raw, err := query{q: "geo1.pools.test. A", edns: 1232, ecs: ecs}.msg().Pack()
		if err != nil {
			t.Fatal(err)
		}
		before := loc.Calls.Load()
		f := dnstest.Render(dnstest.Unpack(t, h.RespondUDP(raw, src, buf, scratch)))
		g := dnstest.Render(dnstest.Unpack(t, gen.Respond(raw, src, false, buf)))
		if !f.Equal(g) || len(f.Answer) == 0 {
			t.Fatalf("ECS %s: reader answer differs from the general path's:\nreader:\n%s\ngeneral:\n%s", ecs, f, g)
		}
		if n := loc.Calls.Load() - before - 1; n != calls { // the general path asks once
			t.Errorf("ECS %s: the reader asked the locator %d times, want %d", ecs, n, calls)
		}
	}
	ask("81.2.69.0/24", 1)
	ask("81.2.69.0/24", 0) // kept
	ask("2001:db8:1::/48", 1)
	ask("81.2.69.0/24", 0)
	loc.Ver.Store(2) // the databases were replaced
	ask("81.2.69.0/24", 1)
	ask("2001:db8:1::/48", 1)
	ask("2001:db8:1::/48", 0)
}
