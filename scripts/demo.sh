#!/usr/bin/env bash
# `make demo`: two phones behind NAT (one a symmetric NAT) register through Palisade with a
# PBX and call each other; each phone plays a tone and records what it hears, and the demo
# shows that each heard the other. See tests/src/bin/demo.rs for the topology.
#
# 1. scripts/install-deps.sh installs the peers (Kamailio, baresip, ...) with apt-get.
# 2. Palisade and the demo program are built in release mode.
# 3. The demo runs inside a network namespace of its own (only lo); the hosts of its
#    topology are namespaces named palisade-demo-<pid>-*. On exit, even on failure or
#    interrupt, a trap stops every process left in those namespaces and deletes them.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root: it builds its network out of namespaces" >&2
	exit 1
fi

scripts/install-deps.sh
cargo build --release -p palisade
cargo build --release -p palisade-tests --bin demo
target/release/palisade --version

NS="palisade-demo-$$"
TOPO_PREFIX="palisade-demo-$$-"

stop_ns_processes() {
	local ns=$1 pids
	pids=$(ip netns pids "$ns" 2>/dev/null || true)
	[ -z "$pids" ] && return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	sleep 1
	pids=$(ip netns pids "$ns" 2>/dev/null || true)
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
}

cleanup() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case "$ns" in
		"$NS" | "$TOPO_PREFIX"*)
			stop_ns_processes "$ns"
			ip netns del "$ns" 2>/dev/null || true
			;;
		esac
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" env PALISADE_TEST_NETNS="$NS" PALISADE_TEST_TOPO_PREFIX="$TOPO_PREFIX" \
	target/release/demo
