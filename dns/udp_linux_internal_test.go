//go:build linux

package dns

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestUDPDontFragment: the UDP sockets send with DF on IPv4, never
// fragment, and size by the interface MTU (see dontFragment), for IPv4
// and IPv6 listeners; an IPv6 one also under the IPv4 option, for the
// IPv4 clients of a dual-stack socket.
func TestUDPDontFragment(t *testing.T) {
	type opt struct{ level, opt, want int }
	v4 := opt{unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE}
	v6 := opt{unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE}
	for _, c := range []struct {
		addr string
		opts []opt
	}{
		{"127.0.0.1:0", []opt{v4}},
		{"[::1]:0", []opt{v6, v4}},
		{"[::]:0", []opt{v6, v4}},
	} {
		g, ln, err := listenUDP(c.addr, 2)
		if err != nil {
			if strings.HasPrefix(c.addr, "[") {
				t.Logf("no IPv6 here (%v): %s not run", err, c.addr)
				continue
			}
			t.Fatal(err)
		}
		for _, u := range g {
			for _, o := range c.opts {
				got, err := unix.GetsockoptInt(u.fd, o.level, o.opt)
				if err != nil {
					t.Fatal(err)
				}
				if got != o.want {
					t.Errorf("%s: MTU discover option (level %d) %d, want %d (PROBE)", c.addr, o.level, got, o.want)
				}
			}
		}
		closeUDP(g)
		ln.Close()
	}
}

// TestUDPSparseReceives: after sparseAfter batch receives of one datagram
// each, the reader receives one at a time (recvfrom, or recvmmsg of one
// on a socket with control data) for sparseRun receives, then batches
// again; a single receive reads what a batch one does: the bytes, the
// source address, an overlong datagram marked truncated, and the
// destination address as control data.
func TestUDPSparseReceives(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		t.Run(listen, func(t *testing.T) {
			g, ln, err := listenUDP(listen, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			defer closeUDP(g)
			s := NewServer(ServerConfig{}, NewHandler(Config{}))
			r := s.newUDPReader(g[0])
			_, port, _ := net.SplitHostPort(g[0].addr)
			cl, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", port))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			from := cl.LocalAddr().(*net.UDPAddr).AddrPort()

			send := func(msgs ...string) {
				t.Helper()
				for _, m := range msgs {
					if _, err := cl.Write([]byte(m)); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(20 * time.Millisecond) // all queued before the receive
			}
			// recv takes what is queued and checks slot i of it: its bytes and
			// source, and with control data, a destination to reply from.
			recv := func(want ...string) {
				t.Helper()
				n, e := r.recv()
				if e != 0 || n != len(want) {
					t.Fatalf("recv: %d datagrams, errno %v; want %d", n, e, len(want))
				}
				for i, w := range want {
					m := &r.msgs[i]
					got := string(r.in[i*udpMaxRead : i*udpMaxRead+int(m.n)])
					if len(w) > udpMaxRead {
						if m.hdr.Flags&unix.MSG_TRUNC == 0 || int(m.n) != udpMaxRead {
							t.Errorf("slot %d: %d bytes of an overlong datagram, flags %#x: not marked truncated", i, m.n, m.hdr.Flags)
						}
					} else if got != w || m.hdr.Flags&unix.MSG_TRUNC != 0 {
						t.Errorf("slot %d: %q (flags %#x), want %q", i, got, m.hdr.Flags, w)
					}
					// (A wildcard socket is dual stack: IPv4 sources come v4-mapped.)
					src, ok := sockaddrAddrPort(&r.names[i], m.hdr.Namelen)
					if src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port()); !ok || src != from {
						t.Errorf("slot %d: source %v (ok %v), want %v", i, src, ok, from)
					}
					if r.cmsg != nil {
						c := r.cmsg[i*udpCmsgLen : i*udpCmsgLen+min(int(m.hdr.Controllen), udpCmsgLen)]
						if replyFrom(c) == 0 {
							t.Errorf("slot %d: no destination address in the control data", i)
						}
					}
				}
				r.resetNames(n)
			}

			send("a", "b")
			recv("a", "b") // a batch
			for i := range sparseAfter {
				if r.single != 0 {
					t.Fatalf("single receives after %d batch receives of one", i)
				}
				send("one")
				recv("one")
			}
			if r.single != sparseRun {
				t.Fatalf("after %d batch receives of one: %d single receives to come, want %d", sparseAfter, r.single, sparseRun)
			}
			long := strings.Repeat("x", udpMaxRead+100)
			send("c", "d", long)
			recv("c")
			recv("d")
			recv(long)
			for range sparseRun - 3 {
				send("e")
				recv("e")
			}
			send("f", "g", "h")
			recv("f", "g", "h") // a batch again
		})
	}
}

// BenchmarkUDPReceive: one datagram sent over loopback and received, as
// a batch receive (recvmmsg of udpBatch slots: the kernel tries a second
// slot and finds the queue empty) and as a single one (recvfrom), the
// two modes of udpReader.recv (docs/perf.md, the third pass). The send is
// the same in both, so the difference is the receive's. Run pinned to
// one CPU:
//
//	taskset -c 1 go test -run '^$' -bench UDPReceive -count 4 ./dns/
func BenchmarkUDPReceive(b *testing.B) {
	for _, mode := range []string{"batch", "single"} {
		b.Run(mode, func(b *testing.B) {
			g, ln, err := listenUDP("127.0.0.1:0", 1)
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			defer closeUDP(g)
			r := NewServer(ServerConfig{}, NewHandler(Config{})).newUDPReader(g[0])
			cl, err := net.Dial("udp", g[0].addr)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			q := make([]byte, 40)
			for b.Loop() {
				if _, err := cl.Write(q); err != nil {
					b.Fatal(err)
				}
				r.ones, r.single = 0, 0 // stay in the mode measured
				if mode == "single" {
					r.single = 1
				}
				if n, e := r.recv(); n != 1 || e != 0 {
					b.Fatalf("recv: %d datagrams, errno %v", n, e)
				}
				r.resetNames(1)
			}
		})
	}
}
