#!/bin/bash
# test_mark.sh - the `mark` action end to end: rlagent on a veth in a
# namespace with a rule `proto udp dport 9 rate 10/h burst 5 action mark
# mark-value 0x10 dscp af11 ecn`, ECN-capable (ECT(0)) UDP from the other
# namespace over IPv4 and IPv6, and nftables counters in the DUT's
# prerouting hook (after tc ingress) that tell labelled from unlabelled
# packets.  Checks: 5 per source arrive unlabelled and the rest carry skb
# mark, DSCP and CE; rlctl stats agree (pass/mark, tc_defer); the TC
# filter survives kill -9 and is replaced, not duplicated, by a restart
# that keeps the buckets; it is there only while a rule has action mark;
# --detach-on-exit removes it.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUTPUT:-build}
LAB=rlm$$
PIN=/sys/fs/bpf/rlmark$$
SOCK=/tmp/rlmark$$.sock
TMP=$(mktemp -d /tmp/rlmark.XXXXXX)
AGENT_PID=""
fails=0

cleanup() {
	[[ -n $AGENT_PID ]] && kill -9 "$AGENT_PID" 2>/dev/null
	tools/lab.sh down "$LAB" >/dev/null 2>&1
	rm -rf "$PIN" "$SOCK" "$TMP"
}
trap cleanup EXIT INT TERM

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
ctl() { "$OUT/rlctl" -S "$SOCK" "$@"; }

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP mark: needs root (netns, XDP, tc, nft)"
	exit 0
fi
for b in nft tc python3; do
	command -v "$b" >/dev/null || { echo "SKIP mark: $b is not installed"; exit 0; }
done

eval "$(tools/lab.sh up "$LAB")" || { echo "FAIL mark/lab: lab.sh up failed"; exit 1; }
dut() { nsenter --net="/run/netns/$DUT_NS" "$@"; }
gen() { nsenter --net="/run/netns/$GEN_NS" "$@"; }

cat >"$TMP/rl.yaml" <<YAML
version: 1
interfaces:
  - $DUT_IF
rules:
  - name: udp-mark
    proto: udp
    dport: 9
    rate: 10/h
    burst: 5
    action: mark
    mark-value: 0x10
    dscp: af11
    ecn: true
YAML

# Counters behind tc ingress: labelled (all three labels) and unlabelled.
dut nft -f - <<'NFT' || { echo "FAIL mark/nft: cannot load the counting table"; exit 1; }
table inet rlmark {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		udp dport 9 meta mark 0x10 ip dscp af11 ip ecn ce counter comment "v4-labelled"
		udp dport 9 meta mark 0 ip dscp cs0 ip ecn ect0 counter comment "v4-plain"
		udp dport 9 meta mark 0x10 ip6 dscp af11 ip6 ecn ce counter comment "v6-labelled"
		udp dport 9 meta mark 0 ip6 dscp cs0 ip6 ecn ect0 counter comment "v6-plain"
	}
}
NFT

# count NAME: packets of the nft rule commented NAME
count() {
	dut nft list chain inet rlmark pre |
		sed -n "s/.*packets \([0-9]*\) bytes.*comment \"$1\".*/\1/p"
}

# send N: N UDP datagrams with ECT(0) to port 9 over IPv4 and over IPv6
send() {
	gen python3 - "$1" "$DUT_IP4" "$DUT_IP6" <<'PY'
import socket, sys
n, v4, v6 = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x02)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x02)
for _ in range(n):
    s4.sendto(b"rl-mark-test", (v4, 9))
    s6.sendto(b"rl-mark-test", (v6, 9))
PY
	sleep 0.3
}

# expect CASE V4LAB V4PLAIN V6LAB V6PLAIN
expect() {
	local got="$(count v4-labelled) $(count v4-plain) $(count v6-labelled) $(count v6-plain)"
	if [[ $got == "$2 $3 $4 $5" ]]; then
		pass "$1"
	else
		fail "$1" "labelled/plain v4 v6: got $got, want $2 $3 $4 $5"
	fi
}

rl_filters() { dut tc filter show dev "$DUT_IF" ingress | grep -c 'rl_tc_in'; }

start_agent() {
	# nsenter itself, not the dut function: $! must be the agent's pid
	nsenter --net="/run/netns/$DUT_NS" "$OUT/rlagent" -c "$TMP/rl.yaml" --socket "$SOCK" \
		--pin-dir "$PIN" "$@" >>"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 100); do
		ctl status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$TMP/agent.log"
	return 1
}

if ! start_agent; then
	echo "FAIL mark/agent-start: rlagent did not come up"
	exit 1
fi
pass mark/agent-start
[[ $(rl_filters) -eq 1 ]] && pass mark/tc-filter-attached ||
	fail mark/tc-filter-attached "$(dut tc filter show dev "$DUT_IF" ingress)"
ctl rule list | grep -q 'mark:0x10,dscp=10,ecn' && pass mark/rule-list ||
	fail mark/rule-list "$(ctl rule list)"

# Warm up neighbour discovery, so every test datagram reaches the DUT.
gen ping -c1 -W1 "$DUT_IP4" >/dev/null 2>&1
gen ping -6 -c1 -W1 "$DUT_IP6" >/dev/null 2>&1

send 20
expect mark/over-limit-labelled 15 5 15 5
stats=$(ctl -j stats)
python3 - "$stats" <<'PY' && pass mark/stats || fail mark/stats "$stats"
import json, sys
j = json.loads(sys.argv[1])
r = [r for r in j["rules"] if r["name"] == "udp-mark"][0]
ok = (r["pass"]["packets"] == 10 and r["mark"]["packets"] == 30 and
      r["drop"]["packets"] == 0 and j["global"]["tc_defer"]["packets"] >= 40)
print(f"    pass {r['pass']['packets']} mark {r['mark']['packets']} "
      f"tc_defer {j['global']['tc_defer']['packets']}")
sys.exit(0 if ok else 1)
PY

# kill -9: the qdisc holds the filter, labelling goes on without an agent
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
[[ $(rl_filters) -eq 1 ]] && pass mark/filter-survives-kill-9 || fail mark/filter-survives-kill-9 "gone"
send 2
expect mark/labels-without-agent 17 5 17 5

# restart: the filter is replaced in place (still one), buckets kept
if start_agent --detach-on-exit; then
	[[ $(rl_filters) -eq 1 ]] && pass mark/restart-one-filter ||
		fail mark/restart-one-filter "$(dut tc filter show dev "$DUT_IF" ingress)"
	ctl rule list | grep -q 'mark:0x10,dscp=10,ecn' && pass mark/restart-adopts-labels ||
		fail mark/restart-adopts-labels "$(ctl rule list)"
	send 1
	expect mark/restart-keeps-buckets 18 5 18 5
	# lazy TC: the filter goes with the last mark rule, comes back with the next
	ctl rule del udp-mark >/dev/null
	[[ $(rl_filters) -eq 0 ]] && pass mark/tc-off-without-mark-rules ||
		fail mark/tc-off-without-mark-rules "$(dut tc filter show dev "$DUT_IF" ingress)"
	ctl rule add udp-drop proto udp dport 9 rate 10/h >/dev/null
	[[ $(rl_filters) -eq 0 ]] && pass mark/tc-off-with-drop-rule ||
		fail mark/tc-off-with-drop-rule "$(dut tc filter show dev "$DUT_IF" ingress)"
	ctl rule del udp-drop >/dev/null
	ctl rule add udp-mark2 proto udp dport 9 rate 10/h action mark mark-value 0x10 >/dev/null
	[[ $(rl_filters) -eq 1 ]] && pass mark/tc-on-with-mark-rule ||
		fail mark/tc-on-with-mark-rule "$(dut tc filter show dev "$DUT_IF" ingress)"
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
	[[ $(rl_filters) -eq 0 ]] && pass mark/detach-removes-filter ||
		fail mark/detach-removes-filter "$(dut tc filter show dev "$DUT_IF" ingress)"
else
	fail mark/restart "agent did not restart: $(tail -5 "$TMP/agent.log")"
fi

echo "mark: $fails failure(s)"
[[ $fails -eq 0 ]]
