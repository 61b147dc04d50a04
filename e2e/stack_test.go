package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/health"
	"github.com/gslb/gslb/internal/probes"
	"github.com/gslb/gslb/zones"
)

// Check timing of every test zone: interval = "1s", timeout = "500ms",
// rise = 2, fall = 2. Deadlines are computed from it; elapsed time is
// never asserted.
const (
	interval = time.Second
	timeout  = 500 * time.Millisecond
	rise     = 2
	fall     = 2
)

// within is how long a test waits for n probes in a row to decide
// something: n intervals (each up to 10% late, and the first jittered by
// up to one interval) plus a timeout, three times over plus slack, so a
// loaded machine under -race does not make the test flaky. It is a
// deadline, never an expectation.
func within(n int) time.Duration {
	detect := time.Duration(n+1)*interval*11/10 + timeout
	return 3*detect + 2*time.Second
}

// steady is how long an answer must hold once reached: more than one
// interval, so at least one more probe of every target lands in it.
const steady = 3 * interval / 2

// net24 returns the loopback network 127.0.block (all of 127.0.0.0/8
// reaches lo on Linux). Each test uses its own block, so tests running in
// parallel never share an address.
func net24(block int) string { return "127.0." + strconv.Itoa(block) }

// host returns the address n24.h.
func host(n24 string, h int) netip.Addr { return netip.MustParseAddr(n24 + "." + strconv.Itoa(h)) }

// ---- the stack ----------------------------------------------------------

// stack is what `gslb serve` wires together, minus the watcher: a zones
// directory, the Store, a health.Manager with the real NetProber, the DNS
// handler reading both, and a DNS server on 127.0.0.1:0.
type stack struct {
	dir   string
	store zones.Store
	mgr   *health.Manager
	dns   string // the DNS server's address
}

// newStack writes files (name → content) into a temporary zones
// directory, loads them and starts everything; t.Cleanup stops it.
func newStack(t *testing.T, files map[string]string) *stack {
	t.Helper()
	s := &stack{dir: t.TempDir()}
	for name, content := range files {
		s.write(t, name, content)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	s.mgr = health.New(health.Options{Logger: log})
	t.Cleanup(s.mgr.Close) // after the server has stopped (cleanups run last-in first-out)
	s.reload(t)
	h := dnssrv.NewHandler(dnssrv.Config{
		Zones:  &s.store,
		Health: func() dnssrv.HealthView { return s.mgr.Current() },
		Log:    log.With("component", "dns"),
	})
	s.dns = dnstest.Start(t, h)
	return s
}

// write replaces a zone file.
func (s *stack) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reload does what cmd/gslb does on a file change: load and validate
// every file, publish the snapshot, then hand the targets to the health
// manager. A zone file error fails the test.
func (s *stack) reload(t *testing.T) *zones.Snapshot {
	t.Helper()
	zs, err := zones.LoadPaths(s.dir)
	if err != nil {
		t.Fatalf("load zones: %v", err)
	}
	snap, dups := zones.NewSnapshot(zs, time.Now())
	if len(dups) > 0 {
		t.Fatalf("build snapshot: %v", dups)
	}
	s.store.Replace(snap)
	s.mgr.Update(probes.Targets(snap))
	return snap
}

// key returns the health key of addr in the pool that answers name.
func (s *stack) key(t *testing.T, name string, addr netip.Addr) string {
	t.Helper()
	snap := s.store.Current()
	z := snap.Find(strings.ToLower(name))
	if z == nil || z.Nodes[strings.ToLower(name)] == nil || z.Nodes[strings.ToLower(name)].Pool == nil {
		t.Fatalf("no pool named %s", name)
	}
	for _, e := range z.Nodes[strings.ToLower(name)].Pool.Endpoints {
		if e.Addr == addr {
			if e.CheckKey == "" {
				t.Fatalf("%s in %s has no check", addr, name)
			}
			return e.CheckKey
		}
	}
	t.Fatalf("%s is not an endpoint of %s", addr, name)
	return ""
}

// status returns the health status of key; ok is false when the current
// view does not list it.
func (s *stack) status(key string) (health.Status, bool) { return s.mgr.Current().Get(key) }

// statusIs describes a status for messages.
func statusIs(st health.Status, ok bool) string {
	switch {
	case !ok:
		return "not in the view"
	case !st.Known:
		return "unknown (" + st.Reason + ")"
	case st.Up:
		return "up (" + st.Reason + ")"
	}
	return "down (" + st.Reason + ")"
}

// waitStatus waits until cond holds for the status of each key.
func (s *stack) waitStatus(t *testing.T, what string, d time.Duration, cond func(health.Status) bool, keys ...string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var bad []string
		for _, k := range keys {
			st, ok := s.status(k)
			if !ok || !cond(st) {
				bad = append(bad, fmt.Sprintf("%s: %s", st.Addr, statusIs(st, ok)))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, want every target %s, got %s", d, what, strings.Join(bad, "; "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func knownUp(st health.Status) bool   { return st.Known && st.Up }
func knownDown(st health.Status) bool { return st.Known && !st.Up }

// transitions returns the manager's recorded state changes of key,
// oldest first.
func (s *stack) transitions(key string) []health.Transition {
	var out []health.Transition
	for _, tr := range s.mgr.Recent(1 << 20) {
		if tr.Key == key {
			out = append(out, tr)
		}
	}
	slices.Reverse(out)
	return out
}

// ---- DNS ----------------------------------------------------------------

// query asks the server "NAME TYPE" over UDP (no RD, no EDNS) and returns
// the reply as dig shows it, sections sorted.
func (s *stack) query(q string) (dnstest.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(dnstest.Query(q), s.dns)
	if err != nil {
		return dnstest.Msg{}, err
	}
	return dnstest.Render(r).Sorted(), nil
}

// answer is the reply we expect to "NAME A": NOERROR, authoritative, and
// exactly the given A records (as zone text).
func answer(name string, rrs ...string) dnstest.Msg {
	m := dnstest.Msg{Rcode: "NOERROR", Opcode: "QUERY", Flags: "qr aa", Question: []string{name + " IN A"}}
	m.Answer = slices.Sorted(slices.Values(rrs))
	return m
}

// a renders the A record of addr in pool name with ttl.
func a(name string, ttl int, addr netip.Addr) string {
	return fmt.Sprintf("%s %d IN A %s", name, ttl, addr)
}

// as renders the A records of addrs in pool name with ttl.
func as(name string, ttl int, addrs ...netip.Addr) []string {
	var out []string
	for _, x := range addrs {
		out = append(out, a(name, ttl, x))
	}
	return out
}

// waitAnswer queries each wanted name/A until its reply is the one
// wanted, and then checks that every reply stays so for the steady period
// (at least one more probe of every target).
func (s *stack) waitAnswer(t *testing.T, d time.Duration, wants ...dnstest.Msg) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, want := range wants {
		q := qname(want)
		for {
			got, err := s.query(q)
			if err == nil && got.Equal(want) {
				break
			}
			if time.Now().After(deadline) {
				if err != nil {
					t.Fatalf("%s: after %s, last query failed: %v\nwant:\n%s", q, d, err, want)
				}
				t.Fatalf("%s: after %s, got:\n%swant:\n%s", q, d, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	s.holds(t, steady, wants...)
}

// holds queries each wanted name/A for d and fails on the first reply
// that is not the one wanted.
func (s *stack) holds(t *testing.T, d time.Duration, wants ...dnstest.Msg) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for _, want := range wants {
			q := qname(want)
			got, err := s.query(q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if !got.Equal(want) {
				t.Fatalf("%s: the answer changed after it was reached; got:\n%swant:\n%s", q, got, want)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// qname turns the question of a wanted reply back into a query.
func qname(want dnstest.Msg) string { return strings.TrimSuffix(want.Question[0], " IN A") + " A" }

// expectNow asserts one reply, with no waiting.
func (s *stack) expectNow(t *testing.T, want dnstest.Msg) {
	t.Helper()
	q := qname(want)
	got, err := s.query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if !got.Equal(want) {
		t.Fatalf("%s: got:\n%swant:\n%s", q, got, want)
	}
}

// ---- zone files -----------------------------------------------------------

// zoneFile renders testdata/NAME.tmpl with data.
func zoneFile(t *testing.T, name string, data any) string {
	t.Helper()
	tm, err := template.ParseFiles(filepath.Join("testdata", name+".tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tm.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// ---- backends ---------------------------------------------------------------

// freePort returns a listener on addr:0, whose port the test then uses on
// its other addresses too (a check has one port for every endpoint).
func freePort(t *testing.T, addr netip.Addr) (net.Listener, uint16) {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatalf("listen on %s (is 127.0.0.0/8 routed to lo?): %v", addr, err)
	}
	return ln, uint16(ln.Addr().(*net.TCPAddr).Port)
}

// backend is an HTTP server on one address that a test stops and starts.
type backend struct {
	addr netip.AddrPort
	h    http.Handler

	mu   sync.Mutex
	srv  *http.Server
	done chan struct{} // closed when Serve returns
}

// newBackend serves h on addr (taking over ln when it is not nil, else
// listening anew). t.Cleanup stops it.
func newBackend(t *testing.T, addr netip.AddrPort, ln net.Listener, h http.Handler) *backend {
	t.Helper()
	b := &backend{addr: addr, h: h}
	b.serve(t, ln)
	t.Cleanup(b.stop)
	return b
}

// ok answers 200 "ok".
var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })

func (b *backend) serve(t *testing.T, ln net.Listener) {
	t.Helper()
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", b.addr.String())
		if err != nil {
			t.Fatalf("listen on %s: %v", b.addr, err)
		}
	}
	srv := &http.Server{Handler: b.h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve %s: %v", b.addr, err)
		}
	}()
	b.mu.Lock()
	b.srv, b.done = srv, done
	b.mu.Unlock()
}

// start listens on the same address again.
func (b *backend) start(t *testing.T) {
	t.Helper()
	b.serve(t, nil)
}

// stop closes the listener and every connection and waits for Serve to
// return. Stopping a stopped backend does nothing.
func (b *backend) stop() {
	b.mu.Lock()
	srv, done := b.srv, b.done
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-done
}

// closer accepts TCP connections on ln and closes them at once, without
// reading or writing anything. t.Cleanup stops it.
func closer(t *testing.T, ln net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
}

// listen listens on addr, failing the test otherwise.
func listen(t *testing.T, addr netip.AddrPort) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	return ln
}

// ---- goroutines -------------------------------------------------------------

// probers counts the goroutines running a health prober loop. Only
// meaningful in a test that does not run in parallel with others.
func probers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return bytes.Count(buf, []byte("github.com/gslb/gslb/health.(*Manager).loop("))
}

// quietGoroutines is the fewest goroutines seen over a short window:
// probes start and end goroutines of their own, so one sample may catch
// one in flight.
func quietGoroutines() int {
	least := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(25 * time.Millisecond)
		least = min(least, runtime.NumGoroutine())
	}
	return least
}
