package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/zones"
)

// The cost of observing queries (metrics counters; query log off) on the
// query path. Run with
//
//	go test -run='^$' -bench='Respond|ObserverAB' -benchmem ./cmd/gslb/
//	go test -run='^$' -bench=UDPThroughput -benchtime=1x -count=3 ./cmd/gslb/
//
// BenchmarkRespond calls the handler directly, as the UDP readers do;
// BenchmarkObserverAB does the same for both in alternating chunks (stable
// figures on a busy machine); BenchmarkUDPThroughput sends queries over
// loopback to two whole servers, metrics on and off.

func benchQueries(b testing.TB) []struct {
	name string
	raw  []byte
	src  netip.AddrPort
} {
	b.Helper()
	mk := func(name string, qtype uint16, ecs string) []byte {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if ecs != "" {
			withECS(ecs)(m)
		}
		raw, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		return raw
	}
	src := netip.MustParseAddrPort("127.0.0.1:5353") // loopback: exempt from RRL
	return []struct {
		name string
		raw  []byte
		src  netip.AddrPort
	}{
		{"static", mk("mail.example.test.", dns.TypeA, ""), src},
		{"nxdomain", mk("nope.example.test.", dns.TypeA, ""), src},
		{"roundrobin3", mk("api.example.test.", dns.TypeA, ""), src},
		{"geo-ecs", mk("www.example.test.", dns.TypeA, "81.2.69.0/24"), src},
		{"refused", mk("elsewhere.invalid.", dns.TypeA, ""), src},
	}
}

// observedZones serves cmd/gslb's test zones and returns them with the
// server's observer (metrics on, query log off), closed at the end.
func observedZones(tb testing.TB) (*zones.Store, *observer) {
	tb.Helper()
	snap, err := zones.NewLoader(filepath.Join("testdata", "zones")).Load()
	if err != nil {
		tb.Fatal(err)
	}
	store := new(zones.Store)
	store.Replace(snap)
	m := newMetrics()
	m.update(snap)
	ql, err := newQueryLog(false, "", "text", io.Discard, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ql.close)
	return store, &observer{m: m, ql: ql}
}

// TestObservedAnswersAllocateNothing: with metrics on (query log off),
// the fast path's answers, NXDOMAIN's included, allocate nothing per query.
func TestObservedAnswersAllocateNothing(t *testing.T) {
	store, obs := observedZones(t)
	h := dnssrv.NewHandler(dnssrv.Config{Zones: store, UseECS: true, Observer: obs})
	buf := make([]byte, 0, 65535)
	for _, q := range benchQueries(t) {
		if q.name == "refused" {
			continue // the general path: not what this is about
		}
		fast := h.Stats.Fast.Load()
		if out := h.Respond(q.raw, q.src, false, buf); len(out) == 0 {
			t.Fatalf("%s: no reply", q.name)
		}
		if h.Stats.Fast.Load() != fast+1 {
			t.Fatalf("%s: not answered by the fast path", q.name)
		}
		if n := testing.AllocsPerRun(200, func() { h.Respond(q.raw, q.src, false, buf) }); n != 0 {
			t.Errorf("%s: %v allocations per query, want 0", q.name, n)
		}
	}
}

func BenchmarkRespond(b *testing.B) {
	store, obs := observedZones(b)
	handlers := []struct {
		name string
		obs  dnssrv.Observer
	}{
		{"metrics=off", nil},
		{"metrics=on", obs},
	}
	for _, q := range benchQueries(b) {
		for _, h := range handlers {
			hd := dnssrv.NewHandler(dnssrv.Config{Zones: store, UseECS: true, Observer: h.obs})
			buf := make([]byte, 0, 65535)
			b.Run(q.name+"/"+h.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if out := hd.Respond(q.raw, q.src, false, buf); len(out) == 0 {
						b.Fatal("no reply")
					}
				}
			})
		}
	}
}

// BenchmarkUDPThroughput runs two whole servers and sends queries over
// loopback to each in turn, in short rounds taken in pairs (A then B, or B
// then A) so that load from other processes hits both alike. Server A has
// metrics off (HTTP off: no observer); server B has them on (HTTP on, the
// observer counts every query), or off too in the "off-vs-off" control,
// which shows how much two identical servers differ on the machine at
// hand. It reports the median queries/s of each, and the median over the
// pairs of how much slower B was, with its interquartile range (the
// noise). Run it with -benchtime=1x: one iteration is a whole comparison.
func BenchmarkUDPThroughput(b *testing.B) {
	b.Run("off-vs-on", func(b *testing.B) { udpAB(b, true) })
	b.Run("off-vs-off", func(b *testing.B) { udpAB(b, false) })
}

func udpAB(b *testing.B, metricsB bool) {
	const (
		pairs   = 30
		roundD  = 250 * time.Millisecond
		clients = 8
	)
	addrs := [2]string{}
	for i, on := range []bool{false, metricsB} {
		cfg := testConfig(copyZones(b, filepath.Join("testdata", "zones")))
		if !on {
			cfg.HTTP = ""
		}
		ctx, cancel := context.WithCancel(context.Background())
		a, code := start(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
		if a == nil {
			cancel()
			b.Fatalf("start: %d", code)
		}
		b.Cleanup(func() { cancel(); a.close() })
		if on != (a.qlog != nil) {
			b.Fatalf("observer installed: %v, want %v", a.qlog != nil, on)
		}
		addrs[i] = a.dns.UDPAddrs()[0]
	}
	queries := benchQueries(b)
	// blast sends queries to addr from several clients for d and returns
	// the answers received per second.
	blast := func(addr string, d time.Duration) float64 {
		var total atomic.Int64
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.Dial("udp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				in := make([]byte, 1500)
				n := int64(0)
				for i := c; time.Now().Before(deadline); i++ {
					q := queries[i%len(queries)]
					_ = conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
					if _, err := conn.Write(q.raw); err != nil {
						continue
					}
					if _, err := conn.Read(in); err == nil {
						n++
					}
				}
				total.Add(n)
			}()
		}
		wg.Wait()
		return float64(total.Load()) / d.Seconds()
	}
	for b.Loop() {
		var qps [2][]float64
		var slower []float64    // per pair, percent
		blast(addrs[0], roundD) // warm up both
		blast(addrs[1], roundD)
		for r := range pairs {
			var pair [2]float64
			for k := range 2 {
				i := (r + k) % 2 // alternate which goes first
				pair[i] = blast(addrs[i], roundD)
				qps[i] = append(qps[i], pair[i])
			}
			slower = append(slower, 100*(pair[0]-pair[1])/pair[0])
		}
		b.ReportMetric(quantile(qps[0], 0.5), "queries/s-A")
		b.ReportMetric(quantile(qps[1], 0.5), "queries/s-B")
		b.ReportMetric(quantile(slower, 0.5), "%B-slower")
		b.ReportMetric(quantile(slower, 0.25), "%B-slower-p25")
		b.ReportMetric(quantile(slower, 0.75), "%B-slower-p75")
	}
}

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

// BenchmarkObserverAB compares the handler with and without the observer
// in alternating chunks of calls, keeping each side's fastest chunk: on a
// busy machine that cancels out most of the noise other processes make,
// which separate benchmark runs suffer from. It reports ns/query for both
// sides and the overhead in percent.
func BenchmarkObserverAB(b *testing.B) {
	store, obs := observedZones(b)
	off := dnssrv.NewHandler(dnssrv.Config{Zones: store, UseECS: true})
	on := dnssrv.NewHandler(dnssrv.Config{Zones: store, UseECS: true, Observer: obs})
	queries := benchQueries(b)
	buf := make([]byte, 0, 65535)
	const chunk = 256
	run := func(h *dnssrv.Handler) time.Duration {
		t0 := time.Now()
		for i := range chunk {
			q := queries[i%len(queries)]
			h.Respond(q.raw, q.src, false, buf)
		}
		return time.Since(t0)
	}
	best := [2]time.Duration{time.Hour, time.Hour}
	for b.Loop() {
		best[1] = min(best[1], run(on))
		best[0] = min(best[0], run(off))
	}
	nsOff := float64(best[0].Nanoseconds()) / chunk
	nsOn := float64(best[1].Nanoseconds()) / chunk
	b.ReportMetric(nsOff, "ns/query-off")
	b.ReportMetric(nsOn, "ns/query-on")
	b.ReportMetric(100*(nsOn-nsOff)/nsOff, "%overhead")
}
