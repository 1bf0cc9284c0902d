#!/usr/bin/env bash
# The demo: install what is needed, build roomctl, start the embedded room
# server, a publisher (test pattern + tone) and a subscriber on loopback, and
# show the subscriber's events (NDJSON on stdout) for DEMO_SECONDS (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PATH:/usr/local/go/bin"

echo "demo: building roomctl" >&2
go build -o bin/roomctl .
RC=bin/roomctl
SECRET="demo-secret-demo-secret-demo-secret!"
SECONDS_TO_RUN="${DEMO_SECONDS:-10}"
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

echo "demo: subscriber bob's events for ${SECONDS_TO_RUN}s:" >&2
$RC join --server "$URL" --app-id demo --app-secret "$SECRET" --room demo --uid bob \
  --duration "${SECONDS_TO_RUN}s" --quiet
echo "demo: done" >&2
