#!/usr/bin/env bash
# `make demo`: builds Palisade and shows what exists today. The SIP core is run over the
# RFC 4475 and RFC 5118 torture-test messages and prints the verdict for each one.
# It runs in a network namespace of its own (nothing in it is routable), as every run of
# Palisade does in this repository.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p palisade
bin=target/release/palisade
"$bin" --version

run_isolated() {
	if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
		unshare --net -- "$@"
	else
		echo "(not root: running without a network namespace; this command opens no sockets)"
		"$@"
	fi
}

echo
echo "== RFC 4475 torture tests: what Palisade does with each message"
run_isolated "$bin" inspect tests/data/corpus/rfc4475/*.dat
echo
echo "== RFC 5118 IPv6 torture tests"
run_isolated "$bin" inspect tests/data/corpus/rfc5118/wire/*.dat
echo
echo "The B2BUA, media relay and edge security are not in this build yet; see docs/ARCHITECTURE.md."
