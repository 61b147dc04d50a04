package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// scaleMain measures a large zone set: `gslb check DIR` (time, peak RSS)
// and `gslb serve` from start until /readyz answers 200 (time, RSS).
func scaleMain(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	gslb := fs.String("gslb", "bin/gslb", "gslb binary")
	zones := fs.String("zones", "bench/out/scale-zones", "zone directory to measure")
	port := fs.Int("port", 25355, "UDP/TCP port for gslb serve")
	httpAddr := fs.String("http", "127.0.0.1:28055", "status address of gslb serve")
	runs := fs.Int("runs", 2, "times to measure each of check and serve")
	_ = fs.Parse(args)

	for _, a := range []string{fmt.Sprintf("127.0.0.1:%d", *port), *httpAddr} {
		if err := portFree(a); err != nil {
			return fmt.Errorf("%v: something else listens there; choose others with -port, -http", err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(*zones, "*.toml"))
	var bytesTotal int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			bytesTotal += fi.Size()
		}
	}
	fmt.Printf("zone set %s: %d files, %.1f MiB of TOML\n", *zones, len(files), float64(bytesTotal)/(1<<20))

	for i := 1; i <= *runs; i++ {
		secs, peak, summary, err := timeCheck(*gslb, *zones)
		if err != nil {
			return err
		}
		fmt.Printf("check  run %d: %.2f s, peak RSS %.0f MiB   (%s)\n", i, secs, float64(peak)/(1<<20), summary)
	}
	for i := 1; i <= *runs; i++ {
		ready, rss, hwm, err := timeServe(*gslb, *zones, *port, *httpAddr)
		if err != nil {
			return err
		}
		fmt.Printf("serve  run %d: ready (/readyz 200) after %.2f s, VmRSS %.0f MiB, VmHWM %.0f MiB\n",
			i, ready, float64(rss)/(1<<20), float64(hwm)/(1<<20))
	}
	return nil
}

var maxRSSRe = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)

// timeCheck runs gslb check under /usr/bin/time -v when it exists (for
// the peak RSS), else plainly with the peak from the rusage of the child.
func timeCheck(gslb, dir string) (secs float64, peak int64, summary string, err error) {
	argv := []string{gslb, "check", dir}
	useTime := false
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		argv = append([]string{"/usr/bin/time", "-v"}, argv...)
		useTime = true
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err = cmd.Run()
	secs = time.Since(t0).Seconds()
	if err != nil {
		return 0, 0, "", fmt.Errorf("gslb check %s: %v\n%s%s", dir, err, tail(stdout.String()), tail(stderr.String()))
	}
	if m := maxRSSRe.FindStringSubmatch(stderr.String()); useTime && m != nil {
		kb, _ := strconv.ParseInt(m[1], 10, 64)
		peak = kb * 1024
	} else if ru, ok := sysRusage(cmd); ok {
		peak = ru
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	ok := 0
	for _, l := range lines {
		if strings.Contains(l, " ok:") {
			ok++
		}
	}
	summary = fmt.Sprintf("%d zones ok", ok)
	return secs, peak, summary, nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// timeServe starts gslb serve and polls /readyz every 5 ms.
func timeServe(gslb, dir string, port int, httpAddr string) (ready float64, rss, hwm int64, err error) {
	cmd := exec.Command(gslb, "serve", "--zones", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--http", httpAddr, "--log-level", "warn")
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	cl := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-done:
			return 0, 0, 0, fmt.Errorf("gslb serve exited:\n%s", tail(logBuf.String()))
		default:
		}
		if resp, err := cl.Get("http://" + httpAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(t0) > 120*time.Second {
			stop()
			return 0, 0, 0, fmt.Errorf("gslb serve not ready after 120s:\n%s", tail(logBuf.String()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	ready = time.Since(t0).Seconds()
	// One answer from a generated pool shows the set is really served.
	if m, err := ask(port, "pool-00000.gen-000.test.", nil); err != nil || m.Rcode != 0 || len(m.Answer) == 0 {
		fmt.Printf("warning: pool-00000.gen-000.test A did not answer with records (err %v)\n", err)
	}
	time.Sleep(time.Second) // let start-up garbage be collected before reading RSS
	rss, hwm, err = procStatus(cmd.Process.Pid)
	stop()
	return ready, rss, hwm, err
}

// sysRusage is the child's peak RSS from wait4's rusage (ru_maxrss, KiB).
func sysRusage(cmd *exec.Cmd) (int64, bool) {
	if cmd.ProcessState == nil {
		return 0, false
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, false
	}
	return ru.Maxrss * 1024, true
}
