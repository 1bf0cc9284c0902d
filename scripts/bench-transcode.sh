#!/usr/bin/env bash
# What transcoding restreams cost (issue 17), on loopback: `roomctl serve`,
# nginx with the RTMP module, publishers that send a VP8 640x480 30 fps
# ~1 Mb/s IVF + Opus 32 kb/s Ogg made by ffmpeg (--loop, keyframe every
# 2 s; files rather than --publish test, whose libvpx encoding takes most
# of a core each), and push-rtmp:
#
#   single   1 publisher, push-rtmp --source-uid: VP8 → H.264 at 640x480
#   task     4 publishers, push-rtmp --transcode 6: composed 1280x720 at
#            30 fps, 1600 kb/s, their audio mixed
#
# For each, after PUSH_STREAM_ONGOING and WARM seconds: push-rtmp's CPU
# (user+system from /proc/PID/stat) over SECS seconds, in cores; its peak
# RSS (VmHWM); and, from its "rtmp push stats" line once stopped, the
# latency from the RTP packet that completed a picture to the FLV tag handed
# to the socket (p50, p99), with the transcoder's encoded/skipped counts.
# The push process receives over WebRTC too: that is in its CPU.
#
#   scripts/bench-transcode.sh [-d SECS] [-w WARM] [-r REPS]
#   defaults: -d 20 -w 5 -r 3 (about 3 minutes on 2 cores)
#
# Needs jq, python3, ffmpeg with libvpx and libopus, nginx with
# libnginx-mod-rtmp (scripts/setup.sh installs them all).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh

SECS=20 WARM=5 REPS=3
while getopts d:w:r:h opt; do
	case $opt in
	d) SECS=$OPTARG ;;
	w) WARM=$OPTARG ;;
	r) REPS=$OPTARG ;;
	*) sed -n '2,24p' "$0" >&2; exit 2 ;;
	esac
done
export ROOMCTL_ICE_IP=127.0.0.1/32
RC=${RC:-bin/roomctl}
if [ -z "${NOBUILD:-}" ]; then
	go build -o bin/roomctl .
fi
work=$(mktemp -d)
pids=()
cleanup() {
	[ ${#pids[@]} -eq 0 ] || bench_stop "${pids[@]}"
	rm -rf "$work"
}
trap cleanup EXIT
APP=1001 SECRET=bench-transcode-secret-0123456789abcdef

ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=640x480:rate=30 -t 10 -c:v libvpx -b:v 1M -maxrate 1M \
	-bufsize 1M -deadline realtime -cpu-used 8 -g 60 "$work/v.ivf"
ffmpeg -nostdin -v error -f lavfi -i sine=f=440:r=48000 -t 10 -ac 1 -c:a libopus -b:a 32k "$work/a.ogg"

# nginx with the RTMP module, on a free loopback port.
port=$(bench_free_port tcp)
cat >"$work/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
error_log $work/nginx.log info;
pid $work/nginx.pid;
events { worker_connections 128; }
rtmp { server { listen 127.0.0.1:$port; application live { live on; } } }
EOF
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
bench_start_serve "$work/serve.out" "$APP" "$SECRET"
pids+=("$BENCH_PID")
URL=$BENCH_URL

# run NAME PUBLISHERS PUSH-ARGS...: one measurement; prints a table row.
run() {
	local name=$1 k=$2 room=r$RANDOM j ppids=() pp c0 c1 hwm stats
	shift 2
	for j in $(seq "$k"); do
		"$RC" join --server "$URL" --app-id "$APP" --app-secret "$SECRET" --room "$room" --uid "p$j" \
			--publish "$work/v.ivf,$work/a.ogg" --loop -q >/dev/null 2>&1 &
		ppids+=($!)
	done
	"$RC" push-rtmp --server "$URL" --app-id "$APP" --app-secret "$SECRET" --room "$room" --uid pusher \
		--url "rtmp://127.0.0.1:$port/live/$room" "$@" >"$work/push.out" 2>"$work/push.err" &
	pp=$!
	if ! bench_wait_event "$work/push.out" push_stream_status 30; then
		echo "$name: push-rtmp did not start:" >&2
		tail -n 20 "$work/push.err" >&2
		bench_stop "$pp" "${ppids[@]}"
		return 1
	fi
	sleep "$WARM"
	c0=$(bench_proc_cpu "$pp")
	sleep "$SECS"
	c1=$(bench_proc_cpu "$pp")
	hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pp/status")
	kill -INT "$pp"
	wait "$pp" || true
	bench_stop "${ppids[@]}"
	stats=$(grep 'rtmp push stats' "$work/push.err" | tail -n1)
	tstats=$(grep 'transcoding statistics' "$work/push.err" | tail -n1)
	field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
	printf '%-8s %3d  %6.3f  %7s  %9s  %9s  %8s  %8s  %8s\n' "$name" "$k" \
		"$(echo "$c1 $c0 $SECS" | awk '{print ($1 - $2) / $3}')" "$hwm" \
		"$(field video_latency_p50 "$stats")" "$(field video_latency_p99 "$stats")" \
		"$(field encoded "$tstats")" "$(field skipped "$tstats")" "$(field source_pictures_dropped "$tstats")"
}

echo "-- push-rtmp transcoding, ${SECS} s measured after ${WARM} s, $REPS repetitions (cores = CPU s / wall s)"
printf '%-8s %3s  %6s  %7s  %9s  %9s  %8s  %8s  %8s\n' what pubs cores "HWM MB" "video p50" "video p99" encoded skipped dropped
for _ in $(seq "$REPS"); do
	run single 1 --source-uid p1
	run task 4 --transcode 6
done
