//go:build linux

package dns

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestUDPOmitsPMTU: the UDP sockets send without DF and ignore path MTU
// information (see omitPMTU), for IPv4 and IPv6 listeners.
func TestUDPOmitsPMTU(t *testing.T) {
	for _, c := range []struct {
		addr       string
		level, opt int
		want       int
	}{
		{"127.0.0.1:0", unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_OMIT},
		{"[::1]:0", unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_OMIT},
	} {
		g, ln, err := listenUDP(c.addr, 2)
		if err != nil {
			if c.addr == "[::1]:0" {
				t.Logf("no IPv6 loopback here (%v): IPv6 case not run", err)
				continue
			}
			t.Fatal(err)
		}
		for _, u := range g {
			got, err := unix.GetsockoptInt(u.fd, c.level, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("%s: MTU discover option %d, want %d (OMIT)", c.addr, got, c.want)
			}
		}
		closeUDP(g)
		ln.Close()
	}
}
