#!/usr/bin/env bash
# Call-setup benchmark: SIPp uac -> SBC -> SIPp uas, no RTP sent, four systems side by side
# in the same run, under the same load generator:
#   palisade             Palisade (B2BUA; it anchors the media of every call: relay ports
#                        allocated, both SDPs rewritten), to compare with kamailio_rtpengine
#   palisade_signaling   the same B2BUA with media.anchor false (SDP untouched), to
#                        compare with kamailio
#   kamailio             Kamailio as a record-routing, topology-hiding proxy, no media
#   kamailio_rtpengine   the same Kamailio with rtpengine anchoring the media (ng protocol
#                        offer/answer/delete), the usual open-source SBC
#
#   benches/calls/run.sh            full run (about 15 minutes), updates docs/benchmarks.md
#   QUICK=1 benches/calls/run.sh    short run (one to three minutes), results under target/ only
#
# What it measures, for each system:
#   1. CPU time per call of the SBC's processes at fixed offered rates (RATES, default
#      200 500 1000 calls/s, STEP_SECONDS worth of calls each): utime+stime from
#      /proc/<pid>/stat before and after (Kamailio: the main process and all its children;
#      Kamailio + rtpengine: those and the rtpengine daemon).
#   2. The highest rate with zero failed calls: the rate goes up through MAX_STEPS until a
#      step fails (a failed or missing call, retransmissions above 1% of calls, or SIPp
#      below 90% of the offered rate); a failing step is tried once more before it counts.
#      UACS SIPp processes share the load, since one SIPp can be the limit.
#   3. INVITE -> 200 latency p50/p99 from SIPp's response-time trace (-trace_rtt; SIPp's
#      clock is coarse, whole milliseconds or worse, so "0" means under one tick).
#
# Topology, inside a network namespace of its own (only lo, deleted on exit by a trap):
#   uac 127.0.0.31.. -> Palisade access 127.0.0.10:5060 | core 127.0.0.11:5060 -> uas 127.0.0.20:5060
#   uac 127.0.0.31.. -> Palisade access 127.0.0.16:5060 | core 127.0.0.17:5060 -> uas 127.0.0.23:5060
#   uac 127.0.0.31.. -> Kamailio 127.0.0.12:5060                              -> uas 127.0.0.21:5060
#   uac 127.0.0.31.. -> Kamailio 127.0.0.13:5060                              -> uas 127.0.0.22:5060
#                       rtpengine ng 127.0.0.14:2223 (CLI :9900), media access 127.0.0.14 | core 127.0.0.15
# All SBCs and UASs run for the whole run; the load steps alternate between the systems.
#
# Media anchoring is checked, not assumed: before the measured steps one call through each
# system is traced (-trace_msg) and the address in the SDP of the 200 the caller receives is
# recorded (the SBC's own for Palisade and Kamailio + rtpengine, the UAS's own for the
# two that leave it alone); around every
# Kamailio + rtpengine step rtpengine's counters are read over its CLI. A step in which
# rtpengine saw no offer stops the run, and so does a session left after a step in which
# every call completed without a retransmission (the BYE's delete does not work). A step
# passes only if rtpengine saw an offer for every completed call and no session was left
# at its end; an overloaded step can leave some (rtpengine drops ng commands, Kamailio
# gives up after its retries): they are terminated before the next step.
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
# KAMAILIO_WORKERS (also rtpengine's --num-threads), PROFILE (1: perf record each system
# during the highest fixed rate; PERF_CALL_GRAPH, perf's call-graph option, default -g:
# "--call-graph dwarf" gives whole stacks of a release build), OUT (result directory),
# GLOBAL_TIMEOUT, DOCS (0: do not touch docs/benchmarks.md).
#
# Output in OUT: results.tsv (one line per step, columns named in its header line; the
# columns are stable, new ones are only ever appended), calls-rate.png (achieved against
# offered rate per system), report.md, and the logs of each step.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SELF="$ROOT/benches/calls/run.sh"

QUICK="${QUICK:-0}"
if [ "$QUICK" = "1" ]; then
	RATES="${RATES:-1000}"
	STEP_SECONDS="${STEP_SECONDS:-2}"
	MAX_STEPS="${MAX_STEPS:-2000 4000 6000 8000 10000}"
	MAX_STEP_SECONDS="${MAX_STEP_SECONDS:-2}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-300}"
	DOCS="${DOCS:-0}"
else
	RATES="${RATES:-200 500 1000}"
	STEP_SECONDS="${STEP_SECONDS:-10}"
	MAX_STEPS="${MAX_STEPS:-1000 1500 2000 3000 4000 5000 6000 7000 8000 9000 10000 12000}"
	MAX_STEP_SECONDS="${MAX_STEP_SECONDS:-10}"
	GLOBAL_TIMEOUT="${GLOBAL_TIMEOUT:-2400}"
	DOCS="${DOCS:-1}"
fi
UACS="${UACS:-2}"
KAMAILIO_WORKERS="${KAMAILIO_WORKERS:-2}"
PROFILE="${PROFILE:-0}"
export QUICK RATES STEP_SECONDS MAX_STEPS MAX_STEP_SECONDS UACS KAMAILIO_WORKERS PROFILE

BENCH=calls
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# --------------------------------------------------------------------------------------
# Inside the namespace.
# --------------------------------------------------------------------------------------

# Palisade twice: anchoring the media (the comparison with Kamailio + rtpengine) and with
# media.anchor false, signaling only (the comparison with Kamailio alone).
SYSTEMS="palisade palisade_signaling kamailio kamailio_rtpengine"
PAL_ACCESS=127.0.0.10:5060
PAL_CORE=127.0.0.11:5060
PALS_ACCESS=127.0.0.16:5060
PALS_CORE=127.0.0.17:5060
# Where each system takes the calls, and its UAS.
declare -A SBC_ADDR=([palisade]=$PAL_ACCESS [palisade_signaling]=$PALS_ACCESS
	[kamailio]=127.0.0.12:5060 [kamailio_rtpengine]=127.0.0.13:5060)
declare -A UAS_ADDR=([palisade]=127.0.0.20:5060 [palisade_signaling]=127.0.0.23:5060
	[kamailio]=127.0.0.21:5060 [kamailio_rtpengine]=127.0.0.22:5060)
RTPE_NG=127.0.0.14:2223
RTPE_CLI=127.0.0.14:9900
RTPE_ACCESS_IP=127.0.0.14
RTPE_CORE_IP=127.0.0.15

# Long-running peers (UASs, SBCs), and the SIPp uac runs of the current step.
PIDS=()
UAC_PIDS=()
# PID of each system's main process (Kamailio's: the one that forked its workers) and UAS.
declare -A SBC_PID=() UAS_PID=()
RTPE_PID=""

# The SBC's processes: Palisade is one process; Kamailio is its main process and children;
# Kamailio + rtpengine adds the rtpengine daemon (all its threads).
sbc_pids() {
	local main=${SBC_PID[$1]}
	case "$1" in
	palisade | palisade_signaling) echo "$main" ;;
	kamailio) echo "$main" "$(ps -o pid= --ppid "$main" | tr '\n' ' ')" ;;
	kamailio_rtpengine) echo "$main" "$(ps -o pid= --ppid "$main" | tr '\n' ' ')" "$RTPE_PID" ;;
	esac
}

# One command on rtpengine's CLI (a TCP connection it closes after the answer).
rtpe_cli() {
	local fd
	exec {fd}<>"/dev/tcp/${RTPE_CLI%:*}/${RTPE_CLI#*:}" || return 1
	echo "$*" >&"$fd"
	timeout 5 cat <&"$fd" || true
	exec {fd}>&-
}

# rtpengine's counters: "offers answers deletes sessions": the ng commands received so far
# (from any client) and the sessions open now.
rtpe_counters() {
	rtpe_cli list totals | awk -F'|' '
		/^ *Total sessions *:/ { v = $0; sub(/.*: */, "", v); open = v }
		/^ *Proxy *\|/ { control = 1; next }
		control && NF > 5 { offers += $3; answers += $4; deletes += $5 }
		END { print offers + 0, answers + 0, deletes + 0, open + 0 }'
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
	local uas=${UAS_PID[$sys]}
	local c0 u0 d0 m0=0 perf_pid="" start end
	# rtpengine's counters before the step: offers answers deletes sessions.
	local rtpe0=() rtpe1=()
	if [ "$sys" = kamailio_rtpengine ]; then
		read -r -a rtpe0 <<<"$(rtpe_counters)"
	fi
	c0=$(cpu_ticks "${pids[@]}")
	[ "$sys" = kamailio_rtpengine ] && m0=$(cpu_ticks "$RTPE_PID")
	u0=$(cpu_ticks "$uas")
	d0=$(udp_drops)
	start=$(date +%s.%N)
	if [ "$PROFILE" = "1" ] && [ "$label" = "profile" ]; then
		perf record -F 999 ${PERF_CALL_GRAPH:--g} -o "$OUT/perf-$sys.data" -p "$(
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
			timeout -k 5 $((secs + 40)) sipp -sn uac "${SBC_ADDR[$sys]}" \
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
	local c1 u1 d1 m1=0
	c1=$(cpu_ticks "${pids[@]}")
	[ "$sys" = kamailio_rtpengine ] && m1=$(cpu_ticks "$RTPE_PID")
	u1=$(cpu_ticks "$uas")
	d1=$(udp_drops)
	# The media relay's share (rtpengine's CPU, in the SBC's) and what rtpengine saw: "-"
	# for the systems without it.
	local media_ms=- offers=- answers=- deletes=- left=-
	if [ "$sys" = kamailio_rtpengine ]; then
		read -r -a rtpe1 <<<"$(rtpe_counters)"
		media_ms=$(((m1 - m0) * 1000 / $(getconf CLK_TCK)))
		offers=$((rtpe1[0] - rtpe0[0]))
		answers=$((rtpe1[1] - rtpe0[1]))
		deletes=$((rtpe1[2] - rtpe0[2]))
		left=${rtpe1[3]}
	fi

	local ok failed retrans callrate rcs uac_cpu
	read -r ok failed retrans callrate rcs uac_cpu <<<"$(uac_totals "$run" "$n")"
	local p50 p99 hz
	read -r p50 p99 <<<"$(percentiles "$run"/uac*/*_rtt.csv)"
	hz=$(getconf CLK_TCK)
	# system rate secs calls ok failed retrans sipp_exit_codes achieved_rate wall_s
	# sbc_cpu_ms sbc_us_per_call uas_cpu_ms uac_cpu_ms load_share_pct p50_ms p99_ms
	# udp_drops media_cpu_ms rtpe_offers rtpe_answers rtpe_deletes rtpe_left
	# (load_share_pct: CPU of the SBC and the SIPp processes, as a share of all vCPUs;
	# udp_drops: datagrams dropped for a full receive buffer, any socket; media_cpu_ms:
	# rtpengine's part of sbc_cpu_ms; rtpe_*: the ng commands rtpengine received during the
	# step, and the sessions it still held at its end)
	awk -v OFS='\t' -v sys="$sys" -v rate="$rate" -v secs="$secs" -v calls="$calls" \
		-v ok="$ok" -v failed="$failed" -v retrans="$retrans" -v rcs="$rcs" \
		-v callrate="$callrate" -v start="$start" -v end="$end" -v hz="$hz" \
		-v c="$((c1 - c0))" -v u="$((u1 - u0))" -v uac="$uac_cpu" \
		-v nproc="$(nproc)" -v p50="$p50" -v p99="$p99" -v label="$label" -v drops="$((d1 - d0))" \
		-v media="$media_ms\t$offers\t$answers\t$deletes\t$left" \
		'BEGIN {
			cpu_ms = c * 1000 / hz
			per_call = ok > 0 ? cpu_ms * 1000 / ok : 0
			wall = end - start
			busy = wall > 0 ? 100 * (cpu_ms + (u * 1000 / hz) + uac * 1000) / (wall * 1000 * nproc) : 0
			printf "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.0f\t%.2f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%d\t%s\n",
				label, sys, rate, secs, calls, ok, failed, retrans, rcs, callrate, end - start,
				cpu_ms, per_call, u * 1000 / hz, uac * 1000, busy, p50, p99, drops, media
		}' >>"$OUT/results.tsv"
	tail -n 1 "$OUT/results.tsv" | awk -F'\t' '{
		printf "calls: %-6s %-18s %5d/s  ok %d/%d failed %d retrans %d exit %s  achieved %.0f/s  SBC %s us/call  SBC+SIPp %s%% of machine  p50 %s ms p99 %s ms  UDP drops %s",
			$1, $2, $3, $6, $5, $7, $8, $9, $10, $13, $16, $17, $18, $19
		if ($21 != "-") printf "  rtpengine: %s ms CPU, offers %s answers %s deletes %s, %s sessions left", $20, $21, $22, $23, $24
		printf "\n" }' >&2

	if [ "$sys" = kamailio_rtpengine ]; then
		# Kamailio that never asked rtpengine is not the system under test: stop loudly.
		[ "$offers" -gt 0 ] || [ "$ok" = 0 ] ||
			die "rtpengine saw no offer in step $label at $rate/s ($ok calls completed): Kamailio does not anchor the media; logs in $OUT"
		if [ "$left" -gt 0 ]; then
			# Every call completed without a retransmission, yet a session is left: the
			# BYE's delete does not work. (Overloaded, rtpengine drops ng commands and
			# Kamailio gives up on some after its retries: sessions are left then.)
			[ "$ok" != "$calls" ] || [ "$retrans" != 0 ] ||
				die "rtpengine holds $left sessions after step $label at $rate/s in which every call completed at once: rtpengine_delete does not work; logs in $OUT"
			log "rtpengine: terminating the $left sessions left by the step"
			rtpe_cli terminate all >/dev/null
		fi
	fi
}

# Whether the last result line is a zero-failure step at its offered rate.
last_passed() {
	"$ROOT/benches/calls/report.sh" --passed "$OUT/results.tsv"
}

# The connection address in the SDP of the 200 a caller receives for one call through
# SYSTEM, from SIPp's message trace.
sdp_probe() {
	local dir="$OUT/runs/probe-$1"
	mkdir -p "$dir"
	(cd "$dir" && timeout -k 5 20 sipp -sn uac "${SBC_ADDR[$1]}" -i 127.0.0.31 -p 5060 \
		-mi 127.0.0.31 -mp 30000 -ci 127.0.0.31 -cp 8900 -nostdin -m 1 -timeout 10s \
		-timeout_error -trace_msg >sipp.out 2>&1) ||
		die "the probe call through $1 failed; logs in $dir"
	awk '/message received/ { rx = 1; next } /message sent/ { rx = 0 }
		rx && /^c=IN IP4 / { sub(/\r$/, ""); print $3; exit }' "$dir"/*_messages.log
}

inner() {
	OUT=$1
	enter_namespace

	palisade_calls_config "$PAL_ACCESS" "$PAL_CORE" "${UAS_ADDR[palisade]}" 30000-59999 \
		>"$OUT/palisade.yaml"
	palisade_calls_config "$PALS_ACCESS" "$PALS_CORE" "${UAS_ADDR[palisade_signaling]}" 20000-29999 |
		sed '/^media:$/a\  anchor: false' >"$OUT/palisade-signaling.yaml"

	# The UASs answer every call; -aa answers Palisade's OPTIONS health probes.
	local sys
	for sys in $SYSTEMS; do
		start_uas "${UAS_ADDR[$sys]}" "$OUT/uas-$sys"
		UAS_PID[$sys]=$LAST_PID
	done

	start_palisade "$OUT/palisade.yaml" "$PAL_ACCESS" "$PAL_CORE"
	SBC_PID[palisade]=$PAL_PID
	start_palisade "$OUT/palisade-signaling.yaml" "$PALS_ACCESS" "$PALS_CORE"
	SBC_PID[palisade_signaling]=$PAL_PID

	# rtpengine as benches/media/run.sh runs it (userspace forwarding, sessions deleted at
	# once), with as many threads as Kamailio has UDP workers; callers' side `access`, the
	# UAS's side `core`, each on an address of its own.
	rtpengine --config-file=none --table=-1 --interface="access/$RTPE_ACCESS_IP" \
		--interface="core/$RTPE_CORE_IP" --listen-ng="$RTPE_NG" --listen-cli="$RTPE_CLI" \
		--foreground --num-threads="$KAMAILIO_WORKERS" --port-min=20000 --port-max=59999 \
		--delete-delay=0 --log-stderr --log-level=4 --pidfile="$OUT/rtpengine.pid" \
		>"$OUT/rtpengine.stdout" 2>"$OUT/rtpengine.stderr" &
	RTPE_PID=$!
	PIDS+=("$RTPE_PID")
	wait_bound "$RTPE_NG" "$RTPE_PID"

	# -x tlsf: Kamailio's TLSF allocator. With the default q_malloc, qm_malloc took two
	# thirds of Kamailio's CPU at 1000 calls/s (a linear free-list walk over the
	# transactions in flight), which would understate Kamailio. The same configuration
	# serves both Kamailios; -A WITH_RTPENGINE adds the media anchoring.
	local defines
	for sys in kamailio kamailio_rtpengine; do
		defines=()
		[ "$sys" = kamailio_rtpengine ] &&
			defines=(-A WITH_RTPENGINE -A "RTPENGINE_SOCK=\"udp:$RTPE_NG\"")
		mkdir -p "$OUT/$sys"
		kamailio -f "$ROOT/benches/kamailio/proxy.cfg" -A "UAS=\"sip:${UAS_ADDR[$sys]}\"" \
			-A "WORKERS=$KAMAILIO_WORKERS" "${defines[@]}" -DD -E -x tlsf -m 1024 -M 16 \
			-w "$OUT/$sys" -Y "$OUT/$sys" -P "$OUT/$sys/kamailio.pid" -l "udp:${SBC_ADDR[$sys]}" \
			>"$OUT/$sys.stdout" 2>"$OUT/$sys.stderr" &
		SBC_PID[$sys]=$!
		PIDS+=($!)
		wait_bound "${SBC_ADDR[$sys]}" $!
	done
	sleep 1

	# The address in the SDP of the 200 a caller receives through each system: the UAS's
	# own through Kamailio alone, the SBC's through the two that anchor the media.
	local -A sdp=()
	for sys in $SYSTEMS; do
		sdp[$sys]=$(sdp_probe "$sys")
		meta "sdp_$sys" "${sdp[$sys]}" >>"$OUT/meta.env"
	done
	meta rtpengine_threads "$(find /proc/"$RTPE_PID"/task -mindepth 1 -maxdepth 1 | wc -l)" >>"$OUT/meta.env"
	log "SDP of the 200 at the caller: palisade ${sdp[palisade]}, palisade_signaling ${sdp[palisade_signaling]}, kamailio ${sdp[kamailio]}, kamailio_rtpengine ${sdp[kamailio_rtpengine]}"
	[ "${sdp[kamailio]}" = "${UAS_ADDR[kamailio]%:*}" ] ||
		die "the 200 through Kamailio carries '${sdp[kamailio]}', not the UAS's address"
	[ "${sdp[palisade_signaling]}" = "${UAS_ADDR[palisade_signaling]%:*}" ] ||
		die "the 200 through Palisade without anchoring carries '${sdp[palisade_signaling]}', not the UAS's address"
	case "${sdp[palisade]}" in
	"" | "${UAS_ADDR[palisade]%:*}") die "the 200 through Palisade carries '${sdp[palisade]}': the media is not anchored" ;;
	esac
	[ "${sdp[kamailio_rtpengine]}" = "$RTPE_ACCESS_IP" ] ||
		die "the 200 through Kamailio + rtpengine carries '${sdp[kamailio_rtpengine]}', not rtpengine's $RTPE_ACCESS_IP"

	printf 'label\tsystem\trate\tseconds\tcalls\tok\tfailed\tretrans\tsipp_exit\tachieved_rate\twall_s\tsbc_cpu_ms\tsbc_us_per_call\tuas_cpu_ms\tuac_cpu_ms\tload_share_pct\tp50_ms\tp99_ms\tudp_drops\tmedia_cpu_ms\trtpe_offers\trtpe_answers\trtpe_deletes\trtpe_left\n' >"$OUT/results.tsv"

	log "warm-up"
	for sys in $SYSTEMS; do load "$sys" 200 2 1 warmup; done

	run_steps calls

	for sys in $SYSTEMS; do
		kill -0 "${SBC_PID[$sys]}" 2>/dev/null || die "$sys exited during the run"
	done
	kill -0 "$RTPE_PID" 2>/dev/null || die "rtpengine exited during the run"
}

if [ "${1:-}" = "--inner" ]; then
	inner "$2"
	exit 0
fi

# --------------------------------------------------------------------------------------
# Outside: build, namespace, report.
# --------------------------------------------------------------------------------------

bench_setup sipp kamailio rtpengine ip timeout awk ps
# SIPp's built-in uas without its 180 Ringing (see the header of this file).
uas_scenario

{
	machine_meta
	meta sipp "$(sipp_version)"
	meta kamailio "$(kamailio_version)"
	meta rates "$RATES"
	meta step_seconds "$STEP_SECONDS"
	meta max_steps "$MAX_STEPS"
	meta max_step_seconds "$MAX_STEP_SECONDS"
	meta uacs "$UACS"
	meta kamailio_workers "$KAMAILIO_WORKERS"
	meta rtpengine "$(rtpengine --version 2>&1 | awk '{print $2; exit}')"
} >"$OUT/meta.env"

run_isolated "palisade-bench-$$" "$SELF"

[ "$PROFILE" = "1" ] && perf_summaries $SYSTEMS

# The chart: the call rate each system achieved at each offered step (its first try).
plot "$OUT/calls-rate.png" "Call setup: achieved against offered rate (SIPp uac -> SBC -> SIPp uas)" \
	"offered calls/s" "achieved calls/s" \
	"Palisade=$OUT/results.tsv:rate:achieved_rate:label=max1,system=palisade" \
	"Palisade, signaling only=$OUT/results.tsv:rate:achieved_rate:label=max1,system=palisade_signaling" \
	"Kamailio (no media)=$OUT/results.tsv:rate:achieved_rate:label=max1,system=kamailio" \
	"Kamailio + rtpengine=$OUT/results.tsv:rate:achieved_rate:label=max1,system=kamailio_rtpengine"

publish_report calls-rate
