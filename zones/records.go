package zones

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/gslb/gslb/iso3166"
)

// records reads [records.OWNER]: type keys (A, MX, ...) and ttl.
func (p *parser) records(path, owner string, v any) {
	t := p.subtable(path, v)
	if t == nil {
		return
	}
	name, ok := p.owner(path, owner, p.owners)
	if !ok {
		return
	}
	ttl := p.z.TTL
	if tv, has := t["ttl"]; has {
		if n, ok := p.ttl(join(path, "ttl"), tv); ok {
			ttl = n
		}
	}
	n := p.node(name)
	typeKeys := map[uint16]string{} // "A" and "a" are one type: keep one key
	for _, key := range sortedKeys(t) {
		if key == "ttl" {
			continue
		}
		kp := join(path, key)
		rrtype, known := dns.StringToType[strings.ToUpper(key)]
		if !known {
			if strings.HasPrefix(strings.ToUpper(key), "TYPE") {
				if num, err := strconv.ParseUint(key[4:], 10, 16); err == nil && num > 0 {
					rrtype, known = uint16(num), true
				}
			}
		}
		if !known {
			hint := dottedName("records", owner, key, t[key])
			if hint == "" {
				hint = suggestType(key)
			}
			if hint == "" {
				hint = " (want a record type like A, AAAA, MX, TXT, or ttl)"
			}
			p.errKey(kp, "unknown key%s", hint)
			continue
		}
		if prev, dup := typeKeys[rrtype]; dup {
			p.errKey(kp, "duplicate record type (already given as %s)", prev)
			continue
		}
		typeKeys[rrtype] = key
		switch rrtype {
		case dns.TypeSOA:
			p.errKey(kp, "SOA is set by the [soa] table, not in records")
			continue
		case dns.TypeNS:
			if name == p.z.Origin {
				p.errKey(kp, "apex NS is set by the top-level ns key")
				continue
			}
		case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeANY, dns.TypeMAILA, dns.TypeMAILB:
			p.errKey(kp, "%s is not a record type that can be stored in a zone", strings.ToUpper(key))
			continue
		}
		vals, ok := p.strs(kp, t[key])
		if !ok {
			continue
		}
		if len(vals) == 0 {
			p.errAt(kp, "empty (want at least one value)")
			continue
		}
		if rrtype == dns.TypeCNAME && len(vals) > 1 {
			p.errAt(kp, "a name has at most one CNAME (got %d)", len(vals))
			continue
		}
		for i, val := range vals {
			rr, err := p.rr(name, ttl, rrtype, val)
			if err != "" {
				p.errAt(elemPath(kp, t[key], i), "%s", err)
				continue
			}
			n.Sets[rrtype] = append(n.Sets[rrtype], rr)
		}
	}
	// Judge by the types written, not those that parsed, so that a typo in
	// the other data does not hide this error.
	if ck, has := typeKeys[dns.TypeCNAME]; has {
		others := len(typeKeys) > 1
		for t := range n.Sets {
			others = others || t != dns.TypeCNAME // the apex has SOA and NS
		}
		if others {
			p.errKey(join(path, ck), "CNAME beside other data at %q (a CNAME must be alone at its name)", owner)
		}
	}
}

// suggestType proposes what an unknown key in [records.OWNER] may have
// meant: "ttl" for "TTL", or a record type one edit away ("MXX" → "MX").
func suggestType(key string) string {
	if strings.EqualFold(key, "ttl") {
		return ` (did you mean "ttl"?)`
	}
	if len(key) < 3 {
		return ""
	}
	u := strings.ToUpper(key)
	best := ""
	for name := range dns.StringToType {
		if editDistance(u, name) == 1 && (best == "" || name < best) {
			best = name
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// rr builds one record from presentation-format data. TXT is plain text.
func (p *parser) rr(owner string, ttl uint32, rrtype uint16, val string) (dns.RR, string) {
	switch rrtype {
	case dns.TypeTXT, dns.TypeSPF:
		if len(val) == 0 {
			return nil, "empty TXT value"
		}
		// Split the text into 255-byte character-strings (RFC 1035
		// §3.3.14). miekg/dns keeps TXT strings in presentation form and
		// decodes backslash escapes when packing, so escape backslashes
		// to send the text exactly as written.
		var chunks []string
		size := len(val)
		for len(val) > 0 {
			c := val[:min(len(val), 255)]
			val = val[len(c):]
			chunks = append(chunks, strings.ReplaceAll(c, `\`, `\\`))
		}
		var rr dns.RR = &dns.TXT{Hdr: hdr(owner, rrtype, ttl), Txt: chunks}
		if rrtype == dns.TypeSPF {
			rr = &dns.SPF{Hdr: hdr(owner, rrtype, ttl), Txt: chunks}
		}
		if p.pack(rr) != nil {
			return nil, fmt.Sprintf("%s value too long (%d bytes; a record holds at most about 64000)", dns.Type(rrtype).String(), size)
		}
		return rr, ""
	case dns.TypeA, dns.TypeAAAA:
		a, err := netip.ParseAddr(strings.TrimSpace(val))
		if err != nil || a.Zone() != "" {
			return nil, fmt.Sprintf("invalid address %q (want IPv%s)", val, map[bool]string{true: "4", false: "6"}[rrtype == dns.TypeA])
		}
		if rrtype == dns.TypeA && !a.Is4() {
			return nil, fmt.Sprintf("%q is not an IPv4 address (put IPv6 addresses under AAAA)", val)
		}
		if rrtype == dns.TypeAAAA && (!a.Is6() || a.Is4In6()) {
			return nil, fmt.Sprintf("%q is not an IPv6 address (put IPv4 addresses under A)", val)
		}
		return addrRR(owner, ttl, a), ""
	}
	if strings.ContainsAny(val, "\n\r") {
		return nil, fmt.Sprintf("invalid %s data %q: line break (write one record per string)", dns.Type(rrtype).String(), val)
	}
	if unquotedSemicolon(val) {
		return nil, fmt.Sprintf("invalid %s data %q: unquoted \";\" would start a comment (quote it, or leave comments to TOML)", dns.Type(rrtype).String(), val)
	}
	zp := dns.NewZoneParser(strings.NewReader(fmt.Sprintf("%s %d IN %s %s\n", owner, ttl, dns.Type(rrtype).String(), val)), p.z.Origin, "")
	zp.SetIncludeAllowed(false)
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil || !ok || rr == nil {
		msg := "could not parse"
		if err != nil {
			msg = cleanParseErr(err.Error())
		}
		return nil, fmt.Sprintf("invalid %s data %q: %s", dns.Type(rrtype).String(), val, msg)
	}
	if _, more := zp.Next(); more {
		return nil, fmt.Sprintf("invalid %s data %q: more than one record", dns.Type(rrtype).String(), val)
	}
	if rr.Header().Rrtype != rrtype {
		return nil, fmt.Sprintf("invalid %s data %q", dns.Type(rrtype).String(), val)
	}
	rr.Header().Name = owner
	if err := p.pack(rr); err != nil {
		msg := strings.TrimPrefix(err.Error(), "dns: ")
		switch {
		case errors.Is(err, dns.ErrBuf):
			msg = "too long for a DNS message"
		case strings.HasPrefix(msg, "encoding/hex: "):
			msg = "bad hexadecimal"
		case strings.HasPrefix(msg, "illegal base64"):
			msg = "bad base64"
		}
		return nil, fmt.Sprintf("invalid %s data %q: %s", dns.Type(rrtype).String(), val, msg)
	}
	return rr, ""
}

// pack packs rr into wire format, so that a record that loads can always
// be served.
func (p *parser) pack(rr dns.RR) error {
	if p.buf == nil {
		p.buf = make([]byte, dns.MaxMsgSize)
	}
	_, err := dns.PackRR(rr, p.buf, 0, nil, false)
	return err
}

// unquotedSemicolon reports whether s has a ";" outside double quotes: in
// presentation format it starts a comment and would silently cut the data.
func unquotedSemicolon(s string) bool {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				return true
			}
		}
	}
	return false
}

var parseErrTail = regexp.MustCompile(`\s*at line: \d+:\d+$`)

// cleanParseErr turns `dns: bad MX Mx: "x" at line: 1:24` into `bad MX Mx`:
// the value is already quoted in our message and the position is ours.
func cleanParseErr(s string) string {
	s = strings.TrimPrefix(s, "dns: ")
	s = parseErrTail.ReplaceAllString(s, "")
	if i := strings.Index(s, `: "`); i > 0 {
		s = s[:i]
	}
	return s
}

func addrRR(owner string, ttl uint32, a netip.Addr) dns.RR {
	if a.Is4() {
		return &dns.A{Hdr: hdr(owner, dns.TypeA, ttl), A: a.AsSlice()}
	}
	return &dns.AAAA{Hdr: hdr(owner, dns.TypeAAAA, ttl), AAAA: a.AsSlice()}
}

// wireAddr encodes the A or AAAA record of a, owned by a pointer to the
// question name (see Endpoint.Wire).
func wireAddr(ttl uint32, a netip.Addr) (w [28]byte) {
	typ, n := dns.TypeA, 4
	if a.Is6() {
		typ, n = dns.TypeAAAA, 16
	}
	b := binary.BigEndian.AppendUint16(append(w[:0], 0xC0, 12), typ)
	b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	_ = append(b, a.AsSlice()...)
	return w
}

// ---- pools ----

var policyByName = func() map[string]Policy {
	m := map[string]Policy{}
	for i, n := range policyNames {
		m[n] = Policy(i)
	}
	return m
}()

var stateByName = map[string]State{"auto": Auto, "up": Up, "down": Down, "drain": Drain}

func (p *parser) pool(path, key string, v any) {
	t := p.subtable(path, v)
	if t == nil {
		return
	}
	name, ok := p.owner(path, key, p.poolOwners)
	if !ok {
		return
	}
	if strings.HasPrefix(name, "*.") {
		p.errKey(path, "a pool name cannot be a wildcard")
		return
	}
	pl := &Pool{Name: name, Key: key, Zone: p.z.Origin, TTL: DefaultPoolTTL, Answers: -1, Hash: nameHash(name)}
	var checkName, checkPath string
	var eps []map[string]any
	var epsPath string
	var addrs []string
	var addrsRaw any
	var addrsPath string
	addrsOK := true
	p.table(path, t, map[string]func(string, any){
		"policy": func(kp string, v any) {
			s, ok := p.str(kp, v)
			if !ok {
				return
			}
			pol, known := policyByName[s]
			if !known {
				p.errAt(kp, "unknown policy %q (want %s)", s, strings.Join(policyNames, ", "))
				return
			}
			pl.Policy = pol
		},
		"answers": func(kp string, v any) {
			if n, ok := p.integer(kp, v, 1, 64); ok {
				pl.Answers = int(n)
			}
		},
		"ttl": func(kp string, v any) {
			if n, ok := p.ttl(kp, v); ok {
				pl.TTL = n
			}
		},
		"check": func(kp string, v any) {
			if s, ok := p.str(kp, v); ok {
				checkName, checkPath = s, kp
			}
		},
		"when_all_down": func(kp string, v any) {
			s, ok := p.str(kp, v)
			if !ok {
				return
			}
			switch s {
			case "all":
			case "none":
				pl.FailClosed = true
			default:
				p.errAt(kp, "unknown value %q (want \"all\" or \"none\")", s)
			}
		},
		"endpoints": func(kp string, v any) {
			epsPath = kp
			switch x := v.(type) {
			case []map[string]any:
				eps = x
			case []any: // endpoints = [{ address = "..." }, ...]
				// Keep the positions of the tables: check them as if all were.
				eps = make([]map[string]any, len(x))
				for i, e := range x {
					if m, ok := e.(map[string]any); ok {
						eps[i] = m
					} else {
						p.errAt(index(kp, i), "got %s, want a table like { address = \"192.0.2.1\" }", tomlType(e))
					}
				}
			default:
				p.errAt(kp, "got %s, want [[%s]] tables", tomlType(v), printKey(kp))
			}
		},
		"addresses": func(kp string, v any) {
			addrs, addrsOK = p.strs(kp, v)
			addrsRaw, addrsPath = v, kp
		},
	})
	if pl.Answers < 0 {
		pl.Answers = 1
		if pl.Policy == RoundRobin {
			pl.Answers = 0
		}
	}
	if checkName != "" {
		c, found := p.z.Checks[checkName]
		if !found {
			have := make([]string, 0, len(p.z.Checks))
			for n := range p.z.Checks {
				have = append(have, strconv.Quote(n))
			}
			sort.Strings(have)
			if len(have) == 0 {
				p.errAt(checkPath, "no check named %q (this zone defines no [checks])", checkName)
			} else {
				p.errAt(checkPath, "no check named %q (have %s)", checkName, strings.Join(have, ", "))
			}
		}
		pl.Check = c
	}
	if eps != nil && addrs != nil {
		p.errKey(addrsPath, "use either addresses or [[%s.endpoints]], not both", printKey(path))
	}
	var epPaths []string // where each of pl.Endpoints is written
	for i, a := range addrs {
		ap := elemPath(addrsPath, addrsRaw, i)
		if addr, ok := p.addr(ap, a); ok && p.addEndpoint(pl, ap, &Endpoint{Addr: addr, Weight: 1}) {
			epPaths = append(epPaths, ap)
		}
	}
	for i, e := range eps {
		if e == nil {
			continue // not a table, reported
		}
		ep := index(epsPath, i)
		if x := p.endpoint(ep, e, pl.Policy); x != nil && p.addEndpoint(pl, join(ep, "address"), x) {
			epPaths = append(epPaths, ep)
		}
	}
	if len(pl.Endpoints) == 0 && len(eps) == 0 && len(addrs) == 0 && addrsOK && !hasTable(t) {
		// (A nested table was reported as a dotted name already.)
		p.errKey(path, "pool has no endpoints (want addresses = [...] or [[%s.endpoints]])", printKey(path))
	}
	p.validatePool(path, pl, epPaths, addrsPath)
	n := p.node(name)
	n.Pool = pl
	p.z.Pools = append(p.z.Pools, pl)
}

func (p *parser) addr(path, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p.errAt(path, "invalid address %q (want IPv4 or IPv6)", s)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func hasTable(t map[string]any) bool {
	for _, v := range t {
		if _, ok := v.(map[string]any); ok {
			return true
		}
	}
	return false
}

// addEndpoint adds e to pl unless pl has its address already.
func (p *parser) addEndpoint(pl *Pool, path string, e *Endpoint) bool {
	for _, o := range pl.Endpoints {
		if o.Addr == e.Addr {
			p.errAt(path, "duplicate endpoint %s in pool", e.Addr)
			return false
		}
	}
	e.Index = len(pl.Endpoints)
	e.RR = addrRR(pl.Name, pl.TTL, e.Addr)
	e.Wire = wireAddr(pl.TTL, e.Addr)
	if pl.Check != nil {
		e.CheckKey = pl.Check.key(e.Addr)
	}
	pl.Endpoints = append(pl.Endpoints, e)
	fam, first := 0, len(pl.V4) == 0
	if e.Addr.Is4() {
		pl.V4 = append(pl.V4, e)
	} else {
		fam, first = 1, len(pl.V6) == 0
		pl.V6 = append(pl.V6, e)
	}
	up := e.State == Up || e.State == Auto && e.CheckKey == ""
	pl.AlwaysUp[fam] = up && (first || pl.AlwaysUp[fam])
	if e.State != Down && e.State != Drain {
		pl.TotalWeight[fam] += uint64(e.Weight)
	}
	return true
}

var (
	countryRe     = regexp.MustCompile(`^[A-Z]{2}$`)
	subdivisionRe = regexp.MustCompile(`^[A-Z]{2}-[A-Z0-9]{1,3}$`)
	continents    = map[string]bool{"AF": true, "AN": true, "AS": true, "EU": true, "NA": true, "OC": true, "SA": true}
)

func (p *parser) endpoint(path string, t map[string]any, pol Policy) *Endpoint {
	e := &Endpoint{Weight: 1}
	var lat, lon *float64
	okAddr := false
	p.table(path, t, map[string]func(string, any){
		"address": func(kp string, v any) {
			if s, ok := p.str(kp, v); ok {
				e.Addr, okAddr = p.addr(kp, s)
			}
		},
		"weight": func(kp string, v any) {
			if n, ok := p.integer(kp, v, 0, 1_000_000); ok {
				e.Weight = uint32(n)
			}
		},
		"priority": func(kp string, v any) {
			if n, ok := p.integer(kp, v, 0, 1_000_000); ok {
				e.Priority = int(n)
			}
		},
		"countries": func(kp string, v any) {
			ss, _ := p.strs(kp, v)
			for i, s := range ss {
				u := strings.ToUpper(s)
				if !countryRe.MatchString(u) && !subdivisionRe.MatchString(u) {
					p.errAt(elemPath(kp, v, i), "invalid country %q (want ISO 3166-1 alpha-2 like \"GB\", or a subdivision like \"US-CA\")", s)
					continue
				}
				if !validCountry(u[:2]) {
					hint := "want ISO 3166-1 alpha-2 like \"GB\""
					if u[:2] == "UK" {
						hint = "the United Kingdom is \"GB\" in ISO 3166-1"
					}
					p.errAt(elemPath(kp, v, i), "unknown country code %q (%s)", s, hint)
					continue
				}
				e.Countries = append(e.Countries, u)
			}
		},
		"continents": func(kp string, v any) {
			ss, _ := p.strs(kp, v)
			for i, s := range ss {
				u := strings.ToUpper(s)
				if !continents[u] {
					p.errAt(elemPath(kp, v, i), "unknown continent %q (want AF, AN, AS, EU, NA, OC or SA)", s)
					continue
				}
				e.Continents = append(e.Continents, u)
			}
		},
		"networks": func(kp string, v any) {
			ss, _ := p.strs(kp, v)
			for i, s := range ss {
				pfx, err := netip.ParsePrefix(s)
				if err != nil {
					p.errAt(elemPath(kp, v, i), "invalid network %q (want CIDR like \"203.0.113.0/24\")", s)
					continue
				}
				if pfx.Masked() != pfx {
					p.errAt(elemPath(kp, v, i), "network %q has host bits set (did you mean %q?)", s, pfx.Masked().String())
					continue
				}
				e.Networks = append(e.Networks, pfx)
			}
		},
		"lat": func(kp string, v any) {
			if f, ok := p.number(kp, v, -90, 90); ok {
				lat = &f
			}
		},
		"lon": func(kp string, v any) {
			if f, ok := p.number(kp, v, -180, 180); ok {
				lon = &f
			}
		},
		"state": func(kp string, v any) {
			s, ok := p.str(kp, v)
			if !ok {
				return
			}
			st, known := stateByName[s]
			if !known {
				p.errAt(kp, "unknown state %q (want auto, up, down or drain)", s)
				return
			}
			e.State = st
		},
	})
	if _, has := t["address"]; !has {
		p.errKey(path, "endpoint has no address")
		return nil
	}
	if (lat == nil) != (lon == nil) {
		if _, has := t["lat"]; has {
			p.errKey(join(path, "lat"), "lat without lon (want both, or neither)")
		} else {
			p.errKey(join(path, "lon"), "lon without lat (want both, or neither)")
		}
	} else if lat != nil {
		e.Lat, e.Lon, e.HasLoc = *lat, *lon, true
	}
	if !okAddr {
		return nil
	}
	return e
}

// validatePool checks what needs the whole pool. epPaths[i] is where
// pl.Endpoints[i] is written: an [[endpoints]] table or an addresses element.
func (p *parser) validatePool(path string, pl *Pool, epPaths []string, addrsPath string) {
	if pl.Policy == Nearest {
		short := false
		for i, e := range pl.Endpoints {
			switch {
			case e.HasLoc:
			case addrsPath != "" && strings.HasPrefix(epPaths[i], addrsPath):
				short = true
			default:
				p.errKey(epPaths[i], "policy \"nearest\" needs lat and lon on every endpoint (%s has none)", e.Addr)
			}
		}
		if short {
			p.errKey(addrsPath, "policy \"nearest\" needs lat and lon on every endpoint (want [[%s.endpoints]] tables, not addresses)", printKey(path))
		}
	}
	if pl.Policy == Weighted || pl.Policy == Sticky {
		for fam, eps := range [][]*Endpoint{pl.V4, pl.V6} {
			if len(eps) > 0 && allZero(eps) {
				p.errKey(join(path, "policy"), "policy %q with every IPv%s endpoint at weight 0 (want at least one weight above 0)",
					pl.Policy, map[int]string{0: "4", 1: "6"}[fam])
			}
		}
	}
}

func allZero(eps []*Endpoint) bool {
	for _, e := range eps {
		if e.Weight != 0 {
			return false
		}
	}
	return true
}

// ---- checks ----

var expectRe = regexp.MustCompile(`^([1-5]xx|[1-5][0-9][0-9])$`)

func (p *parser) check(path, name string, v any) {
	t := p.subtable(path, v)
	if t == nil {
		return
	}
	c := &Check{Name: name, Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: DefaultRise, Fall: DefaultFall}
	var portSet bool
	p.table(path, t, map[string]func(string, any){
		"type": func(kp string, v any) {
			s, ok := p.str(kp, v)
			if !ok {
				return
			}
			switch s {
			case "http", "https", "tcp", "dns":
				c.Type = s
			default:
				p.errAt(kp, "unknown check type %q (want http, https, tcp or dns)", s)
			}
		},
		"port": func(kp string, v any) {
			if n, ok := p.integer(kp, v, 1, 65535); ok {
				c.Port, portSet = uint16(n), true
			}
		},
		"path": func(kp string, v any) {
			if s, ok := p.str(kp, v); ok {
				if !strings.HasPrefix(s, "/") {
					p.errAt(kp, "invalid path %q (want it to start with \"/\")", s)
				}
				c.Path = s
			}
		},
		"host": func(kp string, v any) {
			if s, ok := p.str(kp, v); ok {
				c.Host = s
			}
		},
		"expect": func(kp string, v any) {
			ss, _ := p.strs(kp, v)
			for i, s := range ss {
				if !expectRe.MatchString(s) {
					p.errAt(elemPath(kp, v, i), "invalid status %q (want a code like \"200\" or a class like \"2xx\")", s)
					continue
				}
				c.Expect = append(c.Expect, s)
			}
		},
		"body": func(kp string, v any) {
			if s, ok := p.str(kp, v); ok {
				c.Body = s
			}
		},
		"headers": func(kp string, v any) {
			ht := p.subtable(kp, v)
			c.Headers = map[string]string{}
			for _, k := range sortedKeys(ht) {
				if s, ok := p.str(join(kp, k), ht[k]); ok {
					c.Headers[k] = s
				}
			}
		},
		"insecure": func(kp string, v any) {
			if b, ok := p.boolean(kp, v); ok {
				c.Insecure = b
			}
		},
		"query": func(kp string, v any) {
			if s, ok := p.str(kp, v); ok {
				if _, ok := dns.IsDomainName(s); !ok {
					p.errAt(kp, "invalid domain name %q", s)
				}
				c.Query = dns.Fqdn(s)
			}
		},
		"query_type": func(kp string, v any) {
			if s, ok := p.str(kp, v); ok {
				if _, known := dns.StringToType[strings.ToUpper(s)]; !known {
					p.errAt(kp, "unknown record type %q", s)
				}
				c.QueryType = strings.ToUpper(s)
			}
		},
		"interval": func(kp string, v any) {
			if d, ok := p.duration(kp, v); ok {
				if d < time.Second {
					p.errAt(kp, "interval %s is too short (want at least 1s)", d)
				}
				c.Interval = d
			}
		},
		"timeout": func(kp string, v any) {
			if d, ok := p.duration(kp, v); ok {
				c.Timeout = d
			}
		},
		"rise": func(kp string, v any) {
			if n, ok := p.integer(kp, v, 1, 100); ok {
				c.Rise = int(n)
			}
		},
		"fall": func(kp string, v any) {
			if n, ok := p.integer(kp, v, 1, 100); ok {
				c.Fall = int(n)
			}
		},
	})
	if _, has := t["type"]; !has {
		p.errKey(path, "check has no type (want http, https, tcp or dns)")
	}
	if _, has := t["timeout"]; !has && c.Interval >= time.Second {
		// The same default as the health package: 2s, but never more
		// than half the interval, so `interval = "1s"` alone is valid.
		c.Timeout = min(DefaultTimeout, c.Interval/2)
	}
	if c.Timeout >= c.Interval && c.Interval >= time.Second {
		at := join(path, "timeout")
		if _, has := t["timeout"]; !has {
			at = join(path, "interval")
		}
		p.errAt(at, "timeout %s must be shorter than interval %s", c.Timeout, c.Interval)
	}
	if !portSet {
		switch c.Type {
		case "http":
			c.Port = 80
		case "https":
			c.Port = 443
		case "dns":
			c.Port = 53
		case "tcp":
			p.errKey(path, "a tcp check needs a port")
		}
	}
	if c.Type == "http" || c.Type == "https" {
		if c.Path == "" {
			c.Path = "/"
		}
		if len(c.Expect) == 0 {
			c.Expect = []string{"2xx"}
		}
	}
	if c.Type == "dns" {
		if c.Query == "" {
			c.Query = "."
		}
		if c.QueryType == "" {
			c.QueryType = "SOA"
		}
	}
	p.z.Checks[name] = c
}

// ---- whole-zone checks ----

func (p *parser) finish() {
	z := p.z
	// Delegation points: NS below the apex.
	for name, n := range z.Nodes {
		if name != z.Origin && len(n.Sets[dns.TypeNS]) > 0 {
			n.Cut = true
		}
	}
	names := make([]string, 0, len(z.Nodes))
	for name := range z.Nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := z.Nodes[name]
		if n.Pool != nil {
			key := join("pools", n.Pool.Key)
			if len(n.Sets[dns.TypeA]) > 0 || len(n.Sets[dns.TypeAAAA]) > 0 {
				p.errKey(key, "%q is a pool and also has static A/AAAA records (use one or the other)", name)
			}
			if len(n.Sets[dns.TypeCNAME]) > 0 {
				p.errKey(key, "%q is a pool and also has a CNAME (a CNAME must be alone at its name)", name)
			}
			if n.Cut {
				p.errKey(key, "%q is a pool and also a delegation (NS)", name)
			}
		}
		if path, ok := p.owners[name]; ok && n.Cut {
			var types []uint16
			for t := range n.Sets {
				switch t {
				case dns.TypeNS, dns.TypeDS, dns.TypeA, dns.TypeAAAA, dns.TypeCNAME: // CNAME: reported already
				default:
					types = append(types, t)
				}
			}
			slices.Sort(types)
			for _, t := range types {
				p.errKey(join(path, dns.Type(t).String()), "%s at the delegation %q (only NS, DS and glue A/AAAA belong there; the delegated servers answer the rest)", dns.Type(t).String(), name)
			}
		}
		// Below a delegation only glue may be: walk up to the apex (a map
		// lookup per label, not a comparison per delegation).
		cut := ""
		for off, end := dns.NextLabel(name, 0); !end && len(name)-off > len(z.Origin); off, end = dns.NextLabel(name, off) {
			if a := z.Nodes[name[off:]]; a != nil && a.Cut {
				cut = a.Name // the topmost one wins
			}
		}
		if cut != "" {
			bad := n.Pool != nil
			for t := range n.Sets {
				if t != dns.TypeA && t != dns.TypeAAAA {
					bad = true
				}
			}
			if bad {
				p.errKey(p.nodeKey(n), "%q is below the delegation %q (only glue A/AAAA may be there)", name, cut)
			}
		}
	}
	// Empty non-terminals, so that names between the apex and an owner
	// answer NODATA rather than NXDOMAIN (RFC 4592 §2.2.2).
	for _, name := range names {
		for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
			parent := name[off:]
			if len(parent) < len(z.Origin) {
				break
			}
			if _, ok := z.Nodes[parent]; !ok {
				z.Nodes[parent] = &Node{Name: parent, Sets: map[uint16][]dns.RR{}}
			}
			if parent == z.Origin {
				break
			}
		}
	}
	// At or below a delegation point (below the apex): a referral.
	for name, n := range z.Nodes {
		for off, end := 0, false; !end && len(name)-off > len(z.Origin); off, end = dns.NextLabel(name, off) {
			if a := z.Nodes[name[off:]]; a != nil && a.Cut {
				n.Referral = true
				break
			}
		}
	}
	sort.Slice(z.Pools, func(i, j int) bool { return z.Pools[i].Name < z.Pools[j].Name })
}

func (p *parser) nodeKey(n *Node) string {
	if k, ok := p.owners[n.Name]; ok {
		return k
	}
	if k, ok := p.poolOwners[n.Name]; ok {
		return k
	}
	return "records"
}

func validCountry(cc string) bool { return iso3166.ValidCountry(cc) }

// nameHash is FNV-1a over name (see Pool.Hash).
func nameHash(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h
}
