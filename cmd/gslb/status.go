package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

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
}

type endpointStatus struct {
	Address string       `json:"address"`
	State   string       `json:"state"`   // operator override: auto, up, down, drain
	Serving bool         `json:"serving"` // would be served now (before policy)
	Health  healthStatus `json:"health"`
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
	BuildTime time.Time `json:"build_time"`
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
				d.Pools = append(d.Pools, poolJSON(p, view))
			}
		}
	}
	d.GeoIP = []geoipStatus{}
	if a.geo != nil {
		for _, i := range a.geo.Info() {
			d.GeoIP = append(d.GeoIP, geoipStatus{Path: i.Path, Type: i.Type, BuildTime: i.BuildTime, Error: i.Err})
		}
	}
	d.Transitions = []transitionJS{}
	for _, t := range a.health.Recent(20) {
		d.Transitions = append(d.Transitions, transitionJS{Address: t.Addr.String(), Up: t.Up, At: t.At, Reason: t.Reason})
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
	return mux
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

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"ago": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return time.Since(*t).Truncate(time.Second).String() + " ago"
	},
	"colour": func(e endpointStatus) string {
		switch {
		case e.State == "down" || e.State == "drain" || e.Health.Status == "down":
			return "red"
		case e.Health.Status == "unknown":
			return "amber"
		}
		return "green"
	},
	"itoa": strconv.Itoa,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="5">
<title>gslb status</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:1rem;background:#fafafa;color:#222}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
.green{background:#d8f5d8}.amber{background:#fff0c2}.red{background:#ffd6d6}
.err{background:#ffd6d6;padding:.5rem;border-radius:4px;font-family:monospace;white-space:pre-wrap}
.muted{color:#666}
</style></head><body>
<h1>gslb {{.Version}}</h1>
{{range .LastReload.Errors}}<div class="err">{{.Text}}</div>{{end}}
<p class="muted">up {{.UptimeSeconds}}s · {{len .Zones}} zone file(s) · {{len .Pools}} pool(s) · last reload {{.LastReload.At.Format "2006-01-02 15:04:05"}}</p>
<h2>Zones</h2>
<table><tr><th>zone</th><th>file</th><th>serial</th><th>state</th></tr>
{{range .Zones}}<tr class="{{if .Errors}}red{{else}}green{{end}}"><td>{{.Origin}}</td><td>{{.File}}</td><td>{{.Serial}}</td><td>{{if .Stale}}serving last good version{{else if .Serving}}ok{{else}}not loaded{{end}}</td></tr>{{end}}
</table>
<h2>Pools</h2>
{{range .Pools}}<h3>{{.Name}} <span class="muted">{{.Policy}}, ttl {{.TTL}}{{if .Check}}, check {{.Check}}{{end}}</span></h3>
<table><tr><th>endpoint</th><th>state</th><th>health</th><th>reason</th><th>since</th></tr>
{{range .Endpoints}}<tr class="{{colour .}}"><td>{{.Address}}</td><td>{{.State}}</td><td>{{.Health.Status}}</td><td>{{.Health.Reason}}</td><td>{{ago .Health.Since}}</td></tr>{{end}}
</table>{{end}}
<h2>Recent state changes</h2>
<table>{{range .Transitions}}<tr class="{{if .Up}}green{{else}}red{{end}}"><td>{{.At.Format "15:04:05"}}</td><td>{{.Address}}</td><td>{{if .Up}}up{{else}}down{{end}}</td><td>{{.Reason}}</td></tr>{{else}}<tr><td class="muted">none</td></tr>{{end}}</table>
</body></html>
`))

func (a *app) page(w http.ResponseWriter, r *http.Request) {
	d := a.status()
	sort.SliceStable(d.Pools, func(i, j int) bool { return d.Pools[i].Name < d.Pools[j].Name })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTmpl.Execute(w, d); err != nil {
		a.log.Warn("status page", "err", err)
	}
}
