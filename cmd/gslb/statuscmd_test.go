package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// healthBackend serves /healthz "ok" for checks that should pass.
func healthBackend(t testing.TB) *httptest.Server {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, "ok\n")
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(backend.Close)
	return backend
}

// startHealthServer serves healthZone and waits until web is up and dead
// is down.
func startHealthServer(t testing.TB) *testServer {
	t.Helper()
	backend := healthBackend(t)
	dir := t.TempDir()
	writeZone(t, dir, "example.test.toml", healthZone(portOf(t, backend.Listener.Addr().String()), closedPort(t)))
	ts := startServer(t, testConfig(dir))
	waitFor(t, "web up and dead down", func() (bool, string) {
		st := ts.status(t)
		var saw []string
		for _, p := range st.Pools {
			for _, e := range p.Endpoints {
				saw = append(saw, p.Name+" "+e.Health.Status)
			}
		}
		s := strings.Join(saw, ", ")
		return strings.Contains(s, "web.example.test. up") && strings.Contains(s, "dead.example.test. down"), s
	})
	return ts
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestStatusCommand(t *testing.T) {
	ts := startHealthServer(t)
	writeZone(t, ts.dir, "broken.test.toml", "ns = [\"ns1\"]\nbogus = 1\n")
	if err := ts.a.reload("test"); err == nil {
		t.Fatal("reload with a broken file: no error")
	}

	code, out, errOut := runCmd(t, context.Background(), "status", "--server", ts.httpURL)
	if code != 0 {
		t.Fatalf("gslb status: exit %d\n%s", code, errOut)
	}
	if ansi.MatchString(out) {
		t.Errorf("colours on a non-terminal:\n%q", out)
	}
	// Rows as a person reads them (runs of spaces collapsed).
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	text := strings.Join(rows, "\n")
	for _, want := range []string{
		"endpoints: 1 down, 1 warning, 2 up",
		"ERRORS",
		filepath.Join(ts.dir, "broken.test.toml") + ":2:1: bogus: unknown key",
		"ZONE SERIAL LOADED STATE FILE",
		"(not loaded) - - file fails, not served " + filepath.Join(ts.dir, "broken.test.toml"),
		"POOL POLICY ENDPOINT STATE SHARE SINCE REASON",
		"dead.example.test. failover 127.0.0.1 down - ", // then since and reason
		"connect: connection refused",
		`! every endpoint is down: answers are empty (when_all_down = "none")`,
		`static.example.test. weighted 192.0.2.1 up - - no health check`,
		`192.0.2.2 drain - - draining (state = "drain")`,
		"web.example.test. roundrobin 127.0.0.1 up - ",
		"RECENT CHANGES",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("gslb status output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCmd(t, context.Background(), "status", "--server", strings.TrimPrefix(ts.httpURL, "http://"), "--color", "always")
	if code != 0 || !strings.Contains(out, "\x1b[31mdown\x1b[0m") || !strings.Contains(out, "\x1b[32mup\x1b[0m") {
		t.Errorf("--color always: exit %d, want red down and green up:\n%q", code, out)
	}
	// Colour codes of equal length keep the columns aligned: without them
	// the output is the plain one.
	d, err := fetchStatus(context.Background(), ts.httpURL)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var coloured, plain strings.Builder
	printStatus(&coloured, d, true, now)
	printStatus(&plain, d, false, now)
	if got := ansi.ReplaceAllString(coloured.String(), ""); got != plain.String() {
		t.Errorf("coloured output, colours removed:\n%s\nwant the plain output:\n%s", got, plain.String())
	}
}

func TestStatusCommandErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"status", "--server", "127.0.0.1:1"}, 1, "is the server running"},
		{[]string{"status", "--color", "sometimes"}, 2, `--color "sometimes"`},
		{[]string{"status", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCmd(t, context.Background(), tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) {
				t.Errorf("gslb %v: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.msg)
			}
		})
	}
}

// Colours only on a terminal; NO_COLOR turns them off.
func TestStatusColourAuto(t *testing.T) {
	ts := startServer(t, testConfig(copyZones(t, filepath.Join("testdata", "zones"))))
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("a regular file counts as a terminal")
	}
	if code := run(context.Background(), []string{"status", "--server", ts.httpURL}, f, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, _ := os.ReadFile(f.Name())
	if ansi.Match(b) || !strings.Contains(string(b), "api.example.test.") {
		t.Errorf("status to a file: want a table without colours:\n%q", b)
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !isTerminal(tty) {
			t.Errorf("/dev/tty is not a terminal")
		}
	}
	t.Setenv("NO_COLOR", "1")
	if code, out, _ := runCmd(t, context.Background(), "status", "--server", ts.httpURL); code != 0 || ansi.MatchString(out) {
		t.Errorf("NO_COLOR: exit %d, output %q", code, out)
	}
}
