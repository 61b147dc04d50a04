package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
	"github.com/gslb/gslb/geo"
	"github.com/gslb/gslb/zones"
)

// explain shows, step by step, how the server chooses an answer: from the
// running server's HTTP API, or offline from zone files and databases
// (offline, every endpoint counts as healthy: no probes run).
func explain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := fs.String("client", "", "client address, or subnet as ECS would carry it (e.g. 81.2.69.142 or 81.2.69.0/24)")
	server := fs.String("server", "http://127.0.0.1:8053", "the running server's HTTP address")
	zonesDir := fs.String("zones", "", "explain offline from this zones directory instead of asking a server")
	var geoip []string
	fs.Var(&strList{vals: &geoip}, "geoip", "offline: GeoIP database file (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gslb explain --client IP [--server URL] NAME [TYPE]\n       gslb explain --zones DIR [--geoip FILE]... --client IP NAME [TYPE]\n\nFlags:")
		fs.PrintDefaults()
	}
	// Let flags follow the positional arguments too.
	var pos []string
	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		rest = fs.Args()
		if len(rest) > 0 {
			pos = append(pos, rest[0])
			rest = rest[1:]
		}
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return 2
	}
	name, typ := pos[0], "A"
	if len(pos) == 2 {
		typ = pos[1]
	}
	// Mistakes in the arguments are usage errors (exit 2), whether asked
	// offline or of a server.
	if _, ok := dns.StringToType[strings.ToUpper(typ)]; !ok {
		fmt.Fprintf(stderr, "gslb explain: unknown type %q\n", typ)
		return 2
	}
	if _, _, err := parseClient(*client); err != nil {
		fmt.Fprintln(stderr, "gslb explain:", err)
		return 2
	}
	var res *explainResult
	var err error
	if *zonesDir != "" {
		res, err = explainOffline(*zonesDir, geoip, name, typ, *client)
	} else {
		res, err = explainRemote(ctx, *server, name, typ, *client)
	}
	if err != nil {
		fmt.Fprintln(stderr, "gslb explain:", err)
		return 1
	}
	printExplain(stdout, res)
	return 0
}

func explainRemote(ctx context.Context, server, name, typ, client string) (*explainResult, error) {
	var res explainResult
	q := "/explain?" + url.Values{"name": {name}, "type": {typ}, "client": {client}}.Encode()
	if err := getJSON(ctx, server, q, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func explainOffline(dir string, geoip []string, name, typ, client string) (*explainResult, error) {
	loader := zones.NewLoader(dir)
	snap, err := loader.Load()
	if snap == nil {
		return nil, err
	}
	var store zones.Store
	store.Replace(snap)
	cfg := dnssrv.Config{Zones: &store}
	if len(geoip) > 0 {
		db, err := geo.Open(geoip, nil)
		if err != nil {
			return nil, err
		}
		cfg.Locator = db
	}
	h := dnssrv.NewHandler(cfg)
	res, err := runExplain(h.Explain, name, typ, client)
	if res != nil {
		res.Steps = append([]string{"offline: no health checks run, every endpoint counts as up"}, res.Steps...)
	}
	return res, err
}

func printExplain(w io.Writer, r *explainResult) {
	fmt.Fprintf(w, "%s %s", r.Name, r.Type)
	if r.Client != "" {
		fmt.Fprintf(w, " for client %s", r.Client)
	}
	fmt.Fprintln(w)
	for i, s := range r.Steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
	fmt.Fprintf(w, "answer: %s\n", r.Rcode)
	for _, a := range r.Answer {
		fmt.Fprintf(w, "  %s\n", a)
	}
}
