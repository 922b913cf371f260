#!/usr/bin/env bash
# Scale benchmark: how much memory Palisade spends per registration held and per call up.
#
#   benches/scale/run.sh            full run (about 4 minutes): 100,000 registrations and
#                                   10,000 calls up (or as many as the open-file limit
#                                   allows); updates docs/benchmarks.md
#   QUICK=1 benches/scale/run.sh    under 2 minutes: 20,000 registrations and 2,000 calls;
#                                   results under target/ only
#
# Registrations: SIPp phones (benches/register/register.xml: REGISTER, the registrar's 401
# digest challenge, REGISTER with Authorization, 200; Expires 3600) register REGS users,
# each once, at REG_RATE/s, through Palisade (the REGISTER benchmark's configuration) to the
# Kamailio registrar of the REGISTER benchmark (tests/kamailio/pbx.cfg). All phones are one
# SIPp socket, so neither SIPp nor the open-file limit bounds their number: REGS is what is
# asked for. Palisade's VmRSS before (after a warm-up of REG_WARMUP registrations) and after,
# divided by the bindings it gained (palisade_registrations_active). Target: under 1 kB per
# registration (OpenSIPS keeps about 1.2 kB per contact).
#
# Calls: a second Palisade (the calls benchmark's configuration, media anchoring on), SIPp's
# built-in uac -> Palisade -> the calls benchmark's SIPp uas, CALLS calls placed at
# CALL_RATE/s and held (SIPp -d) until the plateau has been measured. Palisade's VmRSS
# before (after a warm-up of CALL_WARMUP unheld calls) and at the plateau, divided by the
# calls up (palisade_calls_active). Each call holds four relay sockets (RTP and RTCP on
# each leg): media.ports is sized for them (4 x CALLS ports from 20000, so CALLS up to
# 11,000) and the open-file limit raised in the namespace to 4 x CALLS + 2000. Where root
# may not raise the hard limit (some containers), the full run's CALLS is what the limit
# allows: with a hard limit of 20,000 open files, 4,500 calls. RSS counts the process's own
# (user-space) pages only: a socket's buffers and its kernel structures are kernel memory
# and are not in it, so the figure is already the memory per call beyond its sockets.
# Target: under 8 kB per call up. SIPp sends no RTP: the sockets' buffers stay empty, and
# media.timeout is raised to 10 minutes so that Palisade does not end the silent calls.
#
# Both measurements are taken SETTLE seconds (default 64 x T1 + 1 s: 33 s, or 7 s in quick
# mode where T1 is 100 ms) after the last registration or call was set up: a server
# transaction lingers 64 x T1 after its final response (Timer J; the Accepted state of an
# INVITE, RFC 6026), and the figure is what a binding or a call
# costs once its setup is over. Every second the driver records, in $OUT/samples.tsv
# (tab-separated, header line, columns stable for plots): seconds since the start, phase,
# VmRSS (kB), open files, calls active, calls ended so far, registrations active.
#
# The allocator keeps much of what the expired transactions freed, and the pages of the
# heap hold live and free blocks side by side, so RSS alone is an upper bound. Each
# measurement therefore also takes the heap in use: the bytes allocated and not freed, as
# Palisade's allocator (jemalloc) counts them (palisade_memory_allocated_bytes).
#
# Topology, inside a network namespace of its own (only lo, deleted on exit by a trap):
#   SIPp 127.0.0.31 -> Palisade access 127.0.0.10:5060 | core 127.0.0.11:5060 -> registrar
#   127.0.0.22:5060 (first phase) or SIPp uas 127.0.0.20:5060 (second phase); admin API on
#   127.0.0.10:9090. The two Palisades run one after the other.
#
# Everything is bounded: each SIPp has -m and -timeout (and a `timeout` around it), and the
# whole run has a global timeout (GLOBAL_TIMEOUT seconds). Processes are stopped by PID.
#
# The warm-ups are small: their transactions are still alive when "before" is measured and
# expire before "after", so each of them takes about 14 kB (a registration) or 13 kB (a
# call) off the change; 50 registrations and 20 calls make at most about 0.1 kB per
# binding or call measured.
#
# Settings (environment): QUICK, REGS, REG_RATE, REG_WARMUP, CALLS, CALL_RATE, CALL_WARMUP,
# SETTLE, OUT (result directory), GLOBAL_TIMEOUT, DOCS (0: do not touch docs/benchmarks.md).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SELF="$ROOT/benches/scale/run.sh"

BENCH=scale
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then
	REGS="${REGS:-10000}"
	CALLS="${CALLS:-1000}"
	DOCS="${DOCS:-0}"
else
	REGS="${REGS:-100000}"
	DOCS="${DOCS:-1}"
fi
# Each call up holds four sockets: 10,000 calls, or as many as the open-file limit allows
# (keeping 2000 files for the rest).
OPEN_FILES_WANTED=60000
if [ -z "${CALLS:-}" ]; then
	CALLS=$((($(nofile_limit "$OPEN_FILES_WANTED") - 2000) / 4))
	[ "$CALLS" -gt 10000 ] && CALLS=10000
fi
REG_RATE="${REG_RATE:-2000}"
REG_WARMUP="${REG_WARMUP:-50}"
CALL_RATE="${CALL_RATE:-500}"
CALL_WARMUP="${CALL_WARMUP:-20}"
# T1, the transaction timers' base: Timer J is 64 x T1. Quick mode shortens it (loopback
# needs no 500 ms retransmission interval) so that the transactions are gone sooner; what
# is measured is what stays after them.
if [ "$QUICK" = "1" ]; then T1="${T1:-100ms}"; else T1="${T1:-500ms}"; fi
T1_MS=${T1%ms}
SETTLE="${SETTLE:-$((64 * T1_MS / 1000 + 1))}"
# The calls are held through their ramp, the settle and the measurement.
HOLD_S=$((CALLS / CALL_RATE + SETTLE + 10))
GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-$((REGS / REG_RATE + HOLD_S + 2 * SETTLE + 180))}"
PORT_LOW=20000
PORT_HIGH=$((PORT_LOW + 4 * CALLS + 999))
export T1 QUICK REGS REG_RATE REG_WARMUP CALLS CALL_RATE CALL_WARMUP SETTLE HOLD_S PORT_LOW PORT_HIGH


# --------------------------------------------------------------------------------------
# Inside the namespace.
# --------------------------------------------------------------------------------------

PAL_ACCESS=127.0.0.10:5060
PAL_CORE=127.0.0.11:5060
ADMIN=127.0.0.10:9090
UAS=127.0.0.20:5060
REGISTRAR=127.0.0.22:5060
SIPP_IP=127.0.0.31

PIDS=()
UAC_PIDS=()

# sample PHASE: one line of samples.tsv.
sample() {
	printf '%d\t%s\t%s\n' $(($(date +%s) - T0)) "$1" "$(palisade_state "$PAL_PID" "$ADMIN")" \
		>>"$OUT/samples.tsv"
}

# sample_while PHASE PID: samples every second while PID runs.
sample_while() {
	while kill -0 "$2" 2>/dev/null; do
		sample "$1"
		kill -0 "$PAL_PID" 2>/dev/null || die "palisade exited during the $1 phase"
		sleep 1
	done
}

# sample_for PHASE SECONDS: samples every second for SECONDS.
sample_for() {
	local end=$(($(date +%s) + $2))
	while [ "$(date +%s)" -lt "$end" ]; do
		sample "$1"
		kill -0 "$PAL_PID" 2>/dev/null || die "palisade exited during the $1 phase"
		sleep 1
	done
}

# sipp_run DIR ARGS...: a SIPp run from 127.0.0.31 in DIR, in the background (its PID in
# UAC_PIDS), bounded by GLOBAL_TIMEOUT.
sipp_run() {
	local dir=$1
	shift
	mkdir -p "$dir"
	(
		cd "$dir"
		rc=0
		timeout -k 5 "$GLOBAL_TIMEOUT" sipp "$@" -i "$SIPP_IP" -p 5060 -mi "$SIPP_IP" -mp 30000 \
			-ci "$SIPP_IP" -cp 8900 -nostdin -buff_size 4194304 -timeout "${GLOBAL_TIMEOUT}s" \
			-timeout_error -trace_stat -stf stat.csv -fd 1 -trace_err -error_file errors.log \
			>sipp.out 2>&1 || rc=$?
		echo "$rc" >rc
	) &
	UAC_PIDS=($!)
}

# Palisade's figures now, as KEY=VALUE lines with PREFIX: VmRSS, RssAnon, open files, calls
# and registrations active, relay streams, and the heap in use (heap_in_use).
snapshot() {
	local p=$1 m
	m=$(admin_get "$ADMIN" /metrics)
	meta "${p}_rss_kib" "$(proc_kib "$PAL_PID")"
	meta "${p}_anon_kib" "$(proc_kib "$PAL_PID" RssAnon)"
	meta "${p}_fds" "$(proc_fds "$PAL_PID")"
	meta "${p}_calls" "$(metric "$m" palisade_calls_active)"
	meta "${p}_regs" "$(metric "$m" palisade_registrations_active)"
	meta "${p}_streams" "$(metric "$m" palisade_media_streams_active)"
	meta "${p}_heap_kib" "$(heap_in_use "$ADMIN")"
}

# stop_palisade: stops the running Palisade (TERM, then KILL) and waits for it.
stop_palisade() {
	kill -TERM "$PAL_PID" 2>/dev/null || true
	local _
	for _ in $(seq 1 50); do
		kill -0 "$PAL_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$PAL_PID" 2>/dev/null || true
	wait "$PAL_PID" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$PAL_PID" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

registrations() {
	local users=$((REG_WARMUP + REGS)) first=1001
	log "registrations: $REG_WARMUP to warm up, then $REGS at $REG_RATE/s"
	start_registrar "$REGISTRAR" "$users" "$OUT/registrar" 1024
	{
		palisade_register_config "$PAL_ACCESS" "$PAL_CORE" "$REGISTRAR"
		printf 'sip:\n  timers:\n    t1: %s\n' "$T1"
	} >"$OUT/palisade-reg.yaml"
	start_palisade "$OUT/palisade-reg.yaml" "$PAL_ACCESS" "$PAL_CORE"
	PAL_STDERR=$OUT/palisade-reg.stderr
	users_inf "$OUT/users-warmup.csv" "$first" $((first + REG_WARMUP - 1)) 1
	users_inf "$OUT/users.csv" $((first + REG_WARMUP)) $((first + users - 1)) 1
	local scenario="$ROOT/benches/register/register.xml"

	sipp_run "$OUT/reg-warmup" -sf "$scenario" -inf "$OUT/users-warmup.csv" "$PAL_ACCESS" \
		-r "$REG_RATE" -m "$REG_WARMUP"
	sample_while reg-warmup "${UAC_PIDS[0]}"
	sample_for reg-warmup 2
	snapshot reg_before >>"$OUT/summary.env"

	sipp_run "$OUT/reg" -sf "$scenario" -inf "$OUT/users.csv" "$PAL_ACCESS" \
		-r "$REG_RATE" -m "$REGS"
	sample_while registering "${UAC_PIDS[0]}"
	UAC_PIDS=()
	sample_for reg-settle "$SETTLE"
	snapshot reg_after >>"$OUT/summary.env"
	{
		meta reg_ok "$(stat_col "$OUT/reg/stat.csv" 'SuccessfulCall(C)')"
		meta reg_failed "$(stat_col "$OUT/reg/stat.csv" 'FailedCall(C)')"
		meta reg_sipp_exit "$(cat "$OUT/reg/rc" 2>/dev/null || echo x)"
	} >>"$OUT/summary.env"
	stop_palisade
}

calls() {
	log "calls: $CALLS at $CALL_RATE/s, held ${HOLD_S}s; media ports $PORT_LOW-$PORT_HIGH"
	raise_nofile $((4 * CALLS + 2000))
	{
		palisade_calls_config "$PAL_ACCESS" "$PAL_CORE" "$UAS" "$PORT_LOW-$PORT_HIGH" 10m
		printf 'sip:\n  timers:\n    t1: %s\n' "$T1"
	} >"$OUT/palisade-calls.yaml"
	start_uas "$UAS" "$OUT/uas"
	start_palisade "$OUT/palisade-calls.yaml" "$PAL_ACCESS" "$PAL_CORE"
	PAL_STDERR=$OUT/palisade-calls.stderr

	sipp_run "$OUT/calls-warmup" -sn uac "$PAL_ACCESS" -r "$CALL_WARMUP" -m "$CALL_WARMUP"
	sample_while calls-warmup "${UAC_PIDS[0]}"
	sample_for calls-warmup 1
	snapshot calls_before >>"$OUT/summary.env"

	sipp_run "$OUT/calls" -sn uac "$PAL_ACCESS" -r "$CALL_RATE" -m "$CALLS" -d $((HOLD_S * 1000))
	local uac=${UAC_PIDS[0]}
	sample_for calls-ramp $((CALLS / CALL_RATE + 1))
	sample_for calls-settle "$SETTLE"
	snapshot calls_plateau >>"$OUT/summary.env"
	awk '$1 == "UDP:" { printf "calls_plateau_udp_sockets=%d\ncalls_plateau_udp_mem_pages=%d\n", $3, $5 }' \
		/proc/net/sockstat >>"$OUT/summary.env"
	sample_while calls-hangup "$uac"
	UAC_PIDS=()
	# Palisade forgets a call at its BYE: give it a few seconds.
	local _ m
	for _ in $(seq 1 15); do
		sample calls-after
		m=$(admin_get "$ADMIN" /metrics)
		[ "$(metric "$m" palisade_calls_active)" = 0 ] &&
			[ "$(metric "$m" palisade_media_streams_active)" = 0 ] && break
		sleep 1
	done
	snapshot calls_after >>"$OUT/summary.env"
	{
		meta calls_ok "$(stat_col "$OUT/calls/stat.csv" 'SuccessfulCall(C)')"
		meta calls_failed "$(stat_col "$OUT/calls/stat.csv" 'FailedCall(C)')"
		meta calls_sipp_exit "$(cat "$OUT/calls/rc" 2>/dev/null || echo x)"
		meta calls_listed_after "$(admin_get "$ADMIN" /api/calls | jq 'length' 2>/dev/null || echo unknown)"
	} >>"$OUT/summary.env"
}

inner() {
	OUT=$1
	enter_namespace

	T0=$(date +%s)
	printf 'seconds\tphase\trss_kib\tfds\tcalls_active\tcalls_total\tregistrations_active\n' >"$OUT/samples.tsv"
	: >"$OUT/summary.env"
	registrations
	calls
	log "summary: $(tr '\n' ' ' <"$OUT/summary.env")"
}

if [ "${1:-}" = "--inner" ]; then
	inner "$2"
	exit 0
fi

# --------------------------------------------------------------------------------------
# Outside: build, namespace, report.
# --------------------------------------------------------------------------------------

[ "$PORT_HIGH" -le 65000 ] || die "CALLS=$CALLS needs media ports $PORT_LOW-$PORT_HIGH: past 65000"
files=$(nofile_limit $((4 * CALLS + 2000)))
[ $((4 * CALLS + 2000)) -le "$files" ] ||
	die "CALLS=$CALLS needs $((4 * CALLS + 2000)) open files; the limit can be raised to $files only"

bench_setup sipp kamailio ip timeout awk jq curl
uas_scenario

{
	machine_meta
	meta sipp "$(sipp_version)"
	meta kamailio "$(kamailio_version)"
	meta regs "$REGS"
	meta reg_rate "$REG_RATE"
	meta reg_warmup "$REG_WARMUP"
	meta calls "$CALLS"
	meta call_rate "$CALL_RATE"
	meta call_warmup "$CALL_WARMUP"
	meta hold_s "$HOLD_S"
	meta settle "$SETTLE"
	meta ports "$PORT_LOW-$PORT_HIGH"
	meta open_files "$files"
} >"$OUT/meta.env"

run_isolated "palisade-scale-$$" "$SELF"

publish_report
