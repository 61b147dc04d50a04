package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type loadConfig struct {
	gslb, gdnsdBin, gdnsdConf string
	zones, geoip, queries     string
	dnsperf                   string
	gslbPort, gdnsdPort       int
	gslbHTTP                  string
	serverCPU, loadCPU        string
	rounds                    int
	mainStep, varStep         time.Duration
	mainFixed, varFixed       time.Duration
	mainSteps, varSteps       int
	rates                     []int
	window, timeout           int
	workloads                 []workload
	servers                   []string
	out, scratch              string
	quiet                     float64
	maxSteal                  float64
	pairs                     int
}

// workload is one query mix: a query file, optionally ECS, and which
// servers can serve it.
type workload struct {
	name       string
	file       string // in the queries directory
	ecs        bool   // rotate ECS 198.18.0.0/24, .1.0/24, .2.0/24 between runs
	gslbOnly   bool
	step       time.Duration
	fixed      time.Duration
	steps      int
	mainResult bool
}

var allWorkloads = []workload{
	{name: "rr", file: "rr.txt", mainResult: true},
	{name: "weighted", file: "weighted.txt"},
	{name: "geo", file: "geo.txt", ecs: true},
	{name: "sticky", file: "sticky.txt", ecs: true, gslbOnly: true},
}

// result is one server on one workload in one round.
type result struct {
	Server   string           `json:"server"`
	Workload string           `json:"workload"`
	Round    int              `json:"round"`
	Probe    perfRun          `json:"probe"`          // unpaced, to aim the search
	Steps    []perfRun        `json:"steps"`          // the search, in order
	MaxQPS   float64          `json:"max_qps"`        // highest sustained rate
	Bound    string           `json:"bound"`          // what stopped the next step up
	Fixed    map[int]*perfRun `json:"fixed"`          // by rate
	At80     *perfRun         `json:"at80,omitempty"` // latency at 80% of MaxQPS (main workload)
	RSS      int64            `json:"rss_bytes"`
	HWM      int64            `json:"peak_rss_bytes"`
	Problems []string         `json:"problems,omitempty"`
	Noise    float64          `json:"noise_cores"` // most CPU others used during a run
	Steal    float64          `json:"steal_cores"` // most CPU the hypervisor took during a run
}

func loadMain(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	c := &loadConfig{}
	fs.StringVar(&c.gslb, "gslb", "bin/gslb", "gslb binary")
	fs.StringVar(&c.gdnsdBin, "gdnsd", "gdnsd", "gdnsd binary")
	fs.StringVar(&c.gdnsdConf, "gdnsd-conf", "bench/gdnsd", "gdnsd config directory (config.in and zones/)")
	fs.StringVar(&c.zones, "zones", "bench/zones", "gslb zones directory")
	fs.StringVar(&c.geoip, "geoip", "docs/examples/demo-city.mmdb", "GeoIP2 City database for both servers")
	fs.StringVar(&c.queries, "queries", "bench/out/queries", "directory of query files (bench/genqueries.sh)")
	fs.StringVar(&c.dnsperf, "dnsperf", "dnsperf", "dnsperf binary")
	fs.IntVar(&c.gslbPort, "gslb-port", 25353, "UDP port for gslb")
	fs.IntVar(&c.gdnsdPort, "gdnsd-port", 25354, "UDP port for gdnsd")
	fs.StringVar(&c.gslbHTTP, "gslb-http", "127.0.0.1:28053", "gslb's status address (for /readyz)")
	fs.StringVar(&c.serverCPU, "server-cpu", "auto", `taskset CPU list for the servers; "auto": 1 when there are 2+ CPUs; "": no pinning`)
	fs.StringVar(&c.loadCPU, "load-cpu", "auto", `taskset CPU list for dnsperf; "auto": 0 when there are 2+ CPUs`)
	fs.IntVar(&c.rounds, "rounds", 2, "rounds of gslb then gdnsd (A B A B ...)")
	fs.IntVar(&c.pairs, "pairs", 0, "then, with both servers up, alternate N fixed-rate runs of each per workload and rate (pairs.go)")
	fs.DurationVar(&c.mainStep, "step", 5*time.Second, "length of each search step, main workload")
	fs.DurationVar(&c.varStep, "variant-step", 4*time.Second, "length of each search step, variants")
	fs.DurationVar(&c.mainFixed, "fixed", 8*time.Second, "length of each fixed-rate run, main workload")
	fs.DurationVar(&c.varFixed, "variant-fixed", 5*time.Second, "length of each fixed-rate run, variants")
	fs.IntVar(&c.mainSteps, "search-steps", 6, "search steps for the max QPS, main workload")
	fs.IntVar(&c.varSteps, "variant-search-steps", 4, "search steps for the max QPS, variants")
	rates := fs.String("rates", "10000,60000", "fixed rates for CPU per query and latency")
	fs.IntVar(&c.window, "window", 100, "dnsperf -q: queries in flight at most")
	fs.IntVar(&c.timeout, "timeout", 1, "dnsperf -t: seconds before an unanswered query counts as lost")
	wl := fs.String("workloads", "rr,weighted,geo,sticky", "workloads to run: rr, weighted, geo, sticky")
	srv := fs.String("servers", "gslb,gdnsd", "servers to run")
	fs.StringVar(&c.out, "out", "bench/out", "directory for the report and raw JSON")
	fs.Float64Var(&c.quiet, "quiet", 0.3, "before each block wait (up to 30s) until other processes use less than this many cores")
	fs.Float64Var(&c.maxSteal, "max-steal", 0.1, "repeat a fixed-rate run (up to twice) when the hypervisor took at least this many cores during it")
	_ = fs.Parse(args)

	for _, s := range strings.Split(*rates, ",") {
		var r int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &r); err != nil || r <= 0 {
			return fmt.Errorf("bad -rates %q", *rates)
		}
		c.rates = append(c.rates, r)
	}
	for _, name := range strings.Split(*wl, ",") {
		found := false
		for _, w := range allWorkloads {
			if w.name == strings.TrimSpace(name) {
				w.step, w.fixed, w.steps = c.varStep, c.varFixed, c.varSteps
				if w.mainResult {
					w.step, w.fixed, w.steps = c.mainStep, c.mainFixed, c.mainSteps
				}
				c.workloads = append(c.workloads, w)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("unknown workload %q", name)
		}
	}
	for _, s := range strings.Split(*srv, ",") {
		s = strings.TrimSpace(s)
		if s != "gslb" && s != "gdnsd" {
			return fmt.Errorf("unknown server %q", s)
		}
		c.servers = append(c.servers, s)
	}
	c.serverCPU, c.loadCPU = autoCPU(c.serverCPU, "1"), autoCPU(c.loadCPU, "0")
	for _, bin := range []string{c.dnsperf, c.gdnsdBin} {
		if _, err := exec.LookPath(bin); err != nil && !strings.Contains(*srv, "gdnsd") && bin == c.gdnsdBin {
			continue
		} else if err != nil {
			return fmt.Errorf("%s not found (make bench-load installs dnsperf and gdnsd)", bin)
		}
	}
	// Another server on one of our ports would answer in our place.
	for _, a := range []string{fmt.Sprintf("127.0.0.1:%d", c.gslbPort), fmt.Sprintf("127.0.0.1:%d", c.gdnsdPort), c.gslbHTTP} {
		if err := portFree(a); err != nil {
			return fmt.Errorf("%v: something else listens there; choose other ports with -gslb-port, -gdnsd-port, -gslb-http", err)
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	var err error
	if c.scratch, err = os.MkdirTemp("", "gslb-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(c.scratch)

	stamp := time.Now().Format("20060102-150405")
	reportPath := filepath.Join(c.out, "bench-load-"+stamp+".txt")
	report, err := os.Create(reportPath)
	if err != nil {
		return err
	}
	defer report.Close()
	w := io.MultiWriter(os.Stdout, report)
	logf := func(format string, a ...any) {
		fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}

	// Stop whatever server runs if we are interrupted.
	var current *server
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		current.stop()
		os.Exit(130)
	}()

	printMachine(w, c)
	opts := perfOpts{bin: c.dnsperf, loadCPU: c.loadCPU, window: c.window, timeout: c.timeout, scratch: c.scratch, quiet: c.quiet,
		progress: func(s string) { logf("  %s", s) }}
	var results []*result
	start := time.Now()
	var skipped []string
	ecsRun := 0 // rotates the client subnet between runs, the same sequence for every server
	for round := 1; round <= c.rounds; round++ {
		for _, sname := range c.servers {
			load, waited := waitQuiet(c.quiet, 30*time.Second)
			if waited > 0 {
				logf("waited %s for the machine to quieten (others used %.2f cores)", waited.Round(time.Second), load)
			}
			s, err := startServer(c, sname)
			if err != nil {
				return err
			}
			current = s
			logf("round %d: %s up, pid %d, port %d", round, sname, s.pid(), s.port)
			probs := checkAnswers(s.port, sname, c.workloads)
			for _, p := range probs {
				logf("  ANSWER CHECK: %s", p)
			}
			// Warm up (page faults, runtime start-up) before measuring.
			if _, err := runPerf(opts, s.port, s.pid(), filepath.Join(c.queries, "rr.txt"), 10000, 2, "", false); err != nil {
				logf("  warm-up run failed: %v", err)
			}
			ecsRun = 0
			var block []*result
			for _, wk := range c.workloads {
				if wk.gslbOnly && sname != "gslb" {
					continue
				}
				prev := 0.0 // this server's best on this workload in earlier rounds
				for _, r := range results {
					if r.Server == sname && r.Workload == wk.name {
						prev = math.Max(prev, r.MaxQPS)
					}
				}
				res, err := measure(c, opts, s, wk, round, prev, &ecsRun, logf)
				if err != nil && !s.alive() {
					// Seen on the shared machine: the server ended by a signal
					// from outside. Start it again and repeat the workload once.
					logf("  %s exited during %s (%s)%s; starting it again to repeat the workload",
						sname, wk.name, s.cmd.ProcessState, indentLog(s.log.String()))
					if s, err = startServer(c, sname); err != nil {
						return err
					}
					current = s
					logf("round %d: %s up again, pid %d", round, sname, s.pid())
					res, err = measure(c, opts, s, wk, round, prev, &ecsRun, logf)
					if err != nil && !s.alive() {
						return fmt.Errorf("%s exited again during %s (%s): %w\n%s", sname, wk.name, s.cmd.ProcessState, err, s.log.String())
					}
				}
				if err != nil {
					logf("  %s %s round %d SKIPPED: %v", sname, wk.name, round, err)
					skipped = append(skipped, fmt.Sprintf("%s %s round %d: %v", sname, wk.name, round, err))
					continue
				}
				res.Problems = probs
				block = append(block, res)
			}
			if sname == "gslb" {
				if n, ok := rrlLimited(c.gslbHTTP); ok && n > 0 {
					logf("  WARNING: gslb's rate limiting acted on %d replies: the figures are not of the plain query path", n)
				} else if ok {
					logf("  gslb_dns_rrl_limited_total: 0 (loopback exempt)")
				}
			}
			rss, hwm, _ := procStatus(s.pid())
			for _, r := range block {
				r.RSS, r.HWM = rss, hwm
			}
			logf("round %d: %s done, VmRSS %s, VmHWM %s", round, sname, mib(rss), mib(hwm))
			s.stop()
			current = nil
			results = append(results, block...)
		}
	}
	var pairs []*pairResult
	if c.pairs > 0 {
		if pairs, err = runPairs(c, opts, logf); err != nil {
			return err
		}
	}
	logf("all runs done in %s", time.Since(start).Round(time.Second))
	if c.rounds > 0 {
		printTables(w, c, results)
	}
	if len(pairs) > 0 {
		printPairs(w, pairs)
	}
	worst, steal := 0.0, 0.0
	for _, r := range results {
		worst, steal = math.Max(worst, r.Noise), math.Max(steal, r.Steal)
	}
	if worst >= c.quiet || steal >= 0.1 {
		fmt.Fprintf(w, "\nWARNING: other processes used up to %.2f cores and the hypervisor took up to %.2f cores\n"+
			"during single runs: the figures are disturbed (see the others/steal columns of every run).\n", worst, steal)
	}
	for _, sk := range skipped {
		fmt.Fprintf(w, "SKIPPED (not in the means): %s\n", sk)
	}

	raw, _ := json.MarshalIndent(results, "", "  ")
	rawPath := filepath.Join(c.out, "bench-load-"+stamp+".json")
	if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
		return err
	}
	if len(pairs) > 0 {
		raw, _ = json.MarshalIndent(pairs, "", "  ")
		if err := os.WriteFile(filepath.Join(c.out, "bench-pairs-"+stamp+".json"), raw, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nreport: %s\nraw results: %s\n", reportPath, rawPath)
	return nil
}

// measure runs one workload against one server: an unpaced probe, the
// search for the highest sustained rate, then the fixed-rate runs.
func measure(c *loadConfig, o perfOpts, s *server, wk workload, round int, prev float64, ecsRun *int, logf func(string, ...any)) (*result, error) {
	res := &result{Server: s.name, Workload: wk.name, Round: round, Fixed: map[int]*perfRun{}}
	file := filepath.Join(c.queries, wk.file)
	nextECS := func() string {
		if !wk.ecs {
			return ""
		}
		e := ecsOption(198, 18, byte(*ecsRun%3))
		*ecsRun++
		return e
	}
	secs := wk.step.Seconds()
	run := func(rate int, secs float64, verbose bool) (perfRun, error) {
		r, err := runPerf(o, s.port, s.pid(), file, rate, secs, nextECS(), verbose)
		if err == nil {
			res.Noise = math.Max(res.Noise, r.otherBusy())
			res.Steal = math.Max(res.Steal, r.stealBusy())
		}
		return r, err
	}

	// 1. Unpaced: as fast as the window of queries in flight allows. Only
	// an aim for the search (it swings with scheduling on a shared VM).
	p, err := run(0, secs, false)
	if err != nil {
		return nil, err
	}
	res.Probe = p
	logf("  %-6s %-8s probe   %7.0f qps  loss %.3f%%  server %3.0f%%  dnsperf %3.0f%%  others %3.0f%%  steal %3.0f%%",
		s.name, wk.name, p.QPS, 100*p.LossFrac(), 100*p.serverBusy(), 100*p.loadBusy(), 100*p.otherBusy(), 100*p.stealBusy())

	// 2. The highest rate dnsperf's -Q holds with < 0.1% loss: widen a
	// bracket from the probe's rate, then halve it.
	const grain = 500
	roundTo := func(v float64) int { return max(grain, int(math.Round(v/grain))*grain) }
	lo, hi := 0, 0 // lo: highest rate that held; hi: lowest that did not (0: none yet)
	var loRun, hiRun *perfRun
	// Aim at the probe's rate, or near an earlier round's result when the
	// probe came out lower (a disturbed probe would waste the steps).
	next := roundTo(math.Max(p.QPS*0.95, prev*0.9))
	for i := 0; i < wk.steps; i++ {
		r, err := run(next, secs, false)
		if err != nil {
			return nil, err
		}
		if !r.Sustained() && r.otherBusy() >= c.quiet {
			// Someone else's build or test took the CPU: wait for a quiet
			// moment and run the step once more.
			res.Steps = append(res.Steps, r)
			load, _ := waitQuiet(c.quiet, 10*time.Second)
			logf("  %-6s %-8s step %d  -Q %6d failed while others used %.0f%% of a core; again (others now %.0f%%)",
				s.name, wk.name, i+1, next, 100*r.otherBusy(), 100*load)
			if r, err = run(next, secs, false); err != nil {
				return nil, err
			}
		}
		res.Steps = append(res.Steps, r)
		ok := r.Sustained()
		verdict := "held"
		if !ok {
			verdict = "FAILED"
		}
		logf("  %-6s %-8s step %d  -Q %6d: %7.0f qps  loss %.3f%%  server %3.0f%%  dnsperf %3.0f%%  others %3.0f%%  steal %3.0f%%  %s",
			s.name, wk.name, i+1, next, r.QPS, 100*r.LossFrac(), 100*r.serverBusy(), 100*r.loadBusy(), 100*r.otherBusy(), 100*r.stealBusy(), verdict)
		rr := r
		if ok {
			lo, loRun = next, &rr
		} else {
			hi, hiRun = next, &rr
		}
		switch {
		case hi == 0:
			next = roundTo(float64(lo) * 1.4)
		case lo == 0:
			next = roundTo(float64(hi) * 0.6)
		default:
			next = roundTo(float64(lo+hi) / 2)
		}
		if hi != 0 && next >= hi || next <= lo {
			break // the bracket is as narrow as the grain
		}
	}
	if loRun != nil {
		res.MaxQPS = loRun.QPS
	}
	res.Bound = boundBy(hiRun, hi == 0)

	// The measuring runs below (latency, CPU per query): CPU the
	// hypervisor takes (steal) inflates both and swings from one run to
	// the next on a shared VM, so such a run is repeated, up to twice,
	// and the least disturbed one kept.
	measure := func(rate int) (perfRun, error) {
		// A repeat asks with the same subnet: the order stays the same for both servers.
		r, err := leastStolen(c, o, s, file, rate, wk.fixed.Seconds(), nextECS(), wk.name, logf)
		if err == nil {
			res.Noise = math.Max(res.Noise, r.otherBusy())
			res.Steal = math.Max(res.Steal, r.stealBusy())
		}
		return r, err
	}

	// 3. The main workload's latency at 80% of its own max (the issue's
	// target: p99 under 1 ms there).
	if wk.mainResult && res.MaxQPS > 0 {
		rate := roundTo(0.8 * res.MaxQPS)
		r, err := measure(rate)
		if err != nil {
			return nil, err
		}
		res.At80 = &r
		logf("  %-6s %-8s 80%%: -Q %6d: %7.0f qps  loss %.3f%%  p50 %4.0f µs  p99 %5.0f µs  others %3.0f%%  steal %3.0f%%",
			s.name, wk.name, rate, r.QPS, 100*r.LossFrac(), 1e6*r.P50, 1e6*r.P99, 100*r.otherBusy(), 100*r.stealBusy())
	}

	// 4. Fixed rates: server CPU per answered query, and latency (-v).
	for _, rate := range c.rates {
		r, err := measure(rate)
		if err != nil {
			return nil, err
		}
		rr := r
		res.Fixed[rate] = &rr
		logf("  %-6s %-8s %5dk   %7.0f qps  loss %.3f%%  cpu/q %5.1f µs (user %4.2f, sleeps/q %.2f)  p50 %4.0f µs  p99 %5.0f µs  dnsperf %3.0f%%  others %3.0f%%  steal %3.0f%%",
			s.name, wk.name, rate/1000, r.QPS, 100*r.LossFrac(), 1e6*r.CPUPerQuery(), 1e6*r.perQuery(r.ServerUser), r.perQuery(float64(r.ServerSleeps)),
			1e6*r.P50, 1e6*r.P99, 100*r.loadBusy(), 100*r.otherBusy(), 100*r.stealBusy())
	}
	return res, nil
}

// boundBy says what kept the first failed step from holding its rate.
func boundBy(fail *perfRun, noneFailed bool) string {
	if noneFailed || fail == nil {
		return "none hit"
	}
	sb, lb, ob := fail.serverBusy(), fail.loadBusy(), fail.otherBusy()
	switch {
	case sb >= 0.85 && sb >= lb:
		return "server"
	case lb >= 0.85:
		return "dnsperf"
	case ob >= 0.3:
		return "others"
	default:
		return "latency" // neither core full: the window of queries in flight
	}
}

func printMachine(w io.Writer, c *loadConfig) {
	fmt.Fprintf(w, "gslb load benchmark, %s\n", time.Now().Format(time.RFC3339))
	host, _ := os.Hostname()
	kernel, _ := exec.Command("uname", "-srm").Output()
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, model, _ = strings.Cut(l, ":")
				model = strings.TrimSpace(model)
				break
			}
		}
	}
	gver, _ := exec.Command(c.gslb, "version").CombinedOutput()
	pver, _ := exec.Command(c.dnsperf, "-h").CombinedOutput()
	dver := ""
	for _, l := range strings.Split(string(pver), "\n") {
		if strings.HasPrefix(l, "Version") {
			dver = strings.TrimSpace(l)
		}
	}
	fmt.Fprintf(w, "machine: %s, %d CPUs (%s), %s", host, runtime.NumCPU(), model, kernel)
	fmt.Fprintf(w, "gslb: %s", strings.TrimSpace(string(gver)))
	fmt.Fprintf(w, "\ngdnsd: %s; dnsperf %s\n", gdnsdVersion(c.gdnsdBin), dver)
	pin := "none (one CPU)"
	if c.serverCPU != "" || c.loadCPU != "" {
		pin = fmt.Sprintf("servers on CPU %s, dnsperf on CPU %s", orAny(c.serverCPU), orAny(c.loadCPU))
	}
	fmt.Fprintf(w, "pinning: %s; dnsperf -q %d -t %d; rounds %d (A B A B); rate limiting: gdnsd has none, gslb's exempts loopback (its default)\n\n",
		pin, c.window, c.timeout, c.rounds)
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func gdnsdVersion(bin string) string {
	out, _ := exec.Command("dpkg-query", "-W", "-f", "${Version}", "gdnsd").Output()
	if len(out) > 0 {
		return "Debian package " + string(out)
	}
	return bin
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// printTables prints every round, then the means per server and the
// gslb/gdnsd ratios per workload.
func printTables(w io.Writer, c *loadConfig, results []*result) {
	us := func(v float64) string { return fmt.Sprintf("%.1f", 1e6*v) }
	fixedCols := func(r *result) []string {
		var cols []string
		for _, rate := range c.rates {
			f := r.Fixed[rate]
			if f == nil {
				cols = append(cols, "-", "-", "-")
				continue
			}
			mark := ""
			if !f.Sustained() {
				mark = fmt.Sprintf(" (%.0f qps, %.2f%% lost)", f.QPS, 100*f.LossFrac())
			}
			cols = append(cols, us(f.CPUPerQuery())+mark, fmt.Sprintf("%s/%s", us(f.P50), us(f.P99)), us(f.Max))
		}
		return cols
	}
	hdr := []string{"workload", "server", "round", "max QPS", "bound", "probe QPS"}
	for _, rate := range c.rates {
		k := fmt.Sprintf("@%dk", rate/1000)
		hdr = append(hdr, "CPU/q µs "+k, "p50/p99 µs "+k, "max µs "+k)
	}
	hdr = append(hdr, "p50/p99 µs @80% max", "RSS MiB", "others", "steal")

	fmt.Fprintf(w, "\n== every run ==\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	sorted := append([]*result(nil), results...)
	order := map[string]int{}
	for i, wk := range c.workloads {
		order[wk.name] = i
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if order[a.Workload] != order[b.Workload] {
			return order[a.Workload] < order[b.Workload]
		}
		return a.Round < b.Round
	})
	for _, r := range sorted {
		row := []string{r.Workload, r.Server, fmt.Sprint(r.Round), fmt.Sprintf("%.0f", r.MaxQPS), r.Bound, fmt.Sprintf("%.0f", r.Probe.QPS)}
		row = append(row, fixedCols(r)...)
		at80 := "-"
		if r.At80 != nil {
			at80 = fmt.Sprintf("%s/%s (%.0f qps)", us(r.At80.P50), us(r.At80.P99), r.At80.QPS)
		}
		row = append(row, at80)
		row = append(row, fmt.Sprintf("%.1f", float64(r.RSS)/(1<<20)), fmt.Sprintf("%.2f", r.Noise), fmt.Sprintf("%.2f", r.Steal))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()

	// Means over rounds, and ratios.
	type agg struct {
		maxQPS, rss               []float64
		cpu, p50, p99, usr, sleep map[int][]float64
		bounds                    []string
	}
	aggs := map[string]*agg{}
	key := func(wk, s string) string { return wk + "/" + s }
	for _, r := range results {
		a := aggs[key(r.Workload, r.Server)]
		if a == nil {
			a = &agg{cpu: map[int][]float64{}, p50: map[int][]float64{}, p99: map[int][]float64{},
				usr: map[int][]float64{}, sleep: map[int][]float64{}}
			aggs[key(r.Workload, r.Server)] = a
		}
		a.maxQPS = append(a.maxQPS, r.MaxQPS)
		a.rss = append(a.rss, float64(r.RSS))
		a.bounds = append(a.bounds, r.Bound)
		for rate, f := range r.Fixed {
			a.cpu[rate] = append(a.cpu[rate], f.CPUPerQuery())
			a.p50[rate] = append(a.p50[rate], f.P50)
			a.p99[rate] = append(a.p99[rate], f.P99)
			a.usr[rate] = append(a.usr[rate], f.perQuery(f.ServerUser))
			a.sleep[rate] = append(a.sleep[rate], f.perQuery(float64(f.ServerSleeps)))
		}
	}
	mean := func(v []float64) float64 {
		if len(v) == 0 {
			return math.NaN()
		}
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	fmt.Fprintf(w, "\n== mean over %d rounds; ratio = gslb / gdnsd (max QPS: higher is better; CPU/q: lower is better) ==\n", c.rounds)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	h := []string{"workload", "server", "max QPS", "bound"}
	for _, rate := range c.rates {
		h = append(h, fmt.Sprintf("CPU/q µs @%dk", rate/1000), fmt.Sprintf("p50/p99 µs @%dk", rate/1000))
	}
	h = append(h, "RSS MiB")
	fmt.Fprintln(tw, strings.Join(h, "\t"))
	// serverRows writes one row per server that ran wk.
	serverRows := func(wk workload, row func(a *agg) []string) {
		for _, s := range c.servers {
			if a := aggs[key(wk.name, s)]; a != nil {
				fmt.Fprintln(tw, strings.Join(append([]string{wk.name, s}, row(a)...), "\t"))
			}
		}
	}
	for _, wk := range c.workloads {
		serverRows(wk, func(a *agg) []string {
			row := []string{fmt.Sprintf("%.0f", mean(a.maxQPS)), strings.Join(uniq(a.bounds), ",")}
			for _, rate := range c.rates {
				row = append(row, us(mean(a.cpu[rate])), us(mean(a.p50[rate]))+"/"+us(mean(a.p99[rate])))
			}
			return append(row, fmt.Sprintf("%.1f", mean(a.rss)/(1<<20)))
		})
		g, d := aggs[key(wk.name, "gslb")], aggs[key(wk.name, "gdnsd")]
		if g != nil && d != nil {
			row := []string{wk.name, "gslb/gdnsd", fmt.Sprintf("%.2f", mean(g.maxQPS)/mean(d.maxQPS)), ""}
			for _, rate := range c.rates {
				row = append(row, fmt.Sprintf("%.2f", mean(g.cpu[rate])/mean(d.cpu[rate])), "")
			}
			row = append(row, fmt.Sprintf("%.2f", mean(g.rss)/mean(d.rss)))
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		} else if g != nil && wk.gslbOnly {
			fmt.Fprintln(tw, wk.name+"\tgslb/gdnsd\t(gslb only: gdnsd has no equivalent)")
		}
	}
	tw.Flush()

	// The split that explains the CPU figures: kernel time is mostly the
	// UDP send and the wake-ups (one per sleep), user time the server's
	// own work per query.
	fmt.Fprintf(w, "\n== server CPU per query split, mean over %d rounds: user / system µs, sleeps per query ==\n", c.rounds)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	h = []string{"workload", "server"}
	for _, rate := range c.rates {
		h = append(h, fmt.Sprintf("user/sys µs @%dk", rate/1000), fmt.Sprintf("sleeps/q @%dk", rate/1000))
	}
	fmt.Fprintln(tw, strings.Join(h, "\t"))
	for _, wk := range c.workloads {
		serverRows(wk, func(a *agg) []string {
			var row []string
			for _, rate := range c.rates {
				u := mean(a.usr[rate])
				row = append(row, us(u)+"/"+us(mean(a.cpu[rate])-u), fmt.Sprintf("%.2f", mean(a.sleep[rate])))
			}
			return row
		})
	}
	tw.Flush()
	fmt.Fprintln(w, `
max QPS: the highest dnsperf -Q rate answered in full (loss < 0.1%, >= 98% of the rate).
bound: what kept the next step up from holding: "server" (its core full), "dnsperf"
  (the load generator's core full: the server may do more), "latency" (neither core
  full: the window of queries in flight ran out), "others" (other processes on the machine).
CPU/q: the server's threads' run time (/proc/PID/task/*/schedstat, ns) over the run
  / answered queries; user/sys: split by the user share of /proc/PID/stat's ticks;
  sleeps/q: voluntary context switches of all the server's threads
  (/proc/PID/task/*/status) / answered queries, about one per wait for a query.
p50/p99/max: dnsperf -v per-query latency of answered queries (lost ones excluded);
  @80% max: at 80% of that run's own max QPS (main workload only).
RSS: VmRSS after the server's block of runs. others: the most CPU, in cores, that
  processes other than the server and dnsperf used during any one run; steal: the
  most CPU, in cores, the hypervisor withheld from this VM during any one run.`)
}

func uniq(v []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range v {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func startServer(c *loadConfig, name string) (*server, error) {
	if name == "gslb" {
		return startGslb(c)
	}
	return startGdnsd(c)
}

// indentLog returns a server's output as an indented block, or "" when
// it printed nothing.
func indentLog(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ", no output"
	}
	return ":\n    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// rrlLimited sums gslb_dns_rrl_limited_total from gslb's /metrics; ok is
// false when the build has no such metric.
func rrlLimited(httpAddr string) (n int64, ok bool) {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "gslb_dns_rrl_limited_total") {
			fs := strings.Fields(l)
			var v float64
			if _, err := fmt.Sscan(fs[len(fs)-1], &v); err == nil {
				n += int64(v)
				ok = true
			}
		}
	}
	return n, ok
}
