package main

import (
	"runtime/debug"
	rtmetrics "runtime/metrics"
)

// A zone load allocates several times what it keeps: parsing the
// 100,000-name set of make gen-scale allocates about 650 MB for 90 MB of
// zone data. At the collector's usual pace (GOGC 100) that is some 25
// collections per load, each marking the serving set again. On a server
// pinned to one core, the collector's worker runs at the readers'
// priority on their core and can hold the P a preempted reader needs for
// up to 10 ms (make bench-reload, every file reloaded: p99 3.5-4.1 ms,
// against 33 µs without reloads). So a load runs with the collector held
// back: the heap may grow past what was live by loadGCPercent%, or by
// loadHeadroom bytes when that is less, and never by less than the
// operator's GOGC allows. GOGC=off stays off, and GOMEMLIMIT still
// applies throughout.
const (
	loadGCPercent = 400
	loadHeadroom  = 512 << 20
)

// withGCHeadroom runs f (a zone load) with the collector's percent raised
// as loadPercent says, and sets it back afterwards. Loads are serialised
// (app.reloadMu), so nothing else changes the percent meanwhile.
func withGCHeadroom(f func()) {
	v := readMetrics("/gc/heap/live:bytes", "/gc/gogc:percent")
	cur := int(int32(v[1])) // off is -1, reported as its two's complement
	pct := loadPercent(v[0], cur)
	if pct == cur {
		f()
		return
	}
	debug.SetGCPercent(pct)
	f()
	debug.SetGCPercent(cur)
	// When the load went past where the usual percent would have
	// collected, most of the heap is garbage now and a collection is due
	// anyway: run it here, on the loader's (niced) thread, and give the
	// memory back, so that the resident size is the serving set's again
	// rather than shrinking over minutes as the runtime's scavenger
	// returns it. A small load (one file changed) stays under the goal
	// and costs no collection.
	if v := readMetrics("/memory/classes/heap/objects:bytes", "/gc/heap/goal:bytes"); v[0] > v[1] {
		debug.FreeOSMemory()
	}
}

// loadPercent is the GOGC a load runs with, given the heap live after the
// last collection (0 before the first) and the current GOGC (-1: off).
func loadPercent(live uint64, cur int) int {
	if cur < 0 {
		return cur
	}
	pct := loadGCPercent
	if live > 0 {
		pct = int(min(loadGCPercent, loadHeadroom*100/live))
	}
	return max(pct, cur)
}

// readMetrics reads runtime metrics of kind uint64 (all of these exist
// since Go 1.21, older than this module's Go).
func readMetrics(names ...string) []uint64 {
	s := make([]rtmetrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	rtmetrics.Read(s)
	v := make([]uint64, len(s))
	for i := range s {
		v[i] = s[i].Value.Uint64()
	}
	return v
}
