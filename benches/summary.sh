#!/usr/bin/env bash
# The summary of a `make bench` run (benches/run.sh): one table over every comparison.
#
#   benches/summary.sh DIR                 prints the summary for DIR/summary.tsv
#   benches/summary.sh --update DOC FILE   replaces the generated part of DOC (between the
#                                          summary markers) with FILE
#
# DIR/summary.tsv holds the headline lines of every part's report.sh --summary: comparison,
# figure, Palisade's value, the peer, the peer's value, the ratio (oriented so that above 1
# is better for Palisade, unless the figure says otherwise), the target, met or missed.
set -euo pipefail

BEGIN_MARK='<!-- summary: begin (written by benches/run.sh) -->'
END_MARK='<!-- summary: end -->'

if [ "${1:-}" = "--update" ]; then
	# shellcheck source=lib.sh
	source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
	replace_section "$2" "$3" "$BEGIN_MARK" "$END_MARK"
	exit 0
fi

dir=$1
# shellcheck disable=SC1091
. "$dir/meta.env"

cat <<EOF
Machine: $nproc vCPU, $cpu, Linux $kernel (load average $loadavg at the start). Palisade
at commit $commit. $date, $mode mode.

Command: \`make bench$([ "$mode" = quick ] && echo " QUICK=1")\` (\`benches/run.sh\`); each
part's command, figures and charts are in its section below.

| comparison | figure | Palisade | peer | peer's figure | ratio | target | |
|---|---|---|---|---|---|---|---|
EOF
awk -F'\t' 'NF >= 5 {
	verdict = ($8 == "met" ? "**met**" : ($8 == "missed" ? "**missed**" : $8))
	printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, verdict
}' "$dir/summary.tsv"
echo
echo "What each part took (seconds; the build before them is not counted):"
echo
echo "| part | seconds | |"
echo "|---|---|---|"
awk -F'\t' '{ printf "| %s | %d | %s |\n", $1, $2, ($3 == 0 ? "" : "**failed** (exit " $3 ")") }' "$dir/times.tsv"
awk -F'\t' '{ s += $2 } END { printf "| all | %d | |\n", s }' "$dir/times.tsv"
if [ -n "${failed:-}" ]; then
	echo
	echo "Failed parts (their figures are missing above): $failed."
fi
