package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gslb/gslb/zones"
)

// explainCases hold for the testdata zones and writeCityDB, whether
// explained by the running server or offline.
var explainCases = []struct {
	name   string
	args   []string // after the mode flags
	header string   // the first line
	steps  []string // regexps, each matching some step line, in order
	rcode  string
	answer []string // the answer lines, exactly
}{
	{
		name:   "country tier",
		args:   []string{"--client", "81.2.69.142", "www.example.test", "A"},
		header: "www.example.test. A for client 81.2.69.142",
		steps:  []string{`zone example\.test\. \(serial \d+, .*example\.test\.toml\)`, `pool "www" \(policy geo, 2 endpoints\)`, `tier country: GB matches 1 endpoint`},
		rcode:  "NOERROR",
		answer: []string{"www.example.test.\t30\tIN\tA\t192.0.2.10"},
	},
	{
		name:   "subnet as ECS carries it, flags after the name",
		args:   []string{"www.example.test", "--client", "216.160.83.0/24"},
		header: "www.example.test. A for client 216.160.83.0/24",
		steps:  []string{`tier continent: NA matches 1 endpoint`, `ECS scope /24`},
		rcode:  "NOERROR",
		answer: []string{"www.example.test.\t30\tIN\tA\t192.0.2.11"},
	},
	{
		name:   "networks tier",
		args:   []string{"--client", "203.0.113.7", "www.example.test"},
		header: "www.example.test. A for client 203.0.113.7",
		steps:  []string{`tier networks: 203\.0\.113\.7 is in a /24`},
		rcode:  "NOERROR",
		answer: []string{"www.example.test.\t30\tIN\tA\t192.0.2.11"},
	},
	{
		name:   "a client no database knows",
		args:   []string{"--client", "198.18.0.1", "www.example.test"},
		header: "www.example.test. A for client 198.18.0.1",
		steps:  []string{`not in any GeoIP database|no database knows it`},
		rcode:  "NOERROR",
	},
	{
		name:   "nxdomain",
		args:   []string{"nope.example.test", "AAAA"},
		header: "nope.example.test. AAAA",
		rcode:  "NXDOMAIN",
		answer: []string{"; authority: example.test.\t60\tIN\tSOA\tns1.example.test. hostmaster.example.test. SERIAL 3600 600 1209600 60"},
	},
	{
		name:   "outside our zones",
		args:   []string{"www.example.com"},
		header: "www.example.com. A",
		steps:  []string{`www\.example\.com\. is in none of our zones: REFUSED`},
		rcode:  "REFUSED",
		answer: []string{},
	},
}

// checkExplain compares explain's output with a case.
func checkExplain(t *testing.T, out string, header string, steps []string, rcode string, answer []string, serial uint32) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if lines[0] != header {
		t.Errorf("first line %q, want %q\n%s", lines[0], header, out)
	}
	ans := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "answer: ") {
			ans = i
		}
	}
	if ans < 0 {
		t.Fatalf("no answer line:\n%s", out)
	}
	if got := strings.TrimPrefix(lines[ans], "answer: "); got != rcode {
		t.Errorf("answer: %s, want %s\n%s", got, rcode, out)
	}
	stepLines := lines[1:ans]
	next := 0
	for _, s := range steps {
		re := regexp.MustCompile(s)
		for next < len(stepLines) && !re.MatchString(stepLines[next]) {
			next++
		}
		if next == len(stepLines) {
			t.Errorf("no step matching %q (in order):\n%s", s, out)
			break
		}
	}
	for i, l := range stepLines {
		if !regexp.MustCompile(`^  \d+\. `).MatchString(l) {
			t.Errorf("step line %d %q is not numbered", i+1, l)
		}
	}
	if answer != nil {
		got := []string{}
		for _, l := range lines[ans+1:] {
			got = append(got, strings.TrimPrefix(l, "  "))
		}
		want := make([]string, len(answer))
		for i, a := range answer {
			want[i] = strings.ReplaceAll(a, "SERIAL", fmt.Sprint(serial))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("answer lines\n got %q\nwant %q", got, want)
		}
	}
}

func TestExplainRemote(t *testing.T) {
	cfg := testConfig(copyZones(t, filepath.Join("testdata", "zones")))
	cfg.GeoIP = []string{writeCityDB(t)}
	ts := startServer(t, cfg)
	serial := serial(t, ts.dnsAddr, "example.test.")
	for _, server := range []string{strings.TrimPrefix(ts.httpURL, "http://"), ts.httpURL} {
		for _, tt := range explainCases {
			t.Run(server+"/"+tt.name, func(t *testing.T) {
				args := append([]string{"explain", "--server", server}, tt.args...)
				code, out, errs := runCmd(t, context.Background(), args...)
				if code != 0 {
					t.Fatalf("gslb %q: exit %d, want 0\n%s%s", args, code, out, errs)
				}
				checkExplain(t, out, tt.header, tt.steps, tt.rcode, tt.answer, serial)
				if strings.Contains(out, "offline") {
					t.Errorf("explain against a server says offline:\n%s", out)
				}
			})
		}
	}
}

func TestExplainOffline(t *testing.T) {
	dir := filepath.Join("testdata", "zones")
	db := writeCityDB(t)
	z, err := loadSerial(dir, "example.test.")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range explainCases {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"explain", "--zones", dir, "--geoip", db}, tt.args...)
			code, out, errs := runCmd(t, context.Background(), args...)
			if code != 0 {
				t.Fatalf("gslb %q: exit %d, want 0\n%s%s", args, code, out, errs)
			}
			steps := append([]string{`offline: no health checks run`}, tt.steps...)
			checkExplain(t, out, tt.header, steps, tt.rcode, tt.answer, z)
		})
	}
}

func TestExplainErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no server", []string{"--server", fmt.Sprintf("127.0.0.1:%d", closedPort(t)), "--client", "81.2.69.142", "www.example.test"}, 1, "is the server running"},
		{"missing zones dir", []string{"--zones", filepath.Join(t.TempDir(), "nope"), "www.example.test"}, 1, "no such file"},
		{"bad geoip file", []string{"--zones", filepath.Join("testdata", "zones"), "--geoip", filepath.Join("testdata", "zones", "other.test.toml"), "www.example.test"}, 1, "other.test.toml"},
		{"bad type", []string{"--zones", filepath.Join("testdata", "zones"), "www.example.test", "BOGUS"}, 2, `unknown type "BOGUS"`},
		{"bad type, remote", []string{"--server", fmt.Sprintf("127.0.0.1:%d", closedPort(t)), "www.example.test", "BOGUS"}, 2, `unknown type "BOGUS"`},
		{"bad client, remote", []string{"--server", fmt.Sprintf("127.0.0.1:%d", closedPort(t)), "--client", "81.2.69", "www.example.test"}, 2, `invalid client "81.2.69"`},
		{"too many arguments", []string{"--zones", filepath.Join("testdata", "zones"), "www.example.test", "A", "extra"}, 2, "Usage:"},
		{"unknown flag", []string{"--nope", "www.example.test"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, context.Background(), append([]string{"explain"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) {
				t.Errorf("gslb explain %q: exit %d, stderr %q; want %d and %q\nstdout: %s", tt.args, code, errs, tt.code, tt.stderr, out)
			}
		})
	}
}

// loadSerial is the serial offline explain sees for origin in dir: it
// loads the directory the same way.
func loadSerial(dir, origin string) (uint32, error) {
	snap, err := zones.NewLoader(dir).Load()
	if err != nil {
		return 0, err
	}
	z := snap.Zone(origin)
	if z == nil {
		return 0, fmt.Errorf("no zone %s in %s", origin, dir)
	}
	return z.Serial, nil
}
