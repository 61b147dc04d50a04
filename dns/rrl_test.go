package dns_test

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/rrl"
)

// Clients at loopback addresses other than 127.0.0.1 (Linux routes all of
// 127.0.0.0/8 to lo): the RRL tests exempt only ::1, so 127.0.0.2 is a
// remote network like any other.

// udpFrom returns a UDP socket bound to the address src and connected to
// addr.
func udpFrom(t testing.TB, src, addr string) *net.UDPConn {
	t.Helper()
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, ra)
	if err != nil {
		t.Fatalf("udp from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tcpFrom opens a TCP connection from the address src to addr.
func tcpFrom(t testing.TB, src, addr string) *dns.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: dnstest.Timeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("tcp from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(dnstest.Timeout))
	return &dns.Conn{Conn: c}
}

// burstResult sorts the replies to a burst.
type burstResult struct {
	sent, full, slipped int // full: no TC; slipped: TC and no records
	bytesIn, bytesOut   int
}

func (b burstResult) String() string {
	return fmt.Sprintf("%d sent: %d answered, %d slipped, %d unanswered", b.sent, b.full, b.slipped, b.sent-b.full-b.slipped)
}

// burst sends the queries mk(i) for i < n on c back to back, then reads
// replies until none has come for 300ms. Every reply must be well formed,
// and a truncated one must be RRL's slip: the question, no records.
func burst(t testing.TB, c *net.UDPConn, n int, mk func(i int) *dns.Msg) burstResult {
	t.Helper()
	var r burstResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			r.bytesOut += k
			m := new(dns.Msg)
			if err := m.Unpack(buf[:k]); err != nil {
				t.Errorf("reply does not unpack: %v", err)
				continue
			}
			switch {
			case !m.Truncated:
				r.full++
			case len(m.Question) == 1 && len(m.Answer)+len(m.Ns) == 0:
				r.slipped++
			default:
				t.Errorf("truncated reply with records: %v", m)
			}
		}
	}()
	for i := range n {
		m := mk(i)
		m.Id = uint16(i)
		raw, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(raw); err != nil {
			t.Fatal(err)
		}
		r.sent++
		r.bytesIn += len(raw)
	}
	<-done
	return r
}

func same(q query) func(int) *dns.Msg { return func(int) *dns.Msg { return q.msg() } }

// rrlFixture serves with RRL at rate responses/s per key and only ::1
// exempt; edit changes the rest.
func rrlFixture(t testing.TB, rate int, edit func(*rrl.Config)) *fixture {
	return newFixture(t, func(c *dnssrv.Config) {
		rc := rrl.DefaultConfig()
		rc.ResponsesPerSecond = rate
		rc.Exempt = []netip.Prefix{netip.MustParsePrefix("::1/128")}
		if edit != nil {
			edit(&rc)
		}
		c.RRL = &rc
	})
}

// TestRRL: over UDP, a burst beyond the rate from one network gets the
// rate's worth of answers, then alternately a slip (TC, question only)
// and nothing; TCP from the same address and other networks are not
// affected; answers are keyed by name, NXDOMAIN by zone, referrals by
// delegation, errors together.
func TestRRL(t *testing.T) {
	const rate, n = 10, 60
	static := query{q: "static.example.test. A", edns: 1232}
	// limited checks the slip pattern: about one second's worth of
	// answers (the burst takes a few ms, a credit comes back every 100),
	// then every other limited response slips, starting with the first.
	limited := func(t *testing.T, what string, r burstResult) {
		t.Helper()
		if r.full < rate || r.full > rate+2 {
			t.Errorf("%s: %v, want %d answered", what, r, rate)
		}
		if want := (r.sent - r.full + 1) / 2; r.slipped != want {
			t.Errorf("%s: %v, want %d slipped (every other limited response)", what, r, want)
		}
	}
	unlimited := func(t *testing.T, what string, r burstResult) {
		t.Helper()
		if r.full != r.sent {
			t.Errorf("%s: %v, want all answered", what, r)
		}
	}

	t.Run("slip pattern, TCP and other networks unaffected", func(t *testing.T) {
		f := rrlFixture(t, rate, nil)
		r := burst(t, udpFrom(t, "127.0.0.2", f.addr), n, same(static))
		limited(t, "UDP from 127.0.0.2", r)
		if got, want := f.h.Stats.RRLSlipped.Load(), uint64(r.slipped); got != want {
			t.Errorf("Stats.RRLSlipped = %d, want %d", got, want)
		}
		if got, want := f.h.Stats.RRLDropped.Load(), uint64(r.sent-r.full-r.slipped); got != want {
			t.Errorf("Stats.RRLDropped = %d, want %d", got, want)
		}
		if st := f.h.RRLStats(); st.Limited != uint64(r.sent-r.full) {
			t.Errorf("RRLStats().Limited = %d, want %d", st.Limited, r.sent-r.full)
		}
		// TCP from the same address, at once: never limited.
		co := tcpFrom(t, "127.0.0.2", f.addr)
		for i := range 20 {
			m := static.msg()
			m.Id = uint16(i)
			if err := co.WriteMsg(m); err != nil {
				t.Fatal(err)
			}
			got, err := co.ReadMsg()
			if err != nil || got.Truncated || len(got.Answer) != 2 {
				t.Fatalf("TCP query %d from the limited address: %v, %v; want the answer", i, got, err)
			}
		}
		// Another /24: its own allowance.
		unlimited(t, "UDP from 127.0.1.2", burst(t, udpFrom(t, "127.0.1.2", f.addr), rate, same(static)))
		// The same /24, another name: another key.
		unlimited(t, "UDP from 127.0.0.3, another name", burst(t, udpFrom(t, "127.0.0.3", f.addr), rate, same(query{q: "mail.example.test. A"})))
		// The same /24, the same name: the same key, still limited.
		if r := burst(t, udpFrom(t, "127.0.0.4", f.addr), 4, same(static)); r.full != 0 {
			t.Errorf("UDP from 127.0.0.4 (same /24): %v, want none answered", r)
		}
	})

	t.Run("NXDOMAIN keyed by zone", func(t *testing.T) {
		f := rrlFixture(t, rate, nil)
		c := udpFrom(t, "127.0.0.2", f.addr)
		limited(t, "random names in example.test", burst(t, c, n, func(i int) *dns.Msg {
			return query{q: fmt.Sprintf("nx%d.example.test. A", i)}.msg()
		}))
		unlimited(t, "random names in neg.test", burst(t, c, rate, func(i int) *dns.Msg {
			return query{q: fmt.Sprintf("nx%d.neg.test. A", i)}.msg()
		}))
	})

	t.Run("referrals keyed by delegation", func(t *testing.T) {
		f := rrlFixture(t, rate, nil)
		limited(t, "names under sub.example.test", burst(t, udpFrom(t, "127.0.0.2", f.addr), n, func(i int) *dns.Msg {
			return query{q: fmt.Sprintf("h%d.sub.example.test. A", i)}.msg()
		}))
	})

	t.Run("errors share one key", func(t *testing.T) {
		f := rrlFixture(t, rate, nil)
		c := udpFrom(t, "127.0.0.2", f.addr)
		limited(t, "REFUSED for other names", burst(t, c, n, func(i int) *dns.Msg {
			return query{q: fmt.Sprintf("n%d.example.org. A", i)}.msg()
		}))
		if r := burst(t, c, 4, func(int) *dns.Msg { return query{q: "example.test. AXFR"}.msg() }); r.full != 0 {
			t.Errorf("REFUSED AXFR after them: %v, want none answered", r)
		}
	})

	t.Run("answers keyed by name and type", func(t *testing.T) {
		f := rrlFixture(t, rate, nil)
		c := udpFrom(t, "127.0.0.2", f.addr)
		limited(t, "static A", burst(t, c, n, same(query{q: "static.example.test. A"})))
		unlimited(t, "static AAAA", burst(t, c, rate, same(query{q: "static.example.test. AAAA"})))
	})

	t.Run("log only", func(t *testing.T) {
		f := rrlFixture(t, rate, func(c *rrl.Config) { c.LogOnly = true })
		unlimited(t, "log_only", burst(t, udpFrom(t, "127.0.0.2", f.addr), n, same(static)))
		if st := f.h.RRLStats(); st.WouldLimit < n-rate-2 || st.Limited != 0 {
			t.Errorf("RRLStats() = %+v, want WouldLimit about %d and nothing limited", st, n-rate)
		}
	})

	t.Run("loopback exempt by default", func(t *testing.T) {
		f := rrlFixture(t, rate, func(c *rrl.Config) { c.Exempt = rrl.DefaultConfig().Exempt })
		unlimited(t, "default exemptions, from 127.0.0.2", burst(t, udpFrom(t, "127.0.0.2", f.addr), n, same(static)))
		if st := f.h.RRLStats(); st.Exempt != n {
			t.Errorf("RRLStats().Exempt = %d, want %d", st.Exempt, n)
		}
	})

	t.Run("off", func(t *testing.T) {
		f := rrlFixture(t, 0, nil)
		unlimited(t, "rate 0", burst(t, udpFrom(t, "127.0.0.2", f.addr), n, same(static)))
	})
}

var rrlFlood = flag.Duration("rrl-flood", 2*time.Second, "how long TestRRLFlood floods (the figures in docs/hardening.md are for 10s)")
var rrlFloodQ = flag.String("rrl-flood-q", "www.example.test. A", "the query TestRRLFlood floods with (EDNS 1232)")

// TestRRLFlood is the RRL measurement of docs/hardening.md: 2,000 queries/s
// from one /24 (default RRL: 200/s, slip 2) while a resolver in another
// network asks 20 times a second. The flood gets at most the rate plus
// one second of answers and slips for half the rest, its bytes out per
// byte in stay below 1, and every query of the other network is answered.
// -rrl-flood sets the duration (10s for the documented figures).
func TestRRLFlood(t *testing.T) {
	const qps = 2000
	f := newFixture(t, func(c *dnssrv.Config) {
		rc := rrl.DefaultConfig()
		rc.Exempt = []netip.Prefix{netip.MustParsePrefix("::1/128")}
		c.RRL = &rc
	})
	dur := *rrlFlood
	flood := udpFrom(t, "127.0.0.2", f.addr)
	q := query{q: *rrlFloodQ, edns: 1232}

	var wg sync.WaitGroup
	var legitSent, legitOK int
	stop := make(chan struct{})
	c := udpFrom(t, "127.0.1.2", f.addr)
	wg.Add(1)
	go func() { // the resolver in another network
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		buf := make([]byte, 65535)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			m := query{q: "static.example.test. A", edns: 1232}.msg()
			m.Id = uint16(i)
			raw, _ := m.Pack()
			legitSent++
			if _, err := c.Write(raw); err != nil {
				continue
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			for {
				k, err := c.Read(buf)
				if err != nil {
					break
				}
				r := new(dns.Msg)
				if r.Unpack(buf[:k]) == nil && r.Id == m.Id && !r.Truncated && len(r.Answer) == 2 {
					legitOK++
					break
				}
			}
		}
	}()

	// The flood: 2,000 queries a second, paced in 10ms steps, replies
	// read and sorted as they come.
	var res burstResult
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 65535)
		for {
			_ = flood.SetReadDeadline(time.Now().Add(time.Second))
			k, err := flood.Read(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					select {
					case <-stop:
						return
					default:
						continue
					}
				}
				return
			}
			res.bytesOut += k
			if buf[2]&0x02 != 0 && buf[6]|buf[7] == 0 { // TC, no answer: a slip
				res.slipped++
			} else {
				res.full++
			}
		}
	}()
	raw, _ := q.msg().Pack()
	start := time.Now()
	for step := 0; time.Since(start) < dur; step++ {
		for i := 0; i < qps/100; i++ {
			raw[0], raw[1] = byte(res.sent>>8), byte(res.sent)
			if _, err := flood.Write(raw); err != nil {
				t.Fatal(err)
			}
			res.sent++
			res.bytesIn += len(raw)
		}
		time.Sleep(time.Until(start.Add(time.Duration(step+1) * 10 * time.Millisecond)))
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	<-readDone

	ratio := float64(res.bytesOut) / float64(res.bytesIn)
	t.Logf("flood %q for %v: %v; %d bytes in, %d out: %.2f out per byte in", q.q, took.Round(time.Millisecond), res, res.bytesIn, res.bytesOut, ratio)
	t.Logf("another network: %d of %d queries answered", legitOK, legitSent)
	st := f.h.RRLStats()
	t.Logf("RRL stats: %+v", st)
	rate := float64(rrl.DefaultResponsesPerSecond)
	if maxFull := int(rate*(took.Seconds()+1)) + 20; res.full > maxFull {
		t.Errorf("flood: %d answered in %v, want at most %d (the rate plus one second)", res.full, took, maxFull)
	}
	if limited := res.sent - res.full; res.slipped < limited*45/100 || res.slipped > limited*55/100 {
		t.Errorf("flood: %d slipped of %d limited, want about half", res.slipped, limited)
	}
	if ratio >= 1 {
		t.Errorf("flood: %.2f bytes out per byte in, want < 1", ratio)
	}
	if legitOK != legitSent || legitSent < int(dur/(50*time.Millisecond))/2 {
		t.Errorf("another network: %d of %d queries answered, want all", legitOK, legitSent)
	}
}
