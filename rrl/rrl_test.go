package rrl

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake time source that tests move by hand.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newLimiter(t testing.TB, mod func(*Config)) (*Limiter, *clock) {
	t.Helper()
	c := DefaultConfig()
	if mod != nil {
		mod(&c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	clk.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return New(c, clk.now), clk
}

var ip = netip.MustParseAddr

// pattern runs n Checks at the current time and returns them as a string
// of S (send), T (slip: truncated) and D (drop).
func pattern(l *Limiter, src netip.Addr, c Class, name uint64, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "STD"[l.Check(src, c, name)]
	}
	return string(b)
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func TestBelowRateAlwaysSends(t *testing.T) {
	l, clk := newLimiter(t, nil)
	src := ip("192.0.2.1")
	// 199 responses a second, evenly spaced, for 30 seconds.
	for i := range 30 * 199 {
		if a := l.Check(src, Answer, 1); a != Send {
			t.Fatalf("response %d at 199/s: got %v, want send", i, a)
		}
		clk.advance(time.Second / 199)
	}
	if s := l.Stats(); s.Limited != 0 || s.Checked != 30*199 {
		t.Fatalf("stats: got %+v, want %d checked and none limited", s, 30*199)
	}
}

func TestBurstSlipPattern(t *testing.T) {
	tests := []struct {
		slip int
		want string // the 12 responses after the first 200
	}{
		{slip: 2, want: "TDTDTDTDTDTD"},
		{slip: 1, want: "TTTTTTTTTTTT"},
		{slip: 0, want: "DDDDDDDDDDDD"},
		{slip: 3, want: "TDDTDDTDDTDD"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("slip=%d", tt.slip), func(t *testing.T) {
			l, _ := newLimiter(t, func(c *Config) { c.Slip = tt.slip })
			got := pattern(l, ip("192.0.2.1"), Answer, 1, 212)
			if want := repeat("S", 200) + tt.want; got != want {
				t.Fatalf("212 responses at one instant, slip %d:\ngot  %s\nwant %s", tt.slip, got, want)
			}
			s := l.Stats()
			if s.Limited != 12 || s.Slipped+s.Dropped != 12 {
				t.Fatalf("stats: got %+v, want 12 limited", s)
			}
		})
	}
}

func TestCreditRefills(t *testing.T) {
	l, clk := newLimiter(t, nil)
	src := ip("192.0.2.1")
	if got := pattern(l, src, Answer, 1, 201); got != repeat("S", 200)+"T" {
		t.Fatalf("first burst: got %s", got)
	}
	// 100 ms later: 20 responses' worth of credit came back, less the
	// one the limited response cost. The key never got back to full
	// credit, so the run of limiting goes on where it was: D, then T.
	clk.advance(100 * time.Millisecond)
	if got, want := pattern(l, src, Answer, 1, 21), repeat("S", 19)+"D"+"T"; got != want {
		t.Fatalf("after 100ms: got %s, want %s", got, want)
	}
	// A full second later (plus the debt of the two limited ones):
	// full credit again, and the slip count starts over.
	clk.advance(time.Second + 2*time.Second/200)
	if got, want := pattern(l, src, Answer, 1, 201), repeat("S", 200)+"T"; got != want {
		t.Fatalf("after 1s: got %s, want %s", got, want)
	}
}

// A key that keeps flooding is limited until its demand has stayed under
// the rate long enough to pay its debt, at most Window after it stops.
func TestWindowDebt(t *testing.T) {
	l, clk := newLimiter(t, nil) // 200/s, window 15s
	src := ip("192.0.2.1")
	for range 3 * 2000 { // 2000 qps for 3 s
		l.Check(src, Answer, 1)
		clk.advance(time.Second / 2000)
	}
	// The debt is capped at 15 s × 200 = 3000 responses: 5 s of
	// silence pays 1000 of it, not all.
	clk.advance(5 * time.Second)
	if a := l.Check(src, Answer, 1); a == Send {
		t.Fatalf("5s after a flood: got %v, want limited", a)
	}
	clk.advance(15 * time.Second)
	if got := pattern(l, src, Answer, 1, 200); got != repeat("S", 200) {
		t.Fatalf("a window after the flood: got %s, want 200 sends", got)
	}
}

// sharing tells, for two sources, classes and names, whether they share
// one allowance: exhaust the first, then see whether the second is limited.
func TestKeys(t *testing.T) {
	type q struct {
		src   string
		class Class
		name  uint64
	}
	tests := []struct {
		name  string
		a, b  q
		share bool
	}{
		{"same /24, other host", q{"192.0.2.1", Answer, 1}, q{"192.0.2.200", Answer, 1}, true},
		{"other /24", q{"192.0.2.1", Answer, 1}, q{"192.0.3.1", Answer, 1}, false},
		{"IPv4-mapped IPv6 is the IPv4 address", q{"192.0.2.1", Answer, 1}, q{"::ffff:192.0.2.9", Answer, 1}, true},
		{"same /56", q{"2001:db8:0:100::1", Answer, 1}, q{"2001:db8:0:1ff:ffff::1", Answer, 1}, true},
		{"other /56", q{"2001:db8:0:100::1", Answer, 1}, q{"2001:db8:0:200::1", Answer, 1}, false},
		{"other class", q{"192.0.2.1", Answer, 1}, q{"192.0.2.1", NXDomain, 1}, false},
		{"other name", q{"192.0.2.1", Answer, 1}, q{"192.0.2.1", Answer, 2}, false},
		{"IPv4 0.0.0.0/24 is not IPv6 ::/56", q{"0.0.0.1", Error, 0}, q{"::2", Error, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLimiter(t, nil)
			pattern(l, ip(tt.a.src), tt.a.class, tt.a.name, 200)
			got := l.Check(ip(tt.b.src), tt.b.class, tt.b.name) != Send
			if got != tt.share {
				t.Fatalf("%+v after 200 to %+v: limited %v, want %v", tt.b, tt.a, got, tt.share)
			}
		})
	}
}

func TestPrefixLengths(t *testing.T) {
	l, _ := newLimiter(t, func(c *Config) { c.IPv4Prefix, c.IPv6Prefix = 32, 64 })
	pattern(l, ip("192.0.2.1"), Answer, 1, 200)
	if a := l.Check(ip("192.0.2.2"), Answer, 1); a != Send {
		t.Fatalf("/32: neighbour got %v, want send", a)
	}
	pattern(l, ip("2001:db8::1"), Answer, 1, 200)
	if a := l.Check(ip("2001:db8::ffff:1"), Answer, 1); a == Send {
		t.Fatalf("/64: same /64 got %v, want limited", a)
	}
	if a := l.Check(ip("2001:db8:0:1::1"), Answer, 1); a != Send {
		t.Fatalf("/64: next /64 got %v, want send", a)
	}
}

func TestExempt(t *testing.T) {
	tests := []struct {
		name    string
		exempt  []netip.Prefix
		src     string
		limited bool
	}{
		{"default: 127.0.0.1", nil, "127.0.0.1", false},
		{"default: 127.1.2.3", nil, "127.1.2.3", false},
		{"default: ::1", nil, "::1", false},
		{"default: ::ffff:127.0.0.1", nil, "::ffff:127.0.0.1", false},
		{"default: other", nil, "192.0.2.1", true},
		{"configured", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, "192.0.2.1", false},
		{"configured replaces loopback", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, "127.0.0.1", true},
		{"empty: nothing exempt", []netip.Prefix{}, "::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLimiter(t, func(c *Config) { c.Exempt = tt.exempt })
			got := pattern(l, ip(tt.src), Answer, 1, 1000)
			if limited := got != repeat("S", 1000); limited != tt.limited {
				t.Fatalf("1000 at once from %s: limited %v, want %v", tt.src, limited, tt.limited)
			}
			if s := l.Stats(); !tt.limited && s.Exempt != 1000 {
				t.Fatalf("stats: got %+v, want 1000 exempt", s)
			}
		})
	}
}

// Exempt says yes for exempt sources and with limiting off, counting the
// response as Check would; for any other source it says no and counts
// nothing (Check then counts it).
func TestExemptShortcut(t *testing.T) {
	for _, tt := range []struct {
		name         string
		rate         int
		src          string
		want         bool
		checked, exm uint64
	}{
		{"loopback", 200, "127.0.0.1", true, 1, 1},
		{"other", 200, "192.0.2.1", false, 0, 0},
		{"limiting off", 0, "192.0.2.1", true, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLimiter(t, func(c *Config) { c.ResponsesPerSecond = tt.rate })
			if got := l.Exempt(ip(tt.src)); got != tt.want {
				t.Fatalf("Exempt(%s) = %v, want %v", tt.src, got, tt.want)
			}
			if s := l.Stats(); s.Checked != tt.checked || s.Exempt != tt.exm {
				t.Fatalf("stats after Exempt: %+v, want %d checked, %d exempt", s, tt.checked, tt.exm)
			}
			if !tt.want {
				l.Check(ip(tt.src), Answer, 1)
				if s := l.Stats(); s.Checked != 1 || s.Exempt != 0 {
					t.Fatalf("stats after Check: %+v, want 1 checked, 0 exempt", s)
				}
			}
		})
	}
}

func TestLogOnly(t *testing.T) {
	l, _ := newLimiter(t, func(c *Config) { c.LogOnly = true })
	if got := pattern(l, ip("192.0.2.1"), Answer, 1, 500); got != repeat("S", 500) {
		t.Fatalf("log only: got %s, want all sends", got)
	}
	if s := l.Stats(); s.WouldLimit != 300 || s.Limited != 0 || s.Checked != 500 {
		t.Fatalf("stats: got %+v, want 300 would-limit, 0 limited, 500 checked", s)
	}
}

func TestDisabled(t *testing.T) {
	l, _ := newLimiter(t, func(c *Config) { c.ResponsesPerSecond = 0 })
	if got := pattern(l, ip("192.0.2.1"), Answer, 1, 5000); got != repeat("S", 5000) {
		t.Fatal("rate 0: a response was limited")
	}
	if s := l.Stats(); s.Checked != 5000 || s.Limited != 0 || s.Exempt != 0 {
		t.Fatalf("stats: got %+v", s)
	}
}

// Concurrent Checks on one key at one instant lose no update: exactly one
// second's worth is sent and the slip pattern holds across goroutines.
func TestConcurrentExact(t *testing.T) {
	l, _ := newLimiter(t, nil)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			src := netip.AddrFrom4([4]byte{192, 0, 2, byte(g)})
			for range 1000 {
				if l.Check(src, Answer, 7) == Send {
					sent.Add(1)
				}
			}
		})
	}
	wg.Wait()
	s := l.Stats()
	if sent.Load() != 200 || s.Limited != 7800 || s.Slipped != 3900 || s.Dropped != 3900 {
		t.Fatalf("8×1000 at one instant: sent %d, stats %+v; want 200 sent, 3900 slipped, 3900 dropped", sent.Load(), s)
	}
}

// A million spoofed sources (100,000 under -race), each from its own /24, do not grow the table
// or the heap, and a legitimate source keeps its rate throughout.
func TestTableBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("1M checks")
	}
	l, clk := newLimiter(t, nil)
	size := l.Buckets()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	legit := ip("198.51.100.7")
	const spoofed, seconds = spoofedSources, 10
	step := seconds * time.Second / spoofed
	for i := range spoofed {
		// 11.0.0.0 + i<<8: a distinct /24 per source, none exempt.
		v := uint32(0x0b000000) + uint32(i)<<8
		src := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(i)})
		l.Check(src, Answer, uint64(i))
		if i%1000 == 0 { // 100 legitimate queries a second
			if a := l.Check(legit, Answer, 1); a != Send {
				t.Fatalf("legitimate source after %d spoofed: got %v, want send", i, a)
			}
		}
		clk.advance(step)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if l.Buckets() != size || len(l.sets)*2 != DefaultTableSize {
		t.Fatalf("table: %d buckets, want %d", l.Buckets(), DefaultTableSize)
	}
	if growth > 2<<20 {
		t.Fatalf("heap grew %d bytes over %d spoofed sources, want < 2 MiB", growth, spoofed)
	}
	// A source from another prefix still gets its full second.
	other := ip("203.0.113.9")
	if got := pattern(l, other, Answer, 1, 201); got != repeat("S", 200)+"T" {
		t.Fatalf("fresh prefix after the spray: got %s", got)
	}
	s := l.Stats()
	t.Logf("%d spoofed sources: table %d buckets, heap growth %d bytes, evicted %d live buckets, stats %+v",
		spoofed, l.Buckets(), growth, s.Evicted, s)
}

// The figures quoted in docs/rrl-and-cookies.md: one /24 sends 2000
// queries a second for 10 s (hosts .1 to .250 in turn, one name) at the
// defaults (200/s, slip 2, window 15 s).
func TestSimulationFlood(t *testing.T) {
	l, clk := newLimiter(t, nil)
	const qps, seconds = 2000, 10
	var sent, slipped, dropped int
	for i := range qps * seconds {
		src := netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%250)})
		switch l.Check(src, Answer, 42) {
		case Send:
			sent++
		case Slip:
			slipped++
		case Drop:
			dropped++
		}
		clk.advance(time.Second / qps)
	}
	limited := slipped + dropped
	t.Logf("2000 qps from one /24 for 10 s at 200/s, slip 2: sent %d, limited %d (slipped %d, dropped %d)",
		sent, limited, slipped, dropped)
	// The first second's credit (200) plus what flows back before the
	// debt starts (200/s × 200/1800 s ≈ 22); then only slips.
	if sent < 200 || sent > 230 {
		t.Errorf("sent %d, want 200..230 (one second of credit, then nothing while flooded)", sent)
	}
	if d := slipped - dropped; d < 0 || d > 1 {
		t.Errorf("slipped %d, dropped %d: want half of the limited each", slipped, dropped)
	}
	if s := l.Stats(); s.Slipped != uint64(slipped) || s.Dropped != uint64(dropped) || s.Checked != qps*seconds {
		t.Errorf("stats %+v disagree with the counts", s)
	}
}

// Under the rate nothing changes; at the rate exactly, nothing is limited.
func TestSimulationSteady(t *testing.T) {
	for _, qps := range []int{50, 200} {
		l, clk := newLimiter(t, nil)
		for range qps * 10 {
			l.Check(ip("192.0.2.1"), Answer, 42)
			clk.advance(time.Second / time.Duration(qps))
		}
		if s := l.Stats(); s.Limited != 0 {
			t.Errorf("%d qps for 10 s: %d limited, want 0", qps, s.Limited)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"zero config", func(c *Config) { *c = Config{} }, true},
		{"negative rate", func(c *Config) { c.ResponsesPerSecond = -1 }, false},
		{"slip 11", func(c *Config) { c.Slip = 11 }, false},
		{"window 500ms", func(c *Config) { c.Window = 500 * time.Millisecond }, false},
		{"window 2h", func(c *Config) { c.Window = 2 * time.Hour }, false},
		{"ipv4 prefix 33", func(c *Config) { c.IPv4Prefix = 33 }, false},
		{"ipv6 prefix 129", func(c *Config) { c.IPv6Prefix = 129 }, false},
		{"table too big", func(c *Config) { c.TableSize = 1 << 25 }, false},
		{"invalid exempt prefix", func(c *Config) { c.Exempt = []netip.Prefix{{}} }, false},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.mod(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: got %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestTableSizeRounding(t *testing.T) {
	for _, tt := range []struct{ in, want int }{{0, 65536}, {1, 2}, {3, 4}, {1000, 1024}, {65536, 65536}} {
		l := New(Config{ResponsesPerSecond: 1, TableSize: tt.in}, nil)
		if got := l.Buckets(); got != tt.want {
			t.Errorf("TableSize %d: got %d buckets, want %d", tt.in, got, tt.want)
		}
	}
}

func TestCheckAllocs(t *testing.T) {
	l, _ := newLimiter(t, nil)
	for _, src := range []netip.Addr{ip("192.0.2.1"), ip("2001:db8::1"), ip("127.0.0.1")} {
		if n := testing.AllocsPerRun(1000, func() { l.Check(src, Answer, 1) }); n != 0 {
			t.Errorf("Check(%v): %v allocs, want 0", src, n)
		}
	}
	if n := testing.AllocsPerRun(1000, func() { l.HashName("www.example.test.") }); n != 0 {
		t.Errorf("HashName: %v allocs, want 0", n)
	}
}

func TestHashName(t *testing.T) {
	l, _ := newLimiter(t, nil)
	if l.HashName("a.example.test.") == l.HashName("b.example.test.") {
		t.Fatal("two names hash alike")
	}
	if l.HashName("a.example.test.") != l.HashName("a.example.test.") {
		t.Fatal("a name hashes differently twice")
	}
}

func BenchmarkCheck(b *testing.B) {
	srcs := make([]netip.Addr, 4096)
	for i := range srcs {
		srcs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
	}
	b.Run("single-key", func(b *testing.B) {
		l := New(DefaultConfig(), nil)
		src := ip("192.0.2.1")
		b.ReportAllocs()
		for b.Loop() {
			l.Check(src, Answer, 1)
		}
	})
	b.Run("single-key-fixed-clock", func(b *testing.B) {
		// Without time.Now, which costs ~70 ns on some VMs.
		t0 := time.Now()
		l := New(DefaultConfig(), func() time.Time { return t0 })
		src := ip("192.0.2.1")
		b.ReportAllocs()
		for b.Loop() {
			l.Check(src, Answer, 1)
		}
	})
	b.Run("many-keys", func(b *testing.B) {
		l := New(DefaultConfig(), nil)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Check(srcs[i&4095], Answer, 1)
			i++
		}
	})
	b.Run("ipv6", func(b *testing.B) {
		l := New(DefaultConfig(), nil)
		src := ip("2001:db8:220:1:59de:d0f4:8769:82b8")
		b.ReportAllocs()
		for b.Loop() {
			l.Check(src, Answer, 1)
		}
	})
	b.Run("exempt", func(b *testing.B) {
		l := New(DefaultConfig(), nil)
		src := ip("127.0.0.1")
		b.ReportAllocs()
		for b.Loop() {
			l.Check(src, Answer, 1)
		}
	})
	b.Run("parallel-many-keys", func(b *testing.B) {
		l := New(DefaultConfig(), nil)
		var next atomic.Uint32
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 1024
			for pb.Next() {
				l.Check(srcs[i&4095], Answer, 1)
				i++
			}
		})
	})
	b.Run("parallel-single-key", func(b *testing.B) {
		l := New(DefaultConfig(), nil)
		src := ip("192.0.2.1")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Check(src, Answer, 1)
			}
		})
	})
}
