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
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"}}
	rtmetrics.Read(s)
	cur := gcPercent(s[1])
	pct := loadPercent(heapBytes(s[0]), cur)
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
	s = []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/goal:bytes"}}
	rtmetrics.Read(s)
	if heapBytes(s[0]) > heapBytes(s[1]) {
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

// heapBytes and gcPercent read the two samples; a metric the runtime does
// not report (KindBad) reads as its default, 0 and 100.
func heapBytes(s rtmetrics.Sample) uint64 {
	if s.Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}

func gcPercent(s rtmetrics.Sample) int {
	if s.Value.Kind() != rtmetrics.KindUint64 {
		return 100
	}
	return int(int32(s.Value.Uint64())) // off is -1, reported as its two's complement
}
