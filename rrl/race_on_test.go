//go:build race

package rrl

// spoofedSources is lower under the race detector, which slows the loop
// about 50 times; 100,000 distinct /24s still overfill the 65,536 buckets.
const spoofedSources = 100_000
