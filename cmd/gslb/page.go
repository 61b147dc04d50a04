package main

import (
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// The status page (GET /): the /status document rendered for a person, on
// a phone or a wall screen. Server-rendered HTML, CSS inline, no
// JavaScript; a meta refresh reloads it.

const pageRefreshSeconds = 5

// Colour classes, also used by `gslb status` for its colours.
const (
	green = "green"
	amber = "amber"
	red   = "red"
)

type pageData struct {
	Version    string
	Now        string
	Refresh    int
	Uptime     string
	LastReload string
	Reloads    int
	Failures   int
	Problems   []string // reload and GeoIP errors: on top
	Counts     map[string]int
	Endpoints  int
	Zones      []pageZone
	GeoIP      []pageGeo
	Changes    []pageChange
	Window     string
	QueryLog   bool
}

type pageZone struct {
	Origin, File, Serial, Loaded, State, Class string
	Pools                                      []pagePool
}

type pagePool struct {
	Name, Policy, Detail, Class, Note string
	Queries                           uint64
	Endpoints                         []pageEndpoint
}

type pageEndpoint struct {
	Address, Class, Label, Reason, Since, Latency, Share string
	SharePct                                             int
}

type pageGeo struct {
	Path, Type, Built, Class, Note string
}

type pageChange struct {
	At, Address, State, Reason, Class string
}

// endpointLook decides an endpoint's colour, a one-word label and the
// reason shown beside it. Red: not served (check failing, or set down).
// Amber: served but unconfirmed (no result yet, forced up while failing)
// or drained on purpose. Green: served and healthy, or without a check.
func endpointLook(e endpointStatus) (class, label, reason string) {
	h := e.Health
	switch {
	case e.State == "down":
		reason = `set down by the operator (state = "down")`
		if h.Reason != "" {
			reason += "; check: " + h.Reason
		}
		return red, "down", reason
	case e.State == "drain":
		reason = `draining (state = "drain")`
		if h.Reason != "" {
			reason += "; check: " + h.Reason
		}
		return amber, "drain", reason
	case h.Status == "down" && e.State == "up":
		return amber, "forced up", `check failing (` + h.Reason + `) but state = "up"`
	case h.Status == "down":
		return red, "down", h.Reason
	case h.Status == "unknown":
		return amber, "unknown", "no check result yet"
	case h.Status == "none":
		return green, "up", "no health check"
	}
	return green, "up", h.Reason
}

// ago is a short, human duration since t: "42s", "12m", "5h3m", "3d4h".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func buildPage(d statusDoc, now time.Time) pageData {
	pd := pageData{
		Version: d.Version, Now: now.Format("2006-01-02 15:04:05 MST"), Refresh: pageRefreshSeconds,
		Uptime: ago(now, d.StartedAt), Reloads: d.LastReload.Count, Failures: d.LastReload.Failures,
		Counts: map[string]int{green: 0, amber: 0, red: 0}, Window: ago(now, now.Add(-time.Duration(d.ShareWindow)*time.Second)),
		QueryLog: d.QueryLog.Enabled,
	}
	if !d.LastReload.At.IsZero() {
		pd.LastReload = ago(now, d.LastReload.At) + " ago"
	}
	for _, e := range d.LastReload.Errors {
		pd.Problems = append(pd.Problems, e.Text)
	}
	for _, g := range d.GeoIP {
		pg := pageGeo{Path: g.Path, Type: g.Type, Built: g.BuildTime.Format("2006-01-02"), Class: green}
		switch {
		case g.Error != "":
			pg.Class, pg.Note = red, "reload failed, previous version serving: "+g.Error
			pd.Problems = append(pd.Problems, "GeoIP "+g.Path+": "+g.Error)
		case !g.Exists:
			pg.Class, pg.Note = amber, "file missing on disk; the loaded version serves"
		case now.Sub(g.BuildTime) > 45*24*time.Hour:
			pg.Class, pg.Note = amber, "built "+ago(now, g.BuildTime)+" ago: is geoipupdate running?"
		}
		pd.GeoIP = append(pd.GeoIP, pg)
	}
	byZone := map[string][]pagePool{}
	for _, p := range d.Pools {
		pp := pagePool{Name: p.Name, Policy: p.Policy, Queries: p.QueriesLastMinute}
		pp.Detail = "ttl " + strconv.Itoa(int(p.TTL))
		if p.Check != "" {
			pp.Detail += " · check " + p.Check
		} else {
			pp.Detail += " · no check"
		}
		serving := 0
		for _, e := range p.Endpoints {
			pe := pageEndpoint{Address: e.Address, Share: "–"}
			pe.Class, pe.Label, pe.Reason = endpointLook(e)
			pd.Counts[pe.Class]++
			pd.Endpoints++
			if e.Serving {
				serving++
			}
			if e.Health.Since != nil {
				pe.Since = ago(now, *e.Health.Since)
			}
			if e.Health.LastCheck != nil {
				pe.Latency = strconv.FormatFloat(e.Health.LatencyMS, 'f', 1, 64) + " ms"
			}
			if p.QueriesLastMinute > 0 {
				pe.SharePct = int(e.AnswerShare*100 + 0.5)
				pe.Share = strconv.Itoa(pe.SharePct) + "%"
			}
			pp.Endpoints = append(pp.Endpoints, pe)
		}
		switch {
		case len(p.Endpoints) > 0 && serving == 0:
			pp.Class = red
			if p.WhenAllDown == "none" {
				pp.Note = `every endpoint is down: answers are empty (when_all_down = "none")`
			} else {
				pp.Note = `every endpoint is down: all are served anyway (when_all_down = "all")`
			}
		case serving < len(p.Endpoints):
			pp.Class = amber
			pp.Note = strconv.Itoa(serving) + " of " + strconv.Itoa(len(p.Endpoints)) + " endpoints serving"
		default:
			pp.Class = green
		}
		byZone[p.Zone] = append(byZone[p.Zone], pp)
	}
	for _, z := range d.Zones {
		pz := pageZone{Origin: z.Origin, File: z.File, Class: green, State: "serving"}
		if pz.Origin == "" {
			pz.Origin = "(not loaded)"
		}
		if z.Serving {
			pz.Serial = strconv.FormatUint(uint64(z.Serial), 10)
			pz.Loaded = ago(now, z.LoadedAt) + " ago"
		}
		switch {
		case z.Stale:
			pz.Class, pz.State = red, "file fails, serving last good version"
		case !z.Serving:
			pz.Class, pz.State = red, "file fails, not served"
		}
		if z.Serving {
			pz.Pools = byZone[z.Origin]
		}
		pd.Zones = append(pd.Zones, pz)
	}
	for _, t := range d.Transitions {
		c := pageChange{At: t.At.Local().Format("15:04:05"), Address: t.Address, State: "down", Reason: t.Reason, Class: red}
		if now.Sub(t.At) > 24*time.Hour {
			c.At = t.At.Local().Format("Jan 2 15:04")
		}
		if t.Up {
			c.State, c.Class = "up", green
		}
		pd.Changes = append(pd.Changes, c)
	}
	return pd
}

func (a *app) page(w http.ResponseWriter, r *http.Request) {
	pd := buildPage(a.status(), time.Now())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTmpl.Execute(w, pd); err != nil {
		a.log.Warn("status page failed", "err", err)
	}
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>{{if .Counts.red}}({{.Counts.red}} down) {{end}}gslb status</title>
<style>
:root{--fg:#1f2328;--mut:#59636e;--bd:#d1d9e0;--bg:#f6f8fa;--card:#fff;
--g:#1a7f37;--gb:#dafbe1;--a:#9a6700;--ab:#fff8c5;--r:#cf222e;--rb:#ffebe9}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--mut:#9198a1;--bd:#3d444d;--bg:#0d1117;--card:#151b23;
--g:#3fb950;--gb:#12261e;--a:#d29922;--ab:#272115;--r:#f85149;--rb:#2d1417}}
html{font-size:15px}
@media (min-width:1800px){html{font-size:19px}}
@media (min-width:2800px){html{font-size:26px}}
*{box-sizing:border-box}
body{margin:0;font:1rem/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:.4rem 1.4rem;align-items:baseline;padding:.7rem 1rem;background:var(--card);border-bottom:1px solid var(--bd)}
header h1{font-size:1.25rem;margin:0}
.mut{color:var(--mut)}
.sum{display:flex;gap:.5rem;flex-wrap:wrap}
.pill{padding:.1rem .6rem;border-radius:1rem;font-weight:600;white-space:nowrap}
.pill.zero{background:var(--bg);color:var(--mut)}
.pill.green{background:var(--gb);color:var(--g)}.pill.amber{background:var(--ab);color:var(--a)}.pill.red{background:var(--rb);color:var(--r)}
main{padding:1rem;display:grid;gap:1.2rem;max-width:200rem;margin:0 auto}
h2{font-size:1.1rem;margin:0 0 .5rem}
.err{background:var(--rb);color:var(--fg);border-left:.4rem solid var(--r);padding:.5rem .8rem;margin:0 0 .4rem;border-radius:4px;
font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9rem;white-space:pre-wrap;word-break:break-word}
.zone>h2 .state{font-weight:400;font-size:.95rem}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,32rem),1fr))}
.card{background:var(--card);border:1px solid var(--bd);border-radius:8px;overflow:hidden}
.card>h3{margin:0;padding:.5rem .8rem;font-size:1rem;display:flex;flex-wrap:wrap;gap:.2rem .8rem;align-items:baseline;border-left:.4rem solid var(--g)}
.card.amber>h3{border-left-color:var(--a)}.card.red>h3{border-left-color:var(--r);background:var(--rb)}
.card>h3 .mut{font-weight:400;font-size:.9rem}
.note{padding:.3rem .8rem;font-size:.9rem}
.card.red .note{color:var(--r);font-weight:600}.card.amber .note{color:var(--a)}
.scroll{overflow-x:auto}
table{width:100%;border-collapse:collapse}
th,td{padding:.35rem .6rem;text-align:left;border-top:1px solid var(--bd);vertical-align:top}
th{font-size:.8rem;font-weight:600;color:var(--mut);text-transform:uppercase;letter-spacing:.03em}
tr.green>td:first-child{box-shadow:inset .4rem 0 var(--g)}
tr.amber>td:first-child{box-shadow:inset .4rem 0 var(--a)}
tr.red>td:first-child{box-shadow:inset .4rem 0 var(--r)}
tr.amber{background:var(--ab)}tr.red{background:var(--rb)}
td:first-child,th:first-child{padding-left:.9rem}
.addr{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;white-space:nowrap}
.lbl{font-weight:700;white-space:nowrap}
tr.green .lbl{color:var(--g)}tr.amber .lbl{color:var(--a)}tr.red .lbl{color:var(--r)}
.reason{word-break:break-word}
.fit{width:1%;white-space:nowrap}
.num{text-align:right;white-space:nowrap}
.bar{display:block;height:.3rem;background:var(--bd);border-radius:.2rem;margin-top:.2rem;min-width:3rem}
.bar>span{display:block;height:100%;background:var(--g);border-radius:.2rem}
@media (max-width:640px){.wide{display:none}main{padding:.6rem}}
footer{padding:0 1rem 1rem;font-size:.85rem}
</style></head><body>
<header>
<h1>gslb</h1>
<div class="sum">
<span class="pill {{if .Counts.red}}red{{else}}zero{{end}}">{{.Counts.red}} down</span>
<span class="pill {{if .Counts.amber}}amber{{else}}zero{{end}}">{{.Counts.amber}} warning</span>
<span class="pill {{if .Counts.green}}green{{else}}zero{{end}}">{{.Counts.green}} up</span>
</div>
<span class="mut">{{.Endpoints}} endpoints · {{len .Zones}} zone files · up {{.Uptime}} · last reload {{.LastReload}}{{if .Failures}} · {{.Failures}} of {{.Reloads}} reloads failed{{end}}</span>
</header>
<main>
{{if .Problems}}<section id="problems"><h2>Errors</h2>
{{range .Problems}}<div class="err">{{.}}</div>
{{end}}</section>{{end}}
{{range .Zones}}<section class="zone" data-zone="{{.Origin}}">
<h2>{{.Origin}} <span class="state mut">{{if .Serial}}serial {{.Serial}} · loaded {{.Loaded}} · {{end}}{{.File}}</span>{{if ne .Class "green"}} <span class="pill {{.Class}}">{{.State}}</span>{{end}}</h2>
<div class="grid">
{{range .Pools}}<div class="card {{.Class}}" data-pool="{{.Name}}">
<h3>{{.Name}} <span class="mut">{{.Policy}} · {{.Detail}} · {{.Queries}} queries in {{$.Window}}</span></h3>
{{if .Note}}<div class="note">{{.Note}}</div>{{end}}
<div class="scroll"><table>
<tr><th>endpoint</th><th>state</th><th>reason</th><th class="num">share</th><th class="wide">since</th><th class="wide num">check</th></tr>
{{range .Endpoints}}<tr class="ep {{.Class}}" data-endpoint="{{.Address}}"><td class="addr">{{.Address}}</td><td class="lbl">{{.Label}}</td><td class="reason">{{.Reason}}</td><td class="num">{{.Share}}<span class="bar"><span style="width:{{.SharePct}}%"></span></span></td><td class="wide">{{.Since}}</td><td class="wide num">{{.Latency}}</td></tr>
{{end}}</table></div>
</div>
{{else}}<p class="mut">no pools</p>
{{end}}</div>
</section>
{{end}}
<section id="changes"><h2>Recent state changes</h2>
<div class="card scroll"><table>
{{range .Changes}}<tr class="{{.Class}}"><td class="fit">{{.At}}</td><td class="addr fit">{{.Address}}</td><td class="lbl fit">{{.State}}</td><td class="reason">{{.Reason}}</td></tr>
{{else}}<tr><td class="mut">none since start</td></tr>
{{end}}</table></div></section>
{{if .GeoIP}}<section id="geoip"><h2>GeoIP databases</h2>
<div class="card scroll"><table>
<tr><th>file</th><th>type</th><th>built</th><th class="wide">note</th></tr>
{{range .GeoIP}}<tr class="{{.Class}}"><td class="addr">{{.Path}}</td><td>{{.Type}}</td><td>{{.Built}}</td><td class="wide">{{.Note}}</td></tr>
{{end}}</table></div></section>{{end}}
</main>
<footer class="mut">gslb {{.Version}} · {{.Now}} · refreshes every {{.Refresh}}s · share = part of each pool's answers in the last {{.Window}}{{if .QueryLog}} · query log on{{end}} · <a href="status">/status</a> · <a href="metrics">/metrics</a></footer>
</body></html>
`))
