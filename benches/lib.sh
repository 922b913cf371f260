#!/usr/bin/env bash
# Helpers shared by the benchmark drivers (benches/calls/run.sh, benches/register/run.sh,
# benches/media/run.sh, benches/endurance/run.sh, benches/scale/run.sh) and their reports.
# Sourced both outside and inside the benchmark's network namespace; the caller sets BENCH
# (its name, for the log lines and its result directory) and defines the PIDS and UAC_PIDS
# arrays.

# (A driver that defines log and die itself before sourcing this file keeps its own.)
declare -F log >/dev/null || log() { echo "${BENCH:-bench}: $*" >&2; }
declare -F die >/dev/null || die() {
	log "$*"
	exit 1
}

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

# enter_namespace: the start of a driver's part inside its namespace: refuses to run
# unless the namespace holds only loopback, brings lo up, and stops the processes of PIDS
# and UAC_PIDS on exit.
enter_namespace() {
	local ifaces
	ifaces=$(ls /sys/class/net)
	[ "$ifaces" = "lo" ] || die "not in an isolated namespace (interfaces: $ifaces)"
	ip link set lo up
	trap stop_pids EXIT
	trap 'exit 143' TERM INT
}

# sipp_version: SIPp's version, as meta.env records it.
sipp_version() {
	sipp -v 2>/dev/null | awk '/SIPp v/ {v = $2; sub(/^v/, "", v); sub(/[.]$/, "", v); print v; exit}'
}

# palisade_calls_config ACCESS CORE UPSTREAM PORTS [MEDIA_TIMEOUT]: the Palisade
# configuration of the call benchmarks (calls, endurance, scale), on stdout. The admin API
# listens on ACCESS's address, port 9090.
palisade_calls_config() {
	local access=$1 core=$2 upstream=$3 ports=$4 media_timeout=${5:-}
	cat <<-EOF
		# Call benchmark: access and core on different loopback addresses, the upstream is
		# the SIPp UAS. Warning level: nothing is logged per call (at the default info level
		# Palisade logs three lines per call).
		access:
		  listen: ["udp:$access"]
		core:
		  listen: ["udp:$core"]
		  upstream: ["sip:$upstream"]
		media:
		  ports: "$ports"
	EOF
	# SIPp sends no RTP: calls held longer than media.timeout would be ended by Palisade.
	[ -n "$media_timeout" ] && echo "  timeout: $media_timeout"
	cat <<-EOF
		admin:
		  listen: "${access%:*}:9090"
		calls:
		  max_active: 100000
		# The SIPp callers do not register.
		fraud:
		  registered_only: false
		# The load generators are one source sending far above any phone's budget:
		# never rate limited (only the deny and allow lists are consulted for them).
		security:
		  allow: ["127.0.0.0/8"]
		log:
		  level: warn
	EOF
}

# palisade_register_config ACCESS CORE REGISTRAR: the Palisade configuration of the REGISTER
# benchmarks (register, scale), on stdout. The admin API listens on ACCESS's address, port
# 9090.
palisade_register_config() {
	local access=$1 core=$2 registrar=$3
	cat <<-EOF
		# REGISTER benchmark: access and core on different loopback addresses, the upstream
		# is the Kamailio registrar. Warning level: nothing is logged per registration.
		# nat_expires 0s: no registration caching (the phones are not behind NAT anyway).
		access:
		  listen: ["udp:$access"]
		core:
		  listen: ["udp:$core"]
		  upstream: ["sip:$registrar"]
		media:
		  ports: "40000-40999"
		admin:
		  listen: "${access%:*}:9090"
		registration:
		  nat_expires: 0s
		# The load generators are one source sending far above any phone's budget:
		# never rate limited (only the deny and allow lists are consulted for them).
		security:
		  allow: ["127.0.0.0/8"]
		log:
		  level: warn
	EOF
}

# uas_scenario: $OUT/uas.xml, SIPp's built-in uas without its 180 Ringing (the run stops
# when that cannot be derived). A multi-process proxy (Kamailio's UDP workers) relays the
# 180 and the 200 in either order, and SIPp's uac counts a 180 after the 200 as a failed
# call.
uas_scenario() {
	{ sipp -sd uas || true; } | awk '
		/<send>/ { held = $0 "\n"; holding = 1; next }
		holding {
			held = held $0 "\n"
			if (/180 Ringing/) drop = 1
			if (/<\/send>/) { if (!drop) printf "%s", held; holding = 0; drop = 0 }
			next
		}
		{ print }' >"$OUT/uas.xml"
	if ! grep -q '<send' "$OUT/uas.xml" || grep -q '180 Ringing' "$OUT/uas.xml"; then
		die "could not derive the uas scenario"
	fi
}

# kamailio_version: the installed Kamailio's version, for a run's metadata.
kamailio_version() {
	kamailio -v 2>/dev/null | awk '/^version:/ {print $3; exit}'
}

# start_uas ADDR DIR: a SIPp UAS on ADDR with the scenario $OUT/uas.xml (uas_scenario) that
# answers every call, and Palisade's OPTIONS health probes (-aa), for at most
# GLOBAL_TIMEOUT + 60 s, run in DIR. Its PID is added to PIDS and left in LAST_PID.
start_uas() {
	local addr=$1 dir=$2 ip=${1%:*} n=${#PIDS[@]}
	mkdir -p "$dir"
	(cd "$dir" && exec sipp -sf "$OUT/uas.xml" -i "$ip" -p "${addr#*:}" -mi "$ip" \
		-mp $((31000 + 100 * n)) -ci "$ip" -cp $((8800 + n)) -aa -nostdin \
		-buff_size 4194304 -timeout "$((GLOBAL_TIMEOUT + 60))s" \
		-trace_err -error_file errors.log >sipp.out 2>&1) &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
	wait_bound "$addr" "$LAST_PID"
}

# start_palisade CONFIG ACCESS CORE: the release build with CONFIG (checked first), its
# output in CONFIG's name with .stdout and .stderr; returns once both listeners are bound.
# Its PID is in PAL_PID and added to PIDS.
start_palisade() {
	local cfg=$1 base=${1%.yaml} bin="$ROOT/target/release/palisade"
	"$bin" check-config "$cfg" >/dev/null
	"$bin" --config "$cfg" >"$base.stdout" 2>"$base.stderr" &
	PAL_PID=$!
	PIDS+=("$PAL_PID")
	wait_bound "$2" "$PAL_PID"
	wait_bound "$3" "$PAL_PID"
}

# start_registrar ADDR USERS DIR [SHM_MB]: the PBX stand-in of the end-to-end tests
# (tests/kamailio/pbx.cfg) as a digest-challenging registrar on ADDR, users 1001 ..
# (1000 + USERS) with password secret<user>, 2 UDP workers, TLSF allocator (as for the
# Kamailio proxy) and SHM_MB (default 512) of shared memory for the registrations; runtime
# files in DIR, output in DIR.stdout and DIR.stderr. Its PID is added to PIDS and left in
# REG_PID.
start_registrar() {
	local addr=$1 users=$2 dir=$3 shm=${4:-512}
	mkdir -p "$dir"
	kamailio -f "$ROOT/tests/kamailio/pbx.cfg" -A "USERS=$users" -DD -E -x tlsf -m "$shm" -M 16 \
		-w "$dir" -Y "$dir" -P "$dir/kamailio.pid" -l "udp:$addr" >"$dir.stdout" 2>"$dir.stderr" &
	REG_PID=$!
	PIDS+=("$REG_PID")
	wait_bound "$addr" "$REG_PID"
}

# users_inf FILE FIRST LAST STEP: a SIPp -inf file of the registrar's users FIRST, FIRST +
# STEP, ... up to LAST, in order (field 0 the user, field 1 its credentials).
users_inf() {
	awk -v first="$2" -v last="$3" -v step="$4" 'BEGIN {
		print "SEQUENTIAL"
		for (u = first; u <= last; u += step)
			printf "%d;[authentication username=%d password=secret%d]\n", u, u, u
	}' >"$1"
}

# What a process holds, from /proc: `proc_kib PID [FIELD]` is a kB field of its status
# (VmRSS by default; RssAnon is the heap and other anonymous memory), `proc_fds PID` its
# open file descriptors.
proc_kib() { awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$1/status"; }
proc_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# heap_in_use ADMIN: the kB the Palisade whose admin API is on ADMIN has allocated and not
# freed (palisade_memory_allocated_bytes, jemalloc's own count). Unlike VmRSS, it leaves out
# what the allocator keeps free for reuse. Prints nothing when the API does not answer.
heap_in_use() {
	local m
	m=$(admin_get "$1" /metrics)
	[ -n "$m" ] || return 0
	echo $(($(metric "$m" palisade_memory_allocated_bytes) / 1024))
}

# admin_get ADDR PATH: a GET on Palisade's admin API (empty output if it does not answer).
admin_get() { curl -s -m 5 "http://$1$2" || true; }

# metric TEXT NAME: the sum of the samples of metric NAME, any labels, in the Prometheus
# text TEXT (0 when absent).
metric() {
	awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d\n", s }' <<<"$1"
}

# palisade_state PID ADMIN: what the Palisade of PID (admin API on ADMIN) holds now, one
# tab-separated line: VmRSS (kB), open files, calls active, calls ended so far (all
# results), registrations active.
palisade_state() {
	local m
	m=$(admin_get "$2" /metrics)
	printf '%s\t%s\t%s\t%s\t%s\n' "$(proc_kib "$1")" "$(proc_fds "$1")" \
		"$(metric "$m" palisade_calls_active)" "$(metric "$m" palisade_calls_total)" \
		"$(metric "$m" palisade_registrations_active)"
}

# nofile_limit N: the open-file limit this shell can have, up to N: N when the hard limit
# is N or more or can be raised to it (root with CAP_SYS_RESOURCE), else the hard limit.
nofile_limit() {
	local hard
	hard=$(ulimit -Hn)
	if [ "$hard" = unlimited ] || [ "$hard" -ge "$1" ] || (ulimit -Hn "$1") 2>/dev/null; then
		echo "$1"
	else
		echo "$hard"
	fi
}

# raise_nofile N: the open-file limit of this shell and what it starts, soft and hard,
# raised to nofile_limit N.
raise_nofile() {
	local n
	n=$(nofile_limit "$1")
	[ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$n" ] && ulimit -Hn "$n"
	[ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$n" ] && ulimit -Sn "$n"
	return 0
}

# --------------------------------------------------------------------------------------
# Outside the namespace.
# --------------------------------------------------------------------------------------

# bench_setup CMD...: the common start of a driver, outside the namespace: root, the
# commands CMD present (PROFILE=1 adds perf), Palisade built (release, with $CARGO; more
# cargo build arguments in BUILD_EXTRA), and the result directory (OUT, or
# target/bench-$BENCH/<date-time>) made and exported with GLOBAL_TIMEOUT.
bench_setup() {
	local cmd
	[ "${EUID}" -eq 0 ] || die "needs root (network namespace); run: sudo $0"
	export PATH="$PATH:/usr/sbin:/sbin"
	[ "${PROFILE:-0}" = 1 ] && set -- "$@" perf
	for cmd in "$@"; do
		command -v "$cmd" >/dev/null 2>&1 || die "missing $cmd: scripts/install-deps.sh installs the peers"
	done
	log "building Palisade (release)"
	# shellcheck disable=SC2086 # BUILD_EXTRA is a list of arguments
	(cd "$ROOT" && "${CARGO:-cargo}" build --release -p palisade ${BUILD_EXTRA:-} --quiet)
	OUT="${OUT:-$ROOT/target/bench-$BENCH/$(date +%Y%m%d-%H%M%S)}"
	mkdir -p "$OUT"
	OUT="$(cd "$OUT" && pwd)"
	export OUT GLOBAL_TIMEOUT
}

# run_isolated NS SELF: runs `SELF --inner $OUT` in a new network namespace NS, within
# GLOBAL_TIMEOUT seconds; the namespace is deleted on exit, whatever happens.
run_isolated() {
	local ns=$1 self=$2 rc=0
	# shellcheck disable=SC2064 # NS is fixed now, on purpose
	trap "netns_cleanup $ns" EXIT
	trap 'exit 130' INT TERM
	ip netns add "$ns"
	log "namespace $ns; results in $OUT; global timeout ${GLOBAL_TIMEOUT}s"
	timeout -k 15 "$GLOBAL_TIMEOUT" ip netns exec "$ns" "$self" --inner "$OUT" || rc=$?
	[ "$rc" -eq 0 ] || die "the run failed (exit $rc); logs in $OUT"
}

# publish_report [CHART...]: $OUT/report.md from the driver's report.sh, printed; with
# DOCS=1, also written into the driver's section of docs/benchmarks.md, with the charts
# $OUT/CHART.png copied to docs/bench/. The report links its charts under $PLOTS: "." (the
# result directory) or "bench" (next to docs/benchmarks.md).
publish_report() {
	local report="$ROOT/benches/$BENCH/report.sh"
	PLOTS=. "$report" "$OUT" >"$OUT/report.md"
	cat "$OUT/report.md"
	if [ "$DOCS" = "1" ]; then
		publish_plots "$OUT" "$@"
		PLOTS=bench "$report" "$OUT" >"$OUT/report-docs.md"
		"$report" --update "$ROOT/docs/benchmarks.md" "$OUT/report-docs.md"
		log "updated docs/benchmarks.md"
	fi
}

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

# update_section SECTION BENCH ARGS...: the start of a report script, called with its
# arguments. With `--update DOC FILE`, replaces the lines of DOC between the markers
# "<!-- SECTION results: begin (written by benches/BENCH/run.sh) -->" and
# "<!-- SECTION results: end -->" with the contents of FILE, and exits.
update_section() {
	[ "${3:-}" = "--update" ] || return 0
	replace_section "$4" "$5" "<!-- $1 results: begin (written by benches/$2/run.sh) -->" \
		"<!-- $1 results: end -->"
	exit 0
}

# load_results DIR: the variables of a run's meta.env and, when it has one, summary.env.
load_results() {
	# shellcheck disable=SC1091
	. "$1/meta.env"
	# shellcheck disable=SC1091
	if [ -f "$1/summary.env" ]; then . "$1/summary.env"; fi
}

# report_header PART PEERS: the report's first paragraphs, from the meta.env variables:
# the machine, PEERS (the programs and versions that ran, a sentence), the date and mode,
# and the command (PART: what `make bench` calls this benchmark).
# shellcheck disable=SC2154 # the variables come from the run's meta.env
report_header() {
	cat <<-EOF
		Machine: $nproc vCPU ($cpu), Linux $kernel, shared with other work (load average
		$loadavg at the start). $2 Palisade at commit $commit. $date, $mode mode.

		Command: \`make bench$([ "$mode" = quick ] && echo " QUICK=1")\` (the $1 part is
		\`benches/$BENCH/run.sh\`, which also runs alone; results, logs and samples under
		\`target/bench/<run>/$BENCH/\`, or \`target/bench-$BENCH/<run>/\` when run alone).

	EOF
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
# (benches/src/bin/bench_plot.rs; a SERIES is NAME=FILE:X:Y[:COLUMN=VALUE,...]; LEGEND, if
# set, places the legend: upper-left, upper-right, middle, lower-right). A chart that
# cannot be drawn is reported and skipped: the tables are the result, the chart shows them.
plot() {
	local png=$1 title=$2 x=$3 y=$4 s args=(--legend "${LEGEND:-upper-left}")
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
