#!/bin/sh
# install-deps.sh: installs what `make bench-load` needs from Debian when it
# is missing: dnsperf (the load generator) and gdnsd (the server gslb is
# compared with). Needs root or sudo; runs `apt-get update` only when a
# plain install fails (a fresh machine's package lists may be empty).
set -eu
need=""
command -v dnsperf >/dev/null 2>&1 || need="$need dnsperf"
command -v gdnsd >/dev/null 2>&1 || [ -x /usr/sbin/gdnsd ] || need="$need gdnsd"
command -v taskset >/dev/null 2>&1 || need="$need util-linux"
[ -z "$need" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install:$need" >&2; exit 1; }
	SUDO=sudo
fi
echo "install-deps: installing$need"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y --no-install-recommends $need; then
	$SUDO apt-get update
	$SUDO apt-get install -y --no-install-recommends $need
fi
# The Debian package may start a gdnsd service on port 53; the benchmark
# runs its own instance on another port, so a running service does no harm.
