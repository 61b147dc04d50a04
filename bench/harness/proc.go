package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clkTck is the unit of the CPU times in /proc/PID/stat and /proc/stat.
var clkTck = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && v > 0 {
			return float64(v)
		}
	}
	return 100
}()

// cpuReading is a process's CPU time so far: total, the sum of its
// threads' run time in nanoseconds (/proc/PID/task/*/schedstat, the
// scheduler's own count) where the kernel has it, else utime + stime of
// /proc/PID/stat; and utime and utime + stime, in clock ticks. Ticks (10
// ms) would quantize a whole 8 s run at 10k qps by about 2%, and the
// kernel splits run time into user and system by sampling at ticks, so
// cpuDelta takes only the user share from them. A thread that ended
// between two readings would take its time with it; neither server ends
// threads while it serves.
type cpuReading struct {
	total, ticks, userTicks float64 // seconds
	ns                      bool    // total is from schedstat
}

func procCPU(pid int) (cpuReading, error) {
	total, user, err := procStat(pid)
	if err != nil {
		return cpuReading{}, err
	}
	r := cpuReading{total: total, ticks: total, userTicks: user}
	if ns, ok := procSchedstat(pid); ok {
		r.total, r.ns = ns, true
	}
	return r, nil
}

// cpuDelta is the CPU time between two readings, and its user part: the
// user share of the ticks applied to the total (0 without ticks).
func cpuDelta(a, b cpuReading) (total, user float64) {
	total = b.total - a.total
	if a.ns != b.ns { // one reading without schedstat: both from the ticks
		total = b.ticks - a.ticks
	}
	if t := b.ticks - a.ticks; t > 0 {
		user = total * (b.userTicks - a.userTicks) / t
	}
	return total, user
}

// procSchedstat sums the run time of pid's threads, in seconds.
func procSchedstat(pid int) (float64, bool) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, false
	}
	var ns int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread ended meanwhile
			}
			return 0, false // no schedstat here (CONFIG_SCHED_INFO off)
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		ns += v
	}
	return float64(ns) / 1e9, ns > 0
}

// procStat reads utime + stime and utime of /proc/PID/stat, in seconds.
func procStat(pid int) (total, user float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	// The command name is in parentheses and may hold spaces: fields
	// start after the last ')'. There, utime and stime are the 12th and
	// 13th (fields 14 and 15 of the whole line).
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return (ut + st) / clkTck, ut / clkTck, nil
}

// procSleeps is how many times the threads of a process have blocked so
// far: voluntary_ctxt_switches of /proc/PID/task/*/status, summed. For a
// DNS server under a paced load, nearly each is a wait for the next
// query, and each wait costs a wake-up.
func procSleeps(pid int) int64 {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				k, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += k
			}
		}
	}
	return n
}

// procStatus returns VmRSS and VmHWM (peak RSS) of a process in bytes.
func procStatus(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n * 1024
		case "VmHWM":
			hwm = n * 1024
		}
	}
	return rss, hwm, sc.Err()
}

// machineBusy is the CPU time all cores spent on anything but idle,
// iowait and steal, from the first line of /proc/stat, in seconds; steal
// is the time the hypervisor ran something else while a core wanted to run.
func machineBusy() (busy, steal float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user.
	for i, s := range f[1:8] {
		v, _ := strconv.ParseFloat(s, 64)
		if i != 3 && i != 4 {
			busy += v
		}
	}
	steal, _ = strconv.ParseFloat(f[8], 64)
	return busy / clkTck, steal / clkTck
}

// waitQuiet waits up to max for a 1-second window in which the machine
// is busy less than limit cores (other people's builds and tests share it),
// and returns the load of the last window and how long it waited.
func waitQuiet(limit float64, max time.Duration) (load float64, waited time.Duration) {
	start := time.Now()
	for {
		b0, _ := machineBusy()
		time.Sleep(time.Second)
		b1, _ := machineBusy()
		load = b1 - b0
		if load < limit || time.Since(start) >= max {
			return load, time.Since(start) - time.Second
		}
	}
}
