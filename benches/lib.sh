#!/usr/bin/env bash
# Helpers shared by the benchmark drivers (benches/calls/run.sh, benches/register/run.sh).
# Sourced inside the benchmark's network namespace; the caller defines `die` and the
# PIDS and UAC_PIDS arrays.

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
