#!/usr/bin/env bash
# Renders the results of benches/media/run.sh as Markdown tables.
#
#   benches/media/report.sh DIR                 prints the tables for DIR/results.tsv
#   benches/media/report.sh --summary DIR       the headline figures, one per line (TSV)
#   benches/media/report.sh --cpu DIR           the relay CPU at each step, for the chart
#   benches/media/report.sh --update DOC FILE   replaces the generated part of DOC (between
#                                               the media-relay markers) with FILE
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
update_section media-relay media "$@"

# The results with a header line: the run's own columns, then the generator's.
table() {
	printf 'label\tsys\tn\ttry\tstatus\t'
	cat "$dir/columns"
	cat "$dir/results.tsv"
}

#   benches/media/report.sh --cpu DIR           prints the relay CPU at each step (the chart's data)
if [ "${1:-}" = "--cpu" ]; then
	dir=$2
	table | awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i
			print "system\tcalls\tcpu_pct\tloss_pct"; next }
		$1 == "step" && $5 == "ok" && $c["window_s"] > 0 {
			printf "%s\t%d\t%.1f\t%.3f\n", $2, $3, 100 * $c["relay_cpu_s"] / $c["window_s"], $c["loss_pct"] }'
	exit 0
fi

SUMMARY=0
if [ "${1:-}" = "--summary" ]; then
	SUMMARY=1
	shift
fi
dir=$1
# Where the charts are, relative to the report (run.sh: "." in the result directory,
# "bench" for docs/benchmarks.md).
PLOTS="${PLOTS:-.}"
# shellcheck disable=SC1091
. "$dir/meta.env"

[ "$SUMMARY" = 1 ] || cat <<EOF
Machine: $nproc vCPU ($cpu), Linux $kernel, shared with other work (load average
$loadavg at the start, ${loadavg_end:-?} at the end). rtpengine $rtpengine, Palisade at
commit $commit. $date, $mode mode. Forwarding threads: Palisade $palisade_workers media
workers ($palisade_threads threads in the process), rtpengine \`--num-threads=$threads\`
($rtpengine_threads threads in the process), floor $floor_workers.

Command: \`make bench$([ "$mode" = quick ] && echo " QUICK=1")\` (the media part is
\`benches/media/run.sh\`; results and logs under \`target/bench-media/\`).

EOF

table | awk -F'\t' -v summary="$SUMMARY" -v plots="$PLOTS" -v maxloss="$max_loss_pct" -v steps="$steps" -v window="$window" -v late_ms="$late_ms" '
	NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$5 != "ok" { next }
	{
		sys = $2; n = $3 + 0
		if ($1 == "step") {
			# The passing try of a step, or the last one.
			pass = ($c["loss_pct"] + 0 <= maxloss)
			if (pass || !((sys, n) in got)) {
				got[sys, n] = $c["window_received"]; cpu[sys, n] = $c["relay_cpu_s"]
				ok[sys, n] = pass
			}
			if (pass && n > best[sys]) best[sys] = n
			rows[++nrows] = $0
		}
		if ($1 == "latency") { lat[sys] = $0; latn[sys] = n }
		if ($1 ~ /^latency-/) { split($1, p, "-"); base[p[2]] = $0 }
	}
	function field(row, name,   f) { split(row, f, "\t"); return f[c[name]] }
	function us(x) { return sprintf("%.0f µs", x) }
	END {
		split("palisade rtpengine floor", S, " ")
		label["palisade"] = "Palisade"; label["rtpengine"] = "rtpengine"; label["floor"] = "floor"
		# Packets per CPU-second over the steps that every system passed.
		ns = split(steps, N, " ")
		common = ""
		for (i = 1; i <= ns; i++) {
			all = 1
			for (s = 1; s <= 3; s++) if (!ok[S[s], N[i]]) all = 0
			if (!all) continue
			common = common (common == "" ? "" : ", ") N[i]
			for (s = 1; s <= 3; s++) { P[S[s]] += got[S[s], N[i]]; C[S[s]] += cpu[S[s], N[i]] }
		}
		for (s = 1; s <= 3; s++) rate[S[s]] = C[S[s]] > 0 ? P[S[s]] / C[S[s]] : 0
		# The first step a system failed in both tries.
		for (i = ns; i >= 1; i--) for (s = 1; s <= 3; s++)
			if (((S[s], N[i]) in got) && !ok[S[s], N[i]]) fail[S[s]] = N[i]
		for (s = 1; s <= 3; s++) {
			x = S[s]
			if (x in lat && x in base) {
				add50[x] = field(lat[x], "lat_p50_us") - field(base[x], "lat_p50_us")
				add99[x] = field(lat[x], "lat_p99_us") - field(base[x], "lat_p99_us")
				addj[x] = field(lat[x], "jitter_us") - field(base[x], "jitter_us")
			}
		}

		r1 = rate["rtpengine"] > 0 ? rate["palisade"] / rate["rtpengine"] : 0
		r2 = rate["palisade"] > 0 ? rate["floor"] / rate["palisade"] : 0
		if (summary) {
			# comparison, figure, Palisade, peer, peer figure, ratio, target, verdict
			printf "Media relay\trelayed packets per CPU-second\t%.0f\trtpengine\t%.0f\t%.2fx\t≥ 2x\t%s\n", \
				rate["palisade"], rate["rtpengine"], r1, (r1 >= 2 ? "met" : "missed")
			printf "Media relay\tCPU per relayed packet (÷ the floor'\''s)\t%.2f µs\tbare forwarder\t%.2f µs\t%.2fx\t≤ 1.5x\t%s\n", \
				(rate["palisade"] ? 1e6 / rate["palisade"] : 0), (rate["floor"] ? 1e6 / rate["floor"] : 0), \
				r2, (r2 > 0 && r2 <= 1.5 ? "met" : "missed")
			printf "Media relay\thighest N calls with loss ≤ %s%%\t%d\trtpengine\t%d\t%.2fx\t\t\n", maxloss, \
				best["palisade"], best["rtpengine"], (best["rtpengine"] ? best["palisade"] / best["rtpengine"] : 0)
			printf "Media relay\tadded p99 latency at 50%% load\t%.0f µs\trtpengine\t%.0f µs\t\t< 100 µs\t%s\n", \
				add99["palisade"], add99["rtpengine"], (("palisade" in lat) && add99["palisade"] < 100 ? "met" : "missed")
			exit
		}
		print "#### Summary"
		print ""
		printf "Relayed packets per CPU-second: all the packets the generator received in the measured\n"
		printf "windows of the steps every system passed (N = %s calls), divided by the relay\n", (common == "" ? "none" : common)
		printf "process'\''s CPU time over those windows. Latency and jitter: at 50%% of each system'\''s\n"
		printf "highest passing N, minus the same measured with no relay (the generator'\''s two sides\n"
		printf "sending to each other) just before; the generator timestamps each packet just before\n"
		printf "its sendmmsg and takes the kernel'\''s receive timestamp (SO_TIMESTAMPNS).\n\n"
		print "| | Palisade | rtpengine | floor |"
		print "|---|---|---|---|"
		printf "| highest N with loss ≤ %s%% | **%d** | **%d** | **%d** |\n", maxloss, best["palisade"], best["rtpengine"], best["floor"]
		printf "| first N above %s%% loss | %s | %s | %s |\n", maxloss, \
			("palisade" in fail ? fail["palisade"] : "none"), ("rtpengine" in fail ? fail["rtpengine"] : "none"), ("floor" in fail ? fail["floor"] : "none")
		printf "| relayed packets per CPU-second | **%.0f** | **%.0f** | **%.0f** |\n", rate["palisade"], rate["rtpengine"], rate["floor"]
		printf "| CPU per relayed packet | %.2f µs | %.2f µs | %.2f µs |\n", \
			(rate["palisade"] ? 1e6 / rate["palisade"] : 0), (rate["rtpengine"] ? 1e6 / rate["rtpengine"] : 0), (rate["floor"] ? 1e6 / rate["floor"] : 0)
		printf "| latency measured at N | %s | %s | %s |\n", latn["palisade"], latn["rtpengine"], latn["floor"]
		printf "| added latency p50 / p99 | %.0f / **%.0f µs** | %.0f / %.0f µs | %.0f / %.0f µs |\n", \
			add50["palisade"], add99["palisade"], add50["rtpengine"], add99["rtpengine"], add50["floor"], add99["floor"]
		printf "| added jitter (RFC 3550, mean over streams) | %.1f µs | %.1f µs | %.1f µs |\n", \
			addj["palisade"], addj["rtpengine"], addj["floor"]
		print ""
		print "| target | figure | |"
		print "|---|---|---|"
		printf "| Palisade ≥ 2x rtpengine'\''s packets per CPU-second | **%.2fx** | %s |\n", r1, (r1 >= 2 ? "met" : "missed")
		printf "| Palisade'\''s CPU per packet ≤ 1.5x the floor'\''s | **%.2fx** | %s |\n", r2, (r2 > 0 && r2 <= 1.5 ? "met" : "missed")
		printf "| Palisade'\''s added p99 latency at 50%% load < 100 µs | **%.0f µs** | %s |\n", add99["palisade"], (("palisade" in lat) && add99["palisade"] < 100 ? "met" : "missed")
		print ""

		printf "![Relay CPU against concurrent calls](%s/media-cpu.png)\n\n", plots
		print "#### Every step"
		print ""
		printf "%s s measured per step after the warm-up. CPU: the relay process, as a share of one\n", window
		printf "core; the generator'\''s own CPU is shown too (it shares the 2 vCPUs), and how far its\n"
		printf "sender fell behind the schedule at worst (it stamps the real send time, so that is not\n"
		printf "latency, but a late sender sends a burst to catch up). Gen. drops: packets\n"
		printf "the kernel dropped at the generator'\''s receiving sockets (0 means the loss, if any, is\n"
		printf "the relay'\''s). Loss counts the packets that never arrived and those that arrived more\n"
		printf "than %s ms after they were sent (a jitter buffer discards them; a relay that falls\n", late_ms
		printf "behind queues packets in its sockets'\'' buffers long before it drops any).\n\n"
		print "| system | N calls | offered | try | loss (of which late) | packets / CPU-s | CPU / packet | relay CPU | generator CPU | sender behind (max) | p50 / p99 latency | gen. drops |"
		print "|---|---|---|---|---|---|---|---|---|---|---|---|"
		for (i = 1; i <= nrows; i++) {
			split(rows[i], f, "\t")
			printf "| %s | %d | %d pps | %d | %.3f%% (%d) | %.0f | %.2f µs | %.0f%% | %.0f%% | %.1f ms | %.0f / %.0f µs | %d |\n", \
				f[2], f[3], f[c["offered_pps"]], f[4], f[c["loss_pct"]], f[c["late"]], f[c["pkts_per_cpu_s"]], \
				f[c["us_per_pkt"]], (f[c["window_s"]] > 0 ? 100 * f[c["relay_cpu_s"]] / f[c["window_s"]] : 0), \
				f[c["gen_cpu_pct"]], f[c["max_lag_us"]] / 1000, f[c["lat_p50_us"]], f[c["lat_p99_us"]], f[c["gen_drops"]]
		}
		print ""

		print "#### Latency and jitter at 50% load"
		print ""
		print "| system | N calls | loss | p50 | p99 | p99.9 | jitter mean / max | direct p50 / p99 / p99.9 | direct jitter |"
		print "|---|---|---|---|---|---|---|---|---|"
		for (s = 1; s <= 3; s++) {
			x = S[s]
			if (!(x in lat)) continue
			printf "| %s | %d | %.3f%% | %.0f µs | %.0f µs | %.0f µs | %.1f / %.1f µs | %.0f / %.0f / %.0f µs | %.1f µs |\n", \
				label[x], latn[x], field(lat[x], "loss_pct"), field(lat[x], "lat_p50_us"), field(lat[x], "lat_p99_us"), \
				field(lat[x], "lat_p999_us"), field(lat[x], "jitter_us"), field(lat[x], "jitter_max_us"), \
				field(base[x], "lat_p50_us"), field(base[x], "lat_p99_us"), field(base[x], "lat_p999_us"), \
				field(base[x], "jitter_us")
		}
	}'
