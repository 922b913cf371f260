#!/usr/bin/env bash
# Renders the results of benches/scale/run.sh as Markdown.
#
#   benches/scale/report.sh DIR                 prints the report for DIR (summary.env,
#                                               meta.env)
#   benches/scale/report.sh --summary DIR       the headline figures, one per line (TSV)
#   benches/scale/report.sh --update DOC FILE   replaces the generated part of DOC (between
#                                               the scale markers) with FILE
# shellcheck disable=SC2154 # the run's variables come from meta.env and summary.env
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
BENCH=scale
update_section scale scale "$@"

SUMMARY=0
if [ "${1:-}" = "--summary" ]; then
	SUMMARY=1
	shift
fi
load_results "$1"

# per DELTA_KIB COUNT: bytes per item ("-" without a count or a figure).
per() { awk -v d="$1" -v n="$2" 'BEGIN { if (n > 0 && d != "") printf "%.0f", d * 1024 / n; else print "-" }'; }
under() { awk -v v="$1" -v t="$2" 'BEGIN { print (v == "-") ? "not measured" : (v < t) ? "met" : "missed" }'; }
# diff_kib AFTER BEFORE: AFTER - BEFORE, empty when either is.
diff_kib() { if [ -n "$1" ] && [ -n "$2" ]; then echo $(($1 - $2)); fi; }
kib() { if [ -n "$1" ]; then echo "$1 kB"; else echo "not measured"; fi; }

regs_held=$((reg_after_regs - reg_before_regs))
calls_up=$((calls_plateau_calls - calls_before_calls))
reg_rss=$(per "$(diff_kib "$reg_after_rss_kib" "$reg_before_rss_kib")" "$regs_held")
reg_heap=$(per "$(diff_kib "$reg_after_heap_kib" "$reg_before_heap_kib")" "$regs_held")
call_rss=$(per "$(diff_kib "$calls_plateau_rss_kib" "$calls_before_rss_kib")" "$calls_up")
call_heap=$(per "$(diff_kib "$calls_plateau_heap_kib" "$calls_before_heap_kib")" "$calls_up")

if [ "$SUMMARY" = 1 ]; then
	# comparison, figure, Palisade, peer, peer's figure, ratio, target, verdict
	printf 'Memory per registration (%s held)\tRSS (heap in use) per binding\t%s B (%s B)\tOpenSIPS, published\tabout 1.2 kB\t\t< 1 kB\t%s\n' \
		"$regs_held" "$reg_rss" "$reg_heap" "$(under "$reg_rss" 1024)"
	printf 'Memory per call (%s up)\tRSS (heap in use) per call, beyond its sockets\t%s B (%s B)\t\t\t\t< 8 kB\t%s\n' \
		"$calls_up" "$call_rss" "$call_heap" "$(under "$call_rss" 8192)"
	exit 0
fi

report_header scale "SIPp $sipp, Kamailio $kamailio (the registrar),"
cat <<EOF
#### Memory per registration

$regs registrations asked for at $reg_rate/s (after $reg_warmup to warm up), digest
challenged by the registrar, each a user of its own; measured $settle s after the last.

| | before | after | change |
|---|---|---|---|
| bindings held (\`palisade_registrations_active\`) | $reg_before_regs | $reg_after_regs | **$regs_held** |
| VmRSS | $reg_before_rss_kib kB | $reg_after_rss_kib kB | $((reg_after_rss_kib - reg_before_rss_kib)) kB |
| RssAnon (heap) | $reg_before_anon_kib kB | $reg_after_anon_kib kB | $((reg_after_anon_kib - reg_before_anon_kib)) kB |
| heap in use (allocated) | $(kib "$reg_before_heap_kib") | $(kib "$reg_after_heap_kib") | $(kib "$(diff_kib "$reg_after_heap_kib" "$reg_before_heap_kib")") |
| open files | $reg_before_fds | $reg_after_fds | |

SIPp: $reg_ok registrations succeeded, $reg_failed failed (exit $reg_sipp_exit).

#### Memory per call up

$calls calls placed at $call_rate/s (after $call_warmup to warm up) and held ${hold_s} s
(media anchoring on, relay ports $ports), measured $settle s after the ramp. RSS is the
process's own memory: the four relay sockets of each call (their buffers, their kernel
structures) are kernel memory and not in it. The namespace held $calls_plateau_udp_sockets
UDP sockets at the plateau.

| | before | plateau | change |
|---|---|---|---|
| calls up (\`palisade_calls_active\`) | $calls_before_calls | $calls_plateau_calls | **$calls_up** |
| media streams (\`palisade_media_streams_active\`) | $calls_before_streams | $calls_plateau_streams | |
| VmRSS | $calls_before_rss_kib kB | $calls_plateau_rss_kib kB | $((calls_plateau_rss_kib - calls_before_rss_kib)) kB |
| RssAnon (heap) | $calls_before_anon_kib kB | $calls_plateau_anon_kib kB | $((calls_plateau_anon_kib - calls_before_anon_kib)) kB |
| heap in use (allocated) | $(kib "$calls_before_heap_kib") | $(kib "$calls_plateau_heap_kib") | $(kib "$(diff_kib "$calls_plateau_heap_kib" "$calls_before_heap_kib")") |
| open files | $calls_before_fds | $calls_plateau_fds | $((calls_plateau_fds - calls_before_fds)) |

SIPp: $calls_ok calls completed, $calls_failed failed (exit $calls_sipp_exit). After the
hang-up: $calls_after_calls calls and $calls_after_streams streams active, $calls_listed_after
in \`/api/calls\`, $calls_after_fds open files.

VmRSS is what the kernel sees the process hold: the heap's pages, with the blocks the
allocator keeps free after the setup's transactions expired, and the pages that hold a few
live blocks among free ones. The heap in use is what Palisade has allocated and not freed
(\`palisade_memory_allocated_bytes\`, jemalloc's own count): what the bindings and calls
themselves take.

| target | VmRSS | heap in use | |
|---|---|---|---|
| under 1 kB (1024 bytes) per registration held | **$reg_rss bytes** | **$reg_heap bytes** | $(under "$reg_rss" 1024) (heap in use: $(under "$reg_heap" 1024)) |
| under 8 kB (8192 bytes) per call up, beyond its sockets | **$call_rss bytes** | **$call_heap bytes** | $(under "$call_rss" 8192) (heap in use: $(under "$call_heap" 8192)) |
EOF
