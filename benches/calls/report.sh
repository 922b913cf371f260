#!/usr/bin/env bash
# Renders the results of benches/calls/run.sh as Markdown tables.
#
#   benches/calls/report.sh DIR                 prints the tables for DIR/results.tsv
#   benches/calls/report.sh --update DOC FILE   replaces the generated part of DOC (between
#                                               the call-setup markers) with FILE
#   benches/calls/report.sh --passed TSV        exits 0 if the last step of TSV passed
set -euo pipefail

BEGIN_MARK='<!-- call-setup results: begin (written by benches/calls/run.sh) -->'
END_MARK='<!-- call-setup results: end -->'

# Columns of results.tsv: 1 label, 2 system, 3 rate, 4 seconds, 5 calls, 6 ok, 7 failed,
# 8 retrans, 9 sipp_exit, 10 achieved_rate, 11 wall_s, 12 sbc_cpu_ms, 13 sbc_us_per_call,
# 14 uas_cpu_ms, 15 uac_cpu_ms, 16 load_share_pct, 17 p50_ms, 18 p99_ms, 19 udp_drops,
# 20 media_cpu_ms, 21 rtpe_offers, 22 rtpe_answers, 23 rtpe_deletes, 24 rtpe_left (20-24:
# "-" for the systems without rtpengine).
#
# A step passes when every call succeeds, retransmissions stay under 1% of calls and SIPp
# holds at least 90% of the offered rate; through Kamailio + rtpengine, only if rtpengine
# also saw an offer for every completed call and held no session at the step's end.
# shellcheck disable=SC2016 # an awk function, expanded by awk
PASSED='function passed() {
	return ($9 ~ /^0+$/) && $6 == $5 && $7 == 0 && $8 <= 0.01 * $5 && $10 >= 0.9 * $3 &&
		($21 == "-" || ($21 >= $6 && $24 == 0))
}'
# The column names of the systems.
NAMES='BEGIN { name["palisade"] = "Palisade"; name["kamailio"] = "Kamailio"
	name["kamailio_rtpengine"] = "Kamailio + rtpengine"
	name["palisade_signaling"] = "Palisade, signaling only" }'

if [ "${1:-}" = "--update" ]; then
	# shellcheck source=../lib.sh
	source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
	replace_section "$2" "$3" "$BEGIN_MARK" "$END_MARK"
	exit 0
fi
if [ "${1:-}" = "--passed" ]; then
	tail -n 1 "$2" | awk -F'\t' "$PASSED"' { exit passed() ? 0 : 1 }'
	exit
fi

#   benches/calls/report.sh --summary DIR       the headline figures, one per line (TSV)
SUMMARY=0
if [ "${1:-}" = "--summary" ]; then
	SUMMARY=1
	shift
fi
dir=$1
tsv="$dir/results.tsv"
# Where the charts are, relative to the report ("." in the result directory, "bench" for
# docs/benchmarks.md).
PLOTS="${PLOTS:-.}"
# shellcheck disable=SC1091
. "$dir/meta.env"

# The highest zero-failure rates and the targets; with summary=1, as summary lines.
highest() {
awk -F'\t' -v summary="$1" "$NAMES $PASSED"'
	$1 == "fixed" { cpu[$2, $3] = $13; if ($3 > top) top = $3 }
	$1 ~ /^max/ {
		pass = passed()
		if (pass && $3 > best[$2]) best[$2] = $3
		if (!pass && $1 == "max2" && !firstfail[$2]) firstfail[$2] = $3
	}
	function ratio(a, b) { return b > 0 ? sprintf("**%.2fx**", a / b) : "-" }
	function first(s) { return firstfail[s] ? firstfail[s] "/s" : "none (steps exhausted)" }
	# Whether best[a] >= factor * best[b] holds, fails, or is left open by the steps (a
	# system that failed no step may go higher); each limit lies between the highest passing
	# and the first failing step, which bounds the ratio.
	function target(a, b, factor,   verdict) {
		if (best[a] >= factor * best[b] && firstfail[b]) verdict = "**met**"
		else if (best[a] < factor * best[b] && firstfail[a]) verdict = "**missed**"
		else return "not settled by these steps (a system failed none: raise MAX_STEPS)"
		verdict = verdict " (" (best[b] > 0 ? sprintf("%.2fx", best[a] / best[b]) : name[b] " passed no step")
		if (firstfail[a] && firstfail[b] && best[b] > 0)
			verdict = verdict sprintf("; with these step sizes the ratio of the limits lies between %.2fx and %.2fx",
				best[a] / firstfail[b], firstfail[a] / best[b])
		return verdict ")"
	}
	END {
		p = best["palisade"]; k = best["kamailio"]; kr = best["kamailio_rtpengine"]
		ps = best["palisade_signaling"]
		if (summary) {
			# comparison, figure, Palisade, peer, peer figure, ratio, target, verdict
			printf "Call setup\thighest zero-failure rate\t%d/s\tKamailio + rtpengine\t%d/s\t%s\t≥ 3x\t%s\n", p, kr,
				(kr > 0 ? sprintf("%.2fx", p / kr) : "-"), verdict(target("palisade", "kamailio_rtpengine", 3))
			printf "Call setup, signaling only\thighest zero-failure rate\t%d/s\tKamailio (no media)\t%d/s\t%s\t≥ 1x\t%s\n", ps, k,
				(k > 0 ? sprintf("%.2fx", ps / k) : "-"), verdict(target("palisade_signaling", "kamailio", 1))
			cpu_line("palisade", "kamailio_rtpengine")
			cpu_line("palisade_signaling", "kamailio")
			exit
		}
		print "| | Palisade | Palisade, signaling only | Kamailio | Kamailio + rtpengine | Palisade ÷ (Kamailio + rtpengine) | Palisade, signaling only ÷ Kamailio |"
		print "|---|---|---|---|---|---|---|"
		printf "| highest zero-failure rate | **%d/s** | **%d/s** | **%d/s** | **%d/s** | %s | %s |\n", p, ps, k, kr,
			ratio(p, kr), ratio(ps, k)
		printf "| first failing step | %s | %s | %s | %s | | |\n",
			first("palisade"), first("palisade_signaling"), first("kamailio"), first("kamailio_rtpengine")
		print ""
		printf "Targets: Palisade\047s highest zero-failure rate, anchoring the media, at least 3x Kamailio + rtpengine\047s: %s;", \
			target("palisade", "kamailio_rtpengine", 3)
		printf " signaling only, at least Kamailio\047s: %s.\n", target("palisade_signaling", "kamailio", 1)
		printf "\n![Achieved against offered call rate](%s/calls-rate.png)\n", plots
	}
	# A summary line: the CPU per call of Palisade system a and peer b at the top fixed rate.
	function cpu_line(a, b) {
		if (!((a, top) in cpu) || !((b, top) in cpu)) return
		printf "Call setup\tCPU per call at %d/s, %s (theirs ÷ Palisade\047s)\t%d µs\t%s\t%d µs\t%.2fx\t\t\n", top,
			name[a], cpu[a, top], name[b], cpu[b, top], (cpu[a, top] > 0 ? cpu[b, top] / cpu[a, top] : 0)
	}
	# met, missed or open, from what target() says.
	function verdict(t) { return t ~ /^\*\*met/ ? "met" : (t ~ /^\*\*missed/ ? "missed" : "open") }
	' plots="$PLOTS" "$tsv"
}

if [ "$SUMMARY" = 1 ]; then
	highest 1
	exit 0
fi

cat <<EOF
Machine: $nproc vCPU ($cpu), Linux $kernel, shared with other work (load average
$loadavg at the start). SIPp $sipp, Kamailio $kamailio with $kamailio_workers UDP workers,
rtpengine $rtpengine (userspace forwarding, \`--num-threads=$kamailio_workers\`,
$rtpengine_threads threads in all), Palisade at commit $commit. $date, $mode mode.

Command: \`make bench$([ "$mode" = quick ] && echo " QUICK=1")\` (the call-setup part is
\`benches/calls/run.sh\`; results and logs under \`target/bench-calls/\`).

Media anchoring, checked on one traced call through each system before the steps: the SDP
of the 200 reaches the caller with the connection address $sdp_palisade through Palisade
(its own), ${sdp_palisade_signaling:-?} through Palisade with \`media.anchor: false\` (the UAS's,
untouched), $sdp_kamailio through Kamailio (the UAS's, untouched) and
$sdp_kamailio_rtpengine through Kamailio + rtpengine (rtpengine's). Each Palisade is
compared with the Kamailio that does the same work: anchoring the media with Kamailio +
rtpengine, signaling only with Kamailio alone.

EOF

echo "#### CPU time per call at fixed offered rates"
echo
echo "$step_seconds s of calls at each rate, one SIPp uac. CPU is the SBC's utime+stime from"
echo "/proc (Kamailio: all its processes; Kamailio + rtpengine: those and rtpengine, whose part"
echo "is in brackets). Lower is better; a ratio is the peer's CPU per call divided by the"
echo "Palisade doing the same work's (above 1: Palisade uses less)."
echo
echo "| offered rate | calls | Palisade CPU/call | Palisade, signaling only | Kamailio CPU/call | Kamailio + rtpengine CPU/call (rtpengine) | Kamailio+rtpengine ÷ Palisade | Kamailio ÷ Palisade, signaling only | failed (the four, in this order) |"
echo "|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
	$1 == "fixed" { cpu[$2, $3] = $13; fail[$2, $3] = $5 - $6; calls[$3] = $5
		if ($20 != "-") media[$2, $3] = $6 > 0 ? $20 * 1000 / $6 : 0
		if (!seen[$3]++) order[++n] = $3 }
	END {
		for (i = 1; i <= n; i++) {
			r = order[i]; p = cpu["palisade", r]; k = cpu["kamailio", r]; kr = cpu["kamailio_rtpengine", r]
			ps = cpu["palisade_signaling", r]
			printf "| %d/s | %d | %d µs | %d µs | %d µs | %d µs (%d µs) | **%.2fx** | **%.2fx** | %d / %d / %d / %d |\n",
				r, calls[r], p, ps, k, kr, media["kamailio_rtpengine", r],
				(p > 0 ? kr / p : 0), (ps > 0 ? k / ps : 0),
				fail["palisade", r], fail["palisade_signaling", r], fail["kamailio", r], fail["kamailio_rtpengine", r]
		}
	}' "$tsv"
echo

echo "#### Highest rate with zero failed calls"
echo
echo "Steps of $max_step_seconds s at $max_steps calls/s through $uacs SIPp uac processes."
echo "A step passes when every call succeeds, retransmissions stay under 1% of calls and"
echo "SIPp holds at least 90% of the offered rate (through Kamailio + rtpengine, only if"
echo "rtpengine also saw an offer for every completed call and held no session at the end); a"
echo "failing step is run once more before it counts. The SBC shares the $nproc vCPUs with the"
echo "SIPp processes that load it (and with whatever else runs on the machine): the CPU columns"
echo "show how much of the machine the SBC and SIPp took, so a step that fails with the machine"
echo "full is bounded by the machine rather than by the SBC alone."
echo
highest 0
echo
echo "Every step (CPU as a share of one core over the step; SIPp is the uacs and the uas; UDP"
echo "drops are datagrams the kernel dropped for a full receive buffer, on any socket;"
echo "rtpengine: its CPU per call, within the SBC's, then the ng offers/answers/deletes it"
echo "received during the step and the sessions it still held at the end):"
echo
echo "| system | offered | try | calls ok | not ok | retrans | UDP drops | achieved | SBC CPU/call | SBC CPU | SIPp CPU | SBC + SIPp, share of machine | p50 / p99 | rtpengine |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' -v nproc="$nproc" "$NAMES"'
	$1 ~ /^max/ {
		wall = $11 > 0 ? $11 : 1
		sbc = $12 / wall / 10; sipp = ($14 + $15) / wall / 10
		rtpe = "-"
		if ($21 != "-")
			rtpe = sprintf("%d µs; %d/%d/%d, %d left", $6 > 0 ? $20 * 1000 / $6 : 0, $21, $22, $23, $24)
		printf "| %s | %d/s | %s | %d/%d | %d | %d | %d | %.0f/s | %d µs | %.0f%% | %.0f%% | %.0f%% | %s / %s ms | %s |\n",
			name[$2], $3, substr($1, 4), $6, $5, $5 - $6, $8, $19, $10, $13, sbc, sipp, (sbc + sipp) / nproc, $17, $18, rtpe
	}' "$tsv"
echo

echo "#### INVITE → 200 latency"
echo
echo "From SIPp's response-time trace (-trace_rtt) at the fixed rates: the time from sending"
echo "the INVITE to receiving the 200, through the SBC and the uas. SIPp's clock is coarse"
echo "(whole milliseconds; on the recorded machine it moved in steps of 4 ms), so 0 means"
echo "under one tick. The steps above give the latency near each SBC's limit."
echo
echo "| offered rate | Palisade p50 / p99 | Palisade, signaling only | Kamailio p50 / p99 | Kamailio + rtpengine p50 / p99 |"
echo "|---|---|---|---|---|"
awk -F'\t' '
	$1 == "fixed" { l[$2, $3] = $17 " / " $18 " ms"; if (!seen[$3]++) order[++n] = $3 }
	END { for (i = 1; i <= n; i++) { r = order[i]
		printf "| %d/s | %s | %s | %s | %s |\n", r, l["palisade", r], l["palisade_signaling", r],
			l["kamailio", r], l["kamailio_rtpengine", r] } }' "$tsv"
