//go:build linux

package dns

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Linux UDP path: UDPReaders sockets per listen address, all bound to
// it with SO_REUSEPORT (the kernel spreads clients over them by a hash of
// the source address and port), each read by one goroutine that receives
// a batch of queries with recvmmsg, answers each into its own buffer and
// sends the replies with one sendmmsg.
//
// Both calls are non-blocking and issued with syscall.RawSyscall6 from
// inside the socket's RawConn.Read and RawConn.Write callbacks: the runtime
// still does the waiting (EAGAIN returns false and parks the goroutine on
// the netpoller), but a call that cannot block skips the runtime's syscall
// entry and exit, which hands the P to sysmon's care and wakes sysmon after
// every idle gap. At 10k qps that bookkeeping cost as much CPU as the
// answering (issue 7). The callbacks also keep the descriptor alive: Close
// waits for them and then makes Read and Write return an error, which ends
// the reader.
//
// Nothing is allocated per packet: buffers, iovecs and socket addresses
// are allocated once per reader, and the source address is read from the
// raw sockaddr by hand.

const (
	udpBatch   = 32   // datagrams per recvmmsg
	udpMaxRead = 4096 // bytes read of a query; a longer datagram is dropped
)

// mmsghdr is struct mmsghdr; Go pads it to Msghdr's alignment as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpReader is one reader goroutine's socket and buffers.
type udpReader struct {
	s  *Server
	c  *net.UDPConn
	rc syscall.RawConn

	in    []byte // udpBatch slots of udpMaxRead bytes
	out   [udpBatch][]byte
	names [udpBatch]unix.RawSockaddrInet6
	iov   [udpBatch]unix.Iovec
	msgs  [udpBatch]mmsghdr

	// The batch being sent: sendmmsg entries point at names and replies.
	oiov  [udpBatch]unix.Iovec
	omsgs [udpBatch]mmsghdr
	nsend int // entries in omsgs
	sent  int // how many of them went out (or failed for good)

	got     int // datagrams the last recvmmsg returned
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

// listenUDP binds n UDP sockets to addr (SO_REUSEPORT when n > 1) and a
// TCP listener on the same port; port 0 picks one free for all.
func listenUDP(addr string, n int) ([]*net.UDPConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for try := 0; ; try++ {
		g, ln, err := bindGroup(addr, n)
		if err == nil {
			return g, ln, nil
		}
		if port != "0" || try > 20 {
			return nil, nil, err
		}
	}
}

func bindGroup(addr string, n int) ([]*net.UDPConn, net.Listener, error) {
	// The first bind is plain, so it fails as any bind would when the
	// port is taken, and for port 0 the kernel picks a port nobody holds:
	// with SO_REUSEPORT set it may pick one that another reuseport group
	// of the same user holds (another server in this process, say) and
	// the two would share queries.
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
	}
	bound := pc.LocalAddr().String()
	var g []*net.UDPConn
	if n <= 1 {
		g = append(g, pc.(*net.UDPConn))
	} else {
		pc.Close()
		lc := net.ListenConfig{Control: reusePort}
		for range n {
			c, err := lc.ListenPacket(context.Background(), "udp", bound)
			if err != nil {
				closeAll(g)
				return nil, nil, fmt.Errorf("listen udp %s: %w", bound, err)
			}
			g = append(g, c.(*net.UDPConn))
		}
	}
	ln, err := net.Listen("tcp", bound)
	if err != nil {
		closeAll(g)
		return nil, nil, fmt.Errorf("listen tcp %s: %w", bound, err)
	}
	return g, ln, nil
}

func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

func closeAll(g []*net.UDPConn) {
	for _, c := range g {
		c.Close()
	}
}

// startUDP starts one reader per socket of a listen address.
func (s *Server) startUDP(g []*net.UDPConn) error {
	for _, c := range g {
		r, err := s.newUDPReader(c)
		if err != nil {
			return err
		}
		s.wg.Add(1)
		go s.serveUDP(r)
	}
	return nil
}

func (s *Server) newUDPReader(c *net.UDPConn) (*udpReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &udpReader{s: s, c: c, rc: rc, in: make([]byte, udpBatch*udpMaxRead)}
	outCap := max(s.h.maxUDP, 512)
	outs := make([]byte, udpBatch*outCap)
	for i := range udpBatch {
		r.out[i] = outs[i*outCap : i*outCap : (i+1)*outCap]
		r.iov[i].Base = &r.in[i*udpMaxRead]
		r.iov[i].SetLen(udpMaxRead)
		m := &r.msgs[i].hdr
		m.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		m.Iov = &r.iov[i]
		m.SetIovlen(1)
	}
	r.resetNames(udpBatch)
	r.readFn = r.recv
	r.writeFn = r.send
	return r, nil
}

func (r *udpReader) resetNames(n int) {
	for i := range n {
		r.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(r.names[i]))
		r.msgs[i].hdr.Flags = 0
	}
}

// recv is the RawConn.Read callback: one non-blocking recvmmsg.
func (r *udpReader) recv(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])),
			udpBatch, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			r.got = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait on the netpoller
		}
		r.got = 0 // e.g. ENOMEM: try again
		return true
	}
}

// send is the RawConn.Write callback: sendmmsg until the batch is out.
func (r *udpReader) send(fd uintptr) bool {
	for r.sent < r.nsend {
		n, _, e := syscall.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&r.omsgs[r.sent])),
			uintptr(r.nsend-r.sent), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			r.sent += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // socket buffer full: wait until writable
		default:
			// The first message failed (unreachable destination, a
			// firewall...): it is lost, as a lost datagram would be.
			r.sent++
		}
	}
	return true
}

// serveUDP reads, answers and replies until the socket is closed.
func (s *Server) serveUDP(r *udpReader) {
	defer s.wg.Done()
	for {
		if err := r.rc.Read(r.readFn); err != nil {
			return // closed
		}
		n := r.got
		r.nsend = 0
		for i := range n {
			m := &r.msgs[i]
			if m.hdr.Flags&unix.MSG_TRUNC != 0 {
				s.h.Stats.Dropped.Add(1) // no query is that long
				continue
			}
			src, ok := sockaddrAddrPort(&r.names[i], m.hdr.Namelen)
			if !ok {
				continue
			}
			resp := s.h.Respond(r.in[i*udpMaxRead:i*udpMaxRead+int(m.n)], src, false, r.out[i])
			if len(resp) == 0 {
				continue
			}
			j := r.nsend
			r.oiov[j].Base = &resp[0]
			r.oiov[j].SetLen(len(resp))
			o := &r.omsgs[j].hdr
			o.Name = m.hdr.Name
			o.Namelen = m.hdr.Namelen
			o.Iov = &r.oiov[j]
			o.SetIovlen(1)
			r.nsend++
		}
		r.resetNames(n)
		if r.nsend > 0 {
			r.sent = 0
			err := r.rc.Write(r.writeFn)
			for j := range r.nsend {
				r.oiov[j].Base = nil // let replies that did not fit r.out go
			}
			if err != nil {
				return // closed
			}
		}
	}
}

// sockaddrAddrPort reads an AF_INET or AF_INET6 socket address.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6, n uint32) (netip.AddrPort, bool) {
	switch sa.Family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}, false
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port), true
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}, false
		}
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port), true
	}
	return netip.AddrPort{}, false
}
