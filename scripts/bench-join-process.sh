#!/usr/bin/env bash
# Join latency as a user sees it: N runs of the real binary,
# `roomctl join --until first_video_frame_decode`, against `roomctl serve`
# and a publisher on loopback. Prints p50/p90/max of process start ->
# connected and -> first_video_frame_decode (from the events' ts).
# Usage: scripts/bench-join-process.sh [N] [vp8|h264]
# (scripts/bench-backends.sh measures the same against livekit-server too.)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
N="${1:-50}"; CODEC="${2:-vp8}"
# Every roomctl started below gathers ICE on 127.0.0.1 only (--ice-ip), so
# no media packet leaves loopback whatever interfaces the machine has.
export ROOMCTL_ICE_IP=127.0.0.1/32
go build -o bin/roomctl .
RC=bin/roomctl; SECRET="bench-secret-bench-secret-bench-secret"
work=$(mktemp -d); pids=()
trap 'bench_stop "${pids[@]}"; rm -rf "$work"' EXIT
bench_start_serve "$work/serve" b "$SECRET" "$RC"; URL=$BENCH_URL; pids+=("$BENCH_PID")
$RC join --server "$URL" --app-id b --app-secret "$SECRET" --room b --uid pub --publish test --video-codec "$CODEC" --quiet >/dev/null & pids+=($!)
sleep 1
for i in $(seq "$N"); do
  bench_now_ms start
  $RC join --server "$URL" --app-id b --app-secret "$SECRET" --room b --uid "s$i" --quiet \
    --until first_video_frame_decode --timeout 20s --events connected,first_video_frame_decode >"$work/run"
  bench_event_ms "$start" <"$work/run" >>"$work/all"
  sleep 0.3
done
for ev in connected first_video_frame_decode; do
  read -r n p50 p90 max < <(awk -v ev="$ev" '$1 == ev {print $2}' "$work/all" | bench_pctl 50 90 100)
  printf "process start -> %-26s n=%d p50 %.0f ms  p90 %.0f ms  max %.0f ms\n" "$ev" "$n" "$p50" "$p90" "$max"
done
