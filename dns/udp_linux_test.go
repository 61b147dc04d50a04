package dns_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
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
