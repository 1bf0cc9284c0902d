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
. scripts/lib-bench.sh
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
# Every roomctl started below gathers ICE on 127.0.0.1 only (--ice-ip), so
# no media packet leaves loopback whatever interfaces the machine has.
export ROOMCTL_ICE_IP=127.0.0.1/32
secret=$(head -c 24 /dev/urandom | base64)
bench_start_serve "$tmp/serve.out" 1001 "$secret" "$tmp/roomctl"
url=$BENCH_URL

for i in $(seq "$users"); do
	"$tmp/roomctl" join --server "$url" --app-id 1001 --app-secret "$secret" --room r1 --uid "pub$i" \
		--publish test -q >/dev/null &
done
mkdir "$tmp/rec"
"$tmp/roomctl" record --server "$url" --app-id 1001 --app-secret "$secret" --room r1 --uid rec \
	--out "$tmp/rec" --duration "${secs}s" -q >"$tmp/rec.out" &
pid=$!
t0=$(date +%s.%N)
cpu=0 rss=0 hwm=0
while kill -0 "$pid" 2>/dev/null; do
	# A zombie (exited, not yet reaped) has no memory lines: keep the last sample.
	if c=$(bench_proc_cpu "$pid") && status=$(cat "/proc/$pid/status" 2>/dev/null) &&
		echo "$status" | grep -q '^VmRSS'; then
		cpu=$c
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
