package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The wiring: zones, GeoIP and the handler settings from the config reach
// the DNS server, over UDP and TCP.
func TestServeAnswers(t *testing.T) {
	cfg := testConfig(copyZones(t, filepath.Join("testdata", "zones")))
	cfg.GeoIP = []string{writeCityDB(t)}
	cfg.MaxUDPSize = 1400
	cfg.Chaos.Version, cfg.Chaos.ID = "gslb test", "node-1"
	ts := startServer(t, cfg)

	tests := []struct {
		name    string
		q       string // "NAME TYPE"
		opts    []queryOpt
		rcode   string
		aa      bool
		answer  []string
		ns      []string // authority section; nil: not checked
		extra   []string // additional section without OPT; nil: not checked
		scope   int      // ECS scope; -1: no ECS option expected
		udpSize uint16   // our EDNS payload size; 0: no OPT expected
	}{
		{name: "geo: GB client by ECS", q: "www.example.test. A", opts: []queryOpt{withECS("81.2.69.0/24")},
			rcode: "NOERROR", aa: true, answer: []string{"www.example.test. 30 IN A 192.0.2.10"}, scope: 24, udpSize: 1400},
		{name: "geo: US client by ECS", q: "www.example.test. A", opts: []queryOpt{withECS("216.160.83.0/24")},
			rcode: "NOERROR", aa: true, answer: []string{"www.example.test. 30 IN A 192.0.2.11"}, scope: 24, udpSize: 1400},
		{name: "geo: network tier", q: "www.example.test. A", opts: []queryOpt{withECS("203.0.113.0/24")},
			rcode: "NOERROR", aa: true, answer: []string{"www.example.test. 30 IN A 192.0.2.11"}, scope: 24, udpSize: 1400},
		{name: "roundrobin, no EDNS", q: "api.example.test. A", rcode: "NOERROR", aa: true, scope: -1,
			answer: []string{"api.example.test. 30 IN A 192.0.2.20", "api.example.test. 30 IN A 192.0.2.21", "api.example.test. 30 IN A 192.0.2.22"}},
		{name: "static", q: "mail.example.test. A", rcode: "NOERROR", aa: true, scope: -1,
			answer: []string{"mail.example.test. 3600 IN A 198.51.100.25"}},
		{name: "NXDOMAIN carries the SOA", q: "nope.example.test. A", rcode: "NXDOMAIN", aa: true, scope: -1, answer: []string{},
			ns: []string{"example.test. 60 IN SOA ns1.example.test. hostmaster.example.test. %SERIAL% 3600 600 1209600 60"}},
		{name: "referral with glue", q: "www.sub.example.test. A", rcode: "NOERROR", aa: false, scope: -1, answer: []string{},
			ns: []string{"sub.example.test. 3600 IN NS ns1.sub.example.test."}, extra: []string{"ns1.sub.example.test. 3600 IN A 198.51.100.99"}},
		{name: "second zone", q: "www.other.test. A", rcode: "NOERROR", aa: true, scope: -1, answer: []string{"www.other.test. 3600 IN A 198.51.100.80"}},
		{name: "outside every zone", q: "www.example.com. A", rcode: "REFUSED", scope: -1, answer: []string{}},
		{name: "CHAOS version.bind", q: "version.bind. TXT", opts: []queryOpt{withClass(dns.ClassCHAOS)}, rcode: "NOERROR", aa: true, scope: -1,
			answer: []string{`version.bind. 0 CH TXT "gslb test"`}},
		{name: "CHAOS id.server", q: "id.server. TXT", opts: []queryOpt{withClass(dns.ClassCHAOS)}, rcode: "NOERROR", aa: true, scope: -1,
			answer: []string{`id.server. 0 CH TXT "node-1"`}},
		{name: "EDNS payload size is ours", q: "mail.example.test. A", opts: []queryOpt{withEDNS(4096)}, rcode: "NOERROR", aa: true, scope: -1,
			answer: []string{"mail.example.test. 3600 IN A 198.51.100.25"}, udpSize: 1400},
	}
	soaSerial := fmt.Sprint(serial(t, ts.dnsAddr, "example.test."))
	for _, netw := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(netw+"/"+tt.name, func(t *testing.T) {
				name, typ, _ := strings.Cut(tt.q, " ")
				r, err := exchange(netw, ts.dnsAddr, name, dns.StringToType[typ], tt.opts...)
				if err != nil {
					t.Fatalf("%s over %s: %v", tt.q, netw, err)
				}
				if got := dns.RcodeToString[r.Rcode]; got != tt.rcode {
					t.Errorf("%s: rcode %s, want %s", tt.q, got, tt.rcode)
				}
				if r.Authoritative != tt.aa {
					t.Errorf("%s: aa %v, want %v", tt.q, r.Authoritative, tt.aa)
				}
				if got := rrs(r.Answer); !slices.Equal(got, tt.answer) && tt.answer != nil {
					t.Errorf("%s: answer\n got %q\nwant %q", tt.q, got, tt.answer)
				}
				if tt.ns != nil {
					want := make([]string, len(tt.ns))
					for i, s := range tt.ns {
						want[i] = strings.ReplaceAll(s, "%SERIAL%", soaSerial)
					}
					if got := rrs(r.Ns); !slices.Equal(got, want) {
						t.Errorf("%s: authority\n got %q\nwant %q", tt.q, got, want)
					}
				}
				var extra []dns.RR
				var opt *dns.OPT
				for _, rr := range r.Extra {
					if o, ok := rr.(*dns.OPT); ok {
						opt = o
						continue
					}
					extra = append(extra, rr)
				}
				if got := rrs(extra); tt.extra != nil && !slices.Equal(got, tt.extra) {
					t.Errorf("%s: additional\n got %q\nwant %q", tt.q, got, tt.extra)
				}
				switch {
				case tt.udpSize == 0 && opt != nil:
					t.Errorf("%s: OPT in a reply to a query without EDNS", tt.q)
				case tt.udpSize != 0 && opt == nil:
					t.Errorf("%s: no OPT, want one with payload size %d", tt.q, tt.udpSize)
				case opt != nil && opt.UDPSize() != tt.udpSize:
					t.Errorf("%s: our EDNS payload size %d, want %d (max_udp_size)", tt.q, opt.UDPSize(), tt.udpSize)
				}
				scope := -1
				if opt != nil {
					for _, o := range opt.Option {
						if e, ok := o.(*dns.EDNS0_SUBNET); ok {
							scope = int(e.SourceScope)
						}
					}
				}
				if scope != tt.scope {
					t.Errorf("%s: ECS scope %d, want %d", tt.q, scope, tt.scope)
				}
			})
		}
	}
}

// The zone file the reload test edits: the pool www has one address and
// static.example.test a TXT naming the version.
func reloadZone(version int, addr string) string {
	return fmt.Sprintf(`ns = ["ns1"]
[records.ns1]
A = ["198.51.100.53"]
[records.static]
TXT = ["version %d"]
[pools.www]
addresses = [%q]
`, version, addr)
}

// brokenZone has three mistakes: a pool without addresses (line 4), a
// misspelt key (line 5), a bad MX (line 8).
const brokenZone = `ns = ["ns1"]
[records.ns1]
A = ["198.51.100.53"]
[pools.www]
adresses = ["192.0.2.99"]
[records.static]
TXT = ["broken"]
MX = ["not an mx"]
`

// querier asks continuously and records every query that did not get a
// good answer (a timeout, SERVFAIL, or no address for www).
type querier struct {
	n        atomic.Int64
	mu       sync.Mutex
	failures []string
}

func (q *querier) run(ctx context.Context, addr string) {
	for i := 0; ctx.Err() == nil; i++ {
		netw := "udp"
		if i%4 == 3 {
			netw = "tcp"
		}
		r, err := exchange(netw, addr, "www.example.test.", dns.TypeA)
		if ctx.Err() != nil && err != nil {
			return
		}
		q.n.Add(1)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			q.mu.Lock()
			q.failures = append(q.failures, fmt.Sprintf("query %d over %s: %s", i, netw, summary(r, err)))
			q.mu.Unlock()
		}
	}
}

// The core of the foundation: edits, breakage and new and removed files
// apply while queries flow, and every query gets an answer.
func TestReloadWhileQuerying(t *testing.T) {
	dir := t.TempDir()
	writeZone(t, dir, "example.test.toml", reloadZone(1, "192.0.2.1"))
	ts := startServer(t, testConfig(dir))
	addr := ts.dnsAddr
	zoneFile := filepath.Join(dir, "example.test.toml")

	ctx, stop := context.WithCancel(context.Background())
	q := &querier{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(ctx, addr)
	}()
	defer func() {
		stop()
		<-done
		t.Logf("%d queries during the test", q.n.Load())
		if q.n.Load() == 0 {
			t.Errorf("the querier sent no queries")
		}
		for _, f := range q.failures {
			t.Errorf("during reloads: %s", f)
		}
	}()

	// answersWith waits until www.example.test answers want (via the
	// fsnotify watcher: nothing here triggers a reload).
	answersWith := func(what string, want ...string) {
		t.Helper()
		waitFor(t, what, func() (bool, string) {
			r, err := exchange("udp", addr, "www.example.test.", dns.TypeA)
			return err == nil && slices.Equal(addrs(r), want), summary(r, err)
		})
	}
	zoneStatus := func(st statusJSON, file string) (z struct {
		serving, stale bool
		errs           []errorJSONTest
	}, ok bool) {
		for _, zs := range st.Zones {
			if zs.File == file {
				return struct {
					serving, stale bool
					errs           []errorJSONTest
				}{zs.Serving, zs.Stale, zs.Errors}, true
			}
		}
		return z, false
	}

	answersWith("the first version", "192.0.2.1")
	serial1 := serial(t, addr, "example.test.")

	t.Run("edit", func(t *testing.T) {
		writeZone(t, dir, "example.test.toml", reloadZone(2, "192.0.2.2"))
		answersWith("the edited pool", "192.0.2.2")
		if s := serial(t, addr, "example.test."); s <= serial1 {
			t.Errorf("serial after an edit %d, want more than %d", s, serial1)
		}
	})

	t.Run("break", func(t *testing.T) {
		before := serial(t, addr, "example.test.")
		writeZone(t, dir, "example.test.toml", brokenZone)
		waitFor(t, "/status to show the broken file", func() (bool, string) {
			z, ok := zoneStatus(ts.status(t), zoneFile)
			return ok && z.stale, fmt.Sprintf("%+v", z)
		})
		st := ts.status(t)
		z, _ := zoneStatus(st, zoneFile)
		if !z.serving || !z.stale {
			t.Errorf("broken file: serving %v stale %v, want both true", z.serving, z.stale)
		}
		// Every mistake, in file order, with its position.
		want := []struct {
			line, col int
			key, msg  string
		}{
			{4, 8, "pools.www", "pool has no endpoints"},
			{5, 1, "pools.www.adresses", "unknown key"},
			{8, 7, "records.static.MX", "invalid MX data"},
		}
		if len(z.errs) != len(want) {
			t.Fatalf("broken file: errors %+v, want %d", z.errs, len(want))
		}
		for i, w := range want {
			e := z.errs[i]
			prefix := fmt.Sprintf("%s:%d:%d: %s: %s", zoneFile, w.line, w.col, w.key, w.msg)
			if e.File != zoneFile || e.Line != w.line || e.Col != w.col || e.Key != w.key || !strings.HasPrefix(e.Message, w.msg) || !strings.HasPrefix(e.Text, prefix) {
				t.Errorf("error %d: %+v, want text starting %q", i, e, prefix)
			}
		}
		if len(st.LastReload.Errors) != len(z.errs) || st.LastReload.Failures < 1 {
			t.Errorf("last_reload %+v, want the same %d errors and failures >= 1", st.LastReload, len(z.errs))
		}
		// The last good version still serves, serial unchanged.
		if r := query(t, addr, "www.example.test.", dns.TypeA); !slices.Equal(addrs(r), []string{"192.0.2.2"}) {
			t.Errorf("www while the file is broken: %s, want 192.0.2.2", summary(r, nil))
		}
		if got := rrs(query(t, addr, "static.example.test.", dns.TypeTXT).Answer); !slices.Equal(got, []string{`static.example.test. 3600 IN TXT "version 2"`}) {
			t.Errorf("static while the file is broken: %q, want version 2", got)
		}
		if s := serial(t, addr, "example.test."); s != before {
			t.Errorf("serial while the file is broken: %d, want %d", s, before)
		}
		code, page, _ := httpDo(t, http.MethodGet, ts.httpURL+"/", nil)
		if code != 200 || !strings.Contains(page, "serving last good version") || !strings.Contains(page, zoneFile+":5:1: pools.www.adresses") {
			t.Errorf("status page for a broken file (code %d) lacks the error or the stale state:\n%s", code, page)
		}
		if !strings.Contains(ts.logs.String(), `msg="zone file rejected"`) {
			t.Errorf("no \"zone file rejected\" log")
		}
	})

	t.Run("fix", func(t *testing.T) {
		before := serial(t, addr, "example.test.")
		writeZone(t, dir, "example.test.toml", reloadZone(3, "192.0.2.3"))
		answersWith("the fixed file", "192.0.2.3")
		st := ts.status(t)
		if z, _ := zoneStatus(st, zoneFile); z.stale || !z.serving || len(z.errs) != 0 {
			t.Errorf("fixed file: %+v, want serving, not stale, no errors", z)
		}
		if len(st.LastReload.Errors) != 0 {
			t.Errorf("last_reload.errors after the fix: %+v", st.LastReload.Errors)
		}
		if s := serial(t, addr, "example.test."); s <= before {
			t.Errorf("serial after the fix %d, want more than %d", s, before)
		}
	})

	t.Run("add and remove a zone", func(t *testing.T) {
		if r := query(t, addr, "www.new.test.", dns.TypeA); r.Rcode != dns.RcodeRefused {
			t.Fatalf("www.new.test before its file exists: %s, want REFUSED", summary(r, nil))
		}
		writeZone(t, dir, "new.test.toml", "ns = [\"ns1\"]\n[records.ns1]\nA = [\"198.51.100.53\"]\n[pools.www]\naddresses = [\"192.0.2.50\", \"192.0.2.51\"]\n")
		waitFor(t, "the new zone to answer", func() (bool, string) {
			r, err := exchange("udp", addr, "www.new.test.", dns.TypeA)
			return err == nil && r.Authoritative && slices.Equal(addrs(r), []string{"192.0.2.50", "192.0.2.51"}), summary(r, err)
		})
		if err := os.Remove(filepath.Join(dir, "new.test.toml")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the removed zone to be REFUSED", func() (bool, string) {
			r, err := exchange("udp", addr, "www.new.test.", dns.TypeA)
			return err == nil && r.Rcode == dns.RcodeRefused, summary(r, err)
		})
		if _, ok := zoneStatus(ts.status(t), filepath.Join(dir, "new.test.toml")); ok {
			t.Errorf("/status still lists the removed file")
		}
	})

	// POST /reload and the SIGHUP path (a.reload) are synchronous: the
	// answer right after they return is the new one, whatever the watcher
	// is doing.
	t.Run("POST /reload", func(t *testing.T) {
		writeZone(t, dir, "example.test.toml", reloadZone(4, "192.0.2.4"))
		code, body, _ := httpDo(t, http.MethodPost, ts.httpURL+"/reload", nil)
		if code != http.StatusOK {
			t.Fatalf("POST /reload: %d %s", code, body)
		}
		var res struct {
			OK     bool              `json:"ok"`
			Errors []json.RawMessage `json:"errors"`
		}
		if err := json.Unmarshal([]byte(body), &res); err != nil || !res.OK || len(res.Errors) != 0 {
			t.Errorf("POST /reload body %s (%v), want ok true and no errors", body, err)
		}
		if r := query(t, addr, "www.example.test.", dns.TypeA); !slices.Equal(addrs(r), []string{"192.0.2.4"}) {
			t.Errorf("right after POST /reload: %s, want 192.0.2.4", summary(r, nil))
		}
		writeZone(t, dir, "example.test.toml", brokenZone)
		code, body, _ = httpDo(t, http.MethodPost, ts.httpURL+"/reload", nil)
		if err := json.Unmarshal([]byte(body), &res); code != http.StatusOK || err != nil || res.OK || len(res.Errors) != 3 {
			t.Errorf("POST /reload of a broken file: %d %s, want 200 with ok false and the errors", code, body)
		}
	})

	t.Run("SIGHUP path", func(t *testing.T) {
		writeZone(t, dir, "example.test.toml", reloadZone(5, "192.0.2.5"))
		if err := ts.a.reload("SIGHUP"); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if r := query(t, addr, "www.example.test.", dns.TypeA); !slices.Equal(addrs(r), []string{"192.0.2.5"}) {
			t.Errorf("right after reload: %s, want 192.0.2.5", summary(r, nil))
		}
	})
}

// healthZone has a pool checked against a live HTTP server, one against a
// closed port (fail closed), and one without a check with a drained
// endpoint.
func healthZone(upPort, closedPort int) string {
	return fmt.Sprintf(`ns = ["ns1"]
[records.ns1]
A = ["198.51.100.53"]

[pools.web]
addresses = ["127.0.0.1"]
check = "up"
ttl = 10

[pools.dead]
policy = "failover"
check = "closed"
when_all_down = "none"

[[pools.dead.endpoints]]
address = "127.0.0.1"

[pools.static]
policy = "weighted"

[[pools.static.endpoints]]
address = "192.0.2.1"
weight = 2

[[pools.static.endpoints]]
address = "192.0.2.2"
state = "drain"

[checks.up]
type = "http"
port = %d
path = "/healthz"
expect = ["2xx"]
body = "ok"
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1

[checks.closed]
type = "tcp"
port = %d
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1
`, upPort, closedPort)
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port
}

// closedPort returns a loopback TCP port nothing listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := portOf(t, ln.Addr().String())
	ln.Close()
	return p
}

func TestStatusHealth(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, "ok\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer backend.Close()
	dir := t.TempDir()
	writeZone(t, dir, "example.test.toml", healthZone(portOf(t, backend.Listener.Addr().String()), closedPort(t)))
	ts := startServer(t, testConfig(dir))

	type ep struct{ pool, addr string }
	health := func(st statusJSON) map[ep]string {
		m := map[ep]string{}
		for _, p := range st.Pools {
			for _, e := range p.Endpoints {
				m[ep{p.Name, e.Address}] = e.Health.Status
			}
		}
		return m
	}
	waitFor(t, "web up and dead down in /status", func() (bool, string) {
		h := health(ts.status(t))
		return h[ep{"web.example.test.", "127.0.0.1"}] == "up" && h[ep{"dead.example.test.", "127.0.0.1"}] == "down", fmt.Sprint(h)
	})

	st := ts.status(t)
	if st.SchemaVersion != 1 || st.Version == "" || st.StartedAt.IsZero() || st.UptimeSeconds == nil || !st.Ready {
		t.Errorf("header: schema_version %d version %q started_at %v uptime_seconds %v ready %v",
			st.SchemaVersion, st.Version, st.StartedAt, st.UptimeSeconds, st.Ready)
	}
	if st.LastReload.At.IsZero() || st.LastReload.Count < 1 || st.LastReload.Failures != 0 || st.LastReload.Errors == nil || len(st.LastReload.Errors) != 0 {
		t.Errorf("last_reload %+v, want a time, count >= 1, no failures, errors []", st.LastReload)
	}
	if len(st.Zones) != 1 {
		t.Fatalf("zones: %+v, want one", st.Zones)
	}
	z := st.Zones[0]
	if z.Origin != "example.test." || z.File != filepath.Join(dir, "example.test.toml") || z.Serial == 0 || z.LoadedAt.IsZero() ||
		!z.Serving || z.Stale || z.Errors == nil || len(z.Errors) != 0 {
		t.Errorf("zone %+v, want example.test. from %s, a serial and load time, serving, not stale, errors []", z, dir)
	}
	if got := serial(t, ts.dnsAddr, "example.test."); got != z.Serial {
		t.Errorf("/status serial %d, SOA serial %d", z.Serial, got)
	}
	if st.GeoIP == nil || len(st.GeoIP) != 0 {
		t.Errorf("geoip %+v, want []", st.GeoIP)
	}

	type endpointWant struct {
		addr, state string
		serving     bool
		health      string
	}
	tests := []struct {
		name, policy, check, whenAllDown string
		ttl                              uint32
		answers                          int
		endpoints                        []endpointWant
	}{
		{"dead.example.test.", "failover", "closed", "none", 30, 1, []endpointWant{{"127.0.0.1", "auto", false, "down"}}},
		{"static.example.test.", "weighted", "", "all", 30, 1, []endpointWant{{"192.0.2.1", "auto", true, "none"}, {"192.0.2.2", "drain", false, "none"}}},
		{"web.example.test.", "roundrobin", "up", "all", 10, 0, []endpointWant{{"127.0.0.1", "auto", true, "up"}}},
	}
	if len(st.Pools) != len(tests) {
		t.Fatalf("%d pools, want %d: %+v", len(st.Pools), len(tests), st.Pools)
	}
	for i, tt := range tests {
		p := st.Pools[i]
		if p.Name != tt.name || p.Zone != "example.test." || p.Policy != tt.policy || p.Check != tt.check || p.WhenAllDown != tt.whenAllDown ||
			p.TTL != tt.ttl || p.Answers != tt.answers || len(p.Endpoints) != len(tt.endpoints) {
			t.Errorf("pool %d: %+v, want %+v", i, p, tt)
			continue
		}
		for j, w := range tt.endpoints {
			e := p.Endpoints[j]
			if e.Address != w.addr || e.State != w.state || e.Serving != w.serving || e.Health.Status != w.health {
				t.Errorf("%s endpoint %d: %+v, want %+v", p.Name, j, e, w)
			}
			switch w.health {
			case "up":
				if !e.Health.LastOK || e.Health.Since == nil || e.Health.LastCheck == nil || e.Health.LatencyMS <= 0 {
					t.Errorf("%s %s health %+v, want last_ok, since, last_check and a latency", p.Name, e.Address, e.Health)
				}
			case "down":
				if e.Health.LastOK || e.Health.Reason == "" || e.Health.Since == nil || e.Health.LastCheck == nil {
					t.Errorf("%s %s health %+v, want last_ok false, a reason, since and last_check", p.Name, e.Address, e.Health)
				}
			case "none":
				if e.Health.Since != nil || e.Health.LastCheck != nil || e.Health.Reason != "" {
					t.Errorf("%s %s health %+v, want nothing but status none", p.Name, e.Address, e.Health)
				}
			}
		}
	}
	if !slices.ContainsFunc(st.RecentTransitions, func(tr struct {
		Address string    `json:"address"`
		Up      bool      `json:"up"`
		At      time.Time `json:"at"`
		Reason  string    `json:"reason"`
	}) bool {
		return tr.Address == "127.0.0.1" && !tr.Up && tr.Reason != "" && !tr.At.IsZero()
	}) {
		t.Errorf("recent_transitions %+v, want the down transition of 127.0.0.1", st.RecentTransitions)
	}
	if !strings.Contains(ts.logs.String(), `msg="check down"`) {
		t.Errorf("no \"check down\" log line")
	}

	// Health reaches DNS: web answers, dead (all down, when_all_down =
	// "none") answers NODATA with the SOA, static leaves the drained
	// endpoint out.
	dnsTests := []struct {
		q      string
		answer []string
		ns     int
	}{
		{"web.example.test.", []string{"127.0.0.1"}, 0},
		{"dead.example.test.", []string{}, 1},
		{"static.example.test.", []string{"192.0.2.1"}, 0},
	}
	for _, tt := range dnsTests {
		r := query(t, ts.dnsAddr, tt.q, dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || !slices.Equal(addrs(r), tt.answer) || len(r.Ns) != tt.ns {
			t.Errorf("%s A: %s with %d authority records, want NOERROR %v with %d", tt.q, summary(r, nil), len(r.Ns), tt.answer, tt.ns)
		}
	}

	// The queries above show in /status as answer shares and in /metrics.
	st = ts.status(t)
	if st.AnswerShareWindowSeconds == nil || st.QueryLog == nil || st.QueryLog.Enabled {
		t.Errorf("answer_share_window_seconds %v, query_log %+v: want both, query log off", st.AnswerShareWindowSeconds, st.QueryLog)
	}
	shareTests := []struct {
		pool    string
		queries uint64
		shares  []float64 // by endpoint, in file order
	}{
		{"dead.example.test.", 1, []float64{0}}, // NODATA: no address handed out
		{"static.example.test.", 1, []float64{1, 0}},
		{"web.example.test.", 1, []float64{1}},
	}
	for i, tt := range shareTests {
		p := st.Pools[i]
		if p.Name != tt.pool || p.QueriesLastMinute == nil || *p.QueriesLastMinute != tt.queries {
			t.Errorf("pool %d %s: queries_last_minute %v, want %s with %d", i, p.Name, p.QueriesLastMinute, tt.pool, tt.queries)
			continue
		}
		for j, want := range tt.shares {
			if got := p.Endpoints[j].AnswerShare; got == nil || *got != want {
				t.Errorf("%s %s: answer_share %v, want %v", p.Name, p.Endpoints[j].Address, got, want)
			}
		}
	}
	fams := scrapeMetrics(t, ts.httpURL)
	metricTests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gslb_endpoint_up", []string{"pool", "web.example.test.", "endpoint", "127.0.0.1"}, 1},
		{"gslb_endpoint_up", []string{"pool", "dead.example.test.", "endpoint", "127.0.0.1"}, 0},
		{"gslb_endpoint_up", []string{"pool", "static.example.test.", "endpoint", "192.0.2.1"}, 1},
		{"gslb_endpoint_up", []string{"pool", "static.example.test.", "endpoint", "192.0.2.2"}, 0},
		{"gslb_endpoint_check_up", []string{"pool", "web.example.test.", "endpoint", "127.0.0.1"}, 1},
		{"gslb_endpoint_check_up", []string{"pool", "dead.example.test.", "endpoint", "127.0.0.1"}, 0},
		{"gslb_pool_queries_total", []string{"zone", "example.test.", "pool", "dead.example.test."}, 1},
		{"gslb_pool_empty_answers_total", []string{"zone", "example.test.", "pool", "dead.example.test."}, 1},
		{"gslb_endpoint_answers_total", []string{"pool", "static.example.test.", "endpoint", "192.0.2.1"}, 1},
		{"gslb_endpoint_answers_total", []string{"pool", "static.example.test.", "endpoint", "192.0.2.2"}, 0},
	}
	for _, tt := range metricTests {
		if got, ok := metricValue(fams, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if _, ok := metricValue(fams, "gslb_endpoint_check_up", "pool", "static.example.test."); ok {
		t.Errorf("gslb_endpoint_check_up for a pool without a check: want no series")
	}
	if v, ok := metricValue(fams, "gslb_endpoint_check_latency_seconds", "pool", "web.example.test."); !ok || v <= 0 {
		t.Errorf("gslb_endpoint_check_latency_seconds for web = %v (found %v), want > 0", v, ok)
	}
	for _, l := range [][]string{{"type", "tcp", "result", "fail"}, {"type", "http", "result", "ok"}} {
		if n, ok := metricValue(fams, "gslb_check_duration_seconds", l...); !ok || n < 1 {
			t.Errorf("gslb_check_duration_seconds%v: %v observations (found %v), want >= 1", l, n, ok)
		}
	}

	// Health state survives a reload for endpoints that stay.
	if err := ts.a.reload("test"); err != nil {
		t.Fatal(err)
	}
	if h := health(ts.status(t)); h[ep{"web.example.test.", "127.0.0.1"}] != "up" || h[ep{"dead.example.test.", "127.0.0.1"}] != "down" {
		t.Errorf("health right after a reload: %v, want web up and dead down as before", h)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	ts := startServer(t, testConfig(copyZones(t, filepath.Join("testdata", "zones"))))
	tests := []struct {
		method, path string
		header       map[string]string
		code         int
		body         []string // substrings
		contentType  string   // prefix
	}{
		{"GET", "/healthz", nil, 200, []string{"ok"}, ""},
		{"GET", "/readyz", nil, 200, []string{"ready"}, ""},
		{"GET", "/", nil, 200, []string{"<html", "www.example.test.", "api.example.test.", "example.test.", "other.test."}, "text/html"},
		{"GET", "/status", nil, 200, []string{`"schema_version": 1`}, "application/json"},
		{"POST", "/reload", nil, 200, []string{`"ok": true`}, "application/json"},
		{"GET", "/reload", nil, 405, nil, ""},
		{"POST", "/reload", map[string]string{"Authorization": "Bearer whatever"}, 200, []string{`"ok": true`}, ""},
		{"GET", "/explain?name=www.example.test&type=A&client=203.0.113.7", nil, 200, []string{`"rcode": "NOERROR"`, "192.0.2.11"}, "application/json"},
		{"GET", "/explain", nil, 400, []string{"missing name"}, ""},
		{"GET", "/explain?name=www.example.test&type=BOGUS", nil, 400, []string{`unknown type "BOGUS"`}, ""},
		{"GET", "/explain?name=www.example.test&client=nope", nil, 400, []string{`invalid client "nope"`}, ""},
		{"GET", "/nope", nil, 404, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			code, body, hdr := httpDo(t, tt.method, ts.httpURL+tt.path, tt.header)
			if code != tt.code {
				t.Errorf("%s %s: %d, want %d\n%s", tt.method, tt.path, code, tt.code, body)
			}
			for _, s := range tt.body {
				if !strings.Contains(body, s) {
					t.Errorf("%s %s: body lacks %q:\n%s", tt.method, tt.path, s, body)
				}
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.path, ct, tt.contentType)
			}
		})
	}
}

// With http_reload_token set, POST /reload needs it as a Bearer token,
// from loopback too.
func TestReloadToken(t *testing.T) {
	cfg := testConfig(copyZones(t, filepath.Join("testdata", "zones")))
	cfg.HTTPReloadToken = "s3cret"
	ts := startServer(t, cfg)
	tests := []struct {
		name   string
		header map[string]string
		code   int
	}{
		{"no token", nil, 403},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, 403},
		{"token without Bearer", map[string]string{"Authorization": "s3cret"}, 403},
		{"token with another scheme", map[string]string{"Authorization": "Basic s3cret"}, 403},
		{"token", map[string]string{"Authorization": "Bearer s3cret"}, 200},
		{"scheme is case-insensitive", map[string]string{"Authorization": "bearer s3cret"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body, _ := httpDo(t, "POST", ts.httpURL+"/reload", tt.header); code != tt.code {
				t.Errorf("POST /reload with %v: %d, want %d\n%s", tt.header, code, tt.code, body)
			}
		})
	}
}

// The whole serve command: it binds the ports it is given, reloads on
// SIGHUP, and returns 0 with its ports free when its context ends or on
// SIGTERM.
func TestRunServeShutdown(t *testing.T) {
	// While this test runs, SIGHUP and SIGTERM sent to the test process
	// must not kill it, even in the moments serve is not listening.
	guard := make(chan os.Signal, 8)
	signal.Notify(guard, syscall.SIGHUP, syscall.SIGTERM)
	defer signal.Stop(guard)

	tests := []struct {
		name string
		stop func(cancel context.CancelFunc)
	}{
		{"context cancelled", func(cancel context.CancelFunc) { cancel() }},
		{"SIGTERM", func(context.CancelFunc) { syscall.Kill(os.Getpid(), syscall.SIGTERM) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyZones(t, filepath.Join("testdata", "zones"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr syncBuffer
			codec := make(chan int, 1)
			go func() {
				codec <- run(ctx, []string{"serve", "--zones", dir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, &stdout, &stderr)
			}()
			dnsRe := regexp.MustCompile(`msg=listening component=dns addr=(\S+)`)
			httpRe := regexp.MustCompile(`msg="http listening" addr=(\S+)`)
			var dnsAddr, httpAddr string
			waitFor(t, "serve to log its addresses", func() (bool, string) {
				select {
				case code := <-codec:
					t.Fatalf("serve returned %d before listening:\n%s", code, stderr.String())
				default:
				}
				logs := stderr.String()
				m1, m2 := dnsRe.FindStringSubmatch(logs), httpRe.FindStringSubmatch(logs)
				if m1 == nil || m2 == nil {
					return false, logs
				}
				dnsAddr, httpAddr = m1[1], m2[1]
				return true, ""
			})
			if r := query(t, dnsAddr, "www.other.test.", dns.TypeA); !slices.Equal(addrs(r), []string{"198.51.100.80"}) {
				t.Errorf("www.other.test: %s", summary(r, nil))
			}
			if code, _, _ := httpDo(t, "GET", "http://"+httpAddr+"/readyz", nil); code != 200 {
				t.Errorf("/readyz: %d", code)
			}

			// SIGHUP reloads. Send until serve's handler has it (it
			// starts listening for SIGHUP just after the log lines).
			waitFor(t, "a SIGHUP reload", func() (bool, string) {
				if !strings.Contains(stderr.String(), "reason=SIGHUP") {
					syscall.Kill(os.Getpid(), syscall.SIGHUP)
					return false, stderr.String()
				}
				return true, ""
			})

			tt.stop(cancel)
			select {
			case code := <-codec:
				if code != 0 {
					t.Errorf("serve returned %d, want 0\n%s", code, stderr.String())
				}
			case <-time.After(waitTimeout):
				t.Fatalf("serve did not return after %s", tt.name)
			}
			if !strings.Contains(stderr.String(), `msg="shutting down"`) {
				t.Errorf("no \"shutting down\" log")
			}
			// The ports are free again.
			for _, l := range []struct{ netw, addr string }{{"udp", dnsAddr}, {"tcp", dnsAddr}, {"tcp", httpAddr}} {
				if err := bindAndRelease(l.netw, l.addr); err != nil {
					t.Errorf("after shutdown, %s %s still taken: %v", l.netw, l.addr, err)
				}
			}
			// And nothing answers there any more.
			if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + httpAddr + "/healthz"); err == nil {
				resp.Body.Close()
				t.Errorf("HTTP still answers after shutdown")
			}
		})
	}
}

// close alone (the context still live, as when start's caller stops it)
// frees the ports and leaves no goroutine of the server behind: nothing
// reloads, probes or logs after it returns.
func TestCloseStopsEverything(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	dir := t.TempDir()
	writeZone(t, dir, "example.test.toml", healthZone(portOf(t, backend.Listener.Addr().String()), closedPort(t)))
	cfg := testConfig(dir)
	cfg.GeoIP = []string{writeCityDB(t)}
	logs := &syncBuffer{}
	a, code := start(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)), logs)
	if a == nil {
		t.Fatalf("start: exit %d\n%s", code, logs)
	}
	dnsAddr, httpAddr := a.dns.UDPAddrs()[0], a.httpLn.Addr().String()
	if code, _, _ := httpDo(t, "GET", "http://"+httpAddr+"/status", nil); code != 200 {
		t.Fatalf("GET /status: %d", code)
	}
	a.close()

	// close waited for each of these (a WaitGroup), but a goroutine that
	// called Done may still be on its way out: give it a moment to go.
	fns := []string{".(*app).watchZones", "geo.(*DB).Watch", "health.(*Manager).loop", "dns.(*Server).serveUDP", "dns.(*Server).serveTCP"}
	var left []string
	for try := 0; try < 100; try++ {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		left = left[:0]
		for _, fn := range fns {
			if strings.Contains(stacks, fn) {
				left = append(left, fn)
			}
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, fn := range left {
		t.Errorf("after close, a goroutine still runs %s", fn)
	}
	for _, l := range []struct{ netw, addr string }{{"udp", dnsAddr}, {"tcp", dnsAddr}, {"tcp", httpAddr}} {
		if err := bindAndRelease(l.netw, l.addr); err != nil {
			t.Errorf("after close, %s %s still taken: %v", l.netw, l.addr, err)
		}
	}
	// A zone edit after close reloads nothing.
	n := strings.Count(logs.String(), `msg="zones loaded"`)
	writeZone(t, dir, "example.test.toml", reloadZone(1, "192.0.2.1"))
	if err := a.reload("test"); err != nil { // direct calls still work: the loader is intact
		t.Fatal(err)
	}
	if got := strings.Count(logs.String(), `msg="zones loaded"`); got != n+1 {
		t.Errorf("zones loaded %d times after close, want only the direct call", got-n)
	}
}

// bindAndRelease binds addr and closes it again.
func bindAndRelease(netw, addr string) error {
	if netw == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err == nil {
			pc.Close()
		}
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
	}
	return err
}

// A Kubernetes ConfigMap volume: each zone file is a symlink into ..data,
// itself a symlink to a timestamped directory; an update writes a new
// directory and renames a new ..data over the old one. No event names the
// zone file, yet the change must apply.
func TestReloadConfigMapVolume(t *testing.T) {
	dir := t.TempDir()
	version := func(n int, addr string) {
		t.Helper()
		sub := fmt.Sprintf("..2026_%02d", n)
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sub, "example.test.toml"), []byte(reloadZone(n, addr)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(sub, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version(1, "192.0.2.1")
	if err := os.Symlink(filepath.Join("..data", "example.test.toml"), filepath.Join(dir, "example.test.toml")); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, testConfig(dir))
	if r := query(t, ts.dnsAddr, "www.example.test.", dns.TypeA); !slices.Equal(addrs(r), []string{"192.0.2.1"}) {
		t.Fatalf("first version: %s", summary(r, nil))
	}
	version(2, "192.0.2.2")
	waitFor(t, "the ConfigMap update to apply", func() (bool, string) {
		r, err := exchange("udp", ts.dnsAddr, "www.example.test.", dns.TypeA)
		return err == nil && slices.Equal(addrs(r), []string{"192.0.2.2"}), summary(r, err)
	})
}
