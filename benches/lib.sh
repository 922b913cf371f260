#!/usr/bin/env bash
# Helpers shared by the benchmark drivers (benches/calls/run.sh, benches/register/run.sh,
# benches/media/run.sh) and their reports. Sourced both outside and inside the benchmark's
# network namespace; the caller defines `die` and the PIDS and UAC_PIDS arrays.

stop_pids() {
	local p
	for p in "${UAC_PIDS[@]}" "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 1
	for p in "${UAC_PIDS[@]}" "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	PIDS=()
	UAC_PIDS=()
}

# Whether a UDP socket is bound to ADDR:PORT in this namespace.
udp_bound() {
	local ip=${1%:*} port=${1#*:} hex
	hex=$(printf '%02X' $(echo "$ip" | tr '.' ' ' | awk '{print $4, $3, $2, $1}'))
	hex="$hex:$(printf '%04X' "$port")"
	grep -q " $hex " /proc/net/udp
}

wait_bound() {
	local addr=$1 pid=$2 i
	for i in $(seq 1 100); do
		udp_bound "$addr" && return 0
		kill -0 "$pid" 2>/dev/null || die "process $pid exited before binding $addr"
		sleep 0.1
	done
	die "nothing bound to $addr after 10 s"
}

# CPU ticks (utime+stime) of the given PIDs; the fields after the ")" of the comm.
cpu_ticks() {
	local total=0 p t
	for p in "$@"; do
		t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

# UDP datagrams dropped in this namespace for want of receive-buffer space (RcvbufErrors).
udp_drops() {
	awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RcvbufErrors"] }' /proc/net/snmp
}

# The measured steps, the same for every comparison: fixed offered rates (the order of the
# systems rotating from one rate to the next, so that drift in the machine's load favours
# none), the profiled step when PROFILE=1, then the rate stepped up through MAX_STEPS until
# each system fails a step twice. UNIT names what is offered ("calls", "registrations");
# the systems are SYSTEMS (default "palisade kamailio"). Uses the caller's `load` and
# `last_passed`.
run_steps() {
	local unit=$1
	local systems n
	read -r -a systems <<<"${SYSTEMS:-palisade kamailio}"
	n=${#systems[@]}
	log "fixed rates: $RATES $unit/s, $STEP_SECONDS s each"
	local k=0 rate i sys
	for rate in $RATES; do
		for i in $(seq 0 $((n - 1))); do
			load "${systems[$(((i + k) % n))]}" "$rate" "$STEP_SECONDS" 1 fixed
		done
		k=$((k + 1))
	done

	if [ "$PROFILE" = "1" ]; then
		local top
		top=$(echo "$RATES" | awk '{print $NF}')
		for sys in "${systems[@]}"; do load "$sys" "$top" "$STEP_SECONDS" 1 profile; done
	fi

	log "highest zero-failure rate: steps $MAX_STEPS $unit/s, $MAX_STEP_SECONDS s each, $UACS SIPp load processes"
	local -A on=()
	local left=$n try
	for sys in "${systems[@]}"; do on[$sys]=1; done
	for rate in $MAX_STEPS; do
		for sys in "${systems[@]}"; do
			[ "${on[$sys]}" = 1 ] || continue
			for try in 1 2; do
				# Let the transactions of the previous step expire.
				sleep 2
				load "$sys" "$rate" "$MAX_STEP_SECONDS" "$UACS" "max$try"
				if last_passed; then break; fi
				if [ "$try" = 2 ]; then
					on[$sys]=0
					left=$((left - 1))
				fi
			done
		done
		[ "$left" = 0 ] && break
	done
	return 0
}

# --------------------------------------------------------------------------------------
# Outside the namespace.
# --------------------------------------------------------------------------------------

# Stops what is left in network namespace NS (TERM, then KILL) and deletes it.
netns_cleanup() {
	local ns=$1 pids
	pids=$(ip netns pids "$ns" 2>/dev/null || true)
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null || true
		sleep 1
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
}

# One KEY=VALUE line of a run's meta.env, shell-quoted.
meta() { printf '%s=%q\n' "$1" "$2"; }

# The lines of meta.env every benchmark writes: date, mode, machine, load, commit.
machine_meta() {
	meta date "$(date -u +%Y-%m-%d)"
	meta mode "$([ "$QUICK" = 1 ] && echo quick || echo full)"
	meta nproc "$(nproc)"
	meta cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	meta kernel "$(uname -r)"
	meta loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
	meta commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
}

# perf_summaries SYSTEM...: $OUT/perf-SYSTEM.txt, self time and time with callees by
# symbol, from each $OUT/perf-SYSTEM.data that was recorded.
perf_summaries() {
	local sys
	for sys in "$@"; do
		[ -s "$OUT/perf-$sys.data" ] || continue
		{
			echo "== $sys: self time by symbol"
			perf report -i "$OUT/perf-$sys.data" --no-children --sort symbol --stdio \
				--percent-limit 0.5 -g none 2>/dev/null | grep -v '^#' | grep -v '^$'
			echo "== $sys: time including callees"
			perf report -i "$OUT/perf-$sys.data" --children --sort symbol --stdio \
				--percent-limit 2 -g none 2>/dev/null | grep -v '^#' | grep -v '^$'
		} >"$OUT/perf-$sys.txt" || true
		echo "profile of $sys: $OUT/perf-$sys.txt" >&2
	done
}

# replace_section DOC FILE BEGIN END: replaces the lines of DOC between the marker lines
# BEGIN and END with the contents of FILE.
replace_section() {
	local doc=$1 file=$2 begin=$3 end=$4
	grep -qF "$begin" "$doc" && grep -qF "$end" "$doc" ||
		{ echo "report: $doc has no marker line $begin" >&2; return 1; }
	awk -v b="$begin" -v e="$end" -v f="$file" '
		$0 == b { print; while ((getline line < f) > 0) print line; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$doc" >"$doc.tmp"
	mv "$doc.tmp" "$doc"
}

# Value of column NAME in the last line of a SIPp statistics file.
stat_col() {
	awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
		NF > 1 { v = $c } END { print (v == "" ? 0 : v) + 0 }' "$1"
}

# p50 and p99 (ms) of the response times in the given -trace_rtt files.
percentiles() {
	cat "$@" 2>/dev/null | awk -F';' '$1 != "Date_ms" && NF >= 2 {print $2}' | sort -n |
		awk '{v[NR] = $1} END {
			if (NR == 0) { print "- -"; exit }
			i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
			i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
			print v[i50], v[i99] }'
}

# The totals of the SIPp load processes of one step, from their run directories
# $1/uac0 .. $1/uac<$2 - 1>: "ok failed retrans achieved_rate exit_codes cpu_seconds"
# (the exit codes concatenated, x for a process that left none; cpu_seconds from the
# `times` each one's shell printed).
uac_totals() {
	local run=$1 n=$2 ok=0 failed=0 retrans=0 achieved=0 rcs="" cpu=0 dir f i
	for i in $(seq 0 $((n - 1))); do
		dir="$run/uac$i"
		f="$dir/stat.csv"
		if [ -s "$f" ]; then
			ok=$((ok + $(stat_col "$f" 'SuccessfulCall(C)')))
			failed=$((failed + $(stat_col "$f" 'FailedCall(C)')))
			retrans=$((retrans + $(stat_col "$f" 'Retransmissions(C)')))
			achieved=$(awk -v a="$achieved" -v b="$(stat_col "$f" 'CallRate(C)')" 'BEGIN {print a + b}')
		fi
		rcs="$rcs$(cat "$dir/rc" 2>/dev/null || echo x)"
		# `times` prints the shell's, then its children's user and system time.
		cpu=$(awk -v acc="$cpu" 'NR == 2 {
			split($1, u, /[ms]/); split($2, s, /[ms]/)
			print acc + (u[1] * 60 + u[2]) + (s[1] * 60 + s[2]) }' "$dir/times" 2>/dev/null || echo "$cpu")
	done
	echo "$ok $failed $retrans $achieved $rcs $cpu"
}

# plot PNG TITLE XLABEL YLABEL SERIES...: a line chart drawn by target/release/bench_plot
# (benches/src/bin/bench_plot.rs; a SERIES is NAME=FILE:X:Y[:COLUMN=VALUE,...]). A chart
# that cannot be drawn is reported and skipped: the tables are the result, the chart
# shows them.
plot() {
	local png=$1 title=$2 x=$3 y=$4 s args=()
	shift 4
	for s in "$@"; do args+=(--series "$s"); done
	"$ROOT/target/release/bench_plot" --out "$png" --title "$title" --x "$x" --y "$y" "${args[@]}" ||
		echo "plot: cannot draw $png" >&2
}

# publish_plots OUT NAME...: copies the charts OUT/NAME.png next to docs/benchmarks.md
# (docs/bench/), where its generated sections link them.
publish_plots() {
	local out=$1 name
	shift
	mkdir -p "$ROOT/docs/bench"
	for name in "$@"; do
		[ -f "$out/$name.png" ] && cp "$out/$name.png" "$ROOT/docs/bench/$name.png"
	done
	return 0
}
