#!/usr/bin/env bash
# What `roomctl record` costs per recorded user: K publishers (each a VP8
# 640x480 30 fps ~1 Mb/s IVF + Opus 32 kb/s Ogg made by ffmpeg, looped by
# `join --publish FILES --loop`, subscribing to nobody) in a room of
# `roomctl serve`, and one `record --duration SECS` of them, for K in USERS,
# REPS times. Printed per run: record's CPU (user+system, /usr/bin/time), its
# peak RSS (VmHWM: with the binary's own pages, ~50 MB before anything is
# recorded, shared by every roomctl process) and peak anonymous RSS (RssAnon,
# sampled every 0.2 s: the process's own memory), the seconds recorded (the
# durationMs of its recording_file_closed events) and the CPU per recorded
# user-second; then the means per K. record sizes its own GOMAXPROCS (one
# per 48 recorded tracks: 1 here); RECORD_GOMAXPROCS=N sets it instead, e.g.
# 2 to see what one P per CPU costs (README "Recording"). RECORD_ARGS adds
# record flags (e.g. "--read-pacing 0" to read each packet on arrival),
# RECORD_ENV variables of record's environment (e.g.
# "ROOMCTL_CPUPROFILE=/tmp/rec.prof").
# (scripts/bench-backends.sh runs record against livekit-server as well.)
#
#   scripts/bench-record.sh [-k "USERS..."] [-d SECS] [-r REPS]
#   defaults: -k "1 5 10" -d 20 -r 3 (about 4 minutes on 2 cores)
#
# Needs jq, python3, GNU time (/usr/bin/time), ffmpeg with libvpx and
# libopus. Everything on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh

USERS="1 5 10" SECS=20 REPS=3
while getopts k:d:r:h opt; do
	case $opt in
	k) USERS=$OPTARG ;;
	d) SECS=$OPTARG ;;
	r) REPS=$OPTARG ;;
	*) sed -n '2,22p' "$0" >&2; exit 2 ;;
	esac
done
export ROOMCTL_ICE_IP=127.0.0.1/32
RC=${RC:-bin/roomctl}
[ -n "${NOBUILD:-}" ] || go build -o bin/roomctl .
work=$(mktemp -d)
pids=()
cleanup() {
	[ ${#pids[@]} -eq 0 ] || bench_stop "${pids[@]}"
	rm -rf "$work"
}
trap cleanup EXIT
APP=1001 SECRET=bench-record-secret-0123456789abcdefgh

ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=640x480:rate=30 -t 10 -c:v libvpx -b:v 1M -maxrate 1M \
	-bufsize 1M -deadline realtime -cpu-used 8 -g 60 "$work/v.ivf"
ffmpeg -nostdin -v error -f lavfi -i sine=f=440:r=48000 -t 10 -ac 1 -c:a libopus -b:a 32k "$work/a.ogg"
bench_start_serve "$work/serve.out" "$APP" "$SECRET"
pids+=("$BENCH_PID")
URL=$BENCH_URL

echo "-- record --duration ${SECS}s of K publishers (VP8 640x480 30 fps ~1 Mb/s + Opus, files looped), $REPS repetitions"
printf '%3s  %8s  %8s  %8s  %9s  %14s\n' K "CPU s" "peak MB" "anon MB" "user-s" "ms CPU/user-s"
for _ in $(seq "$REPS"); do
	for k in $USERS; do
		room=rec$RANDOM ppids=()
		for j in $(seq "$k"); do
			"$RC" join --server "$URL" --app-id "$APP" --app-secret "$SECRET" --room "$room" --uid "p$j" \
				--publish "$work/v.ivf,$work/a.ogg" --loop --subscribe nobody -q >/dev/null 2>&1 &
			ppids+=($!)
		done
		sleep 1
		rm -rf "$work/out" && mkdir -p "$work/out"
		/usr/bin/time -f '%U %S %M' -o "$work/time" env ${RECORD_GOMAXPROCS:+GOMAXPROCS=$RECORD_GOMAXPROCS} ${RECORD_ENV:-} "$RC" record --server "$URL" --app-id "$APP" --app-secret "$SECRET" \
			--room "$room" --uid rec --out "$work/out" --duration "${SECS}s" ${RECORD_ARGS:-} -q >"$work/rec.out" &
		tpid=$!
		anon=$(bench_peak_anon "$tpid")
		wait "$tpid" || true
		bench_stop "${ppids[@]}"
		read -r u s m <"$work/time"
		secs=$(jq -r 'select(.event=="recording_file_closed") | .data.durationMs' "$work/rec.out" | awk '{t += $1} END {printf "%.1f", t / 1000}')
		echo "$k $u $s $m $secs $anon" | awk '{cpu = $2 + $3; printf "%3d  %8.2f  %8.1f  %8.1f  %9.1f  %14.2f\n", $1, cpu, $4 / 1024, $6 / 1024, $5, ($5 > 0 ? 1000 * cpu / $5 : 0)}' | tee -a "$work/rows"
	done
done
echo
echo "-- means per K"
awk '{c[$1] += $2; m[$1] += $3; a[$1] += $4; u[$1] += $5; n[$1]++} END {for (k in c) printf "%3d  CPU %.2f s  peak %.1f MB (anonymous %.1f MB)  %.2f ms CPU per recorded user-second\n", k, c[k] / n[k], m[k] / n[k], a[k] / n[k], 1000 * c[k] / u[k]}' "$work/rows" | sort -n
