#!/usr/bin/env bash
# Renders the results of benches/mixed/run.sh as Markdown.
#
#   benches/mixed/report.sh DIR                 prints the tables for DIR
#   benches/mixed/report.sh --summary DIR       the headline figures, one per line (TSV)
#   benches/mixed/report.sh --update DOC FILE   replaces the generated part of DOC (between
#                                               the mixed-load markers) with FILE
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
BENCH=mixed
update_section mixed-load mixed "$@"

SUMMARY=0
if [ "${1:-}" = "--summary" ]; then
	SUMMARY=1
	shift
fi
dir=$1
load_results "$dir"
# shellcheck disable=SC1091
. "$dir/phase2.env"

# Value of generator key KEY in phase PHASE's line.
get() { tr ' ' '\n' <"$dir/$1.media" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
cpu_pct() { awk -v c="$(get "$1" relay_cpu_s)" -v w="$(get "$1" window_s)" 'BEGIN { printf "%.0f", (w > 0 ? 100 * c / w : 0) }'; }
# The machine's busy share over phase PHASE (all CPUs, from /proc/stat).
busy() { awk '{ printf "%.0f", $1 }' "$dir/$1.busy"; }

if [ "$SUMMARY" = 1 ]; then
	# comparison, figure, Palisade, peer, peer's figure, ratio, target, verdict
	printf 'Mixed load\tmedia p99.9 latency (with calls and flood)\t%.0f µs\tthe same media alone\t%.0f µs\t\t\t\n' \
		"$(get mixed lat_p999_us)" "$(get alone lat_p999_us)"
	printf 'Mixed load\tmedia loss (with calls and flood)\t%s%%\tthe same media alone\t%s%%\t\t≤ 0.1%%\t%s\n' \
		"$(get mixed loss_pct)" "$(get alone loss_pct)" \
		"$(awk -v l="$(get mixed loss_pct)" 'BEGIN { print (l <= 0.1 ? "met" : "missed") }')"
	printf 'Mixed load\tcalls set up during the flood\t%d of %d\t\t\t\tall\t%s\n' \
		"$calls_ok" "$calls_offered" "$([ "$calls_ok" = "$calls_offered" ] && echo met || echo missed)"
	exit 0
fi

report_header mixed-load "SIPp $sipp, Kamailio as the PBX."
cat <<EOF
$media_calls concurrent G.711 calls (two streams each, 50 packets/s per stream), ${warmup} s of
warm-up and ${window} s measured, first alone, then with $call_rate calls/s set up through
Palisade and an INVITE flood of $flood_rate/s from an untrusted source. A packet later
than $late_ms ms counts as lost.

| | media alone | media + call setup + flood |
|---|---|---|
| media loss | $(get alone loss_pct)% | **$(get mixed loss_pct)%** |
| media latency p50 / p99 / p99.9 | $(get alone lat_p50_us) / $(get alone lat_p99_us) / $(get alone lat_p999_us) µs | $(get mixed lat_p50_us) / $(get mixed lat_p99_us) / **$(get mixed lat_p999_us) µs** |
| media jitter (RFC 3550, mean) | $(get alone jitter_us) µs | $(get mixed jitter_us) µs |
| Palisade CPU over the measured window (% of one core) | $(cpu_pct alone)% | $(cpu_pct mixed)% |
| the whole machine busy during the phase (all $nproc CPUs: Palisade, generators, PBX) | $(busy alone)% | $(busy mixed)% |
| calls set up (SIPp uac, INVITE to BYE) | | **$calls_ok of $calls_offered** ($calls_failed failed) |
| flood INVITEs sent / dropped by Palisade | | $flood_sent / $flood_dropped (sources banned at the end: $bans) |
EOF
