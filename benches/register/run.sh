#!/usr/bin/env bash
# REGISTER benchmark: SIPp phones register with digest auth (REGISTER, 401, REGISTER with
# Authorization, 200) through an SBC to a Kamailio registrar. Palisade and Kamailio side by
# side in the same run, under the same load generator, in front of the same registrar.
#
#   benches/register/run.sh            full run (about 6 minutes), updates docs/benchmarks.md
#   QUICK=1 benches/register/run.sh    short run (about 2 minutes), results under target/ only
#
# What it measures, for each SBC (a "registration" is the pair of REGISTER transactions):
#   1. CPU time per registration of the SBC's processes at fixed offered rates (RATES,
#      default 200 500 1000 registrations/s, STEP_SECONDS worth each): utime+stime from
#      /proc/<pid>/stat before and after (Kamailio: the main process and all its children).
#      The registrar's CPU is recorded too; it is not part of the SBC's figure.
#   2. The highest rate with zero failures: the rate goes up through MAX_STEPS until a step
#      fails (a failed or missing registration, retransmissions above 1% of registrations,
#      or SIPp below 90% of the offered rate); a failing step is tried once more before it
#      counts. UACS SIPp processes share the load, each with its own share of the users.
#   3. First REGISTER -> 200 latency p50/p99 from SIPp's response-time trace.
#
# Topology, inside a network namespace of its own (only lo, deleted on exit by a trap):
#   SIPp 127.0.0.31.. -> Palisade access 127.0.0.10:5060 | core 127.0.0.11:5060 -> registrar
#   SIPp 127.0.0.31.. -> Kamailio proxy 127.0.0.12:5060                        -> registrar
#   registrar: Kamailio with tests/kamailio/pbx.cfg on 127.0.0.22:5060, users
#   1001..(1000 + USERS) with password secret<user>.
# Load steps alternate between the SBCs.
#
# The phones (benches/register/register.xml) take their user from an -inf file, one user
# per registration in order, each registration with its own Call-ID. SIPp writes its own
# address and port in Via, and the packets come from that address and port, so Palisade
# does not see the phones as behind NAT: registration caching (registration.nat_expires,
# set to 0s here besides) does not apply, and every REGISTER goes to the registrar.
#
# Everything is bounded: each SIPp has -m and -timeout (and a `timeout` around it), and the
# whole run has a global timeout (GLOBAL_TIMEOUT seconds). Processes are stopped by PID.
#
# Settings (environment): QUICK, RATES, STEP_SECONDS, MAX_STEPS, MAX_STEP_SECONDS, UACS,
# USERS, KAMAILIO_WORKERS, PROFILE (1: perf record each SBC during the highest fixed rate),
# OUT (result directory), GLOBAL_TIMEOUT, DOCS (0: do not touch docs/benchmarks.md).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SELF="$ROOT/benches/register/run.sh"

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then
	RATES="${RATES:-1000}"
	STEP_SECONDS="${STEP_SECONDS:-2}"
	MAX_STEPS="${MAX_STEPS:-2000 4000 8000 10000}"
	MAX_STEP_SECONDS="${MAX_STEP_SECONDS:-2}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-420}"
	DOCS="${DOCS:-0}"
else
	RATES="${RATES:-200 500 1000}"
	STEP_SECONDS="${STEP_SECONDS:-10}"
	MAX_STEPS="${MAX_STEPS:-2000 3000 4000 5000 6000 7000 8000 9000 10000 12000 14000}"
	MAX_STEP_SECONDS="${MAX_STEP_SECONDS:-10}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-1500}"
	DOCS="${DOCS:-1}"
fi
UACS="${UACS:-2}"
USERS="${USERS:-6000}"
KAMAILIO_WORKERS="${KAMAILIO_WORKERS:-2}"
PROFILE="${PROFILE:-0}"
export QUICK RATES STEP_SECONDS MAX_STEPS MAX_STEP_SECONDS UACS USERS KAMAILIO_WORKERS PROFILE

BENCH=register
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# --------------------------------------------------------------------------------------
# Inside the namespace.
# --------------------------------------------------------------------------------------

PAL_ACCESS=127.0.0.10:5060
PAL_CORE=127.0.0.11:5060
KAM_ADDR=127.0.0.12:5060
REGISTRAR=127.0.0.22:5060

# Long-running processes (registrar, SBCs), and the SIPp runs of the current step.
PIDS=()
UAC_PIDS=()






# A Kamailio's processes: its main process and its children.
kamailio_pids() {
	echo "$1" $(ps -o pid= --ppid "$1")
}

# The SBC's processes: Palisade is one process; Kamailio is its main process and children.
sbc_pids() {
	case "$1" in
	palisade) echo "$PAL_PID" ;;
	kamailio) kamailio_pids "$KAM_PID" ;;
	esac
}

sbc_addr() {
	case "$1" in
	palisade) echo "$PAL_ACCESS" ;;
	kamailio) echo "$KAM_ADDR" ;;
	esac
}

# users_file N I: the -inf file of SIPp process I of N: every N-th user from 1001 + I.
users_file() {
	local n=$1 i=$2 f="$OUT/users-$1-$2.csv"
	[ -s "$f" ] || users_inf "$f" $((1001 + i)) $((1000 + USERS)) "$n"
	echo "$f"
}

# load SYSTEM RATE SECONDS NUACS LABEL: offers RATE registrations/s for SECONDS through
# NUACS SIPp processes and appends one line to $OUT/results.tsv.
load() {
	local sys=$1 rate=$2 secs=$3 n=$4 label=$5
	local regs per_rate per_regs i dir ip inf
	per_rate=$((rate / n))
	per_regs=$((per_rate * secs))
	regs=$((per_regs * n))
	local run="$OUT/runs/$label-$sys-$rate"
	mkdir -p "$run"
	local pids reg_pids
	read -r -a pids <<<"$(sbc_pids "$sys")"
	read -r -a reg_pids <<<"$(kamailio_pids "$REG_PID")"
	local c0 r0 d0 perf_pid="" start end
	c0=$(cpu_ticks "${pids[@]}")
	r0=$(cpu_ticks "${reg_pids[@]}")
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
		inf=$(users_file "$n" "$i")
		mkdir -p "$dir"
		(
			cd "$dir"
			rc=0
			timeout -k 5 $((secs + 40)) sipp -sf "$ROOT/benches/register/register.xml" \
				-inf "$inf" "$(sbc_addr "$sys")" \
				-i "$ip" -p 5060 -mi "$ip" -mp $((30000 + 10 * i)) -ci "$ip" -cp $((8900 + i)) \
				-nostdin -buff_size 4194304 -r "$per_rate" -m "$per_regs" \
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
	local c1 r1 d1
	c1=$(cpu_ticks "${pids[@]}")
	r1=$(cpu_ticks "${reg_pids[@]}")
	d1=$(udp_drops)

	local ok failed retrans achieved rcs uac_cpu
	read -r ok failed retrans achieved rcs uac_cpu <<<"$(uac_totals "$run" "$n")"
	local p50 p99 hz
	read -r p50 p99 <<<"$(percentiles "$run"/uac*/*_rtt.csv)"
	hz=$(getconf CLK_TCK)
	# label system rate secs regs ok failed retrans sipp_exit_codes achieved_rate wall_s
	# sbc_cpu_ms sbc_us_per_reg registrar_cpu_ms registrar_us_per_reg uac_cpu_ms
	# load_share_pct p50_ms p99_ms udp_drops (load_share_pct: CPU of the SBC, the registrar
	# and SIPp, as a share of all vCPUs; udp_drops: datagrams dropped for a full receive
	# buffer, any socket)
	awk -v OFS='\t' -v sys="$sys" -v rate="$rate" -v secs="$secs" -v regs="$regs" \
		-v ok="$ok" -v failed="$failed" -v retrans="$retrans" -v rcs="$rcs" \
		-v achieved="$achieved" -v start="$start" -v end="$end" -v hz="$hz" \
		-v c="$((c1 - c0))" -v r="$((r1 - r0))" -v uac="$uac_cpu" \
		-v nproc="$(nproc)" -v p50="$p50" -v p99="$p99" -v label="$label" -v drops="$((d1 - d0))" \
		'BEGIN {
			cpu_ms = c * 1000 / hz
			reg_ms = r * 1000 / hz
			per_reg = ok > 0 ? cpu_ms * 1000 / ok : 0
			registrar_per_reg = ok > 0 ? reg_ms * 1000 / ok : 0
			wall = end - start
			busy = wall > 0 ? 100 * (cpu_ms + reg_ms + uac * 1000) / (wall * 1000 * nproc) : 0
			printf "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.0f\t%.2f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%d\n",
				label, sys, rate, secs, regs, ok, failed, retrans, rcs, achieved, end - start,
				cpu_ms, per_reg, reg_ms, registrar_per_reg, uac * 1000, busy, p50, p99, drops
		}' >>"$OUT/results.tsv"
	tail -n 1 "$OUT/results.tsv" | awk -F'\t' '{
		printf "register: %-8s %-8s %5d/s  ok %d/%d failed %d retrans %d exit %s  achieved %.0f/s  SBC %s us/reg  registrar %s us/reg  all %s%% of machine  p50 %s ms p99 %s ms  UDP drops %s\n",
			$1, $2, $3, $6, $5, $7, $8, $9, $10, $13, $15, $17, $18, $19, $20 }' >&2
}

# Whether the last result line is a zero-failure step at its offered rate.
last_passed() {
	tail -n 1 "$OUT/results.tsv" | awk -F'\t' '{
		ok = ($9 ~ /^0+$/) && $6 == $5 && $7 == 0 && $8 <= 0.01 * $5 && $10 >= 0.9 * $3
		exit ok ? 0 : 1 }'
}

inner() {
	OUT=$1
	enter_namespace

	# The registrar: the PBX stand-in of the end-to-end tests, with USERS users.
	start_registrar "$REGISTRAR" "$USERS" "$OUT/registrar"

	palisade_register_config "$PAL_ACCESS" "$PAL_CORE" "$REGISTRAR" >"$OUT/palisade.yaml"
	start_palisade "$OUT/palisade.yaml" "$PAL_ACCESS" "$PAL_CORE"

	# The call-setup benchmark's Kamailio proxy (record_route + topoh), its next hop the
	# registrar. -x tlsf: see benches/calls/run.sh.
	mkdir -p "$OUT/kamailio"
	kamailio -f "$ROOT/benches/kamailio/proxy.cfg" -A "UAS=\"sip:$REGISTRAR\"" \
		-A "WORKERS=$KAMAILIO_WORKERS" -DD -E -x tlsf -m 1024 -M 16 -w "$OUT/kamailio" \
		-Y "$OUT/kamailio" -P "$OUT/kamailio/kamailio.pid" -l "udp:$KAM_ADDR" \
		>"$OUT/kamailio.stdout" 2>"$OUT/kamailio.stderr" &
	KAM_PID=$!
	PIDS+=("$KAM_PID")
	wait_bound "$KAM_ADDR" "$KAM_PID"
	sleep 1

	printf 'label\tsystem\trate\tseconds\tregs\tok\tfailed\tretrans\tsipp_exit\tachieved_rate\twall_s\tsbc_cpu_ms\tsbc_us_per_reg\tregistrar_cpu_ms\tregistrar_us_per_reg\tuac_cpu_ms\tload_share_pct\tp50_ms\tp99_ms\tudp_drops\n' >"$OUT/results.tsv"

	# Every user registers once through each SBC, so that the measured steps refresh
	# existing bindings (in Palisade and in the registrar) rather than create them.
	log "warm-up: $USERS users through each SBC"
	load palisade 1000 "$(((USERS + 999) / 1000))" 1 warmup
	load kamailio 1000 "$(((USERS + 999) / 1000))" 1 warmup

	run_steps registrations

	kill -0 "$PAL_PID" 2>/dev/null || die "palisade exited during the run"
	kill -0 "$KAM_PID" 2>/dev/null || die "kamailio exited during the run"
	kill -0 "$REG_PID" 2>/dev/null || die "the registrar exited during the run"
}

if [ "${1:-}" = "--inner" ]; then
	inner "$2"
	exit 0
fi

# --------------------------------------------------------------------------------------
# Outside: build, namespace, report.
# --------------------------------------------------------------------------------------

bench_setup sipp kamailio ip timeout awk ps

{
	machine_meta
	meta sipp "$(sipp_version)"
	meta kamailio "$(kamailio_version)"
	meta rates "$RATES"
	meta step_seconds "$STEP_SECONDS"
	meta max_steps "$MAX_STEPS"
	meta max_step_seconds "$MAX_STEP_SECONDS"
	meta uacs "$UACS"
	meta users "$USERS"
	meta kamailio_workers "$KAMAILIO_WORKERS"
} >"$OUT/meta.env"

run_isolated "palisade-regbench-$$" "$SELF"

[ "$PROFILE" = "1" ] && perf_summaries palisade kamailio

publish_report
