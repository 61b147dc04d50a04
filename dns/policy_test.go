package dns_test

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
)

// TestRotation: roundrobin answers every endpoint, rotated one step per
// answer; answers caps how many.
func TestRotation(t *testing.T) {
	tests := []struct {
		pool string
		want [][]string
	}{
		{"rr.pools.test.", [][]string{
			{"192.0.2.1", "192.0.2.2", "192.0.2.3"},
			{"192.0.2.2", "192.0.2.3", "192.0.2.1"},
			{"192.0.2.3", "192.0.2.1", "192.0.2.2"},
			{"192.0.2.1", "192.0.2.2", "192.0.2.3"},
		}},
		{"rr2.pools.test.", [][]string{
			{"192.0.2.11", "192.0.2.12"},
			{"192.0.2.12", "192.0.2.13"},
			{"192.0.2.13", "192.0.2.14"},
			{"192.0.2.14", "192.0.2.11"},
			{"192.0.2.11", "192.0.2.12"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.pool, func(t *testing.T) {
			f := newFixture(t, nil) // a fresh rotation counter
			for i, w := range tt.want {
				q := query{q: tt.pool + " A", tcp: i%2 == 1}
				f.run(t, q, dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: a(tt.pool, 30, w...)}, true)
			}
		})
	}
}

// lockedRand is a seeded source safe for the server's reader goroutines.
func lockedRand(seed1, seed2 uint64) func(int) int {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed1, seed2))
	return func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		return r.IntN(n)
	}
}

// TestWeightedServer: weighted answers one endpoint, drawn about 3:1.
func TestWeightedServer(t *testing.T) {
	f := newFixture(t, func(c *dnssrv.Config) { c.Rand = lockedRand(1, 2) })
	const n = 1000
	count := map[string]int{}
	for range n {
		got, _ := f.ask(t, query{q: "weighted.pools.test. A"})
		r := dnstest.Render(got)
		if len(r.Answer) != 1 || r.Flags != "qr aa" || r.Rcode != "NOERROR" {
			t.Fatalf("weighted answer:\n%s", r)
		}
		count[r.Answer[0]]++
	}
	heavy, light := count["weighted.pools.test. 20 IN A 192.0.2.21"], count["weighted.pools.test. 20 IN A 192.0.2.22"]
	if heavy+light != n || heavy < 700 || heavy > 800 {
		t.Errorf("got %v, want about 750 of 192.0.2.21 and 250 of 192.0.2.22", count)
	}
}

// TestPolicies runs sequences of queries through the server while health
// changes under them.
func TestPolicies(t *testing.T) {
	type step struct {
		down    []string // endpoints of the pool whose check fails
		q       string   // TYPE; the name is the pool
		ecs     string   // client subnet
		answer  []string // addresses; nil: NODATA
		ordered bool
		scope   int
	}
	tests := []struct {
		name  string
		pool  string
		steps []step
	}{
		{"failover moves down the priorities and back", "failover.pools.test.", []step{
			{q: "A", answer: []string{"192.0.2.31"}},
			{q: "AAAA", answer: []string{"2001:db8::31"}},
			{down: []string{"192.0.2.31"}, q: "A", answer: []string{"192.0.2.32"}},
			{down: []string{"192.0.2.31", "192.0.2.32"}, q: "A", answer: []string{"192.0.2.33"}},
			{down: []string{"192.0.2.32"}, q: "A", answer: []string{"192.0.2.31"}},
			// All down: fail open, and the policy still prefers priority 1.
			{down: []string{"192.0.2.31", "192.0.2.32", "192.0.2.33"}, q: "A", answer: []string{"192.0.2.31"}},
			{q: "A", answer: []string{"192.0.2.31"}},
		}},
		{"state overrides health", "state.pools.test.", []step{
			{q: "A", answer: []string{"192.0.2.51", "192.0.2.54"}},
			{down: []string{"192.0.2.54"}, q: "A", answer: []string{"192.0.2.51"}},
			// state = "up" is served though its check fails.
			{down: []string{"192.0.2.51"}, q: "A", answer: []string{"192.0.2.51", "192.0.2.54"}},
			{down: []string{"192.0.2.51", "192.0.2.52", "192.0.2.53", "192.0.2.54"}, q: "A", answer: []string{"192.0.2.51"}},
		}},
		{"when_all_down all serves what the operator did not set down", "alldown.pools.test.", []step{
			{q: "A", answer: []string{"192.0.2.61", "192.0.2.62"}},
			{down: []string{"192.0.2.61"}, q: "A", answer: []string{"192.0.2.62"}},
			{down: []string{"192.0.2.61", "192.0.2.62"}, q: "A", answer: []string{"192.0.2.61", "192.0.2.62"}},
			{down: []string{"192.0.2.61", "192.0.2.62", "192.0.2.63", "192.0.2.64"}, q: "A", answer: []string{"192.0.2.61", "192.0.2.62"}},
		}},
		{"down and drain are never served", "opdown.pools.test.", []step{
			{q: "A", answer: nil},
		}},
		{"when_all_down none answers empty", "failclosed.pools.test.", []step{
			{q: "A", answer: []string{"192.0.2.71", "192.0.2.72"}},
			{down: []string{"192.0.2.71"}, q: "A", answer: []string{"192.0.2.72"}},
			{down: []string{"192.0.2.71", "192.0.2.72"}, q: "A", answer: nil},
			{q: "A", answer: []string{"192.0.2.71", "192.0.2.72"}},
		}},
		{"family", "v4only.pools.test.", []step{
			{q: "A", answer: []string{"192.0.2.81"}},
			{q: "AAAA", answer: nil},
		}},
		{"family v6", "v6only.pools.test.", []step{
			{q: "AAAA", answer: []string{"2001:db8::81"}},
			{q: "A", answer: nil},
		}},
		{"weighted 0 is drawn only when nothing else is up", "weighted0.pools.test.", []step{
			{q: "A", answer: []string{"192.0.2.23", "192.0.2.24"}},
			{q: "A", answer: []string{"192.0.2.23", "192.0.2.24"}},
			{down: []string{"192.0.2.23"}, q: "A", answer: []string{"192.0.2.24"}},
			{down: []string{"192.0.2.23", "192.0.2.24"}, q: "A", answer: []string{"192.0.2.25"}},
		}},
		{"geo: the matched endpoint down, nearest healthy", "geo.pools.test.", []step{
			{q: "A", ecs: "81.2.69.0/24", answer: []string{"192.0.2.101"}, scope: 24},
			{down: []string{"192.0.2.101"}, q: "A", ecs: "81.2.69.0/24", scope: 24, ordered: true,
				answer: []string{"192.0.2.103", "192.0.2.102", "192.0.2.104", "192.0.2.105", "192.0.2.106"}},
			{down: []string{"192.0.2.104"}, q: "A", ecs: "175.16.199.0/24", scope: 24, ordered: true,
				answer: []string{"192.0.2.101", "192.0.2.102", "192.0.2.103", "192.0.2.105", "192.0.2.106"}},
			// The /25 endpoint down: the /24 one serves, and holds for the /24.
			{down: []string{"192.0.2.106"}, q: "A", ecs: "203.0.113.200/32", answer: []string{"192.0.2.105"}, scope: 24},
			{q: "A", ecs: "203.0.113.200/32", answer: []string{"192.0.2.106"}, scope: 25},
		}},
		{"geo with one answer", "geo1.pools.test.", []step{
			{q: "A", ecs: "81.2.69.0/24", answer: []string{"192.0.2.111"}, scope: 24},
			{q: "A", ecs: "216.160.83.0/24", answer: []string{"192.0.2.112"}, scope: 24},
			{q: "A", ecs: "198.51.100.0/24", answer: []string{"192.0.2.112"}, scope: 24},
		}},
		{"nearest", "near.pools.test.", []step{
			{q: "A", ecs: "81.2.69.0/24", ordered: true, scope: 24, answer: []string{"192.0.2.121", "192.0.2.122", "192.0.2.123"}},
			{q: "A", ecs: "198.51.100.0/24", ordered: true, scope: 24, answer: []string{"192.0.2.122", "192.0.2.123", "192.0.2.121"}},
			{q: "A", ecs: "175.16.199.0/24", ordered: true, scope: 24, answer: []string{"192.0.2.123", "192.0.2.121", "192.0.2.122"}},
			{q: "A", ecs: "89.160.20.0/24", ordered: true, scope: 24, answer: []string{"192.0.2.121", "192.0.2.122", "192.0.2.123"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, useECS)
			for i, s := range tt.steps {
				f.setDown(t, tt.pool, s.down...)
				q := query{q: tt.pool + " " + s.q}
				want := dnstest.Msg{Rcode: "NOERROR", Flags: "qr aa", Answer: a(tt.pool, 30, s.answer...)}
				if s.answer == nil {
					want.Ns = []string{poolsSOA}
				}
				if s.ecs != "" {
					q.edns, q.ecs = 1232, s.ecs
					want.EDNS, want.Options = ourEDNS, []string{ecsEcho(s.ecs, s.scope)}
				}
				if !s.ordered && len(s.answer) > 1 {
					// Rotation order is tested elsewhere: compare as sets.
					got, _ := f.ask(t, q)
					checkMsg(t, tt.name+" step "+itoa(i)+": "+q.String(), got, expect(q.msg(), want), false)
					continue
				}
				f.run(t, q, want, s.ordered)
			}
		})
	}
}

// TestGeoUnknownRotates: a client no database knows gets every healthy
// endpoint, rotated; so does nearest.
func TestGeoUnknownRotates(t *testing.T) {
	f := newFixture(t, useECS)
	for _, pool := range []string{"geo1.pools.test.", "near.pools.test."} {
		var seen [][]string
		for range 3 {
			got, _ := f.ask(t, query{q: pool + " A", edns: 1232, ecs: "192.0.2.0/24"})
			seen = append(seen, dnstest.Render(got).Answer)
		}
		if slices.Equal(seen[0], seen[1]) || slices.Equal(seen[1], seen[2]) {
			t.Errorf("%s for an unknown client: %q, want a rotation per answer", pool, seen)
		}
	}
}
