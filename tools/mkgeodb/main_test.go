package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gslb/gslb/geo"
)

const (
	demoSource = "../../docs/examples/demo-geo.toml"
	demoDB     = "../../docs/examples/demo-city.mmdb"
)

// TestDemoUpToDate fails when docs/examples/demo-city.mmdb was not
// regenerated after an edit of demo-geo.toml.
func TestDemoUpToDate(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-in", demoSource, "-out", demoDB, "-check"}, &stdout, &stderr); code != 0 {
		t.Fatalf("mkgeodb -check: exit %d: %s\nregenerate with: go run ./tools/mkgeodb -in docs/examples/demo-geo.toml -out docs/examples/demo-city.mmdb",
			code, stderr.String())
	}
}

func TestDemoContents(t *testing.T) {
	db, err := geo.Open([]string{demoDB}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr              string
		country, sub, cnt string
		latLon            bool
		prefix            string
	}{
		{"81.2.69.142", "GB", "ENG", "EU", true, "81.2.69.0/24"},
		{"2a02:d3c0::1", "GB", "", "EU", false, "2a02:d3c0::/29"},
		{"89.160.20.129", "SE", "E", "EU", true, "89.160.20.0/24"},
		{"216.160.83.56", "US", "WA", "NA", true, "216.160.83.0/24"},
		{"214.78.121.1", "US", "CA", "NA", true, "214.78.120.0/22"},
		{"2001:218::1", "JP", "", "AS", true, "2001:218::/32"},
		{"175.16.199.1", "CN", "", "AS", false, "175.16.199.0/24"},
		{"2a02:d180::1", "DE", "", "EU", true, "2a02:d180::/29"},
		{"198.18.0.1", "GB", "ENG", "EU", true, "198.18.0.0/24"},
		{"198.18.1.1", "US", "NY", "NA", true, "198.18.1.0/24"},
		{"198.18.2.1", "JP", "", "AS", true, "198.18.2.0/24"},
	}
	for _, tt := range tests {
		got := db.Locate(netip.MustParseAddr(tt.addr))
		if !got.Found || got.Country != tt.country || got.Subdivision != tt.sub || got.Continent != tt.cnt ||
			got.HasLatLon != tt.latLon || got.Prefix != netip.MustParsePrefix(tt.prefix) {
			t.Errorf("Locate(%s): got %+v, want %s/%s/%s coordinates=%v prefix %s",
				tt.addr, got, tt.country, tt.sub, tt.cnt, tt.latLon, tt.prefix)
		}
	}
	for _, a := range []string{"198.18.3.1", "81.2.70.1", "192.0.2.1"} {
		if got := db.Locate(netip.MustParseAddr(a)); got.Found {
			t.Errorf("Locate(%s): got %+v, want unknown", a, got)
		}
	}
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.mmdb")
	write := func(src string) string {
		p := filepath.Join(dir, "src.toml")
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "build_time = 2026-01-01T00:00:00Z\n[[networks]]\nprefix = \"192.0.2.0/24\"\ncountry = \"FR\"\nlat = 48.85\nlon = 2.35\n"

	tests := []struct {
		name string
		src  string
		args []string
		code int
		want string // in stdout (code 0) or stderr
	}{
		{name: "good", src: good, code: 0, want: "1 networks, built 2026-01-01T00:00:00Z"},
		{name: "build time flag", src: good, args: []string{"-build-time", "1700000000"}, code: 0, want: "built 2023-11-14T22:13:20Z"},
		{name: "bad build time flag", src: good, args: []string{"-build-time", "soon"}, code: 2, want: "-build-time"},
		{name: "no build time", src: "[[networks]]\nprefix = \"192.0.2.0/24\"\n", code: 2, want: "build_time: missing"},
		{name: "syntax", src: "build_time = \n", code: 2, want: "src.toml:1:"},
		{name: "bad prefix", src: "[[networks]]\nprefix = \"192.0.2.300/24\"\n", code: 2, want: "src.toml:2:"},
		{name: "unknown key", src: good + "contry = \"FR\"\n", code: 2, want: "unknown keys: networks.contry"},
		{name: "host bits", src: "build_time = 2026-01-01T00:00:00Z\n[[networks]]\nprefix = \"192.0.2.1/24\"\n", code: 2, want: "host bits set (want 192.0.2.0/24)"},
		{name: "overlap", src: good + "[[networks]]\nprefix = \"192.0.2.128/25\"\n", code: 2, want: "overlaps networks[0]"},
		{name: "bad codes", src: "build_time = 2026-01-01T00:00:00Z\n[[networks]]\nprefix = \"192.0.2.0/24\"\ncountry = \"UK\"\ncontinent = \"EUR\"\nsubdivision = \"US-CA\"\nlat = 1.0\n",
			code: 2, want: `country: "UK"`},
		{name: "no networks", src: "build_time = 2026-01-01T00:00:00Z\n", code: 2, want: "no [[networks]]"},
		{name: "extra argument", src: good, args: []string{"extra"}, code: 2, want: "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(tt.src)
			var stdout, stderr bytes.Buffer
			args := append([]string{"-in", p, "-out", out}, tt.args...)
			code := run(context.Background(), args, &stdout, &stderr)
			text := stdout.String()
			if code != 0 {
				text = stderr.String()
			}
			if code != tt.code || !strings.Contains(text, tt.want) {
				t.Errorf("mkgeodb %q with\n%s\ngot exit %d, output %q; want exit %d, output containing %q",
					args, tt.src, code, text, tt.code, tt.want)
			}
		})
	}
}
