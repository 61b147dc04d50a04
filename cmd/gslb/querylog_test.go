package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"

	dnssrv "github.com/gslb/gslb/dns"
)

// The query log is switched at run time over HTTP; lines appear only while
// it is on, with the client, ECS, name, type, rcode, pool and answers.
func TestQueryLogSwitch(t *testing.T) {
	cfg := testConfig(copyZones(t, filepath.Join("testdata", "zones")))
	logFile := filepath.Join(t.TempDir(), "query.log")
	cfg.QueryLogFile = logFile
	ts := startServer(t, cfg)
	setLog := func(on string) {
		t.Helper()
		code, body, _ := httpDo(t, http.MethodPost, ts.httpURL+"/querylog?on="+on, nil)
		if code != 200 || !strings.Contains(body, `"enabled": `+map[string]string{"1": "true", "0": "false"}[on]) {
			t.Fatalf("POST /querylog?on=%s: %d %s", on, code, body)
		}
	}

	query(t, ts.dnsAddr, "before.example.test.", dns.TypeA) // off: not logged
	setLog("1")
	query(t, ts.dnsAddr, "api.example.test.", dns.TypeA, withECS("81.2.69.0/24"))
	query(t, ts.dnsAddr, "example.test.", dns.TypeMX)
	text := waitForFile(t, logFile, "name=api.example.test.", "name=example.test.")
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 2 {
		t.Fatalf("query log has %d lines, want 2:\n%s", len(lines), text)
	}
	for _, want := range []string{"msg=query", "client=127.0.0.1", "transport=udp", "ecs=81.2.69.0/24", "scope=0", "name=api.example.test.",
		"type=A", "rcode=NOERROR", "zone=example.test.", "pool=api.example.test.", "policy=roundrobin", "192.0.2.20", "192.0.2.21", "192.0.2.22"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("query log line lacks %q:\n%s", want, lines[0])
		}
	}
	if want := `answers="[MX 10 mail.example.test.]"`; !strings.Contains(lines[1], want) || strings.Contains(lines[1], "pool=") {
		t.Errorf("query log line for MX: want %s and no pool:\n%s", want, lines[1])
	}
	if st := ts.status(t); st.QueryLog == nil || !st.QueryLog.Enabled || st.QueryLog.File != logFile || st.QueryLog.Lines != 2 {
		t.Errorf("/status query_log %+v, want enabled, file %s, 2 lines", st.QueryLog, logFile)
	}

	setLog("0")
	query(t, ts.dnsAddr, "while-off.example.test.", dns.TypeA)
	setLog("1")
	query(t, ts.dnsAddr, "marker.example.test.", dns.TypeA)
	text = waitForFile(t, logFile, "name=marker.example.test.")
	for _, name := range []string{"before.example.test.", "while-off.example.test."} {
		if strings.Contains(text, name) {
			t.Errorf("%s was asked while the query log was off, but is in it:\n%s", name, text)
		}
	}
	if !strings.Contains(ts.logs.String(), `msg="query log switched" enabled=false`) {
		t.Errorf("switching the query log is not logged")
	}
	if code, body, _ := httpDo(t, http.MethodPost, ts.httpURL+"/querylog?on=maybe", nil); code != http.StatusBadRequest {
		t.Errorf("POST /querylog?on=maybe: %d %s, want 400", code, body)
	}
	if code, body, _ := httpDo(t, http.MethodGet, ts.httpURL+"/querylog", nil); code != 200 || !strings.Contains(body, `"enabled": true`) {
		t.Errorf("GET /querylog: %d %s, want enabled", code, body)
	}
	fams := scrapeMetrics(t, ts.httpURL)
	if v, ok := metricValue(fams, "gslb_query_log_lines_total"); !ok || v != 3 {
		t.Errorf("gslb_query_log_lines_total = %v, want 3", v)
	}
	if v, ok := metricValue(fams, "gslb_query_log_enabled"); !ok || v != 1 {
		t.Errorf("gslb_query_log_enabled = %v, want 1", v)
	}
}

// With a token configured, switching needs it, as POST /reload does.
func TestQueryLogNeedsToken(t *testing.T) {
	cfg := testConfig(copyZones(t, filepath.Join("testdata", "zones")))
	cfg.HTTPReloadToken = "s3cret"
	ts := startServer(t, cfg)
	if code, _, _ := httpDo(t, http.MethodPost, ts.httpURL+"/querylog?on=1", nil); code != http.StatusForbidden {
		t.Errorf("POST /querylog without the token: %d, want 403", code)
	}
	if code, _, _ := httpDo(t, http.MethodPost, ts.httpURL+"/querylog?on=1", map[string]string{"Authorization": "Bearer s3cret"}); code != 200 {
		t.Errorf("POST /querylog with the token: %d, want 200", code)
	}
}

// --query-log on the command line starts it on, to stderr by default, in
// the log format chosen.
func TestQueryLogJSONToStderr(t *testing.T) {
	cfg := testConfig(copyZones(t, filepath.Join("testdata", "zones")))
	cfg.QueryLog = true
	cfg.LogFormat = "json"
	ts := startServer(t, cfg)
	query(t, ts.dnsAddr, "api.example.test.", dns.TypeA)
	waitFor(t, "a JSON query line", func() (bool, string) {
		return strings.Contains(ts.logs.String(), `"msg":"query"`), ts.logs.String()
	})
	for _, line := range strings.Split(ts.logs.String(), "\n") {
		if !strings.Contains(line, `"msg":"query"`) {
			continue
		}
		var v struct {
			Client, Name, Type, Rcode, Pool, Policy string
			Answers                                 []string
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("query line is not JSON: %v\n%s", err, line)
		}
		if v.Client != "127.0.0.1" || v.Name != "api.example.test." || v.Type != "A" || v.Rcode != "NOERROR" ||
			v.Pool != "api.example.test." || v.Policy != "roundrobin" || len(v.Answers) != 3 {
			t.Errorf("query line %+v, want api.example.test. A NOERROR from the roundrobin pool with 3 answers", v)
		}
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// A sink that cannot keep up never slows the query path: entries beyond
// the buffer are dropped and counted.
func TestQueryLogNeverBlocks(t *testing.T) {
	w := blockingWriter{release: make(chan struct{})}
	ql, err := newQueryLog(true, "", "text", w, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	o := &dnssrv.Observation{Name: "www.example.test.", Qtype: dns.TypeA, Src: netip.MustParseAddrPort("192.0.2.7:5353")}
	const n = queryLogBuffer + 500
	start := time.Now()
	for range n {
		ql.add(o)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%d adds took %v with a stuck sink", n, d)
	}
	// The writer holds one entry, the buffer queryLogBuffer: the rest drop.
	if got := ql.dropped.Load(); got < n-queryLogBuffer-1 || got > n-queryLogBuffer {
		t.Errorf("dropped %d, want %d or %d", got, n-queryLogBuffer-1, n-queryLogBuffer)
	}
	close(w.release)
	ql.close()
	if got := ql.written.Load() + ql.dropped.Load(); got != n {
		t.Errorf("written + dropped = %d, want %d", got, n)
	}
}

// SIGHUP reopens the file, so logrotate can move it away.
func TestQueryLogReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.log")
	ql, err := newQueryLog(true, path, "text", io.Discard, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer ql.close()
	o := &dnssrv.Observation{Name: "one.example.test.", Qtype: dns.TypeA, Src: netip.MustParseAddrPort("192.0.2.7:5353")}
	ql.add(o)
	waitForFile(t, path, "one.example.test.")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := ql.reopen(); err != nil {
		t.Fatal(err)
	}
	o.Name = "two.example.test."
	ql.add(o)
	text := waitForFile(t, path, "two.example.test.")
	old, _ := os.ReadFile(path + ".1")
	if strings.Contains(text, "one.") || bytes.Contains(old, []byte("two.")) {
		t.Errorf("after reopen: new file %q, old file %q; want one line each", text, old)
	}
}

// The fast path's Name of a name not in the zone aliases the reader's
// scratch, which the next query overwrites: the log must keep its own copy.
func TestQueryLogCopiesName(t *testing.T) {
	var out bytes.Buffer
	ql, err := newQueryLog(true, "", "text", &out, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	scratch := []byte("first.example.test.")
	ql.add(&dnssrv.Observation{Name: unsafe.String(&scratch[0], len(scratch)), Qtype: dns.TypeA,
		Rcode: dns.RcodeNameError, Src: netip.MustParseAddrPort("192.0.2.1:53")})
	copy(scratch, "xxxxx")
	ql.close()
	if got := out.String(); !strings.Contains(got, "name=first.example.test.") {
		t.Errorf("query log line %q, want name=first.example.test.", got)
	}
}
