package e2e

import (
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/health"
	"github.com/gslb/gslb/internal/probes"
)

// zoneData fills the templates in testdata/.
type zoneData struct {
	Net    string // the test's loopback /24, "127.0.N"
	Port   uint16 // the check port, the same on every address
	Serial int
	TTL    int
	Hosts  []int // last octets of the pool's addresses
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// Stopping a server takes its address out of the answers once fall probes
// have failed; starting it again on the same address brings it back once
// rise probes have passed. The other endpoints never move.
func TestStopStartSteersAnswers(t *testing.T) {
	t.Parallel()
	n := net24(21)
	e1, e2, e3 := host(n, 11), host(n, 12), host(n, 13)
	ln, port := freePort(t, e1)
	newBackend(t, ap(e1, port), ln, ok)
	b2 := newBackend(t, ap(e2, port), nil, ok)
	newBackend(t, ap(e3, port), nil, ok)
	s := newStack(t, map[string]string{"steer.test.toml": zoneFile(t, "steer.test.toml", zoneData{Net: n, Port: port})})

	const www = "www.steer.test."
	k1, k2, k3 := s.key(t, www, e1), s.key(t, www, e2), s.key(t, www, e3)
	all := answer(www, as(www, 5, e1, e2, e3)...)
	s.waitStatus(t, "up", within(1), knownUp, k1, k2, k3)
	s.waitAnswer(t, within(1), all)

	b2.stop()
	s.waitAnswer(t, within(fall), answer(www, as(www, 5, e1, e3)...))
	if st, ok := s.status(k2); !knownDown(st) || st.Reason != "connect: connection refused" {
		t.Errorf("%s stopped: got %s, want down (connect: connection refused)", e2, statusIs(st, ok))
	}

	b2.start(t)
	s.waitAnswer(t, within(rise), all)
	if st, ok := s.status(k2); !knownUp(st) || st.Reason != "ok" {
		t.Errorf("%s started again: got %s, want up (ok)", e2, statusIs(st, ok))
	}

	// The history shows exactly one way down and one way back for e2, and
	// nothing for the others (their unknown → up is not a change).
	want := []string{"down connect: connection refused", "up ok"}
	if got := summarize(s.transitions(k2)); !slices.Equal(got, want) {
		t.Errorf("transitions of %s: got %q, want %q", e2, got, want)
	}
	for _, k := range []string{k1, k3} {
		if got := summarize(s.transitions(k)); len(got) != 0 {
			t.Errorf("transitions of %s: got %q, want none", k, got)
		}
	}
}

// summarize renders transitions as "down REASON" / "up REASON".
func summarize(ts []health.Transition) []string {
	var out []string
	for _, tr := range ts {
		s := "down"
		if tr.Up {
			s = "up"
		}
		out = append(out, s+" "+tr.Reason)
	}
	return out
}

// Every way a check can fail takes the endpoint out, with a reason that
// says which: a bad status, a server slower than the timeout, a server
// that accepts and hangs up, and a refused TCP connection.
func TestProbeFailuresTakeEndpointsOut(t *testing.T) {
	t.Parallel()
	n := net24(22)
	okAddr := host(n, 11)
	ln, port := freePort(t, okAddr)
	newBackend(t, ap(okAddr, port), ln, ok)
	newBackend(t, ap(host(n, 12), port), nil, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	newBackend(t, ap(host(n, 13), port), nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // answer long after the check's timeout, or when the prober gives up
		case <-r.Context().Done():
		case <-time.After(10 * timeout):
		}
		_, _ = w.Write([]byte("too late"))
	}))
	closer(t, listen(t, ap(host(n, 14), port)))
	// Nothing listens on .15.
	s := newStack(t, map[string]string{"failures.test.toml": zoneFile(t, "failures.test.toml", zoneData{Net: n, Port: port})})

	const web, tcp = "web.failures.test.", "tcp.failures.test."
	s.waitAnswer(t, within(fall), answer(web, a(web, 5, okAddr)), answer(tcp, a(tcp, 5, okAddr)))

	is := func(r string) func(string) bool { return func(got string) bool { return got == r } }
	tests := []struct {
		name   string
		pool   string
		addr   netip.Addr
		up     bool
		want   string // the reason, for messages
		reason func(string) bool
	}{
		{"http ok", web, okAddr, true, "ok", is("ok")},
		{"tcp ok", tcp, okAddr, true, "ok", is("ok")},
		{"status 503", web, host(n, 12), false, "status 503", is("status 503")},
		{"slower than the timeout", web, host(n, 13), false, "timeout after 500ms", is("timeout after 500ms")},
		// The close may come before or after the request is written, and
		// net/http words each case its own way (FIN: EOF, RST: reset,
		// before the request: "server closed idle connection").
		{"accepts and closes", web, host(n, 14), false, "http: ...closed or reset...", func(r string) bool {
			return strings.HasPrefix(r, "http: ") && (strings.Contains(r, "closed") || strings.Contains(r, "reset"))
		}},
		{"tcp refused", tcp, host(n, 15), false, "connect: connection refused", is("connect: connection refused")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, found := s.status(s.key(t, tt.pool, tt.addr))
			if !found || !st.Known || st.Up != tt.up || !tt.reason(st.Reason) {
				t.Errorf("%s in %s: got %s, want up=%v (%s)", tt.addr, tt.pool, statusIs(st, found), tt.up, tt.want)
			}
		})
	}
}

// With every endpoint down, when_all_down = "all" (also the default)
// serves them all, and "none" answers NOERROR with no records and the
// SOA for negative caching. One endpoint coming back ends both.
func TestWhenAllDown(t *testing.T) {
	t.Parallel()
	n := net24(23)
	e1, e2 := host(n, 11), host(n, 12)
	ln, port := freePort(t, e1)
	ln.Close() // nothing listens until the end of the test
	s := newStack(t, map[string]string{"alldown.test.toml": zoneFile(t, "alldown.test.toml", zoneData{Net: n, Port: port})})

	s.waitStatus(t, "down", within(1), knownDown, s.key(t, "open.alldown.test.", e1), s.key(t, "open.alldown.test.", e2))
	empty := func(name string) dnstest.Msg {
		m := answer(name)
		m.Ns = []string{"alldown.test. 45 IN SOA ns1.alldown.test. hostmaster.alldown.test. 1 3600 600 1209600 45"}
		return m
	}
	tests := []struct {
		name      string
		down, one dnstest.Msg // every endpoint down; e1 back up
	}{
		{"default", answer("default.alldown.test.", as("default.alldown.test.", 5, e1, e2)...), answer("default.alldown.test.", a("default.alldown.test.", 5, e1))},
		{"all", answer("open.alldown.test.", as("open.alldown.test.", 5, e1, e2)...), answer("open.alldown.test.", a("open.alldown.test.", 5, e1))},
		{"none", empty("closed.alldown.test."), answer("closed.alldown.test.", a("closed.alldown.test.", 5, e1))},
	}
	var down, one []dnstest.Msg
	for _, tt := range tests {
		down, one = append(down, tt.down), append(one, tt.one)
	}
	s.waitAnswer(t, within(1), down...)
	newBackend(t, ap(e1, port), nil, ok)
	s.waitAnswer(t, within(rise), one...)
}

// The operator's state beats the probe: "up" is served while its server
// is down, "down" and "drain" are never served while theirs are up, not
// even when the pool fails open.
func TestOperatorStateBeatsProbe(t *testing.T) {
	t.Parallel()
	n := net24(24)
	ln, port := freePort(t, host(n, 12))
	newBackend(t, ap(host(n, 12), port), ln, ok)
	newBackend(t, ap(host(n, 13), port), nil, ok)
	newBackend(t, ap(host(n, 14), port), nil, ok)
	// Nothing listens on .11 and .15.
	s := newStack(t, map[string]string{"state.test.toml": zoneFile(t, "state.test.toml", zoneData{Net: n, Port: port})})

	const www, failopen = "www.state.test.", "failopen.state.test."
	// Overridden endpoints are probed too (cmd/gslb does the same, for
	// /status): wait until the probes disagree with the operator.
	s.waitStatus(t, "down", within(1), knownDown, s.key(t, www, host(n, 11)), s.key(t, failopen, host(n, 15)))
	s.waitStatus(t, "up", within(1), knownUp, s.key(t, www, host(n, 12)), s.key(t, www, host(n, 13)), s.key(t, www, host(n, 14)))

	s.waitAnswer(t, within(1),
		answer(www, as(www, 5, host(n, 11), host(n, 14))...),
		answer(failopen, a(failopen, 5, host(n, 15))))
}

// script is an HTTP handler whose answers the test sets probe by probe:
// codes first, then alternating forever, starting with the opposite of
// the last code (so the tail adds no two equal results in a row).
type script struct {
	codes []int
	mu    sync.Mutex
	n     int
}

func (s *script) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	i := s.n
	s.n++
	s.mu.Unlock()
	code := s.codes[min(i, len(s.codes)-1)]
	if i >= len(s.codes) && (i-len(s.codes))%2 == 0 {
		code = 200 + 503 - code
	}
	w.WriteHeader(code)
}

func (s *script) served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// A target that flaps changes state only after rise successes or fall
// failures in a row (here 2), so answers change no faster than that. The
// handlers' answers are scripted per probe, so the exact changes are
// known in advance; the DNS answers, sampled all along, show no more.
func TestFlappingTargetKeepsItsState(t *testing.T) {
	t.Parallel()
	n := net24(25)
	tests := []struct {
		name  string
		addr  netip.Addr
		codes []int
		want  []string // transitions, oldest first
	}{
		// ok, fail, ok, fail…: the first result sets up, then no two in a row.
		{"alternating from up", host(n, 12), []int{200}, nil},
		// fail, ok, fail, ok…: the first result sets down at once, then stays.
		{"alternating from down", host(n, 13), []int{503}, []string{"down status 503"}},
		// Two failures in a row, then two successes in a row; single ones in
		// between and after change nothing.
		{"scripted", host(n, 14), []int{200, 503, 200, 503, 503, 200, 503, 200, 200}, []string{"down status 503", "up ok"}},
	}
	steadyAddr := host(n, 11)
	ln, port := freePort(t, steadyAddr)
	newBackend(t, ap(steadyAddr, port), ln, ok)
	scripts := make([]*script, len(tests))
	for i, tt := range tests {
		scripts[i] = &script{codes: tt.codes}
		newBackend(t, ap(tt.addr, port), nil, scripts[i])
	}
	s := newStack(t, map[string]string{"flap.test.toml": zoneFile(t, "flap.test.toml", zoneData{Net: n, Port: port})})
	const www = "www.flap.test."

	// Sample the answers until every script has run to its end, plus one
	// probe of the alternating tail (a handler answering probe k+1 means
	// the Manager has recorded probe k: one goroutine probes each target).
	longest := 0
	for _, tt := range tests {
		longest = max(longest, len(tt.codes))
	}
	present := map[netip.Addr][]bool{}
	deadline := time.Now().Add(within(longest + 2))
	for {
		m, err := s.query(www + " A")
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			present[tt.addr] = append(present[tt.addr], slices.Contains(m.Answer, a(www, 5, tt.addr)))
		}
		if !slices.Contains(m.Answer, a(www, 5, steadyAddr)) {
			t.Fatalf("the steady endpoint %s left the answer:\n%s", steadyAddr, m)
		}
		done := true
		for i, tt := range tests {
			done = done && scripts[i].served() >= len(tt.codes)+2
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the scripts were not done", within(longest+2))
		}
		time.Sleep(50 * time.Millisecond)
	}

	final := []netip.Addr{steadyAddr}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := s.key(t, www, tt.addr)
			if got := summarize(s.transitions(key)); !slices.Equal(got, tt.want) {
				t.Errorf("transitions after %d probes: got %q, want %q", scripts[i].served(), got, tt.want)
			}
			// Answers start with every endpoint (unknown is up). Each state
			// lasts at least two probe intervals, far longer than the
			// sampling step, so the samples see every change: exactly the
			// transitions, except that the one from the very first probe
			// may come before the first sample.
			changes := 0
			prev := true
			for _, p := range present[tt.addr] {
				if p != prev {
					changes++
				}
				prev = p
			}
			least := len(tt.want)
			if tt.codes[0] != http.StatusOK {
				least-- // the first result set it down, perhaps before the first sample
			}
			if changes < least || changes > len(tt.want) {
				t.Errorf("the answers changed %d times in %d samples, want %d to %d (the transitions)", changes, len(present[tt.addr]), least, len(tt.want))
			}
		})
		if len(tt.want) == 0 || strings.HasPrefix(tt.want[len(tt.want)-1], "up") {
			final = append(final, tt.addr)
		}
	}
	// The tails alternate for ever, and the answer does not move.
	s.holds(t, 2*interval, answer(www, as(www, 5, final...)...))
}

// A reload keeps the health of endpoints that stay (same check, same
// keys): a down endpoint is still down the moment the new snapshot is
// served. A new endpoint is probed at once; a removed one stops, and its
// goroutines are gone.
//
// Not parallel: it counts goroutines, and parallel tests wait until the
// sequential ones are done.
func TestReloadKeepsHealthState(t *testing.T) {
	n := net24(26)
	e1, e2, e3 := host(n, 11), host(n, 12), host(n, 13)
	ln, port := freePort(t, e1)
	newBackend(t, ap(e1, port), ln, ok)
	// Nothing listens on e2.
	zone := func(serial, ttl int, hosts ...int) map[string]string {
		return map[string]string{"reload.test.toml": zoneFile(t, "reload.test.toml",
			zoneData{Net: n, Port: port, Serial: serial, TTL: ttl, Hosts: hosts})}
	}
	s := newStack(t, zone(1, 5, 11, 12))
	const www = "www.reload.test."
	k1, k2 := s.key(t, www, e1), s.key(t, www, e2)
	s.waitStatus(t, "up", within(1), knownUp, k1)
	s.waitStatus(t, "down", within(1), knownDown, k2)
	s.waitAnswer(t, within(1), answer(www, a(www, 5, e1)))
	before1, _ := s.status(k1)
	before2, _ := s.status(k2)
	if got := probers(); got != 2 {
		t.Fatalf("prober goroutines: got %d, want 2", got)
	}

	var hits3 sync.Mutex
	probes3 := 0
	newBackend(t, ap(e3, port), nil, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits3.Lock()
		probes3++
		hits3.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	count3 := func() int {
		hits3.Lock()
		defer hits3.Unlock()
		return probes3
	}
	baseline := quietGoroutines()

	// Edit: a new TTL and a new endpoint; e1 and e2 keep their keys.
	for name, content := range zone(2, 10, 11, 12, 13) {
		s.write(t, name, content)
	}
	s.reload(t)
	for _, c := range []struct {
		addr        netip.Addr
		key         string
		before      health.Status
		wantUp      bool
		description string
	}{
		{e1, k1, before1, true, "up"},
		{e2, k2, before2, false, "down"},
	} {
		st, found := s.status(c.key)
		if !found || !st.Known || st.Up != c.wantUp || !st.Since.Equal(c.before.Since) {
			t.Errorf("%s right after the reload: got %s since %v, want %s since %v (no reset)",
				c.addr, statusIs(st, found), st.Since, c.description, c.before.Since)
		}
	}
	// e3 is unknown, so served; e2 stays out.
	s.expectNow(t, answer(www, as(www, 10, e1, e3)...))
	if got := probers(); got != 3 {
		t.Errorf("prober goroutines after adding %s: got %d, want 3", e3, got)
	}
	k3 := s.key(t, www, e3)
	s.waitStatus(t, "probed", within(1), func(st health.Status) bool { return !st.LastCheck.IsZero() }, k3)
	s.waitAnswer(t, within(1), answer(www, as(www, 10, e1, e3)...))
	if got := s.mgr.Len(); got != 3 {
		t.Errorf("targets: got %d, want 3", got)
	}

	// Edit: e3 removed.
	for name, content := range zone(3, 10, 11, 12) {
		s.write(t, name, content)
	}
	s.reload(t)
	if st, found := s.status(k3); found {
		t.Errorf("%s removed: still in the view as %s", e3, statusIs(st, found))
	}
	if got := s.mgr.Len(); got != 2 {
		t.Errorf("targets: got %d, want 2", got)
	}
	if got := probers(); got != 2 { // Update waits for removed probers to exit
		t.Errorf("prober goroutines after removing %s: got %d, want 2", e3, got)
	}
	if st, found := s.status(k2); !knownDown(st) || !st.Since.Equal(before2.Since) {
		t.Errorf("%s after the second reload: got %s since %v, want down since %v", e2, statusIs(st, found), st.Since, before2.Since)
	}
	s.expectNow(t, answer(www, a(www, 10, e1)))

	deadline := time.Now().Add(within(1))
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: got %d, want at most %d as before %s was added", runtime.NumGoroutine(), baseline, e3)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// e3's server is still up, but nobody probes it any more.
	seen := count3()
	s.holds(t, 2*interval, answer(www, a(www, 10, e1)))
	if got := count3(); got != seen {
		t.Errorf("probes of removed %s: %d more after removal, want none", e3, got-seen)
	}
}

// 1,000 endpoints in 100 pools across two zones name only 50 distinct
// address+check pairs: the Manager runs 50 probers, one per key.
func TestSharedTargets(t *testing.T) {
	t.Parallel()
	n := net24(27)
	ln, port := freePort(t, host(n, 1))
	ln.Close() // what answers does not matter here
	files := map[string]string{}
	for z := range 2 {
		var b strings.Builder
		fmt.Fprintf(&b, "ns = [\"ns1.example.test.\"]\n[soa]\nserial = 1\n\n")
		// A long interval: this test is about sharing, not probing.
		fmt.Fprintf(&b, "[checks.tcp]\ntype = \"tcp\"\nport = %d\ninterval = \"1m\"\ntimeout = \"1s\"\n", port)
		for p := range 50 {
			i := z*50 + p
			var addrs []string
			for j := range 10 {
				addrs = append(addrs, fmt.Sprintf("%q", host(n, 1+(i*10+j)%50).String()))
			}
			fmt.Fprintf(&b, "\n[pools.p%d]\ncheck = \"tcp\"\naddresses = [%s]\n", i, strings.Join(addrs, ", "))
		}
		files[fmt.Sprintf("z%d.shared.test.toml", z)] = b.String()
	}
	s := newStack(t, files)

	snap := s.store.Current()
	ts := probes.Targets(snap)
	pools, keys := 0, map[string]bool{}
	for _, z := range snap.Zones() {
		pools += len(z.Pools)
	}
	for _, tg := range ts {
		keys[tg.Key] = true
	}
	if len(snap.Zones()) != 2 || pools != 100 || len(ts) != 1000 || len(keys) != 50 {
		t.Fatalf("got %d zones, %d pools, %d targets with %d keys; want 2, 100, 1000, 50", len(snap.Zones()), pools, len(ts), len(keys))
	}
	if got := s.mgr.Len(); got != 50 {
		t.Errorf("Manager.Len: got %d, want 50", got)
	}
	if got := s.mgr.Current().Len(); got != 50 {
		t.Errorf("View.Len: got %d, want 50", got)
	}
	for key, st := range s.mgr.Current().All() {
		if !keys[key] || !strings.HasPrefix(st.Addr.String(), n+".") {
			t.Errorf("view has %q (%s), not one of the zone's keys", key, st.Addr)
		}
	}
}
