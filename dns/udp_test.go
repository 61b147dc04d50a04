package dns_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
)

// TestUDPReaders: with several UDP readers (on Linux, several SO_REUSEPORT
// sockets) every query from many client sockets gets its own answer, back
// to the address it came from, on IPv4 and IPv6; a second server cannot
// take the same port; Close frees the port.
func TestUDPReaders(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			if strings.HasPrefix(listen, "[") {
				if c, err := net.ListenPacket("udp", listen); err != nil {
					t.Skip("no IPv6 loopback:", err)
				} else {
					c.Close()
				}
			}
			s := dnssrv.NewServer(dnssrv.ServerConfig{Listen: []string{listen}, UDPReaders: 4}, testHandler(t))
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			addrs := s.UDPAddrs()
			if len(addrs) != 1 {
				t.Fatalf("UDPAddrs %v, want one", addrs)
			}
			addr := addrs[0]

			var wg sync.WaitGroup
			for c := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					co := dnstest.Dial(t, "udp", addr)
					// Several queries in flight at once on each socket.
					const n = 8
					for i := range n {
						m := dnstest.Query("static.example.test. A")
						m.Id = uint16(c*100 + i)
						if err := co.WriteMsg(m); err != nil {
							t.Error(err)
							return
						}
					}
					seen := map[uint16]bool{}
					for range n {
						r, err := co.ReadMsg()
						if err != nil {
							t.Error(err)
							return
						}
						if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
							t.Errorf("reply %s", dnstest.Render(r))
						}
						seen[r.Id] = true
					}
					if len(seen) != n {
						t.Errorf("client %d: %d distinct replies, want %d", c, len(seen), n)
					}
				}()
			}
			wg.Wait()

			other := dnssrv.NewServer(dnssrv.ServerConfig{Listen: []string{addr}, UDPReaders: 4}, testHandler(t))
			if err := other.Start(); err == nil {
				other.Close()
				t.Errorf("a second server started on %s", addr)
			}

			done := make(chan struct{})
			go func() { s.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				t.Fatal("Close still waiting after 3s")
			}
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				t.Fatalf("after Close, %s still taken: %v", addr, err)
			}
			c.Close()
		})
	}
}
