//go:build !linux

package main

// atLowPriority runs f (thread priorities are set on Linux only).
func atLowPriority(f func()) { f() }
