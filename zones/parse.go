package zones

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
	"github.com/miekg/dns"
)

// Defaults for keys a zone file may leave out.
const (
	DefaultTTL      = 3600
	DefaultPoolTTL  = 30
	DefaultRefresh  = 3600
	DefaultRetry    = 600
	DefaultExpire   = 1209600
	DefaultMinimum  = 60
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
	maxTTL          = math.MaxInt32 // RFC 2181 §8
)

// Parse decodes and validates one zone file. modTime feeds the automatic
// serial. The error, if any, is ConfigErrors listing every problem found.
func Parse(file string, src []byte, modTime time.Time) (*Zone, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(src), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			at := tomlErrPos(src, pe.Position)
			return nil, ConfigErrors{{File: file, Line: at.line, Col: at.col, Msg: tomlMessage(pe.Message)}}
		}
		return nil, ConfigErrors{{File: file, Msg: err.Error()}}
	}
	p := &parser{file: file, pos: scanPositions(string(src)), z: &Zone{
		File:    file,
		Hash:    sha256.Sum256(src),
		ModTime: modTime,
		Nodes:   map[string]*Node{},
		Checks:  map[string]*Check{},
	}}
	p.zone(raw)
	if _, ok := raw["origin"]; ok {
		p.z.originAt = p.pos.lookup("origin", false)
	}
	if len(p.errs) > 0 {
		p.errs.sort()
		return nil, p.errs
	}
	z := p.z
	z.AutoSerial = z.SOA.Serial == 0
	if z.AutoSerial {
		z.setSerial(autoSerial(modTime, 0))
	} else {
		z.setSerial(z.SOA.Serial)
	}
	return z, nil
}

// tomlErrPos places a TOML syntax error from its byte offset: the
// decoder's own column is one line off when the error starts a line.
// Offsets count from after a byte order mark, which the decoder skips.
func tomlErrPos(src []byte, p toml.Position) pos {
	data := src
	for _, bom := range []string{"\xef\xbb\xbf", "\xff\xfe", "\xfe\xff"} {
		if bytes.HasPrefix(data, []byte(bom)) {
			data = data[len(bom):]
			break
		}
	}
	if p.Start < 0 || p.Start > len(data) || (p.Start == 0 && p.Line > 1) {
		return pos{max(p.Line, 1), max(p.Col, 1)}
	}
	before := data[:p.Start]
	return pos{bytes.Count(before, []byte("\n")) + 1, p.Start - (bytes.LastIndexByte(before, '\n') + 1) + 1}
}

// tomlMessage fits the decoder's message to our style: lowercase, no
// trailing period ("Key 'a' has already been defined." → "key 'a' ...").
func tomlMessage(m string) string {
	m = oneLine(strings.TrimSuffix(strings.TrimSpace(m), "."))
	if len(m) > 1 && m[0] >= 'A' && m[0] <= 'Z' && m[1] >= 'a' && m[1] <= 'z' {
		m = string(m[0]+'a'-'A') + m[1:]
	}
	return m
}

type parser struct {
	file string
	pos  *positions
	errs ConfigErrors
	z    *Zone
	// owners remembers where each owner name was first defined, to report
	// duplicates written two ways ("www" and "www.example.test.").
	owners, poolOwners map[string]string
	buf                []byte // scratch for packing records (see pack)
}

// errAt records a problem with the value at path (a key path with
// numbered array elements, see index). The printed key drops the numbers.
func (p *parser) errAt(path string, format string, args ...any) {
	p.err(path, false, format, args...)
}

// errKey records a problem with the key itself (unknown, duplicate).
func (p *parser) errKey(path string, format string, args ...any) {
	p.err(path, true, format, args...)
}

func (p *parser) err(path string, key bool, format string, args ...any) {
	at := p.pos.lookup(path, key)
	if at.line == 0 {
		at = pos{1, 1} // a missing key, or an origin from the file name: the file as a whole
	}
	p.errs = append(p.errs, &ConfigError{File: p.file, Line: at.line, Col: at.col, Key: printKey(path), Msg: fmt.Sprintf(format, args...)})
}

// printKey drops array indices: "pools.www.endpoints[1].address" →
// "pools.www.endpoints.address". Owner names made of digits, as in reverse
// zones ("records.10.PTR"), are keys and stay.
func printKey(path string) string {
	return oneLine(arrayIndex.ReplaceAllString(path, ""))
}

// oneLine escapes control characters, so that every error is one line.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

var arrayIndex = regexp.MustCompile(`\[[0-9]+\]`)

// table walks a TOML table, calling handlers by key, reporting unknown keys.
func (p *parser) table(path string, t map[string]any, handlers map[string]func(path string, v any)) {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h, ok := handlers[k]
		if !ok {
			hint := suggest(k, handlers)
			if section, name, named := strings.Cut(path, "."); named && (section == "pools" || section == "checks") {
				if h := dottedName(section, name, k, t[k]); h != "" {
					hint = h
				}
			}
			p.errKey(join(path, k), "unknown key%s", hint)
			continue
		}
		h(join(path, k), t[k])
	}
}

// dottedName explains an unknown table under [section.name]: most likely
// [section.a.b] was meant to name "a.b", which TOML reads as nested tables.
func dottedName(section, name, key string, v any) string {
	if _, isTable := v.(map[string]any); !isTable || strings.ContainsAny(name, "[]") {
		return ""
	}
	full := name + "." + key
	return fmt.Sprintf(" (for the name %q, quote it: [%s.%q])", full, section, full)
}

func suggest(k string, handlers map[string]func(string, any)) string {
	best, bestD := "", 3
	for h := range handlers {
		if d := editDistance(strings.ToLower(k), h); d < bestD || (d == bestD && h < best) {
			best, bestD = h, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ---- typed value readers: each reports its own error and returns ok ----

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "table"
	case []map[string]any:
		return "array of tables"
	case time.Time:
		return "datetime"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func (p *parser) str(path string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.errAt(path, "got %s, want a string", tomlType(v))
	}
	return s, ok
}

// strs accepts a string or an array of strings. An array with other
// values in it is reported, and yields nil (so that the indices of the
// strings stay those of the array, for elemPath).
func (p *parser) strs(path string, v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		ok := true
		for i, e := range x {
			s, isStr := e.(string)
			if !isStr {
				p.errAt(index(path, i), "got %s, want a string", tomlType(e))
				ok = false
				continue
			}
			out = append(out, s)
		}
		if !ok {
			return nil, false
		}
		return out, true
	}
	p.errAt(path, "got %s, want a string or an array of strings", tomlType(v))
	return nil, false
}

// elemPath is the path of element i of a value read by strs.
func elemPath(path string, v any, i int) string {
	if _, isArr := v.([]any); isArr {
		return index(path, i)
	}
	return path
}

func (p *parser) integer(path string, v any, lo, hi int64) (int64, bool) {
	n, ok := v.(int64)
	if !ok {
		p.errAt(path, "got %s, want an integer", tomlType(v))
		return 0, false
	}
	if n < lo || n > hi {
		p.errAt(path, "%d is out of range (want %d to %d)", n, lo, hi)
		return 0, false
	}
	return n, true
}

func (p *parser) number(path string, v any, lo, hi float64) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	default:
		p.errAt(path, "got %s, want a number", tomlType(v))
		return 0, false
	}
	if f < lo || f > hi || math.IsNaN(f) {
		p.errAt(path, "%v is out of range (want %v to %v)", f, lo, hi)
		return 0, false
	}
	return f, true
}

func (p *parser) boolean(path string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		p.errAt(path, "got %s, want true or false", tomlType(v))
	}
	return b, ok
}

// ttl accepts seconds as an integer or a duration string ("5m", "1h").
func (p *parser) ttl(path string, v any) (uint32, bool) {
	if s, isStr := v.(string); isStr {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d%time.Second != 0 || d > maxTTL*time.Second {
			p.errAt(path, "invalid TTL %q (want seconds, or a duration like \"5m\")", s)
			return 0, false
		}
		return uint32(d / time.Second), true
	}
	if _, isInt := v.(int64); !isInt {
		p.errAt(path, "got %s, want seconds or a duration like \"5m\"", tomlType(v))
		return 0, false
	}
	n, ok := p.integer(path, v, 0, maxTTL)
	return uint32(n), ok
}

func (p *parser) duration(path string, v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		p.errAt(path, "got %s, want a duration string like \"5s\"", tomlType(v))
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.errAt(path, "invalid duration %q (want e.g. \"5s\", \"500ms\")", s)
		return 0, false
	}
	return d, true
}

// name makes a lowercase FQDN from a name as written: "@" is the origin,
// names without a trailing dot are relative to it.
func (p *parser) name(path, s string) (string, bool) {
	n := s
	switch {
	case s == "@":
		n = p.z.Origin
	case s == "":
		p.errAt(path, "empty name")
		return "", false
	case !strings.HasSuffix(s, "."):
		if p.z.Origin == "." {
			n = s + "."
		} else {
			n = s + "." + p.z.Origin
		}
	}
	if _, ok := dns.IsDomainName(n); !ok || strings.Contains(n, "..") {
		p.errAt(path, "invalid domain name %q", s)
		return "", false
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		p.errAt(path, "invalid domain name %q (spaces and control characters are not allowed)", s)
		return "", false
	}
	return strings.ToLower(n), true
}

// owner is name plus: inside the zone, wildcard only as the first label.
func (p *parser) owner(path, s string, seen map[string]string) (string, bool) {
	n, ok := p.name(path, s)
	if !ok {
		return "", false
	}
	if !dns.IsSubDomain(p.z.Origin, n) {
		p.errKey(path, "name %q is outside the zone %q", s, p.z.Origin)
		return "", false
	}
	if strings.Contains(strings.TrimPrefix(n, "*."), "*") {
		p.errKey(path, "invalid name %q (a wildcard \"*\" may only be the first label)", s)
		return "", false
	}
	if prev, dup := seen[n]; dup {
		p.errKey(path, "duplicate owner %q (already defined as %s on line %d)", s, printKey(prev), p.pos.lookup(prev, true).line)
		return "", false
	}
	seen[n] = path
	return n, true
}

func itoa(n int) string { return strconv.Itoa(n) }
func btoa(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// ---- the zone ----

func (p *parser) zone(raw map[string]any) {
	z := p.z
	base := filepath.Base(p.file)
	origin := strings.TrimSuffix(base, ".toml")
	if v, ok := raw["origin"]; ok {
		if s, ok := p.str("origin", v); ok {
			origin = s
		}
	}
	written := origin
	if !strings.HasSuffix(origin, ".") {
		origin += "."
	}
	if _, ok := dns.IsDomainName(origin); !ok || strings.Contains(origin, "*") || strings.Contains(origin, "..") || (origin != "." && strings.HasPrefix(origin, ".")) {
		p.errAt("origin", "invalid origin %q (want a domain name like \"example.test.\")", written)
		origin = "invalid."
	}
	z.Origin = strings.ToLower(origin)
	z.Labels = dns.CountLabel(z.Origin)
	z.TTL = DefaultTTL
	p.owners, p.poolOwners = map[string]string{}, map[string]string{}

	var nsNames []string
	var soaRaw map[string]any
	var records, pools, checks map[string]any
	p.table("", raw, map[string]func(string, any){
		"origin": func(string, any) {},
		"ttl": func(path string, v any) {
			if t, ok := p.ttl(path, v); ok {
				z.TTL = t
			}
		},
		"ns": func(path string, v any) {
			ss, ok := p.strs(path, v)
			seen := map[string]bool{}
			for i, s := range ss {
				n, ok := p.name(elemPath(path, v, i), s)
				switch {
				case !ok:
				case seen[n]:
					p.errAt(elemPath(path, v, i), "duplicate name server %q", s)
				default:
					seen[n] = true
					nsNames = append(nsNames, n)
				}
			}
			if ok && len(ss) == 0 {
				p.errAt(path, "empty (want at least one name server)")
			}
		},
		"soa":     func(path string, v any) { soaRaw = p.subtable(path, v) },
		"records": func(path string, v any) { records = p.subtable(path, v) },
		"pools":   func(path string, v any) { pools = p.subtable(path, v) },
		"checks":  func(path string, v any) { checks = p.subtable(path, v) },
	})
	if _, ok := raw["ns"]; !ok {
		p.errAt("ns", "missing (want the apex name servers, e.g. ns = [\"ns1\", \"ns2\"])")
	}
	if len(nsNames) == 0 {
		nsNames = []string{"invalid."}
	}
	p.soa(soaRaw, nsNames[0])
	apex := p.node(z.Origin)
	for _, n := range nsNames {
		apex.Sets[dns.TypeNS] = append(apex.Sets[dns.TypeNS], &dns.NS{Hdr: hdr(z.Origin, dns.TypeNS, z.TTL), Ns: n})
	}
	z.NS = apex.Sets[dns.TypeNS]
	apex.Sets[dns.TypeSOA] = []dns.RR{z.SOA}

	for _, name := range p.inFileOrder("checks", checks) {
		p.check(join("checks", name), name, checks[name])
	}
	for _, owner := range p.inFileOrder("records", records) {
		p.records(join("records", owner), owner, records[owner])
	}
	for _, name := range p.inFileOrder("pools", pools) {
		p.pool(join("pools", name), name, pools[name])
	}
	p.finish()
}

// inFileOrder returns the keys of the table at path in the order the file
// has them, so that of two ways to write one owner the later is reported.
func (p *parser) inFileOrder(path string, m map[string]any) []string {
	ks := sortedKeys(m)
	at := make(map[string]pos, len(ks))
	for _, k := range ks {
		at[k] = p.pos.lookup(join(path, k), true)
	}
	sort.SliceStable(ks, func(i, j int) bool {
		a, b := at[ks[i]], at[ks[j]]
		return a.line < b.line || a.line == b.line && a.col < b.col
	})
	return ks
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (p *parser) subtable(path string, v any) map[string]any {
	t, ok := v.(map[string]any)
	if !ok {
		p.errAt(path, "got %s, want a table", tomlType(v))
	}
	return t
}

func hdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

func (p *parser) node(name string) *Node {
	n := p.z.Nodes[name]
	if n == nil {
		n = &Node{Name: name, Sets: map[uint16][]dns.RR{}}
		p.z.Nodes[name] = n
	}
	return n
}

func (p *parser) soa(raw map[string]any, mname string) {
	z := p.z
	soa := &dns.SOA{
		Hdr:     hdr(z.Origin, dns.TypeSOA, z.TTL),
		Ns:      mname,
		Mbox:    "hostmaster." + strings.TrimPrefix(z.Origin, "."),
		Refresh: DefaultRefresh, Retry: DefaultRetry, Expire: DefaultExpire, Minttl: DefaultMinimum,
	}
	if z.Origin == "." {
		soa.Mbox = "hostmaster."
	}
	u32 := func(dst *uint32) func(string, any) {
		return func(path string, v any) {
			if t, ok := p.ttl(path, v); ok {
				*dst = t
			}
		}
	}
	var serial int64
	p.table("soa", raw, map[string]func(string, any){
		"mname": func(path string, v any) {
			if s, ok := p.str(path, v); ok {
				if n, ok := p.name(path, s); ok {
					soa.Ns = n
				}
			}
		},
		"rname": func(path string, v any) {
			s, ok := p.str(path, v)
			if !ok {
				return
			}
			// Accept the mail form people write: hostmaster@example.test
			if user, domain, isMail := strings.Cut(s, "@"); isMail && user != "" {
				s = strings.ReplaceAll(user, ".", `\.`) + "." + dns.Fqdn(domain)
			}
			if n, ok := p.name(path, s); ok {
				soa.Mbox = n
			}
		},
		"serial": func(path string, v any) {
			if n, ok := p.integer(path, v, 0, math.MaxUint32); ok {
				serial = n
			}
		},
		"refresh": u32(&soa.Refresh),
		"retry":   u32(&soa.Retry),
		"expire":  u32(&soa.Expire),
		"minimum": u32(&soa.Minttl),
		"ttl":     u32(&soa.Hdr.Ttl),
	})
	soa.Serial = uint32(serial)
	z.SOA = soa
	z.NegTTL = min(soa.Hdr.Ttl, soa.Minttl)
	neg := *soa
	neg.Hdr.Ttl = z.NegTTL
	z.NegSOA = &neg
}
