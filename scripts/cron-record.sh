#!/bin/sh
# Record a room from cron. Each run records the room for ROOMCTL_DURATION
# (default 59m, so that hourly runs do not overlap) into OUT_DIR/YYYY-MM-DD/,
# one file per user (and per ROOMCTL_SEGMENT, if set), then prints the files
# it finished on stdout: path, duration, why it closed.
#
# crontab -e, one run at the top of every hour (a single line):
#   0 * * * * ROOMCTL_SERVER=wss://rtc.example.com ROOMCTL_APP_ID=1001 ROOMCTL_TOKEN_CMD=/usr/local/bin/get-room-token ROOMCTL_ROOM=r1 /opt/roomctl/scripts/cron-record.sh /var/rec >>/var/log/roomctl-record.log 2>&1
#
# Environment (every roomctl flag reads ROOMCTL_<FLAG>; see `roomctl record --help`):
#   ROOMCTL_SERVER, ROOMCTL_APP_ID, ROOMCTL_ROOM   where to record (APP_ID and ROOM required)
#   ROOMCTL_TOKEN_CMD | ROOMCTL_TOKEN | ROOMCTL_APP_SECRET
#                                                  how to get a token (TOKEN_CMD is renewed as needed)
#   ROOMCTL_DURATION    how long a run records (default 59m)
#   ROOMCTL_SEGMENT     a new file per user every this long, at a keyframe (e.g. 10m)
#   ROOMCTL_SUBSCRIBE   only these uids (comma-separated)
#   ROOMCTL_UID         the recorder's own uid (default: random)
#   ROOMCTL_ICE_INTERFACE, ROOMCTL_ICE_IP
#                       receive media only on these interfaces / addresses
#                       (e.g. eth0 / 10.0.0.0/8; default: all)
#   ROOMCTL_BIN         the roomctl binary (default: roomctl on PATH)
#   ROOMCTL_OUT         the out dir, when not given as the argument
#
# Each run keeps roomctl's event lines next to the files (.events-ROOM-TIME.ndjson).
# A run that finds the previous one still finishing exits 0 without recording.
# Exit status is roomctl's: 0 done, 1 a recording error (disk full...), 2 bad
# arguments or unusable out dir, 3 token refused, 5 server unreachable.
set -eu

out=${1:-${ROOMCTL_OUT:-}}
if [ -z "$out" ]; then
	echo "usage: $0 OUT_DIR (or set ROOMCTL_OUT)" >&2
	exit 2
fi
: "${ROOMCTL_APP_ID:?set ROOMCTL_APP_ID}"
: "${ROOMCTL_ROOM:?set ROOMCTL_ROOM}"
bin=${ROOMCTL_BIN:-roomctl}
ROOMCTL_DURATION=${ROOMCTL_DURATION:-59m}
export ROOMCTL_DURATION

dir="$out/$(date -u +%Y-%m-%d)"
mkdir -p "$dir"

# One recorder per room at a time.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$out/.roomctl-record-$ROOMCTL_ROOM.lock"
	if ! flock -n 9; then
		echo "$(date -u +%FT%TZ) $ROOMCTL_ROOM: the previous recording is still running; skipping" >&2
		exit 0
	fi
fi

events="$dir/.events-$ROOMCTL_ROOM-$(date -u +%Y%m%dT%H%M%SZ).ndjson"
echo "$(date -u +%FT%TZ) $ROOMCTL_ROOM: recording for $ROOMCTL_DURATION into $dir" >&2
rc=0
"$bin" record --out "$dir" >"$events" || rc=$?

# The files this run finished: the recording_file_closed lines.
if command -v jq >/dev/null 2>&1; then
	jq -r 'select(.event == "recording_file_closed") | "\(.data.path)\t\(.data.durationMs / 1000)s\t\(.data.reason)"' "$events"
else
	sed -n 's/.*"event":"recording_file_closed".*"path":"\([^"]*\)".*/\1/p' "$events"
fi
if grep -q '"event":"recording_error"' "$events"; then
	echo "$(date -u +%FT%TZ) $ROOMCTL_ROOM: recording errors, see $events" >&2
fi
echo "$(date -u +%FT%TZ) $ROOMCTL_ROOM: roomctl exited $rc" >&2
exit "$rc"
