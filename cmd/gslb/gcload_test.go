package main

import (
	"runtime/debug"
	"testing"
)

func TestLoadPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		cur  int
		want int
	}{
		{0, 100, 400},          // before the first collection
		{10 * mib, 100, 400},   // a small set: 400%, well under the bound
		{128 * mib, 100, 400},  // 512 MiB of headroom exactly
		{256 * mib, 100, 200},  // bounded by the headroom
		{1024 * mib, 100, 100}, // 50% would be below the operator's 100
		{4096 * mib, 100, 100}, // never below it
		{256 * mib, 50, 200},   // a lower GOGC is raised the same way
		{10 * mib, 800, 800},   // a higher GOGC stays
		{10 * mib, -1, -1},     // off stays off
		{4096 * mib, -1, -1},   // however large the set
		{4096 * mib, 20, 20},   // a low GOGC on a huge set stays
		{1 * mib, 0, 400},      // GOGC=0 (collect continuously) is raised too
	} {
		if got := loadPercent(c.live, c.cur); got != c.want {
			t.Errorf("loadPercent(%d MiB, %d) = %d, want %d", c.live/mib, c.cur, got, c.want)
		}
	}
}

func currentGCPercent() int { return int(int32(readMetrics("/gc/gogc:percent")[0])) }

// TestWithGCHeadroom checks that the percent is raised while f runs and
// set back afterwards, and that an operator's higher or disabled GOGC is
// left alone. The test binary's live heap is far below the 128 MiB at
// which the headroom bound starts to lower the 400%.
func TestWithGCHeadroom(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for _, c := range []struct{ set, inside int }{{100, 400}, {800, 800}, {-1, -1}, {100, 400}} {
		debug.SetGCPercent(c.set)
		ran, inside := false, 0
		withGCHeadroom(func() { ran, inside = true, currentGCPercent() })
		if !ran || inside != c.inside {
			t.Errorf("GOGC %d: f ran %v with GOGC %d, want true with %d", c.set, ran, inside, c.inside)
		}
		if after := currentGCPercent(); after != c.set {
			t.Errorf("GOGC %d: %d after the load", c.set, after)
		}
	}
}
