package dns

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/zones"
)

// testPools loads testdata/pools.test.toml.
func testPools(t testing.TB) *zones.Zone {
	t.Helper()
	zs, err := zones.LoadPaths("testdata/pools.test.toml")
	if err != nil || len(zs) != 1 {
		t.Fatalf("load pools.test: %v", err)
	}
	return zs[0]
}

func pool(t testing.TB, z *zones.Zone, name string) *zones.Pool {
	t.Helper()
	n := z.Nodes[name+"."+z.Origin]
	if n == nil || n.Pool == nil {
		t.Fatalf("no pool %s", name)
	}
	return n.Pool
}

// down builds a HealthView with these endpoints of p failing.
func down(p *zones.Pool, addrs ...string) DownSet {
	d := DownSet{}
	for _, k := range CheckKeys(p, addrs...) {
		if k == "" {
			panic("pool " + p.Name + " has no check")
		}
		d[k] = true
	}
	return d
}

func addrs(s Selection) []string {
	var out []string
	for _, e := range s.Endpoints {
		out = append(out, e.Addr.String())
	}
	return out
}

func client(a string, loc Locator) *Client {
	if a == "" {
		return &Client{locator: loc}
	}
	p := netip.MustParsePrefix(a)
	return &Client{Addr: p.Addr(), SourceLen: p.Bits(), ECS: true, locator: loc}
}

// tracer records explain steps.
type tracer []string

func (t *tracer) Step(format string, args ...any) { *t = append(*t, fmt.Sprintf(format, args...)) }

func TestSelectRoundRobin(t *testing.T) {
	z := testPools(t)
	s := NewSelector(func(int) int { panic("roundrobin must not draw") })
	p := pool(t, z, "rr")
	want := [][]string{
		{"192.0.2.1", "192.0.2.2", "192.0.2.3"},
		{"192.0.2.2", "192.0.2.3", "192.0.2.1"},
		{"192.0.2.3", "192.0.2.1", "192.0.2.2"},
		{"192.0.2.1", "192.0.2.2", "192.0.2.3"},
	}
	for i, w := range want {
		got := s.Select(p, dns.TypeA, nil, client("", nil), nil, nil)
		if !slices.Equal(addrs(got), w) || got.Scope != 0 || got.AllDown {
			t.Errorf("answer %d: got %v (scope %d), want %v", i, addrs(got), got.Scope, w)
		}
	}
	// The snapshot is never reordered.
	if got := p.V4[0].Addr.String(); got != "192.0.2.1" {
		t.Errorf("pool order changed: V4[0] = %s", got)
	}
	// Explaining (a tracer) shows the answer the next query gets, and
	// does not move the rotation.
	var tr tracer
	for range 3 {
		if got := addrs(s.Select(p, dns.TypeA, nil, client("", nil), nil, &tr)); !slices.Equal(got, want[1]) {
			t.Errorf("explained: got %v, want the next answer %v", got, want[1])
		}
	}
	if got := addrs(s.Select(p, dns.TypeA, nil, client("", nil), nil, nil)); !slices.Equal(got, want[1]) {
		t.Errorf("the query after three explains: got %v, want %v", got, want[1])
	}
}

// TestSelectWeighted: 10,000 seeded draws land about 3:1.
func TestSelectWeighted(t *testing.T) {
	z := testPools(t)
	r := rand.New(rand.NewPCG(1, 2))
	s := NewSelector(r.IntN)
	tests := []struct {
		pool  string
		hv    HealthView
		n     int     // endpoints per answer
		first string  // the heavy endpoint
		share float64 // its share of first places
	}{
		{"weighted", nil, 1, "192.0.2.21", 0.75},
		{"weighted0", nil, 2, "192.0.2.23", 0.75}, // weight 0 never drawn: 2 answers, not 3
	}
	for _, tt := range tests {
		p := pool(t, z, tt.pool)
		const n = 10000
		first := map[string]int{}
		buf := make([]*zones.Endpoint, 0, 8)
		for range n {
			got := addrs(s.Select(p, dns.TypeA, tt.hv, client("", nil), buf, nil))
			if len(got) != tt.n {
				t.Fatalf("%s: got %v, want %d endpoints", tt.pool, got, tt.n)
			}
			if len(got) == 2 && got[0] == got[1] {
				t.Fatalf("%s: got %v, want distinct endpoints", tt.pool, got)
			}
			first[got[0]]++
		}
		share := float64(first[tt.first]) / n
		if share < tt.share-0.02 || share > tt.share+0.02 {
			t.Errorf("%s: %s first in %.3f of answers, want %.2f±0.02 (%v)", tt.pool, tt.first, share, tt.share, first)
		}
	}
}

func TestSelectHealth(t *testing.T) {
	z := testPools(t)
	tests := []struct {
		pool    string
		down    []string
		qtype   uint16
		want    []string // as a set
		allDown bool
	}{
		{"state", nil, dns.TypeA, []string{"192.0.2.51", "192.0.2.54"}, false},
		{"state", []string{"192.0.2.54"}, dns.TypeA, []string{"192.0.2.51"}, false},
		{"state", []string{"192.0.2.51"}, dns.TypeA, []string{"192.0.2.51", "192.0.2.54"}, false},
		{"state", []string{"192.0.2.51", "192.0.2.52", "192.0.2.53", "192.0.2.54"}, dns.TypeA, []string{"192.0.2.51"}, false},
		{"alldown", []string{"192.0.2.61", "192.0.2.62"}, dns.TypeA, []string{"192.0.2.61", "192.0.2.62"}, true},
		{"opdown", nil, dns.TypeA, nil, true},
		{"failclosed", []string{"192.0.2.71", "192.0.2.72"}, dns.TypeA, nil, true},
		{"failclosed", []string{"192.0.2.72"}, dns.TypeA, []string{"192.0.2.71"}, false},
		{"v4only", nil, dns.TypeAAAA, nil, false},
		{"v6only", nil, dns.TypeA, nil, false},
		{"failover", nil, dns.TypeA, []string{"192.0.2.31"}, false},
		{"failover", []string{"192.0.2.31"}, dns.TypeA, []string{"192.0.2.32"}, false},
		{"failover", []string{"192.0.2.31", "192.0.2.32"}, dns.TypeA, []string{"192.0.2.33"}, false},
		{"failover", []string{"192.0.2.31", "192.0.2.32", "192.0.2.33"}, dns.TypeA, []string{"192.0.2.31"}, true},
		{"failover", []string{"192.0.2.31"}, dns.TypeAAAA, []string{"2001:db8::31"}, false},
		{"weighted0", []string{"192.0.2.23", "192.0.2.24"}, dns.TypeA, []string{"192.0.2.25"}, false},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s %s down=%v", tt.pool, dns.TypeToString[tt.qtype], tt.down)
		t.Run(name, func(t *testing.T) {
			p := pool(t, z, tt.pool)
			s := NewSelector(rand.New(rand.NewPCG(1, 2)).IntN)
			var tr tracer
			got := s.Select(p, tt.qtype, down(p, tt.down...), client("", nil), nil, &tr)
			g := addrs(got)
			slices.Sort(g)
			if !slices.Equal(g, tt.want) || got.AllDown != tt.allDown {
				t.Errorf("got %v allDown=%v, want %v allDown=%v\ntrace: %s", g, got.AllDown, tt.want, tt.allDown, strings.Join(tr, "; "))
			}
			if len(tr) == 0 {
				t.Errorf("no trace steps")
			}
		})
	}
}

// TestSelectSticky: one /24 keeps one endpoint, /24s spread by weight,
// and removing an endpoint moves only the clients it had.
func TestSelectSticky(t *testing.T) {
	z := testPools(t)
	p := pool(t, z, "sticky")
	s := NewSelector(func(int) int { panic("sticky must not draw") })
	r := rand.New(rand.NewPCG(1, 2))
	const n = 10000
	subnets := make([]netip.Addr, n)
	for i := range subnets {
		subnets[i] = netip.AddrFrom4([4]byte{byte(r.IntN(223) + 1), byte(r.IntN(256)), byte(r.IntN(256)), 0})
	}
	pick := func(a netip.Addr, hv HealthView) (string, int) {
		sel := s.Select(p, dns.TypeA, hv, &Client{Addr: a, SourceLen: 32}, nil, nil)
		if len(sel.Endpoints) != 1 {
			t.Fatalf("sticky answered %v, want 1 endpoint", addrs(sel))
		}
		return sel.Endpoints[0].Addr.String(), sel.Scope
	}
	before := make([]string, n)
	count := map[string]int{}
	for i, sn := range subnets {
		ep, scope := pick(sn, nil)
		before[i] = ep
		count[ep]++
		if scope != 24 {
			t.Fatalf("scope %d, want 24", scope)
		}
		// Every host of the /24 gets the same endpoint.
		if i < 200 {
			for _, host := range []byte{1, 77, 255} {
				b := sn.As4()
				b[3] = host
				if got, _ := pick(netip.AddrFrom4(b), nil); got != ep {
					t.Fatalf("%v got %s, but %v got %s", netip.AddrFrom4(b), got, sn, ep)
				}
			}
		}
	}
	for _, e := range p.V4 {
		if c := count[e.Addr.String()]; c < n/4-300 || c > n/4+300 {
			t.Errorf("%s has %d of %d subnets, want about %d", e.Addr, c, n, n/4)
		}
	}
	// Remove 192.0.2.44: only its clients move, and they spread.
	hv := down(p, "192.0.2.44")
	moved, movedTo := 0, map[string]int{}
	for i, sn := range subnets {
		ep, _ := pick(sn, hv)
		if ep == before[i] {
			continue
		}
		if before[i] != "192.0.2.44" {
			t.Fatalf("%v moved from %s to %s, though only 192.0.2.44 went", sn, before[i], ep)
		}
		moved++
		movedTo[ep]++
	}
	if moved != count["192.0.2.44"] || len(movedTo) != 3 {
		t.Errorf("%d clients moved (to %v), want the %d of 192.0.2.44, spread over the other 3", moved, movedTo, count["192.0.2.44"])
	}

	// IPv6 clients hash by /56.
	a := netip.MustParseAddr("2001:db8:1:100::1")
	ep, scope := pick(a, nil)
	for _, o := range []string{"2001:db8:1:1ff::", "2001:db8:1:100:ffff::1"} {
		if got, _ := pick(netip.MustParseAddr(o), nil); got != ep {
			t.Errorf("%s got %s, but %s (same /56) got %s", o, got, a, ep)
		}
	}
	if scope != 56 {
		t.Errorf("IPv6 scope %d, want 56", scope)
	}

	// By weight: 3:1.
	pw := pool(t, z, "stickyw")
	heavy := 0
	for _, sn := range subnets {
		if sel := s.Select(pw, dns.TypeA, nil, &Client{Addr: sn, SourceLen: 24}, nil, nil); sel.Endpoints[0].Addr.String() == "192.0.2.45" {
			heavy++
		}
	}
	if share := float64(heavy) / n; share < 0.73 || share > 0.77 {
		t.Errorf("weight 3 endpoint has %.3f of subnets, want 0.75±0.02", share)
	}
}

func TestSelectGeo(t *testing.T) {
	z := testPools(t)
	geoAll := []string{"192.0.2.101", "192.0.2.102", "192.0.2.103", "192.0.2.104", "192.0.2.105", "192.0.2.106"}
	tests := []struct {
		name    string
		pool    string
		qtype   uint16
		client  string
		down    []string
		want    []string
		ordered bool
		scope   int
	}{
		{"networks, longest prefix", "geo", dns.TypeA, "203.0.113.200/32", nil, []string{"192.0.2.106"}, true, 25},
		{"networks /24 beside a /25", "geo", dns.TypeA, "203.0.113.1/32", nil, []string{"192.0.2.105"}, true, 25},
		{"networks, longest down", "geo", dns.TypeA, "203.0.113.200/32", []string{"192.0.2.106"}, []string{"192.0.2.105"}, true, 24},
		{"subdivision", "geo", dns.TypeA, "198.51.100.9/32", nil, []string{"192.0.2.102"}, true, 24},
		{"country", "geo", dns.TypeA, "216.160.83.9/32", nil, []string{"192.0.2.103"}, true, 24},
		{"country GB", "geo", dns.TypeA, "81.2.69.142/32", nil, []string{"192.0.2.101"}, true, 24},
		{"continent", "geo", dns.TypeA, "175.16.199.1/32", nil, []string{"192.0.2.104"}, true, 24},
		{"fallback nearest", "geo", dns.TypeA, "89.160.20.1/32", nil,
			[]string{"192.0.2.101", "192.0.2.103", "192.0.2.104", "192.0.2.102", "192.0.2.105", "192.0.2.106"}, true, 24},
		{"matched tier down: nearest healthy", "geo", dns.TypeA, "81.2.69.142/32", []string{"192.0.2.101"},
			[]string{"192.0.2.103", "192.0.2.102", "192.0.2.104", "192.0.2.105", "192.0.2.106"}, true, 24},
		{"wider DB network than an entry", "geo", dns.TypeA, "203.0.5.1/32", nil,
			[]string{"192.0.2.104", "192.0.2.102", "192.0.2.103", "192.0.2.101", "192.0.2.105", "192.0.2.106"}, true, 18},
		{"unknown client", "geo", dns.TypeA, "192.0.2.1/32", nil, geoAll, false, 32},
		{"no client (ECS /0)", "geo", dns.TypeA, "", nil, geoAll, false, 0},
		{"IPv6 continent", "geo", dns.TypeAAAA, "2001:db8:1::1/128", nil, []string{"2001:db8::104"}, true, 48},
		{"IPv6 networks", "geo", dns.TypeAAAA, "2001:db8:ff::1/128", nil, []string{"2001:db8::105"}, true, 48},
		{"nearest London", "near", dns.TypeA, "81.2.69.1/32", nil, []string{"192.0.2.121", "192.0.2.122", "192.0.2.123"}, true, 24},
		{"nearest California", "near", dns.TypeA, "198.51.100.1/32", nil, []string{"192.0.2.122", "192.0.2.123", "192.0.2.121"}, true, 24},
		{"nearest China", "near", dns.TypeA, "175.16.199.1/32", nil, []string{"192.0.2.123", "192.0.2.121", "192.0.2.122"}, true, 24},
		{"nearest unknown", "near", dns.TypeA, "192.0.2.1/32", nil, []string{"192.0.2.121", "192.0.2.122", "192.0.2.123"}, false, 32},
		{"nearest, no coordinates", "near", dns.TypeA, "100.64.0.1/32", nil, []string{"192.0.2.121", "192.0.2.122", "192.0.2.123"}, false, 20},
		{"nearest, no client", "near", dns.TypeA, "", nil, []string{"192.0.2.121", "192.0.2.122", "192.0.2.123"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool(t, z, tt.pool)
			s := NewSelector(func(int) int { panic("geo must not draw") })
			var tr tracer
			got := s.Select(p, tt.qtype, down(p, tt.down...), client(tt.client, TestLocator), nil, &tr)
			g := addrs(got)
			if !tt.ordered {
				slices.Sort(g)
			}
			if !slices.Equal(g, tt.want) || got.Scope != tt.scope {
				t.Errorf("client %s: got %v scope %d, want %v scope %d\ntrace: %s", tt.client, g, got.Scope, tt.want, tt.scope, strings.Join(tr, "; "))
			}
		})
	}
}

// BenchmarkSelectGeo is one geo selection for a located client that
// falls through to the nearest tier (the longest path).
func BenchmarkSelectGeo(b *testing.B) {
	z := testPools(b)
	p := pool(b, z, "geo")
	s := NewSelector(rand.IntN)
	buf := make([]*zones.Endpoint, 0, 16)
	a := netip.MustParseAddr("89.160.20.1")
	loc := TestLocator.Locate(a)
	var hv HealthView = DownSet{} // made once, as the server's view is
	b.ReportAllocs()
	for b.Loop() {
		c := Client{Addr: a, SourceLen: 24, loc: loc, located: true}
		sel := s.Select(p, dns.TypeA, hv, &c, buf, nil)
		if len(sel.Endpoints) != 6 {
			b.Fatal(addrs(sel))
		}
	}
}

// TestNearestTiesRotate: endpoints equally far from the client (two in
// one datacenter) take turns first, so `answers = 1` does not send every
// such client to the first one in the file; farther ones stay behind.
func TestNearestTiesRotate(t *testing.T) {
	z, err := zones.Parse("ties.test.toml", []byte(`ns = ["ns1.example.test."]
[pools.near]
policy = "nearest"
answers = 1
[[pools.near.endpoints]]
address = "192.0.2.131"
lat = 51.51
lon = -0.13
[[pools.near.endpoints]]
address = "192.0.2.132"
lat = 51.51
lon = -0.13
[[pools.near.endpoints]]
address = "192.0.2.133"
lat = 35.68
lon = 139.69
`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := pool(t, z, "near")
	s := NewSelector(func(int) int { panic("nearest must not draw") })
	first := map[string]int{}
	for range 10 {
		got := addrs(s.Select(p, dns.TypeA, nil, client("81.2.69.1/32", TestLocator), nil, nil))
		if len(got) != 1 {
			t.Fatalf("answers = 1: got %v", got)
		}
		first[got[0]]++
	}
	if first["192.0.2.131"] != 5 || first["192.0.2.132"] != 5 {
		t.Fatalf("London client, two London endpoints: first picks %v, want 5 each and never Tokyo", first)
	}
}

// A pool whose endpoints are always up skips the health pass: it must
// answer as the pass would, rotation and answers cap included.
func TestSelectAlwaysUpMatchesHealthPass(t *testing.T) {
	z := testPools(t)
	for _, name := range []string{"rr", "rr2"} {
		p := pool(t, z, name)
		if !p.AlwaysUp[0] {
			t.Fatalf("%s: want a pool that is always up", name)
		}
		pass := *p
		pass.AlwaysUp = [2]bool{}
		a, b := NewSelector(nil), NewSelector(nil)
		for i := range 2*len(p.V4) + 1 {
			got := addrs(a.Select(p, dns.TypeA, nil, client("", nil), nil, nil))
			want := addrs(b.Select(&pass, dns.TypeA, nil, client("", nil), nil, nil))
			if !slices.Equal(got, want) || len(got) == 0 {
				t.Errorf("%s, answer %d: %v, the health pass gives %v", name, i, got, want)
			}
		}
	}
}
