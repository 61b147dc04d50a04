package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// probeNow runs one real probe the way the Manager does: defaults filled
// in, under a context with the spec's timeout.
func probeNow(t *testing.T, addr netip.AddrPort, spec Spec) Result {
	t.Helper()
	spec.Port = addr.Port()
	spec = spec.WithDefaults()
	if spec.Timeout == 2*time.Second {
		spec.Timeout = time.Second // keep failing tests short
	}
	ctx, cancel := context.WithTimeout(context.Background(), spec.Timeout)
	defer cancel()
	return NetProber{}.Probe(ctx, Target{Key: "t", Addr: addr.Addr(), Spec: spec})
}

func addrOf(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T, network string) netip.AddrPort {
	t.Helper()
	var a net.Addr
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = pc.LocalAddr()
		pc.Close()
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = ln.Addr()
		ln.Close()
	}
	return addrOf(t, a)
}

func TestHTTPProbe(t *testing.T) {
	okBody := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "status: healthy\n") }
	tests := []struct {
		name    string
		handler http.HandlerFunc
		spec    Spec
		ok      bool
		reason  string // exact, or a prefix when it ends in "*"
	}{
		{"200", okBody, Spec{}, true, "ok"},
		{"204 in 2xx", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, Spec{}, true, "ok"},
		{"503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, Spec{}, false, "status 503"},
		{"503 expected", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) },
			Spec{Expect: []string{"503"}}, true, "ok"},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				http.Redirect(w, r, "/", http.StatusFound)
				return
			}
			w.WriteHeader(200)
		}, Spec{Path: "/healthz"}, false, "status 302"},
		{"redirect expected", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/x", http.StatusMovedPermanently) },
			Spec{Expect: []string{"200", "3xx"}}, true, "ok"},
		{"body contains", okBody, Spec{Body: "healthy"}, true, "ok"},
		{"body missing", okBody, Spec{Body: "ready"}, false, `body does not contain "ready"`},
		{"body past 64 KiB is not read", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, strings.Repeat("x", MaxBody))
			io.WriteString(w, "healthy")
		}, Spec{Body: "healthy"}, false, `body does not contain "healthy"`},
		{"path, host and headers sent", func(w http.ResponseWriter, r *http.Request) {
			if r.Host != "www.example.test" || r.URL.RequestURI() != "/hz?deep=1" || r.Header.Get("X-Check") != "gslb" {
				http.Error(w, "wrong request", 400)
			}
		}, Spec{Path: "/hz?deep=1", Host: "www.example.test", Headers: map[string]string{"X-Check": "gslb"}}, true, "ok"},
		{"slow handler", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, Spec{Timeout: 200 * time.Millisecond}, false, "timeout after 200ms"},
		{"slow body", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "status: ")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, Spec{Body: "healthy", Timeout: 200 * time.Millisecond}, false, "timeout after 200ms"},
		{"connection closed", func(w http.ResponseWriter, r *http.Request) {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
		}, Spec{}, false, "http: connection closed by peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			spec := tt.spec
			spec.Type = "http"
			res := probeNow(t, addrOf(t, srv.Listener.Addr()), spec)
			if res.OK != tt.ok || !reasonMatches(res.Reason, tt.reason) {
				t.Errorf("%+v: got ok=%v reason %q, want ok=%v reason %q", spec, res.OK, res.Reason, tt.ok, tt.reason)
			}
			if res.Latency <= 0 {
				t.Errorf("latency: got %v, want > 0", res.Latency)
			}
		})
	}
}

func reasonMatches(got, want string) bool {
	if p, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(got, p)
	}
	return got == want
}

func TestHTTPProbeNotHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for { // read the request, then answer with something else
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
			}()
		}
	}()
	res := probeNow(t, addrOf(t, ln.Addr()), Spec{Type: "http"})
	if res.OK || !strings.HasPrefix(res.Reason, "http: ") || strings.Contains(res.Reason, "127.0.0.1") {
		t.Errorf("got ok=%v reason %q, want a failure starting \"http: \" without the URL", res.OK, res.Reason)
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name   string
		addr   netip.AddrPort
		ok     bool
		reason string
	}{
		{"listening", addrOf(t, ln.Addr()), true, "ok"},
		{"refused", closedPort(t, "tcp"), false, "connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := probeNow(t, tt.addr, Spec{Type: "tcp"})
			if res.OK != tt.ok || res.Reason != tt.reason {
				t.Errorf("tcp %v: got ok=%v reason %q, want ok=%v reason %q", tt.addr, res.OK, res.Reason, tt.ok, tt.reason)
			}
		})
	}
	res := probeNow(t, closedPort(t, "tcp"), Spec{Type: "http"})
	if res.Reason != "connect: connection refused" {
		t.Errorf("http to a closed port: got %q, want \"connect: connection refused\"", res.Reason)
	}
}

func TestHTTPSProbe(t *testing.T) {
	var mu sync.Mutex
	var sni []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		sni = append(sni, hi.ServerName)
		mu.Unlock()
		return nil, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	addr := addrOf(t, srv.Listener.Addr())

	tests := []struct {
		name   string
		addr   netip.AddrPort
		spec   Spec
		ok     bool
		reason string
	}{
		{"self-signed fails", addr, Spec{}, false, "tls: certificate signed by unknown authority"},
		{"self-signed with insecure", addr, Spec{Insecure: true}, true, "ok"},
		{"insecure with host and body", addr, Spec{Insecure: true, Host: "www.example.test", Body: "ok"}, true, "ok"},
		{"plain http server", addrOf(t, plain.Listener.Addr()), Spec{}, false, "tls: server did not answer with tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Type = "https"
			res := probeNow(t, tt.addr, spec)
			if res.OK != tt.ok || res.Reason != tt.reason {
				t.Errorf("%+v: got ok=%v reason %q, want ok=%v reason %q", spec, res.OK, res.Reason, tt.ok, tt.reason)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(sni, ","), "www.example.test") {
		t.Errorf("SNI seen by the server: got %q, want www.example.test among them", sni)
	}
}

// startDNS serves a few test names over UDP on 127.0.0.1:0.
func startDNS(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		switch strings.ToLower(q.Name) {
		case ".", "example.test.":
			if q.Qtype == dns.TypeSOA {
				rr, _ := dns.NewRR(q.Name + " 60 IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 1209600 60")
				m.Answer = append(m.Answer, rr)
			}
		case "servfail.test.":
			m.Rcode = dns.RcodeServerFailure
		case "missing.test.":
			m.Rcode = dns.RcodeNameError
		case "silent.test.":
			return // never answer
		}
		w.WriteMsg(m)
	})
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return addrOf(t, pc.LocalAddr())
}

func TestDNSProbe(t *testing.T) {
	addr := startDNS(t)
	tests := []struct {
		name   string
		addr   netip.AddrPort
		spec   Spec
		ok     bool
		reason string
	}{
		{"default query . SOA", addr, Spec{}, true, "ok"},
		{"zone apex SOA", addr, Spec{Query: "Example.Test"}, true, "ok"},
		{"no answer records", addr, Spec{Query: "example.test", QueryType: "A"}, false, "dns: no answer records"},
		{"servfail", addr, Spec{Query: "servfail.test"}, false, "dns: rcode servfail"},
		{"nxdomain", addr, Spec{Query: "missing.test"}, false, "dns: rcode nxdomain"},
		{"no reply", addr, Spec{Query: "silent.test", Timeout: 200 * time.Millisecond}, false, "timeout after 200ms"},
		{"closed port", closedPort(t, "udp"), Spec{}, false, "connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Type = "dns"
			res := probeNow(t, tt.addr, spec)
			if res.OK != tt.ok || res.Reason != tt.reason {
				t.Errorf("%+v: got ok=%v reason %q, want ok=%v reason %q", spec, res.OK, res.Reason, tt.ok, tt.reason)
			}
		})
	}
}

// realManager returns a Manager that allows the short intervals that
// real-time tests need.
func realManager(t *testing.T) *Manager {
	t.Helper()
	m := New(Options{Logger: testLogger(t)})
	m.minInt = 10 * time.Millisecond
	t.Cleanup(m.Close)
	return m
}

// waitFor polls the view until cond holds for key, or fails after a
// generous deadline. It asserts on the outcome, never on the timing.
func waitFor(t *testing.T, m *Manager, key, what string, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := m.Current().Get(key)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited 10s for %s, last status %+v", key, what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isUp(st Status) bool   { return st.Known && st.Up }
func isDown(st Status) bool { return st.Known && !st.Up }

func TestManagerHTTPDownAndBackUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := addrOf(t, ln.Addr())
	healthy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	serve := func(ln net.Listener) *httptest.Server {
		srv := httptest.NewUnstartedServer(healthy)
		srv.Listener.Close()
		srv.Listener = ln
		srv.Start()
		return srv
	}
	srv := serve(ln)
	defer func() { srv.Close() }()

	m := realManager(t)
	spec := Spec{Type: "http", Port: addr.Port(), Body: "ok", Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond}
	tg := Target{Addr: addr.Addr(), Spec: spec}
	key := tg.DefaultKey()
	m.Update([]Target{tg})

	st := waitFor(t, m, key, "up", isUp)
	if st.Reason != "ok" || st.Latency <= 0 {
		t.Errorf("up: got %+v, want reason ok and a latency", st)
	}

	srv.Close()
	// A loaded machine may time a probe out; the outcome that matters is
	// down with the refusal, so wait for that rather than for any down.
	waitFor(t, m, key, "down, refused", func(st Status) bool {
		return isDown(st) && st.Reason == "connect: connection refused"
	})

	ln, err = net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatalf("listen again on %v: %v", addr, err)
	}
	srv = serve(ln)
	waitFor(t, m, key, "up again", isUp)

	rec := m.Recent(10)
	if len(rec) != 2 || rec[0].Up != true || rec[1].Up != false {
		t.Errorf("Recent: got %+v, want [up, down]", rec)
	}
}

func TestManagerHTTP503AndTimeout(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer bad.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	m := realManager(t)
	var ts []Target
	for _, s := range []*httptest.Server{bad, slow} {
		a := addrOf(t, s.Listener.Addr())
		ts = append(ts, Target{Key: s.URL, Addr: a.Addr(),
			Spec: Spec{Type: "http", Port: a.Port(), Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond}})
	}
	m.Update(ts)
	waitFor(t, m, bad.URL, "down with status 503", func(st Status) bool {
		return isDown(st) && st.Reason == "status 503"
	})
	waitFor(t, m, slow.URL, "down with a timeout", func(st Status) bool {
		return isDown(st) && st.Reason == "timeout after 80ms"
	})
}

// TestManagerDialsTheTargetAddress runs two servers on the same port of
// two loopback addresses and checks that each probe reaches its own
// address, whatever the Host header says.
func TestManagerDialsTheTargetAddress(t *testing.T) {
	ln1, err := net.Listen("tcp", "127.0.0.11:0")
	if err != nil {
		t.Skipf("cannot bind 127.0.0.11 (not Linux loopback?): %v", err)
	}
	port := addrOf(t, ln1.Addr()).Port()
	ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.12:%d", port))
	if err != nil {
		ln1.Close()
		t.Skipf("cannot bind 127.0.0.12:%d: %v", port, err)
	}
	for i, ln := range []net.Listener{ln1, ln2} {
		code := []int{200, 503}[i]
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })}
		go srv.Serve(ln)
		defer srv.Close()
	}
	m := realManager(t)
	spec := Spec{Type: "http", Port: port, Host: "www.example.test", Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond}
	m.Update([]Target{
		{Key: "eleven", Addr: netip.MustParseAddr("127.0.0.11"), Spec: spec},
		{Key: "twelve", Addr: netip.MustParseAddr("127.0.0.12"), Spec: spec},
	})
	waitFor(t, m, "eleven", "up", isUp)
	waitFor(t, m, "twelve", "down with status 503", func(st Status) bool {
		return isDown(st) && st.Reason == "status 503"
	})
}
