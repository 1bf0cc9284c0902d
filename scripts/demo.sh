#!/usr/bin/env bash
# The demo: install what is needed, build roomctl, start the embedded room
# server, a publisher (test pattern + tone) and a recorder on loopback, and
# show the recorder's events (NDJSON on stdout) for DEMO_SECONDS (default 10);
# then check the recording with ffprobe. Recordings stay in DEMO_OUT
# (default ./demo-recordings).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PATH:/usr/local/go/bin"
# Every roomctl started below gathers ICE on 127.0.0.1 only (--ice-ip), so
# no media packet leaves loopback whatever interfaces the machine has.
export ROOMCTL_ICE_IP=127.0.0.1/32

echo "demo: building roomctl" >&2
go build -o bin/roomctl .
RC=bin/roomctl
SECRET="demo-secret-demo-secret-demo-secret!"
SECONDS_TO_RUN="${DEMO_SECONDS:-10}"
OUT="${DEMO_OUT:-$PWD/demo-recordings}"
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Port 0: the server picks a free port and prints it in server_listening.
$RC serve --listen 127.0.0.1:0 --app-id demo --app-secret "$SECRET" --quiet >"$work/serve.ndjson" &
pids+=($!)
for _ in $(seq 100); do
  URL=$(jq -r 'select(.event=="server_listening").data.url' "$work/serve.ndjson" 2>/dev/null || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "${URL:-}" ] || { echo "demo: server did not start" >&2; exit 1; }
echo "demo: room server at $URL" >&2

$RC join --server "$URL" --app-id demo --app-secret "$SECRET" --room demo --uid alice \
  --publish test --quiet >"$work/alice.ndjson" &
pids+=($!)

echo "demo: recorder bob's events for ${SECONDS_TO_RUN}s (recording to $OUT):" >&2
$RC record --server "$URL" --app-id demo --app-secret "$SECRET" --room demo --uid bob \
  --out "$OUT" --duration "${SECONDS_TO_RUN}s" --audio-level-report --quiet | tee "$work/bob.ndjson"
for f in $(jq -r 'select(.event=="recording_file_closed").data.path' "$work/bob.ndjson"); do
  echo "demo: $f:" >&2
  ffprobe -v error -show_entries stream=codec_name,width,height,sample_rate -show_entries format=duration -of compact "$f" >&2
done
echo "demo: done" >&2
