#!/bin/sh
# CI smoke test for an RTC deployment: join a room as a publisher and as a
# subscriber and pass when the subscriber decodes the publisher's video.
# Copy it into your pipeline; configure with the environment:
#
#   ROOMCTL_SERVER      ws(s):// URL of the room server        (required)
#   ROOMCTL_APP_ID      application id                         (required)
#   ROOMCTL_TOKEN_CMD   command printing a token for $ROOMCTL_UID in $ROOMCTL_ROOM
#                       (or ROOMCTL_APP_SECRET to mint locally, for test deployments)
#   ROOMCTL_ROOM        room to use (default: smoke-<random>)
#   SMOKE_TIMEOUT       how long to wait for video (default 20s)
#   ROOMCTL_ICE_INTERFACE, ROOMCTL_ICE_IP
#                       send and receive media only on these interfaces /
#                       addresses (default: all)
#   ROOMCTL_BIN         the roomctl binary (default: roomctl on PATH)
#
# Exit code: 0 pass; roomctl's codes otherwise (3 auth refused, 4 no video in
# time, 5 server unreachable). The subscriber's events are kept in
# smoke-events.ndjson for the CI log.
set -eu
RC="${ROOMCTL_BIN:-roomctl}"
: "${ROOMCTL_SERVER:?set ROOMCTL_SERVER}" "${ROOMCTL_APP_ID:?set ROOMCTL_APP_ID}"
export ROOMCTL_ROOM="${ROOMCTL_ROOM:-smoke-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')}"
timeout="${SMOKE_TIMEOUT:-20s}"

# The publisher: test pattern + tone, for a little longer than we wait.
ROOMCTL_UID=smoke-pub "$RC" join --publish test --duration 60s --quiet >/dev/null &
pub=$!
trap 'kill "$pub" 2>/dev/null || true' EXIT INT TERM

set +e
ROOMCTL_UID=smoke-sub "$RC" join --until first_video_frame_decode --timeout "$timeout" >smoke-events.ndjson
code=$?
set -e
if [ "$code" -eq 0 ]; then
  echo "smoke test passed: video decoded in room $ROOMCTL_ROOM" >&2
else
  echo "smoke test FAILED (roomctl exit $code); events:" >&2
  cat smoke-events.ndjson >&2
fi
exit "$code"
