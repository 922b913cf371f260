#!/usr/bin/env bash
# Renders the results of benches/calls/run.sh as Markdown tables.
#
#   benches/calls/report.sh DIR                 prints the tables for DIR/results.tsv
#   benches/calls/report.sh --update DOC FILE   replaces the generated part of DOC (between
#                                               the call-setup markers) with FILE
set -euo pipefail

BEGIN_MARK='<!-- call-setup results: begin (written by benches/calls/run.sh) -->'
END_MARK='<!-- call-setup results: end -->'

if [ "${1:-}" = "--update" ]; then
	# shellcheck source=../lib.sh
	source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
	replace_section "$2" "$3" "$BEGIN_MARK" "$END_MARK"
	exit 0
fi

dir=$1
tsv="$dir/results.tsv"
# shellcheck disable=SC1091
. "$dir/meta.env"

cat <<EOF
Machine: $nproc vCPU ($cpu), Linux $kernel, shared with other work (load average
$loadavg at the start). SIPp $sipp, Kamailio $kamailio with $kamailio_workers UDP workers,
Palisade at commit $commit. $date, $mode mode.

Command: \`make bench$([ "$mode" = quick ] && echo " QUICK=1")\` (the call-setup part is
\`benches/calls/run.sh\`; results and logs under \`target/bench-calls/\`).

EOF

echo "#### CPU time per call at fixed offered rates"
echo
echo "$step_seconds s of calls at each rate, one SIPp uac. CPU is the SBC's utime+stime from"
echo "/proc (Kamailio: all its processes). Lower is better; the ratio is Kamailio's CPU per"
echo "call divided by Palisade's (above 1: Palisade uses less)."
echo
echo "| offered rate | calls | Palisade CPU/call | Kamailio CPU/call | Kamailio ÷ Palisade | failed (Palisade / Kamailio) |"
echo "|---|---|---|---|---|---|"
awk -F'\t' '
	$1 == "fixed" { cpu[$2, $3] = $13; fail[$2, $3] = $5 - $6; calls[$3] = $5
		if (!seen[$3]++) order[++n] = $3 }
	END {
		for (i = 1; i <= n; i++) {
			r = order[i]; p = cpu["palisade", r]; k = cpu["kamailio", r]
			printf "| %d/s | %d | %d µs | %d µs | **%.2fx** | %d / %d |\n", r, calls[r], p, k,
				(p > 0 ? k / p : 0), fail["palisade", r], fail["kamailio", r]
		}
	}' "$tsv"
echo

echo "#### Highest rate with zero failed calls"
echo
echo "Steps of $max_step_seconds s at $max_steps calls/s through $uacs SIPp uac processes."
echo "A step passes when every call succeeds, retransmissions stay under 1% of calls and"
echo "SIPp holds at least 90% of the offered rate; a failing step is run once more before it"
echo "counts. The SBC shares the $nproc vCPUs with the SIPp processes that load it (and with"
echo "whatever else runs on the machine): the CPU columns show how much of the machine the SBC"
echo "and SIPp took, so a step that fails with the machine full is bounded by the machine"
echo "rather than by the SBC alone."
echo
awk -F'\t' '
	$1 ~ /^max/ {
		pass = ($9 ~ /^0+$/) && $6 == $5 && $7 == 0 && $8 <= 0.01 * $5 && $10 >= 0.9 * $3
		if (pass && $3 > best[$2]) best[$2] = $3
		if (!pass && $1 == "max2" && !firstfail[$2]) firstfail[$2] = $3
	}
	END {
		p = best["palisade"]; k = best["kamailio"]
		print "| | Palisade | Kamailio | Palisade ÷ Kamailio |"
		print "|---|---|---|---|"
		printf "| highest zero-failure rate | **%d/s** | **%d/s** | **%.2fx** |\n", p, k, (k > 0 ? p / k : 0)
		printf "| first failing step | %s | %s | |\n",
			(firstfail["palisade"] ? firstfail["palisade"] "/s" : "none (steps exhausted)"),
			(firstfail["kamailio"] ? firstfail["kamailio"] "/s" : "none (steps exhausted)")
	}' "$tsv"
echo
echo "Every step (CPU as a share of one core over the step; SIPp is the uacs and the uas; UDP"
echo "drops are datagrams the kernel dropped for a full receive buffer, on any socket):"
echo
echo "| system | offered | try | calls ok | not ok | retrans | UDP drops | achieved | SBC CPU/call | SBC CPU | SIPp CPU | SBC + SIPp, share of machine | p50 / p99 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' -v nproc="$nproc" '
	$1 ~ /^max/ {
		wall = $11 > 0 ? $11 : 1
		sbc = $12 / wall / 10; sipp = ($14 + $15) / wall / 10
		printf "| %s | %d/s | %s | %d/%d | %d | %d | %d | %.0f/s | %d µs | %.0f%% | %.0f%% | %.0f%% | %s / %s ms |\n",
			$2, $3, substr($1, 4), $6, $5, $5 - $6, $8, $19, $10, $13, sbc, sipp, (sbc + sipp) / nproc, $17, $18
	}' "$tsv"
echo

echo "#### INVITE → 200 latency"
echo
echo "From SIPp's response-time trace (-trace_rtt) at the fixed rates: the time from sending"
echo "the INVITE to receiving the 200, through the SBC and the uas. SIPp's clock is coarse"
echo "(whole milliseconds; on the recorded machine it moved in steps of 4 ms), so 0 means"
echo "under one tick. The steps above give the latency near each SBC's limit."
echo
echo "| offered rate | Palisade p50 / p99 | Kamailio p50 / p99 |"
echo "|---|---|---|"
awk -F'\t' '
	$1 == "fixed" { l[$2, $3] = $17 " / " $18 " ms"; if (!seen[$3]++) order[++n] = $3 }
	END { for (i = 1; i <= n; i++) { r = order[i]
		printf "| %d/s | %s | %s |\n", r, l["palisade", r], l["kamailio", r] } }' "$tsv"
