#!/bin/sh
# make soak: install Debian's dnsperf when it is missing, then run
# tools/soak against bin/gslb for $1 minutes (default 2).
set -e
minutes=${1:-2}
if ! command -v dnsperf >/dev/null 2>&1; then
	echo "soak: installing dnsperf (Debian package)"
	sudo=
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	$sudo apt-get install -y dnsperf || { $sudo apt-get update && $sudo apt-get install -y dnsperf; }
fi
exec ${GO:-go} run ./tools/soak -gslb bin/gslb -minutes "$minutes" $SOAK_FLAGS
