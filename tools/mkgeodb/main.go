// Command mkgeodb writes a small MaxMind-format City database from a
// commented TOML source, for demos and tests. It is how
// docs/examples/demo-city.mmdb is made:
//
//	go run ./tools/mkgeodb -in docs/examples/demo-geo.toml -out docs/examples/demo-city.mmdb
//
// The source's build_time fixes the database's build timestamp, so the output
// depends only on the source: regenerating gives the same bytes. -check
// compares instead of writing, exiting 1 when -out is stale.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/gslb/gslb/geo"
	"github.com/gslb/gslb/geo/geotest"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// source is the TOML file's shape.
type source struct {
	DatabaseType string    `toml:"database_type"`
	Description  string    `toml:"description"`
	BuildTime    time.Time `toml:"build_time"`
	Networks     []network `toml:"networks"`
}

type network struct {
	Prefix      netip.Prefix `toml:"prefix"`
	Country     string       `toml:"country"`
	Subdivision string       `toml:"subdivision"`
	Continent   string       `toml:"continent"`
	Lat         *float64     `toml:"lat"`
	Lon         *float64     `toml:"lon"`
	City        string       `toml:"city"`
	ASN         uint32       `toml:"asn"`
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkgeodb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "docs/examples/demo-geo.toml", "TOML `file` listing the networks")
	out := fs.String("out", "docs/examples/demo-city.mmdb", "database `file` to write")
	buildTime := fs.String("build-time", "", "override the source's build_time (RFC 3339 or Unix seconds)")
	check := fs.Bool("check", false, "do not write: exit 1 if -out differs from what -in gives")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: mkgeodb [-in FILE] [-out FILE] [-build-time T] [-check]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}

	src, err := readSource(*in)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *buildTime != "" {
		t, err := parseTime(*buildTime)
		if err != nil {
			fmt.Fprintf(stderr, "mkgeodb: -build-time: %v\n", err)
			return 2
		}
		src.BuildTime = t
	}
	nets, err := src.nets(*in)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if src.BuildTime.IsZero() {
		fmt.Fprintf(stderr, "%s: build_time: missing (want a fixed time such as 2026-01-01T00:00:00Z, so output is reproducible)\n", *in)
		return 2
	}
	opts := geotest.Options{DatabaseType: src.DatabaseType, BuildTime: src.BuildTime, Description: src.Description}

	target := *out
	if *check {
		dir, err := os.MkdirTemp("", "mkgeodb")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		target = filepath.Join(dir, filepath.Base(*out))
	}
	if err := opts.WriteCity(target, nets); err != nil {
		fmt.Fprintf(stderr, "mkgeodb: writing %s: %v\n", *out, err)
		return 1
	}
	// Read the result back the way the server will.
	db, err := geo.Open([]string{target}, nil)
	if err != nil {
		fmt.Fprintf(stderr, "mkgeodb: reading back: %v\n", err)
		return 1
	}
	if *check {
		want, err1 := os.ReadFile(target)
		have, err2 := os.ReadFile(*out)
		if err := errors.Join(err1, err2); err != nil {
			fmt.Fprintf(stderr, "mkgeodb: %v\n", err)
			return 1
		}
		if !bytes.Equal(have, want) {
			fmt.Fprintf(stderr, "mkgeodb: %s is stale: regenerate it from %s\n", *out, *in)
			return 1
		}
		fmt.Fprintf(stdout, "%s is up to date (%d networks)\n", *out, len(nets))
		return 0
	}
	info := db.Info()[0]
	fmt.Fprintf(stdout, "wrote %s: %s, %d networks, built %s\n",
		*out, info.Type, len(nets), info.BuildTime.Format(time.RFC3339))
	return 0
}

func readSource(path string) (*source, error) {
	var src source
	md, err := toml.DecodeFile(path, &src)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d:%d: %s", path, pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	return &src, nil
}

// nets validates the source's networks and converts them.
func (s *source) nets(path string) ([]geotest.Net, error) {
	var errs []error
	bad := func(i int, n network, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: networks[%d] (%v): %s", path, i, n.Prefix, fmt.Sprintf(format, args...)))
	}
	out := make([]geotest.Net, 0, len(s.Networks))
	for i, n := range s.Networks {
		switch {
		case !n.Prefix.IsValid():
			bad(i, n, "prefix: missing")
			continue
		case n.Prefix.Addr().Is4In6():
			bad(i, n, "prefix: write IPv4 networks in IPv4 form")
			continue
		case n.Prefix != n.Prefix.Masked():
			bad(i, n, "prefix: host bits set (want %v)", n.Prefix.Masked())
			continue
		}
		for j, m := range s.Networks[:i] {
			if m.Prefix.IsValid() && m.Prefix.Overlaps(n.Prefix) {
				bad(i, n, "overlaps networks[%d] (%v)", j, m.Prefix)
			}
		}
		if n.Country != "" && !geo.ValidCountry(n.Country) {
			bad(i, n, "country: %q is not an ISO 3166-1 alpha-2 code", n.Country)
		}
		if n.Continent != "" && !geo.ValidContinent(n.Continent) {
			bad(i, n, "continent: %q is not one of AF AN AS EU NA OC SA", n.Continent)
		}
		if sub := n.Subdivision; sub != "" {
			full := sub
			if !strings.Contains(sub, "-") {
				full = n.Country + "-" + sub
			}
			if n.Country == "" || !geo.ValidSubdivision(full) || !strings.HasPrefix(full, n.Country+"-") {
				bad(i, n, "subdivision: %q is not an ISO 3166-2 code in country %q", sub, n.Country)
			}
		}
		if (n.Lat == nil) != (n.Lon == nil) {
			bad(i, n, "lat, lon: give both or neither")
		}
		gn := geotest.Net{
			Prefix: n.Prefix, Country: n.Country, Subdivision: n.Subdivision,
			Continent: n.Continent, City: n.City, ASN: n.ASN,
		}
		if n.Lat != nil && n.Lon != nil {
			if *n.Lat < -90 || *n.Lat > 90 || *n.Lon < -180 || *n.Lon > 180 {
				bad(i, n, "lat, lon: %v, %v out of range", *n.Lat, *n.Lon)
			}
			gn.Lat, gn.Lon, gn.HasLatLon = *n.Lat, *n.Lon, true
		}
		out = append(out, gn)
	}
	if len(s.Networks) == 0 {
		errs = append(errs, fmt.Errorf("%s: no [[networks]]", path))
	}
	return out, errors.Join(errs...)
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var sec int64
	if _, err := fmt.Sscan(s, &sec); err == nil && fmt.Sprint(sec) == s {
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor Unix seconds", s)
}
