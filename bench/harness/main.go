// Command harness drives the load and scale benchmarks behind
// `make bench-load` and `make gen-scale`. It is not part of the server and
// nothing imports it.
//
//	harness load  [flags]   gslb beside gdnsd under dnsperf, interleaved A B A B
//	harness scale [flags]   load time and memory of a generated zone set
//	harness reload [flags]  latency and loss while that set is reloaded under load
//
// docs/performance.md describes the method and what the figures mean.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "load":
		err = loadMain(os.Args[2:])
	case "scale":
		err = scaleMain(os.Args[2:])
	case "reload":
		err = reloadMain(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: harness load|scale|reload [flags]   (-h after the subcommand lists its flags)")
	os.Exit(2)
}
