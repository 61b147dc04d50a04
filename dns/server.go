package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ServerConfig sets the listeners and their limits.
type ServerConfig struct {
	Listen []string // host:port, each served over UDP and TCP
	Log    *slog.Logger

	UDPReaders     int           // UDP readers per listen address; default GOMAXPROCS (Linux: one SO_REUSEPORT socket each)
	TCPMaxConns    int           // concurrent TCP connections per listener; default 1000
	TCPMaxPerSrc   int           // concurrent TCP connections per source (IPv4 address, IPv6 /64) per listener; default 64
	TCPIdleTimeout time.Duration // between queries on a connection; default 10s
	TCPReadTimeout time.Duration // to read one whole query once it starts; default 2s
	TCPMaxQueries  int           // per connection; default 1000 (0 = default)
	WriteTimeout   time.Duration // default 2s
}

// Server serves a Handler on UDP and TCP sockets.
//
// UDP is read by a fixed set of goroutines (UDPReaders per listen
// address) that answer inline: there is no queue and no goroutine per
// packet, so a flood cannot grow goroutines or memory. On Linux each
// reader has its own SO_REUSEPORT socket and moves datagrams in batches
// with recvmmsg/sendmmsg (udp_linux.go). When the readers fall behind, the
// kernel's socket buffer fills and the kernel drops and counts the excess
// (RcvbufErrors in /proc/net/snmp).
//
// TCP connections are capped per listener (TCPMaxConns) and per source
// (TCPMaxPerSrc). A new connection over either cap evicts the longest-idle
// connection under that cap (an idle one is between queries; one in the
// middle of a query is never evicted), so slowloris connections cannot
// lock real clients out; when none is idle the new connection is closed.
// Each connection has an idle timeout between queries, a read timeout for
// the rest of a query once its first byte arrived, a write timeout, and a
// number of queries after which it is closed.
type Server struct {
	cfg   ServerConfig
	h     *Handler
	log   *slog.Logger
	udp   [][]*udpSock // per listen address: its sockets
	tcp   []net.Listener
	wg    sync.WaitGroup
	conns []*connSet
	done  chan struct{}
	once  sync.Once
	freed sync.Once // the UDP sockets closed, once their readers returned

	heldProcs int // Ps added for the UDP readers (udp_linux.go)
	// TCPEvicted counts idle connections closed to make room.
	TCPEvicted atomic.Uint64
	// TCPRefused counts connections closed at once: over a cap with no
	// idle connection to evict.
	TCPRefused atomic.Uint64
}

// NewServer prepares a server; Start binds the sockets.
func NewServer(cfg ServerConfig, h *Handler) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.UDPReaders <= 0 {
		cfg.UDPReaders = defaultUDPReaders()
	}
	if cfg.TCPMaxConns <= 0 {
		cfg.TCPMaxConns = 1000
	}
	if cfg.TCPMaxPerSrc <= 0 {
		cfg.TCPMaxPerSrc = 64
	}
	if cfg.TCPIdleTimeout <= 0 {
		cfg.TCPIdleTimeout = 10 * time.Second
	}
	if cfg.TCPReadTimeout <= 0 {
		cfg.TCPReadTimeout = 2 * time.Second
	}
	if cfg.TCPMaxQueries <= 0 {
		cfg.TCPMaxQueries = 1000
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Second
	}
	return &Server{cfg: cfg, h: h, log: cfg.Log, done: make(chan struct{})}
}

// Start binds every listen address (UDP and TCP on the same port; port 0
// picks one free for both) and starts serving.
func (s *Server) Start() error {
	for _, addr := range s.cfg.Listen {
		g, ln, err := listenUDP(addr, s.cfg.UDPReaders)
		if err != nil {
			s.Close()
			return err
		}
		s.udp = append(s.udp, g)
		s.tcp = append(s.tcp, ln)
	}
	for i := range s.udp {
		if err := s.startUDP(s.udp[i]); err != nil {
			s.Close()
			return err
		}
		cs := &connSet{max: s.cfg.TCPMaxConns, maxPerSrc: s.cfg.TCPMaxPerSrc,
			conns: map[*trackedConn]struct{}{}, perSrc: map[netip.Addr]int{}}
		s.conns = append(s.conns, cs)
		s.wg.Add(1)
		go s.serveTCP(s.tcp[i], cs)
		s.log.Info("listening", "addr", s.udp[i][0].addr, "udp_sockets", len(s.udp[i]))
	}
	return nil
}

// UDPAddrs returns the bound UDP addresses (for tests on port 0).
func (s *Server) UDPAddrs() []string {
	var out []string
	for _, g := range s.udp {
		out = append(out, g[0].addr)
	}
	return out
}

// Close stops the listeners, closes connections and waits.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.done)
		for _, g := range s.udp {
			stopUDP(g)
		}
		for _, ln := range s.tcp {
			ln.Close()
		}
		for _, cs := range s.conns {
			cs.closeAll()
		}
	})
	s.wg.Wait()
	s.freed.Do(func() {
		for _, g := range s.udp {
			closeUDP(g)
		}
		s.releaseUDP()
	})
	return nil
}

// connSet tracks a listener's TCP connections to cap them. Evicting picks
// the connection whose last whole query (or accept) is oldest among those
// not busy answering; connections part-way through reading a query are
// fair game, so slow senders cannot pin their slots.
type connSet struct {
	mu        sync.Mutex
	max       int
	maxPerSrc int
	conns     map[*trackedConn]struct{}
	perSrc    map[netip.Addr]int // connections per srcKey
	closed    bool               // closeAll ran: no connection may be added
}

type trackedConn struct {
	net.Conn
	src        netip.Addr   // srcKey of the remote address
	lastActive atomic.Int64 // unix nanos of the last query read whole (or of the accept)
	busy       atomic.Bool  // answering: from a query read whole until its reply is computed
}

// srcKey is what the per-source cap counts: an IPv4 address, or the /64
// of an IPv6 address (one host usually has a whole /64).
func srcKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

type addResult int

const (
	added addResult = iota
	refused
	closing
)

// add registers c, evicting the longest-idle connection of its source
// when the source is at its cap and the longest-idle of all when the
// listener is. It reports how many it evicted.
func (cs *connSet) add(c *trackedConn) (evicted int, r addResult) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return 0, closing
	}
	if cs.perSrc[c.src] >= cs.maxPerSrc {
		o := cs.oldestIdle(c.src, true)
		if o == nil {
			return evicted, refused
		}
		cs.evict(o)
		evicted++
	}
	if len(cs.conns) >= cs.max {
		o := cs.oldestIdle(netip.Addr{}, false)
		if o == nil {
			return evicted, refused
		}
		cs.evict(o)
		evicted++
	}
	cs.conns[c] = struct{}{}
	cs.perSrc[c.src]++
	return evicted, added
}

// oldestIdle returns the connection idle the longest (of source src when
// bySrc), nil when every one is busy. The scan is linear: it runs only
// when a cap is reached, over at most max connections.
func (cs *connSet) oldestIdle(src netip.Addr, bySrc bool) *trackedConn {
	var oldest *trackedConn
	for o := range cs.conns {
		if o.busy.Load() || (bySrc && o.src != src) {
			continue
		}
		if oldest == nil || o.lastActive.Load() < oldest.lastActive.Load() {
			oldest = o
		}
	}
	return oldest
}

func (cs *connSet) evict(o *trackedConn) {
	o.Close()
	cs.forget(o)
}

// forget drops c from the books; c may already be gone (evicted).
func (cs *connSet) forget(c *trackedConn) {
	if _, ok := cs.conns[c]; !ok {
		return
	}
	delete(cs.conns, c)
	if n := cs.perSrc[c.src] - 1; n > 0 {
		cs.perSrc[c.src] = n
	} else {
		delete(cs.perSrc, c.src)
	}
}

func (cs *connSet) remove(c *trackedConn) {
	cs.mu.Lock()
	cs.forget(c)
	cs.mu.Unlock()
}

func (cs *connSet) len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.conns)
}

// TCPConns returns the number of open TCP connections, all listeners.
func (s *Server) TCPConns() int {
	n := 0
	for _, cs := range s.conns {
		n += cs.len()
	}
	return n
}

func (cs *connSet) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	for c := range cs.conns {
		c.Close()
	}
}

func (s *Server) serveTCP(ln net.Listener, cs *connSet) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond): // e.g. EMFILE: back off
			}
			continue
		}
		tc := &trackedConn{Conn: c}
		if ta, isTCP := c.RemoteAddr().(*net.TCPAddr); isTCP {
			tc.src = srcKey(ta.AddrPort().Addr())
		}
		tc.lastActive.Store(time.Now().UnixNano())
		evicted, r := cs.add(tc)
		s.TCPEvicted.Add(uint64(evicted))
		switch r {
		case closing: // accepted while Close ran: Close will not see it
			c.Close()
			return
		case refused:
			s.TCPRefused.Add(1)
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer cs.remove(tc)
			defer tc.Close()
			s.serveConn(tc)
		}()
	}
}

// serveConn answers queries on one TCP connection in order (RFC 7766
// pipelining: the client may send the next before reading the answer).
func (s *Server) serveConn(c *trackedConn) {
	var src netip.AddrPort
	if ta, isTCP := c.RemoteAddr().(*net.TCPAddr); isTCP {
		src = ta.AddrPort()
	}
	var lenBuf [2]byte
	msg := make([]byte, 0, 512)
	out := make([]byte, 4096) // 2-byte length, then the reply
	for q := 0; q < s.cfg.TCPMaxQueries; q++ {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		if _, err := io.ReadFull(c, lenBuf[:1]); err != nil {
			return
		}
		// The query has started: the rest must arrive promptly. A
		// connection that is still reading is not busy: a slowloris
		// trickling bytes keeps the lastActive of its last whole query
		// and is the first evicted.
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.TCPReadTimeout))
		if _, err := io.ReadFull(c, lenBuf[1:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if cap(msg) < n {
			msg = make([]byte, n)
		}
		msg = msg[:n]
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		c.lastActive.Store(time.Now().UnixNano())
		c.busy.Store(true)
		resp := s.h.Respond(msg, src, true, out[2:2])
		// Idle again before the write: the client may see the reply
		// before this goroutine runs again, and by then the connection
		// must be as evictable as it looks; and one whose write blocks (a
		// client that does not read) should be evictable anyway.
		c.busy.Store(false)
		if resp != nil {
			var frame []byte
			if len(resp) > 0 && len(resp) <= len(out)-2 && &resp[0] == &out[2] {
				frame = out[:2+len(resp)] // packed in place
			} else {
				frame = make([]byte, 2+len(resp))
				copy(frame[2:], resp)
			}
			binary.BigEndian.PutUint16(frame, uint16(len(resp)))
			_ = c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if _, err := c.Write(frame); err != nil {
				return
			}
		}
	}
}

// ListenAndServe starts the server and blocks until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}
