#!/usr/bin/env bash
# Join latency as a user sees it: N runs of the real binary,
# `roomctl join --until first_video_frame_decode`, against `roomctl serve`
# and a publisher on loopback. Prints p50/p90/max of process start ->
# connected and -> first_video_frame_decode (from the events' ts).
# Usage: scripts/bench-join-process.sh [N] [vp8|h264]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-50}"; CODEC="${2:-vp8}"
go build -o bin/roomctl .
RC=bin/roomctl; SECRET="bench-secret-bench-secret-bench-secret"
work=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
$RC serve --listen 127.0.0.1:0 --app-id b --app-secret "$SECRET" --quiet >"$work/serve" & pids+=($!)
until URL=$(jq -er 'select(.event=="server_listening").data.url' "$work/serve" 2>/dev/null); do sleep 0.05; done
$RC join --server "$URL" --app-id b --app-secret "$SECRET" --room b --uid pub --publish test --video-codec "$CODEC" --quiet >/dev/null & pids+=($!)
sleep 1
for i in $(seq "$N"); do
  start=$(date +%s%3N)
  $RC join --server "$URL" --app-id b --app-secret "$SECRET" --room b --uid "s$i" --quiet \
    --until first_video_frame_decode --timeout 20s --events connected,first_video_frame_decode >"$work/run"
  jq -r --argjson s "$start" '(.ts | sub("\\.[0-9]+Z$";"Z") | fromdate) as $sec | (.ts | capture("\\.(?<ms>[0-9]+)Z$").ms | tonumber) as $ms | "\(.event) \($sec*1000+$ms-$s)"' "$work/run" >>"$work/all"
  sleep 0.3
done
for ev in connected first_video_frame_decode; do
  grep "^$ev " "$work/all" | awk '{print $2}' | sort -n | awk -v ev="$ev" '{a[NR]=$1} END {printf "process start -> %-26s n=%d p50 %d ms  p90 %d ms  max %d ms\n", ev, NR, a[int(NR*0.5+0.5)], a[int(NR*0.9+0.5)], a[NR]}'
done
