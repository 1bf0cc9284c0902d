#!/usr/bin/env bash
# Drive roomctl join as a bash coprocess: wait for the join, read the
# session's stats, mute the microphone, leave. Needs jq.
#   APP=1001 SECRET=... ROOM=r1 scripts/examples/control-coproc.sh
set -euo pipefail
coproc RC { "${ROOMCTL:-roomctl}" join --server "${SERVER:-ws://127.0.0.1:8890}" --app-id "$APP" \
  --app-secret "$SECRET" --room "${ROOM:-r1}" --uid "${USERID:-bot}" --publish test --control; }
pid=$RC_PID # bash unsets RC_PID as soon as the coprocess ends
n=0
call() { # call METHOD [PARAMS-JSON]: prints the reply's data; fails on an error reply
  n=$((n + 1))
  printf '{"id":%d,"method":"%s","params":%s}\n' "$n" "$1" "${2:-{\}}" >&"${RC[1]}"
  while read -r line <&"${RC[0]}"; do # events come in between: skip them
    reply=$(jq -c --argjson id "$n" 'select(.event == "reply" and .data.id == $id) | .data' <<<"$line")
    [ -n "$reply" ] || continue
    echo "$reply"
    jq -e 'has("result")' <<<"$reply" >/dev/null
    return
  done
  return 1 # roomctl ended
}
while read -r line <&"${RC[0]}"; do # joined once the server said yes
  jq -e 'select(.event == "sdk_auth_result" and .data.result == 0)' <<<"$line" >/dev/null && break
done
call getSessionStats
call muteLocalAudio '{"mute":true}'
call leaveRoom
wait "$pid"
