#!/usr/bin/env bash
# `make bench`: every comparison in one run, then one report.
#
#   benches/run.sh            full mode (about two hours, one of them the endurance part):
#                             updates docs/benchmarks.md and the charts in docs/bench/
#   QUICK=1 benches/run.sh    quick mode (under 10 minutes after the build, 5 of them the
#                             endurance part): the same comparisons, shorter; the report
#                             goes to target/bench/ only (DOCS=1: to the docs as well)
#
# Parts, in this order, each a driver of its own that starts Palisade and the peers inside
# a network namespace of its own and stops them by PID (their headers say what they
# measure): the criterion benchmarks (SIP parsing against rsip, dropping a flood packet),
# benches/calls (call setup: Palisade, Kamailio, Kamailio + rtpengine), benches/register
# (REGISTER with digest: Palisade, Kamailio), benches/media (the relay: Palisade,
# rtpengine, a bare forwarder), and every other benches/*/run.sh that has a report.sh
# (mixed load, endurance, scale). PARTS (environment) picks some of them, e.g.
# PARTS="calls media".
#
# Each part writes its results under target/bench/STAMP/PART/; its report.sh --summary
# gives its headline figures, which make the summary table at the top of
# docs/benchmarks.md (between the summary markers). A part that fails is named in the
# report, the others still run, and the exit status is 1.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CARGO="${CARGO:-cargo}"
QUICK="${QUICK:-0}"
export QUICK CARGO

log() { echo "bench: $*" >&2; }
die() {
	log "$*"
	exit 1
}
# shellcheck source=lib.sh
source "$ROOT/benches/lib.sh"

[ "${EUID}" -eq 0 ] || die "run as root: the parts build network namespaces"

DEFAULT_PARTS="criterion calls register media"
for d in "$ROOT"/benches/*/; do
	p=$(basename "$d")
	case " $DEFAULT_PARTS " in *" $p "*) continue ;; esac
	[ -x "$d/run.sh" ] && [ -x "$d/report.sh" ] && DEFAULT_PARTS="$DEFAULT_PARTS $p"
done
PARTS="${PARTS:-$DEFAULT_PARTS}"
if [ "$QUICK" = "1" ]; then
	# DOCS=1 writes a quick run into docs/benchmarks.md too (each section says its mode).
	DOCS="${DOCS:-0}"
else
	DOCS="${DOCS:-1}"
fi

"$ROOT/scripts/install-deps.sh"
log "building Palisade and the benchmark tools (release)"
(cd "$ROOT" && "$CARGO" build --release -p palisade -p palisade-benches --bins --quiet)

BASE="$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$BASE"
log "parts: $PARTS; results in $BASE"
failed=()
: >"$BASE/times.tsv"
for part in $PARTS; do
	start=$(date +%s)
	log "---- $part"
	rc=0
	if [ "$part" = "criterion" ]; then
		if [ "$QUICK" = "1" ]; then
			for b in sip_parse guard_drop; do
				(cd "$ROOT" && "$CARGO" bench -p palisade-benches --bench "$b" -- --quick) || rc=$?
			done
		else
			(cd "$ROOT" && "$CARGO" bench -p palisade-benches) || rc=$?
		fi >"$BASE/criterion.log" 2>&1
	else
		mkdir -p "$BASE/$part"
		OUT="$BASE/$part" DOCS="$DOCS" "$ROOT/benches/$part/run.sh" || rc=$?
	fi
	printf '%s\t%s\t%s\n' "$part" "$(($(date +%s) - start))" "$rc" >>"$BASE/times.tsv"
	if [ "$rc" -ne 0 ]; then
		log "$part failed (exit $rc)"
		failed+=("$part")
	fi
done

# The summary: machine, commands, every headline figure, and what each part took.
{
	machine_meta
	meta parts "$PARTS"
	meta failed "${failed[*]}"
} >"$BASE/meta.env"
for part in $PARTS; do
	[ "$part" = "criterion" ] && continue
	[ -f "$BASE/$part/meta.env" ] || continue
	"$ROOT/benches/$part/report.sh" --summary "$BASE/$part" || log "$part: no summary"
done >"$BASE/summary.tsv"
"$ROOT/benches/summary.sh" "$BASE" >"$BASE/report.md"
cat "$BASE/report.md"
if [ "$DOCS" = "1" ]; then
	"$ROOT/benches/summary.sh" --update "$ROOT/docs/benchmarks.md" "$BASE/report.md"
	log "updated docs/benchmarks.md"
fi
log "report: $BASE/report.md"
[ "${#failed[@]}" -eq 0 ] || die "failed parts: ${failed[*]}"
