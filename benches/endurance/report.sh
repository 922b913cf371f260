#!/usr/bin/env bash
# Renders the results of benches/endurance/run.sh as Markdown.
#
#   benches/endurance/report.sh DIR                 prints the report for DIR (summary.env,
#                                                   samples.tsv, meta.env)
#   benches/endurance/report.sh --summary DIR       the headline figures, one per line (TSV)
#   benches/endurance/report.sh --update DOC FILE   replaces the generated part of DOC
#                                                   (between the endurance markers) with FILE
# shellcheck disable=SC2154 # the run's variables come from meta.env and summary.env
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
BENCH=endurance
update_section endurance endurance "$@"

SUMMARY=0
if [ "${1:-}" = "--summary" ]; then
	SUMMARY=1
	shift
fi
load_results "$1"

heap="not measured"
[ -n "$heap_before_kib" ] && [ -n "$heap_idle_kib" ] && heap="$heap_before_kib kB / $heap_idle_kib kB"

verdict() { [ "$1" = yes ] && echo met || echo missed; }

if [ "$SUMMARY" = 1 ]; then
	# comparison, figure, Palisade, peer, peer's figure, ratio, target, verdict
	printf 'Endurance (%s s at %s calls/s)\tRSS growth after the warm-up\t%s%%\t\t\t\t< %s%%\t%s\n' \
		"$duration" "$rate" "$rss_growth_pct" "$rss_target_pct" \
		"$(verdict "$(awk -v g="$rss_growth_pct" -v t="$rss_target_pct" 'BEGIN { print (g < t) ? "yes" : "no" }')")"
	printf 'Endurance\topen files after the load (before it)\t%s (%s)\t\t\t\tback to before\t%s\n' \
		"$fds_after" "$fds_before" "$(verdict "$([ "$fds_after" -le "$fds_before" ] && echo yes || echo no)")"
	printf 'Endurance\tcalls failed, state left after the load\t%s of %s, %s\t\t\t\t0, 0\t%s\n' \
		"$failed" "$calls" "$state_left" \
		"$(verdict "$([ "$failed" = 0 ] && [ "$state_left" = 0 ] && echo yes || echo no)")"
	exit 0
fi

report_header endurance "SIPp $sipp,"
cat <<EOF
$rate calls/s for $duration s, each call held $hold_ms ms ($calls calls, up to
$peak_calls_active up at once), media anchoring on (four relay ports per call, $ports).
Samples every $sample s; warm-up $warmup s; "early" is the first 20% of the load after the
warm-up ($samples_early samples), "late" the last 20% ($samples_late samples).

| | early | late | change |
|---|---|---|---|
| Palisade RSS | $((rss_early_kib / 1024)) MiB ($rss_early_kib kB) | $((rss_late_kib / 1024)) MiB ($rss_late_kib kB) | **${rss_growth_pct}%** |
| open file descriptors | $fds_early | $fds_late | $fd_growth |

| after the load | |
|---|---|
| calls completed by SIPp | $ok of $calls (failed or never completed: **$failed**; SIPp exit $sipp_exit) |
| calls Palisade ended (\`palisade_calls_total\`) | $calls_total, of which answered $answered |
| state left after ${settle_seconds} s: \`/api/calls\` entries, \`palisade_calls_active\`, \`palisade_media_streams_active\` | $calls_listed, $calls_active, $streams_active |
| open file descriptors before the load / after it | $fds_before / $fds_after |
| RSS before the load / right after it / after ${idle} s idle | $((rss_before_kib / 1024)) MiB / $((rss_after_kib / 1024)) MiB / $((rss_idle_kib / 1024)) MiB |
| heap in use (\`palisade_memory_allocated_bytes\`) before the load / after ${idle} s idle | $heap |

| target | figure | |
|---|---|---|
| RSS growth after the warm-up under ${rss_target_pct}% | ${rss_growth_pct}% | $(verdict "$(awk -v g="$rss_growth_pct" -v t="$rss_target_pct" 'BEGIN { print (g < t) ? "yes" : "no" }')") |
| open files back to where they were before the load | $fds_before → $fds_after | $(verdict "$([ "$fds_after" -le "$fds_before" ] && echo yes || echo no)") |
| nothing left (calls, streams) after the load | $state_left | $(verdict "$([ "$state_left" = 0 ] && echo yes || echo no)") |
| no failed call | $failed | $(verdict "$([ "$failed" = 0 ] && echo yes || echo no)") |

![Palisade's RSS over the run](${PLOTS:-.}/endurance-rss.png)

![Open file descriptors and calls up over the run](${PLOTS:-.}/endurance-fds.png)
EOF
