#!/usr/bin/env bash
# The SFU side by side: `roomctl serve` and livekit-server forwarding one
# publisher (VP8 640x480 30 fps ~1 Mb/s IVF + Opus 32 kb/s Ogg made by
# ffmpeg, looped) to N subscribers of `roomctl load` (which only count
# packets), for N in SUBS, alternating the servers (serve, livekit, serve,
# …), REPS times. Each run starts a fresh server, so that its peak RSS
# (VmHWM) is this run's. Printed per run: the server's CPU in cores over the
# steady part (from WARM seconds after the last subscriber started to 1 s
# before the end; /proc/PID/stat), its VmHWM, what the subscribers received
# (packets/s and Mb/s over the same part, from load's load_tick lines),
# load's join, first-video and first-audio p50, and load's own CPU per
# subscriber-second (ms; its subscribers count packets, the publisher sends a
# file); then the
# mean per server and N, and the ratios roomctl/livekit. Both servers carry
# all media on one UDP port (serve --udp-port, batched sends; extra serve
# flags in $SERVE_ARGS, e.g. SERVE_ARGS=--udp-batch=false).
#
#   scripts/bench-sfu.sh [-n "SUBS..."] [-d SECS] [-w WARM] [-r REPS] [-b "serve livekit"]
#   defaults: -n "10 25 50" -d 25 -w 4 -r 3 -b "serve livekit" (about 8 minutes)
#
# Needs jq, curl, python3, ffmpeg with libvpx and libopus, livekit-server
# ($ROOMCTL_LIVEKIT_SERVER, on PATH or /root/go/bin; scripts/setup.sh
# installs it). Everything listens on 127.0.0.1; ICE on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh

SUBS="10 25 50" SECS=25 WARM=4 REPS=3 BACKENDS="serve livekit"
while getopts n:d:w:r:b:h opt; do
	case $opt in
	n) SUBS=$OPTARG ;;
	d) SECS=$OPTARG ;;
	w) WARM=$OPTARG ;;
	r) REPS=$OPTARG ;;
	b) BACKENDS=$OPTARG ;;
	*) sed -n '2,23p' "$0" >&2; exit 2 ;;
	esac
done
export ROOMCTL_ICE_IP=127.0.0.1/32
RC=${RC:-bin/roomctl}
[ -n "${NOBUILD:-}" ] || go build -o bin/roomctl .
work=$(mktemp -d)
spid=
cleanup() {
	[ -z "$spid" ] || bench_stop "$spid"
	rm -rf "$work"
}
trap cleanup EXIT
APP=1001 SECRET=bench-sfu-secret-0123456789abcdefghij RAMP=25

ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=640x480:rate=30 -t 10 -c:v libvpx -b:v 1M -maxrate 1M \
	-bufsize 1M -deadline realtime -cpu-used 8 -g 60 "$work/v.ivf"
ffmpeg -nostdin -v error -f lavfi -i sine=f=440:r=48000 -t 10 -ac 1 -c:a libopus -b:a 32k "$work/a.ogg"

# run BACKEND N: one measurement; appends "backend n cores hwm pps mbps join ffv" to $work/rows.
run() {
	local b=$1 n=$2 backend=embedded start steady c0 c1 l0 l1 hwm
	mkdir -p "$work/$b"
	if [ "$b" = livekit ]; then
		bench_start_livekit "$work/$b" "$APP" "$SECRET"
		backend=livekit
	else
		# One UDP port, as livekit-server's udp_port (batched sends;
		# SERVE_ARGS=--udp-batch=false for one sendto per datagram).
		SERVE_ARGS="--udp-port $(bench_free_port udp) ${SERVE_ARGS:-}" bench_start_serve "$work/$b/serve.out" "$APP" "$SECRET"
	fi
	spid=$BENCH_PID
	"$RC" load --backend "$backend" --server "$BENCH_URL" --app-id "$APP" --app-secret "$SECRET" --room bench \
		--publish "$work/v.ivf,$work/a.ogg" --publishers 1 --subscribers "$n" --ramp $RAMP --duration "${SECS}s" -q \
		>"$work/load.out" &
	local lpid=$!
	# The last subscriber starts (n+1)/RAMP s in; measure from WARM s after.
	steady=$(echo "$n $RAMP $WARM" | awk '{printf "%.2f", ($1 + 1) / $2 + $3}')
	sleep "$steady"
	c0=$(bench_proc_cpu "$spid")
	l0=$(bench_proc_cpu "$lpid")
	start=$(date +%s.%N)
	sleep "$(echo "$SECS $steady" | awk '{printf "%.2f", $1 - $2 - 1}')"
	c1=$(bench_proc_cpu "$spid")
	l1=$(bench_proc_cpu "$lpid")
	local wall
	wall=$(echo "$start $(date +%s.%N)" | awk '{print $2 - $1}')
	hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$spid/status")
	wait "$lpid" || true
	bench_stop "$spid"
	spid=
	# Received over the ticks of the steady part.
	jq -r --argjson s "$steady" --argjson e "$((SECS - 1))" \
		'select(.event=="load_tick" and .data.t > $s and .data.t <= $e) | "\(.data.packets) \(.data.kbps)"' "$work/load.out" |
		awk -v b="$b" -v n="$n" -v c="$(echo "$c1 $c0 $wall" | awk '{print ($1 - $2) / $3}')" -v h="$hwm" \
			-v lc="$(echo "$l1 $l0 $wall $n" | awk '{printf "%.2f", 1000 * ($1 - $2) / $3 / $4}')" \
			-v j="$(jq -r 'select(.event=="load_summary") | "\(.data.joinMs.p50 // "-") \(.data.firstVideoMs.p50 // "-") \(.data.firstAudioMs.p50 // "-") \(.data.failed)"' "$work/load.out")" \
			'{p += $1; k += $2; m++} END {split(j, a, " "); printf "%s %d %.3f %s %.0f %.1f %s %s %s %s %s\n", b, n, c, h, p / m, k / m / 1000, a[1], a[2], a[3], a[4], lc}' \
			>>"$work/rows"
	tail -n1 "$work/rows" | awk '{printf "%-8s %4d  %6.3f  %7.1f  %9.0f  %7.1f  %8s  %8s  %8s  %6s  %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11}'
}

echo "-- 1 publisher (VP8 640x480 30 fps ~1 Mb/s + Opus) -> N counting subscribers, ${SECS} s runs, alternating, $REPS repetitions"
printf '%-8s %4s  %6s  %7s  %9s  %7s  %8s  %8s  %8s  %6s  %9s\n' server N cores "HWM MB" "rx pkt/s" "rx Mb/s" "join p50" "1st vid" "1st aud" failed 'load ms/s'
for _ in $(seq "$REPS"); do
	for n in $SUBS; do
		for b in $BACKENDS; do
			run "$b" "$n"
		done
	done
done

echo
echo "-- means per server and N; ratios roomctl serve / livekit"
awk '{k = $1 " " $2; c[k] += $3; h[k] += $4; p[k] += $5; r[k]++; ns[$2] = 1}
	END {
		printf "%4s  %12s %12s %7s   %12s %12s %7s   %14s\n", "N", "serve cores", "lk cores", "ratio", "serve HWM", "lk HWM", "ratio", "CPU/1k pkt s/l"
		for (n in ns) {
			s = "serve " n; l = "livekit " n
			if (!(s in r) || !(l in r)) continue
			cs = c[s] / r[s]; cl = c[l] / r[l]; hs = h[s] / r[s]; hl = h[l] / r[l]
			ps = p[s] / r[s]; pl = p[l] / r[l]
			printf "%4d  %12.3f %12.3f %7.2f   %10.1fMB %10.1fMB %7.2f   %6.3f/%6.3f\n", n, cs, cl, cs / cl, hs, hl, hs / hl, 1000 * cs / ps, 1000 * cl / pl
		}
	}' "$work/rows" | sort -n
