#!/usr/bin/env bash
# Prints what publishing a real capture device costs: a private PulseAudio
# daemon with a null sink that pacat plays a 1 kHz tone (1/8 of full scale)
# into, `roomctl serve`, a subscriber, and `roomctl join --publish mic:ID`
# (the sink's monitor) for SECS seconds. Reports the publisher's CPU
# (user+sys over wall time), its peak RSS, its glitch counters, and the
# levels the subscriber heard (13 is the tone; more means gaps).
#
#   scripts/bench-capture.sh [SECS]     (default 30; needs pulseaudio, ffmpeg, jq)
set -euo pipefail
secs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/rcbench.XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/roomctl" "$root"
# Every roomctl started below gathers ICE on 127.0.0.1 only (--ice-ip), so
# no media packet leaves loopback whatever interfaces the machine has.
export ROOMCTL_ICE_IP=127.0.0.1/32
export XDG_RUNTIME_DIR=$work HOME=$work PULSE_SERVER=unix:$work/pulse/native
pulseaudio --daemonize=no --exit-idle-time=-1 --disallow-exit -n --load=module-native-protocol-unix >"$work/pa.log" 2>&1 &
for _ in $(seq 100); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
pactl load-module module-null-sink sink_name=bench_spk >/dev/null
ffmpeg -nostdin -v error -f lavfi -i "sine=f=1000:r=48000:d=$((secs + 30))" -f f32le -ac 1 "$work/tone.f32"
pacat --device=bench_spk --format=float32le --rate=48000 --channels=1 --raw "$work/tone.f32" &
id=$(printf bench_spk.monitor | od -An -tx1 | tr -d ' \n')
secret=bench-secret-bench-secret-bench-secret
"$work/roomctl" serve --listen 127.0.0.1:0 --app-id 1 --app-secret $secret -q >"$work/serve.out" &
for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
url=$(jq -r .data.url <"$work/serve.out")
common=(--server "$url" --app-id 1 --app-secret $secret --room bench)
"$work/roomctl" join "${common[@]}" --uid sub -q --audio-level-report --device-interval 0 --duration "$((secs + 3))s" >"$work/sub.out" &
"$work/roomctl" join "${common[@]}" --uid pub --publish "mic:$id" --duration "${secs}s" --log-level info >"$work/pub.out" 2>"$work/pub.err" &
pub=$!
sleep 1
ticks=$(getconf CLK_TCK)
start=$(awk '{print $14+$15}' "/proc/$pub/stat")
t0=$(date +%s.%N)
peak=0
while kill -0 $pub 2>/dev/null; do
	cur=$(awk '{print $14+$15}' "/proc/$pub/stat" 2>/dev/null || echo "")
	rss=$(awk '/VmHWM/{print $2}' "/proc/$pub/status" 2>/dev/null || echo 0)
	[ -n "$cur" ] && last=$cur t1=$(date +%s.%N)
	[ "${rss:-0}" -gt "$peak" ] && peak=$rss
	sleep 1
done
wait $pub || true
awk -v c="$((last - start))" -v hz="$ticks" -v t0="$t0" -v t1="$t1" -v rss="$peak" 'BEGIN {
	printf "publisher (--publish mic, Opus 32 kb/s): CPU %.1f %% of a core over %.0f s, peak RSS %d MiB\n", c / hz / (t1 - t0) * 100, t1 - t0, rss / 1024 }'
grep -o 'silencePaddedFrames=[0-9]* droppedMs=[0-9]*' "$work/pub.err" || true
printf 'subscriber levels of pub: %s\n' "$(jq -r 'select(.event=="audio_level_report") | .data[] | select(.uid=="pub") | .audioLevel' "$work/sub.out" | sort -n | uniq -c | tr '\n' ' ')"
