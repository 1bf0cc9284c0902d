# Shared helpers of the scripts/bench-*.sh and record-rss.sh scripts: source
# it (". scripts/lib-bench.sh"), do not run it. Every server these helpers
# start listens on 127.0.0.1 only; the callers export
# ROOMCTL_ICE_IP=127.0.0.1/32 so that every roomctl gathers ICE on loopback.

# bench_start_serve OUT APPID SECRET [ROOMCTL]: starts `roomctl serve` on a
# free loopback port (and $SERVE_ARGS), its events in OUT; sets BENCH_URL
# and BENCH_PID.
bench_start_serve() {
	local out=$1 appid=$2 secret=$3 rc=${4:-${RC:-bin/roomctl}}
	# shellcheck disable=SC2086 # SERVE_ARGS: extra serve flags, split on spaces
	"$rc" serve --listen 127.0.0.1:0 --app-id "$appid" --app-secret "$secret" ${SERVE_ARGS:-} -q >"$out" &
	BENCH_PID=$! BENCH_URL=
	for _ in $(seq 200); do
		BENCH_URL=$(jq -r 'select(.event=="server_listening").data.url' "$out" 2>/dev/null | head -n1)
		[ -n "$BENCH_URL" ] && return 0
		kill -0 "$BENCH_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "roomctl serve did not start" >&2
	return 1
}

# bench_free_port tcp|udp: a loopback port nothing is bound to right now.
bench_free_port() {
	python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}

# bench_start_livekit DIR KEY SECRET: starts livekit-server
# ($ROOMCTL_LIVEKIT_SERVER, else on PATH, else /root/go/bin) with a config
# in DIR that keeps every socket on loopback (the one of
# internal/backend/livekit/server_test.go: no ICE-TCP listener, only
# 127.0.0.1 candidates, no STUN to the internet), its log in DIR/livekit.log;
# waits until its HTTP port answers 200. Sets BENCH_URL (ws://) and BENCH_PID.
# SECRET must have 32 characters or more.
bench_start_livekit() {
	local dir=$1 key=$2 secret=$3 bin port udp
	bin=${ROOMCTL_LIVEKIT_SERVER:-$(command -v livekit-server || echo /root/go/bin/livekit-server)}
	port=$(bench_free_port tcp) udp=$(bench_free_port udp)
	cat >"$dir/livekit.yaml" <<-EOF
		port: $port
		bind_addresses: [127.0.0.1]
		rtc:
		  tcp_port: 0
		  udp_port: $udp
		  node_ip: 127.0.0.1
		  use_external_ip: false
		  enable_loopback_candidate: true
		  interfaces:
		    includes: [lo]
		  ips:
		    includes: [127.0.0.1/32]
		  stun_servers: ["127.0.0.1:3478"]
		keys:
		  $key: $secret
		logging:
		  level: info
		  pion_level: warn
	EOF
	"$bin" --config "$dir/livekit.yaml" >"$dir/livekit.log" 2>&1 &
	BENCH_PID=$! BENCH_URL="ws://127.0.0.1:$port"
	for _ in $(seq 600); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 200 ] && return 0
		kill -0 "$BENCH_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "livekit-server did not start:" >&2
	tail -n 20 "$dir/livekit.log" >&2
	return 1
}

# bench_wait_event FILE EVENT [SECONDS]: waits until an NDJSON line of
# EVENT is in FILE (default: 20 s); returns 1 if it did not come.
bench_wait_event() {
	local i
	for i in $(seq $((${3:-20} * 20))); do
		grep -q "\"event\":\"$2\"" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# bench_now_ms VAR: sets VAR to the wall clock in milliseconds with
# microseconds (bash's EPOCHREALTIME: no fork, so it can be taken just
# before an exec).
bench_now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	printf -v "$1" '%s.%s' "${t:0:-3}" "${t: -3}"
}

# bench_event_ms START_MS < NDJSON: "event ms" for each line, ms being the
# line's ts (a UTC time to the millisecond) minus START_MS (bench_now_ms), to 0.1 ms.
bench_event_ms() {
	jq -r --argjson s "$1" '(.ts | sub("\\.[0-9]+Z$";"Z") | fromdate) as $sec
		| (.ts | capture("\\.(?<ms>[0-9]+)Z$").ms | tonumber) as $ms
		| "\(.event) \(($sec*1000+$ms-$s)*10 | round / 10)"'
}

# bench_pctl P... < numbers: the count, then the nearest-rank percentile of
# each P (0-100, 100 = max), space-separated; "0 - -" when there is none.
bench_pctl() {
	sort -g | awk -v ps="$*" '{a[NR] = $1} END {
		n = split(ps, p, " "); printf "%d", NR
		for (i = 1; i <= n; i++) {
			if (NR == 0) { printf " -"; continue }
			r = int(NR * p[i] / 100); if (r < NR * p[i] / 100) r++; if (r < 1) r = 1
			printf " %g", a[r]
		}
		printf "\n"
	}'
}

# bench_proc_cpu PID: user+system CPU seconds PID has used so far.
bench_proc_cpu() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# utime and stime: fields 14 and 15, the 12th and 13th after "(comm) ".
	echo "${st##*) }" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($12 + $13) / hz}'
}

# bench_stop PID...: SIGTERM, then SIGKILL whatever still runs after 5 s;
# reaps them.
bench_stop() {
	local p i
	kill "$@" 2>/dev/null || true
	for i in $(seq 100); do
		for p in "$@"; do kill -0 "$p" 2>/dev/null && break; done
		kill -0 "$p" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$@" 2>/dev/null || true
	wait "$@" 2>/dev/null || true
}

# bench_peak_anon PID: waits until the child of PID (/usr/bin/time's
# command; env execs roomctl in the same process) exits, sampling its
# RssAnon every 0.2 s; prints the peak in kB.
bench_peak_anon() {
	local pid=$1 child="" peak=0 v
	for _ in $(seq 50); do
		child=$(pgrep -P "$pid" | head -n1) && [ -n "$child" ] && break
		sleep 0.02
	done
	while [ -n "$child" ] && v=$(awk '/^RssAnon:/ {print $2}' "/proc/$child/status" 2>/dev/null) && [ -n "$v" ]; do
		[ "$v" -gt "$peak" ] && peak=$v
		sleep 0.2
	done
	echo "$peak"
}
