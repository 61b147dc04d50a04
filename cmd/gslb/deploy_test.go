package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped systemd unit keeps its user, capability and sandbox, and
// systemd (where installed) accepts it.
func TestSystemdUnit(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "gslb.service")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: not key=value: %q", path, line)
			continue
		}
		set[k] = append(set[k], v)
	}
	want := map[string]string{
		"User":                  "gslb",
		"Group":                 "gslb",
		"ExecStart":             "/usr/local/bin/gslb serve --config /etc/gslb/gslb.toml",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"Restart":               "on-failure",
		"AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"ReadOnlyPaths":         "/etc/gslb -/var/lib/GeoIP",
		"ReadWritePaths":        "-/var/log/gslb",
	}
	for k, v := range want {
		if got := set[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s: %s = %q, want %q", path, k, got, v)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit's syntax is not verified")
		return
	}
	// verify wants ExecStart to exist: point it at a binary that does.
	unit := filepath.Join(t.TempDir(), "gslb.service")
	text := strings.Replace(string(b), "ExecStart=/usr/local/bin/gslb", "ExecStart=/bin/sh", 1)
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", unit).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
