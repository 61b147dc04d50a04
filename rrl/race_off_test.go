//go:build !race

package rrl

const spoofedSources = 1_000_000
