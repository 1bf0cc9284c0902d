#!/usr/bin/env bash
# roomctl on its two backends side by side, in one run: `roomctl serve`
# (--backend embedded) and livekit-server (--backend livekit), both on
# loopback, both up for the whole run, the measurements alternating between
# them (serve, livekit, serve, livekit, ...) so that both see the same load.
#
# 1. Join latency: one publisher per server (`join --publish test`, VP8
#    640x480 at 30 fps + Opus); then N times per server
#    `join --until first_video_frame_decode --timeout 20s`, GAP seconds
#    between runs. Times are from just before the exec (bash's
#    EPOCHREALTIME) to each event line's ts; p50/p90/p99/max per event.
# 2. Record cost: `record --duration SECS` of K publishers, for each K of
#    USERS, on each server (the join publishers stopped first). The
#    publishers send a VP8 640x480 30 fps ~1 Mb/s IVF and an Opus 32 kb/s Ogg
#    made by ffmpeg, with --loop (SOURCE=file, ~15 % of a core each); with
#    -s test they are `--publish test` (~75 % of a core each: libvpx
#    encoding, so 5 of them overload 2 cores and starve the recorder). CPU
#    (user+sys) and peak RSS of the record process from /usr/bin/time;
#    CPU per recorded user-second, the recorded seconds being the
#    durationMs of its recording_file_closed events. The server's CPU over
#    the same time is printed too.
# 3. Both side by side, with livekit/serve ratios.
#
#   scripts/bench-backends.sh [-n JOINS] [-d SECS] [-k "USERS..."] [-g GAP] [-s file|test]
#   defaults: -n 50 -d 30 -k "1 5" -g 0.3 -s file (env BENCH_JOINS,
#   BENCH_RECORD_SECS, BENCH_RECORD_USERS, BENCH_GAP, BENCH_RECORD_SOURCE);
#   ~6 minutes on 2 cores with the defaults.
#
# Needs jq, curl, python3, GNU time (/usr/bin/time), livekit-server
# ($ROOMCTL_LIVEKIT_SERVER, on PATH or /root/go/bin) and, for -s file,
# ffmpeg with libvpx and libopus.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh

N=${BENCH_JOINS:-50} SECS=${BENCH_RECORD_SECS:-30} USERS=${BENCH_RECORD_USERS:-1 5} GAP=${BENCH_GAP:-0.3}
SOURCE=${BENCH_RECORD_SOURCE:-file}
while getopts n:d:k:g:s:h opt; do
	case $opt in
	n) N=$OPTARG ;;
	d) SECS=$OPTARG ;;
	k) USERS=$OPTARG ;;
	g) GAP=$OPTARG ;;
	s) SOURCE=$OPTARG ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
	esac
done
BACKENDS=(serve livekit)
load=$(cut -d' ' -f1-3 /proc/loadavg)

work=$(mktemp -d /tmp/rcbench.XXXX)
pids=()
cleanup() {
	if [ ${#pids[@]} -gt 0 ]; then bench_stop "${pids[@]}"; fi
	rm -rf "$work"
}
trap cleanup EXIT
# Every roomctl started below gathers ICE on 127.0.0.1 only (--ice-ip), so
# no media packet leaves loopback whatever interfaces the machine has.
export ROOMCTL_ICE_IP=127.0.0.1/32
RC=$work/roomctl
go build -o "$RC" .
[[ $("$RC" join --help 2>&1) == *--backend* ]] || { echo "this roomctl has no --backend" >&2; exit 1; }

SECRET=bench-secret-bench-secret-bench-secret
declare -A URL APP SPID
mkdir "$work/lk"
bench_start_serve "$work/serve.out" bench "$SECRET" "$RC"
URL[serve]=$BENCH_URL APP[serve]=bench SPID[serve]=$BENCH_PID
pids+=("$BENCH_PID")
bench_start_livekit "$work/lk" benchkey "$SECRET"
URL[livekit]=$BENCH_URL APP[livekit]=benchkey SPID[livekit]=$BENCH_PID
pids+=("$BENCH_PID")
# A_serve, A_livekit: the flags that point roomctl at that backend's server
# (arrays, not a function, so that "$RC" ... & gives roomctl's own pid).
A_serve=(--backend embedded --server "${URL[serve]}" --app-id "${APP[serve]}" --app-secret "$SECRET" -q)
A_livekit=(--backend livekit --server "${URL[livekit]}" --app-id "${APP[livekit]}" --app-secret "$SECRET" -q)

echo "== roomctl: embedded server (roomctl serve) vs livekit-server, $(date -u +%FT%TZ)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load average at start $load"
echo "$(go version | cut -d' ' -f3), livekit-server $("${ROOMCTL_LIVEKIT_SERVER:-$(command -v livekit-server || echo /root/go/bin/livekit-server)}" --version | awk '{print $NF}'), roomctl $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
echo "reproduce: scripts/bench-backends.sh -n $N -d $SECS -k \"$USERS\" -g $GAP -s $SOURCE"

# ---- 1. join latency ----------------------------------------------------
declare -A jpub
declare -A R # R[backend,measure,percentile]
pct() { # pct BACKEND MEASURE P...: sets R[BACKEND,MEASURE,P] and R[..,n]
	local b=$1 m=$2 out
	shift 2
	out=($(cat | bench_pctl "$@"))
	R[$b,$m,n]=${out[0]}
	local i=1 p
	for p in "$@"; do R[$b,$m,$p]=${out[$i]}; i=$((i + 1)); done
}
EVENTS=(connected sdk_auth_result remote_stream_add first_audio_frame_decode first_video_frame_decode)
for b in "${BACKENDS[@]}"; do
	declare -n a=A_$b
	"$RC" join "${a[@]}" --room bench --uid pub --publish test --device-interval 0 >"$work/pub.$b.out" &
	pids+=($!)
	jpub[$b]=$!
done
for b in "${BACKENDS[@]}"; do
	bench_wait_event "$work/pub.$b.out" sdk_auth_result || { echo "$b: the publisher did not join" >&2; exit 1; }
done
sleep 1
# join_once BACKEND UID: one measured join; appends "event ms" lines
# (exit and status included) to $work/join.BACKEND.
join_once() {
	local b=$1 uid=$2 start end st=0
	local -n a=A_$b
	bench_now_ms start
	"$RC" join "${a[@]}" --room bench --uid "$uid" --until first_video_frame_decode --timeout 20s \
		--device-interval 0 >"$work/run" || st=$?
	bench_now_ms end
	bench_event_ms "$start" <"$work/run" | awk '!seen[$1]++' >>"$work/join.$b"
	echo "exit $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')" >>"$work/join.$b"
	echo "status $st" >>"$work/join.$b"
}
echo
echo "-- 1. join latency: $N joins per server, alternating, ${GAP}s apart (+1 warm-up join each, not counted)"
for b in "${BACKENDS[@]}"; do join_once "$b" warm; done
# What starting the binary costs before it does anything: exec, the Go
# runtime, package init (cgo codecs included), flag parsing.
for i in $(seq 20); do
	bench_now_ms start
	"$RC" join --help >/dev/null 2>&1
	bench_now_ms end
	awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f\n", b - a}'
done >"$work/exec"
pct all exec 50 90 < "$work/exec"
echo "process baseline, \`roomctl join --help\` start -> exit: p50 ${R[all,exec,50]} ms, p90 ${R[all,exec,90]} ms (n=20)"
rm -f "$work"/join.*
for i in $(seq "$N"); do
	for b in "${BACKENDS[@]}"; do
		join_once "$b" "s$i"
		sleep "$GAP"
	done
	if [ $((i % 10)) -eq 0 ]; then echo "   $i/$N" >&2; fi
done
for b in "${BACKENDS[@]}"; do
	echo
	declare -n a=A_$b
	echo "$b (--backend ${a[1]}): ms from process start | n | p50 | p90 | p99 | max"
	for m in "${EVENTS[@]}" exit; do
		pct "$b" "$m" 50 90 99 100 < <(awk -v m="$m" '$1 == m {print $2}' "$work/join.$b")
		printf '  %-28s %4s %8s %8s %8s %8s\n' "$m" "${R[$b,$m,n]}" "${R[$b,$m,50]}" "${R[$b,$m,90]}" "${R[$b,$m,99]}" "${R[$b,$m,100]}"
	done
	# In-process: connected -> first_video_frame_decode of the same run.
	pct "$b" c2v 50 90 99 100 < <(awk '$1 == "connected" {c = $2} $1 == "first_video_frame_decode" {print $2 - c}' "$work/join.$b")
	printf '  %-28s %4s %8s %8s %8s %8s\n' "connected -> first_video" "${R[$b,c2v,n]}" "${R[$b,c2v,50]}" "${R[$b,c2v,90]}" "${R[$b,c2v,99]}" "${R[$b,c2v,100]}"
	fails=$(awk '$1 == "status" && $2 != 0' "$work/join.$b" | wc -l)
	R[$b,fails]=$fails
	[ "$fails" -eq 0 ] || echo "  $fails run(s) exited non-zero: $(awk '$1 == "status" && $2 != 0 {print $2}' "$work/join.$b" | sort | uniq -c | tr -s ' \n' ' ')"
	echo "  first event line: $(awk '$1 != "exit" && $1 != "status" {if (!f) print $1; f = 1} $1 == "status" {f = 0}' "$work/join.$b" | sort | uniq -c | tr -s ' \n' ' ')"
done
bench_stop "${jpub[serve]}" "${jpub[livekit]}"

# ---- 2. record cost -----------------------------------------------------
echo
if [ "$SOURCE" = file ]; then
	ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=640x480:rate=30 -t 10 -c:v libvpx -b:v 1M -maxrate 1M \
		-bufsize 1M -deadline realtime -cpu-used 8 -g 60 "$work/v.ivf"
	ffmpeg -nostdin -v error -f lavfi -i sine=f=440:r=48000 -t 10 -ac 1 -c:a libopus -b:a 32k "$work/a.ogg"
	PUBLISH=(--publish "$work/v.ivf,$work/a.ogg" --loop)
	echo "-- 2. record: --duration ${SECS}s of K publishers per server, alternating; each publishes a VP8 640x480 30 fps ~1 Mb/s IVF (keyframe every 2 s) + Opus 32 kb/s Ogg, looped"
else
	PUBLISH=(--publish test)
	echo "-- 2. record: --duration ${SECS}s of K publishers per server, alternating; each --publish test (VP8 640x480 30 fps ~1 Mb/s + Opus)"
fi
for k in $USERS; do
	for b in "${BACKENDS[@]}"; do
		room=rec$k
		declare -n a=A_$b
		ppids=()
		for j in $(seq "$k"); do
			"$RC" join "${a[@]}" --room "$room" --uid "p$j" "${PUBLISH[@]}" --device-interval 0 >"$work/rpub.$j" &
			ppids+=($!)
			pids+=($!)
		done
		for j in $(seq "$k"); do
			bench_wait_event "$work/rpub.$j" sdk_auth_result || { echo "$b: publisher p$j did not join" >&2; exit 1; }
		done
		sleep 2
		mkdir -p "$work/rec"
		s0=$(bench_proc_cpu "${SPID[$b]}")
		st=0
		/usr/bin/time -f '%e %U %S %M' -o "$work/time" \
			"$RC" record "${a[@]}" --room "$room" --uid rec --out "$work/rec" --duration "${SECS}s" >"$work/rec.out" || st=$?
		s1=$(bench_proc_cpu "${SPID[$b]}")
		bench_stop "${ppids[@]}"
		read -r wall ut stt maxkb < <(tail -n1 "$work/time")
		recs=$(jq -s '[.[] | select(.event=="recording_file_closed") | .data.durationMs] | add // 0 | . / 1000' "$work/rec.out")
		files=$(grep -c '"recording_file_closed"' "$work/rec.out" || true)
		mb=$(jq -s '[.[] | select(.event=="recording_file_closed") | .data.bytes] | add // 0 | . / 1e6' "$work/rec.out")
		rm -rf "$work/rec"
		awk -v b="$b" -v k="$k" -v wall="$wall" -v ut="$ut" -v st="$stt" -v kb="$maxkb" -v recs="$recs" \
			-v files="$files" -v mb="$mb" -v s0="$s0" -v s1="$s1" -v status="$st" 'BEGIN {
			cpu = ut + st
			printf "%s k=%d: %.1f s wall, %d file(s), %.1f MB, %.1f user-s recorded%s\n", b, k, wall, files, mb, recs, status ? sprintf(" (exit %d)", status) : ""
			printf "  record: CPU %.2f s (%.1f%% of a core) = %.1f ms per recorded user-second; peak RSS %.1f MiB\n", cpu, 100 * cpu / wall, recs ? 1000 * cpu / recs : 0, kb / 1024
			printf "  server: CPU %.2f s = %.1f ms per recorded user-second\n", s1 - s0, recs ? 1000 * (s1 - s0) / recs : 0
			printf "R %.1f %.1f %.1f %.1f\n", recs ? 1000 * cpu / recs : 0, kb / 1024, recs ? 1000 * (s1 - s0) / recs : 0, 100 * cpu / wall
		}' >"$work/recres"
		grep -v '^R ' "$work/recres"
		read -r _ R[$b,rec$k,ms] R[$b,rec$k,rss] R[$b,rec$k,srv] R[$b,rec$k,pct] < <(grep '^R ' "$work/recres")
	done
done

# ---- 3. side by side ----------------------------------------------------
echo
echo "-- summary (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
row() { # row LABEL SERVE LIVEKIT
	awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {
		r = (a + 0 > 0 && b != "-" && a != "-") ? sprintf("%.2f", b / a) : "-"
		printf "| %-46s | %9s | %9s | %7s |\n", l, a, b, r }'
}
printf '| %-46s | %9s | %9s | %7s |\n' measure serve livekit "lk/serve"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..48})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..9})"
for m in connected first_video_frame_decode; do
	for p in 50 99; do
		row "start -> $m p$p (ms)" "${R[serve,$m,$p]}" "${R[livekit,$m,$p]}"
	done
done
for p in 50 99; do row "connected -> first_video_frame_decode p$p (ms)" "${R[serve,c2v,$p]}" "${R[livekit,c2v,$p]}"; done
row "joins that failed (of $N)" "${R[serve,fails]}" "${R[livekit,fails]}"
for k in $USERS; do
	row "record $k user(s): ms CPU per user-second" "${R[serve,rec$k,ms]}" "${R[livekit,rec$k,ms]}"
	row "record $k user(s): % of a core" "${R[serve,rec$k,pct]}" "${R[livekit,rec$k,pct]}"
	row "record $k user(s): peak RSS (MiB)" "${R[serve,rec$k,rss]}" "${R[livekit,rec$k,rss]}"
	row "  server's ms CPU per recorded user-second" "${R[serve,rec$k,srv]}" "${R[livekit,rec$k,srv]}"
done
