package dns_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/dns/dnstest"
)

// malformed returns a generator of bad packets: the query-of-death
// shapes as they are, mutated (bytes flipped, cut short, counts
// replaced), valid queries with every opcode, odd QTYPEs and header bits,
// and random bytes.
func malformed(seed uint64) func() []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	shapes := queryOfDeathShapes()
	qtypes := []uint16{0, 255, 65535, dns.TypeTKEY, dns.TypeTSIG, dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, 666, dns.TypeA}
	pick := func() []byte {
		for {
			if s := shapes[r.IntN(len(shapes))].raw; len(s) > 0 {
				return append([]byte(nil), s...)
			}
		}
	}
	return func() []byte {
		switch r.IntN(7) {
		case 0: // random bytes
			b := make([]byte, r.IntN(700))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		case 1:
			return pick()
		case 2: // flipped bytes
			b := pick()
			for range 1 + r.IntN(4) {
				b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
			}
			return b
		case 3: // cut short
			b := pick()
			return b[:r.IntN(len(b)+1)]
		case 4: // counts replaced
			b := pick()
			if len(b) >= 12 {
				binary.BigEndian.PutUint16(b[4+2*r.IntN(4):], uint16(r.Uint32()))
			}
			return b
		case 5: // a valid question, any opcode, odd QTYPEs, any header bits
			w := wire(nil).header(uint16(r.Uint32()), uint16(r.Uint32())&^0x8000, 1, 0, 0, 1).
				question("static.example.test.", qtypes[r.IntN(len(qtypes))], 1).opt(uint16(r.Uint32()), r.Uint32())
			return w
		default: // junk options in an OPT, a junk TSIG after it
			junk := make([]byte, r.IntN(60))
			for i := range junk {
				junk[i] = byte(r.Uint32())
			}
			w := wire(nil).header(uint16(r.Uint32()), 0, 1, 0, 0, 2).question("www.example.test.", dns.TypeA, 1).
				opt(1232, 0, option(uint16(r.IntN(16)), junk))
			return w.name("key.").rr(dns.TypeTSIG, 255, 0, junk)
		}
	}
}

// TestMalformedTraffic sends 100,000 malformed or random packets over UDP
// and a few hundred messages over TCP, then real queries. The server stays
// up and answers every real query, goroutines stay bounded, nothing
// panics, and not one reply goes to a packet with QR=1: those are sent
// from a socket of their own, which must receive nothing.
func TestMalformedTraffic(t *testing.T) {
	const udpPackets = 100_000
	f := newFixture(t, useECS)
	base := runtime.NumGoroutine()
	gen := malformed(7)

	queries := udpFrom(t, "127.0.0.1", f.addr)   // QR=0 packets; replies drained and checked
	responses := udpFrom(t, "127.0.0.1", f.addr) // QR=1 packets only: must get nothing
	var replies, badReplies, qrReplies atomic.Int64
	var wg sync.WaitGroup
	for _, c := range []*net.UDPConn{queries, responses} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 65535)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return // closed at the end
				}
				if c == responses {
					qrReplies.Add(1)
					continue
				}
				replies.Add(1)
				m := new(dns.Msg)
				if m.Unpack(buf[:n]) != nil || !m.Response {
					badReplies.Add(1)
				}
			}
		}()
	}

	// Send without waiting for replies, but no further ahead of the
	// server than its socket buffer holds, so the kernel drops nothing.
	handled := func() int64 { return int64(f.h.Stats.Queries.Load() + f.h.Stats.Dropped.Load()) }
	start := time.Now()
	var sentQR int
	peak := runtime.NumGoroutine()
	for i := range udpPackets {
		b := gen()
		c := queries
		if len(b) > 2 && i%10 == 0 {
			b[2] |= 0x80
		}
		if len(b) > 2 && b[2]&0x80 != 0 {
			c = responses
			sentQR++
		}
		if _, err := c.Write(b); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if i%1000 == 0 {
			peak = max(peak, runtime.NumGoroutine())
		}
		if i%32 == 31 {
			deadline := time.Now().Add(2 * time.Second)
			for handled() < int64(i+1)-128 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	waitFor(5*time.Second, func() bool { return handled() >= udpPackets })
	t.Logf("%d UDP packets (%d with QR=1) in %v; %d handled, %d replies", udpPackets, sentQR, time.Since(start).Round(time.Millisecond), handled(), replies.Load())
	// The server's UDP readers are fixed: the flood adds no goroutine
	// (the two above are this test's readers).
	if peak > base+2 {
		t.Errorf("%d goroutines during the flood, %d before (+2 readers of the test)", peak, base)
	}
	if lost := udpPackets - handled(); lost > udpPackets/1000 {
		t.Errorf("%d packets never reached the handler (socket buffer overflow?)", lost)
	}

	// TCP: malformed messages pipelined on 30 connections, each ended
	// by a real query that must be answered; then connections that die
	// mid-message.
	for range 30 {
		co := dnstest.Dial(t, "tcp", f.addr)
		var frames []byte
		for range 10 {
			b := gen()
			if len(b) > 2 {
				b[2] &^= 0x80
			}
			frames = append(frames, byte(len(b)>>8), byte(len(b)))
			frames = append(frames, b...)
		}
		good := query{q: "static.example.test. A"}.msg()
		good.Id = 0xBEEF
		raw, _ := good.Pack()
		frames = append(frames, byte(len(raw)>>8), byte(len(raw)))
		frames = append(frames, raw...)
		if _, err := co.Conn.Write(frames); err != nil {
			t.Fatal(err)
		}
		for {
			m := dnstest.Unpack(t, dnstest.ReadRaw(t, co))
			if m.Id == 0xBEEF && len(m.Answer) == 2 {
				break
			}
		}
		co.Close()
	}
	for _, b := range [][]byte{
		{0},                   // half a length
		{0, 100, 0, 1, 2},     // a length, then less
		{0xFF, 0xFF, 0, 1},    // 65535 announced
		{0, 0},                // an empty message
		{0, 5, 0, 1, 0, 0, 0}, // a runt
	} {
		co := dnstest.Dial(t, "tcp", f.addr)
		if _, err := co.Conn.Write(b); err != nil {
			t.Fatal(err)
		}
		co.Close()
	}

	// Real queries: every one answered.
	u, tc := udpFrom(t, "127.0.0.1", f.addr), tcpFrom(t, "127.0.0.1", f.addr)
	for i := range 250 {
		c := net.Conn(u)
		if i%5 == 0 {
			c = tc.Conn
		}
		r := exchangeOn(t, c, query{q: "www.example.test. A", edns: 1232}.msg())
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("real query %d: %v", i, r)
		}
	}
	u.Close()
	tc.Close()

	queries.Close()
	responses.Close()
	wg.Wait()
	if n := qrReplies.Load(); n != 0 {
		t.Errorf("%d replies to QR=1 packets, want none", n)
	}
	if n := badReplies.Load(); n != 0 {
		t.Errorf("%d replies are not well-formed responses", n)
	}
	if p := f.h.Stats.Panics.Load(); p != 0 {
		t.Errorf("%d panics", p)
	}
	// The TCP connections above are closed by now or soon: goroutines
	// come back to where they were, give or take the test's own.
	if !waitFor(3*time.Second, func() bool { return runtime.NumGoroutine() <= base+10 }) {
		t.Errorf("%d goroutines, %d before the traffic", runtime.NumGoroutine(), base)
	}
}
