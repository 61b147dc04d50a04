package dns_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
)

// startServer serves testdata/ on 127.0.0.1 with the limits in cfg and
// returns the server (for its counters) and its address.
func startServer(t testing.TB, cfg dnssrv.ServerConfig) (*dnssrv.Server, string) {
	t.Helper()
	cfg.Listen = []string{"127.0.0.1:0"}
	s := dnssrv.NewServer(cfg, testHandler(t))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.UDPAddrs()[0]
}

// waitFor polls cond every 10ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// closedByServer reports whether the server closed co: a read sees EOF
// or a reset (within the connection's deadline).
func closedByServer(co *dns.Conn) bool {
	_, err := co.Conn.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || isReset(err)
}

// TestTCPPerSourceCap: past TCPMaxPerSrc connections from one address, its
// own longest-idle connection is closed; other addresses keep theirs.
func TestTCPPerSourceCap(t *testing.T) {
	s, addr := startServer(t, dnssrv.ServerConfig{TCPMaxPerSrc: 2})
	ask := func(co *dns.Conn) {
		t.Helper()
		askStatic(t, co)
		dnstest.ReadRaw(t, co)
	}
	other := tcpFrom(t, "127.0.0.3", addr)
	ask(other) // the oldest connection of all
	a1 := tcpFrom(t, "127.0.0.2", addr)
	ask(a1)
	a2 := tcpFrom(t, "127.0.0.2", addr)
	ask(a2)
	a3 := tcpFrom(t, "127.0.0.2", addr) // over the cap for 127.0.0.2
	ask(a3)
	if !closedByServer(a1) {
		t.Errorf("the oldest connection of 127.0.0.2 is still open, want it evicted")
	}
	ask(a2)
	ask(other)
	if n := s.TCPEvicted.Load(); n != 1 {
		t.Errorf("TCPEvicted = %d, want 1", n)
	}
}

// TestTCPMaxQueries: a connection is closed after TCPMaxQueries queries,
// each answered.
func TestTCPMaxQueries(t *testing.T) {
	_, addr := startServer(t, dnssrv.ServerConfig{TCPMaxQueries: 3})
	co := dnstest.Dial(t, "tcp", addr)
	for i := range 3 {
		askStatic(t, co)
		if r := dnstest.Unpack(t, dnstest.ReadRaw(t, co)); len(r.Answer) != 2 {
			t.Fatalf("query %d: %v", i+1, r)
		}
	}
	askStatic(t, co)
	if !closedByServer(co) {
		t.Errorf("fourth query: connection still open, want it closed after 3")
	}
}

// TestTCPReadTimeout: once a query has started, the rest must come within
// TCPReadTimeout, however long the idle timeout.
func TestTCPReadTimeout(t *testing.T) {
	const rt = 300 * time.Millisecond
	_, addr := startServer(t, dnssrv.ServerConfig{TCPReadTimeout: rt, TCPIdleTimeout: time.Minute})
	for _, part := range [][]byte{{0}, {0, 40}, {0, 40, 0, 1, 0}} {
		co := dnstest.Dial(t, "tcp", addr)
		if _, err := co.Conn.Write(part); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if !closedByServer(co) {
			t.Fatalf("after %x: connection not closed", part)
		}
		if took := time.Since(start); took < rt-50*time.Millisecond || took > 3*time.Second {
			t.Errorf("after %x: closed after %v, want about %v", part, took, rt)
		}
	}
}

// TestTCPWriteTimeout: a client that sends queries but never reads is
// closed once a reply has waited WriteTimeout to be written.
func TestTCPWriteTimeout(t *testing.T) {
	s, addr := startServer(t, dnssrv.ServerConfig{WriteTimeout: 300 * time.Millisecond, TCPMaxQueries: 100000, TCPIdleTimeout: time.Minute})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	raw, _ := query{q: "big.example.test. TXT"}.msg().Pack()
	frame := append([]byte{byte(len(raw) >> 8), byte(len(raw))}, raw...)
	var frames []byte
	for range 200 {
		frames = append(frames, frame...)
	}
	go func() { // ~4 KB answers for every ~40-byte query: the server blocks writing
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for range 100 {
			if _, err := c.Write(frames); err != nil {
				return
			}
		}
	}()
	if !waitFor(time.Second, func() bool { return s.TCPConns() == 1 }) {
		t.Fatalf("connection not seen")
	}
	if !waitFor(8*time.Second, func() bool { return s.TCPConns() == 0 }) {
		t.Errorf("TCPConns = %d after 8s, want the stuck connection closed", s.TCPConns())
	}
}

// raiseNOFILE raises the open-file soft limit to the hard limit, and skips
// the test when even that is below need.
func raiseNOFILE(t *testing.T, need uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if lim.Cur < need {
		old := lim.Cur
		lim.Cur = min(lim.Max, need+1024)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Skipf("open-file limit %d, need %d: setrlimit: %v", old, need, err)
		}
		t.Cleanup(func() {
			lim.Cur = old
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		})
	}
	if lim.Cur < need {
		t.Skipf("open-file hard limit %d, need %d for this test", lim.Max, need)
	}
}

// TestManyTCPConns: 2,000 TCP connections held open from 40 addresses,
// idle or slowloris (a query started and never finished): fresh TCP
// queries and every UDP query are still answered, and the server's
// goroutines stay bounded by its connection cap. Once with a cap above
// 2,000, half of them idle (all held), once with the default cap of 1,000
// and all of them slowloris (a connection part-way through a query is
// evictable, so the flood cannot pin every slot).
func TestManyTCPConns(t *testing.T) {
	const conns, sources = 2000, 40
	raiseNOFILE(t, 2*conns+500)
	for _, tt := range []struct {
		name     string
		max      int
		wantMax  int // connections open on the server at most
		slowMod2 int // connection i is slow when i%2 >= slowMod2
	}{
		{"cap 3000, half slowloris, all held", 3000, conns, 1},
		{"default cap 1000, all slowloris", 0, 1000, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			s, addr := startServer(t, dnssrv.ServerConfig{TCPMaxConns: tt.max, TCPReadTimeout: time.Minute, TCPIdleTimeout: time.Minute})
			partial := []byte{0, 40, 0, 1, 0, 0} // 6 of 42 bytes
			var held []net.Conn
			var mu sync.Mutex
			var wg sync.WaitGroup
			errs := make(chan error, sources)
			for src := range sources {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+src))}, Timeout: 5 * time.Second}
					for i := range conns / sources {
						c, err := d.Dial("tcp", addr)
						if err != nil {
							errs <- fmt.Errorf("dial %d from source %d: %w", i, src, err)
							return
						}
						mu.Lock()
						held = append(held, c)
						mu.Unlock()
						if i%2 >= tt.slowMod2 {
							if _, err := c.Write(partial); err != nil {
								errs <- err
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			t.Cleanup(func() {
				for _, c := range held {
					c.Close()
				}
			})
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			want := min(conns, tt.wantMax)
			if !waitFor(5*time.Second, func() bool { return s.TCPConns() == want }) {
				t.Fatalf("server has %d connections, want %d", s.TCPConns(), want)
			}
			// Fresh queries, each on a new connection, and UDP.
			for i := range 20 {
				r, _ := dnstest.Exchange(t, "tcp", addr, query{q: "static.example.test. A"}.msg())
				if len(r.Answer) != 2 {
					t.Fatalf("fresh TCP query %d: %v", i, r)
				}
			}
			for i := range 200 {
				r, _ := dnstest.Exchange(t, "udp", addr, query{q: "static.example.test. A"}.msg())
				if len(r.Answer) != 2 {
					t.Fatalf("UDP query %d: %v", i, r)
				}
			}
			// One goroutine per open connection (the fresh ones stay open
			// until the test ends), plus the readers and the acceptor.
			if g, limit := runtime.NumGoroutine()-base, tt.wantMax+20+runtime.GOMAXPROCS(0)+10; g > limit {
				t.Errorf("%d goroutines above the %d before, want at most %d", g, base, limit)
			}
			if tt.max == 0 && s.TCPEvicted.Load() < conns-1000 {
				t.Errorf("TCPEvicted = %d, want at least %d", s.TCPEvicted.Load(), conns-1000)
			}
			t.Logf("%d connections held, %d evicted, %d goroutines", s.TCPConns(), s.TCPEvicted.Load(), runtime.NumGoroutine())
		})
	}
}
