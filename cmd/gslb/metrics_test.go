package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/zones"
)

// scrapeMetrics fetches /metrics and parses it with Prometheus' own text
// parser, so anything the server writes that Prometheus would reject fails.
func scrapeMetrics(t testing.TB, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body, hdr := httpDo(t, http.MethodGet, base+"/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics Content-Type %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// metricValue returns the value of the one series of name whose labels
// include the given name/value pairs (a histogram's sample count), and
// whether exactly one series matched.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	var found []*dto.Metric
	for _, m := range f.GetMetric() {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			has := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					has = true
				}
			}
			match = match && has
		}
		if match {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	m := found[0]
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue(), true
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue(), true
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount()), true
	}
	return m.GetUntyped().GetValue(), true
}

// Counters after known queries: exact counts by zone, type, rcode and
// transport, per pool and endpoint, kept across a reload.
func TestMetricsCounts(t *testing.T) {
	dir := copyZones(t, filepath.Join("testdata", "zones"))
	ts := startServer(t, testConfig(dir))

	answers := map[string]int{} // endpoint address → answers carrying it
	sent := 0
	ask := func(netw, name string, qtype uint16, opts ...queryOpt) *dns.Msg {
		t.Helper()
		r, err := exchange(netw, ts.dnsAddr, name, qtype, opts...)
		if err != nil {
			t.Fatalf("%s %s %s: %v", netw, name, dns.TypeToString[qtype], err)
		}
		sent++
		for _, a := range addrs(r) {
			answers[a]++
		}
		return r
	}
	for range 7 {
		ask("udp", "api.example.test.", dns.TypeA)
	}
	for range 3 {
		ask("tcp", "API.example.test.", dns.TypeA) // case does not matter
	}
	for range 2 {
		ask("udp", "www.example.test.", dns.TypeA, withECS("81.2.69.0/24"))
	}
	for range 2 {
		ask("udp", "nope.example.test.", dns.TypeA)
	}
	ask("udp", "example.test.", dns.TypeMX)
	ask("udp", "www.example.test.", dns.TypeAAAA) // NODATA: no IPv6 endpoint
	ask("udp", "elsewhere.invalid.", dns.TypeA)   // REFUSED
	ask("udp", "version.bind.", dns.TypeTXT, withClass(dns.ClassCHAOS))
	// No question at all: FORMERR, counted under zone "none", type OTHER.
	empty := &dns.Msg{MsgHdr: dns.MsgHdr{Id: 7}}
	if r, err := dns.Exchange(empty, ts.dnsAddr); err != nil || r.Rcode != dns.RcodeFormatError {
		t.Fatalf("query without a question: %v, %v; want FORMERR", r, err)
	}
	sent++
	if answers["192.0.2.20"] != 10 || answers["192.0.2.10"]+answers["192.0.2.11"] != 2 {
		t.Fatalf("answers %v: want 10 for each api endpoint and 2 for www", answers)
	}

	fams := scrapeMetrics(t, ts.httpURL)
	q := func(zone, typ, rcode, transport string) []string {
		return []string{"zone", zone, "type", typ, "rcode", rcode, "transport", transport}
	}
	ep := func(pool, addr string) []string {
		return []string{"zone", "example.test.", "pool", pool, "endpoint", addr}
	}
	pool := func(name string) []string { return []string{"zone", "example.test.", "pool", name} }
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gslb_dns_queries_total", q("example.test.", "A", "NOERROR", "udp"), 9},
		{"gslb_dns_queries_total", q("example.test.", "A", "NOERROR", "tcp"), 3},
		{"gslb_dns_queries_total", q("example.test.", "A", "NXDOMAIN", "udp"), 2},
		{"gslb_dns_queries_total", q("example.test.", "MX", "NOERROR", "udp"), 1},
		{"gslb_dns_queries_total", q("example.test.", "AAAA", "NOERROR", "udp"), 1},
		{"gslb_dns_queries_total", q("none", "A", "REFUSED", "udp"), 1},
		{"gslb_dns_queries_total", q("none", "TXT", "NOERROR", "udp"), 1},
		{"gslb_dns_queries_total", q("none", "OTHER", "FORMERR", "udp"), 1},
		{"gslb_dns_requests_total", nil, float64(sent)},
		{"gslb_dns_ecs_queries_total", nil, 2},
		{"gslb_dns_formerr_total", nil, 1},
		{"gslb_dns_panics_total", nil, 0},
		{"gslb_dns_dropped_total", nil, 0},
		{"gslb_pool_queries_total", pool("api.example.test."), 10},
		{"gslb_pool_queries_total", pool("www.example.test."), 3},
		{"gslb_pool_empty_answers_total", pool("api.example.test."), 0},
		{"gslb_pool_empty_answers_total", pool("www.example.test."), 1},
		{"gslb_endpoint_answers_total", ep("api.example.test.", "192.0.2.20"), 10},
		{"gslb_endpoint_answers_total", ep("api.example.test.", "192.0.2.21"), 10},
		{"gslb_endpoint_answers_total", ep("api.example.test.", "192.0.2.22"), 10},
		{"gslb_endpoint_answers_total", ep("www.example.test.", "192.0.2.10"), float64(answers["192.0.2.10"])},
		{"gslb_endpoint_answers_total", ep("www.example.test.", "192.0.2.11"), float64(answers["192.0.2.11"])},
		{"gslb_endpoint_up", ep("api.example.test.", "192.0.2.21"), 1},
		{"gslb_reloads_total", nil, 1},
		{"gslb_reload_failures_total", nil, 0},
		{"gslb_last_reload_success", nil, 1},
		{"gslb_zone_file_errors", []string{"file", filepath.Join(dir, "example.test.toml")}, 0},
		{"gslb_query_log_enabled", nil, 0},
		{"gslb_build_info", []string{"version", versionString()}, 1},
	}
	for _, tt := range tests {
		if got, ok := metricValue(fams, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (one series found: %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	// Only combinations seen are exported.
	if n := len(fams["gslb_dns_queries_total"].GetMetric()); n != 8 {
		t.Errorf("gslb_dns_queries_total has %d series, want the 8 seen", n)
	}
	st := ts.status(t)
	if v, ok := metricValue(fams, "gslb_zone_serial", "zone", "example.test."); !ok || uint32(v) != st.Zones[0].Serial {
		t.Errorf("gslb_zone_serial = %v, want %d as in /status", v, st.Zones[0].Serial)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "gslb_dns_tcp_evicted_total", "gslb_last_reload_timestamp_seconds"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	// A changed zone file is a new *zones.Zone: its counters carry on. A
	// broken file counts as a failed reload.
	src, err := os.ReadFile(filepath.Join(dir, "example.test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	writeZone(t, dir, "example.test.toml", string(src)+"\n[records.extra]\nTXT = [\"new\"]\n")
	writeZone(t, dir, "broken.test.toml", "ns = [\"ns1\"]\nbogus = 1\n")
	code, body, _ := httpDo(t, http.MethodPost, ts.httpURL+"/reload", nil)
	if code != 200 || !strings.Contains(body, `"ok": false`) {
		t.Fatalf("POST /reload: %d %s, want 200 with ok false", code, body)
	}
	if r := ask("udp", "extra.example.test.", dns.TypeTXT); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("the changed zone is not served: %v", r)
	}
	ask("udp", "api.example.test.", dns.TypeA)
	fams = scrapeMetrics(t, ts.httpURL)
	tests = []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gslb_dns_queries_total", q("example.test.", "A", "NOERROR", "udp"), 10},
		{"gslb_dns_queries_total", q("example.test.", "TXT", "NOERROR", "udp"), 1},
		{"gslb_pool_queries_total", pool("api.example.test."), 11},
		{"gslb_endpoint_answers_total", ep("api.example.test.", "192.0.2.22"), 11},
		{"gslb_reloads_total", nil, 2},
		{"gslb_reload_failures_total", nil, 1},
		{"gslb_last_reload_success", nil, 0},
		{"gslb_zone_file_errors", []string{"file", filepath.Join(dir, "example.test.toml")}, 0},
		{"gslb_zone_file_errors", []string{"file", filepath.Join(dir, "broken.test.toml")}, 1},
	}
	for _, tt := range tests {
		if got, ok := metricValue(fams, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("after reload: %s%v = %v (one series found: %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
}

// Metrics of the GeoIP databases, and their new /status fields.
func TestGeoIPStatusAndMetrics(t *testing.T) {
	cfg := testConfig(copyZones(t, filepath.Join("testdata", "zones")))
	db := writeCityDB(t)
	cfg.GeoIP = []string{db}
	ts := startServer(t, cfg)
	st := ts.status(t)
	if len(st.GeoIP) != 1 {
		t.Fatalf("geoip %+v, want one database", st.GeoIP)
	}
	g := st.GeoIP[0]
	if g.Path != db || g.Type == "" || g.Kind != "city" || g.BuildTime.IsZero() || g.LoadedAt.IsZero() || g.Exists == nil || !*g.Exists || g.Error != "" {
		t.Errorf("geoip %+v, want %s, a type, kind city, build and load times, exists, no error", g, db)
	}
	fams := scrapeMetrics(t, ts.httpURL)
	if v, ok := metricValue(fams, "gslb_geoip_build_timestamp_seconds", "path", db); !ok || int64(v) != g.BuildTime.Unix() {
		t.Errorf("gslb_geoip_build_timestamp_seconds = %v (found %v), want %d", v, ok, g.BuildTime.Unix())
	}
	if v, ok := metricValue(fams, "gslb_geoip_reload_failing", "path", db); !ok || v != 0 {
		t.Errorf("gslb_geoip_reload_failing = %v (found %v), want 0", v, ok)
	}
	// A file gone from disk keeps serving its loaded version; /status says so.
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "exists false in /status", func() (bool, string) {
		g := ts.status(t).GeoIP[0]
		return g.Exists != nil && !*g.Exists, fmt.Sprintf("%+v", g)
	})
}

// pprof is served only when configured.
func TestPprofSwitch(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("pprof=", on), func(t *testing.T) {
			cfg := testConfig(copyZones(t, filepath.Join("testdata", "zones")))
			cfg.Pprof = on
			ts := startServer(t, cfg)
			code, body, _ := httpDo(t, http.MethodGet, ts.httpURL+"/debug/pprof/", nil)
			want := http.StatusNotFound
			if on {
				want = http.StatusOK
			}
			if code != want || (on && !strings.Contains(body, "goroutine")) {
				t.Errorf("GET /debug/pprof/ with pprof = %v: %d, want %d\n%.300s", on, code, want, body)
			}
			if on {
				if code, _, _ := httpDo(t, http.MethodGet, ts.httpURL+"/debug/pprof/goroutine?debug=1", nil); code != 200 {
					t.Errorf("GET /debug/pprof/goroutine: %d, want 200", code)
				}
			}
		})
	}
}

// waitForFile waits until path contains every substring.
func waitForFile(t testing.TB, path string, subs ...string) string {
	t.Helper()
	var text string
	waitFor(t, fmt.Sprintf("%q in %s", subs, path), func() (bool, string) {
		b, _ := os.ReadFile(path)
		text = string(b)
		for _, s := range subs {
			if !strings.Contains(text, s) {
				return false, text
			}
		}
		return true, ""
	})
	return text
}

// TestMetricsPoolTable: the query path's pool table finds every pool of
// the snapshot by identity, also when hashes collide, and not a pool of
// another load (same names and hashes, other objects); such a pool is
// still counted, by zone and name.
func TestMetricsPoolTable(t *testing.T) {
	load := func() *zones.Snapshot {
		snap, err := zones.NewLoader(filepath.Join("testdata", "zones")).Load()
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	snap, other := load(), load()
	var pools, stale []*zones.Pool
	for _, z := range snap.Zones() {
		pools = append(pools, z.Pools...)
	}
	for _, z := range other.Zones() {
		stale = append(stale, z.Pools...)
	}
	if len(pools) < 2 {
		t.Fatalf("%d pools in the test zones: too few to prove anything", len(pools))
	}
	for _, collide := range []bool{false, true} {
		if collide { // every pool on one slot: lookups must probe past the others
			for _, p := range append(slices.Clone(pools), stale...) {
				p.Hash = 7
			}
		}
		m := newMetrics()
		m.update(snap)
		idx := m.idx.Load()
		for _, p := range pools {
			if pe := idx.pool(p); pe == nil || pe.pool != p || pe != idx.byKey[poolKey{p.Zone, p.Name}] {
				t.Errorf("collide=%v: pool %s not found by identity", collide, p.Name)
			}
		}
		for _, p := range stale {
			if pe := idx.pool(p); pe != nil {
				t.Errorf("collide=%v: a pool %s of another load found as %s", collide, p.Name, pe.pool.Name)
			}
		}
		p := stale[0]
		before := idx.byKey[poolKey{p.Zone, p.Name}].c.queries.Load()
		m.observe(&dnssrv.Observation{Qtype: dns.TypeA, Zone: other.Zones()[0], Pool: p, Picked: p.V4[:min(1, len(p.V4))]})
		if got := idx.byKey[poolKey{p.Zone, p.Name}].c.queries.Load(); got != before+1 {
			t.Errorf("collide=%v: a pool of another load not counted by name: %d queries, want %d", collide, got, before+1)
		}
	}
}
