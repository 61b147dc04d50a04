//go:build linux

package dns

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Linux UDP path: UDPReaders sockets per listen address, all bound to
// it with SO_REUSEPORT (the kernel spreads clients over them by a hash of
// the source address and port), each read by one goroutine that receives
// a batch of queries with recvmmsg, answers each into its own buffer and
// sends the replies with one sendmmsg (one query at a time, with recvfrom
// and sendto, while traffic is sparse: see recv).
//
// A reader waits for queries the way a C server does: in a blocking
// recvmmsg on a socket of its own, issued with syscall.RawSyscall6. The
// alternatives cost more per idle gap (issue 7, docs/perf.md):
//   - The netpoller (a non-blocking recvmmsg that parks the goroutine on
//     EAGAIN): an empty recvmmsg, then two epoll_pwait calls in the
//     scheduler, per gap; about 5 µs a query more than gdnsd at 10k qps.
//   - syscall.Syscall: the runtime treats a P in a syscall as free to
//     retake, so sysmon hands it off after every gap longer than its tick
//     and wakes a thread for it; CPU per query nearly doubles.
// RawSyscall6 keeps the P: the reader holds it while it waits, as a C
// thread holds its core. So that the rest of the program still has the
// Ps it would have had, the server adds one P per reader (holdProcs) and
// gives them back on Close.
//
// The runtime still gets the P back when it needs it: the socket has a
// receive timeout, so a signal ends the wait with EINTR instead of
// restarting it (signal(7)), and the runtime's preemption signal (sysmon
// after 10 ms on one goroutine; every stop-the-world and stack scan, which
// repeat it until they succeed) brings the reader back into Go code,
// where it yields at once (runtime.Gosched). The timeout also bounds the
// wait when no signal comes.
//
// A held P keeps the runtime's sysmon thread awake (it sleeps only when
// every P is idle) and draws its preemption signal every 10 ms: about 250
// wakeups a second. So when the receive timeout passes with no query, the
// reader waits the way the netpoller design above does, parked, its P
// free: on an epoll instance of its own holding the socket, which the
// runtime polls like any descriptor (the socket itself cannot be in the
// netpoller: it must stay blocking). The next query wakes it and it takes
// the blocking recvmmsg again. An idle server costs no CPU.
//
// Nothing is allocated per packet: buffers, iovecs and socket addresses
// are allocated once per reader, and the source address is read from the
// raw sockaddr by hand.

const (
	udpBatch   = 32   // datagrams per recvmmsg
	udpMaxRead = 4096 // bytes read of a query; a longer datagram is dropped

	udpRecvTimeout = 10 * time.Millisecond  // a wait in recvmmsg this long without a query: park
	udpSendTimeout = 100 * time.Millisecond // longest wait for room to send a batch
)

// mmsghdr is struct mmsghdr; Go pads it to Msghdr's alignment as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpSock is one bound UDP socket: a blocking descriptor of our own, not
// registered with the runtime's netpoller (an edge there would wake the
// scheduler for every datagram).
type udpSock struct {
	fd      int
	addr    string      // the bound address, host:port
	closing atomic.Bool // Close ran: the reader returns at its next wake
	// pktinfo: bound to a wildcard address, the socket reports each
	// query's destination address (IP_PKTINFO, IPV6_PKTINFO) and the
	// reply is sent from it. Without, the kernel picks the source by
	// route, and on a host with several addresses a resolver that asked
	// one gets the reply from another and drops it.
	pktinfo bool

	epfd  int             // an epoll instance, holding fd while a reader parks...
	ep    *os.File        // ...in the netpoller (its Fd method would make it blocking)
	epRC  syscall.RawConn // ep's
	epOut [1]unix.EpollEvent
}

// udpReader is one reader goroutine's socket and buffers.
type udpReader struct {
	s    *Server
	sock *udpSock

	in    []byte // udpBatch slots of udpMaxRead bytes
	out   [udpBatch][]byte
	names [udpBatch]unix.RawSockaddrInet6
	iov   [udpBatch]unix.Iovec
	msgs  [udpBatch]mmsghdr
	cmsg  []byte // with sock.pktinfo: udpBatch slots of udpCmsgLen bytes of control data

	// The batch being sent: sendmmsg entries point at names and replies.
	oiov    [udpBatch]unix.Iovec
	omsgs   [udpBatch]mmsghdr
	nsend   int // entries in omsgs
	readyFn func(uintptr) bool

	// Sparse traffic: when batch receives keep bringing one datagram,
	// the next receives ask for one (see recv).
	ones   int // batch receives in a row that brought one datagram
	single int // receives left to make for one datagram

	fs fastState // the fast path's scratch, this reader's own
}

// procs counts the Ps the servers of this process added for their
// readers, so the default reader count stays the program's own GOMAXPROCS
// however many servers run (tests start many).
var procs struct {
	sync.Mutex
	held int
}

func holdProcs(n int) {
	procs.Lock()
	defer procs.Unlock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
	procs.held += n
}

func releaseProcs(n int) {
	procs.Lock()
	defer procs.Unlock()
	runtime.GOMAXPROCS(max(1, runtime.GOMAXPROCS(0)-n))
	procs.held -= n
}

// defaultUDPReaders is GOMAXPROCS without the Ps held for readers.
func defaultUDPReaders() int {
	procs.Lock()
	defer procs.Unlock()
	return max(1, runtime.GOMAXPROCS(0)-procs.held)
}

// listenUDP binds n UDP sockets to addr (SO_REUSEPORT when n > 1) and a
// TCP listener on the same port; port 0 picks one free for all.
func listenUDP(addr string, n int) ([]*udpSock, net.Listener, error) {
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

func bindGroup(addr string, n int) ([]*udpSock, net.Listener, error) {
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
	var conns []net.PacketConn
	if n <= 1 {
		conns = append(conns, pc)
	} else {
		pc.Close()
		lc := net.ListenConfig{Control: reusePort}
		for range n {
			c, err := lc.ListenPacket(context.Background(), "udp", bound)
			if err != nil {
				closeConns(conns)
				return nil, nil, fmt.Errorf("listen udp %s: %w", bound, err)
			}
			conns = append(conns, c)
		}
	}
	var g []*udpSock
	for i, c := range conns {
		fd, err := detach(c.(*net.UDPConn))
		if err != nil {
			closeConns(conns[i+1:])
			closeUDP(g)
			return nil, nil, fmt.Errorf("listen udp %s: %w", bound, err)
		}
		u := &udpSock{fd: fd, addr: bound}
		if ap, err := netip.ParseAddrPort(bound); err == nil && ap.Addr().IsUnspecified() {
			if err := askPktinfo(fd, ap.Addr().Is6()); err != nil {
				unix.Close(fd)
				closeConns(conns[i+1:])
				closeUDP(g)
				return nil, nil, fmt.Errorf("listen udp %s: %w", bound, err)
			}
			u.pktinfo = true
		}
		if err := u.watch(); err != nil {
			unix.Close(fd)
			closeConns(conns[i+1:])
			closeUDP(g)
			return nil, nil, fmt.Errorf("listen udp %s: %w", bound, err)
		}
		g = append(g, u)
	}
	ln, err := net.Listen("tcp", bound)
	if err != nil {
		closeUDP(g)
		return nil, nil, fmt.Errorf("listen tcp %s: %w", bound, err)
	}
	return g, ln, nil
}

// detach takes c's socket out of the runtime: a duplicate descriptor,
// blocking, with the receive and send timeouts; c is closed (which removes
// it from the netpoller), the socket stays bound through the duplicate.
func detach(c *net.UDPConn) (int, error) {
	fd, err := dup(c)
	c.Close() // before the duplicate turns blocking: they share that flag
	if err != nil {
		return -1, err
	}
	rt := unix.NsecToTimeval(udpRecvTimeout.Nanoseconds())
	st := unix.NsecToTimeval(udpSendTimeout.Nanoseconds())
	for _, err := range []error{
		unix.SetNonblock(fd, false),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &rt),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &st),
		dontFragment(fd),
	} {
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// watch makes u.ep, the epoll instance an idle reader parks on.
func (u *udpSock) watch() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	// The socket is added only while a reader parks (see park).
	if err := unix.SetNonblock(epfd, true); err != nil { // so os.NewFile puts it in the netpoller
		unix.Close(epfd)
		return err
	}
	u.epfd, u.ep = epfd, os.NewFile(uintptr(epfd), "udp-wait")
	if u.epRC, err = u.ep.SyscallConn(); err != nil {
		u.ep.Close()
		u.ep = nil
		return err
	}
	return nil
}

// dontFragment has replies sent whole or not at all: with DF set on IPv4
// and never fragmented by this host (IP_PMTUDISC_PROBE, and
// IPV6_PMTUDISC_PROBE for IPv6), sized by the interface MTU whatever
// path MTU an ICMP message claims. So neither this host nor a router on
// the way makes fragments of an answer (RFC 9715 R1, R2: fragments are
// how off-path attackers poison caches), and a forged "fragmentation
// needed" cannot shrink what we send (the reason BIND, Knot and gdnsd set
// IP_PMTUDISC_OMIT, which leaves DF off). An answer the interface MTU
// cannot carry fails with EMSGSIZE and goes out truncated instead (see
// send), so the resolver asks over TCP (R4). The default 1232-byte limit
// fits any path.
//
// DF also spares the kernel the IPv4 identification it otherwise draws
// for every reply (a hash and an atomic add in a table shared by all
// CPUs): measured at 60k qps, about 70 ns of kernel time per query.
//
// An IPv6 socket takes both options: a wildcard one also answers IPv4
// clients (v4-mapped), under the IPv4 option.
func dontFragment(fd int) error {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return err
	}
	if domain == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE); err != nil {
			return err
		}
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
}

// askPktinfo asks the kernel for each datagram's destination address.
// An IPv6 wildcard socket also receives IPv4 (dual stack): the kernel
// then reports the IPv4 destination as a v4-mapped IPV6_PKTINFO, and
// takes one back on send.
func askPktinfo(fd int, v6 bool) error {
	if v6 {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
}

// udpCmsgLen is room for one IPV6_PKTINFO control message (the larger
// of the two).
var udpCmsgLen = unix.CmsgSpace(unix.SizeofInet6Pktinfo)

// replyFrom turns the control data received with a query (c) into what
// its reply is sent with: the PKTINFO message, its source address the
// query's destination and no interface, except for IPv6 link-local
// addresses, which need theirs. It returns the length to send, 0 when c
// holds no PKTINFO (the kernel picks the source then).
func replyFrom(c []byte) int {
	if len(c) < unix.SizeofCmsghdr {
		return 0
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
	if int(h.Len) < unix.CmsgLen(0) || int(h.Len) > len(c) {
		return 0
	}
	data := c[unix.CmsgLen(0):h.Len]
	switch {
	case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
		pi.Spec_dst = pi.Addr
		pi.Ifindex = 0
	case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
		pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
		if !netip.AddrFrom16(pi.Addr).IsLinkLocalUnicast() {
			pi.Ifindex = 0
		}
	default:
		return 0
	}
	return unix.CmsgSpace(len(data))
}

func dup(c *net.UDPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
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

func closeConns(cs []net.PacketConn) {
	for _, c := range cs {
		c.Close()
	}
}

// stopUDP wakes the readers of g: shutdown ends a blocked recvmmsg (the
// receive timeout would, later).
func stopUDP(g []*udpSock) {
	for _, u := range g {
		u.closing.Store(true)
		_ = unix.Shutdown(u.fd, unix.SHUT_RDWR) // ENOTCONN on UDP, but it wakes the reader
	}
}

// closeUDP closes the sockets of g; their readers have returned.
func closeUDP(g []*udpSock) {
	for _, u := range g {
		if u.ep != nil {
			u.ep.Close()
			u.ep = nil
		}
		if u.fd >= 0 {
			unix.Close(u.fd)
			u.fd = -1
		}
	}
}

// startUDP starts one reader per socket of a listen address, each with
// the P it holds.
func (s *Server) startUDP(g []*udpSock) error {
	holdProcs(len(g))
	s.heldProcs += len(g)
	for _, u := range g {
		s.wg.Add(1)
		go s.serveUDP(s.newUDPReader(u))
	}
	return nil
}

// releaseUDP gives back the Ps startUDP added, after the readers returned.
func (s *Server) releaseUDP() {
	if s.heldProcs > 0 {
		releaseProcs(s.heldProcs)
		s.heldProcs = 0
	}
}

func (s *Server) newUDPReader(u *udpSock) *udpReader {
	r := &udpReader{s: s, sock: u, in: make([]byte, udpBatch*udpMaxRead)}
	r.fs.cache, r.fs.loc = newNameCache(), newLocCache(s.h.cfg.Locator)
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
	if u.pktinfo {
		r.cmsg = make([]byte, udpBatch*udpCmsgLen)
		for i := range udpBatch {
			r.msgs[i].hdr.Control = &r.cmsg[i*udpCmsgLen]
		}
	}
	r.resetNames(udpBatch)
	r.readyFn = r.ready
	return r
}

func (r *udpReader) resetNames(n int) {
	for i := range n {
		r.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(r.names[i]))
		r.msgs[i].hdr.Flags = 0
		if r.cmsg != nil {
			r.msgs[i].hdr.SetControllen(udpCmsgLen)
		}
	}
}

// recv waits for at least one datagram and takes up to udpBatch.
//
// A batch receive costs more than a single one when one datagram is all
// there is: after the first, the kernel tries the next slot (its message
// header read in again, the socket locked, the queue found empty), 0.15
// to 0.45 µs on the development VM, where a whole recvfrom of one
// datagram took 0.4-0.5 µs (docs/perf.md, the third pass). Under sparse
// traffic (a query at a time, each one waking the reader) that is every
// receive, so after sparseAfter batch receives in a row that brought one
// datagram, the next sparseRun receives take one each; the batch receive
// after them checks again. Queries that come together meanwhile are
// answered one receive and one send each, for at most sparseRun queries.
func (r *udpReader) recv() (int, syscall.Errno) {
	if r.single > 0 {
		r.single--
		return r.recvOne()
	}
	n, _, e := syscall.RawSyscall6(unix.SYS_RECVMMSG, uintptr(r.sock.fd), uintptr(unsafe.Pointer(&r.msgs[0])),
		udpBatch, unix.MSG_WAITFORONE, 0, 0)
	if e == 0 {
		r.ones++
		if n != 1 {
			r.ones = 0
		} else if r.ones >= sparseAfter {
			r.ones, r.single = 0, sparseRun
		}
	}
	return int(n), e
}

const (
	sparseAfter = 2  // batch receives of one datagram in a row before...
	sparseRun   = 15 // ...this many receives of one
)

// recvOne receives one datagram into the first slot, as recv would have.
// Without control data to read, with recvfrom: no message header or
// iovec to read in.
func (r *udpReader) recvOne() (int, syscall.Errno) {
	if r.cmsg != nil {
		n, _, e := syscall.RawSyscall6(unix.SYS_RECVMMSG, uintptr(r.sock.fd), uintptr(unsafe.Pointer(&r.msgs[0])), 1, 0, 0, 0)
		return int(n), e
	}
	m := &r.msgs[0]
	// MSG_TRUNC: the datagram's whole length, to see one too long.
	n, _, e := syscall.RawSyscall6(unix.SYS_RECVFROM, uintptr(r.sock.fd), uintptr(unsafe.Pointer(&r.in[0])), udpMaxRead,
		unix.MSG_TRUNC, uintptr(unsafe.Pointer(&r.names[0])), uintptr(unsafe.Pointer(&m.hdr.Namelen)))
	if e != 0 {
		return 0, e
	}
	m.n, m.hdr.Flags = uint32(min(int(n), udpMaxRead)), 0
	if n > udpMaxRead {
		m.hdr.Flags = unix.MSG_TRUNC
	}
	return 1, 0
}

// send sends the batch. A full socket buffer gets one blocking try
// (bounded by the send timeout) before the rest of the batch is dropped,
// as a router drops what does not fit its queue.
func (r *udpReader) send() {
	flags := uintptr(unix.MSG_DONTWAIT)
	for sent := 0; sent < r.nsend; {
		var e syscall.Errno
		n := 1
		if r.nsend-sent == 1 && r.omsgs[sent].hdr.Controllen == 0 {
			e = r.sendOne(sent, flags)
		} else {
			var k uintptr
			k, _, e = syscall.RawSyscall6(unix.SYS_SENDMMSG, uintptr(r.sock.fd), uintptr(unsafe.Pointer(&r.omsgs[sent])),
				uintptr(r.nsend-sent), flags, 0, 0)
			n = int(k)
		}
		switch e {
		case 0:
			sent += n
		case syscall.EINTR:
			runtime.Gosched() // the runtime may want the P (see the top of this file)
		case syscall.EAGAIN:
			if flags == 0 {
				return // waited the send timeout: drop the rest
			}
			flags = 0
		case syscall.EMSGSIZE:
			// Too large for the interface MTU unfragmented (see
			// dontFragment), or for a datagram: send it truncated, so
			// the client asks again over TCP; if that does not shrink
			// it, it is lost.
			if !r.truncate(sent) {
				sent++
			}
		default:
			// The first message failed (unreachable destination, a
			// firewall...): it is lost, as a lost datagram would be.
			sent++
		}
	}
}

// truncate rewrites the reply of batch entry i as its truncated form
// (truncatedReply) and reports whether it got shorter.
func (r *udpReader) truncate(i int) bool {
	b := truncatedReply(unsafe.Slice(r.oiov[i].Base, r.oiov[i].Len))
	if b == nil {
		return false
	}
	r.oiov[i].SetLen(len(b))
	r.s.h.Stats.TooBig.Add(1)
	return true
}

// sendOne sends batch entry i, which has no control data, with sendto:
// the kernel reads no message header or iovec for it. With sparse
// traffic (see recv) every batch is one reply.
func (r *udpReader) sendOne(i int, flags uintptr) syscall.Errno {
	o := &r.omsgs[i].hdr
	_, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(r.sock.fd), uintptr(unsafe.Pointer(r.oiov[i].Base)), uintptr(r.oiov[i].Len),
		flags, uintptr(unsafe.Pointer(o.Name)), uintptr(o.Namelen))
	return e
}

// serveUDP reads, answers and replies until Close.
func (s *Server) serveUDP(r *udpReader) {
	defer s.wg.Done()
	for {
		n, e := r.recv()
		if r.sock.closing.Load() {
			return
		}
		switch e {
		case 0:
		case syscall.EAGAIN: // the receive timeout: no query for a while
			r.park()
			continue
		default: // EINTR (a signal, maybe the runtime's preemption), ENOMEM...
			runtime.Gosched() // a safe point: the runtime may want the P
			continue
		}
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
			resp := s.h.respond(r.in[i*udpMaxRead:i*udpMaxRead+int(m.n)], src, false, r.out[i], &r.fs)
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
			o.Control, o.Controllen = nil, 0
			if r.cmsg != nil && m.hdr.Flags&unix.MSG_CTRUNC == 0 {
				// The reply leaves from the address the query came to.
				c := r.cmsg[i*udpCmsgLen : i*udpCmsgLen+min(int(m.hdr.Controllen), udpCmsgLen)]
				if n := replyFrom(c); n > 0 {
					o.Control = &c[0]
					o.SetControllen(n)
				}
			}
			r.nsend++
		}
		r.resetNames(n)
		if r.nsend > 0 {
			r.send()
			for j := range r.nsend {
				r.oiov[j].Base = nil // let replies that did not fit r.out go
			}
		}
	}
}

// park waits, without the P, until the socket has a datagram (or Close
// shut it down).
//
// The socket is in the epoll instance only meanwhile, for one event. Left
// in it, the instance's entry on the socket's wait queue would make every
// datagram sent and received wake that queue (sock_wfree,
// sock_def_readable): measured at 60k qps, about 0.3 µs of kernel time per
// query in the sender's wake-up path, 3% of all.
func (r *udpReader) park() {
	r.fs.release() // an idle reader keeps no snapshot or database alive
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(r.sock.fd)}
	if err := unix.EpollCtl(r.sock.epfd, unix.EPOLL_CTL_ADD, r.sock.fd, &ev); err != nil {
		return // the next recvmmsg waits instead
	}
	_ = r.sock.epRC.Read(r.readyFn) // an error: Close ran, the caller sees closing
	_ = unix.EpollCtl(r.sock.epfd, unix.EPOLL_CTL_DEL, r.sock.fd, nil)
}

// ready is park's RawConn.Read callback: whether the socket is readable.
func (r *udpReader) ready(epfd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&r.sock.epOut[0])), 1, 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		return e != 0 || n > 0 // on an error, let the reader try the socket
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
