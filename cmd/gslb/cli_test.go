package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// runCmd runs the CLI as main does and returns exit code, stdout, stderr.
func runCmd(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunCommands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring; "" checks nothing
		stderr     string
		emptyOut   bool
		emptyError bool
	}{
		{name: "no args", args: nil, code: 2, stderr: "Usage:", emptyOut: true},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, emptyOut: true},
		{name: "version", args: []string{"version"}, code: 0, stdout: "gslb ", emptyError: true},
		{name: "--version", args: []string{"--version"}, code: 0, stdout: "gslb ", emptyError: true},
		{name: "help", args: []string{"help"}, code: 0, stdout: "gslb serve", emptyError: true},
		{name: "serve -h", args: []string{"serve", "-h"}, code: 0, stderr: "-zones"},
		{name: "check -h", args: []string{"check", "-h"}, code: 0, stderr: "Usage: gslb check"},
		{name: "explain -h", args: []string{"explain", "-h"}, code: 0, stderr: "-client"},
		{name: "serve stray argument", args: []string{"serve", "--zones", "testdata/zones", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{name: "serve unknown flag", args: []string{"serve", "--nope"}, code: 2, stderr: "flag provided but not defined: -nope"},
		{name: "explain without a name", args: []string{"explain", "--client", "81.2.69.142"}, code: 2, stderr: "Usage: gslb explain"},
		{name: "explain bad client", args: []string{"explain", "--zones", "testdata/zones", "--client", "nope", "www.example.test"}, code: 2, stderr: `invalid client "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, context.Background(), tt.args...)
			if code != tt.code {
				t.Errorf("gslb %q: exit %d, want %d\nstdout: %s\nstderr: %s", tt.args, code, tt.code, out, errs)
			}
			if !strings.Contains(out, tt.stdout) {
				t.Errorf("gslb %q: stdout %q, want it to contain %q", tt.args, out, tt.stdout)
			}
			if !strings.Contains(errs, tt.stderr) {
				t.Errorf("gslb %q: stderr %q, want it to contain %q", tt.args, errs, tt.stderr)
			}
			if tt.emptyOut && out != "" {
				t.Errorf("gslb %q: stdout %q, want nothing", tt.args, out)
			}
			if tt.emptyError && errs != "" {
				t.Errorf("gslb %q: stderr %q, want nothing", tt.args, errs)
			}
		})
	}
}

func TestVersionLine(t *testing.T) {
	code, out, _ := runCmd(t, context.Background(), "version")
	if code != 0 || !regexp.MustCompile(`^gslb \S+\n$`).MatchString(out) {
		t.Errorf("gslb version: exit %d, stdout %q; want 0 and one line \"gslb VERSION\"", code, out)
	}
}

func TestCheck(t *testing.T) {
	good := filepath.Join("testdata", "zones")
	bad := filepath.Join("testdata", "bad", "mistakes.test.toml")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // every line, in order (regexps)
		stderr []string // every line, in order (regexps)
	}{
		{
			name: "clean directory",
			args: []string{good},
			code: 0,
			stdout: []string{
				`^` + regexp.QuoteMeta(filepath.Join(good, "example.test.toml")) + `: zone example\.test\. ok: serial \d+, 8 names, 2 pools, 0 checks$`,
				`^` + regexp.QuoteMeta(filepath.Join(good, "other.test.toml")) + `: zone other\.test\. ok: serial \d+, 3 names, 0 pools, 0 checks$`,
			},
		},
		{
			name: "one clean file",
			args: []string{filepath.Join(good, "other.test.toml")},
			code: 0,
			stdout: []string{
				`^` + regexp.QuoteMeta(filepath.Join(good, "other.test.toml")) + `: zone other\.test\. ok: `,
			},
		},
		{
			name: "several mistakes",
			args: []string{bad},
			code: 2,
			stderr: []string{
				`^` + regexp.QuoteMeta(bad) + `:5:6: records\.ns1\.A: invalid address "198\.51\.100\.300"`,
				`^` + regexp.QuoteMeta(bad) + `:9:9: pools\.www\.check: no check named "web2"`,
				`^` + regexp.QuoteMeta(bad) + `:13:1: pools\.www\.endpoints\.wieght: unknown key`,
				`^3 error\(s\)$`,
			},
		},
		{
			name: "good and bad together: errors only, exit 2",
			args: []string{good, bad},
			code: 2,
			stderr: []string{
				`:5:6: `,
				`:9:9: `,
				`:13:1: `,
				`^3 error\(s\)$`,
			},
		},
		{
			name:   "missing path",
			args:   []string{filepath.Join("testdata", "no-such-dir")},
			code:   2,
			stderr: []string{`no-such-dir.*no such file or directory`, `^1 error\(s\)$`},
		},
		{
			name:   "no arguments",
			args:   nil,
			code:   2,
			stderr: []string{`^Usage: gslb check`, ``, `.*`, `.*`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, context.Background(), append([]string{"check"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("gslb check %q: exit %d, want %d\nstdout: %s\nstderr: %s", tt.args, code, tt.code, out, errs)
			}
			matchLines(t, "stdout", out, tt.stdout)
			matchLines(t, "stderr", errs, tt.stderr)
		})
	}
}

// matchLines checks that text has exactly len(want) lines, line i
// matching the regexp want[i].
func matchLines(t *testing.T, what, text string, want []string) {
	t.Helper()
	var got []string
	if text != "" {
		got = strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	}
	if len(got) != len(want) {
		t.Errorf("%s has %d lines, want %d:\n%s", what, len(got), len(want), text)
		return
	}
	for i := range want {
		if !regexp.MustCompile(want[i]).MatchString(got[i]) {
			t.Errorf("%s line %d = %q, want match for %q", what, i+1, got[i], want[i])
		}
	}
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zonesDir := filepath.Join("testdata", "zones")
	unknownKey := writeFile("unknown.toml", "zones = \"testdata/zones\"\nlisten_addr = [\"127.0.0.1:0\"]\n[tcp]\nmax_conn = 5\n")
	badSyntax := writeFile("syntax.toml", "zones = \"testdata/zones\"\nlisten = [\"127.0.0.1:0\"\n")
	badType := writeFile("type.toml", "max_udp_size = \"big\"\n")
	badDuration := writeFile("duration.toml", "[tcp]\nidle_timeout = \"soon\"\n")
	tests := []struct {
		name   string
		args   []string
		stderr []string // substrings
	}{
		{"missing zones directory", []string{"--zones", filepath.Join(dir, "nope")}, []string{"zones directory unusable", "nope"}},
		{"zones is a file", []string{"--zones", unknownKey}, []string{"zones directory unusable", "not a directory"}},
		{"bad log format", []string{"--zones", zonesDir, "--log-format", "xml"}, []string{`log format "xml": want text or json`}},
		{"bad log level", []string{"--zones", zonesDir, "--log-level", "loud"}, []string{`log level "loud"`}},
		{"config file with unknown keys", []string{"--config", unknownKey}, []string{unknownKey, "unknown key", "listen_addr", "tcp.max_conn"}},
		{"config file syntax error", []string{"--config", badSyntax}, []string{badSyntax + ":"}},
		{"config file type error", []string{"--config", badType}, []string{badType, "max_udp_size"}},
		{"config file bad duration", []string{"--config", badDuration}, []string{badDuration, `invalid duration "soon"`}},
		{"missing config file", []string{"--config", filepath.Join(dir, "none.toml")}, []string{"none.toml", "no such file"}},
		{"bad geoip file", []string{"--zones", zonesDir, "--geoip", unknownKey}, []string{"geoip database unusable"}},
		{"max UDP size too small", []string{"--zones", zonesDir, "--max-udp-size", "100"}, []string{"max UDP size 100: want 512 to 65535"}},
		{"max UDP size too large", []string{"--zones", zonesDir, "--max-udp-size", "70000"}, []string{"max UDP size 70000"}},
		{"empty listen", []string{"--zones", zonesDir, "--listen", ""}, []string{"no listen address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"serve", "--http", ""}
			if !slices.Contains(tt.args, "--listen") {
				args = append(args, "--listen", "127.0.0.1:0")
			}
			args = append(args, tt.args...)
			// The server must not start: were it to, the cancelled
			// context would stop it at once with exit 0.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			code, _, errs := runCmd(t, ctx, args...)
			if code != 2 {
				t.Errorf("gslb %q: exit %d, want 2\nstderr: %s", args, code, errs)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errs, s) {
					t.Errorf("gslb %q: stderr %q, want it to contain %q", args, errs, s)
				}
			}
		})
	}
}

func TestParseServeFlags(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "gslb.toml")
	err := os.WriteFile(cfgFile, []byte(`
listen = ["127.0.0.1:1053", "[::1]:1053"]
zones = "/srv/zones"
http = "127.0.0.1:9053"
geoip = ["a.mmdb"]
log_format = "json"
log_level = "debug"
max_udp_size = 1400
http_reload_token = "s3cret"
[ecs]
use = false
[chaos]
version = "hidden"
id = "node-7"
[tcp]
max_conns = 50
idle_timeout = "3s"
max_queries = 20
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fromFile := func(c *config) {
		c.Listen = []string{"127.0.0.1:1053", "[::1]:1053"}
		c.Zones = "/srv/zones"
		c.HTTP = "127.0.0.1:9053"
		c.GeoIP = []string{"a.mmdb"}
		c.LogFormat, c.LogLevel = "json", "debug"
		c.MaxUDPSize = 1400
		c.HTTPReloadToken = "s3cret"
		c.ECS.Use = false
		c.Chaos.Version, c.Chaos.ID = "hidden", "node-7"
		c.TCP.MaxConns, c.TCP.IdleTimeout, c.TCP.MaxQueries = 50, duration{3 * time.Second}, 20
	}
	tests := []struct {
		name string
		args []string
		want func(*config) // applied to defaultConfig()
	}{
		{"defaults", nil, func(*config) {}},
		{"flags", []string{"--zones", "z", "--listen", "127.0.0.1:1,127.0.0.1:2", "--listen", "[::1]:3", "--http", "", "--geoip", "x.mmdb", "--geoip", "y.mmdb",
			"--ecs=false", "--log-format", "json", "--log-level", "warn", "--max-udp-size", "512", "--chaos-version", "", "--chaos-id", "me"},
			func(c *config) {
				c.Zones, c.Listen, c.HTTP, c.GeoIP = "z", []string{"127.0.0.1:1", "127.0.0.1:2", "[::1]:3"}, "", []string{"x.mmdb", "y.mmdb"}
				c.ECS.Use, c.LogFormat, c.LogLevel, c.MaxUDPSize, c.Chaos.Version, c.Chaos.ID = false, "json", "warn", 512, "", "me"
			}},
		{"config file", []string{"--config", cfgFile}, fromFile},
		{"flags override the config file", []string{"--config", cfgFile, "--zones", "flagzones", "--listen", "127.0.0.1:0", "--http", "", "--ecs", "--log-format", "text", "--max-udp-size", "1232", "--chaos-id", "flag-id"},
			func(c *config) {
				fromFile(c)
				c.Zones, c.Listen, c.HTTP, c.ECS.Use, c.LogFormat, c.MaxUDPSize, c.Chaos.ID = "flagzones", []string{"127.0.0.1:0"}, "", true, "text", 1232, "flag-id"
			}},
		{"flags before and after --config alike", []string{"--zones", "flagzones", "--config", cfgFile}, func(c *config) {
			fromFile(c)
			c.Zones = "flagzones"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			got, err := parseServeFlags(fs, tt.args)
			if err != nil {
				t.Fatalf("parseServeFlags(%q): %v", tt.args, err)
			}
			want := defaultConfig()
			tt.want(&want)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("parseServeFlags(%q):\ngot  %s\nwant %s", tt.args, gj, wj)
			}
		})
	}
}

// A config file's settings reach the server, and flags win over them: the
// file names a zones directory that does not exist and a --zones flag
// names one that does, and the file asks for JSON logs.
func TestServeConfigFileAndFlags(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "gslb.toml")
	err := os.WriteFile(cfgFile, []byte("zones = \"/nonexistent/zones\"\nhttp = \"\"\nlog_format = \"json\"\nlisten = [\"127.0.0.1:0\"]\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // start, then stop at once
	code, _, errs := runCmd(t, ctx, "serve", "--config", cfgFile, "--zones", filepath.Join("testdata", "zones"))
	if code != 0 {
		t.Fatalf("serve with --config and --zones: exit %d, want 0\nstderr: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	var msgs []string
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q is not JSON (log_format from the config file ignored?): %v", l, err)
		}
		msgs = append(msgs, rec["msg"].(string))
	}
	for _, m := range []string{"zones loaded", "listening", "shutting down"} {
		if !slices.Contains(msgs, m) {
			t.Errorf("logs %q lack %q", msgs, m)
		}
	}
	if strings.Contains(errs, "http listening") {
		t.Errorf("http = \"\" in the config file did not disable HTTP:\n%s", errs)
	}
}

func TestConfigArg(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--config", "a.toml"}, "a.toml"},
		{[]string{"-config=b.toml"}, "b.toml"},
		{[]string{"--zones", "z", "--config=c.toml", "--http", ""}, "c.toml"},
		{[]string{"--zones", "z"}, ""},
		{[]string{"--", "--config", "d.toml"}, ""},
		{[]string{"--config"}, ""},
	}
	for _, tc := range tests {
		if got := configArg(tc.args); got != tc.want {
			t.Errorf("configArg(%q): got %q, want %q", tc.args, got, tc.want)
		}
	}
}
