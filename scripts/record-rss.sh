#!/usr/bin/env bash
# Measures one `roomctl record` process: its memory (VmHWM, the peak RSS,
# and VmRSS at the end) and CPU while it records USERS publishers for
# SECONDS. Each publisher is a `roomctl join --publish test` process (VP8
# 640x480 at 30 fps, ~1 Mb/s, + Opus), all against one `roomctl serve` on
# loopback. The publishers' and the server's CPU is not counted.
#
#   scripts/record-rss.sh [SECONDS] [USERS]      # defaults: 30 1
#
# The recording pipeline alone (no network, no WebRTC) is measured by
#   go test -run '^$' -bench Record -benchtime 600x ./record
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
users=${2:-1}
tmp=$(mktemp -d)
cleanup() {
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/roomctl" .
secret=$(head -c 24 /dev/urandom | base64)
"$tmp/roomctl" serve --listen 127.0.0.1:0 --app-id 1001 --app-secret "$secret" -q >"$tmp/serve.out" &
url=
for _ in $(seq 100); do
	url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$tmp/serve.out" | head -n1)
	[ -n "$url" ] && break
	sleep 0.1
done
[ -n "$url" ] || { echo "serve did not start" >&2; exit 1; }

for i in $(seq "$users"); do
	"$tmp/roomctl" join --server "$url" --app-id 1001 --app-secret "$secret" --room r1 --uid "pub$i" \
		--publish test -q >/dev/null &
done
mkdir "$tmp/rec"
"$tmp/roomctl" record --server "$url" --app-id 1001 --app-secret "$secret" --room r1 --uid rec \
	--out "$tmp/rec" --duration "${secs}s" -q >"$tmp/rec.out" &
pid=$!
t0=$(date +%s.%N)
hz=$(getconf CLK_TCK)
cpu=0 rss=0 hwm=0
while kill -0 "$pid" 2>/dev/null; do
	# A zombie (exited, not yet reaped) has no memory lines: keep the last sample.
	if st=$(cat "/proc/$pid/stat" 2>/dev/null) && status=$(cat "/proc/$pid/status" 2>/dev/null) &&
		echo "$status" | grep -q '^VmRSS'; then
		# utime and stime: fields 14 and 15, the 12th and 13th after "(comm) ".
		cpu=$(echo "${st##*) }" | awk -v hz="$hz" '{printf "%.2f", ($12 + $13) / hz}')
		rss=$(echo "$status" | awk '/^VmRSS/ {print $2}')
		hwm=$(echo "$status" | awk '/^VmHWM/ {print $2}')
	fi
	sleep 0.5
done
wait "$pid" || { echo "record failed" >&2; exit 1; }
t1=$(date +%s.%N)
files=$(grep -c '"recording_file_closed"' "$tmp/rec.out" || true)
bytes=$(sed -n 's/.*"recording_file_closed".*"bytes":\([0-9]*\).*/\1/p' "$tmp/rec.out" | awk '{s += $1} END {print s + 0}')
awk -v secs="$secs" -v users="$users" -v cpu="$cpu" -v rss="$rss" -v hwm="$hwm" -v t0="$t0" -v t1="$t1" \
	-v files="$files" -v bytes="$bytes" 'BEGIN {
	wall = t1 - t0
	printf "record: %d user(s), %.1f s wall, %d file(s), %.1f MB written\n", users, wall, files, bytes / 1e6
	printf "  peak RSS (VmHWM) %.1f MiB, RSS at the end %.1f MiB\n", hwm / 1024, rss / 1024
	printf "  CPU %.2f s = %.1f%% of one core", cpu, 100 * cpu / wall
	if (users > 0) printf " (%.1f ms per second per user)", 1000 * cpu / wall / users
	printf "\n"
}'
