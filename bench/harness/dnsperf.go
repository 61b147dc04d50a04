package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// perfRun is one dnsperf run against one server.
type perfRun struct {
	Rate      int     `json:"rate"` // -Q; 0: as fast as the window allows
	Seconds   float64 `json:"seconds"`
	ECS       string  `json:"ecs,omitempty"`
	Sent      int64   `json:"sent"`
	Completed int64   `json:"completed"`
	Lost      int64   `json:"lost"`
	QPS       float64 `json:"qps"` // completed per second of dnsperf's run time
	Codes     string  `json:"codes"`
	ServerCPU float64 `json:"server_cpu_s"` // the server's CPU time during the run (procCPU)
	// ServerUser is the user part (cpuDelta); ServerSleeps the times the server's
	// threads blocked (voluntary context switches) during the run.
	ServerUser   float64 `json:"server_user_s"`
	ServerSleeps int64   `json:"server_sleeps"`
	LoadCPU      float64 `json:"loadgen_cpu_s"`
	OtherCPU     float64 `json:"other_cpu_s"` // everything else on the machine
	Steal        float64 `json:"steal_s"`     // taken by the hypervisor (both cores)
	Wall         float64 `json:"wall_s"`
	// From -v output, when asked for: per-query latency of the answered
	// queries, in seconds.
	P50  float64 `json:"p50_s,omitempty"`
	P99  float64 `json:"p99_s,omitempty"`
	P999 float64 `json:"p999_s,omitempty"`
	Max  float64 `json:"max_s,omitempty"`
	Avg  float64 `json:"avg_s,omitempty"`
}

// LossFrac is lost/sent.
func (r perfRun) LossFrac() float64 {
	if r.Sent == 0 {
		return 1
	}
	return float64(r.Lost) / float64(r.Sent)
}

// CPUPerQuery is the server's CPU time per answered query, in seconds.
func (r perfRun) CPUPerQuery() float64 {
	if r.Completed == 0 {
		return 0
	}
	return r.ServerCPU / float64(r.Completed)
}

// perQuery divides v by the answered queries (0 without any).
func (r perfRun) perQuery(v float64) float64 {
	if r.Completed == 0 {
		return 0
	}
	return v / float64(r.Completed)
}

// Sustained says whether the run held its rate: loss under 0.1% and at
// least 98% of the asked rate answered.
func (r perfRun) Sustained() bool {
	return r.Sent > 0 && r.LossFrac() < 0.001 && r.QPS >= 0.98*float64(r.Rate)
}

// busy fractions of a core over the run.
func (r perfRun) serverBusy() float64 { return r.ServerCPU / r.Wall }
func (r perfRun) loadBusy() float64   { return r.LoadCPU / r.Wall }
func (r perfRun) otherBusy() float64  { return r.OtherCPU / r.Wall }
func (r perfRun) stealBusy() float64  { return r.Steal / r.Wall }

// perfOpts is what every dnsperf run shares.
type perfOpts struct {
	bin      string
	loadCPU  string // taskset list for dnsperf; "" runs it unpinned
	window   int    // -q: queries in flight
	timeout  int    // -t seconds: an unanswered query counts as lost after this
	scratch  string // where -v output goes
	quiet    float64
	progress func(string)
}

// runPerf runs dnsperf once against 127.0.0.1:port and measures the server
// (pid) around it. ecs is an EDNS option for -E ("8:hex"), or "".
//
// dnsperf 2.10 sometimes never ends when its core is starved by other
// processes (a thread spins in poll() past the -l limit). Such a run is
// killed after -l plus -t plus 15 seconds and tried again, up to twice,
// after waiting for the machine to quieten.
func runPerf(o perfOpts, port, pid int, file string, rate int, secs float64, ecs string, verbose bool) (perfRun, error) {
	var r perfRun
	var err error
	for try := 1; try <= 3; try++ {
		r, err = runPerfOnce(o, port, pid, file, rate, secs, ecs, verbose)
		if !errors.Is(err, errHung) {
			return r, err
		}
		if try < 3 {
			load, _ := waitQuiet(o.quiet, 20*time.Second)
			o.progress(fmt.Sprintf("dnsperf overran its time limit and was killed; trying again (others now use %.0f%% of a core)", 100*load))
		}
	}
	return r, err
}

var errHung = errors.New("dnsperf overran its time limit")

func runPerfOnce(o perfOpts, port, pid int, file string, rate int, secs float64, ecs string, verbose bool) (perfRun, error) {
	r := perfRun{Rate: rate, Seconds: secs, ECS: ecs}
	args := []string{
		"-s", "127.0.0.1", "-p", strconv.Itoa(port), "-d", file,
		"-l", strconv.FormatFloat(secs, 'f', -1, 64),
		"-q", strconv.Itoa(o.window), "-t", strconv.Itoa(o.timeout),
		"-W", "-O", "suppress=timeouts,unexpected,congestion,sockready",
	}
	if rate > 0 {
		args = append(args, "-Q", strconv.Itoa(rate))
	}
	if ecs != "" {
		args = append(args, "-E", ecs)
	}
	if verbose {
		args = append(args, "-v")
	}
	name := o.bin
	if o.loadCPU != "" {
		args = append([]string{"-c", o.loadCPU, o.bin}, args...)
		name = "taskset"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs*float64(time.Second))+time.Duration(o.timeout+15)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	outPath := filepath.Join(o.scratch, "dnsperf.out")
	out, err := os.Create(outPath)
	if err != nil {
		return r, err
	}
	defer out.Close()
	cmd.Stdout = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr

	cpu0, err := procCPU(pid)
	if err != nil {
		return r, fmt.Errorf("server gone: %w", err)
	}
	sleeps0 := procSleeps(pid)
	busy0, steal0 := machineBusy()
	t0 := time.Now()
	runErr := cmd.Run()
	r.Wall = time.Since(t0).Seconds()
	busy1, steal1 := machineBusy()
	cpu1, err := procCPU(pid)
	if err != nil {
		return r, fmt.Errorf("server gone during the run: %w", err)
	}
	r.ServerSleeps = procSleeps(pid) - sleeps0
	if ctx.Err() != nil {
		return r, errHung
	}
	if runErr != nil {
		return r, fmt.Errorf("dnsperf %s: %v: %s", strings.Join(args, " "), runErr, strings.TrimSpace(stderr.String()))
	}
	r.ServerCPU, r.ServerUser = cpuDelta(cpu0, cpu1)
	if ps := cmd.ProcessState; ps != nil {
		r.LoadCPU = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	r.OtherCPU = max(0, busy1-busy0-r.ServerCPU-r.LoadCPU)
	r.Steal = steal1 - steal0
	if err := parsePerf(outPath, &r, verbose); err != nil {
		return r, err
	}
	return r, nil
}

// parsePerf reads dnsperf's report (and with -v its per-query lines:
// "> RCODE name type latency", or "> T name type" for a timeout).
func parsePerf(path string, r *perfRun, verbose bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var lat []float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	sawStats := false
	for sc.Scan() {
		line := sc.Text()
		if verbose && strings.HasPrefix(line, "> ") {
			fs := strings.Fields(line)
			if len(fs) >= 5 && fs[1] != "T" && fs[1] != "I" {
				if v, err := strconv.ParseFloat(fs[len(fs)-1], 64); err == nil {
					lat = append(lat, v)
				}
			}
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		first := func() string {
			if fs := strings.Fields(v); len(fs) > 0 {
				return fs[0]
			}
			return ""
		}
		switch k {
		case "Queries sent":
			r.Sent, _ = strconv.ParseInt(first(), 10, 64)
			sawStats = true
		case "Queries completed":
			r.Completed, _ = strconv.ParseInt(first(), 10, 64)
		case "Queries lost":
			r.Lost, _ = strconv.ParseInt(first(), 10, 64)
		case "Queries per second":
			r.QPS, _ = strconv.ParseFloat(first(), 64)
		case "Response codes":
			r.Codes = v
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !sawStats {
		return fmt.Errorf("no statistics in dnsperf's output (%s)", path)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		r.P50, r.P99, r.P999, r.Max = q(0.50), q(0.99), q(0.999), lat[len(lat)-1]
		var sum float64
		for _, v := range lat {
			sum += v
		}
		r.Avg = sum / float64(len(lat))
	}
	return nil
}

// ecsOption is dnsperf's -E value for an EDNS Client Subnet option (code 8)
// carrying an IPv4 /24: family 1, source prefix 24, scope 0, three bytes.
func ecsOption(a, b, c byte) string {
	return fmt.Sprintf("8:0001%02x00%02x%02x%02x", 24, a, b, c)
}
