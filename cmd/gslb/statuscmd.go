package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// statusCmd prints a running server's /status as terminal tables: zones,
// then every pool endpoint with its state, health and reason, in colour
// when stdout is a terminal.
func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:8053", "the running server's HTTP address")
	colour := fs.String("color", "auto", "colours: auto (when stdout is a terminal and NO_COLOR is unset), always or never")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gslb status [--server URL] [--color auto|always|never]\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gslb status: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var on bool
	switch *colour {
	case "always":
		on = true
	case "never":
	case "auto":
		on = isTerminal(stdout) && os.Getenv("NO_COLOR") == ""
	default:
		fmt.Fprintf(stderr, "gslb status: --color %q: want auto, always or never\n", *colour)
		return 2
	}
	d, err := fetchStatus(ctx, *server)
	if err != nil {
		fmt.Fprintln(stderr, "gslb status:", err)
		return 1
	}
	printStatus(stdout, d, on, time.Now())
	return 0
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func fetchStatus(ctx context.Context, server string) (statusDoc, error) {
	var d statusDoc
	err := getJSON(ctx, server, "/status", &d)
	return d, err
}

// getJSON asks the running server's HTTP API for path and decodes the
// answer into v. server may omit the scheme ("127.0.0.1:8053").
func getJSON(ctx context.Context, server, path string, v any) error {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(server, "/")+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%v (is the server running with --http %s?)", err, strings.TrimPrefix(server, "http://"))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server said %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("bad answer from server: %v", err)
	}
	return nil
}

// painter colours table cells. Every coloured cell of a column gets escape
// sequences of the same length, so tabwriter still aligns the columns.
type painter bool

func (p painter) paint(class, s string) string {
	if !p {
		return s
	}
	code := map[string]string{green: "\x1b[32m", amber: "\x1b[33m", red: "\x1b[31m", "bold": "\x1b[01m"}[class]
	if code == "" {
		code = "\x1b[39m" // default colour: same length as the others
	}
	return code + s + "\x1b[0m"
}

func printStatus(w io.Writer, d statusDoc, colour bool, now time.Time) {
	p := painter(colour)
	pd := buildPage(d, now)
	fmt.Fprintf(w, "gslb %s · up %s · last reload %s · %d reload(s), %d failed\n", d.Version, pd.Uptime, orDash(pd.LastReload), d.LastReload.Count, d.LastReload.Failures)
	fmt.Fprintf(w, "endpoints: %s, %s, %s\n",
		p.paint(red, strconv.Itoa(pd.Counts[red])+" down"), p.paint(amber, strconv.Itoa(pd.Counts[amber])+" warning"), p.paint(green, strconv.Itoa(pd.Counts[green])+" up"))
	if len(pd.Problems) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, p.paint("bold", "ERRORS"))
		for _, e := range pd.Problems {
			fmt.Fprintln(w, "  "+p.paint(red, e))
		}
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join([]string{"ZONE", "SERIAL", "LOADED", p.paint("bold", "STATE"), "FILE"}, "\t"))
	for _, z := range pd.Zones {
		fmt.Fprintln(tw, strings.Join([]string{z.Origin, orDash(z.Serial), orDash(z.Loaded), p.paint(z.Class, z.State), z.File}, "\t"))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join([]string{"POOL", "POLICY", "ENDPOINT", p.paint("bold", "STATE"), "SHARE", "SINCE", "REASON"}, "\t"))
	for _, z := range pd.Zones {
		for _, pl := range z.Pools {
			for i, e := range pl.Endpoints {
				name, policy := pl.Name, pl.Policy
				if i > 0 {
					name, policy = "", ""
				}
				share := e.Share
				if share == "–" {
					share = "-"
				}
				fmt.Fprintln(tw, strings.Join([]string{name, policy, e.Address, p.paint(e.Class, e.Label), share, orDash(e.Since), e.Reason}, "\t"))
			}
			if pl.Class == red {
				fmt.Fprintln(tw, strings.Join([]string{"", "", "", p.paint(red, "!"), "", "", pl.Note}, "\t"))
			}
		}
	}
	tw.Flush()

	if len(pd.Changes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, p.paint("bold", "RECENT CHANGES"))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, c := range pd.Changes {
			if i == 10 {
				break
			}
			fmt.Fprintln(tw, strings.Join([]string{"  " + c.At, c.Address, p.paint(c.Class, c.State), c.Reason}, "\t"))
		}
		tw.Flush()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
