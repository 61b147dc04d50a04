package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/geo/geotest"
)

// waitTimeout bounds every wait on a condition (a reload, a probe).
const waitTimeout = 15 * time.Second

// syncBuffer is a bytes.Buffer safe for the server's goroutines to write
// while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or waitTimeout passes; cond returns
// whether it holds and, when not, what it saw (for the failure message).
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last saw: %s", waitTimeout, what, saw)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not a startup delay
	}
}

// testServer is a running app on loopback ports the kernel chose.
type testServer struct {
	a       *app
	dir     string // the zones directory
	dnsAddr string // UDP and TCP
	httpURL string // http://127.0.0.1:port
	logs    *syncBuffer
}

// testConfig is the default config on free loopback ports, serving dir.
func testConfig(dir string) config {
	cfg := defaultConfig()
	cfg.Zones = dir
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.HTTP = "127.0.0.1:0"
	return cfg
}

// startServer runs start() with cfg and stops it when the test ends.
// Logs go to the test output and to ts.logs.
func startServer(t testing.TB, cfg config) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a, code := start(ctx, cfg, log, logs)
	if a == nil {
		cancel()
		t.Fatalf("start: exit code %d; logs:\n%s", code, logs)
	}
	t.Cleanup(func() {
		cancel()
		a.close()
	})
	addrs := a.dns.UDPAddrs()
	if len(addrs) != 1 {
		t.Fatalf("dns bound %v, want one address", addrs)
	}
	ts := &testServer{a: a, dir: cfg.Zones, dnsAddr: addrs[0], logs: logs}
	if a.httpLn != nil {
		ts.httpURL = "http://" + a.httpLn.Addr().String()
	}
	return ts
}

// writeZone replaces dir/name by rename, as operators are told to.
func writeZone(t testing.TB, dir, name, text string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// copyZones copies the *.toml files of src into a new temporary directory.
func copyZones(t testing.TB, src string) string {
	t.Helper()
	dir := t.TempDir()
	ms, err := filepath.Glob(filepath.Join(src, "*.toml"))
	if err != nil || len(ms) == 0 {
		t.Fatalf("no zone files in %s (%v)", src, err)
	}
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(m)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeCityDB writes a small City database: 81.2.69.0/24 is London (GB,
// EU), 216.160.83.0/24 is in Washington (US, NA).
func writeCityDB(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "city.mmdb")
	err := geotest.WriteCity(p, []geotest.Net{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Country: "GB", Subdivision: "ENG", Continent: "EU", Lat: 51.51, Lon: -0.09, HasLatLon: true},
		{Prefix: netip.MustParsePrefix("216.160.83.0/24"), Country: "US", Subdivision: "WA", Continent: "NA", Lat: 47.25, Lon: -122.31, HasLatLon: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// queryOpt changes a query before it is sent.
type queryOpt func(*dns.Msg)

// withECS adds an EDNS Client Subnet option, e.g. "81.2.69.0/24".
func withECS(subnet string) queryOpt {
	return func(m *dns.Msg) {
		p := netip.MustParsePrefix(subnet)
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}
		if p.Addr().Is6() {
			e.Family = 2
		}
		opt := m.IsEdns0()
		if opt == nil {
			m.SetEdns0(1232, false)
			opt = m.IsEdns0()
		}
		opt.Option = append(opt.Option, e)
	}
}

func withEDNS(size uint16) queryOpt { return func(m *dns.Msg) { m.SetEdns0(size, false) } }

func withClass(c uint16) queryOpt { return func(m *dns.Msg) { m.Question[0].Qclass = c } }

// exchange sends one query for name/qtype over netw ("udp" or "tcp").
func exchange(netw, addr, name string, qtype uint16, opts ...queryOpt) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	for _, o := range opts {
		o(m)
	}
	c := &dns.Client{Net: netw, Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// query is exchange over UDP that fails the test on a transport error.
func query(t testing.TB, addr, name string, qtype uint16, opts ...queryOpt) *dns.Msg {
	t.Helper()
	r, err := exchange("udp", addr, name, qtype, opts...)
	if err != nil {
		t.Fatalf("query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// rrs renders a section as dig prints it (tabs become spaces), sorted.
func rrs(section []dns.RR) []string {
	out := []string{}
	for _, rr := range section {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

// addrs lists the A/AAAA addresses of an answer, sorted.
func addrs(m *dns.Msg) []string {
	out := []string{}
	if m == nil {
		return out
	}
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

// summary is "RCODE [addresses]" for failure messages and comparisons.
func summary(m *dns.Msg, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return dns.RcodeToString[m.Rcode] + " " + strings.Join(addrs(m), ",")
}

// serial returns the SOA serial of zone, asked over DNS.
func serial(t testing.TB, addr, zone string) uint32 {
	t.Helper()
	r := query(t, addr, zone, dns.TypeSOA)
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial
		}
	}
	t.Fatalf("no SOA for %s: %v", zone, r)
	return 0
}

// httpDo sends a request and returns the status code and body.
func httpDo(t testing.TB, method, url string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// The /status document as a consumer reads it: field names spelled out
// here, not borrowed from the server's own types, so a renamed field
// fails the test.
type statusJSON struct {
	SchemaVersion int       `json:"schema_version"`
	Version       string    `json:"version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds *int64    `json:"uptime_seconds"`
	Ready         bool      `json:"ready"`
	LastReload    struct {
		At       time.Time       `json:"at"`
		Count    int             `json:"count"`
		Failures int             `json:"failures"`
		Errors   []errorJSONTest `json:"errors"`
	} `json:"last_reload"`
	Zones []struct {
		Origin   string          `json:"origin"`
		File     string          `json:"file"`
		Serial   uint32          `json:"serial"`
		LoadedAt time.Time       `json:"loaded_at"`
		Serving  bool            `json:"serving"`
		Stale    bool            `json:"stale"`
		Errors   []errorJSONTest `json:"errors"`
	} `json:"zones"`
	Pools []struct {
		Name        string `json:"name"`
		Zone        string `json:"zone"`
		Policy      string `json:"policy"`
		TTL         uint32 `json:"ttl"`
		Answers     int    `json:"answers"`
		Check       string `json:"check"`
		WhenAllDown string `json:"when_all_down"`
		Endpoints   []struct {
			Address string `json:"address"`
			State   string `json:"state"`
			Serving bool   `json:"serving"`
			Health  struct {
				Status    string     `json:"status"`
				Since     *time.Time `json:"since"`
				LastCheck *time.Time `json:"last_check"`
				LastOK    bool       `json:"last_ok"`
				Reason    string     `json:"reason"`
				LatencyMS float64    `json:"latency_ms"`
			} `json:"health"`
			AnswerShare *float64 `json:"answer_share"`
		} `json:"endpoints"`
		QueriesLastMinute *uint64 `json:"queries_last_minute"`
	} `json:"pools"`
	GeoIP []struct {
		Path      string    `json:"path"`
		Type      string    `json:"type"`
		Kind      string    `json:"kind"`
		BuildTime time.Time `json:"build_time"`
		LoadedAt  time.Time `json:"loaded_at"`
		Exists    *bool     `json:"exists"`
		Error     string    `json:"error"`
	} `json:"geoip"`
	AnswerShareWindowSeconds *float64 `json:"answer_share_window_seconds"`
	QueryLog                 *struct {
		Enabled bool   `json:"enabled"`
		File    string `json:"file"`
		Lines   uint64 `json:"lines"`
		Dropped uint64 `json:"dropped"`
	} `json:"query_log"`
	RecentTransitions []struct {
		Address string    `json:"address"`
		Up      bool      `json:"up"`
		At      time.Time `json:"at"`
		Reason  string    `json:"reason"`
	} `json:"recent_transitions"`
}

type errorJSONTest struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Key     string `json:"key"`
	Message string `json:"message"`
	Text    string `json:"text"`
}

// getStatus fetches and decodes /status.
func (ts *testServer) status(t testing.TB) statusJSON {
	t.Helper()
	code, body, hdr := httpDo(t, http.MethodGet, ts.httpURL+"/status", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /status: %d %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /status Content-Type = %q, want application/json", ct)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /status: %v\n%s", err, body)
	}
	return st
}
