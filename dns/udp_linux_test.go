package dns_test

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/zones"
)

// TestUDPReadersHoldProcs: each Linux UDP reader waits in the kernel on a
// P of its own, so the server adds one P per reader and gives them back on
// Close; readers waiting with no traffic do not hold up the runtime's
// stop-the-world phases (a signal or the receive timeout brings them back
// to a safe point), and the server answers after them. Not parallel: it
// reads GOMAXPROCS, which other tests' servers change.
func TestUDPReadersHoldProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	s := dnssrv.NewServer(dnssrv.ServerConfig{Listen: []string{"127.0.0.1:0"}, UDPReaders: 3}, testHandler(t))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Errorf("GOMAXPROCS %d with 3 readers started, want %d", got, before+3)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for range 20 {
			runtime.GC()              // stops the world twice
			runtime.ReadMemStats(&ms) // and once more
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("20 garbage collections with idle readers not done after 20 s")
	}

	r, _ := dnstest.Exchange(t, "udp", s.UDPAddrs()[0], dnstest.Query("static.example.test. A"))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
		t.Errorf("after the collections: %s", dnstest.Render(r))
	}

	s.Close()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS %d after Close, want %d", got, before)
	}
	s.Close() // a second Close gives nothing back twice
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS %d after a second Close, want %d", got, before)
	}
}

// TestUDPReplyFromQueriedAddress: a server bound to a wildcard address
// answers over UDP from the address the query was sent to (IP_PKTINFO),
// so a resolver that asked one address of a host with several gets its
// reply; a connected client socket, as here, drops a reply from any other
// address. 127.0.0.2 is a second loopback address (all of 127/8 is on lo);
// the reply must equal the one over TCP, which needs no help.
func TestUDPReplyFromQueriedAddress(t *testing.T) {
	v6 := true
	if c, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		v6 = false
		t.Logf("no IPv6 loopback (%v): IPv6 cases not run", err)
	} else {
		c.Close()
	}
	for _, c := range []struct {
		listen, ask string
		readers     int
		v6          bool
	}{
		{"0.0.0.0:0", "127.0.0.2", 1, false},
		{"0.0.0.0:0", "127.0.0.2", 2, false},
		{"0.0.0.0:0", "127.0.0.1", 1, false},
		{"127.0.0.1:0", "127.0.0.1", 1, false}, // a specific address: no control data
		{"[::]:0", "127.0.0.2", 1, true},       // dual stack: the IPv4 destination arrives v4-mapped
		{"[::]:0", "::1", 2, true},
	} {
		t.Run(fmt.Sprintf("%s readers=%d ask %s", c.listen, c.readers, c.ask), func(t *testing.T) {
			if c.v6 && !v6 {
				t.Skip("no IPv6 loopback")
			}
			s := dnssrv.NewServer(dnssrv.ServerConfig{Listen: []string{c.listen}, UDPReaders: c.readers}, testHandler(t))
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			_, port, _ := net.SplitHostPort(s.UDPAddrs()[0])
			addr := net.JoinHostPort(c.ask, port)
			m := new(dns.Msg)
			m.SetQuestion("static.example.test.", dns.TypeA)
			want, _ := dnstest.Exchange(t, "tcp", addr, m)
			got, _ := dnstest.Exchange(t, "udp", addr, m) // fails on timeout: the reply went astray
			if g, w := dnstest.Render(got), dnstest.Render(want); !g.Equal(w) || got.Id != m.Id {
				t.Errorf("over UDP:\n%s\nover TCP:\n%s", g, w)
			}
		})
	}
}

// TestUDPTooBigTruncated: an answer larger than a datagram can carry (the
// interface MTU, on loopback 65,507 bytes of UDP payload) fails to send
// with EMSGSIZE; the reader sends it truncated instead (TC, the question
// and the OPT), so the client asks again over TCP, and counts it.
func TestUDPTooBigTruncated(t *testing.T) {
	var src strings.Builder
	src.WriteString("ttl = 300\nns = [\"ns1\"]\n[soa]\nserial = 1\n[records.ns1]\nA = [\"192.0.2.53\"]\n[records.big]\nA = [")
	for i := range 4200 { // 16 bytes each in the answer: over 64 KiB
		fmt.Fprintf(&src, "%q,", fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
	}
	src.WriteString("]\n")
	var store zones.Store
	store.Replace(snapshotOf(t, "big.test.toml", src.String()))
	h := dnssrv.NewHandler(dnssrv.Config{Zones: &store, MaxUDPSize: 65535,
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	addr := dnstest.StartConfig(t, dnssrv.ServerConfig{}, h)

	q := new(dns.Msg)
	q.SetQuestion("big.big.test.", dns.TypeA)
	q.SetEdns0(65535, false)
	c := &dns.Client{Net: "udp", UDPSize: 65535, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("UDP: %v (no reply: the oversized answer was lost)", err)
	}
	if !r.Truncated || r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 0 || len(r.Ns) != 0 ||
		len(r.Question) != 1 || r.Question[0].Name != "big.big.test." || len(r.Extra) != 1 || r.IsEdns0() == nil {
		t.Errorf("UDP reply, want TC with the question and our OPT only:\n%v", r)
	}
	if got := h.Stats.TooBig.Load(); got != 1 {
		t.Errorf("Stats.TooBig %d, want 1", got)
	}
	c.Net = "tcp"
	r, _, err = c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("TCP: %v", err)
	}
	if len(r.Answer) < 4000 {
		t.Errorf("TCP: %d answers, want the 4,000-odd that fit a TCP message", len(r.Answer))
	}
}
