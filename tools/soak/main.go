// Command soak runs gslb under dnsperf for a while with its zones and
// health changing underneath, and reports whether it held up: no query
// lost, goroutines not growing, RSS flat within 10%.
//
// It serves a temporary copy of the example zones plus soak.test, a zone
// it rewrites every second (a new serial and TXT each time; every fifth
// write in place rather than by rename, so a reload may read a half-written
// file and must keep the last good version). soak.test has a pool whose
// health check points at a tiny HTTP server here that flaps between 200
// and 503. RSS comes from /proc, goroutines from gslb's /metrics.
//
// Usage (make soak runs it):
//
//	go run ./tools/soak -gslb bin/gslb -minutes 2
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	gslb := flag.String("gslb", "bin/gslb", "the gslb binary")
	zonesDir := flag.String("zones", "docs/examples/zones", "zones to serve beside soak.test")
	minutes := flag.Float64("minutes", 2, "how long dnsperf runs")
	qps := flag.Int("qps", 5000, "dnsperf's query rate")
	flag.Parse()
	if err := run(*gslb, *zonesDir, time.Duration(*minutes*float64(time.Minute)), *qps); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func freePort() (int, error) {
	// A port free for both UDP and TCP, as gslb binds both.
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// flapper answers health checks: 200 or 503, switching every period, on
// 127.0.0.1 and 127.0.0.2 with different periods.
type flapper struct {
	hits atomic.Int64
	srvs []*http.Server
	port int
}

func startFlapper() (*flapper, error) {
	f := &flapper{}
	start := time.Now()
	for i, period := range []time.Duration{2 * time.Second, 3 * time.Second} {
		addr := fmt.Sprintf("127.0.0.%d:%d", i+1, f.port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		if f.port == 0 {
			f.port = ln.Addr().(*net.TCPAddr).Port
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.hits.Add(1)
			if int(time.Since(start)/period)%2 == 0 {
				w.WriteHeader(http.StatusOK)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}), ReadHeaderTimeout: time.Second}
		go srv.Serve(ln)
		f.srvs = append(f.srvs, srv)
	}
	return f, nil
}

func (f *flapper) close() {
	for _, s := range f.srvs {
		s.Close()
	}
}

// soakZone is soak.test at serial n.
func soakZone(n, checkPort int) string {
	return fmt.Sprintf(`# rewritten every second by tools/soak
ttl = 60
ns = ["ns1.example.test."]

[soa]
serial = %d
minimum = 30

[records."@"]
TXT = ["rewrite %d"]

[records.static]
A = ["192.0.2.200"]
TXT = ["generation %d"]

[pools.flap]
addresses = ["127.0.0.1", "127.0.0.2", "2001:db8::200"]
ttl = 10
check = "flap"

[checks.flap]
type = "http"
port = %d
path = "/health"
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1
`, n, n, n, checkPort)
}

const queries = `www.example.test A
www.example.test AAAA
api.example.test A
app.example.test A
docs.example.test A
example.test SOA
example.test NS
example.test MX
mail.example.test A
nope.example.test A
x.dev.example.test TXT
flap.soak.test A
flap.soak.test AAAA
static.soak.test A
static.soak.test TXT
soak.test TXT
soak.test SOA
missing.soak.test A
`

// sample is one reading of the server's resources.
type sample struct {
	at         time.Duration
	rssKB      int64
	goroutines int64 // -1 when /metrics did not say
}

func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return -1
}

var goroutinesRE = regexp.MustCompile(`(?m)^go_goroutines (\d+)`)

func readGoroutines(httpAddr string) int64 {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	m := goroutinesRE.FindSubmatch(b)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// status is what the soak reads from gslb's /status.
type status struct {
	LastReload struct {
		Count    int `json:"count"`
		Failures int `json:"failures"`
	} `json:"last_reload"`
	Transitions []json.RawMessage `json:"recent_transitions"`
}

func readStatus(httpAddr string) (status, error) {
	var st status
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + httpAddr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

func copyZones(from, to string) error {
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".toml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func run(gslb, zonesDir string, dur time.Duration, qps int) error {
	tmp, err := os.MkdirTemp("", "gslb-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	zdir := filepath.Join(tmp, "zones")
	if err := os.Mkdir(zdir, 0o755); err != nil {
		return err
	}
	if err := copyZones(zonesDir, zdir); err != nil {
		return err
	}
	fl, err := startFlapper()
	if err != nil {
		return err
	}
	defer fl.close()
	soakFile := filepath.Join(zdir, "soak.test.toml")
	if err := os.WriteFile(soakFile, []byte(soakZone(1, fl.port)), 0o644); err != nil {
		return err
	}
	qfile := filepath.Join(tmp, "queries")
	if err := os.WriteFile(qfile, []byte(queries), 0o644); err != nil {
		return err
	}
	dnsPort, err := freePort()
	if err != nil {
		return err
	}
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", httpPort)

	logf, err := os.Create(filepath.Join(tmp, "gslb.log"))
	if err != nil {
		return err
	}
	srv := exec.Command(gslb, "serve", "--zones", zdir, "--listen", dnsAddr, "--http", httpAddr, "--log-level", "warn")
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
		}
	}()
	ready := false
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = true
				break
			}
		}
	}
	if !ready {
		return fmt.Errorf("gslb not ready on %s after 10s (log in %s)", httpAddr, logf.Name())
	}
	fmt.Printf("soak: gslb pid %d on %s (http %s), dnsperf %d qps for %v, zone rewritten every second, health flapping\n",
		srv.Process.Pid, dnsAddr, httpAddr, qps, dur)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var rewrites atomic.Int64
	wg.Add(1)
	go func() { // the zone rewriter
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for n := 2; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			body := []byte(soakZone(n, fl.port))
			if n%5 == 0 { // in place: a reload may see it half written
				_ = os.WriteFile(soakFile, body, 0o644)
			} else {
				tmpf := soakFile + ".tmp"
				if os.WriteFile(tmpf, body, 0o644) == nil {
					_ = os.Rename(tmpf, soakFile)
				}
			}
			rewrites.Add(1)
		}
	}()
	var mu sync.Mutex
	var samples []sample
	start := time.Now()
	take := func() {
		s := sample{at: time.Since(start).Round(time.Second), rssKB: readRSS(srv.Process.Pid), goroutines: readGoroutines(httpAddr)}
		mu.Lock()
		samples = append(samples, s)
		mu.Unlock()
	}
	wg.Add(1)
	go func() { // the sampler
		defer wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		take()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				take()
			}
		}
	}()

	perf := exec.CommandContext(ctx, "dnsperf", "-s", "127.0.0.1", "-p", strconv.Itoa(dnsPort), "-d", qfile,
		"-l", strconv.Itoa(int(dur.Seconds())), "-Q", strconv.Itoa(qps), "-c", "8", "-T", "2", "-t", "2", "-S", "30")
	out, err := perf.CombinedOutput()
	take()
	st, stErr := readStatus(httpAddr)
	cancel()
	wg.Wait()
	fmt.Print(indent(string(out)))
	if err != nil {
		return fmt.Errorf("dnsperf: %v", err)
	}
	select {
	case err := <-exited:
		return fmt.Errorf("gslb exited during the soak: %v (log in %s)", err, logf.Name())
	default:
	}
	if stErr != nil {
		return fmt.Errorf("/status: %v", stErr)
	}
	fmt.Printf("soak: gslb reloaded %d times (%d with a file rejected), %d recent health transitions\n",
		st.LastReload.Count, st.LastReload.Failures, len(st.Transitions))
	return report(string(out), samples, rewrites.Load(), fl.hits.Load(), logf.Name())
}

func indent(s string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		b.WriteString("  | " + sc.Text() + "\n")
	}
	return b.String()
}

var (
	sentRE = regexp.MustCompile(`Queries sent:\s+(\d+)`)
	lostRE = regexp.MustCompile(`Queries lost:\s+(\d+)`)
)

func report(perf string, samples []sample, rewrites, hits int64, logFile string) error {
	num := func(re *regexp.Regexp) int64 {
		m := re.FindStringSubmatch(perf)
		if m == nil {
			return -1
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	sent, lost := num(sentRE), num(lostRE)
	fmt.Println("soak: samples (time, RSS, goroutines):")
	for _, s := range samples {
		fmt.Printf("  %6v  %7d KB  %5d\n", s.at, s.rssKB, s.goroutines)
	}
	// The baseline is taken after a warm-up (the first 20 s, or the
	// second sample of a short run): the heap and the zone generations
	// settle first.
	base := samples[0]
	for _, s := range samples {
		if s.at >= 20*time.Second || s.at >= samples[len(samples)-1].at/4 {
			base = s
			break
		}
	}
	last := samples[len(samples)-1]
	rssChange := float64(last.rssKB-base.rssKB) / float64(base.rssKB)
	fmt.Printf("soak: queries sent %d, lost %d\n", sent, lost)
	fmt.Printf("soak: RSS %d KB at %v, %d KB at the end (%+.1f%%)\n", base.rssKB, base.at, last.rssKB, 100*rssChange)
	fmt.Printf("soak: goroutines %d at %v, %d at the end\n", base.goroutines, base.at, last.goroutines)
	fmt.Printf("soak: %d zone rewrites, %d health probes answered by the flapper\n", rewrites, hits)
	var fails []string
	if sent <= 0 || lost != 0 {
		fails = append(fails, fmt.Sprintf("%d queries lost of %d", lost, sent))
	}
	if rssChange > 0.10 || rssChange < -0.10 {
		fails = append(fails, fmt.Sprintf("RSS changed %+.1f%% (limit 10%%)", 100*rssChange))
	}
	if base.goroutines >= 0 && last.goroutines > base.goroutines+5 {
		fails = append(fails, fmt.Sprintf("goroutines grew from %d to %d", base.goroutines, last.goroutines))
	}
	if hits == 0 {
		fails = append(fails, "no health probe reached the flapper")
	}
	if len(fails) > 0 {
		fmt.Println("soak: FAIL:", strings.Join(fails, "; "))
		return errors.New("failed")
	}
	fmt.Println("soak: PASS")
	return nil
}
