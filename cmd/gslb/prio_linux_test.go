//go:build linux

package main

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// niceOf returns the nice value of the calling thread (the raw system call
// answers 20 - nice).
func niceOf(t *testing.T) int {
	t.Helper()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

// TestAtLowPriority checks that f runs at nice 19 and that the caller's
// thread keeps its priority.
func TestAtLowPriority(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := niceOf(t)
	ran, inside := false, 0
	atLowPriority(func() {
		ran = true
		inside = niceOf(t)
	})
	if !ran || inside != 19 {
		t.Errorf("f ran %v at nice %d, want true at 19", ran, inside)
	}
	if after := niceOf(t); after != before {
		t.Errorf("caller's thread at nice %d after, %d before", after, before)
	}
}
