package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/health"
	"github.com/gslb/gslb/zones"
)

// The /status schema. Fields are only ever added; consumers can rely on
// the ones here keeping their names and meaning (schema_version rises on
// an incompatible change).
type statusDoc struct {
	SchemaVersion int            `json:"schema_version"`
	Version       string         `json:"version"`
	StartedAt     time.Time      `json:"started_at"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	Ready         bool           `json:"ready"`
	LastReload    reloadStatus   `json:"last_reload"`
	Zones         []zoneStatus   `json:"zones"`
	Pools         []poolStatus   `json:"pools"`
	GeoIP         []geoipStatus  `json:"geoip"`
	Transitions   []transitionJS `json:"recent_transitions"`
	// ShareWindow is how many seconds answer_share and
	// queries_last_minute cover: a minute, less just after start.
	ShareWindow float64        `json:"answer_share_window_seconds"`
	QueryLog    queryLogStatus `json:"query_log"`
}

type queryLogStatus struct {
	Enabled bool   `json:"enabled"`
	File    string `json:"file,omitempty"` // absent: stderr
	Lines   uint64 `json:"lines"`
	Dropped uint64 `json:"dropped"`
}

type reloadStatus struct {
	At       time.Time   `json:"at"`
	Count    int         `json:"count"`
	Failures int         `json:"failures"`
	Errors   []errorJSON `json:"errors"`
}

type errorJSON struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
	Text    string `json:"text"` // the whole file:line:col: key: message line
}

type zoneStatus struct {
	Origin   string      `json:"origin"`
	File     string      `json:"file"`
	Serial   uint32      `json:"serial"`
	LoadedAt time.Time   `json:"loaded_at"`
	Serving  bool        `json:"serving"`
	Stale    bool        `json:"stale"` // serving an older version because the file now fails
	Errors   []errorJSON `json:"errors"`
}

type poolStatus struct {
	Name        string           `json:"name"`
	Zone        string           `json:"zone"`
	Policy      string           `json:"policy"`
	TTL         uint32           `json:"ttl"`
	Answers     int              `json:"answers"` // 0: all
	Check       string           `json:"check,omitempty"`
	WhenAllDown string           `json:"when_all_down"`
	Endpoints   []endpointStatus `json:"endpoints"`
	// QueriesLastMinute counts the A/AAAA queries the pool answered in the
	// share window.
	QueriesLastMinute uint64 `json:"queries_last_minute"`
}

type endpointStatus struct {
	Address string       `json:"address"`
	State   string       `json:"state"`   // operator override: auto, up, down, drain
	Serving bool         `json:"serving"` // would be served now (before policy)
	Health  healthStatus `json:"health"`
	// AnswerShare is the endpoint's part (0 to 1) of the addresses its
	// pool handed out in the share window; 0 when the pool answered none.
	AnswerShare float64 `json:"answer_share"`
}

type healthStatus struct {
	Status    string     `json:"status"` // up, down, unknown, or "none" without a check
	Since     *time.Time `json:"since,omitempty"`
	LastCheck *time.Time `json:"last_check,omitempty"`
	LastOK    bool       `json:"last_ok"`
	Reason    string     `json:"reason,omitempty"`
	LatencyMS float64    `json:"latency_ms"`
}

type geoipStatus struct {
	Path      string    `json:"path"`
	Type      string    `json:"type"`
	Kind      string    `json:"kind"` // how it is used: city, country or asn
	BuildTime time.Time `json:"build_time"`
	LoadedAt  time.Time `json:"loaded_at"`
	Exists    bool      `json:"exists"` // the file is on disk now (the loaded version serves either way)
	Error     string    `json:"error,omitempty"`
}

type transitionJS struct {
	Address string    `json:"address"`
	Up      bool      `json:"up"`
	At      time.Time `json:"at"`
	Reason  string    `json:"reason"`
}

func toErrorJSON(err error) []errorJSON {
	out := []errorJSON{}
	for _, e := range zones.Errors(err) {
		out = append(out, errorJSON{File: e.File, Line: e.Line, Col: e.Col, Key: e.Key, Message: e.Msg, Text: e.Error()})
	}
	if len(out) == 0 && err != nil {
		out = append(out, errorJSON{Message: err.Error(), Text: err.Error()})
	}
	return out
}

func (a *app) status() statusDoc {
	a.mu.Lock()
	d := statusDoc{
		SchemaVersion: 1,
		Version:       versionString(),
		StartedAt:     a.started,
		UptimeSeconds: int64(time.Since(a.started).Seconds()),
		Ready:         a.ready,
		LastReload:    reloadStatus{At: a.lastReload, Count: a.reloads, Failures: a.reloadErrs, Errors: toErrorJSON(a.lastErr)},
	}
	a.mu.Unlock()
	snap := a.store.Current()
	view := a.health.Current()
	d.Zones = []zoneStatus{}
	d.Pools = []poolStatus{}
	now := time.Now()
	if snap != nil {
		for _, f := range snap.Files {
			zs := zoneStatus{File: f.File, Origin: f.Origin, Errors: toErrorJSON(f.Err)}
			if f.Zone != nil {
				zs.Serial, zs.LoadedAt, zs.Serving, zs.Origin = f.Zone.Serial, f.Zone.LoadedAt, true, f.Zone.Origin
				zs.Stale = f.Err != nil
			}
			d.Zones = append(d.Zones, zs)
		}
		for _, z := range snap.Zones() {
			for _, p := range z.Pools {
				ps := poolJSON(p, view)
				sh, window := a.metrics.shares(p, now)
				ps.QueriesLastMinute = sh.queries
				for i := range ps.Endpoints {
					ps.Endpoints[i].AnswerShare = sh.shares[i]
				}
				d.ShareWindow = window.Round(time.Second).Seconds()
				d.Pools = append(d.Pools, ps)
			}
		}
	}
	d.GeoIP = []geoipStatus{}
	if a.geo != nil {
		for _, i := range a.geo.Info() {
			_, err := os.Stat(i.Path)
			d.GeoIP = append(d.GeoIP, geoipStatus{Path: i.Path, Type: i.Type, Kind: i.Kind, BuildTime: i.BuildTime,
				LoadedAt: i.LoadedAt, Exists: err == nil, Error: i.Err})
		}
	}
	d.Transitions = []transitionJS{}
	for _, t := range a.health.Recent(20) {
		d.Transitions = append(d.Transitions, transitionJS{Address: t.Addr.String(), Up: t.Up, At: t.At, Reason: t.Reason})
	}
	if ql := a.qlog; ql != nil {
		d.QueryLog = queryLogStatus{Enabled: ql.on.Load(), File: ql.path, Lines: ql.written.Load(), Dropped: ql.dropped.Load()}
	}
	return d
}

func poolJSON(p *zones.Pool, view *health.View) poolStatus {
	ps := poolStatus{Name: p.Name, Zone: p.Zone, Policy: p.Policy.String(), TTL: p.TTL, Answers: p.Answers, WhenAllDown: "all"}
	if p.FailClosed {
		ps.WhenAllDown = "none"
	}
	if p.Check != nil {
		ps.Check = p.Check.Name
	}
	for _, e := range p.Endpoints {
		es := endpointStatus{Address: e.Addr.String(), State: e.State.String(), Health: healthStatus{Status: "none"}}
		if e.CheckKey != "" {
			es.Health.Status = "unknown"
			if st, ok := view.Get(e.CheckKey); ok && st.Known {
				since, last := st.Since, st.LastCheck
				es.Health = healthStatus{Status: map[bool]string{true: "up", false: "down"}[st.Up], Since: &since, LastCheck: &last,
					LastOK: st.LastOK, Reason: st.Reason, LatencyMS: float64(st.Latency.Microseconds()) / 1000}
			}
		}
		switch e.State {
		case zones.Up:
			es.Serving = true
		case zones.Auto:
			es.Serving = es.Health.Status != "down"
		}
		ps.Endpoints = append(ps.Endpoints, es)
	}
	return ps
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, a.status())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		ready := a.ready && a.store.Current() != nil
		a.mu.Unlock()
		if !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if !a.reloadAllowed(r) {
			http.Error(w, "forbidden: reload is allowed from loopback or with the configured token", http.StatusForbidden)
			return
		}
		err := a.reload("http")
		writeJSON(w, map[string]any{"ok": err == nil, "errors": toErrorJSON(err)})
	})
	mux.HandleFunc("GET /explain", a.explainHTTP)
	mux.HandleFunc("GET /{$}", a.page)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry(), promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /querylog", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"enabled": a.qlog != nil && a.qlog.on.Load()})
	})
	mux.HandleFunc("POST /querylog", a.queryLogHTTP)
	if a.cfg.Pprof {
		// net/http/pprof's init also registers these on
		// http.DefaultServeMux, which gslb never serves.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// queryLogHTTP switches the query log: POST /querylog?on=1 or ?on=0, with
// the same access rule as POST /reload.
func (a *app) queryLogHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.reloadAllowed(r) {
		http.Error(w, "forbidden: the query log is switched from loopback or with the configured token", http.StatusForbidden)
		return
	}
	on, err := strconv.ParseBool(r.URL.Query().Get("on"))
	if err != nil {
		http.Error(w, "want on=1 or on=0", http.StatusBadRequest)
		return
	}
	if a.qlog == nil { // cannot happen with HTTP on; kept for safety
		http.Error(w, "query log unavailable", http.StatusServiceUnavailable)
		return
	}
	if a.qlog.set(on) {
		a.log.Info("query log switched", "enabled", on, "by", "http")
	}
	writeJSON(w, map[string]any{"enabled": on})
}

func (a *app) reloadAllowed(r *http.Request) bool {
	if tok := a.cfg.HTTPReloadToken; tok != "" {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(tok)) == 1
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// explainResult is what GET /explain returns and `gslb explain` prints.
type explainResult struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Client string   `json:"client"`
	Steps  []string `json:"steps"`
	Rcode  string   `json:"rcode"`
	Answer []string `json:"answer"`
	Scope  int      `json:"scope,omitempty"`
}

type stepRecorder struct{ steps []string }

func (s *stepRecorder) Step(format string, args ...any) {
	s.steps = append(s.steps, fmt.Sprintf(format, args...))
}

// parseClient reads "IP" or "IP/bits" (an ECS-style subnet).
func parseClient(s string) (netip.Addr, int, error) {
	if s == "" {
		return netip.Addr{}, 0, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().Addr(), p.Bits(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("invalid client %q (want an IP address or IP/bits)", s)
	}
	a = a.Unmap()
	return a, a.BitLen(), nil
}

func (a *app) explainHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := runExplain(a.handler.Explain, r.URL.Query().Get("name"), r.URL.Query().Get("type"), r.URL.Query().Get("client"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, res)
}

func runExplain(fn func(qname string, qtype uint16, client netip.Addr, bits int, tr dnssrv.Tracer) *dns.Msg, name, typ, client string) (*explainResult, error) {
	if name == "" {
		return nil, errors.New("missing name")
	}
	if typ == "" {
		typ = "A"
	}
	qtype, ok := dns.StringToType[strings.ToUpper(typ)]
	if !ok {
		return nil, fmt.Errorf("unknown type %q", typ)
	}
	addr, bits, err := parseClient(client)
	if err != nil {
		return nil, err
	}
	rec := &stepRecorder{}
	m := fn(name, qtype, addr, bits, rec)
	res := &explainResult{Name: dns.Fqdn(name), Type: strings.ToUpper(typ), Client: client, Steps: rec.steps, Rcode: dns.RcodeToString[m.Rcode], Answer: []string{}}
	for _, rr := range m.Answer {
		res.Answer = append(res.Answer, rr.String())
	}
	for _, rr := range m.Ns {
		res.Answer = append(res.Answer, "; authority: "+rr.String())
	}
	return res, nil
}
