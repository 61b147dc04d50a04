#!/bin/sh
# genqueries.sh OUTDIR: writes the dnsperf query files of `make bench-load`.
#
# Each file has 10,000 lines in dnsperf's "name type" format, in a fixed
# order that repeats every 10 lines: 8 queries for the workload's pool name,
# 1 for static.bench.test, 1 for a name that does not exist. The missing
# names run nx-0000 ... nx-0999, so the 10% NXDOMAIN share is spread over
# 1,000 distinct names. dnsperf loops over the file, so the mix holds for
# any run length.
#
#   rr.txt       rr.bench.test      4-endpoint roundrobin pool (the main workload)
#   weighted.txt w.bench.test       weighted pool
#   geo.txt      geo.bench.test     geo pool (the harness adds ECS with -E)
#   sticky.txt   sticky.bench.test  sticky pool (ECS too)
set -eu
out=${1:?usage: genqueries.sh OUTDIR}
mkdir -p "$out"
for w in rr:rr weighted:w geo:geo sticky:sticky; do
	file=${w%%:*}
	pool=${w#*:}
	awk -v pool="$pool" 'BEGIN {
		for (i = 0; i < 10000; i++) {
			m = i % 10
			if (m < 8)       printf "%s.bench.test A\n", pool
			else if (m == 8) print "static.bench.test A"
			else             printf "nx-%04d.bench.test A\n", int(i / 10)
		}
	}' >"$out/$file.txt"
done
echo "query files in $out: $(ls "$out" | tr '\n' ' ')"
