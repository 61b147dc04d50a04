package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/html"
)

var screenshot = flag.String("screenshot", "", "also write a screenshot of the status page of a demo server to this PNG file (docs/status-page.png is ../../docs/status-page.png)")

// chromiumPath finds Debian's chromium. Without it the browser tests skip,
// except under CI=true, where the test script installs it.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found; CI must install it (apt-get install chromium)")
	}
	t.Skip("chromium not found; install it (apt-get install chromium) to run the browser tests")
	return ""
}

// runChromium runs headless Chromium with args and returns its stdout.
func runChromium(t testing.TB, args ...string) string {
	t.Helper()
	bin := chromiumPath(t)
	profile, err := os.MkdirTemp("", "gslb-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Chromium's helpers may still be writing there for a moment after it
	// exits: remove it best effort (t.TempDir would fail the test).
	t.Cleanup(func() { os.RemoveAll(profile) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile,
	}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// node helpers over golang.org/x/net/html.

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

// find returns the first element under n (n included) for which match holds.
func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// endpointRow finds the row of addr in pool's card.
func endpointRow(doc *html.Node, pool, addr string) *html.Node {
	card := find(doc, func(n *html.Node) bool { return attr(n, "data-pool") == pool })
	if card == nil {
		return nil
	}
	return find(card, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-endpoint") == addr })
}

func cell(row *html.Node, class string) string {
	if c := find(row, func(n *html.Node) bool { return n.Data == "td" && hasClass(n, class) }); c != nil {
		return text(c)
	}
	return ""
}

// A real browser renders the status page: the endpoint failing its check
// is red with its reason, the healthy one green, the drained one amber.
func TestStatusPageInBrowser(t *testing.T) {
	chromiumPath(t) // skip early, before starting a server
	ts := startHealthServer(t)
	for range 4 {
		query(t, ts.dnsAddr, "static.example.test.", dns.TypeA)
	}
	dom := runChromium(t, "--dump-dom", ts.httpURL+"/")
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatalf("parsing the DOM: %v\n%s", err, dom)
	}
	tests := []struct {
		pool, addr, class, label, reason, share string
	}{
		{"dead.example.test.", "127.0.0.1", red, "down", "connect: connection refused", "–"},
		{"web.example.test.", "127.0.0.1", green, "up", "ok", "–"},
		{"static.example.test.", "192.0.2.1", green, "up", "no health check", "100%"},
		{"static.example.test.", "192.0.2.2", amber, "drain", `draining (state = "drain")`, "0%"},
	}
	for _, tt := range tests {
		row := endpointRow(doc, tt.pool, tt.addr)
		if row == nil {
			t.Errorf("no row for %s in pool %s:\n%s", tt.addr, tt.pool, dom)
			continue
		}
		if !hasClass(row, tt.class) || cell(row, "lbl") != tt.label || cell(row, "reason") != tt.reason || !strings.HasPrefix(cell(row, "num"), tt.share) {
			t.Errorf("%s %s: class %q, state %q, reason %q, share %q; want class %s, %q, %q, %q",
				tt.pool, tt.addr, attr(row, "class"), cell(row, "lbl"), cell(row, "reason"), cell(row, "num"), tt.class, tt.label, tt.reason, tt.share)
		}
	}
	card := find(doc, func(n *html.Node) bool { return attr(n, "data-pool") == "dead.example.test." })
	if card == nil || !hasClass(card, red) || !strings.Contains(text(card), "every endpoint is down") {
		t.Errorf("the dead pool's card is not red with a note")
	}
	if title := find(doc, func(n *html.Node) bool { return n.Data == "title" }); title == nil || text(title) != "(1 down) gslb status" {
		t.Errorf("title: want \"(1 down) gslb status\"")
	}
	if refresh := find(doc, func(n *html.Node) bool { return n.Data == "meta" && attr(n, "http-equiv") == "refresh" }); refresh == nil {
		t.Errorf("no meta refresh")
	}
	if find(doc, func(n *html.Node) bool {
		return n.Data == "script" || (n.Data == "link" && attr(n, "rel") == "stylesheet")
	}) != nil {
		t.Errorf("the page loads scripts or stylesheets; want none")
	}

	if *screenshot != "" {
		writeScreenshot(t, *screenshot)
	}
}

// demoZone has a bit of everything for the screenshot: healthy, failing,
// drained and forced-up endpoints, and a pool with every endpoint down.
func demoZone(webPort, deadPort int) string {
	return fmt.Sprintf(`ns = ["ns1"]
[records.ns1]
A = ["198.51.100.53"]

[pools.www]
policy = "roundrobin"
check = "web"
addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]

[pools.api]
policy = "failover"
check = "web"

[[pools.api.endpoints]]
address = "127.0.0.1"
priority = 1

[[pools.api.endpoints]]
address = "127.0.0.2"
priority = 1
state = "drain"

[[pools.api.endpoints]]
address = "127.0.0.3"
priority = 2

[pools.db]
policy = "weighted"
check = "pg"

[[pools.db.endpoints]]
address = "127.0.0.5"

[[pools.db.endpoints]]
address = "127.0.0.6"
state = "up"

[pools.static]
addresses = ["192.0.2.10", "192.0.2.11"]
policy = "weighted"
answers = 1

[checks.web]
type = "http"
port = %d
path = "/healthz"
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1

[checks.pg]
type = "tcp"
port = %d
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1
`, webPort, deadPort)
}

// writeScreenshot serves demoZone (127.0.0.1 and .2 healthy, .3 refusing)
// plus a broken zone file, sends some queries, and has Chromium take a
// picture of the status page.
func writeScreenshot(t *testing.T, out string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(t, ln.Addr().String())
	ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })}
	go backend.Serve(ln)
	go backend.Serve(ln2)
	defer backend.Close()

	// A stable, readable path for the picture.
	dir := filepath.Join(os.TempDir(), "gslb-demo", "zones")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(dir)) })
	writeZone(t, dir, "example.test.toml", demoZone(port, closedPort(t)))
	writeZone(t, dir, "shop.test.toml", "ns = [\"ns1\"]\n[records.ns1]\nA = [\"198.51.100.53\"]\n[pools.www]\naddresses = [\"192.0.2.30\", \"192.0.2.31\"]\ncheck = \"http\"\n")
	ts := startServer(t, testConfig(dir))
	waitFor(t, "127.0.0.3 and 127.0.0.5 down", func() (bool, string) {
		down := 0
		for _, p := range ts.status(t).Pools {
			for _, e := range p.Endpoints {
				if e.Health.Status == "down" {
					down++
				}
			}
		}
		return down == 4, fmt.Sprint(down, " down")
	})
	for range 30 {
		query(t, ts.dnsAddr, "www.example.test.", dns.TypeA)
	}
	for range 12 {
		query(t, ts.dnsAddr, "api.example.test.", dns.TypeA)
		query(t, ts.dnsAddr, "static.example.test.", dns.TypeA)
		query(t, ts.dnsAddr, "db.example.test.", dns.TypeA)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		t.Fatal(err)
	}
	runChromium(t, "--hide-scrollbars", "--window-size=1200,900", "--screenshot="+abs, ts.httpURL+"/")
	if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", abs, err)
	}
	t.Logf("wrote %s", abs)
}
