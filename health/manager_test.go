package health

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeProber answers from a per-key setting and records every probe. It
// never touches the network, so it runs inside synctest bubbles.
type fakeProber struct {
	mu       sync.Mutex
	fail     map[string]bool        // key → failing
	block    map[string]bool        // key → wait for the context to end
	delay    time.Duration          // every probe takes this long
	calls    map[string][]time.Time // key → start times
	specs    map[string]Spec        // key → the spec last probed
	inflight int                    // probes running now
	maxIn    int                    // most probes running at once
}

func newFakeProber() *fakeProber {
	return &fakeProber{fail: map[string]bool{}, block: map[string]bool{}, calls: map[string][]time.Time{},
		specs: map[string]Spec{}}
}

func (f *fakeProber) Probe(ctx context.Context, t Target) Result {
	f.mu.Lock()
	f.calls[t.Key] = append(f.calls[t.Key], time.Now())
	f.specs[t.Key] = t.Spec
	f.inflight++
	f.maxIn = max(f.maxIn, f.inflight)
	fail, block, delay := f.fail[t.Key], f.block[t.Key], f.delay
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	if block {
		<-ctx.Done()
		return Result{OK: false} // the Manager fills in the timeout reason
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return Result{}
		}
	}
	if fail {
		return Result{OK: false, Reason: "status 503", Latency: delay}
	}
	return Result{OK: true, Reason: "ok", Latency: delay}
}

func (f *fakeProber) set(key string, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[key] = fail
}

func (f *fakeProber) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls[key])
}

func (f *fakeProber) times(key string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls[key]...)
}

func (f *fakeProber) keys() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.calls {
		out[k] = len(v)
	}
	return out
}

// loopGoroutines counts the prober goroutines in a dump of all goroutines,
// independent of the Manager's own bookkeeping and of unrelated goroutines.
// It must run in a bubble: synctest.Wait lets goroutines that are on their
// way out finish exiting.
func loopGoroutines() int {
	synctest.Wait()
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "health.(*Manager).loop(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func tcpSpec(interval time.Duration) Spec {
	return Spec{Type: "tcp", Port: 80, Interval: interval}
}

func target(key string, i int, spec Spec) Target {
	return Target{Key: key, Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Spec: spec}
}

func TestFirstProbesSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, interval = 200, 10 * time.Second
		fp := newFakeProber()
		m := New(Options{Logger: testLogger(t), Prober: fp})
		defer m.Close()
		var ts []Target
		for i := range n {
			ts = append(ts, target(fmt.Sprint("k", i), i, tcpSpec(interval)))
		}
		start := time.Now()
		m.Update(ts)
		time.Sleep(interval)
		synctest.Wait()

		var buckets [10]int // first probes per second of the interval
		for i := range n {
			calls := fp.times(fmt.Sprint("k", i))
			if len(calls) == 0 {
				t.Fatalf("k%d: no probe within the first interval", i)
			}
			off := calls[0].Sub(start)
			if off < 0 || off >= interval {
				t.Fatalf("k%d: first probe at %v, want within [0, %v)", i, off, interval)
			}
			buckets[off/time.Second]++
		}
		// 200 uniform draws over 10 buckets: each expects 20. Allow wide
		// slack; an unjittered scheduler puts all 200 in the first bucket.
		for i, b := range buckets {
			if b < 5 || b > 50 {
				t.Errorf("first probes per second of the interval: got %v, want each between 5 and 50 (bucket %d)", buckets, i)
				break
			}
		}
	})
}

// recClock is the real clock (fake inside a bubble) that records the
// waits the scheduler asks for.
type recClock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *recClock) Now() time.Time { return time.Now() }
func (c *recClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return time.After(d)
}

func TestIntervalJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		clock := &recClock{}
		fp := newFakeProber()
		m := New(Options{Logger: testLogger(t), Prober: fp, Clock: clock})
		m.Update([]Target{target("a", 1, tcpSpec(interval))})
		time.Sleep(50 * interval)
		m.Close()

		clock.mu.Lock()
		defer clock.mu.Unlock()
		if len(clock.waits) < 40 {
			t.Fatalf("got %d waits in 50 intervals, want at least 40", len(clock.waits))
		}
		if w := clock.waits[0]; w < 0 || w >= interval {
			t.Errorf("first wait: got %v, want within [0, %v)", w, interval)
		}
		lo, hi := interval, time.Duration(0)
		for _, w := range clock.waits[1:] {
			lo, hi = min(lo, w), max(hi, w)
		}
		if lo < 9*time.Second || hi > 11*time.Second || hi-lo < time.Second {
			t.Errorf("later waits: got range [%v, %v], want spread within [9s, 11s]", lo, hi)
		}
		// Probe starts follow the waits.
		calls := fp.times("a")
		for i := 1; i < len(calls); i++ {
			if d := calls[i].Sub(calls[i-1]); d < 9*time.Second || d > 11*time.Second {
				t.Errorf("probe %d came %v after the previous one, want 9s..11s", i, d)
			}
		}
	})
}

func TestSharedKeysOneProberEach(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 5 * time.Second
		fp := newFakeProber()
		m := New(Options{Logger: testLogger(t), Prober: fp})
		defer m.Close()
		synctest.Wait()

		// 1,000 targets (20 pools × 50 endpoints) over 50 distinct keys,
		// given in two Update calls as two reloads would.
		var ts []Target
		for pool := range 20 {
			for ep := range 50 {
				_ = pool
				ts = append(ts, target(fmt.Sprint("ep", ep), ep, tcpSpec(interval)))
			}
		}
		m.Update(ts[:500])
		m.Update(ts)
		synctest.Wait()
		if got := m.Len(); got != 50 {
			t.Errorf("Len: got %d, want 50", got)
		}
		if got, n := m.live.Load(), loopGoroutines(); got != 50 || n != 50 {
			t.Errorf("prober goroutines: got %d (%d in a stack dump), want 50", got, n)
		}
		if got := m.Current().Len(); got != 50 {
			t.Errorf("View.Len: got %d, want 50", got)
		}

		// In the first 0.9 interval each key is probed at most once, and
		// within two intervals every key has been probed.
		time.Sleep(interval * 9 / 10)
		synctest.Wait()
		total := 0
		for k, n := range fp.keys() {
			if n > 1 {
				t.Errorf("%s: got %d probes in 0.9 interval, want at most 1", k, n)
			}
			total += n
		}
		time.Sleep(interval * 11 / 10)
		synctest.Wait()
		keys := fp.keys()
		if len(keys) != 50 {
			t.Errorf("distinct keys probed: got %d, want 50", len(keys))
		}
		for k, n := range keys {
			if n < 1 || n > 3 {
				t.Errorf("%s: got %d probes in 2 intervals, want 1..3", k, n)
			}
		}
		t.Logf("probes in the first 0.9 interval: %d", total)
	})
}

func TestUpdateStopsRemovedProbers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fp := newFakeProber()
		fp.delay = 500 * time.Millisecond // some probes are in flight when removed
		m := New(Options{Logger: testLogger(t), Prober: fp})
		synctest.Wait()

		var ts []Target
		for i := range 100 {
			ts = append(ts, target(fmt.Sprint("k", i), i, tcpSpec(time.Second)))
		}
		m.Update(ts)
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		if got, n := m.live.Load(), loopGoroutines(); got != 100 || n != 100 {
			t.Errorf("goroutines after Update(100): got %d prober goroutines (%d in a stack dump), want 100", got, n)
		}

		m.Update(ts[:10])
		// Update waited for the removed goroutines: m.live is read before
		// loopGoroutines lets anything settle.
		if got, n := m.live.Load(), loopGoroutines(); got != 10 || n != 10 {
			t.Errorf("goroutines after Update(10): got %d prober goroutines (%d in a stack dump), want 10", got, n)
		}
		if got := m.Len(); got != 10 {
			t.Errorf("Len: got %d, want 10", got)
		}
		if _, ok := m.Current().Get("k50"); ok {
			t.Errorf("removed key k50 still in the view")
		}
		before := fp.count("k50")
		time.Sleep(5 * time.Second)
		if got := fp.count("k50"); got != before {
			t.Errorf("removed key k50: got %d more probes, want none", got-before)
		}

		m.Update(nil)
		if got, n := m.live.Load(), loopGoroutines(); got != 0 || n != 0 {
			t.Errorf("goroutines after Update(nil): got %d prober goroutines (%d in a stack dump), want 0", got, n)
		}
		m.Update(ts)
		m.Close()
		if got, n := m.live.Load(), loopGoroutines(); got != 0 || n != 0 {
			t.Errorf("goroutines after Close: got %d prober goroutines (%d in a stack dump), want 0", got, n)
		}
		m.Update(ts) // after Close: nothing starts
		if got := m.live.Load(); got != 0 || m.Len() != 0 {
			t.Errorf("Update after Close: got %d goroutines and Len %d, want 0 and 0", got, m.Len())
		}
		m.Close() // idempotent
	})
}

func TestStateMachineThroughManager(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 2 * time.Second
		var logs bytes.Buffer
		fp := newFakeProber()
		m := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Prober: fp})
		defer m.Close()
		a := target("a", 1, tcpSpec(interval))
		a.Spec.Rise, a.Spec.Fall = 2, 3
		m.Update([]Target{a})

		if st, ok := m.Current().Get("a"); !ok || st.Known || !m.Current().Up("a") {
			t.Fatalf("before the first probe: got %+v ok=%v up=%v, want unknown and served as up", st, ok, m.Current().Up("a"))
		}
		waitProbes := func(n int) {
			t.Helper()
			for fp.count("a") < n {
				time.Sleep(100 * time.Millisecond)
			}
			synctest.Wait()
		}
		waitProbes(1)
		st, _ := m.Current().Get("a")
		if !st.Known || !st.Up || st.Reason != "ok" || !st.LastOK || st.Since.IsZero() {
			t.Fatalf("after the first good probe: got %+v, want known up ok", st)
		}
		upSince := st.Since

		fp.set("a", true)
		for i := 2; i <= 3; i++ {
			waitProbes(i)
			st, _ = m.Current().Get("a")
			if !st.Up || st.LastOK || st.Reason != "status 503" || st.Since != upSince {
				t.Fatalf("after %d failures: got %+v, want still up since %v with the failure recorded", i-1, st, upSince)
			}
		}
		waitProbes(4)
		st, _ = m.Current().Get("a")
		if st.Up || !st.Known || st.Since == upSince || m.Current().Up("a") {
			t.Fatalf("after 3 failures: got %+v, want down", st)
		}

		fp.set("a", false)
		waitProbes(5)
		if m.Current().Up("a") {
			t.Fatalf("after 1 success: got up, want still down")
		}
		waitProbes(6)
		if !m.Current().Up("a") {
			t.Fatalf("after 2 successes: got down, want up")
		}

		rec := m.Recent(10)
		if len(rec) != 2 || !rec[0].Up || rec[1].Up || rec[0].Key != "a" || rec[1].Reason != "status 503" ||
			!rec[0].At.After(rec[1].At) || rec[0].Addr != a.Addr {
			t.Errorf("Recent(10): got %+v, want [up, down] newest first", rec)
		}
		if got := m.Recent(1); len(got) != 1 || got[0] != rec[0] {
			t.Errorf("Recent(1): got %+v, want [%+v]", got, rec[0])
		}
		if got := m.Recent(0); got != nil {
			t.Errorf("Recent(0): got %+v, want nil", got)
		}

		// One Info line per change, none per probe.
		out := logs.String()
		if n := strings.Count(out, "\n"); n != 2 {
			t.Errorf("log: got %d lines, want 2:\n%s", n, out)
		}
		for _, want := range []string{`msg="check down" component=health key=a addr=192.0.2.1 reason="status 503"`,
			`msg="check up" component=health key=a addr=192.0.2.1 reason=ok`} {
			if !strings.Contains(out, want) {
				t.Errorf("log: got\n%s\nwant a line with %s", out, want)
			}
		}
	})
}

func TestFirstResultDownIsImmediate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fp := newFakeProber()
		fp.set("a", true)
		m := New(Options{Logger: testLogger(t), Prober: fp})
		defer m.Close()
		m.Update([]Target{target("a", 1, tcpSpec(time.Second))})
		// Step the fake clock until the first (jittered) probe has run;
		// stop there, before the second one (at least 0.9 s later).
		for fp.count("a") == 0 {
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
		}
		if fp.count("a") != 1 || m.Current().Up("a") {
			t.Fatalf("after one failed probe: got %d probes, up=%v, want 1 probe and down", fp.count("a"), m.Current().Up("a"))
		}
		if rec := m.Recent(5); len(rec) != 1 || rec[0].Up {
			t.Errorf("Recent: got %+v, want the one first-result down", rec)
		}
	})
}

func TestReloadKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fp := newFakeProber()
		fp.set("a", true)
		m := New(Options{Logger: testLogger(t), Prober: fp})
		defer m.Close()
		spec := tcpSpec(time.Second)
		m.Update([]Target{target("a", 1, spec), target("b", 2, spec)})
		time.Sleep(time.Second)
		synctest.Wait()
		before, _ := m.Current().Get("a")
		if !before.Known || before.Up {
			t.Fatalf("a: got %+v, want known down", before)
		}

		// Reload: a stays, b goes, c arrives.
		m.Update([]Target{target("a", 1, spec), target("c", 3, spec)})
		after, ok := m.Current().Get("a")
		if !ok || after != before {
			t.Errorf("a after reload: got %+v, want %+v", after, before)
		}
		if st, ok := m.Current().Get("c"); !ok || st.Known {
			t.Errorf("c after reload: got %+v ok=%v, want present and unknown", st, ok)
		}
		if _, ok := m.Current().Get("b"); ok {
			t.Errorf("b after reload: still present")
		}

		// A changed spec under a new key is a new target, unknown again.
		spec2 := spec
		spec2.Port = 8080
		m.Update([]Target{target("a2", 1, spec2)})
		if st, ok := m.Current().Get("a2"); !ok || st.Known {
			t.Errorf("a2: got %+v ok=%v, want a new unknown target", st, ok)
		}

		// A caller that changes the spec but keeps the key keeps the state;
		// the prober restarts with the new spec.
		m.Update([]Target{target("a", 1, spec)})
		time.Sleep(time.Second)
		synctest.Wait()
		before, _ = m.Current().Get("a")
		m.Update([]Target{target("a", 1, spec2)})
		if after, _ := m.Current().Get("a"); after != before {
			t.Errorf("a with a new spec under the same key: got %+v, want %+v", after, before)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		fp.mu.Lock()
		port := fp.specs["a"].Port
		fp.mu.Unlock()
		if port != 8080 {
			t.Errorf("a probed with port %d, want 8080", port)
		}

		// The same key at another address starts over.
		m.Update([]Target{target("a", 9, spec2)})
		if st, _ := m.Current().Get("a"); st.Known || st.Addr != netip.MustParseAddr("192.0.2.9") {
			t.Errorf("a at a new address: got %+v, want unknown at 192.0.2.9", st)
		}
	})
}

func TestTimeoutDoesNotBlockOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fp := newFakeProber()
		fp.block["slow"] = true
		// One slot: the slow probe holds it for its timeout, no longer.
		m := New(Options{Logger: testLogger(t), Prober: fp, MaxConcurrent: 1})
		defer m.Close()
		spec := Spec{Type: "tcp", Port: 80, Interval: 5 * time.Second, Timeout: 2 * time.Second}
		m.Update([]Target{target("slow", 1, spec), target("fast", 2, spec)})
		time.Sleep(60 * time.Second)
		synctest.Wait()

		st, _ := m.Current().Get("slow")
		if st.Reason != "timeout after 2s" || st.Up || st.Latency != 2*time.Second {
			t.Errorf("slow: got %+v, want down with \"timeout after 2s\" and latency 2s", st)
		}
		// 60s / 5s ±10%: 11 to 13 probes, each delayed at most one timeout.
		if n := fp.count("fast"); n < 10 {
			t.Errorf("fast: got %d probes in 60s, want at least 10", n)
		}
		if !m.Current().Up("fast") {
			t.Errorf("fast: got down, want up")
		}
	})
}

func TestConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fp := newFakeProber()
		fp.delay = 400 * time.Millisecond
		m := New(Options{Logger: testLogger(t), Prober: fp, MaxConcurrent: 4})
		defer m.Close()
		var ts []Target
		for i := range 100 {
			ts = append(ts, target(fmt.Sprint("k", i), i, tcpSpec(time.Second)))
		}
		m.Update(ts)
		time.Sleep(20 * time.Second)
		synctest.Wait()
		fp.mu.Lock()
		defer fp.mu.Unlock()
		if fp.maxIn != 4 {
			t.Errorf("most probes at once: got %d, want 4", fp.maxIn)
		}
	})
}

func TestInvalidTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fp := newFakeProber()
		var logs bytes.Buffer
		m := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Prober: fp})
		defer m.Close()
		m.Update([]Target{
			{Key: "badspec", Addr: netip.MustParseAddr("192.0.2.1"), Spec: Spec{Type: "tcp"}},
			{Key: "noaddr", Spec: tcpSpec(time.Second)},
		})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if m.Len() != 0 || len(fp.keys()) != 0 {
			t.Errorf("invalid targets: got %d probers and probes %v, want none", m.Len(), fp.keys())
		}
		st, ok := m.Current().Get("badspec")
		if !ok || st.Known || st.Reason != "invalid check: port: required for tcp checks" || !m.Current().Up("badspec") {
			t.Errorf("badspec: got %+v ok=%v, want listed, unknown, with the problem", st, ok)
		}
		if st, _ := m.Current().Get("noaddr"); st.Reason != "invalid check: invalid address" {
			t.Errorf("noaddr: got %+v, want reason \"invalid check: invalid address\"", st)
		}
		if !strings.Contains(logs.String(), `level=WARN msg="check invalid" component=health key=badspec`) {
			t.Errorf("log: got\n%s\nwant a check invalid warning", logs.String())
		}

		// Fixed on the next reload: probed, and the old reason is gone.
		m.Update([]Target{{Key: "badspec", Addr: netip.MustParseAddr("192.0.2.1"), Spec: tcpSpec(time.Second)}})
		if st, _ := m.Current().Get("badspec"); st.Reason != "" || m.Len() != 1 {
			t.Errorf("badspec fixed: got %+v and %d probers, want a clean pending status and 1", st, m.Len())
		}
	})
}

func TestEmptyKeyUsesDefaultKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(Options{Logger: testLogger(t), Prober: newFakeProber()})
		defer m.Close()
		tg := target("", 7, tcpSpec(time.Second))
		m.Update([]Target{tg, tg})
		if _, ok := m.Current().Get(tg.DefaultKey()); !ok || m.Len() != 1 {
			t.Errorf("got %d probers and key present=%v, want 1 prober under %q", m.Len(), ok, tg.DefaultKey())
		}
	})
}

func TestNilView(t *testing.T) {
	var v *View
	if _, ok := v.Get("x"); ok {
		t.Errorf("nil View Get: got ok, want not found")
	}
	if !v.Up("x") {
		t.Errorf("nil View Up: got false, want true")
	}
	if v.Len() != 0 {
		t.Errorf("nil View Len: got %d, want 0", v.Len())
	}
	for range v.All() {
		t.Errorf("nil View All: yielded, want nothing")
	}
}

func TestViewCopyOnWrite(t *testing.T) {
	m := New(Options{})
	v0 := m.Current()
	entries := map[string]Status{}
	for i := range 100 {
		entries[fmt.Sprint("k", i)] = Status{Known: true, Up: true}
	}
	v1 := buildView(m.seed, entries)
	v2 := v1.with("k5", Status{Known: true, Up: false})
	v3 := v2.with("new", Status{})
	if !v1.Up("k5") || v2.Up("k5") || v3.Up("k5") {
		t.Errorf("k5 up in v1, v2, v3: got %v %v %v, want true false false", v1.Up("k5"), v2.Up("k5"), v3.Up("k5"))
	}
	if v1.Len() != 100 || v2.Len() != 100 || v3.Len() != 101 || v0.Len() != 0 {
		t.Errorf("Len: got %d %d %d %d, want 0 100 100 101", v0.Len(), v1.Len(), v2.Len(), v3.Len())
	}
	seen := 0
	for k, s := range v3.All() {
		if want := entries[k]; k != "new" && k != "k5" && s != want {
			t.Errorf("%s: got %+v, want %+v", k, s, want)
		}
		seen++
	}
	if seen != 101 {
		t.Errorf("All: got %d entries, want 101", seen)
	}
}
