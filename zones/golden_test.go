package zones

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden testdata/bad/*.err files")

// TestBadZones parses every testdata/bad/NAME.toml and compares the error
// output, as `gslb check` prints it, with NAME.err.
func TestBadZones(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad zones: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".toml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			z, err := Parse(filepath.ToSlash(f), src, testMod)
			if err == nil {
				t.Fatalf("Parse(%s) = zone %s, want an error", f, z.Origin)
			}
			if z != nil {
				t.Errorf("Parse(%s) returned a zone with its error", f)
			}
			es := Errors(err)
			if len(es) == 0 {
				t.Fatalf("Errors(%v) is empty", err)
			}
			if !slices.IsSortedFunc(es, func(a, b *ConfigError) int {
				if a.Line != b.Line {
					return a.Line - b.Line
				}
				return a.Col - b.Col
			}) {
				t.Errorf("errors not sorted by line and column:\n%v", err)
			}
			for _, e := range es {
				if e.File != filepath.ToSlash(f) || e.Line < 1 || e.Col < 1 {
					t.Errorf("error without a file position: %q", e)
				}
				if m := e.Msg; m == "" || strings.HasSuffix(m, ".") || strings.ToLower(m[:1]) != m[:1] && !isTypeStart(m) {
					t.Errorf("message %q: want lowercase, no trailing period", m)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".toml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./zones/ -run TestBadZones -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors for %s differ from %s\n got:\n%s\nwant:\n%s", f, golden, got, want)
			}
		})
	}
}

// isTypeStart allows messages that start with a record type or a quoted
// value ("SOA is set by ...", `"x" is not an IPv4 address`).
func isTypeStart(m string) bool {
	w, _, _ := strings.Cut(m, " ")
	return strings.HasPrefix(m, `"`) || w == strings.ToUpper(w)
}

// TestErrorPositions checks line:col against the source text for errors
// whose position is easy to state: the column must be where the quoted
// text starts on that line.
func TestErrorPositions(t *testing.T) {
	tests := []struct {
		file, key, at string // at: the text the error must point at
	}{
		{"syntax", "", "TXT"},
		{"unknown_top_key", "nameservers", "nameservers"},
		{"unknown_top_key", "record", "record"},
		{"unknown_key", "pools.www.endpoints.wieght", "wieght"},
		{"unknown_key", "soa.serail", "serail"},
		{"bad_address", "records.www.A", `"192.0.2.300"`},
		{"bad_address", "pools.api.addresses", `"api.example.test"`},
		{"bad_address", "pools.web.endpoints.address", `"fe80::1%eth0"`},
		{"a_ipv6", "records.www.A", `"2001:db8::1"`},
		{"bad_rdata", "records.@.MX", `"bogus"`},
		{"unknown_type", "records.www.MXX", "MXX"},
		{"duplicate_owner", "records.www.example.test.", `"www.example.test."`},
		{"undefined_check", "pools.www.check", `"web2"`},
		{"bad_geo", "pools.www.endpoints.networks", `"203.0.113.7/24"`},
		{"bad_geo", "pools.www.endpoints.countries", `"GBR"`},
		{"reverse", "records.11.PTR", `"bad..name."`},
		{"dotted_owner", "records._sip._tcp", "_tcp"},
		{"lat_without_lon", "pools.www.endpoints.lat", "lat"},
		{"timeout_interval", "checks.slow.timeout", `"1500ms"`},
	}
	for _, tt := range tests {
		f := filepath.Join("testdata", "bad", tt.file+".toml")
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(src), "\n")
		_, err = Parse(f, src, testMod)
		var pointed []string
		ok := false
		for _, e := range Errors(err) {
			if e.Key != tt.key {
				continue
			}
			rest := lines[e.Line-1][e.Col-1:]
			ok = ok || strings.HasPrefix(rest, tt.at)
			pointed = append(pointed, rest)
		}
		if !ok {
			t.Errorf("%s: errors for %q point at %q, want one at %q", tt.file, tt.key, pointed, tt.at)
		}
	}
}
