//go:build !linux

package dns

import (
	"errors"
	"fmt"
	"net"
	"runtime"
)

// The portable UDP path: one socket per listen address, read by
// UDPReaders goroutines that answer inline (udp_linux.go has the batched
// one).

// udpSock is a listen address's socket.
type udpSock struct {
	c    *net.UDPConn
	addr string
}

func defaultUDPReaders() int { return runtime.GOMAXPROCS(0) }

// listenUDP binds a UDP socket to addr and a TCP listener on the same
// port, retrying when port 0 gave a UDP port whose TCP twin is taken.
func listenUDP(addr string, _ int) ([]*udpSock, net.Listener, error) {
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return []*udpSock{{c: pc.(*net.UDPConn), addr: pc.LocalAddr().String()}}, ln, nil
		}
		pc.Close()
		_, port, _ := net.SplitHostPort(addr)
		if port != "0" || try > 20 {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, err)
		}
	}
}

// startUDP starts UDPReaders readers on the address's socket.
func (s *Server) startUDP(g []*udpSock) error {
	for _, u := range g {
		for range s.cfg.UDPReaders {
			s.wg.Add(1)
			go s.serveUDP(u.c)
		}
	}
	return nil
}

func (s *Server) serveUDP(uc *net.UDPConn) {
	defer s.wg.Done()
	in := make([]byte, 65535)
	out := make([]byte, 0, 65535)
	for {
		n, src, err := uc.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		resp := s.h.Respond(in[:n], src, false, out)
		if resp != nil {
			_, _ = uc.WriteToUDPAddrPort(resp, src)
		}
	}
}

// stopUDP closes g's sockets, which ends their readers.
func stopUDP(g []*udpSock) {
	for _, u := range g {
		u.c.Close()
	}
}

func closeUDP([]*udpSock) {}

func (s *Server) releaseUDP() {}
