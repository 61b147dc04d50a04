package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// reloadMain serves a large zone set (make gen-scale) under a fixed
// dnsperf load and measures what a full reload does to the answers: one
// run without reloads as the baseline, then one in which every zone file
// is rewritten and reloaded (POST /reload, which returns when the new set
// serves) several times. It reports lost queries and latency percentiles
// of both runs, and how long each reload took.
func reloadMain(args []string) error {
	fs := flag.NewFlagSet("reload", flag.ExitOnError)
	gslb := fs.String("gslb", "bin/gslb", "gslb binary")
	zonesDir := fs.String("zones", "bench/out/scale-zones", "zone directory (its files are rewritten in place)")
	port := fs.Int("port", 25356, "UDP/TCP port for gslb serve")
	httpAddr := fs.String("http", "127.0.0.1:28056", "status address of gslb serve")
	rate := fs.Int("rate", 20000, "dnsperf -Q: queries per second")
	secs := fs.Float64("secs", 30, "length of each dnsperf run")
	reloads := fs.Int("reloads", 3, "reloads during the second run")
	nfiles := fs.Int("files", 0, "zone files rewritten before each reload; 0: all (every zone parsed again)")
	serverCPU := fs.String("server-cpu", "auto", `taskset CPU list for gslb; "auto": 1 when there are 2+ CPUs; "": no pinning`)
	loadCPU := fs.String("load-cpu", "auto", `taskset CPU list for dnsperf; "auto": 0 when there are 2+ CPUs`)
	dnsperf := fs.String("dnsperf", "dnsperf", "dnsperf binary")
	out := fs.String("out", "bench/out", "scratch directory (query file, dnsperf output)")
	_ = fs.Parse(args)

	*serverCPU, *loadCPU = autoCPU(*serverCPU, "1"), autoCPU(*loadCPU, "0")
	for _, a := range []string{fmt.Sprintf("127.0.0.1:%d", *port), *httpAddr} {
		if err := portFree(a); err != nil {
			return fmt.Errorf("%v: something else listens there; choose others with -port, -http", err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(*zonesDir, "*.toml"))
	if len(files) == 0 {
		return fmt.Errorf("no zone files in %s (make gen-scale writes them)", *zonesDir)
	}
	scratch := filepath.Join(*out, "reload")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return err
	}
	qfile := filepath.Join(scratch, "queries.txt")
	nq, err := writeScaleQueries(files, qfile)
	if err != nil {
		return err
	}
	fmt.Printf("zone set %s: %d files; %d query lines (80%% pools, 10%% static owners, 10%% NXDOMAIN)\n", *zonesDir, len(files), nq)
	fmt.Printf("gslb on CPU %q, dnsperf on CPU %q, %d qps for %.0f s per run\n", orAny(*serverCPU), orAny(*loadCPU), *rate, *secs)

	s, err := launch("gslb", *port, *serverCPU, *gslb, "serve", "--zones", *zonesDir,
		"--listen", fmt.Sprintf("127.0.0.1:%d", *port), "--http", *httpAddr, "--log-level", "warn")
	if err != nil {
		return err
	}
	ready, err := s.waitReady(*httpAddr, 2*time.Minute)
	if err != nil {
		s.stop()
		return fmt.Errorf("%v:\n%s", err, tail(s.log.String()))
	}
	defer s.stop()
	fmt.Printf("gslb ready after %.2f s\n", ready.Seconds())
	cl := &http.Client{Timeout: 60 * time.Second}

	o := perfOpts{bin: *dnsperf, loadCPU: *loadCPU, window: 100, timeout: 1, scratch: scratch, quiet: 0.3,
		progress: func(m string) { fmt.Println(m) }}
	report := func(label string, r perfRun) {
		fmt.Printf("%-16s sent %d, lost %d (%.4f%%), p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs, others %.2f cores\n",
			label, r.Sent, r.Lost, 100*r.LossFrac(), r.P50*1e6, r.P99*1e6, r.P999*1e6, r.Max*1e6, r.otherBusy())
	}
	base, err := runPerf(o, *port, s.pid(), qfile, *rate, *secs, "", true)
	if err != nil {
		return err
	}
	report("no reload:", base)

	// The second run: rewrite the files (a new comment line changes their
	// hash, so they are parsed again) and reload, evenly spread.
	type took struct {
		d   time.Duration
		err error
	}
	done := make(chan []took, 1)
	go func() {
		var ts []took
		gap := time.Duration(*secs / float64(*reloads+1) * float64(time.Second))
		for i := 1; i <= *reloads; i++ {
			time.Sleep(gap)
			touch := files
			if *nfiles > 0 && *nfiles < len(files) {
				touch = files[:*nfiles]
			}
			if err := touchZones(touch, i); err != nil {
				ts = append(ts, took{err: err})
				continue
			}
			t := time.Now()
			resp, err := cl.Post("http://"+*httpAddr+"/reload", "", nil)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("POST /reload: %s", resp.Status)
				}
			}
			ts = append(ts, took{time.Since(t), err})
		}
		done <- ts
	}()
	withReload, err := runPerf(o, *port, s.pid(), qfile, *rate, *secs, "", true)
	ts := <-done
	if err != nil {
		return err
	}
	what := "all files"
	if *nfiles > 0 && *nfiles < len(files) {
		what = fmt.Sprintf("%d of %d files", *nfiles, len(files))
	}
	report(fmt.Sprintf("%d reloads:", *reloads), withReload)
	fmt.Printf("  (%s rewritten before each reload)\n", what)
	for i, t := range ts {
		if t.err != nil {
			fmt.Printf("  reload %d failed: %v\n", i+1, t.err)
			continue
		}
		fmt.Printf("  reload %d: POST /reload returned after %.2f s\n", i+1, t.d.Seconds())
	}
	if rss, hwm, err := procStatus(s.pid()); err == nil {
		fmt.Printf("gslb VmRSS %.0f MiB, VmHWM %.0f MiB after the runs\n", float64(rss)/(1<<20), float64(hwm)/(1<<20))
	}
	if !s.alive() {
		return fmt.Errorf("gslb exited during the runs:\n%s", tail(s.log.String()))
	}
	return nil
}

var ownerRe = regexp.MustCompile(`^\[(pools|records)\.("?)([a-z0-9-]+)("?)\]`)

// writeScaleQueries writes 10,000 dnsperf lines over the generated zones'
// names: 80% pools, 10% static owners, 10% names that do not exist.
func writeScaleQueries(files []string, path string) (int, error) {
	var pools, statics []string
	for _, f := range files {
		origin := strings.TrimSuffix(filepath.Base(f), ".toml") + "."
		fh, err := os.Open(f)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			m := ownerRe.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			if m[1] == "pools" {
				pools = append(pools, m[3]+"."+origin)
			} else {
				statics = append(statics, m[3]+"."+origin)
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return 0, err
		}
	}
	if len(pools) == 0 || len(statics) == 0 {
		return 0, fmt.Errorf("no pools or no static owners found in the zone files")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	const n = 10000
	for i := 0; i < n; i++ {
		switch {
		case i%10 < 8:
			fmt.Fprintf(&b, "%s A\n", pools[rng.IntN(len(pools))])
		case i%10 == 8:
			fmt.Fprintf(&b, "%s A\n", statics[rng.IntN(len(statics))])
		default:
			fmt.Fprintf(&b, "nx-%05d.%s A\n", rng.IntN(100000), strings.SplitN(pools[rng.IntN(len(pools))], ".", 2)[1])
		}
	}
	return n, os.WriteFile(path, []byte(b.String()), 0o644)
}

// touchZones rewrites every file with a comment line naming reload i, so
// its content (and hash) changes and the next load parses it again.
func touchZones(files []string, i int) error {
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if j := strings.Index(string(src), "\n# bench reload "); j >= 0 {
			src = src[:j+1]
		}
		src = append(src, fmt.Sprintf("# bench reload %d\n", i)...)
		tmp := f + ".tmp"
		if err := os.WriteFile(tmp, src, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, f); err != nil { // whole files only, as an operator's deploy would
			return err
		}
	}
	return nil
}
