#!/usr/bin/env bash
# `make demo`: Palisade between phones and a PBX, end to end, on one machine.
#
# Inside a network namespace of its own (loopback only, deleted on exit), it starts:
#   - Kamailio as the PBX (tests/kamailio/pbx.cfg: digest auth, users 1001..1010) on 127.0.0.20,
#   - Palisade, access side 127.0.0.10:5060, core side 127.0.0.10:5062, upstream the PBX,
#   - phone 1002 (SIPp), which registers through Palisade and answers calls,
#   - phone 1001 (SIPp), which calls 1002 through Palisade and hangs up.
# The PBX challenges both the REGISTER and the INVITE; the challenges cross Palisade.
# Then it prints what each party saw, and what Palisade logged.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh
cargo build --release -p palisade
bin="$root/target/release/palisade"
"$bin" --version

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root to create its network namespace" >&2
	exit 1
fi

ns="palisade-demo-$$"
work=$(mktemp -d /tmp/palisade-demo.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	sleep 0.5
	for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up

PBX=127.0.0.20:5080
SBC=127.0.0.10
PHONE_A=127.0.0.31
PHONE_B=127.0.0.32

mkdir -p "$work/kamailio/run"
in_ns kamailio -f "$root/tests/kamailio/pbx.cfg" -DD -E -m 64 -M 8 \
	-w "$work/kamailio" -Y "$work/kamailio/run" -P "$work/kamailio/run/kamailio.pid" \
	-l "udp:$PBX" -l "tcp:$PBX" >"$work/kamailio.log" 2>&1 &
pids+=($!)

cat >"$work/palisade.yaml" <<YAML
access:
  listen: ["udp:$SBC:5060", "tcp:$SBC:5060"]
core:
  listen: ["udp:$SBC:5062"]
  upstream: ["sip:$PBX"]
media:
  ports: "30000-30999"
admin:
  listen: "127.0.0.1:9090"
# Phone A calls without registering first.
fraud:
  registered_only: false
YAML
"$bin" check-config "$work/palisade.yaml"
in_ns "$bin" --config "$work/palisade.yaml" >"$work/palisade.log" 2>&1 &
pids+=($!)
sleep 1

cd "$work"
echo
echo "== 1002 registers through Palisade (the PBX challenges it with 401)"
# A phone registers and takes calls on one socket: Palisade sends calls back over the flow
# the REGISTER came from, which is what reaches a phone behind NAT.
in_ns sipp "$SBC:5060" -sf "$root/tests/sipp/register_auth.xml" -i "$PHONE_B" -p 5070 \
	-s 1002 -au 1002 -ap secret1002 -key contact "$PHONE_B:5070" -m 1 -timeout 10 \
	-trace_msg -message_file "$work/register.msg" >/dev/null 2>&1 && echo "registered: yes"
in_ns sipp -sf "$root/tests/sipp/uas_answer.xml" -i "$PHONE_B" -p 5070 -m 1 -timeout 30 \
	-trace_msg -message_file "$work/phone-1002.msg" >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

echo
echo "== 1001 calls 1002 through Palisade (the PBX challenges the INVITE with 407)"
in_ns sipp "$SBC:5060" -sf "$root/tests/sipp/uac_auth_call.xml" -i "$PHONE_A" -p 5072 \
	-s 1002 -au 1001 -ap secret1001 -key caller 1001 -m 1 -timeout 20 \
	-trace_msg -message_file "$work/caller.msg" >/dev/null 2>&1 && echo "call completed: yes"

first_lines() { grep -aE '^(SIP/2.0 [0-9]+|[A-Z]+ sip:)' "$1" | sed 's/^/    /'; }
echo
echo "== What phone 1001 sent and received (all of it with Palisade's access address only):"
first_lines "$work/caller.msg"
echo
echo "== What phone 1002 received (never the PBX's address, Call-ID or tags):"
first_lines "$work/phone-1002.msg"
echo
echo "== Media addresses in each phone's SIP trace: its own, and Palisade's relay (127.0.0.10), never the other phone's:"
echo "    1001: $(grep -a '^c=IN' "$work/caller.msg" | sort -u | tr '\n' ' ')"
echo "    1002: $(grep -a '^c=IN' "$work/phone-1002.msg" | sort -u | tr '\n' ' ')"
echo
echo "== Palisade's log:"
sed 's/^/    /' "$work/palisade.log"
echo
echo "Next builds: phones behind NAT with real two-way audio, and the edge security."
