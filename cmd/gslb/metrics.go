package main

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/health"
	"github.com/gslb/gslb/zones"
)

// Metrics. The query path only adds to atomic counters found through an
// immutable index (metricsIndex) that reload rebuilds; the Prometheus side
// is a custom Collector that reads those counters, and everything else
// (health, reloads, GeoIP), at scrape time. So a query takes no lock,
// builds no map and formats no label: it costs two pointer-keyed map
// lookups and a few atomic adds (BenchmarkRespond in metrics_test.go).

// Query types get their own label value; the rest count as OTHER.
const (
	nTypes  = 16
	nRcodes = 8
)

func typeIndex(t uint16) int {
	switch t {
	case dns.TypeA:
		return 0
	case dns.TypeAAAA:
		return 1
	case dns.TypeANY:
		return 2
	case dns.TypeCAA:
		return 3
	case dns.TypeCNAME:
		return 4
	case dns.TypeDNSKEY:
		return 5
	case dns.TypeDS:
		return 6
	case dns.TypeHTTPS:
		return 7
	case dns.TypeMX:
		return 8
	case dns.TypeNS:
		return 9
	case dns.TypePTR:
		return 10
	case dns.TypeSOA:
		return 11
	case dns.TypeSRV:
		return 12
	case dns.TypeSVCB:
		return 13
	case dns.TypeTXT:
		return 14
	}
	return 15
}

func typeLabel(i int) string {
	return [nTypes]string{"A", "AAAA", "ANY", "CAA", "CNAME", "DNSKEY", "DS", "HTTPS", "MX", "NS", "PTR", "SOA", "SRV", "SVCB", "TXT", "OTHER"}[i]
}

func rcodeIndex(rc int) int {
	switch {
	case rc >= 0 && rc <= 5: // NOERROR FORMERR SERVFAIL NXDOMAIN NOTIMP REFUSED
		return rc
	case rc == dns.RcodeBadVers:
		return 6
	}
	return 7
}

func rcodeLabel(i int) string {
	return [nRcodes]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "OTHER"}[i]
}

// noZone is the zone label of queries no zone answered.
const noZone = "none"

// zoneCounters counts the queries of one zone origin. The object lives as
// long as the origin is served, across reloads.
type zoneCounters struct {
	origin  string
	queries [nTypes][nRcodes][2]atomic.Uint64 // [type][rcode][udp, tcp]
}

// poolCounters counts the answers of one pool (by zone and name), across
// reloads.
type poolCounters struct {
	zone, name string
	queries    atomic.Uint64 // A/AAAA queries the pool answered
	empty      atomic.Uint64 // ... with no address (NODATA)
}

// endpointCounter counts the answers that carried one endpoint of one pool.
type endpointCounter struct {
	addr    string
	answers atomic.Uint64
}

// poolEntry is one *zones.Pool of a snapshot with its counters; eps is
// indexed by zones.Endpoint.Index.
type poolEntry struct {
	pool *zones.Pool
	zc   *zoneCounters // its zone's
	c    *poolCounters
	eps  []*endpointCounter
}

type poolKey struct{ zone, name string }

// metricsIndex maps one zones snapshot to its counters. It is built by
// update and never written after it is published.
type metricsIndex struct {
	zones   map[*zones.Zone]*zoneCounters
	origins map[string]*zoneCounters
	byKey   map[poolKey]*poolEntry
	// pools holds the snapshot's pools' entries by identity (see pool):
	// open addressing on zones.Pool.Hash, fixed at load, where a map keyed
	// by the pointer would hash it on every query. Its length is a power
	// of two, at least twice the pools; the rest of its slots are nil.
	pools []*poolEntry
	eps   map[poolKey]map[string]*endpointCounter // for reuse by the next update
}

// metrics is the query-path side of /metrics plus the histogram of check
// durations. It implements dnssrv.Observer together with the query log.
type metrics struct {
	idx    atomic.Pointer[metricsIndex]
	none   zoneCounters  // queries outside every zone
	ecs    atomic.Uint64 // queries with an ECS option
	checks *prometheus.HistogramVec

	share shareSampler
}

func newMetrics() *metrics {
	m := &metrics{
		checks: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gslb_check_duration_seconds",
			Help:    "Duration of health check probes, by check type and result (ok or fail).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"type", "result"}),
	}
	m.none.origin = noZone
	for _, typ := range []string{"http", "https", "tcp", "dns"} {
		for _, res := range []string{"ok", "fail"} {
			m.checks.WithLabelValues(typ, res) // series exist from the start
		}
	}
	m.idx.Store(&metricsIndex{})
	return m
}

// update builds and publishes the index for snap, keeping the counters of
// zones, pools and endpoints that stay. reload calls it before publishing
// snap, so a query on the new snapshot always finds its counters; queries
// still on the old one fall back to lookups by name.
func (m *metrics) update(snap *zones.Snapshot) {
	old := m.idx.Load()
	n := &metricsIndex{
		zones:   map[*zones.Zone]*zoneCounters{},
		origins: map[string]*zoneCounters{},
		byKey:   map[poolKey]*poolEntry{},
		eps:     map[poolKey]map[string]*endpointCounter{},
	}
	npools := 0
	for _, z := range snap.Zones() {
		npools += len(z.Pools)
	}
	size := 2
	for size < 2*npools {
		size <<= 1
	}
	n.pools = make([]*poolEntry, size)
	for _, z := range snap.Zones() {
		zc := old.origins[z.Origin]
		if zc == nil {
			zc = &zoneCounters{origin: z.Origin}
		}
		n.zones[z] = zc
		n.origins[z.Origin] = zc
		for _, p := range z.Pools {
			k := poolKey{z.Origin, p.Name}
			var pc *poolCounters
			if pe := old.byKey[k]; pe != nil {
				pc = pe.c
			} else {
				pc = &poolCounters{zone: z.Origin, name: p.Name}
			}
			pe := &poolEntry{pool: p, zc: zc, c: pc, eps: make([]*endpointCounter, len(p.Endpoints))}
			byAddr := map[string]*endpointCounter{}
			fresh := make([]endpointCounter, len(p.Endpoints)) // side by side: a query counts several
			for i, e := range p.Endpoints {
				addr := e.Addr.String()
				ec := old.eps[k][addr]
				if ec == nil {
					ec = &fresh[i]
					ec.addr = addr
				}
				pe.eps[e.Index] = ec
				byAddr[addr] = ec
			}
			n.addPool(pe)
			n.byKey[k] = pe
			n.eps[k] = byAddr
		}
	}
	m.idx.Store(n)
}

// addPool puts pe in the first free slot from its pool's hash on.
func (x *metricsIndex) addPool(pe *poolEntry) {
	mask := uint64(len(x.pools) - 1)
	i := pe.pool.Hash & mask
	for x.pools[i] != nil {
		i = (i + 1) & mask
	}
	x.pools[i] = pe
}

// pool returns p's entry, nil when p is not in the index's snapshot.
func (x *metricsIndex) pool(p *zones.Pool) *poolEntry {
	if len(x.pools) == 0 {
		return nil
	}
	mask := uint64(len(x.pools) - 1)
	for i := p.Hash & mask; ; i = (i + 1) & mask {
		if pe := x.pools[i]; pe == nil || pe.pool == p {
			return pe
		}
	}
}

// observe counts one answered query. It runs on the query path: atomic
// adds only, found through the published index.
func (m *metrics) observe(o *dnssrv.Observation) {
	idx := m.idx.Load()
	var pe *poolEntry
	if o.Pool != nil {
		if pe = idx.pool(o.Pool); pe == nil { // a reload raced the query
			if pe = idx.byKey[poolKey{o.Pool.Zone, o.Pool.Name}]; pe != nil && len(pe.eps) != len(o.Pool.Endpoints) {
				pe = nil // the pool changed meanwhile: not worth a guess
			}
		}
	}
	zc := &m.none
	if pe != nil {
		zc = pe.zc // the counters of the pool's zone (kept by origin across reloads)
	} else if o.Zone != nil {
		if c := idx.zones[o.Zone]; c != nil {
			zc = c
		} else if c := idx.origins[o.Zone.Origin]; c != nil { // a reload raced the query
			zc = c
		}
	}
	tr := 0
	if o.TCP {
		tr = 1
	}
	zc.queries[typeIndex(o.Qtype)][rcodeIndex(o.Rcode)][tr].Add(1)
	if o.HasECS {
		m.ecs.Add(1)
	}
	if pe == nil {
		return
	}
	pe.c.queries.Add(1)
	n := 0
	for e := range o.Endpoints() {
		pe.eps[e.Index].answers.Add(1)
		n++
	}
	if n == 0 {
		pe.c.empty.Add(1)
	}
}

// shareSampler keeps samples of the pool and endpoint answer counters so
// /status can give each endpoint's share of its pool's answers over the
// last minute.
type shareSampler struct {
	mu      sync.Mutex
	samples []*shareSample // oldest first
}

// shareSample is the counters' values at one time, as two parallel
// slices: cheap to take every few seconds even with 10,000 pools (a map
// of 50,000 entries took milliseconds of the only core of a pinned
// server, and queries waited). The map shares needs is built on first
// use, by /status.
type shareSample struct {
	at    time.Time
	ptrs  []*atomic.Uint64
	vals  []uint64
	index map[*atomic.Uint64]uint64 // under shareSampler.mu
}

func (s *shareSample) value(c *atomic.Uint64) uint64 {
	if s.index == nil {
		s.index = make(map[*atomic.Uint64]uint64, len(s.ptrs))
		for i, p := range s.ptrs {
			s.index[p] = s.vals[i]
		}
	}
	return s.index[c]
}

const (
	shareWindow = time.Minute
	shareEvery  = 5 * time.Second
)

// sample records the current counter values.
func (m *metrics) sample(now time.Time) {
	idx := m.idx.Load()
	n := 0
	for _, pe := range idx.pools {
		if pe != nil {
			n += 1 + len(pe.eps)
		}
	}
	s := &shareSample{at: now, ptrs: make([]*atomic.Uint64, 0, n), vals: make([]uint64, 0, n)}
	for _, pe := range idx.pools {
		if pe == nil {
			continue // a free slot
		}
		s.ptrs = append(s.ptrs, &pe.c.queries)
		s.vals = append(s.vals, pe.c.queries.Load())
		for _, ec := range pe.eps {
			s.ptrs = append(s.ptrs, &ec.answers)
			s.vals = append(s.vals, ec.answers.Load())
		}
	}
	sh := &m.share
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.samples = append(sh.samples, s)
	// Keep one sample at least a window old (the base), drop older ones.
	for len(sh.samples) > 1 && !sh.samples[1].at.After(now.Add(-shareWindow)) {
		sh.samples = sh.samples[1:]
	}
}

// sampleShares runs sample every shareEvery until ctx is done.
func (m *metrics) sampleShares(ctx context.Context) {
	t := time.NewTicker(shareEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.sample(now)
		}
	}
}

// poolShare is a pool's traffic over the share window.
type poolShare struct {
	queries uint64    // A/AAAA queries answered
	shares  []float64 // by zones.Endpoint.Index: the endpoint's part of the addresses handed out
}

// shares returns the pool's answers since the base sample (the newest one
// at least a window old, else the oldest), and the window's length.
func (m *metrics) shares(p *zones.Pool, now time.Time) (poolShare, time.Duration) {
	idx := m.idx.Load()
	pe := idx.pool(p)
	out := poolShare{shares: make([]float64, len(p.Endpoints))}
	m.share.mu.Lock()
	defer m.share.mu.Unlock()
	var base *shareSample
	for _, s := range m.share.samples {
		if base == nil || !s.at.After(now.Add(-shareWindow)) {
			base = s
		}
	}
	if pe == nil || base == nil {
		return out, 0
	}
	window := now.Sub(base.at)
	out.queries = pe.c.queries.Load() - base.value(&pe.c.queries)
	var total uint64
	deltas := make([]uint64, len(pe.eps))
	for i, ec := range pe.eps {
		deltas[i] = ec.answers.Load() - base.value(&ec.answers)
		total += deltas[i]
	}
	if total > 0 {
		for i, d := range deltas {
			out.shares[i] = float64(d) / float64(total)
		}
	}
	return out, window
}

// timedProber feeds the check duration histogram: the health Manager takes
// any Prober, so this wraps the real one rather than adding a hook there.
type timedProber struct {
	next health.Prober
	hist *prometheus.HistogramVec
}

func (p timedProber) Probe(ctx context.Context, t health.Target) health.Result {
	start := time.Now()
	res := p.next.Probe(ctx, t)
	d := res.Latency
	if d == 0 {
		d = time.Since(start)
	}
	result := "ok"
	if !res.OK {
		result = "fail"
	}
	p.hist.WithLabelValues(t.Spec.Type, result).Observe(d.Seconds())
	return res
}

// observer is the handler's dnssrv.Observer: metrics, then the query log.
type observer struct {
	m  *metrics
	ql *queryLog
}

func (o *observer) Observe(ob *dnssrv.Observation) {
	o.m.observe(ob)
	if o.ql != nil && o.ql.on.Load() {
		o.ql.add(ob)
	}
}

// registry builds the Prometheus registry served on /metrics. It is the
// app's own: nothing is registered globally.
func (a *app) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		a.metrics.checks,
		newCollector(a),
	)
	return reg
}

// collector reads the app's counters and state at scrape time.
type collector struct {
	a *app

	queries, requests, ecs, panics, dropped, formErrs, fast, tcpEvicted *prometheus.Desc
	tcpRefused, tcpConns, rrlLimited, rrlWouldLimit, cookies            *prometheus.Desc
	largeTruncated, tooBig, tsig                                        *prometheus.Desc
	poolQueries, poolEmpty, epAnswers, epUp, epCheckUp, epLatency       *prometheus.Desc
	reloads, reloadFailures, lastReloadOK, lastReloadAt                 *prometheus.Desc
	zoneSerial, zoneFileErrors                                          *prometheus.Desc
	geoBuild, geoFailing                                                *prometheus.Desc
	qlogOn, qlogLines, qlogDropped                                      *prometheus.Desc
	buildInfo                                                           *prometheus.Desc
}

func newCollector(a *app) *collector {
	d := prometheus.NewDesc
	ep := []string{"zone", "pool", "endpoint"}
	return &collector{
		a:              a,
		queries:        d("gslb_dns_queries_total", "DNS queries answered, by zone (\"none\" outside every zone), query type, response code and transport.", []string{"zone", "type", "rcode", "transport"}, nil),
		requests:       d("gslb_dns_requests_total", "DNS messages received with a readable header (answered or not).", nil, nil),
		ecs:            d("gslb_dns_ecs_queries_total", "DNS queries answered that carried an EDNS Client Subnet option.", nil, nil),
		panics:         d("gslb_dns_panics_total", "Queries that hit a bug and were answered SERVFAIL.", nil, nil),
		dropped:        d("gslb_dns_dropped_total", "Messages dropped without an answer: responses, and bytes without a DNS header.", nil, nil),
		formErrs:       d("gslb_dns_formerr_total", "Malformed queries answered FORMERR.", nil, nil),
		fast:           d("gslb_dns_fast_path_total", "UDP queries answered on the fast path (reply written without building a message).", nil, nil),
		tcpEvicted:     d("gslb_dns_tcp_evicted_total", "Idle DNS TCP connections closed to make room for new ones.", nil, nil),
		tcpRefused:     d("gslb_dns_tcp_refused_total", "DNS TCP connections closed at once: over a limit with no idle connection to evict.", nil, nil),
		tcpConns:       d("gslb_dns_tcp_connections", "Open DNS TCP connections.", nil, nil),
		rrlLimited:     d("gslb_dns_rrl_limited_total", "UDP replies response rate limiting replaced by a truncated one (action slipped) or did not send (dropped).", []string{"action"}, nil),
		rrlWouldLimit:  d("gslb_dns_rrl_would_limit_total", "UDP replies response rate limiting would have limited in log_only mode.", nil, nil),
		cookies:        d("gslb_dns_cookie_queries_total", "Queries with a DNS COOKIE option, by result: valid (server cookie checked), fresh (given a new one), malformed (FORMERR).", []string{"result"}, nil),
		largeTruncated: d("gslb_dns_large_truncated_total", "UDP answers truncated because the client had no valid server cookie ([cookies] require_for_large).", nil, nil),
		tooBig:         d("gslb_dns_udp_too_big_total", "UDP answers larger than the interface MTU carries unfragmented (or than a datagram can be), sent truncated so the client retries over TCP.", nil, nil),
		tsig:           d("gslb_dns_tsig_queries_total", "TSIG-signed queries, answered NOTAUTH (gslb holds no keys).", nil, nil),
		poolQueries:    d("gslb_pool_queries_total", "A/AAAA queries answered from a pool.", []string{"zone", "pool"}, nil),
		poolEmpty:      d("gslb_pool_empty_answers_total", "A/AAAA queries a pool answered with no address (no endpoint of the family, or all down with when_all_down = \"none\").", []string{"zone", "pool"}, nil),
		epAnswers:      d("gslb_endpoint_answers_total", "Answers that carried the endpoint's address.", ep, nil),
		epUp:           d("gslb_endpoint_up", "1 if the endpoint can be served now (state up, or auto and not failing its check), else 0.", ep, nil),
		epCheckUp:      d("gslb_endpoint_check_up", "The endpoint's health check state: 1 up, 0 down. Absent without a check or before its first result.", ep, nil),
		epLatency:      d("gslb_endpoint_check_latency_seconds", "Duration of the endpoint's last health check probe.", ep, nil),
		reloads:        d("gslb_reloads_total", "Loads of the zones directory, the first included.", nil, nil),
		reloadFailures: d("gslb_reload_failures_total", "Loads of the zones directory that reported at least one error.", nil, nil),
		lastReloadOK:   d("gslb_last_reload_success", "1 if the last load of the zones directory had no error, else 0.", nil, nil),
		lastReloadAt:   d("gslb_last_reload_timestamp_seconds", "When the zones directory was last loaded (Unix time).", nil, nil),
		zoneSerial:     d("gslb_zone_serial", "SOA serial of the zone being served.", []string{"zone"}, nil),
		zoneFileErrors: d("gslb_zone_file_errors", "Errors in a zone file at the last load (0 when it loaded; its last good version serves otherwise).", []string{"file"}, nil),
		geoBuild:       d("gslb_geoip_build_timestamp_seconds", "When the GeoIP database serving was built (Unix time).", []string{"path", "type"}, nil),
		geoFailing:     d("gslb_geoip_reload_failing", "1 if the last reload of the GeoIP file failed (its previous version serves), else 0.", []string{"path"}, nil),
		qlogOn:         d("gslb_query_log_enabled", "1 while the query log is on.", nil, nil),
		qlogLines:      d("gslb_query_log_lines_total", "Query log lines written.", nil, nil),
		qlogDropped:    d("gslb_query_log_dropped_total", "Query log lines dropped because the log could not keep up.", nil, nil),
		buildInfo:      d("gslb_build_info", "Always 1; labels give the gslb version and the Go version it was built with.", []string{"version", "goversion"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queries, c.requests, c.ecs, c.panics, c.dropped, c.formErrs, c.fast, c.tcpEvicted,
		c.tcpRefused, c.tcpConns, c.rrlLimited, c.rrlWouldLimit, c.cookies, c.largeTruncated, c.tooBig, c.tsig,
		c.poolQueries, c.poolEmpty, c.epAnswers, c.epUp, c.epCheckUp, c.epLatency,
		c.reloads, c.reloadFailures, c.lastReloadOK, c.lastReloadAt, c.zoneSerial, c.zoneFileErrors,
		c.geoBuild, c.geoFailing, c.qlogOn, c.qlogLines, c.qlogDropped, c.buildInfo} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	gauge(c.buildInfo, 1, versionString(), runtime.Version())

	// Queries: only the combinations seen, or a zone would export 256
	// series of zeros.
	idx := a.metrics.idx.Load()
	zcs := []*zoneCounters{&a.metrics.none}
	for _, zc := range idx.origins {
		zcs = append(zcs, zc)
	}
	for _, zc := range zcs {
		for t := range nTypes {
			for r := range nRcodes {
				for tr, trName := range [2]string{"udp", "tcp"} {
					if v := zc.queries[t][r][tr].Load(); v > 0 {
						counter(c.queries, v, zc.origin, typeLabel(t), rcodeLabel(r), trName)
					}
				}
			}
		}
	}
	counter(c.ecs, a.metrics.ecs.Load())
	if a.handler != nil {
		st := &a.handler.Stats
		counter(c.requests, st.Queries.Load())
		counter(c.panics, st.Panics.Load())
		counter(c.dropped, st.Dropped.Load())
		counter(c.formErrs, st.FormErrs.Load())
		counter(c.fast, st.Fast.Load())
		counter(c.rrlLimited, st.RRLSlipped.Load(), "slipped")
		counter(c.rrlLimited, st.RRLDropped.Load(), "dropped")
		counter(c.rrlWouldLimit, a.handler.RRLStats().WouldLimit)
		counter(c.cookies, st.CookieValid.Load(), "valid")
		counter(c.cookies, st.CookieFresh.Load(), "fresh")
		counter(c.cookies, st.CookieMalformed.Load(), "malformed")
		counter(c.largeTruncated, st.LargeTruncated.Load())
		counter(c.tooBig, st.TooBig.Load())
		counter(c.tsig, st.TSIG.Load())
	}
	if a.dns != nil {
		counter(c.tcpEvicted, a.dns.TCPEvicted.Load())
		counter(c.tcpRefused, a.dns.TCPRefused.Load())
		gauge(c.tcpConns, float64(a.dns.TCPConns()))
	}

	// Pools and endpoints of the snapshot being served.
	snap := a.store.Current()
	view := a.health.Current()
	for _, z := range snap.Zones() {
		gauge(c.zoneSerial, float64(z.Serial), z.Origin)
		for _, p := range z.Pools {
			pe := idx.pool(p)
			if pe != nil {
				counter(c.poolQueries, pe.c.queries.Load(), z.Origin, p.Name)
				counter(c.poolEmpty, pe.c.empty.Load(), z.Origin, p.Name)
			}
			ps := poolJSON(p, view)
			for i, e := range p.Endpoints {
				addr := ps.Endpoints[i].Address
				if pe != nil {
					counter(c.epAnswers, pe.eps[e.Index].answers.Load(), z.Origin, p.Name, addr)
				}
				gauge(c.epUp, b2f(ps.Endpoints[i].Serving), z.Origin, p.Name, addr)
				if h := ps.Endpoints[i].Health; h.Status == "up" || h.Status == "down" {
					gauge(c.epCheckUp, b2f(h.Status == "up"), z.Origin, p.Name, addr)
					gauge(c.epLatency, h.LatencyMS/1000, z.Origin, p.Name, addr)
				}
			}
		}
	}
	if snap != nil {
		for _, f := range snap.Files {
			n := 0
			if f.Err != nil {
				n = len(toErrorJSON(f.Err))
			}
			gauge(c.zoneFileErrors, float64(n), f.File)
		}
	}

	a.mu.Lock()
	reloads, fails, at, lastErr := a.reloads, a.reloadErrs, a.lastReload, a.lastErr
	a.mu.Unlock()
	counter(c.reloads, uint64(reloads))
	counter(c.reloadFailures, uint64(fails))
	gauge(c.lastReloadOK, b2f(lastErr == nil))
	if !at.IsZero() {
		gauge(c.lastReloadAt, float64(at.UnixNano())/1e9)
	}

	if a.geo != nil {
		for _, i := range a.geo.Info() {
			gauge(c.geoBuild, float64(i.BuildTime.Unix()), i.Path, i.Type)
			gauge(c.geoFailing, b2f(i.Err != ""), i.Path)
		}
	}

	if ql := a.qlog; ql != nil {
		gauge(c.qlogOn, b2f(ql.on.Load()))
		counter(c.qlogLines, ql.written.Load())
		counter(c.qlogDropped, ql.dropped.Load())
	}
}
