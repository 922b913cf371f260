#!/usr/bin/env bash
# Renders the results of benches/register/run.sh as Markdown tables.
#
#   benches/register/report.sh DIR                 prints the tables for DIR/results.tsv
#   benches/register/report.sh --summary DIR       the headline figures, one per line (TSV)
#   benches/register/report.sh --update DOC FILE   replaces the generated part of DOC
#                                                  (between the REGISTER markers) with FILE
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
update_section register register "$@"

SUMMARY=0
if [ "${1:-}" = "--summary" ]; then
	SUMMARY=1
	shift
fi
dir=$1
tsv="$dir/results.tsv"
# shellcheck disable=SC1091
. "$dir/meta.env"

# Columns of results.tsv: 1 label, 2 system, 3 rate, 4 seconds, 5 regs, 6 ok, 7 failed,
# 8 retrans, 9 sipp_exit, 10 achieved_rate, 11 wall_s, 12 sbc_cpu_ms, 13 sbc_us_per_reg,
# 14 registrar_cpu_ms, 15 registrar_us_per_reg, 16 uac_cpu_ms, 17 load_share_pct,
# 18 p50_ms, 19 p99_ms, 20 udp_drops.

# The highest rate each system held with zero failures; with summary=1, as summary lines.
highest() {
	awk -F'\t' -v summary="$1" '
		$1 == "fixed" { cpu[$2, $3] = $13; if ($3 > top) top = $3 }
		$1 ~ /^max/ {
			pass = ($9 ~ /^0+$/) && $6 == $5 && $7 == 0 && $8 <= 0.01 * $5 && $10 >= 0.9 * $3
			if (pass && $3 > best[$2]) best[$2] = $3
			if (!pass && $1 == "max2" && !firstfail[$2]) firstfail[$2] = $3
		}
		END {
			p = best["palisade"]; k = best["kamailio"]
			if (summary) {
				printf "Registration (digest)\thighest zero-failure rate\t%d/s\tKamailio\t%d/s\t%.2fx\t\t\n", p, k, (k > 0 ? p / k : 0)
				cp = cpu["palisade", top]; ck = cpu["kamailio", top]
				if (top)
					printf "Registration (digest)\tCPU per registration at %d/s (Kamailio ÷ Palisade)\t%d µs\tKamailio\t%d µs\t%.2fx\t\t\n", \
						top, cp, ck, (cp > 0 ? ck / cp : 0)
				exit
			}
			print "| | Palisade | Kamailio | Palisade ÷ Kamailio |"
			print "|---|---|---|---|"
			printf "| highest zero-failure rate | **%d/s** | **%d/s** | **%.2fx** |\n", p, k, (k > 0 ? p / k : 0)
			printf "| first failing step | %s | %s | |\n",
				(firstfail["palisade"] ? firstfail["palisade"] "/s" : "none (steps exhausted)"),
				(firstfail["kamailio"] ? firstfail["kamailio"] "/s" : "none (steps exhausted)")
		}' "$tsv"
}

if [ "$SUMMARY" = 1 ]; then
	highest 1
	exit 0
fi

cat <<EOF
Machine: $nproc vCPU ($cpu), Linux $kernel, shared with other work (load average
$loadavg at the start). SIPp $sipp, Kamailio $kamailio (proxy with $kamailio_workers UDP
workers; registrar with 2), Palisade at commit $commit, $users users. $date, $mode mode.

Command: \`make bench$([ "$mode" = quick ] && echo " QUICK=1")\` (the REGISTER part is
\`benches/register/run.sh\`; results and logs under \`target/bench-register/\`).

EOF

echo "#### CPU time per registration at fixed offered rates"
echo
echo "$step_seconds s of registrations at each rate, one SIPp process. A registration is two"
echo "REGISTER transactions (401, then 200). CPU is the SBC's utime+stime from /proc (Kamailio:"
echo "all its processes); the registrar's CPU is not in it and is shown for scale. Lower is"
echo "better; the ratio is Kamailio's CPU per registration divided by Palisade's (above 1:"
echo "Palisade uses less)."
echo
echo "| offered rate | registrations | Palisade CPU/reg | Kamailio CPU/reg | Kamailio ÷ Palisade | registrar CPU/reg (behind Palisade / Kamailio) | failed (Palisade / Kamailio) |"
echo "|---|---|---|---|---|---|---|"
awk -F'\t' '
	$1 == "fixed" { cpu[$2, $3] = $13; reg[$2, $3] = $15; fail[$2, $3] = $5 - $6; n_regs[$3] = $5
		if (!seen[$3]++) order[++n] = $3 }
	END {
		for (i = 1; i <= n; i++) {
			r = order[i]; p = cpu["palisade", r]; k = cpu["kamailio", r]
			printf "| %d/s | %d | %d µs | %d µs | **%.2fx** | %d / %d µs | %d / %d |\n", r, n_regs[r], p, k,
				(p > 0 ? k / p : 0), reg["palisade", r], reg["kamailio", r],
				fail["palisade", r], fail["kamailio", r]
		}
	}' "$tsv"
echo

echo "#### Highest rate with zero failures"
echo
echo "Steps of $max_step_seconds s at $max_steps registrations/s through $uacs SIPp processes"
echo "(each with its own half of the users). A step passes when every registration succeeds,"
echo "retransmissions stay under 1% of registrations and SIPp holds at least 90% of the"
echo "offered rate; a failing step is run once more before it counts. The SBC shares the"
echo "$nproc vCPUs with the registrar and the SIPp processes (and whatever else runs on the"
echo "machine): the CPU columns show who took what."
echo
highest 0
echo
echo "Every step (CPU as a share of one core over the step; UDP drops are datagrams the kernel"
echo "dropped for a full receive buffer, on any socket):"
echo
echo "| system | offered | try | registrations ok | not ok | retrans | UDP drops | achieved | SBC CPU/reg | SBC CPU | registrar CPU | SIPp CPU | all, share of machine | p50 / p99 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
	$1 ~ /^max/ {
		wall = $11 > 0 ? $11 : 1
		sbc = $12 / wall / 10; reg = $14 / wall / 10; sipp = $16 / wall / 10
		printf "| %s | %d/s | %s | %d/%d | %d | %d | %d | %.0f/s | %d µs | %.0f%% | %.0f%% | %.0f%% | %.0f%% | %s / %s ms |\n",
			$2, $3, substr($1, 4), $6, $5, $5 - $6, $8, $20, $10, $13, sbc, reg, sipp, $17, $18, $19
	}' "$tsv"
echo

echo "#### REGISTER → 200 latency"
echo
echo "From SIPp's response-time trace (-trace_rtt) at the fixed rates: from sending the first"
echo "REGISTER to receiving the 200, both round trips through the SBC and the registrar."
echo "SIPp's clock is coarse (whole milliseconds or worse), so 0 means under one tick."
echo
echo "| offered rate | Palisade p50 / p99 | Kamailio p50 / p99 |"
echo "|---|---|---|"
awk -F'\t' '
	$1 == "fixed" { l[$2, $3] = $18 " / " $19 " ms"; if (!seen[$3]++) order[++n] = $3 }
	END { for (i = 1; i <= n; i++) { r = order[i]
		printf "| %d/s | %s | %s |\n", r, l["palisade", r], l["kamailio", r] } }' "$tsv"
