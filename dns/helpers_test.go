package dns_test

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/dns/dnstest"
	"github.com/gslb/gslb/zones"
)

// loadSnapshot loads every zone in testdata/.
func loadSnapshot(t testing.TB) *zones.Snapshot {
	t.Helper()
	zs, err := zones.LoadPaths("testdata")
	if err != nil {
		t.Fatalf("load testdata: %v", err)
	}
	snap, errs := zones.NewSnapshot(zs, time.Now())
	if len(errs) > 0 {
		t.Fatalf("snapshot: %v", errs)
	}
	return snap
}

// snapshotOf is a snapshot of the one zone in src, a zone file's text.
func snapshotOf(t testing.TB, file, src string) *zones.Snapshot {
	t.Helper()
	z, err := zones.Parse(file, []byte(src), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	snap, errs := zones.NewSnapshot([]*zones.Zone{z}, time.Now())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return snap
}

// fixture is a handler on testdata/ served on loopback, with health and
// location under the test's control.
type fixture struct {
	addr string
	h    *dnssrv.Handler
	snap *zones.Snapshot
	down atomic.Pointer[dnssrv.DownSet]
}

// newFixture serves testdata/ with the test locator; edit tweaks the
// handler config (UseECS, CHAOS strings…) before the server starts.
func newFixture(t testing.TB, edit func(*dnssrv.Config)) *fixture {
	return newFixtureServer(t, dnssrv.ServerConfig{}, edit)
}

func newFixtureServer(t testing.TB, sc dnssrv.ServerConfig, edit func(*dnssrv.Config)) *fixture {
	t.Helper()
	f := &fixture{snap: loadSnapshot(t)}
	var store zones.Store
	store.Replace(f.snap)
	f.down.Store(&dnssrv.DownSet{})
	cfg := dnssrv.Config{
		Zones:        &store,
		Health:       func() dnssrv.HealthView { return *f.down.Load() },
		Locator:      dnssrv.TestLocator,
		Log:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		ChaosVersion: "gslb test",
		ChaosID:      "ns-test-1",
	}
	if edit != nil {
		edit(&cfg)
	}
	f.h = dnssrv.NewHandler(cfg)
	sc.Log = cfg.Log
	f.addr = dnstest.StartConfig(t, sc, f.h)
	return f
}

// setDown marks these endpoints of pool (FQDN) down in the health view,
// and every other endpoint up.
func (f *fixture) setDown(t testing.TB, pool string, addrs ...string) {
	t.Helper()
	p := dnssrv.PoolOf(f.snap, pool)
	if p == nil {
		t.Fatalf("no pool %s", pool)
	}
	keys := dnssrv.CheckKeys(p, addrs...)
	if len(keys) != len(addrs) {
		t.Fatalf("pool %s: endpoints %v not all found", pool, addrs)
	}
	d := dnssrv.DownSet{}
	for _, k := range keys {
		if k == "" {
			t.Fatalf("pool %s has no check", pool)
		}
		d[k] = true
	}
	f.down.Store(&d)
}

// query is one query as a test writes it.
type query struct {
	q    string // "NAME [CLASS] TYPE"
	tcp  bool
	edns uint16 // EDNS payload size; 0: no OPT
	do   bool
	ecs  string // ECS prefix ("192.0.2.0/24"); needs edns
	// cookie is a COOKIE option's data in hex (client cookie, maybe a
	// server cookie); needs edns.
	cookie string
	// Header bits set in the query.
	rd, cd, ad, z bool
}

func (q query) msg() *dns.Msg {
	m := dnstest.Query(q.q)
	m.RecursionDesired, m.CheckingDisabled, m.AuthenticatedData, m.Zero = q.rd, q.cd, q.ad, q.z
	if q.edns > 0 {
		o := dnstest.EDNS(m, q.edns)
		if q.do {
			o.SetDo()
		}
		if q.ecs != "" {
			o.Option = append(o.Option, dnstest.ECS(q.ecs))
		}
		if q.cookie != "" {
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: q.cookie})
		}
	}
	return m
}

func (q query) String() string {
	var b strings.Builder
	b.WriteString(q.q)
	if q.tcp {
		b.WriteString(" +tcp")
	}
	if q.edns > 0 {
		b.WriteString(" +bufsize=" + itoa(int(q.edns)))
	}
	if q.do {
		b.WriteString(" +dnssec")
	}
	if q.ecs != "" {
		b.WriteString(" +subnet=" + q.ecs)
	}
	if q.cookie != "" {
		b.WriteString(" +cookie=" + q.cookie)
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{q.rd, "rd"}, {q.cd, "cd"}, {q.ad, "ad"}, {q.z, "z"}} {
		if f.on {
			b.WriteString(" +" + f.name)
		}
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

func (q query) net() string {
	if q.tcp {
		return "tcp"
	}
	return "udp"
}

// ask sends q to the fixture and returns the reply and its size.
func (f *fixture) ask(t testing.TB, q query) (*dns.Msg, int) {
	t.Helper()
	return dnstest.Exchange(t, q.net(), f.addr, q.msg())
}

// expect fills the defaults of a wanted message: opcode QUERY and the
// question as asked. A non-nil empty Question means "no question".
func expect(q *dns.Msg, want dnstest.Msg) dnstest.Msg {
	if want.Opcode == "" {
		want.Opcode = "QUERY"
	}
	if want.Question == nil {
		want.Question = dnstest.Render(q).Question
	}
	if len(want.Question) == 0 {
		want.Question = nil
	}
	return want
}

// checkMsg compares a reply with what is wanted, section by section;
// record order counts only when ordered.
func checkMsg(t testing.TB, input string, got *dns.Msg, want dnstest.Msg, ordered bool) {
	t.Helper()
	g := dnstest.Render(got)
	if !ordered {
		g, want = g.Sorted(), want.Sorted()
	}
	if !g.Equal(want) {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", input, g, want)
	}
}

// run asks q and checks the whole reply.
func (f *fixture) run(t testing.TB, q query, want dnstest.Msg, ordered bool) *dns.Msg {
	t.Helper()
	m := q.msg()
	got, _ := dnstest.Exchange(t, q.net(), f.addr, m)
	if got.Id != m.Id {
		t.Errorf("%s: reply id %d, want %d", q, got.Id, m.Id)
	}
	checkMsg(t, q.String(), got, expect(m, want), ordered)
	return got
}
