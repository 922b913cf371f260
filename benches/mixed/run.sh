#!/usr/bin/env bash
# Mixed-load benchmark: Palisade relaying media at half its capacity while it also sets up
# calls and a flood from banned sources hits its access side; the media's loss and
# latency against the same media load alone, in the same run.
#
#   benches/mixed/run.sh            full run (a few minutes), updates docs/benchmarks.md
#   QUICK=1 benches/mixed/run.sh    short run (under a minute), results under target/ only
#
# Two phases, one Palisade:
#   1. alone: MEDIA_CALLS concurrent G.711 calls (benches/src/bin/media_load: two streams
#      per call, 50 packets/s each, set up with SIP through Palisade).
#   2. mixed: the same media load, and at the same time
#      - call setup: SIPp's built-in uac at CALL_RATE calls/s (INVITE, 200, ACK, BYE) from
#        127.0.0.31 through Palisade to a SIPp uas;
#      - a flood: SIPp sending INVITEs at FLOOD_RATE/s from 127.0.0.66, an untrusted
#        source, which Palisade bans after its first budget's worth (security defaults)
#        and drops silently from then on.
#   Figures: media loss and one-way latency p50/p99/p99.9 (generator's kernel timestamps)
#   in each phase, Palisade's CPU, call-setup success, flood packets sent and dropped.
#
# Topology, inside a network namespace of its own (only lo, deleted on exit by a trap):
#   media generator: phone 127.0.0.41, PBX 127.0.0.42     SIPp uac 127.0.0.31, flood 127.0.0.66
#   Palisade access 127.0.0.10:5060 | core 127.0.0.11:5060
#   Kamailio 127.0.0.20:5060, the PBX: a stateless dispatcher (benches/kamailio/dispatch.cfg)
#   that sends the generator's calls to its PBX side and the others to SIPp uas 127.0.0.21.
#
# Everything is bounded: each load has a count and a `timeout`, and the whole run has a
# global timeout (GLOBAL_TIMEOUT seconds). Processes are stopped by PID.
#
# Settings (environment): QUICK, MEDIA_CALLS, CALL_RATE, FLOOD_RATE, WARMUP, WINDOW,
# LATE_MS, OUT, GLOBAL_TIMEOUT, DOCS (0: do not touch docs/benchmarks.md).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SELF="$ROOT/benches/mixed/run.sh"

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then
	MEDIA_CALLS="${MEDIA_CALLS:-300}"
	CALL_RATE="${CALL_RATE:-200}"
	FLOOD_RATE="${FLOOD_RATE:-5000}"
	WARMUP="${WARMUP:-2}"
	WINDOW="${WINDOW:-5}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-150}"
	DOCS="${DOCS:-0}"
else
	MEDIA_CALLS="${MEDIA_CALLS:-500}"
	CALL_RATE="${CALL_RATE:-500}"
	FLOOD_RATE="${FLOOD_RATE:-10000}"
	WARMUP="${WARMUP:-3}"
	WINDOW="${WINDOW:-20}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-400}"
	DOCS="${DOCS:-1}"
fi
LATE_MS="${LATE_MS:-50}"
export QUICK MEDIA_CALLS CALL_RATE FLOOD_RATE WARMUP WINDOW LATE_MS

BENCH=mixed
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PAL_ACCESS=127.0.0.10:5060
PAL_CORE=127.0.0.11:5060
PAL_ADMIN=127.0.0.10:9090
PBX=127.0.0.20:5060
UAS=127.0.0.21:5060
UAC_IP=127.0.0.31
FLOOD_IP=127.0.0.66

PIDS=()
UAC_PIDS=()

# Sum of a metric's samples (all label sets) in a scrape of Palisade's metrics.
metric_sum() { metric "$(admin_get "$PAL_ADMIN" /metrics)" "$1"; }

# Busy and total jiffies of all CPUs so far.
cpu_jiffies() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# media PHASE: one media_load run against Palisade; its key=value line goes to
# $OUT/PHASE.media.
media() {
	local phase=$1 secs before
	before=$(cpu_jiffies)
	secs=$(awk -v w="$WARMUP" -v m="$WINDOW" 'BEGIN { printf "%d", w + m + 60 }')
	timeout -k 5 "$secs" "$ROOT/target/release/media_load" --system palisade \
		--calls "$MEDIA_CALLS" --warmup "$WARMUP" --seconds "$WINDOW" --late-ms "$LATE_MS" \
		--pid "$PAL_PID" >"$OUT/$phase.media" 2>"$OUT/$phase.media.err" ||
		die "$phase: the media generator failed: $(tail -n 2 "$OUT/$phase.media.err" | tr '\n' ' ')"
	echo "$before $(cpu_jiffies)" | awk '{ printf "%.1f\n", ($4 > $2 ? 100 * ($3 - $1) / ($4 - $2) : 0) }' >"$OUT/$phase.busy"
	log "$phase: $(tr ' ' '\n' <"$OUT/$phase.media" |
		grep -E '^(loss_pct|lat_p50_us|lat_p99_us|lat_p999_us|relay_cpu_s|window_s)=' | paste -sd' ')"
}

inner() {
	OUT=$1
	enter_namespace

	cat >"$OUT/palisade.yaml" <<-EOF
		# Mixed-load benchmark. The media generator and the SIPp phone are trusted (one
		# address each places hundreds of calls a second); the flood source is not.
		access:
		  listen: ["udp:$PAL_ACCESS"]
		core:
		  listen: ["udp:$PAL_CORE"]
		  upstream: ["sip:$PBX"]
		media:
		  ports: "20000-39999"
		admin:
		  listen: "$PAL_ADMIN"
		security:
		  trusted: ["127.0.0.41/32", "$UAC_IP/32"]
		calls:
		  max_active: 100000
		log:
		  level: warn
	EOF
	start_palisade "$OUT/palisade.yaml" "$PAL_ACCESS" "$PAL_CORE"

	kamailio -f "$ROOT/benches/kamailio/dispatch.cfg" -A 'MEDIA_PBX="127.0.0.42"' \
		-A "UAS=\"${UAS%:*}\"" -l "udp:$PBX" -DD -E -w "$OUT" -P "$OUT/kamailio.pid" \
		>"$OUT/kamailio.stdout" 2>"$OUT/kamailio.stderr" &
	PIDS+=("$!")
	wait_bound "$PBX" "$!"

	start_uas "$UAS" "$OUT/uas"

	log "phase 1: $MEDIA_CALLS calls of media alone"
	media alone

	log "phase 2: the same media, with $CALL_RATE calls/s set up and a $FLOOD_RATE/s flood"
	local dropped0 secs count flood_count
	dropped0=$(metric_sum palisade_dropped_total)
	secs=$(awk -v w="$WARMUP" -v m="$WINDOW" -v n="$MEDIA_CALLS" 'BEGIN { printf "%d", w + m + n / 1000 + 2 }')
	count=$((CALL_RATE * secs))
	flood_count=$((FLOOD_RATE * secs))
	cat >"$OUT/flood.xml" <<-'EOF'
		<?xml version="1.0" encoding="ISO-8859-1" ?>
		<!DOCTYPE scenario SYSTEM "sipp.dtd">
		<scenario name="INVITE flood">
		  <send>
		    <![CDATA[

		      INVITE sip:[call_number]@[remote_ip]:[remote_port] SIP/2.0
		      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
		      From: <sip:flood@[local_ip]:[local_port]>;tag=[pid]F[call_number]
		      To: <sip:[call_number]@[remote_ip]:[remote_port]>
		      Call-ID: [call_id]
		      CSeq: 1 INVITE
		      Contact: <sip:flood@[local_ip]:[local_port]>
		      Max-Forwards: 70
		      Content-Length: 0

		    ]]>
		  </send>
		</scenario>
	EOF
	timeout -k 5 "$((secs + 40))" sipp "$PAL_ACCESS" -sn uac -s 1002 -i "$UAC_IP" -p 5070 \
		-r "$CALL_RATE" -m "$count" -timeout "$((secs + 30))" -timeout_error \
		-trace_stat -stf "$OUT/uac.csv" -fd 1 >"$OUT/uac.stdout" 2>&1 &
	UAC_PIDS+=("$!")
	local uac=$!
	timeout -k 5 "$((secs + 20))" sipp "$PAL_ACCESS" -sf "$OUT/flood.xml" -i "$FLOOD_IP" -p 5070 \
		-r "$FLOOD_RATE" -m "$flood_count" -timeout "$((secs + 10))" -nostdin \
		-trace_stat -stf "$OUT/flood.csv" -fd 1 >"$OUT/flood.stdout" 2>&1 &
	UAC_PIDS+=("$!")
	local flood=$!
	media mixed
	wait "$uac" || true
	wait "$flood" || true
	local dropped1
	dropped1=$(metric_sum palisade_dropped_total)
	{
		meta calls_offered "$count"
		meta calls_ok "$(stat_col "$OUT/uac.csv" SuccessfulCall\(C\))"
		meta calls_failed "$(stat_col "$OUT/uac.csv" FailedCall\(C\))"
		meta flood_sent "$(stat_col "$OUT/flood.csv" OutgoingCall\(C\))"
		meta flood_dropped "$((dropped1 - dropped0))"
		meta bans "$(metric_sum palisade_bans_active)"
	} >"$OUT/phase2.env"
	kill -0 "$PAL_PID" 2>/dev/null || die "palisade exited during the run"
}

if [ "${1:-}" = "--inner" ]; then
	inner "$2"
	exit 0
fi

# --------------------------------------------------------------------------------------
# Outside: build, namespace, report.
# --------------------------------------------------------------------------------------

BUILD_EXTRA="-p palisade-benches --bins"
bench_setup sipp kamailio curl ip timeout awk paste
uas_scenario
{
	machine_meta
	meta sipp "$(sipp_version)"
	meta media_calls "$MEDIA_CALLS"
	meta call_rate "$CALL_RATE"
	meta flood_rate "$FLOOD_RATE"
	meta warmup "$WARMUP"
	meta window "$WINDOW"
	meta late_ms "$LATE_MS"
} >"$OUT/meta.env"

run_isolated "palisade-bench-mixed-$$" "$SELF"

publish_report
