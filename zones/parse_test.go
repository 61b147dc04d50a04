package zones

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testMod is the modification time good test zones are parsed with.
var testMod = time.Unix(1_700_000_000, 0)

func parseFile(t *testing.T, path string) *Zone {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	z, err := Parse(path, src, testMod)
	if err != nil {
		t.Fatalf("Parse(%s):\n%v", path, err)
	}
	return z
}

// rrString renders rr as dig does, with single spaces.
func rrString(rr dns.RR) string { return strings.ReplaceAll(rr.String(), "\t", " ") }

// rrset returns the static records of type t at name, sorted.
func rrset(z *Zone, name string, t uint16) []string {
	n := z.Nodes[name]
	if n == nil {
		return nil
	}
	var out []string
	for _, rr := range n.Sets[t] {
		out = append(out, rrString(rr))
	}
	slices.Sort(out)
	return out
}

func TestParseGoodZones(t *testing.T) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good zones: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			z := parseFile(t, f)
			// Every record packs, so the server can always send what loaded.
			buf := make([]byte, dns.MaxMsgSize)
			for name, n := range z.Nodes {
				for _, set := range n.Sets {
					for _, rr := range set {
						if _, err := dns.PackRR(rr, buf, 0, nil, false); err != nil {
							t.Errorf("%s: %s does not pack: %v", name, rr, err)
						}
						if rr.Header().Name != name {
							t.Errorf("%s: record owner %q", name, rr.Header().Name)
						}
					}
				}
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct {
		file, origin string
		labels       int
		ttl          uint32
		soa          string
		ns           []string
	}{
		{
			file: "example.test.toml", origin: "example.test.", labels: 2, ttl: 3600,
			soa: "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 1700000000 7200 600 1209600 120",
			ns: []string{
				"example.test. 3600 IN NS ns.elsewhere.test.",
				"example.test. 3600 IN NS ns1.example.test.",
				"example.test. 3600 IN NS ns2.example.test.",
			},
		},
		{
			file: "other.toml", origin: "other.test.", labels: 2, ttl: 600,
			soa: "other.test. 600 IN SOA ns1.example.test. hostmaster.other.test. 1700000000 3600 600 1209600 60",
			ns:  []string{"other.test. 600 IN NS ns1.example.test."},
		},
		{
			file: "root.toml", origin: ".", labels: 0, ttl: 3600,
			soa: ". 3600 IN SOA a.root-servers.test. hostmaster. 1700000000 3600 600 1209600 60",
			ns:  []string{". 3600 IN NS a.root-servers.test."},
		},
		{
			file: "2.0.192.in-addr.arpa.toml", origin: "2.0.192.in-addr.arpa.", labels: 5, ttl: 3600,
			soa: "2.0.192.in-addr.arpa. 3600 IN SOA ns1.example.test. hostmaster.2.0.192.in-addr.arpa. 1700000000 3600 600 1209600 60",
			ns:  []string{"2.0.192.in-addr.arpa. 3600 IN NS ns1.example.test."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			z := parseFile(t, filepath.Join("testdata", tt.file))
			if z.Origin != tt.origin || z.Labels != tt.labels || z.TTL != tt.ttl {
				t.Errorf("origin, labels, ttl = %q, %d, %d, want %q, %d, %d", z.Origin, z.Labels, z.TTL, tt.origin, tt.labels, tt.ttl)
			}
			if got := rrString(z.SOA); got != tt.soa {
				t.Errorf("SOA\n got %s\nwant %s", got, tt.soa)
			}
			if got := rrset(z, z.Origin, dns.TypeSOA); !reflect.DeepEqual(got, []string{tt.soa}) {
				t.Errorf("apex SOA set = %q, want the SOA", got)
			}
			var ns []string
			for _, rr := range z.NS {
				ns = append(ns, rrString(rr))
			}
			slices.Sort(ns)
			if !reflect.DeepEqual(ns, tt.ns) {
				t.Errorf("NS = %q, want %q", ns, tt.ns)
			}
			if got := rrset(z, z.Origin, dns.TypeNS); !reflect.DeepEqual(got, tt.ns) {
				t.Errorf("apex NS set = %q, want %q", got, tt.ns)
			}
			if !z.AutoSerial || z.Serial != 1_700_000_000 {
				t.Errorf("serial = %d (auto %v), want 1700000000 from the modification time", z.Serial, z.AutoSerial)
			}
			wantNeg := min(z.SOA.Hdr.Ttl, z.SOA.Minttl)
			if z.NegTTL != wantNeg || z.NegSOA.Hdr.Ttl != wantNeg || z.NegSOA.Serial != z.Serial {
				t.Errorf("NegTTL %d, NegSOA %s; want TTL %d and serial %d", z.NegTTL, z.NegSOA, wantNeg, z.Serial)
			}
		})
	}
}

func TestRecords(t *testing.T) {
	z := parseFile(t, "testdata/example.test.toml")
	long := ""
	for i := range 30 {
		long += strings.Replace("NNN-------", "NNN", string('0'+rune(i/100))+string('0'+rune(i/10%10))+string('0'+rune(i%10)), 1)
	}
	tests := []struct {
		name string
		typ  uint16
		want []string
	}{
		{"example.test.", dns.TypeMX, []string{
			"example.test. 3600 IN MX 10 mail.example.test.",
			"example.test. 3600 IN MX 20 mx.backup.test.",
		}},
		{"example.test.", dns.TypeTXT, []string{`example.test. 3600 IN TXT "v=spf1 mx -all"`}},
		{"example.test.", dns.TypeCAA, []string{
			`example.test. 3600 IN CAA 0 iodef "mailto:security@example.test"`,
			`example.test. 3600 IN CAA 0 issue "ca.example.net; account=42"`,
		}},
		{"ns1.example.test.", dns.TypeA, []string{"ns1.example.test. 3600 IN A 198.51.100.53"}},
		{"ns2.example.test.", dns.TypeA, []string{"ns2.example.test. 3600 IN A 198.51.100.54"}},
		{"ns2.example.test.", dns.TypeAAAA, []string{"ns2.example.test. 3600 IN AAAA 2001:db8:53::54"}},
		{"mail.example.test.", dns.TypeA, []string{"mail.example.test. 300 IN A 198.51.100.25"}},
		{"docs.example.test.", dns.TypeCNAME, []string{"docs.example.test. 300 IN CNAME www.example.test."}},
		{"*.dev.example.test.", dns.TypeA, []string{"*.dev.example.test. 3600 IN A 198.51.100.80"}},
		{"*.dev.example.test.", dns.TypeTXT, []string{`*.dev.example.test. 3600 IN TXT "wildcard"`}},
		{"long.example.test.", dns.TypeTXT, []string{
			`long.example.test. 3600 IN TXT "` + long[:255] + `" "` + long[255:] + `"`,
			`long.example.test. 3600 IN TXT "back\\slash and \"quotes\""`,
		}},
		{"_sip._tcp.example.test.", dns.TypeSRV, []string{"_sip._tcp.example.test. 3600 IN SRV 10 60 5060 sip.example.test."}},
		{"host.example.test.", dns.TypeSSHFP, []string{"host.example.test. 3600 IN SSHFP 1 1 123456789ABCDEF67890123456789ABCDEF67890"}},
		{"_443._tcp.mail.example.test.", dns.TypeTLSA, []string{
			"_443._tcp.mail.example.test. 3600 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		}},
		{"svc.example.test.", dns.TypeHTTPS, []string{`svc.example.test. 3600 IN HTTPS 1 . alpn="h2,h3" ipv4hint="192.0.2.1"`}},
		{"svc.example.test.", dns.TypeSVCB, []string{`svc.example.test. 3600 IN SVCB 1 svc-backend.example.test. port="8443"`}},
		{"opaque.example.test.", 65534, []string{`opaque.example.test. 3600 CLASS1 TYPE65534 \# 4 01020304`}},
		{"mixedcase.example.test.", dns.TypeA, []string{"mixedcase.example.test. 3600 IN A 198.51.100.7"}},
		{"sub.example.test.", dns.TypeNS, []string{
			"sub.example.test. 3600 IN NS ns.elsewhere.test.",
			"sub.example.test. 3600 IN NS ns1.sub.example.test.",
		}},
		{"sub.example.test.", dns.TypeDS, []string{
			"sub.example.test. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
		}},
		{"ns1.sub.example.test.", dns.TypeA, []string{"ns1.sub.example.test. 3600 IN A 198.51.100.99"}},
		{"ns1.sub.example.test.", dns.TypeAAAA, []string{"ns1.sub.example.test. 3600 IN AAAA 2001:db8:99::1"}},
		{"a.b.c.example.test.", dns.TypeTXT, []string{`a.b.c.example.test. 3600 IN TXT "deep"`}},
	}
	for _, tt := range tests {
		if got := rrset(z, tt.name, tt.typ); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %s:\n got %q\nwant %q", tt.name, dns.TypeToString[tt.typ], got, tt.want)
		}
	}

	rz := parseFile(t, "testdata/2.0.192.in-addr.arpa.toml")
	for name, want := range map[string]string{
		"10.2.0.192.in-addr.arpa.": "10.2.0.192.in-addr.arpa. 3600 IN PTR www.example.test.",
		"11.2.0.192.in-addr.arpa.": "11.2.0.192.in-addr.arpa. 3600 IN PTR api.example.test.",
	} {
		if got := rrset(rz, name, dns.TypePTR); !reflect.DeepEqual(got, []string{want}) {
			t.Errorf("%s PTR = %q, want %q", name, got, want)
		}
	}
}

// TestTXTWire checks that TXT text reaches the wire byte for byte, split
// into 255-byte strings.
func TestTXTWire(t *testing.T) {
	z := parseFile(t, "testdata/example.test.toml")
	var got [][]int
	var texts []string
	for _, rr := range z.Nodes["long.example.test."].Sets[dns.TypeTXT] {
		buf := make([]byte, 2048)
		off, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := dns.UnpackRR(buf[:off], 0)
		if err != nil {
			t.Fatal(err)
		}
		// Read the character-strings straight from the rdata.
		rdata := buf[off-int(back.Header().Rdlength) : off]
		var lens []int
		var text []byte
		for len(rdata) > 0 {
			n := int(rdata[0])
			lens = append(lens, n)
			text = append(text, rdata[1:1+n]...)
			rdata = rdata[1+n:]
		}
		got = append(got, lens)
		texts = append(texts, string(text))
	}
	slices.SortFunc(got, func(a, b []int) int { return len(b) - len(a) })
	if want := [][]int{{255, 45}, {23}}; !reflect.DeepEqual(got, want) {
		t.Errorf("string lengths = %v, want %v", got, want)
	}
	if !slices.Contains(texts, `back\slash and "quotes"`) {
		t.Errorf("wire texts = %q, want one to be the TOML text exactly", texts)
	}
}

func TestNodes(t *testing.T) {
	z := parseFile(t, "testdata/example.test.toml")
	tests := []struct {
		name       string
		exists     bool
		empty, cut bool
	}{
		{"example.test.", true, false, false},
		{"b.c.example.test.", true, true, false}, // empty non-terminals
		{"c.example.test.", true, true, false},
		{"dev.example.test.", true, true, false},
		{"_tcp.example.test.", true, true, false},
		{"_tcp.mail.example.test.", true, true, false},
		{"sub.example.test.", true, false, true},
		{"ns1.sub.example.test.", true, false, false},
		{"mail.example.test.", true, false, false},
		{"nope.example.test.", false, false, false},
		{"x.dev.example.test.", false, false, false}, // only the wildcard exists
		{"MixedCase.example.test.", false, false, false},
	}
	for _, tt := range tests {
		n := z.Nodes[tt.name]
		if (n != nil) != tt.exists {
			t.Errorf("node %s exists = %v, want %v", tt.name, n != nil, tt.exists)
			continue
		}
		if n == nil {
			continue
		}
		if n.Empty() != tt.empty || n.Cut != tt.cut || n.Name != tt.name {
			t.Errorf("node %s: name %q, empty %v, cut %v; want empty %v, cut %v", tt.name, n.Name, n.Empty(), n.Cut, tt.empty, tt.cut)
		}
	}
}

func TestPools(t *testing.T) {
	z := parseFile(t, "testdata/pools.test.toml")
	type ep struct {
		addr       string
		weight     uint32
		priority   int
		state      State
		countries  []string
		continents []string
		networks   []string
		loc        []float64
	}
	tests := []struct {
		name       string
		policy     Policy
		answers    int
		ttl        uint32
		check      string
		failClosed bool
		eps        []ep
		v4, v6     int
		weights    [2]uint64
		alwaysUp   [2]bool
	}{
		{name: "pools.test.", policy: RoundRobin, answers: 0, ttl: 30,
			eps: []ep{{addr: "192.0.2.5", weight: 1}}, v4: 1, weights: [2]uint64{1, 0}, alwaysUp: [2]bool{true, false}},
		{name: "rr.pools.test.", policy: RoundRobin, answers: 0, ttl: 30,
			eps: []ep{{addr: "192.0.2.10", weight: 1}, {addr: "192.0.2.11", weight: 1}, {addr: "2001:db8::10", weight: 1}},
			v4:  2, v6: 1, weights: [2]uint64{2, 1}, alwaysUp: [2]bool{true, true}},
		{name: "weighted.pools.test.", policy: Weighted, answers: 1, ttl: 60, check: "web",
			eps: []ep{{addr: "192.0.2.20", weight: 3}, {addr: "192.0.2.21", weight: 0, state: Drain}, {addr: "192.0.2.22", weight: 1}},
			v4:  3, weights: [2]uint64{4, 0}},
		{name: "failover.pools.test.", policy: Failover, answers: 1, ttl: 30, check: "tcp", failClosed: true,
			eps: []ep{{addr: "192.0.2.30", weight: 1, priority: 1}, {addr: "192.0.2.31", weight: 1, priority: 2, state: Up}},
			v4:  2, weights: [2]uint64{2, 0}},
		{name: "geo.pools.test.", policy: Geo, answers: 2, ttl: 30, check: "tls",
			eps: []ep{
				{addr: "192.0.2.40", weight: 1, countries: []string{"GB", "US-CA"}, continents: []string{"EU"},
					networks: []string{"203.0.113.0/24", "2001:db8:1::/48"}, loc: []float64{51.5, -0.12}},
				{addr: "2001:db8::40", weight: 1, state: Down},
			},
			v4: 1, v6: 1, weights: [2]uint64{1, 0}},
		{name: "nearest.pools.test.", policy: Nearest, answers: 1, ttl: 30,
			eps: []ep{{addr: "192.0.2.50", weight: 1, loc: []float64{51.5, -0.12}}, {addr: "192.0.2.51", weight: 1, loc: []float64{40.7, -74}}},
			v4:  2, weights: [2]uint64{2, 0}, alwaysUp: [2]bool{true, false}},
		{name: "sticky.pools.test.", policy: Sticky, answers: 1, ttl: 30, check: "dns",
			eps: []ep{{addr: "192.0.2.60", weight: 1}, {addr: "192.0.2.61", weight: 1}}, v4: 2, weights: [2]uint64{2, 0}},
	}
	var names []string
	for _, p := range z.Pools {
		names = append(names, p.Name)
	}
	var want []string
	for _, tt := range tests {
		want = append(want, tt.name)
	}
	slices.Sort(want)
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("pools = %q, want %q (sorted)", names, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := z.Nodes[tt.name]
			if n == nil || n.Pool == nil {
				t.Fatalf("no pool node %s", tt.name)
			}
			p := n.Pool
			if p.Policy != tt.policy || p.Answers != tt.answers || p.TTL != tt.ttl || p.FailClosed != tt.failClosed || p.Zone != "pools.test." {
				t.Errorf("policy %v, answers %d, ttl %d, fail closed %v, zone %q; want %v, %d, %d, %v, pools.test.",
					p.Policy, p.Answers, p.TTL, p.FailClosed, p.Zone, tt.policy, tt.answers, tt.ttl, tt.failClosed)
			}
			switch {
			case tt.check == "" && p.Check != nil:
				t.Errorf("check = %q, want none", p.Check.Name)
			case tt.check != "" && (p.Check == nil || p.Check != z.Checks[tt.check]):
				t.Errorf("check = %v, want the zone's %q", p.Check, tt.check)
			}
			if len(p.Endpoints) != len(tt.eps) {
				t.Fatalf("%d endpoints, want %d", len(p.Endpoints), len(tt.eps))
			}
			for i, w := range tt.eps {
				e := p.Endpoints[i]
				var nets []string
				for _, n := range e.Networks {
					nets = append(nets, n.String())
				}
				var loc []float64
				if e.HasLoc {
					loc = []float64{e.Lat, e.Lon}
				}
				got := ep{e.Addr.String(), e.Weight, e.Priority, e.State, e.Countries, e.Continents, nets, loc}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("endpoint %d = %+v, want %+v", i, got, w)
				}
				if e.Index != i {
					t.Errorf("endpoint %d has Index %d", i, e.Index)
				}
				typ := "A"
				if e.Addr.Is6() {
					typ = "AAAA"
				}
				if want := tt.name + " " + itoa(int(tt.ttl)) + " IN " + typ + " " + w.addr; rrString(e.RR) != want {
					t.Errorf("endpoint %d RR = %s, want %s", i, rrString(e.RR), want)
				}
				if (e.CheckKey != "") != (tt.check != "") {
					t.Errorf("endpoint %d CheckKey = %q with check %q", i, e.CheckKey, tt.check)
				}
			}
			if len(p.V4) != tt.v4 || len(p.V6) != tt.v6 || p.TotalWeight != tt.weights {
				t.Errorf("v4 %d, v6 %d, weights %v; want %d, %d, %v", len(p.V4), len(p.V6), p.TotalWeight, tt.v4, tt.v6, tt.weights)
			}
			if p.AlwaysUp != tt.alwaysUp {
				t.Errorf("always up (v4, v6) %v, want %v", p.AlwaysUp, tt.alwaysUp)
			}
			if got, want := len(p.Family(dns.TypeA)), tt.v4; got != want {
				t.Errorf("Family(A) has %d, want %d", got, want)
			}
			if got, want := len(p.Family(dns.TypeAAAA)), tt.v6; got != want {
				t.Errorf("Family(AAAA) has %d, want %d", got, want)
			}
		})
	}
	// The pool name with a TXT record keeps both.
	if n := z.Nodes["sticky.pools.test."]; n.Pool == nil || len(n.Sets[dns.TypeTXT]) != 1 {
		t.Errorf("sticky.pools.test.: pool %v, TXT %v; want both", n.Pool, n.Sets[dns.TypeTXT])
	}
	// The apex pool sits beside the SOA and NS.
	if n := z.Nodes["pools.test."]; n.Pool == nil || len(n.Sets[dns.TypeSOA]) != 1 {
		t.Errorf("apex: pool %v, SOA %v; want both", n.Pool, n.Sets[dns.TypeSOA])
	}
	// Endpoints that share a check and an address share a key.
	w := z.Nodes["weighted.pools.test."].Pool.Endpoints[0]
	if other := z.Checks["web"].key(w.Addr); other != w.CheckKey {
		t.Errorf("CheckKey %q, want %q", w.CheckKey, other)
	}
}

func TestChecks(t *testing.T) {
	z := parseFile(t, "testdata/pools.test.toml")
	tests := []*Check{
		{Name: "web", Type: "http", Port: 80, Path: "/", Expect: []string{"2xx"},
			Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3},
		{Name: "tls", Type: "https", Port: 8443, Path: "/health", Host: "www.pools.test", Expect: []string{"200", "3xx"},
			Body: "ok", Headers: map[string]string{"Authorization": "Bearer x"}, Insecure: true,
			Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3},
		{Name: "tcp", Type: "tcp", Port: 443, Interval: 10 * time.Second, Timeout: 3 * time.Second, Rise: 1, Fall: 5},
		{Name: "dns", Type: "dns", Port: 53, Query: ".", QueryType: "SOA",
			Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3},
		{Name: "dns2", Type: "dns", Port: 53, Query: "example.test.", QueryType: "A",
			Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3},
	}
	if len(z.Checks) != len(tests) {
		t.Errorf("%d checks, want %d", len(z.Checks), len(tests))
	}
	for _, want := range tests {
		if got := z.Checks[want.Name]; !reflect.DeepEqual(got, want) {
			t.Errorf("check %s:\n got %+v\nwant %+v", want.Name, got, want)
		}
	}
}

func TestSerial(t *testing.T) {
	tests := []struct {
		name string
		src  string
		mod  time.Time
		want uint32
		auto bool
	}{
		{"explicit", "ns = [\"ns1\"]\n[soa]\nserial = 2026112501\n", testMod, 2026112501, false},
		{"from mtime", "ns = [\"ns1\"]\n", testMod, 1_700_000_000, true},
		{"zero serial is automatic", "ns = [\"ns1\"]\n[soa]\nserial = 0\n", testMod, 1_700_000_000, true},
		{"no mtime", "ns = [\"ns1\"]\n", time.Time{}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, err := Parse("s.test.toml", []byte(tt.src), tt.mod)
			if err != nil {
				t.Fatal(err)
			}
			if z.Serial != tt.want || z.SOA.Serial != tt.want || z.AutoSerial != tt.auto {
				t.Errorf("serial %d, SOA serial %d, auto %v; want %d, auto %v", z.Serial, z.SOA.Serial, z.AutoSerial, tt.want, tt.auto)
			}
		})
	}
}

func TestFind(t *testing.T) {
	load := func(files ...string) *Snapshot {
		var zs []*Zone
		for _, f := range files {
			zs = append(zs, parseFile(t, filepath.Join("testdata", f)))
		}
		s, errs := NewSnapshot(zs, time.Now())
		if errs != nil {
			t.Fatal(errs)
		}
		return s
	}
	both := load("example.test.toml", "sub.example.test.toml", "other.toml")
	withRoot := load("example.test.toml", "sub.example.test.toml", "root.toml")
	tests := []struct {
		snap  *Snapshot
		qname string
		want  string // origin, "" for nil
	}{
		{both, "example.test.", "example.test."},
		{both, "www.example.test.", "example.test."},
		{both, "a.b.c.d.e.example.test.", "example.test."},
		{both, "sub.example.test.", "sub.example.test."},
		{both, "www.sub.example.test.", "sub.example.test."},
		{both, "x.y.www.sub.example.test.", "sub.example.test."},
		{both, "xsub.example.test.", "example.test."},
		{both, "other.test.", "other.test."},
		{both, "test.", ""},
		{both, "example.org.", ""},
		{both, "elpmaxe.test.", ""},
		{both, ".", ""},
		{withRoot, "example.org.", "."},
		{withRoot, ".", "."},
		{withRoot, "www.sub.example.test.", "sub.example.test."},
		{withRoot, "test.", "."},
		{nil, "example.test.", ""},
		{&Snapshot{}, "example.test.", ""},
	}
	for _, tt := range tests {
		got := ""
		if z := tt.snap.Find(tt.qname); z != nil {
			got = z.Origin
		}
		if got != tt.want {
			t.Errorf("Find(%q) = %q, want %q", tt.qname, got, tt.want)
		}
	}
	if z := both.Zone("Sub.Example.Test"); z == nil || z.Origin != "sub.example.test." {
		t.Errorf("Zone(Sub.Example.Test) = %v, want sub.example.test.", z)
	}
	if z := both.Zone("www.example.test."); z != nil {
		t.Errorf("Zone(www.example.test.) = %s, want nil (not an origin)", z.Origin)
	}
	var origins []string
	for _, z := range withRoot.Zones() {
		origins = append(origins, z.Origin)
	}
	if want := []string{".", "example.test.", "sub.example.test."}; !reflect.DeepEqual(origins, want) {
		t.Errorf("Zones() = %q, want %q", origins, want)
	}
}

// TestParseInPlace covers inputs that are easier to read inline than as files.
func TestParseInPlace(t *testing.T) {
	tests := []struct {
		name, src string
		check     func(*Zone) string // "" when fine
	}{
		{"numeric ttl and duration ttl agree", "ns = [\"ns1\"]\nttl = \"5m\"\n[records.a]\nA = \"192.0.2.1\"\n[records.b]\nA = \"192.0.2.2\"\nttl = 300\n",
			func(z *Zone) string {
				if a, b := z.Nodes["a.t.test."].Sets[dns.TypeA][0].Header().Ttl, z.Nodes["b.t.test."].Sets[dns.TypeA][0].Header().Ttl; a != 300 || b != 300 {
					return "ttl " + itoa(int(a)) + " and " + itoa(int(b)) + ", want 300 and 300"
				}
				return ""
			}},
		{"rname with a dot in the mailbox", "ns = [\"ns1\"]\n[soa]\nrname = \"john.doe@example.test\"\n",
			func(z *Zone) string {
				if z.SOA.Mbox != `john\.doe.example.test.` {
					return "mbox " + z.SOA.Mbox
				}
				return ""
			}},
		{"IPv4-mapped endpoint is IPv4", "ns = [\"ns1\"]\n[pools.p]\naddresses = [\"::ffff:192.0.2.1\"]\n",
			func(z *Zone) string {
				if p := z.Nodes["p.t.test."].Pool; len(p.V4) != 1 || p.V4[0].Addr != netip.MustParseAddr("192.0.2.1") {
					return "want one IPv4 endpoint 192.0.2.1"
				}
				return ""
			}},
		{"BOM and CRLF", "\uFEFFns = [\"ns1\"]\r\n[records.a]\r\nA = \"192.0.2.1\"\r\n",
			func(z *Zone) string {
				if len(z.Nodes["a.t.test."].Sets[dns.TypeA]) != 1 {
					return "want the A record"
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, err := Parse("t.test.toml", []byte(tt.src), testMod)
			if err != nil {
				t.Fatalf("%v\ninput:\n%s", err, tt.src)
			}
			if msg := tt.check(z); msg != "" {
				t.Errorf("%s\ninput:\n%s", msg, tt.src)
			}
		})
	}
}

// AlwaysUp is per family, and set only when no endpoint of it depends on a
// health check or is set down or drained.
func TestPoolAlwaysUp(t *testing.T) {
	src := `ns = ["ns1"]
[records.ns1]
A = "192.0.2.53"
[checks.tcp]
type = "tcp"
port = 443
[pools.forced]
check = "tcp"
[[pools.forced.endpoints]]
address = "192.0.2.1"
state = "up"
[[pools.forced.endpoints]]
address = "192.0.2.2"
state = "up"
[[pools.forced.endpoints]]
address = "2001:db8::1"
[pools.drained]
[[pools.drained.endpoints]]
address = "192.0.2.3"
[[pools.drained.endpoints]]
address = "192.0.2.4"
state = "drain"
[[pools.drained.endpoints]]
address = "2001:db8::3"
state = "up"
`
	z, err := Parse("up.test.toml", []byte(src), testMod)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]bool{"forced.up.test.": {true, false}, "drained.up.test.": {false, true}} {
		if got := z.Nodes[name].Pool.AlwaysUp; got != want {
			t.Errorf("%s: always up (v4, v6) %v, want %v", name, got, want)
		}
	}
}

// Endpoint.Wire is the record as miekg/dns packs it in a compressed reply
// to a question for the pool's name.
func TestEndpointWire(t *testing.T) {
	z := parseFile(t, "testdata/pools.test.toml")
	n := 0
	for _, p := range z.Pools {
		for _, e := range p.Endpoints {
			qtype := dns.TypeA
			if e.Addr.Is6() {
				qtype = dns.TypeAAAA
			}
			m := new(dns.Msg)
			m.SetQuestion(p.Name, qtype)
			m.Answer = []dns.RR{e.RR}
			m.Compress = true
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			rec := b[12+len(p.Name)+1+4:]
			if got := e.Wire[:len(rec)]; !bytes.Equal(got, rec) || len(rec) != map[uint16]int{dns.TypeA: 16, dns.TypeAAAA: 28}[qtype] {
				t.Errorf("%s %s: Wire %x, packed %x", p.Name, e.Addr, got, rec)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no endpoints: the test proves nothing")
	}
}
