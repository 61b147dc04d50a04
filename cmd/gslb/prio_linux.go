//go:build linux

package main

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// atLowPriority runs f on an OS thread of its own at nice 19 and waits for
// it. A zone load of seconds then takes the CPU only when the UDP readers
// (and the rest of the server) leave it: on a server pinned to one core
// the kernel runs a reader the moment its query arrives.
func atLowPriority(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: the thread, niced, ends with the goroutine.
		runtime.LockOSThread()
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19) // best effort
		f()
	}()
	<-done
}
