package dns_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/zones"
)

func testHandler(t testing.TB) *dnssrv.Handler {
	var store zones.Store
	store.Replace(loadSnapshot(t))
	return dnssrv.NewHandler(dnssrv.Config{Zones: &store})
}

// TestServerClose: Close returns promptly with connections open, idle or
// half-way through a query, and those connections see EOF.
func TestServerClose(t *testing.T) {
	s := dnssrv.NewServer(dnssrv.ServerConfig{Listen: []string{"127.0.0.1:0"}}, testHandler(t))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.UDPAddrs()[0]
	idle := dnstest.Dial(t, "tcp", addr)
	busy := dnstest.Dial(t, "tcp", addr)
	// Both are being served once a query on each is answered.
	for _, co := range []*dns.Conn{idle, busy} {
		askStatic(t, co)
		dnstest.ReadRaw(t, co)
	}
	if _, err := busy.Conn.Write([]byte{0}); err != nil { // the first byte of a length
		t.Fatal(err)
	}
	done := make(chan struct{})
	start := time.Now()
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close still waiting after 3s")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	for _, co := range []*dns.Conn{idle, busy} {
		if _, err := co.Conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("read after Close: %v, want EOF", err)
		}
	}
}

// askStatic writes a query for static.example.test. A on co.
func askStatic(t testing.TB, co *dns.Conn) {
	t.Helper()
	raw, _ := query{q: "static.example.test. A"}.msg().Pack()
	if _, err := co.Write(raw); err != nil {
		t.Fatal(err)
	}
}

// TestTCPConnCap: past TCPMaxConns the longest-idle connection is closed
// to make room.
func TestTCPConnCap(t *testing.T) {
	s := dnssrv.NewServer(dnssrv.ServerConfig{Listen: []string{"127.0.0.1:0"}, TCPMaxConns: 2}, testHandler(t))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := s.UDPAddrs()[0]
	ask := func(co *dns.Conn) { askStatic(t, co) }
	first := dnstest.Dial(t, "tcp", addr)
	ask(first)
	dnstest.ReadRaw(t, first)
	second := dnstest.Dial(t, "tcp", addr)
	ask(second)
	dnstest.ReadRaw(t, second)
	third := dnstest.Dial(t, "tcp", addr)
	ask(third)
	dnstest.ReadRaw(t, third) // served: the cap made room
	if _, err := first.Conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("oldest connection: read %v, want EOF (evicted)", err)
	}
	ask(second)
	dnstest.ReadRaw(t, second) // still open
	if n := s.TCPEvicted.Load(); n != 1 {
		t.Errorf("TCPEvicted = %d, want 1", n)
	}
}
