#!/usr/bin/env bash
# Prints the RSS of `roomctl devices --watch` polling every 10 ms (100 times
# a second; join and mix-audio poll once a second) at 5, 20 and 40 s: a leak
# per poll shows as steady growth. Run it with and without PULSE_SERVER
# pointing at a running PulseAudio.
#
#   scripts/watch-rss.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(mktemp /tmp/roomctl.XXXX)
trap 'rm -f "$bin"' EXIT
go build -o "$bin" "$root"
"$bin" devices --watch --interval 10ms --duration 41s --no-video >/dev/null 2>&1 &
pid=$!
last=0
for t in 5 20 40; do
	sleep $((t - last))
	last=$t
	echo "after ${t}s (~$((t * 100)) polls): $(awk '/VmRSS/{print $2, $3}' "/proc/$pid/status")"
done
wait $pid
