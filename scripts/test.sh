#!/usr/bin/env bash
# `make test` (after lint): installs the peer programs, builds, then runs the whole test
# suite inside a network namespace of its own.
#
# 1. scripts/install-deps.sh installs SIPp, Kamailio, tshark, ... (as root, with apt-get).
# 2. The tests are built outside any namespace: cargo needs the registry.
# 3. ONE network namespace, palisade-test-<pid>, is created with only `lo` up: no other
#    interface, no route out. `cargo test --workspace --offline` (all targets, then doc
#    tests) runs inside it, so that a
#    test message carrying a foreign address (RFC 4475 puts 192.0.2.x in Via and
#    Request-URI) can never leave this machine. Tests that build NAT topologies create
#    namespaces named palisade-t-<pid>-*.
# 4. On exit, even on failure or interrupt, a trap stops every process left in those
#    namespaces (by PID) and deletes the namespaces.
#
# Not root: namespaces cannot be created. In CI (CI=true) that is an error. Outside CI the
# script warns loudly and runs `cargo test --workspace` directly: the tests that start
# peers then FAIL (their isolation check, harness::isolation::assert_isolated, refuses to
# run outside a namespace); nothing is skipped.
#
# Extra arguments are passed to `cargo test` (e.g. `scripts/test.sh --test harness_peers`).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"

if [ "${EUID}" -ne 0 ]; then
	if [ "${CI:-}" = "true" ]; then
		echo "test.sh: CI must run as root: the peer tests need a network namespace" >&2
		exit 1
	fi
	cat >&2 <<-'WARN'
	########################################################################
	# test.sh: NOT ROOT. No network namespace can be created, so the tests #
	# run directly and every test that starts a peer will FAIL.            #
	# Run `sudo make test` for the real thing.                             #
	########################################################################
	WARN
	scripts/install-deps.sh || true
	if [ "$#" -gt 0 ]; then
		exec "$CARGO" test --workspace "$@"
	fi
	"$CARGO" test --workspace --all-targets
	exec "$CARGO" test --workspace --doc
fi

scripts/install-deps.sh

"$CARGO" test --workspace --all-targets --no-run
"$CARGO" build -p palisade

NS="palisade-test-$$"
TOPO_PREFIX="palisade-t-$$-"

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
echo "test.sh: running the tests in network namespace $NS (only lo)"
in_ns() {
	ip netns exec "$NS" env PALISADE_TEST_NETNS="$NS" PALISADE_TEST_TOPO_PREFIX="$TOPO_PREFIX" "$@"
}
if [ "$#" -gt 0 ]; then
	in_ns "$CARGO" test --workspace --offline "$@"
else
	in_ns "$CARGO" test --workspace --all-targets --offline
	in_ns "$CARGO" test --workspace --doc --offline
fi
