package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// The paired comparison (load -pairs N): both servers up at once, pinned
// to the same core, and their fixed-rate runs alternated, gslb then
// gdnsd, N times per workload and rate. The rounds of the main benchmark
// are minutes apart per server, and on a shared VM the machine drifts in
// between (the hypervisor's steal, a neighbour's cache use): CPU per
// query of one server moved by 20% between rounds on 2026-12-03. Runs
// seconds apart see the same machine, so the ratio of each pair, and the
// median of those ratios, is the steadier comparison. The idle server
// costs nothing meanwhile (gslb's reader parks after 10 ms without a
// query; gdnsd waits in ppoll).

// pairResult is one workload at one rate: the runs in order, alternating.
type pairResult struct {
	Workload string    `json:"workload"`
	Rate     int       `json:"rate"`
	GSLB     []perfRun `json:"gslb"`
	GDNSD    []perfRun `json:"gdnsd"`
}

func runPairs(c *loadConfig, o perfOpts, logf func(string, ...any)) ([]*pairResult, error) {
	g, err := startServer(c, "gslb")
	if err != nil {
		return nil, err
	}
	defer g.stop()
	d, err := startServer(c, "gdnsd")
	if err != nil {
		return nil, err
	}
	defer d.stop()
	logf("pairs: gslb pid %d, gdnsd pid %d, both on CPU %s", g.pid(), d.pid(), orAny(c.serverCPU))
	for _, s := range []*server{g, d} { // warm up, as the rounds do
		if _, err := runPerf(o, s.port, s.pid(), filepath.Join(c.queries, "rr.txt"), 10000, 2, "", false); err != nil {
			logf("  warm-up run failed: %v", err)
		}
	}
	var out []*pairResult
	for _, wk := range c.workloads {
		if wk.gslbOnly {
			continue
		}
		file := filepath.Join(c.queries, wk.file)
		for _, rate := range c.rates {
			pr := &pairResult{Workload: wk.name, Rate: rate}
			for i := 0; i < c.pairs; i++ {
				ecs := ""
				if wk.ecs {
					ecs = ecsOption(198, 18, byte(i%3))
				}
				for _, s := range []*server{g, d} {
					r, err := leastStolen(c, o, s, file, rate, wk.fixed.Seconds(), ecs, wk.name, logf)
					if err != nil {
						return nil, fmt.Errorf("%s %s %d qps: %w", s.name, wk.name, rate, err)
					}
					logf("  pair %d  %-6s %-8s %5dk  cpu/q %5.1f µs (user %4.2f, sleeps/q %.2f)  p50 %4.0f µs  p99 %5.0f µs  steal %3.0f%%",
						i+1, s.name, wk.name, rate/1000, 1e6*r.CPUPerQuery(), 1e6*r.perQuery(r.ServerUser),
						r.perQuery(float64(r.ServerSleeps)), 1e6*r.P50, 1e6*r.P99, 100*r.stealBusy())
					if s == g {
						pr.GSLB = append(pr.GSLB, r)
					} else {
						pr.GDNSD = append(pr.GDNSD, r)
					}
				}
			}
			out = append(out, pr)
		}
	}
	return out, nil
}

// leastStolen runs dnsperf at rate and repeats the run, up to twice, when
// the hypervisor took -max-steal or more during it, keeping the least
// disturbed run.
func leastStolen(c *loadConfig, o perfOpts, s *server, file string, rate int, secs float64, ecs, wk string,
	logf func(string, ...any)) (perfRun, error) {
	r, err := runPerf(o, s.port, s.pid(), file, rate, secs, ecs, true)
	for try := 0; err == nil && try < 2 && r.stealBusy() >= c.maxSteal; try++ {
		logf("  %-6s %-8s -Q %6d: the hypervisor took %.0f%% of a core: again", s.name, wk, rate, 100*r.stealBusy())
		var again perfRun
		if again, err = runPerf(o, s.port, s.pid(), file, rate, secs, ecs, true); err == nil && again.stealBusy() < r.stealBusy() {
			r = again
		}
	}
	return r, err
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printPairs(w io.Writer, prs []*pairResult) {
	fmt.Fprintf(w, "\n== paired runs: medians; ratio = median of each pair's gslb/gdnsd (CPU/q: lower is better) ==\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join([]string{"workload", "rate", "pairs", "gslb CPU/q µs", "gdnsd CPU/q µs", "ratio", "ratio range",
		"gslb user/sys µs", "gdnsd user/sys µs", "sleeps/q gslb/gdnsd", "p99 µs gslb/gdnsd", "max steal"}, "\t"))
	for _, pr := range prs {
		n := min(len(pr.GSLB), len(pr.GDNSD))
		var gc, dc, gu, du, gs, ds, gp, dp, ratio []float64
		steal := 0.0
		for i := 0; i < n; i++ {
			a, b := pr.GSLB[i], pr.GDNSD[i]
			gc, dc = append(gc, a.CPUPerQuery()), append(dc, b.CPUPerQuery())
			gu, du = append(gu, a.perQuery(a.ServerUser)), append(du, b.perQuery(b.ServerUser))
			gs, ds = append(gs, a.perQuery(float64(a.ServerSleeps))), append(ds, b.perQuery(float64(b.ServerSleeps)))
			gp, dp = append(gp, a.P99), append(dp, b.P99)
			if b.CPUPerQuery() > 0 {
				ratio = append(ratio, a.CPUPerQuery()/b.CPUPerQuery())
			}
			steal = math.Max(steal, math.Max(a.stealBusy(), b.stealBusy()))
		}
		if len(ratio) == 0 {
			continue
		}
		us := func(v float64) string { return fmt.Sprintf("%.1f", 1e6*v) }
		fmt.Fprintln(tw, strings.Join([]string{
			pr.Workload, fmt.Sprintf("%dk", pr.Rate/1000), fmt.Sprint(n),
			us(median(gc)), us(median(dc)), fmt.Sprintf("%.2f", median(ratio)),
			fmt.Sprintf("%.2f-%.2f", slices.Min(ratio), slices.Max(ratio)),
			us(median(gu)) + "/" + us(median(gc)-median(gu)), us(median(du)) + "/" + us(median(dc)-median(du)),
			fmt.Sprintf("%.2f/%.2f", median(gs), median(ds)),
			us(median(gp)) + "/" + us(median(dp)),
			fmt.Sprintf("%.2f", steal),
		}, "\t"))
	}
	tw.Flush()
}
