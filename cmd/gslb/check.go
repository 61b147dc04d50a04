package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gslb/gslb/zones"
)

// check validates zone files the way serve loads them.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gslb check DIR|FILE...\n\nValidates zone files: every error of every file as file:line:col: key: problem.\nExit 0 when clean (one summary line per zone), 2 on any error.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	zs, err := zones.LoadPaths(fs.Args()...)
	if err != nil {
		es := zones.Errors(err)
		for _, e := range es {
			fmt.Fprintln(stderr, e)
		}
		if es == nil {
			fmt.Fprintln(stderr, err)
		}
		fmt.Fprintf(stderr, "%d error(s)\n", max(len(es), 1))
		return 2
	}
	for _, z := range zs {
		fmt.Fprintf(stdout, "%s: zone %s ok: serial %d, %d names, %d pools, %d checks\n",
			z.File, z.Origin, z.Serial, countNames(z), len(z.Pools), len(z.Checks))
	}
	return 0
}

func countNames(z *zones.Zone) int {
	n := 0
	for _, node := range z.Nodes {
		if !node.Empty() {
			n++
		}
	}
	return n
}
