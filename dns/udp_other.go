//go:build !linux

package dns

import (
	"errors"
	"fmt"
	"net"
)

// The portable UDP path: one socket per listen address, read by
// UDPReaders goroutines that answer inline (udp_linux.go has the batched
// one).

// listenUDP binds a UDP socket to addr and a TCP listener on the same
// port, retrying when port 0 gave a UDP port whose TCP twin is taken.
func listenUDP(addr string, _ int) ([]*net.UDPConn, net.Listener, error) {
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return []*net.UDPConn{pc.(*net.UDPConn)}, ln, nil
		}
		pc.Close()
		_, port, _ := net.SplitHostPort(addr)
		if port != "0" || try > 20 {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, err)
		}
	}
}

// startUDP starts UDPReaders readers on the address's socket.
func (s *Server) startUDP(g []*net.UDPConn) error {
	for _, c := range g {
		for range s.cfg.UDPReaders {
			s.wg.Add(1)
			go s.serveUDP(c)
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

func closeAll(g []*net.UDPConn) {
	for _, c := range g {
		c.Close()
	}
}
