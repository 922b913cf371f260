#!/usr/bin/env bash
# Endurance benchmark: Palisade under steady call churn for a long time, to show that what
# it holds (memory, file descriptors, calls, media streams) stays flat and goes back to
# nothing when the load stops.
#
#   benches/endurance/run.sh            full run (1 hour of load), updates docs/benchmarks.md
#   QUICK=1 benches/endurance/run.sh    4 minutes of load, 5 with the warm-up samples and
#                                       the settling after it; results under target/ only
#
# Load: SIPp's built-in uac -> Palisade -> SIPp uas (the calls benchmark's uas, without its
# 180), RATE calls/s for DURATION seconds, each call held HOLD_MS (SIPp -d) before the
# caller's BYE, so that RATE x HOLD_MS / 1000 calls are always up. Palisade runs the calls
# benchmark's configuration: release build, media anchoring on (every call opens four
# relay ports: RTP and RTCP on each leg), security and fraud at their defaults but for the
# load generators' source (allowed) and fraud.registered_only false (the callers do not
# register), logging at warn. SIPp sends no RTP: the relay's sessions and ports are made
# and released with each call, the packet path is idle.
#
# RATE defaults to 600 calls/s. The calls benchmark's highest zero-failure rate for Palisade
# is 5000 to 6000 calls/s, half of it 2500 to 3000, but those calls are not held: at 2500/s
# held 5 s, 12,500 calls would be up with 50,000 relay ports, more than the 30,000 of the
# calls benchmark's media.ports (30000-59999), and as many open sockets. 600/s held 5 s is
# about 3,000 calls up, 12,000 relay ports and sockets: it fits the port range and an
# open-file limit of 20,000 (the driver raises the limit to OPEN_FILES, default 65536, when
# it may, and where root may not raise the hard limit, as in some containers, it keeps what
# it gets). The driver refuses a RATE x HOLD_MS that fits neither the port range nor the
# open-file limit.
#
# Every SAMPLE seconds it records, in $OUT/samples.tsv (tab-separated, header line, columns
# stable for plots): seconds since the load started, Palisade's VmRSS (kB) from
# /proc/PID/status, its open file descriptors (entries of /proc/PID/fd), calls active
# (palisade_calls_active) and calls ended so far (palisade_calls_total, all results).
# Sampling goes on through the settle after the load.
#
# After the load: once SIPp has ended every call, up to SETTLE seconds for Palisade to
# hold nothing: /api/calls is [], palisade_calls_active and palisade_media_streams_active
# are 0. Failed calls are SIPp's failed calls plus those it never completed. Then IDLE
# seconds (default 35) without load, for the transactions of the last calls to expire
# (32 s); then Palisade's RSS, and its heap in use (the bytes allocated and not freed,
# palisade_memory_allocated_bytes), against the same before the load: memory still allocated after the load is
# memory the calls left behind, while RSS also counts what the allocator keeps.
#
# Flatness: the samples of the first 20% of the load after WARMUP seconds against those of
# the last 20% of the load: RSS growth in per cent and the change in open files; and the
# open files after the settle against those before the load. Target: RSS growth under
# RSS_TARGET_PCT (5%) and the open files back to where they were before the load.
# "Before the load" is after five warm-up calls: the relay binds port pairs ahead of need
# (media.spare_pairs per address) once it has served a stream on an address, and keeps
# them, so an idle Palisade that has served calls holds those sockets too.
# $OUT/summary.env has the figures, $OUT/report.md the report.
#
# Topology, inside a network namespace of its own (only lo, deleted on exit by a trap):
#   uac 127.0.0.31 -> Palisade access 127.0.0.10:5060 | core 127.0.0.11:5060 -> uas 127.0.0.20:5060
#   Palisade's admin API on 127.0.0.10:9090.
#
# Everything is bounded: SIPp has -m and -timeout (and a `timeout` around it), and the
# whole run has a global timeout (GLOBAL_TIMEOUT seconds). Processes are stopped by PID.
#
# Settings (environment): QUICK, RATE, HOLD_MS, DURATION, SAMPLE, WARMUP, SETTLE, IDLE,
# RSS_TARGET_PCT, OPEN_FILES, OUT (result directory), GLOBAL_TIMEOUT, DOCS (0: do not touch
# docs/benchmarks.md).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SELF="$ROOT/benches/endurance/run.sh"

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then
	DURATION="${DURATION:-240}"
	DOCS="${DOCS:-0}"
else
	DURATION="${DURATION:-3600}"
	DOCS="${DOCS:-1}"
fi
RATE="${RATE:-600}"
HOLD_MS="${HOLD_MS:-5000}"
SAMPLE="${SAMPLE:-5}"
# Warm-up: the calls up reach their plateau after HOLD_MS, the transactions Palisade keeps
# after each answer (Timer J, 32 s, and the Accepted state of INVITEs, 32 s) after about
# 40 s. A tenth of the run, at least 45 s, at most half of it.
if [ -z "${WARMUP:-}" ]; then
	WARMUP=$((DURATION / 10))
	[ "$WARMUP" -lt 45 ] && WARMUP=45
	[ "$WARMUP" -gt $((DURATION / 2)) ] && WARMUP=$((DURATION / 2))
fi
SETTLE="${SETTLE:-15}"
if [ "$QUICK" = "1" ]; then IDLE="${IDLE:-15}"; else IDLE="${IDLE:-35}"; fi
RSS_TARGET_PCT="${RSS_TARGET_PCT:-5}"
OPEN_FILES="${OPEN_FILES:-65536}"
GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-$((DURATION + HOLD_MS / 1000 + SETTLE + IDLE + 240))}"
PORTS=30000-59999
export QUICK DURATION RATE HOLD_MS SAMPLE WARMUP SETTLE IDLE RSS_TARGET_PCT OPEN_FILES PORTS

BENCH=endurance
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# --------------------------------------------------------------------------------------
# Inside the namespace.
# --------------------------------------------------------------------------------------

PAL_ACCESS=127.0.0.10:5060
PAL_CORE=127.0.0.11:5060
ADMIN=127.0.0.10:9090
UAS=127.0.0.20:5060
UAC_IP=127.0.0.31

# The long-running peers and the SIPp uac (lib.sh's stop_pids stops them).
# shellcheck disable=SC2034
PIDS=()
UAC_PIDS=()

# sample T0: one line of samples.tsv, T0 being the load's start (epoch seconds).
sample() {
	printf '%d\t%s\n' $(($(date +%s) - $1)) "$(palisade_state "$PAL_PID" "$ADMIN" | cut -f1-4)" \
		>>"$OUT/samples.tsv"
}

# What Palisade still holds: "calls_listed calls_active streams_active".
held() {
	local m calls
	m=$(admin_get "$ADMIN" /metrics)
	calls=$(admin_get "$ADMIN" /api/calls | jq 'length' 2>/dev/null || echo unknown)
	echo "$calls $(metric "$m" palisade_calls_active) $(metric "$m" palisade_media_streams_active)"
}

inner() {
	OUT=$1
	enter_namespace
	raise_nofile "$OPEN_FILES"

	palisade_calls_config "$PAL_ACCESS" "$PAL_CORE" "$UAS" "$PORTS" >"$OUT/palisade.yaml"
	start_uas "$UAS" "$OUT/uas"
	start_palisade "$OUT/palisade.yaml" "$PAL_ACCESS" "$PAL_CORE"
	(
		cd "$OUT"
		timeout -k 5 60 sipp -sn uac "$PAL_ACCESS" -i "$UAC_IP" -p 5060 -mi "$UAC_IP" \
			-mp 30000 -nostdin -r 5 -m 5 -timeout 30s -timeout_error >warmup.out 2>&1
	) || die "the warm-up calls failed (see $OUT/warmup.out)"
	sleep 1

	local fds_before rss_before heap_before
	fds_before=$(proc_fds "$PAL_PID")
	rss_before=$(proc_kib "$PAL_PID")
	heap_before=$(heap_in_use "$ADMIN")
	printf 'seconds\trss_kib\tfds\tcalls_active\tcalls_total\n' >"$OUT/samples.tsv"

	local calls=$((RATE * DURATION)) dir="$OUT/uac"
	log "$RATE calls/s for ${DURATION}s, each held ${HOLD_MS} ms ($calls calls); sample every ${SAMPLE}s"
	mkdir -p "$dir"
	(
		cd "$dir"
		rc=0
		timeout -k 5 $((DURATION + HOLD_MS / 1000 + 90)) sipp -sn uac "$PAL_ACCESS" \
			-i "$UAC_IP" -p 5060 -mi "$UAC_IP" -mp 30000 -ci "$UAC_IP" -cp 8900 \
			-nostdin -buff_size 4194304 -r "$RATE" -m "$calls" -d "$HOLD_MS" \
			-timeout "$((DURATION + HOLD_MS / 1000 + 60))s" -timeout_error \
			-trace_stat -stf stat.csv -fd 5 -trace_err -error_file errors.log >sipp.out 2>&1 || rc=$?
		echo "$rc" >rc
	) &
	UAC_PIDS=($!)

	# Sample while SIPp runs, then through the settle until Palisade holds nothing.
	local t0 next=0 now state="" settled=""
	t0=$(date +%s)
	while :; do
		now=$(($(date +%s) - t0))
		if [ "$now" -ge "$next" ]; then
			sample "$t0"
			next=$((next + SAMPLE))
		fi
		if ! kill -0 "${UAC_PIDS[0]}" 2>/dev/null; then
			[ -n "$settled" ] || settled=$now
			state=$(held)
			[ "$state" = "0 0 0" ] && break
			[ $((now - settled)) -ge "$SETTLE" ] && break
		fi
		kill -0 "$PAL_PID" 2>/dev/null || die "palisade exited during the run"
		sleep 1
	done
	wait "${UAC_PIDS[0]}" || true
	UAC_PIDS=()
	local settle_seconds=$((now - settled)) fds_after rss_after
	fds_after=$(proc_fds "$PAL_PID")
	rss_after=$(proc_kib "$PAL_PID")
	# Idle: the transactions of the last calls expire (32 s); then the heap in use, to tell
	# memory still allocated from memory the allocator keeps.
	local idle_end=$(($(date +%s) + IDLE)) rss_idle heap_idle
	while [ "$(date +%s)" -lt "$idle_end" ]; do
		now=$(($(date +%s) - t0))
		[ "$now" -ge "$next" ] && { sample "$t0"; next=$((next + SAMPLE)); }
		sleep 1
	done
	rss_idle=$(proc_kib "$PAL_PID")
	heap_idle=$(heap_in_use "$ADMIN")
	sample "$t0"
	local m
	m=$(admin_get "$ADMIN" /metrics)
	admin_get "$ADMIN" /metrics >"$OUT/metrics-after.txt"
	admin_get "$ADMIN" /api/calls >"$OUT/calls-after.json"

	local ok failed listed active streams
	ok=$(stat_col "$dir/stat.csv" 'SuccessfulCall(C)')
	failed=$(stat_col "$dir/stat.csv" 'FailedCall(C)')
	read -r listed active streams <<<"$state"
	# An admin API that did not answer counts as state left.
	[[ "$listed" =~ ^[0-9]+$ ]] || listed=1
	{
		meta calls "$calls"
		meta ok "$ok"
		# Failed, or never completed (SIPp stopped by its timeout).
		meta failed "$((calls - ok > failed ? calls - ok : failed))"
		meta sipp_exit "$(cat "$dir/rc" 2>/dev/null || echo x)"
		meta answered "$(awk -v n='palisade_calls_total{result="answered"}' '$1 == n { print $2 + 0 }' "$OUT/metrics-after.txt")"
		meta calls_total "$(metric "$m" palisade_calls_total)"
		meta calls_listed "$listed"
		meta calls_active "$active"
		meta streams_active "$streams"
		if [ "$state" = "0 0 0" ]; then meta state_left 0; else meta state_left "$((listed + active + streams))"; fi
		meta settle_seconds "$settle_seconds"
		meta rss_before_kib "$rss_before"
		meta rss_after_kib "$rss_after"
		meta rss_idle_kib "$rss_idle"
		meta heap_before_kib "$heap_before"
		meta heap_idle_kib "$heap_idle"
		meta fds_before "$fds_before"
		meta fds_after "$fds_after"
		meta fds_left "$((fds_after - fds_before))"
		# The flatness windows, over the samples of the load (seconds up to DURATION).
		awk -F'\t' -v w="$WARMUP" -v d="$DURATION" -v target="$RSS_TARGET_PCT" \
			-v fl="$((fds_after - fds_before))" 'NR > 1 {
				span = d - w; early = w + 0.2 * span; late = d - 0.2 * span
				if ($1 >= w && $1 <= early) { er += $2; ef += $3; en++ }
				if ($1 >= late && $1 <= d) { lr += $2; lf += $3; ln++ }
				if ($1 <= d && $4 > peak) peak = $4
			}
			END {
				if (!en || !ln) {
					print "rss_early_kib=0\nrss_late_kib=0\nrss_growth_pct=unknown\nfds_early=0\nfds_late=0"
					print "fd_growth=unknown\nsamples_early=0\nsamples_late=0\npeak_calls_active=0\nflat=unknown"
					exit
				}
				g = 100 * (lr / ln - er / en) / (er / en)
				printf "rss_early_kib=%.0f\nrss_late_kib=%.0f\nrss_growth_pct=%.2f\n", er / en, lr / ln, g
				printf "fds_early=%.0f\nfds_late=%.0f\nfd_growth=%.0f\n", ef / en, lf / ln, lf / ln - ef / en
				printf "samples_early=%d\nsamples_late=%d\npeak_calls_active=%d\n", en, ln, peak
				printf "flat=%s\n", (g < target && fl <= 0) ? "met" : "missed"
			}' "$OUT/samples.tsv"
	} >"$OUT/summary.env"
	log "summary: $(tr '\n' ' ' <"$OUT/summary.env")"
}

if [ "${1:-}" = "--inner" ]; then
	inner "$2"
	exit 0
fi

# --------------------------------------------------------------------------------------
# Outside: build, namespace, report.
# --------------------------------------------------------------------------------------

# Each call up holds four relay ports; calls up at once: RATE x HOLD, plus a second of
# setup and teardown.
up=$((RATE * (HOLD_MS + 1000) / 1000))
range=$((${PORTS#*-} - ${PORTS%-*} + 1))
[ $((4 * up)) -le "$range" ] ||
	die "RATE=$RATE held ${HOLD_MS} ms keeps about $up calls up, $((4 * up)) relay ports: more than the $range of $PORTS"
files=$(nofile_limit "$OPEN_FILES")
[ $((4 * up + 1000)) -le "$files" ] ||
	die "RATE=$RATE held ${HOLD_MS} ms keeps about $up calls up, $((4 * up)) relay sockets: more than the open-file limit of $files allows"
[ "$WARMUP" -lt "$DURATION" ] || die "WARMUP ($WARMUP s) must be shorter than DURATION ($DURATION s)"

bench_setup sipp ip timeout awk jq curl
uas_scenario

{
	machine_meta
	meta sipp "$(sipp_version)"
	meta rate "$RATE"
	meta hold_ms "$HOLD_MS"
	meta duration "$DURATION"
	meta sample "$SAMPLE"
	meta warmup "$WARMUP"
	meta idle "$IDLE"
	meta rss_target_pct "$RSS_TARGET_PCT"
	meta ports "$PORTS"
	meta open_files "$files"
} >"$OUT/meta.env"

run_isolated "palisade-endurance-$$" "$SELF"

LEGEND=middle plot "$OUT/endurance-rss.png" "Endurance: Palisade's resident memory under call churn" \
	"seconds" "RSS, KiB" "Palisade RSS=$OUT/samples.tsv:seconds:rss_kib"
LEGEND=middle plot "$OUT/endurance-fds.png" "Endurance: open file descriptors and calls up" \
	"seconds" "count" "open file descriptors=$OUT/samples.tsv:seconds:fds" \
	"calls up=$OUT/samples.tsv:seconds:calls_active"
publish_report endurance-rss endurance-fds
