#!/usr/bin/env bash
# Installs the real peers the end-to-end tests run against, from Debian's packages:
# SIPp, Kamailio (with TLS), baresip, sipvicious, rtpengine, tshark, sox, the namespace
# and firewall tools the test topologies are built with, fontconfig with a font for the
# charts of `make bench`, and curl and jq for the endurance and scale benchmarks
# (Palisade's admin API).
#
# Repeated runs are fast: when every command is already present nothing is installed.
# As root it installs what is missing with apt-get. Not root and something missing: it
# prints what is missing and exits 1.
set -euo pipefail

# command -> Debian package that provides it
declare -A PROVIDER=(
	[sipp]=sip-tester
	[kamailio]=kamailio
	[baresip]=baresip-core
	[svmap]=sipvicious
	[rtpengine]=rtpengine-daemon
	[tshark]=tshark
	[sox]=sox
	[ip]=iproute2
	[nft]=nftables
	[iptables]=iptables
	[unshare]=util-linux
	[ps]=procps
	[fc-list]=fontconfig
	[curl]=curl
	[jq]=jq
)
PACKAGES=(sip-tester kamailio kamailio-tls-modules baresip-core sipvicious rtpengine-daemon
	tshark sox iproute2 nftables iptables util-linux procps fontconfig fonts-dejavu-core
	curl jq)

find_cmd() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

# kamailio-tls-modules installs no command: check its module file instead.
tls_module_present() {
	compgen -G '/usr/lib/*/kamailio/modules/tls.so' >/dev/null ||
		compgen -G '/usr/lib/kamailio/modules/tls.so' >/dev/null
}

missing=()
for cmd in "${!PROVIDER[@]}"; do
	find_cmd "$cmd" || missing+=("$cmd (${PROVIDER[$cmd]})")
done
tls_module_present || missing+=("kamailio tls module (kamailio-tls-modules)")
fc-list 2>/dev/null | grep -q . || missing+=("a font for the benchmark charts (fonts-dejavu-core)")

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all test peers present"
	exit 0
fi

if [ "${EUID}" -ne 0 ]; then
	echo "install-deps: not root, and these are missing:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	echo "install-deps: run as root: sudo scripts/install-deps.sh" >&2
	exit 1
fi

echo "install-deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update
apt-get install -y --no-install-recommends "${PACKAGES[@]}"

# Debian enables the packaged daemons; the tests start their own instances, by PID.
for svc in kamailio rtpengine-daemon; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done

still=()
for cmd in "${!PROVIDER[@]}"; do
	find_cmd "$cmd" || still+=("$cmd")
done
tls_module_present || still+=("kamailio tls module")
fc-list 2>/dev/null | grep -q . || still+=("fonts-dejavu-core")
if [ "${#still[@]}" -ne 0 ]; then
	echo "install-deps: still missing after install: ${still[*]}" >&2
	exit 1
fi
echo "install-deps: done"
