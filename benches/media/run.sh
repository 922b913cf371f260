#!/usr/bin/env bash
# Media relay benchmark: N concurrent G.711 calls relayed by Palisade, by rtpengine in
# userspace mode and by a logic-free recvmmsg->sendmmsg forwarder (the floor), side by
# side in the same run under the same load generator (benches/src/bin/media_load).
#
#   benches/media/run.sh            full run (under 10 minutes), updates docs/benchmarks.md
#   QUICK=1 benches/media/run.sh    short run (under 3 minutes), results under target/ only
#
# A call is two RTP streams, A->B and B->A, 50 packets/s each, 172-byte packets (12-byte
# header, 160 bytes of PCMU payload carrying the send time). What it measures, per system:
#   1. Loss, and relayed packets per CPU-second of the relay process (utime+stime from
#      /proc/PID/stat over the measured window), at N = STEPS calls, stepping up until
#      loss exceeds MAX_LOSS_PCT (a failing step is run once more before it counts). A
#      packet is lost when it never arrives or arrives more than LATE_MS after it was sent
#      (a jitter buffer discards it): a relay that falls behind fills its sockets' receive
#      buffers, seconds of packets, long before the kernel drops any.
#   2. At 50% of the highest N with loss under MAX_LOSS_PCT: one-way latency p50/p99/p99.9
#      and RFC 3550 jitter, and the same with no relay at all (the generator's sockets
#      sending to each other: `direct`), run just before; "added" is the difference.
#
# Session setup, as in production:
#   - Palisade (release build): the generator places each call with SIP (INVITE with SDP
#     to the access side, 200 with SDP from the upstream PBX it plays, ACK; BYE at the
#     end) and reads the relay's addresses from the SDPs Palisade sends.
#   - rtpengine 10.5, `--table=-1` (userspace forwarding): ng protocol offer/answer/delete.
#   - Floor: target/release/media_floor, palisade-media's `floor` forwarder with static
#     routes (pair i is port 20000 + 2i on its two addresses).
# Each relay forwards with THREADS threads (Palisade: one media worker per CPU, which is
# 2 here; rtpengine: --num-threads; floor: --workers).
#
# Topology, inside a network namespace of its own (only lo, deleted on exit by a trap):
#   phone 127.0.0.41 (SIP 5060, RTP 30000)      PBX 127.0.0.42 (SIP 5060, RTP 30000)
#   Palisade   access 127.0.0.10 | core 127.0.0.11, media ports 20000-39999
#   rtpengine  access 127.0.0.12 | core 127.0.0.13, ng on 127.0.0.12:2223
#   floor      access 127.0.0.14 | core 127.0.0.15
# All three relays run for the whole run; the steps alternate the order of the systems.
#
# Everything is bounded: each generator run has a `timeout`, the floor stops by itself,
# and the whole run has a global timeout (GLOBAL_TIMEOUT seconds). Processes are stopped
# by PID.
#
# Settings (environment): QUICK, STEPS, WARMUP, WINDOW, MAX_LOSS_PCT, LATE_MS, THREADS, PROFILE
# (1: perf record Palisade and rtpengine at the latency load), OUT (result directory),
# GLOBAL_TIMEOUT, DOCS (0: do not touch docs/benchmarks.md).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SELF="$ROOT/benches/media/run.sh"

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then
	STEPS="${STEPS:-300 800}"
	WARMUP="${WARMUP:-1}"
	WINDOW="${WINDOW:-2}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-170}"
	DOCS="${DOCS:-0}"
else
	STEPS="${STEPS:-100 200 400 600 800 1000 1200 1500 2000}"
	WARMUP="${WARMUP:-2}"
	WINDOW="${WINDOW:-6}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-600}"
	DOCS="${DOCS:-1}"
fi
MAX_LOSS_PCT="${MAX_LOSS_PCT:-0.1}"
LATE_MS="${LATE_MS:-50}"
THREADS="${THREADS:-2}"
PROFILE="${PROFILE:-0}"
export QUICK STEPS WARMUP WINDOW MAX_LOSS_PCT LATE_MS THREADS PROFILE

BENCH=media
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# --------------------------------------------------------------------------------------
# Inside the namespace.
# --------------------------------------------------------------------------------------

PAL_ACCESS=127.0.0.10:5060
PAL_CORE=127.0.0.11:5060
RTPE_NG=127.0.0.12:2223
FLOOR_FIRST=127.0.0.14:20000
PHONE=127.0.0.41
PBX=127.0.0.42

# Long-running relays; UAC_PIDS stays empty (lib.sh's stop_pids reads it).
PIDS=()
UAC_PIDS=()

relay_pid() {
	case "$1" in
	palisade) echo "$PAL_PID" ;;
	rtpengine) echo "$RTPE_PID" ;;
	floor) echo "$FLOOR_PID" ;;
	direct) echo "" ;;
	esac
}

# load SYSTEM CALLS LABEL TRY: one generator run; appends its results to $OUT/results.tsv.
load() {
	local sys=$1 calls=$2 label=$3 try=$4
	local run="$OUT/runs/$label-$sys-$calls-$try" pid perf_pid=""
	mkdir -p "$run"
	pid=$(relay_pid "$sys")
	local secs
	secs=$(awk -v w="$WARMUP" -v m="$WINDOW" 'BEGIN { printf "%d", w + m + 60 }')
	if [ "$label" = "profile" ]; then
		perf record -e cpu-clock -F 999 -g -o "$OUT/perf-$sys.data" -p "$pid" \
			-- sleep "$(awk -v w="$WARMUP" -v m="$WINDOW" 'BEGIN { print w + m }')" \
			>"$run/perf.out" 2>&1 &
		perf_pid=$!
	fi
	local rc=0
	timeout -k 5 "$secs" "$ROOT/target/release/media_load" --system "$sys" --calls "$calls" \
		--warmup "$WARMUP" --seconds "$WINDOW" --late-ms "$LATE_MS" ${pid:+--pid "$pid"} \
		>"$run/out" 2>"$run/err" || rc=$?
	[ -n "$perf_pid" ] && { wait "$perf_pid" || true; }
	if [ "$rc" -ne 0 ] || ! grep -q '^system=' "$run/out"; then
		log "$label $sys $calls calls: the generator failed (exit $rc): $(tail -n 2 "$run/err" | tr '\n' ' ')"
		printf '%s\t%s\t%s\t%s\tfailed\n' "$label" "$sys" "$calls" "$try" >>"$OUT/results.tsv"
		return 0
	fi
	if [ ! -s "$OUT/columns" ]; then
		tr ' ' '\n' <"$run/out" | cut -d= -f1 | paste -sd'\t' >"$OUT/columns"
	fi
	{
		printf '%s\t%s\t%s\t%s\tok\t' "$label" "$sys" "$calls" "$try"
		tr ' ' '\n' <"$run/out" | cut -d= -f2 | paste -sd'\t'
	} >>"$OUT/results.tsv"
	log "$(printf '%-8s %-9s %5d calls: ' "$label" "$sys" "$calls")$(tr ' ' '\n' <"$run/out" |
		grep -E '^(offered_pps|late|loss_pct|pkts_per_cpu_s|us_per_pkt|gen_cpu_pct|lat_p50_us|lat_p99_us|jitter_us|gen_drops)=' |
		paste -sd' ')"
}

# Value of generator key KEY in the last result line.
last() {
	local key=$1 i
	i=$(tr '\t' '\n' <"$OUT/columns" | grep -nx "$key" | cut -d: -f1)
	tail -n 1 "$OUT/results.tsv" | awk -F'\t' -v c="$((i + 5))" '$5 == "ok" { print $c }'
}

# Whether the last run lost at most MAX_LOSS_PCT of its packets.
last_passed() {
	local loss
	loss=$(last loss_pct)
	[ -n "$loss" ] && awk -v l="$loss" -v m="$MAX_LOSS_PCT" 'BEGIN { exit (l <= m) ? 0 : 1 }'
}

inner() {
	OUT=$1
	enter_namespace

	local max_calls
	max_calls=$(echo "$STEPS" | tr ' ' '\n' | sort -n | tail -n 1)

	cat >"$OUT/palisade.yaml" <<-EOF
		# Media benchmark: the generator plays the phone (127.0.0.41) and the PBX, the
		# upstream (127.0.0.42). Probes are made rare: between steps nobody answers them.
		access:
		  listen: ["udp:$PAL_ACCESS"]
		core:
		  listen: ["udp:$PAL_CORE"]
		  upstream: ["sip:$PBX:5060"]
		  probe: { interval: 1h, timeout: 60s, failures_before_down: 100 }
		media:
		  ports: "20000-39999"
		admin:
		  listen: "127.0.0.10:9090"
		security:
		  trusted: ["127.0.0.0/8"]
		calls:
		  max_active: 100000
		log:
		  level: warn
	EOF
	"$ROOT/target/release/palisade" check-config "$OUT/palisade.yaml" >/dev/null
	"$ROOT/target/release/palisade" --config "$OUT/palisade.yaml" \
		>"$OUT/palisade.stdout" 2>"$OUT/palisade.stderr" &
	PAL_PID=$!
	PIDS+=("$PAL_PID")
	wait_bound "$PAL_ACCESS" "$PAL_PID"
	wait_bound "$PAL_CORE" "$PAL_PID"

	rtpengine --config-file=none --table=-1 --interface=access/127.0.0.12 \
		--interface=core/127.0.0.13 --listen-ng="$RTPE_NG" --foreground \
		--num-threads="$THREADS" --port-min=20000 --port-max=39999 --delete-delay=0 \
		--log-stderr --log-level=4 --pidfile="$OUT/rtpengine.pid" \
		>"$OUT/rtpengine.stdout" 2>"$OUT/rtpengine.stderr" &
	RTPE_PID=$!
	PIDS+=("$RTPE_PID")
	wait_bound "$RTPE_NG" "$RTPE_PID"

	"$ROOT/target/release/media_floor" --pairs "$max_calls" --workers "$THREADS" \
		--max-seconds "$((GLOBAL_TIMEOUT + 30))" >"$OUT/floor.stdout" 2>"$OUT/floor.stderr" &
	FLOOR_PID=$!
	PIDS+=("$FLOOR_PID")
	wait_bound "$FLOOR_FIRST" "$FLOOR_PID"
	sleep 1

	# The threads each relay has (the forwarding ones are named in the report).
	{
		printf 'palisade_workers=%s\n' "$(grep -l '^media-worker' /proc/"$PAL_PID"/task/*/comm | wc -l)"
		printf 'palisade_threads=%s\n' "$(ls /proc/"$PAL_PID"/task | wc -l)"
		printf 'rtpengine_threads=%s\n' "$(ls /proc/"$RTPE_PID"/task | wc -l)"
		printf 'floor_workers=%s\n' "$(grep -l '^media-floor' /proc/"$FLOOR_PID"/task/*/comm | wc -l)"
	} >>"$OUT/meta.env"

	: >"$OUT/results.tsv"
	log "warm-up"
	for sys in palisade rtpengine floor; do load "$sys" 50 warmup 1; done

	log "steps: $STEPS calls, ${WARMUP}s warm-up and ${WINDOW}s measured each, pass at loss <= $MAX_LOSS_PCT%"
	local k=0 calls order sys try
	declare -A on=([palisade]=1 [rtpengine]=1 [floor]=1) best=([palisade]=0 [rtpengine]=0 [floor]=0)
	for calls in $STEPS; do
		case $((k % 3)) in
		0) order="palisade rtpengine floor" ;;
		1) order="rtpengine floor palisade" ;;
		*) order="floor palisade rtpengine" ;;
		esac
		k=$((k + 1))
		for sys in $order; do
			[ "${on[$sys]}" = 1 ] || continue
			for try in 1 2; do
				load "$sys" "$calls" step "$try"
				if last_passed; then
					best[$sys]=$calls
					break
				fi
				[ "$try" = 2 ] && on[$sys]=0
			done
		done
		[ "${on[palisade]}${on[rtpengine]}${on[floor]}" = 000 ] && break
	done

	log "latency at 50% of each system's highest passing step"
	for sys in palisade rtpengine floor; do
		local n=$((best[$sys] / 2))
		[ "$n" -gt 0 ] || continue
		load direct "$n" "latency-$sys" 1
		load "$sys" "$n" latency 1
	done

	if [ "$PROFILE" = "1" ]; then
		for sys in palisade rtpengine; do
			local n=$((best[$sys] / 2))
			[ "$n" -gt 0 ] && load "$sys" "$n" profile 1
		done
	fi

	kill -0 "$PAL_PID" 2>/dev/null || die "palisade exited during the run"
	kill -0 "$RTPE_PID" 2>/dev/null || die "rtpengine exited during the run"
	kill -0 "$FLOOR_PID" 2>/dev/null || die "the floor forwarder exited during the run"
}

if [ "${1:-}" = "--inner" ]; then
	inner "$2"
	exit 0
fi

# --------------------------------------------------------------------------------------
# Outside: build, namespace, report.
# --------------------------------------------------------------------------------------

# The load generator and the floor forwarder are built with Palisade.
BUILD_EXTRA="-p palisade-benches --bins" bench_setup rtpengine ip timeout awk paste

{
	machine_meta
	meta rtpengine "$(rtpengine --version 2>&1 | awk '{print $2; exit}')"
	meta steps "$STEPS"
	meta warmup "$WARMUP"
	meta window "$WINDOW"
	meta max_loss_pct "$MAX_LOSS_PCT"
	meta late_ms "$LATE_MS"
	meta threads "$THREADS"
} >"$OUT/meta.env"

run_isolated "palisade-bench-media-$$" "$SELF"
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'loadavg_end=%q\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.env"

[ "$PROFILE" = "1" ] && perf_summaries palisade rtpengine

"$ROOT/benches/media/report.sh" --cpu "$OUT" >"$OUT/cpu.tsv"
plot "$OUT/media-cpu.png" "Media relay: CPU against concurrent G.711 calls" \
	"concurrent calls (2 streams each, 50 packets/s per stream)" "relay CPU, % of one core" \
	"Palisade=$OUT/cpu.tsv:calls:cpu_pct:system=palisade" \
	"rtpengine (userspace)=$OUT/cpu.tsv:calls:cpu_pct:system=rtpengine" \
	"bare forwarder (floor)=$OUT/cpu.tsv:calls:cpu_pct:system=floor"
publish_report media-cpu
