package health

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Spec
		want Spec
	}{
		{"http", Spec{Type: "http"}, Spec{Type: "http", Port: 80, Path: "/", Expect: []string{"2xx"},
			Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}},
		{"https keeps what is set", Spec{Type: "HTTPS", Path: "/hz", Expect: []string{"200"}, Rise: 1},
			Spec{Type: "https", Port: 443, Path: "/hz", Expect: []string{"200"},
				Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 3}},
		{"tcp has no default port", Spec{Type: "tcp"}, Spec{Type: "tcp",
			Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}},
		{"dns", Spec{Type: "dns", QueryType: "a"}, Spec{Type: "dns", Port: 53, Query: ".", QueryType: "A",
			Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}},
		{"short interval halves the timeout", Spec{Type: "tcp", Port: 1, Interval: time.Second},
			Spec{Type: "tcp", Port: 1, Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.WithDefaults(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%+v.WithDefaults():\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidateSpec(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string // substrings of the error, none: valid
	}{
		{"http defaults", Spec{Type: "http"}, nil},
		{"https full", Spec{Type: "https", Port: 8443, Path: "/healthz?full=1", Host: "www.example.test:8443",
			Expect: []string{"200", "3XX"}, Body: "ok", Headers: map[string]string{"X-Check": "gslb"}, Insecure: true}, nil},
		{"tcp", Spec{Type: "tcp", Port: 443}, nil},
		{"dns", Spec{Type: "dns", Query: "example.test", QueryType: "NS"}, nil},
		{"missing type", Spec{}, []string{"type: missing"}},
		{"bad type", Spec{Type: "icmp"}, []string{`type: unknown check type "icmp" (want http, https, tcp or dns)`}},
		{"tcp without port", Spec{Type: "tcp"}, []string{"port: required for tcp checks"}},
		{"bad expect", Spec{Type: "http", Expect: []string{"2x5", "600", "20"}},
			[]string{`expect: invalid status "2x5"`, `expect: invalid status "600"`, `expect: invalid status "20"`}},
		{"relative path", Spec{Type: "http", Path: "healthz"}, []string{`path: invalid path "healthz"`}},
		{"host with path", Spec{Type: "http", Host: "a/b"}, []string{`host: invalid host "a/b"`}},
		{"bad header", Spec{Type: "http", Headers: map[string]string{"Bad Name": "x", "X": "a\nb", "host": "h"}},
			[]string{`headers: invalid header name "Bad Name"`, `headers: value of "X"`, "headers: set the Host header with the host key"}},
		{"body too long", Spec{Type: "http", Body: strings.Repeat("x", MaxBody+1)}, []string{"body: 65537 bytes"}},
		{"interval below 1s", Spec{Type: "tcp", Port: 1, Interval: 500 * time.Millisecond},
			[]string{"interval: 500ms is below the minimum of 1s"}},
		{"timeout not below interval", Spec{Type: "tcp", Port: 1, Interval: 2 * time.Second, Timeout: 2 * time.Second},
			[]string{"timeout: 2s must be shorter than the interval (2s)"}},
		{"negative timeout", Spec{Type: "tcp", Port: 1, Timeout: -time.Second}, []string{"timeout: -1s must be positive"}},
		{"rise and fall", Spec{Type: "tcp", Port: 1, Rise: -1, Fall: -2},
			[]string{"rise: -1 must be at least 1", "fall: -2 must be at least 1"}},
		{"keys of other types are ignored", Spec{Type: "tcp", Port: 1, Path: "x", Body: "ok", Query: "a..b", Insecure: true}, nil},
		{"dns bad query", Spec{Type: "dns", Query: "a..b", QueryType: "BOGUS"},
			[]string{`query: invalid domain name "a..b"`, `query_type: unknown RR type "BOGUS"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSpec(tt.spec)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("ValidateSpec(%+v): got %v, want nil", tt.spec, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateSpec(%+v): got nil, want %q", tt.spec, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ValidateSpec(%+v): got %q, want it to contain %q", tt.spec, err, w)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tt.want) {
				t.Errorf("ValidateSpec(%+v): got %d problems (%q), want %d", tt.spec, n, err, len(tt.want))
			}
		})
	}
}

func TestExpectMatch(t *testing.T) {
	tests := []struct {
		expect []string
		code   int
		want   bool
	}{
		{[]string{"2xx"}, 200, true},
		{[]string{"2xx"}, 204, true},
		{[]string{"2xx"}, 301, false},
		{[]string{"2XX"}, 299, true},
		{[]string{"200"}, 200, true},
		{[]string{"200"}, 201, false},
		{[]string{"200", "3xx"}, 302, true},
		{[]string{"503"}, 503, true},
		{[]string{"5xx"}, 99, false},
	}
	for _, tt := range tests {
		if got := expectMatch(tt.expect, tt.code); got != tt.want {
			t.Errorf("expectMatch(%q, %d): got %v, want %v", tt.expect, tt.code, got, tt.want)
		}
	}
}

func TestKeyOf(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.10")
	base := Spec{Type: "http", Path: "/healthz", Headers: map[string]string{"B": "2", "A": "1"}}
	k := KeyOf(a, base)
	if want := `http 192.0.2.10:80 path="/healthz" expect="2xx" header.A="1" header.B="2" interval=5s timeout=2s rise=2 fall=3`; k != want {
		t.Errorf("KeyOf: got %s, want %s", k, want)
	}
	same := Spec{Type: "HTTP", Port: 80, Path: "/healthz", Expect: []string{"2xx"}, Headers: map[string]string{"A": "1", "B": "2"},
		Interval: 5 * time.Second}
	if got := KeyOf(a, same); got != k {
		t.Errorf("KeyOf of the same effective spec: got %s, want %s", got, k)
	}
	for name, other := range map[string]Spec{
		"port":     {Type: "http", Port: 8080, Path: "/healthz", Headers: base.Headers},
		"path":     {Type: "http", Path: "/", Headers: base.Headers},
		"header":   {Type: "http", Path: "/healthz"},
		"interval": {Type: "http", Path: "/healthz", Headers: base.Headers, Interval: 10 * time.Second},
		"type":     {Type: "https", Path: "/healthz", Headers: base.Headers},
	} {
		if got := KeyOf(a, other); got == k {
			t.Errorf("KeyOf with another %s: got the same key %s", name, got)
		}
	}
	if got := KeyOf(netip.MustParseAddr("192.0.2.11"), base); got == k {
		t.Errorf("KeyOf of another address: got the same key %s", got)
	}
	if got, want := (Target{Addr: a, Spec: base}).DefaultKey(), k; got != want {
		t.Errorf("DefaultKey: got %s, want %s", got, want)
	}
}
