package health

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Check types.
const (
	TypeHTTP  = "http"
	TypeHTTPS = "https"
	TypeTCP   = "tcp"
	TypeDNS   = "dns"
)

// Defaults and limits applied by [Spec.WithDefaults] and [ValidateSpec].
const (
	DefaultInterval  = 5 * time.Second
	DefaultTimeout   = 2 * time.Second
	DefaultRise      = 2
	DefaultFall      = 3
	DefaultPath      = "/"
	DefaultExpect    = "2xx"
	DefaultQuery     = "."
	DefaultQueryType = "SOA"
	MinInterval      = time.Second

	// MaxBody is how much of an HTTP response body is read when Body is set.
	MaxBody = 64 << 10
)

// Spec says how to probe one target. Durations are already parsed by the
// caller. A zero field means "use the default"; [Spec.WithDefaults] shows
// the effective values.
type Spec struct {
	Type      string            // "http" | "https" | "tcp" | "dns"
	Port      uint16            // http 80, https 443, dns 53; required for tcp
	Path      string            // http(s): request path and query, default "/"
	Host      string            // http(s): Host header and TLS SNI; default: the address
	Expect    []string          // http(s): status codes "200" or classes "2xx"; default ["2xx"]
	Body      string            // http(s): substring the body must contain (first 64 KiB read)
	Headers   map[string]string // http(s): extra request headers
	Insecure  bool              // https: skip certificate verification
	Query     string            // dns: name to ask, default "."
	QueryType string            // dns: RR type to ask, default "SOA"
	Interval  time.Duration     // default 5s, at least 1s
	Timeout   time.Duration     // default 2s (half the interval when that is shorter); below Interval
	Rise      int               // successes in a row to go up, default 2
	Fall      int               // failures in a row to go down, default 3
}

// WithDefaults returns s with every unset field filled with its default, so
// callers can show the effective values. It does not validate; fields
// that do not apply to the type stay as they are.
func (s Spec) WithDefaults() Spec {
	s.Type = strings.ToLower(s.Type)
	if s.Port == 0 {
		switch s.Type {
		case TypeHTTP:
			s.Port = 80
		case TypeHTTPS:
			s.Port = 443
		case TypeDNS:
			s.Port = 53
		}
	}
	switch s.Type {
	case TypeHTTP, TypeHTTPS:
		if s.Path == "" {
			s.Path = DefaultPath
		}
		if len(s.Expect) == 0 {
			s.Expect = []string{DefaultExpect}
		}
	case TypeDNS:
		if s.Query == "" {
			s.Query = DefaultQuery
		}
		if s.QueryType == "" {
			s.QueryType = DefaultQueryType
		}
		s.QueryType = strings.ToUpper(s.QueryType)
	}
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout == 0 {
		s.Timeout = min(DefaultTimeout, s.Interval/2)
	}
	if s.Rise == 0 {
		s.Rise = DefaultRise
	}
	if s.Fall == 0 {
		s.Fall = DefaultFall
	}
	return s
}

// ValidateSpec reports every problem with s (after defaults are applied),
// joined with errors.Join, or nil. Each message starts with the key it is
// about, as an operator writes it in a zone file ("timeout: ..."). Fields
// that the type does not use (Path on a tcp check) are ignored, not
// refused: the probe never reads them.
func ValidateSpec(s Spec) error { return validateSpec(s, MinInterval) }

// validateSpec is ValidateSpec with a settable minimum interval, which
// tests lower to run real probes quickly.
func validateSpec(s Spec, minInterval time.Duration) error {
	s = s.WithDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	web := s.Type == TypeHTTP || s.Type == TypeHTTPS
	switch s.Type {
	case TypeHTTP, TypeHTTPS, TypeTCP, TypeDNS:
	case "":
		bad("type", "missing (want http, https, tcp or dns)")
	default:
		bad("type", "unknown check type %q (want http, https, tcp or dns)", s.Type)
	}
	if s.Type == TypeTCP && s.Port == 0 {
		bad("port", "required for tcp checks")
	}

	if web {
		if !strings.HasPrefix(s.Path, "/") || strings.ContainsAny(s.Path, " \t\r\n#") {
			bad("path", "invalid path %q (want an absolute path like \"/healthz\")", s.Path)
		}
		if s.Host != "" && (strings.ContainsAny(s.Host, " \t\r\n/@?#") || strings.HasPrefix(s.Host, ":")) {
			bad("host", "invalid host %q (want a host name, optionally with :port)", s.Host)
		}
		for _, e := range s.Expect {
			if !validExpect(e) {
				bad("expect", "invalid status %q (want a code like \"200\" or a class like \"2xx\")", e)
			}
		}
		if len(s.Body) > MaxBody {
			bad("body", "%d bytes is longer than the %d bytes read from a response", len(s.Body), MaxBody)
		}
		for _, name := range slices.Sorted(maps.Keys(s.Headers)) {
			switch {
			case !validHeaderName(name):
				bad("headers", "invalid header name %q", name)
			case strings.EqualFold(name, "Host"):
				bad("headers", "set the Host header with the host key")
			case strings.ContainsAny(s.Headers[name], "\r\n\x00"):
				bad("headers", "value of %q contains a line break or NUL", name)
			}
		}
	}
	if s.Type == TypeDNS {
		if _, ok := dns.IsDomainName(s.Query); !ok {
			bad("query", "invalid domain name %q", s.Query)
		}
		if _, ok := dns.StringToType[s.QueryType]; !ok {
			bad("query_type", "unknown RR type %q (want a type like \"SOA\" or \"A\")", s.QueryType)
		}
	}

	if s.Interval < minInterval {
		bad("interval", "%s is below the minimum of %s", s.Interval, minInterval)
	}
	if s.Timeout <= 0 {
		bad("timeout", "%s must be positive", s.Timeout)
	} else if s.Timeout >= s.Interval {
		bad("timeout", "%s must be shorter than the interval (%s)", s.Timeout, s.Interval)
	}
	if s.Rise < 1 {
		bad("rise", "%d must be at least 1", s.Rise)
	}
	if s.Fall < 1 {
		bad("fall", "%d must be at least 1", s.Fall)
	}
	return errors.Join(errs...)
}

// validExpect accepts "100".."599" and "1xx".."5xx".
func validExpect(e string) bool {
	if len(e) != 3 || e[0] < '1' || e[0] > '5' {
		return false
	}
	rest := strings.ToLower(e[1:])
	if rest == "xx" {
		return true
	}
	return rest[0] >= '0' && rest[0] <= '9' && rest[1] >= '0' && rest[1] <= '9'
}

// expectMatch reports whether status code matches one of the expect entries
// (validated beforehand).
func expectMatch(expect []string, code int) bool {
	c := strconv.Itoa(code)
	for _, e := range expect {
		if len(e) != 3 || len(c) != 3 {
			continue
		}
		if strings.EqualFold(e[1:], "xx") {
			if e[0] == c[0] {
				return true
			}
		} else if e == c {
			return true
		}
	}
	return false
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// KeyOf returns a stable key for probing addr with spec: the address plus
// every effective probe parameter. Equal keys mean an identical probe, so
// callers that use KeyOf share one prober between pools and zones that
// check the same endpoint the same way, and keep its state across reloads
// that leave the check unchanged. Any change to the check gives a new key.
func KeyOf(addr netip.Addr, spec Spec) string {
	s := spec.WithDefaults()
	var b strings.Builder
	b.WriteString(s.Type)
	b.WriteByte(' ')
	b.WriteString(netip.AddrPortFrom(addr, s.Port).String())
	field := func(name, v string) {
		if v != "" {
			b.WriteByte(' ')
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(strconv.Quote(v))
		}
	}
	field("path", s.Path)
	field("host", s.Host)
	if len(s.Expect) > 0 {
		field("expect", strings.Join(s.Expect, ","))
	}
	field("body", s.Body)
	for _, name := range slices.Sorted(maps.Keys(s.Headers)) {
		field("header."+name, s.Headers[name])
	}
	if s.Insecure {
		field("insecure", "true")
	}
	field("query", s.Query)
	field("qtype", s.QueryType)
	fmt.Fprintf(&b, " interval=%s timeout=%s rise=%d fall=%d", s.Interval, s.Timeout, s.Rise, s.Fall)
	return b.String()
}

// DefaultKey returns KeyOf(t.Addr, t.Spec), for callers that have no
// better identity for a target.
func (t Target) DefaultKey() string { return KeyOf(t.Addr, t.Spec) }
