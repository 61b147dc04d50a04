package health

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one thing to probe: an address and how to probe it.
type Target struct {
	// Key is the identity chosen by the caller. Targets with equal keys
	// share one prober and one Status; the first one given to Update wins.
	// An empty Key means t.DefaultKey().
	Key  string
	Addr netip.Addr // the probe dials Addr:Spec.Port
	Spec Spec
}

// Result is the outcome of one probe.
type Result struct {
	OK      bool
	Reason  string        // short and lowercase: "ok", "status 503", "connect: connection refused"
	Latency time.Duration // how long the probe took; 0 lets the Manager measure it
}

// Prober runs one probe. The Manager calls it with a context that expires
// after the spec's Timeout and is cancelled when the target is removed;
// Probe must return soon after the context is done, since it holds one of
// the Manager's concurrency slots until it does. t.Spec has its defaults
// filled in. Probe is called from many goroutines at once.
type Prober interface {
	Probe(ctx context.Context, t Target) Result
}

// Clock is the time source of the scheduler. Probe timeouts are context
// deadlines and follow the runtime's clock (fake inside testing/synctest).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Transition is one state change of a target.
type Transition struct {
	Key    string
	Addr   netip.Addr
	Up     bool
	At     time.Time
	Reason string // the result that caused it
}

// Options configure a Manager. The zero value is usable.
type Options struct {
	Logger        *slog.Logger // nil: discard
	Clock         Clock        // nil: the real clock
	Prober        Prober       // nil: NetProber{}
	MaxConcurrent int          // probes running at once; default 64
	History       int          // transitions kept for Recent; default 256
}

// DefaultMaxConcurrent is the default of Options.MaxConcurrent.
const DefaultMaxConcurrent = 64

// Manager runs one prober per distinct target key and publishes a View.
// Its methods are safe for concurrent use.
type Manager struct {
	log    *slog.Logger
	clock  Clock
	prober Prober
	sem    chan struct{}
	seed   maphash.Seed
	minInt time.Duration        // MinInterval; tests lower it for real-time probes
	view   atomic.Pointer[View] // written only with mu held
	wg     sync.WaitGroup
	live   atomic.Int64 // prober goroutines running, for tests

	mu      sync.Mutex
	closed  bool
	probers map[string]*run
	history []Transition // ring buffer, hnext is the next slot
	hnext   int
	hlen    int
}

// run is one prober goroutine for one key.
type run struct {
	key    string
	target Target // Spec with defaults filled in
	st     state  // guarded by Manager.mu
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Manager with no targets. Call Update to give it some and
// Close to stop it.
func New(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Prober == nil {
		o.Prober = NetProber{}
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.History <= 0 {
		o.History = 256
	}
	m := &Manager{
		log:     o.Logger.With("component", "health"),
		clock:   o.Clock,
		prober:  o.Prober,
		sem:     make(chan struct{}, o.MaxConcurrent),
		seed:    maphash.MakeSeed(),
		minInt:  MinInterval,
		probers: make(map[string]*run),
		history: make([]Transition, o.History),
	}
	m.view.Store(newView(m.seed))
	return m
}

// Current returns the latest View. It is one atomic load and never blocks.
func (m *Manager) Current() *View { return m.view.Load() }

// Len returns the number of running probers, one per distinct valid key.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.probers)
}

// Update makes ts the set of targets. Keys that stay keep their Status and
// their prober; new keys start at once (the first probe is jittered within
// one interval); keys no longer present stop, and their goroutines have
// exited when Update returns. A key whose spec changed (a caller that
// does not put every parameter in its keys) keeps its Status and restarts
// its prober with the new spec; one whose address changed starts over as
// unknown. Of several targets with one key, the first wins. Targets with
// an invalid address or spec are listed in the View with Known false and
// the problem in Reason, and are not probed. Update after Close does
// nothing.
func (m *Manager) Update(ts []Target) {
	type wanted struct {
		t   Target
		err error
	}
	want := make(map[string]wanted, len(ts))
	for _, t := range ts {
		if t.Key == "" {
			t.Key = t.DefaultKey()
		}
		if prev, dup := want[t.Key]; dup {
			if prev.t.Addr != t.Addr || !sameSpec(prev.t.Spec, t.Spec.WithDefaults()) {
				m.log.Warn("check key conflict", "key", t.Key, "addr", t.Addr, "kept_addr", prev.t.Addr)
			}
			continue
		}
		t.Spec = t.Spec.WithDefaults()
		var err error
		if !t.Addr.IsValid() {
			err = errors.New("invalid address")
		} else if verr := validateSpec(t.Spec, m.minInt); verr != nil {
			err = errors.New(strings.ReplaceAll(verr.Error(), "\n", "; "))
		}
		want[t.Key] = wanted{t, err}
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	var stopped []*run
	for key, r := range m.probers {
		w, ok := want[key]
		if !ok || w.err != nil || w.t.Addr != r.target.Addr || !sameSpec(w.t.Spec, r.target.Spec) {
			r.cancel()
			stopped = append(stopped, r)
			delete(m.probers, key)
		}
	}
	old := m.view.Load()
	entries := make(map[string]Status, len(want))
	var invalid []string
	for key, w := range want {
		st, had := old.Get(key)
		if !had || st.Addr != w.t.Addr {
			st = Status{Addr: w.t.Addr}
		}
		if w.err != nil {
			entries[key] = Status{Addr: w.t.Addr, Reason: "invalid check: " + w.err.Error()}
			invalid = append(invalid, key)
			continue
		}
		if st.Reason != "" && !st.Known {
			st.Reason = "" // was invalid before
		}
		entries[key] = st
		if _, running := m.probers[key]; running {
			continue
		}
		r := &run{key: key, target: w.t, st: newState(w.t.Spec.Rise, w.t.Spec.Fall), done: make(chan struct{})}
		r.st.known, r.st.up = st.Known, st.Up
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		m.probers[key] = r
		m.wg.Add(1)
		m.live.Add(1)
		go m.loop(ctx, r)
	}
	m.view.Store(buildView(m.seed, entries))
	running := len(m.probers)
	m.mu.Unlock()

	for _, r := range stopped {
		<-r.done
	}
	slices.Sort(invalid)
	for _, key := range invalid {
		m.log.Warn("check invalid", "key", key, "addr", want[key].t.Addr, "err", want[key].err)
	}
	m.log.Debug("checks updated", "targets", len(want), "probers", running, "stopped", len(stopped))
}

func sameSpec(a, b Spec) bool {
	return a.Type == b.Type && a.Port == b.Port && a.Path == b.Path && a.Host == b.Host &&
		slices.Equal(a.Expect, b.Expect) && a.Body == b.Body && maps.Equal(a.Headers, b.Headers) &&
		a.Insecure == b.Insecure && a.Query == b.Query && a.QueryType == b.QueryType &&
		a.Interval == b.Interval && a.Timeout == b.Timeout && a.Rise == b.Rise && a.Fall == b.Fall
}

// loop probes one target until ctx is cancelled.
func (m *Manager) loop(ctx context.Context, r *run) {
	defer m.wg.Done()
	defer close(r.done)
	defer m.live.Add(-1)
	interval := r.target.Spec.Interval
	wait := time.Duration(rand.Int64N(int64(interval))) // first probe: [0, interval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.clock.After(wait):
		}
		start := m.clock.Now()
		res, ok := m.probe(ctx, r.target)
		if !ok {
			return
		}
		end := m.clock.Now()
		if res.Latency == 0 {
			res.Latency = end.Sub(start)
		}
		m.record(r, res, end)
		// Next start is one interval ±10% after this one.
		jittered := interval - interval/10 + time.Duration(rand.Int64N(int64(interval/5)+1))
		wait = max(jittered-end.Sub(start), 0)
	}
}

// probe runs one probe within a concurrency slot. ok is false when ctx
// was cancelled (the target was removed), and the result must be dropped.
func (m *Manager) probe(ctx context.Context, t Target) (res Result, ok bool) {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return Result{}, false
	}
	defer func() { <-m.sem }()
	pctx, cancel := context.WithTimeout(ctx, t.Spec.Timeout)
	defer cancel()
	res = m.prober.Probe(pctx, t)
	if ctx.Err() != nil {
		return Result{}, false
	}
	if res.Reason == "" {
		switch {
		case res.OK:
			res.Reason = "ok"
		case errors.Is(pctx.Err(), context.DeadlineExceeded):
			res.Reason = timeoutReason(t.Spec.Timeout)
		default:
			res.Reason = "failed"
		}
	}
	return res, true
}

func timeoutReason(d time.Duration) string { return "timeout after " + d.String() }

// record applies one result to r and publishes the new View.
func (m *Manager) record(r *run, res Result, at time.Time) {
	m.mu.Lock()
	if m.closed || m.probers[r.key] != r {
		m.mu.Unlock()
		return // removed or replaced while probing
	}
	first := !r.st.known
	changed := r.st.observe(res.OK)
	old := m.view.Load()
	st, _ := old.Get(r.key)
	st.Addr = r.target.Addr
	st.Known, st.Up = true, r.st.up
	st.LastCheck, st.LastOK, st.Reason, st.Latency = at, res.OK, res.Reason, res.Latency
	if changed {
		st.Since = at
	}
	m.view.Store(old.with(r.key, st))
	// unknown → up changes nothing that is served (unknown is served as
	// up), so it is neither logged at Info nor kept in the history.
	notable := changed && !(first && st.Up)
	if notable {
		m.history[m.hnext] = Transition{Key: r.key, Addr: st.Addr, Up: st.Up, At: at, Reason: res.Reason}
		m.hnext = (m.hnext + 1) % len(m.history)
		m.hlen = min(m.hlen+1, len(m.history))
	}
	m.mu.Unlock()

	switch {
	case notable:
		msg := "check down"
		if st.Up {
			msg = "check up"
		}
		attrs := []any{"key", r.key, "addr", st.Addr, "reason", res.Reason}
		if first {
			attrs = append(attrs, "first", true)
		}
		m.log.Info(msg, attrs...)
	case m.log.Enabled(context.Background(), slog.LevelDebug):
		m.log.Debug("check result", "key", r.key, "addr", st.Addr, "ok", res.OK, "up", st.Up,
			"reason", res.Reason, "latency", res.Latency)
	}
}

// Recent returns up to n of the latest state changes, newest first. The
// first result of a target counts only when it is down (unknown → up
// changes nothing that is served).
func (m *Manager) Recent(n int) []Transition {
	m.mu.Lock()
	defer m.mu.Unlock()
	n = min(n, m.hlen)
	if n <= 0 {
		return nil
	}
	out := make([]Transition, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, m.history[(m.hnext-i+len(m.history))%len(m.history)])
	}
	return out
}

// Close stops every prober and waits for their goroutines to exit. The
// last View stays readable. Close is idempotent.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	for key, r := range m.probers {
		r.cancel()
		delete(m.probers, key)
	}
	m.mu.Unlock()
	m.wg.Wait()
}
