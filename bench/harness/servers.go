package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// server is one running DNS server under test.
type server struct {
	name string
	port int
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop ends the server with SIGTERM, then SIGKILL after 5 seconds.
func (s *server) stop() {
	if s == nil || !s.alive() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// launch starts argv pinned to cpu (a taskset list; "" for no pinning).
// taskset execs the program, so the PID is the server's own. Its output
// is kept for error messages (read it only once the process has ended).
func launch(name string, port int, cpu string, argv ...string) (*server, error) {
	if cpu != "" {
		argv = append([]string{"taskset", "-c", cpu}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	logBuf := new(bytes.Buffer)
	cmd.Stdout = logBuf // the same writer twice: exec writes from one goroutine
	cmd.Stderr = logBuf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &server{name: name, port: port, cmd: cmd, log: logBuf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	return s, nil
}

// startGslb runs bin/gslb serve on the bench zones and waits for /readyz.
func startGslb(c *loadConfig) (*server, error) {
	s, err := launch("gslb", c.gslbPort, c.serverCPU, c.gslb, "serve",
		"--zones", c.zones,
		"--listen", fmt.Sprintf("127.0.0.1:%d", c.gslbPort),
		"--http", c.gslbHTTP,
		"--geoip", c.geoip,
		"--log-level", "warn")
	if err != nil {
		return nil, err
	}
	if _, err := s.waitReady(c.gslbHTTP, 30*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%v:\n%s", err, s.log.String())
	}
	return s, waitDNS(s)
}

// waitReady polls gslb's /readyz on httpAddr every 20 ms until it answers
// 200 and returns how long that took; it fails when the process exits or
// limit passes first (the caller stops it and may then read its log).
func (s *server) waitReady(httpAddr string, limit time.Duration) (time.Duration, error) {
	t0 := time.Now()
	url := "http://" + httpAddr + "/readyz"
	cl := &http.Client{Timeout: time.Second}
	for {
		if !s.alive() {
			return 0, fmt.Errorf("%s exited before it was ready", s.name)
		}
		if resp, err := cl.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(t0), nil
			}
		}
		if time.Since(t0) > limit {
			return 0, fmt.Errorf("%s not ready after %v", s.name, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// autoCPU resolves a -server-cpu or -load-cpu value: "auto" becomes cpu
// on a machine with two or more CPUs and "" (no pinning) on one.
func autoCPU(v, cpu string) string {
	if v != "auto" {
		return v
	}
	if runtime.NumCPU() >= 2 {
		return cpu
	}
	return ""
}

// startGdnsd copies bench/gdnsd to a scratch directory, fills in config.in
// and the GeoIP database, and runs `gdnsd -c DIR start` in the foreground.
func startGdnsd(c *loadConfig) (*server, error) {
	dir := filepath.Join(c.scratch, "gdnsd")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	for _, d := range []string{"zones", "geoip", "run", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	tmpl, err := os.ReadFile(filepath.Join(c.gdnsdConf, "config.in"))
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer(
		"@PORT@", strconv.Itoa(c.gdnsdPort),
		"@RUN_DIR@", filepath.Join(dir, "run"),
		"@STATE_DIR@", filepath.Join(dir, "state"),
	).Replace(string(tmpl))
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	zones, err := filepath.Glob(filepath.Join(c.gdnsdConf, "zones", "*"))
	if err != nil {
		return nil, err
	}
	for _, z := range zones {
		if err := copyFile(z, filepath.Join(dir, "zones", filepath.Base(z))); err != nil {
			return nil, err
		}
	}
	if err := copyFile(c.geoip, filepath.Join(dir, "geoip", "demo-city.mmdb")); err != nil {
		return nil, err
	}
	s, err := launch("gdnsd", c.gdnsdPort, c.serverCPU, c.gdnsdBin, "-c", dir, "start")
	if err != nil {
		return nil, err
	}
	return s, waitDNS(s)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// waitDNS waits until the server answers static.bench.test over UDP.
func waitDNS(s *server) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if !s.alive() {
			return fmt.Errorf("%s exited at start:\n%s", s.name, s.log.String())
		}
		if _, err := ask(s.port, "static.bench.test.", nil); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("%s does not answer on 127.0.0.1:%d after 30s:\n%s", s.name, s.port, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ask sends one A query, with an ECS /24 when subnet is not nil.
func ask(port int, name string, subnet net.IP) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.RecursionDesired = false
	if subnet != nil {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: subnet})
		m.Extra = append(m.Extra, o)
	}
	cl := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	r, _, err := cl.Exchange(m, fmt.Sprintf("127.0.0.1:%d", port))
	return r, err
}

// checkAnswers asks each workload's names once and says what differs from
// the data in bench/zones/bench.test.toml, so a broken server (or a zone
// edited on one side only) is caught before it is measured.
func checkAnswers(port int, server string, workloads []workload) []string {
	var probs []string
	addrs := func(m *dns.Msg) []string {
		var out []string
		for _, rr := range m.Answer {
			if a, ok := rr.(*dns.A); ok {
				out = append(out, a.A.String())
			}
		}
		return out
	}
	expect := func(what string, m *dns.Msg, err error, rcode int, n int, allowed ...string) {
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s: %v", what, err))
			return
		}
		got := addrs(m)
		if m.Rcode != rcode || len(got) != n {
			probs = append(probs, fmt.Sprintf("%s: %s with %d A records %v, want %s with %d",
				what, dns.RcodeToString[m.Rcode], len(got), got, dns.RcodeToString[rcode], n))
			return
		}
		for _, a := range got {
			ok := false
			for _, w := range allowed {
				if a == w {
					ok = true
				}
			}
			if !ok {
				probs = append(probs, fmt.Sprintf("%s: answered %s, want one of %v", what, a, allowed))
			}
		}
	}
	m, err := ask(port, "static.bench.test.", nil)
	expect("static.bench.test A", m, err, dns.RcodeSuccess, 1, "192.0.2.1")
	m, err = ask(port, "nx-0000.bench.test.", nil)
	expect("nx-0000.bench.test A", m, err, dns.RcodeNameError, 0)
	for _, w := range workloads {
		if w.gslbOnly && server != "gslb" {
			continue
		}
		switch w.name {
		case "rr":
			m, err = ask(port, "rr.bench.test.", nil)
			expect("rr.bench.test A", m, err, dns.RcodeSuccess, 4, "192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13")
		case "weighted":
			m, err = ask(port, "w.bench.test.", nil)
			expect("w.bench.test A", m, err, dns.RcodeSuccess, 1, "192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.23")
		case "geo":
			for i, want := range []string{"192.0.2.30", "192.0.2.31", "192.0.2.32"} {
				m, err = ask(port, "geo.bench.test.", net.IPv4(198, 18, byte(i), 0).To4())
				expect(fmt.Sprintf("geo.bench.test A ECS 198.18.%d.0/24", i), m, err, dns.RcodeSuccess, 1, want)
			}
		case "sticky":
			m, err = ask(port, "sticky.bench.test.", net.IPv4(198, 18, 0, 0).To4())
			expect("sticky.bench.test A ECS 198.18.0.0/24", m, err, dns.RcodeSuccess, 1, "192.0.2.40", "192.0.2.41", "192.0.2.42", "192.0.2.43")
		}
	}
	return probs
}

// portFree checks that addr can be bound for UDP and TCP.
func portFree(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	pc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}
