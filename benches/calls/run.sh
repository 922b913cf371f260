#!/usr/bin/env bash
# Call-setup benchmark: SIPp uac -> SBC -> SIPp uas, no media, Palisade and Kamailio side by
# side in the same run, under the same load generator.
#
#   benches/calls/run.sh            full run (about 10 minutes), updates docs/benchmarks.md
#   QUICK=1 benches/calls/run.sh    short run (a few minutes), results under target/ only
#
# What it measures, for each SBC:
#   1. CPU time per call of the SBC's processes at fixed offered rates (RATES, default
#      200 500 1000 calls/s, STEP_SECONDS worth of calls each): utime+stime from
#      /proc/<pid>/stat before and after (Kamailio: the main process and all its children).
#   2. The highest rate with zero failed calls: the rate goes up through MAX_STEPS until a
#      step fails (a failed or missing call, retransmissions above 1% of calls, or SIPp
#      below 90% of the offered rate); a failing step is tried once more before it counts.
#      UACS SIPp processes share the load, since one SIPp can be the limit.
#   3. INVITE -> 200 latency p50/p99 from SIPp's response-time trace (-trace_rtt; SIPp's
#      clock is coarse, whole milliseconds or worse, so "0" means under one tick).
#
# Topology, inside a network namespace of its own (only lo, deleted on exit by a trap):
#   uac 127.0.0.31.. -> Palisade access 127.0.0.10:5060 | core 127.0.0.11:5060 -> uas 127.0.0.20:5060
#   uac 127.0.0.31.. -> Kamailio 127.0.0.12:5060                              -> uas 127.0.0.21:5060
# Both SBCs and both UASs run for the whole run; load steps alternate between the SBCs.
#
# Scenarios: SIPp's built-in `uac` unchanged; the UAS is SIPp's built-in `uas` without its
# 180 Ringing (generated from `sipp -sd uas`). A multi-process proxy (Kamailio's UDP workers)
# relays the 180 and the 200 in either order, and SIPp's uac counts a 180 after the 200 as a
# failed call; without the 180 both SBCs relay the same INVITE/100/200/ACK/BYE/200 calls.
#
# Everything is bounded: each SIPp has -m and -timeout (and a `timeout` around it), and the
# whole run has a global timeout (GLOBAL_TIMEOUT seconds). Processes are stopped by PID.
#
# Settings (environment): QUICK, RATES, STEP_SECONDS, MAX_STEPS, MAX_STEP_SECONDS, UACS,
# KAMAILIO_WORKERS, PROFILE (1: perf record each SBC during the highest fixed rate),
# OUT (result directory), GLOBAL_TIMEOUT, DOCS (0: do not touch docs/benchmarks.md).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SELF="$ROOT/benches/calls/run.sh"

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then
	RATES="${RATES:-200 500 1000}"
	STEP_SECONDS="${STEP_SECONDS:-3}"
	MAX_STEPS="${MAX_STEPS:-1000 2000 3000 4000 6000 8000}"
	MAX_STEP_SECONDS="${MAX_STEP_SECONDS:-3}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-420}"
	DOCS="${DOCS:-0}"
else
	RATES="${RATES:-200 500 1000}"
	STEP_SECONDS="${STEP_SECONDS:-10}"
	MAX_STEPS="${MAX_STEPS:-2000 3000 4000 5000 6000 7000 8000 9000 10000 12000}"
	MAX_STEP_SECONDS="${MAX_STEP_SECONDS:-10}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-1800}"
	DOCS="${DOCS:-1}"
fi
UACS="${UACS:-2}"
KAMAILIO_WORKERS="${KAMAILIO_WORKERS:-2}"
PROFILE="${PROFILE:-0}"
export QUICK RATES STEP_SECONDS MAX_STEPS MAX_STEP_SECONDS UACS KAMAILIO_WORKERS PROFILE

log() { echo "calls: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# --------------------------------------------------------------------------------------
# Inside the namespace.
# --------------------------------------------------------------------------------------

PAL_ACCESS=127.0.0.10:5060
PAL_CORE=127.0.0.11:5060
KAM_ADDR=127.0.0.12:5060
UAS_PAL=127.0.0.20:5060
UAS_KAM=127.0.0.21:5060

# Long-running peers (UASs, SBCs), and the SIPp uac runs of the current step.
PIDS=()
UAC_PIDS=()






# The SBC's processes: Palisade is one process; Kamailio is its main process and children.
sbc_pids() {
	case "$1" in
	palisade) echo "$PAL_PID" ;;
	kamailio) echo "$KAM_PID" $(ps -o pid= --ppid "$KAM_PID") ;;
	esac
}

sbc_addr() {
	case "$1" in
	palisade) echo "$PAL_ACCESS" ;;
	kamailio) echo "$KAM_ADDR" ;;
	esac
}

uas_pid() {
	case "$1" in
	palisade) echo "$UAS_PAL_PID" ;;
	kamailio) echo "$UAS_KAM_PID" ;;
	esac
}

# load SYSTEM RATE SECONDS NUACS LABEL: offers RATE calls/s for SECONDS through NUACS SIPp
# processes and appends one line to $OUT/results.tsv.
load() {
	local sys=$1 rate=$2 secs=$3 n=$4 label=$5
	local calls=$((rate * secs)) per_rate per_calls i dir ip
	per_rate=$((rate / n))
	per_calls=$((per_rate * secs))
	calls=$((per_calls * n))
	local run="$OUT/runs/$label-$sys-$rate"
	mkdir -p "$run"
	local pids
	read -r -a pids <<<"$(sbc_pids "$sys")"
	local uas
	uas=$(uas_pid "$sys")
	local c0 u0 d0 perf_pid="" start end
	c0=$(cpu_ticks "${pids[@]}")
	u0=$(cpu_ticks "$uas")
	d0=$(udp_drops)
	start=$(date +%s.%N)
	if [ "$PROFILE" = "1" ] && [ "$label" = "profile" ]; then
		perf record -F 999 -g -o "$OUT/perf-$sys.data" -p "$(
			IFS=,
			echo "${pids[*]}"
		)" -- sleep "$secs" >"$run/perf.out" 2>&1 &
		perf_pid=$!
	fi
	UAC_PIDS=()
	for i in $(seq 0 $((n - 1))); do
		dir="$run/uac$i"
		ip="127.0.0.$((31 + i))"
		mkdir -p "$dir"
		(
			cd "$dir"
			rc=0
			timeout -k 5 $((secs + 40)) sipp -sn uac "$(sbc_addr "$sys")" \
				-i "$ip" -p 5060 -mi "$ip" -mp $((30000 + 10 * i)) -ci "$ip" -cp $((8900 + i)) \
				-nostdin -buff_size 4194304 -r "$per_rate" -m "$per_calls" \
				-timeout "$((secs + 30))s" -timeout_error \
				-trace_stat -stf stat.csv -fd 1 -trace_err -error_file errors.log \
				-trace_rtt -rtt_freq 100 >sipp.out 2>&1 || rc=$?
			echo "$rc" >rc
			times >times
		) &
		UAC_PIDS+=($!)
	done
	for i in "${UAC_PIDS[@]}"; do wait "$i" || true; done
	UAC_PIDS=()
	end=$(date +%s.%N)
	[ -n "$perf_pid" ] && { wait "$perf_pid" || true; }
	local c1 u1 d1
	c1=$(cpu_ticks "${pids[@]}")
	u1=$(cpu_ticks "$uas")
	d1=$(udp_drops)

	local ok failed retrans callrate rcs uac_cpu
	read -r ok failed retrans callrate rcs uac_cpu <<<"$(uac_totals "$run" "$n")"
	local p50 p99 hz
	read -r p50 p99 <<<"$(percentiles "$run"/uac*/*_rtt.csv)"
	hz=$(getconf CLK_TCK)
	# system rate secs calls ok failed retrans sipp_exit_codes achieved_rate wall_s
	# sbc_cpu_ms sbc_us_per_call uas_cpu_ms uac_cpu_ms load_share_pct p50_ms p99_ms
	# udp_drops (load_share_pct: CPU of the SBC and the SIPp processes, as a share of all
	# vCPUs; udp_drops: datagrams dropped for a full receive buffer, any socket)
	awk -v OFS='\t' -v sys="$sys" -v rate="$rate" -v secs="$secs" -v calls="$calls" \
		-v ok="$ok" -v failed="$failed" -v retrans="$retrans" -v rcs="$rcs" \
		-v callrate="$callrate" -v start="$start" -v end="$end" -v hz="$hz" \
		-v c="$((c1 - c0))" -v u="$((u1 - u0))" -v uac="$uac_cpu" \
		-v nproc="$(nproc)" -v p50="$p50" -v p99="$p99" -v label="$label" -v drops="$((d1 - d0))" \
		'BEGIN {
			cpu_ms = c * 1000 / hz
			per_call = ok > 0 ? cpu_ms * 1000 / ok : 0
			wall = end - start
			busy = wall > 0 ? 100 * (cpu_ms + (u * 1000 / hz) + uac * 1000) / (wall * 1000 * nproc) : 0
			printf "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.0f\t%.2f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%d\n",
				label, sys, rate, secs, calls, ok, failed, retrans, rcs, callrate, end - start,
				cpu_ms, per_call, u * 1000 / hz, uac * 1000, busy, p50, p99, drops
		}' >>"$OUT/results.tsv"
	tail -n 1 "$OUT/results.tsv" | awk -F'\t' '{
		printf "calls: %-8s %-8s %5d/s  ok %d/%d failed %d retrans %d exit %s  achieved %.0f/s  SBC %s us/call  SBC+SIPp %s%% of machine  p50 %s ms p99 %s ms  UDP drops %s\n",
			$1, $2, $3, $6, $5, $7, $8, $9, $10, $13, $16, $17, $18, $19 }' >&2
}

# Whether the last result line is a zero-failure step at its offered rate.
last_passed() {
	tail -n 1 "$OUT/results.tsv" | awk -F'\t' '{
		ok = ($9 ~ /^0+$/) && $6 == $5 && $7 == 0 && $8 <= 0.01 * $5 && $10 >= 0.9 * $3
		exit ok ? 0 : 1 }'
}

inner() {
	OUT=$1
	local ifaces
	ifaces=$(ls /sys/class/net)
	[ "$ifaces" = "lo" ] || die "not in an isolated namespace (interfaces: $ifaces)"
	ip link set lo up
	trap stop_pids EXIT
	trap 'exit 143' TERM INT

	local palisade="$ROOT/target/release/palisade"
	cat >"$OUT/palisade.yaml" <<-EOF
		# Call-setup benchmark: access and core on different loopback addresses, the
		# upstream is the SIPp UAS. Warning level: nothing is logged per call (at the
		# default info level Palisade logs three lines per call).
		access:
		  listen: ["udp:$PAL_ACCESS"]
		core:
		  listen: ["udp:$PAL_CORE"]
		  upstream: ["sip:$UAS_PAL"]
		media:
		  ports: "30000-59999"
		admin:
		  listen: "127.0.0.10:9090"
		calls:
		  max_active: 100000
		# The SIPp callers do not register.
		fraud:
		  registered_only: false
		# The load generators are one source sending far above any phone's budget:
		# never rate limited (only the deny and allow lists are consulted for them).
		security:
		  allow: ["127.0.0.0/8"]
		log:
		  level: warn
	EOF
	"$palisade" check-config "$OUT/palisade.yaml" >/dev/null

	# The UASs answer every call; -aa answers Palisade's OPTIONS health probes.
	local uas=$OUT/uas.xml
	for role in pal kam; do
		local addr ip
		if [ $role = pal ]; then addr=$UAS_PAL; else addr=$UAS_KAM; fi
		ip=${addr%:*}
		mkdir -p "$OUT/uas-$role"
		(cd "$OUT/uas-$role" && exec sipp -sf "$uas" -i "$ip" -p "${addr#*:}" -mi "$ip" \
			-mp $((31000 + 100 * ${#PIDS[@]})) -ci "$ip" -cp $((8800 + ${#PIDS[@]})) -aa -nostdin \
			-buff_size 4194304 -timeout "$((GLOBAL_TIMEOUT + 60))s" \
			-trace_err -error_file errors.log >sipp.out 2>&1) &
		PIDS+=($!)
		if [ $role = pal ]; then UAS_PAL_PID=$!; else UAS_KAM_PID=$!; fi
		wait_bound "$addr" $!
	done

	"$palisade" --config "$OUT/palisade.yaml" >"$OUT/palisade.stdout" 2>"$OUT/palisade.stderr" &
	PAL_PID=$!
	PIDS+=("$PAL_PID")
	wait_bound "$PAL_ACCESS" "$PAL_PID"
	wait_bound "$PAL_CORE" "$PAL_PID"

	# -x tlsf: Kamailio's TLSF allocator. With the default q_malloc, qm_malloc took two
	# thirds of Kamailio's CPU at 1000 calls/s (a linear free-list walk over the
	# transactions in flight), which would understate Kamailio.
	mkdir -p "$OUT/kamailio"
	kamailio -f "$ROOT/benches/kamailio/proxy.cfg" -A "UAS=\"sip:$UAS_KAM\"" \
		-A "WORKERS=$KAMAILIO_WORKERS" -DD -E -x tlsf -m 1024 -M 16 -w "$OUT/kamailio" \
		-Y "$OUT/kamailio" -P "$OUT/kamailio/kamailio.pid" -l "udp:$KAM_ADDR" \
		>"$OUT/kamailio.stdout" 2>"$OUT/kamailio.stderr" &
	KAM_PID=$!
	PIDS+=("$KAM_PID")
	wait_bound "$KAM_ADDR" "$KAM_PID"
	sleep 1

	printf 'label\tsystem\trate\tseconds\tcalls\tok\tfailed\tretrans\tsipp_exit\tachieved_rate\twall_s\tsbc_cpu_ms\tsbc_us_per_call\tuas_cpu_ms\tuac_cpu_ms\tload_share_pct\tp50_ms\tp99_ms\tudp_drops\n' >"$OUT/results.tsv"

	log "warm-up"
	load palisade 200 2 1 warmup
	load kamailio 200 2 1 warmup

	run_steps calls

	kill -0 "$PAL_PID" 2>/dev/null || die "palisade exited during the run"
	kill -0 "$KAM_PID" 2>/dev/null || die "kamailio exited during the run"
}

if [ "${1:-}" = "--inner" ]; then
	inner "$2"
	exit 0
fi

# --------------------------------------------------------------------------------------
# Outside: build, namespace, report.
# --------------------------------------------------------------------------------------

[ "${EUID}" -eq 0 ] || die "needs root (network namespace); run: sudo $0"
for cmd in sipp kamailio ip timeout awk ps; do
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] ||
		die "missing $cmd: scripts/install-deps.sh installs the peers"
done
[ "$PROFILE" = "1" ] && { command -v perf >/dev/null 2>&1 || die "PROFILE=1 needs perf"; }
export PATH="$PATH:/usr/sbin:/sbin"

CARGO="${CARGO:-cargo}"
log "building Palisade (release)"
(cd "$ROOT" && "$CARGO" build --release -p palisade --quiet)

OUT="${OUT:-$ROOT/target/bench-calls/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export OUT GLOBAL_TIMEOUT
# SIPp's built-in uas without its 180 Ringing (see the header of this file).
{ sipp -sd uas || true; } | awk '
	/<send>/ { held = $0 "\n"; holding = 1; next }
	holding {
		held = held $0 "\n"
		if (/180 Ringing/) drop = 1
		if (/<\/send>/) { if (!drop) printf "%s", held; holding = 0; drop = 0 }
		next
	}
	{ print }' >"$OUT/uas.xml"
grep -q '180 Ringing' "$OUT/uas.xml" && die "could not derive the uas scenario"

NS="palisade-bench-$$"
cleanup() { netns_cleanup "$NS"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

{
	machine_meta
	meta sipp "$(sipp -v 2>/dev/null | awk '/SIPp v/ {v = $2; sub(/^v/, "", v); sub(/[.]$/, "", v); print v; exit}')"
	meta kamailio "$(kamailio -v 2>/dev/null | awk '/^version:/ {print $3; exit}')"
	meta rates "$RATES"
	meta step_seconds "$STEP_SECONDS"
	meta max_steps "$MAX_STEPS"
	meta max_step_seconds "$MAX_STEP_SECONDS"
	meta uacs "$UACS"
	meta kamailio_workers "$KAMAILIO_WORKERS"
} >"$OUT/meta.env"

ip netns add "$NS"
log "namespace $NS; results in $OUT; global timeout ${GLOBAL_TIMEOUT}s"
rc=0
timeout -k 15 "$GLOBAL_TIMEOUT" ip netns exec "$NS" "$SELF" --inner "$OUT" || rc=$?
[ "$rc" -eq 0 ] || die "the run failed (exit $rc); logs in $OUT"

[ "$PROFILE" = "1" ] && perf_summaries palisade kamailio

"$ROOT/benches/calls/report.sh" "$OUT" >"$OUT/report.md"
cat "$OUT/report.md"
if [ "$DOCS" = "1" ]; then
	"$ROOT/benches/calls/report.sh" --update "$ROOT/docs/benchmarks.md" "$OUT/report.md"
	log "updated docs/benchmarks.md"
fi
