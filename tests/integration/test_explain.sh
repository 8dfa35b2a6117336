#!/bin/bash
# tests/integration/test_explain.sh - `rlctl explain SRC [proto P] [dport N]
# [syn]` against a running agent on a veth in a network namespace: the
# allowlist, the blocklist, the rule picked by protocol/port/SYN, the
# prefix that matched, and the state of the source's bucket (credit,
# penalty box, when the next packet passes) after real packets charged
# it, checked against what those packets must have done and against
# `rlctl top`; IPv6 keys masked to the rule's prefix; bad input refused
# by rlctl and by the agent with the running rules unchanged.
# Protocol: tests/run.sh (PASS/FAIL/SKIP lines, non-zero exit on failure).
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
TEST=explain
NS=rlexp$$
SRC_NS=rlexs$$
DUT_IF=rlxd$$
SRC_IF=rlxs$$
PIN=/sys/fs/bpf/rlexp$$
SOCK=/tmp/rlexp$$.sock
TMP=$(mktemp -d /tmp/rlexp$$.XXXX)
trap cleanup EXIT INT TERM

need_root
need_built rlagent rlctl
mount_bpffs

netns_pair 10.233.0.1/16 10.233.0.2/16 &&
ip -n "$SRC_NS" addr add 10.233.5.9/16 dev "$SRC_IF" &&
ip -n "$SRC_NS" addr add 10.233.8.1/16 dev "$SRC_IF" &&
ip -n "$SRC_NS" addr add fd00:233:0:1::1/48 dev "$SRC_IF" nodad &&
ip -n "$NS" addr add fd00:233::2/48 dev "$DUT_IF" nodad || no_netns

CFG=$TMP/rl.yaml
cat >"$CFG" <<YAML
version: 1
interfaces:
  - $DUT_IF
allowlist:
  - 10.233.5.0/24
blocklist:
  - 10.233.6.7
rules:
  - name: udp-slow
    proto: udp
    rate: 6/min
    burst: 5
    per: source/24,64
  - name: ssh-syn
    src: 10.233.0.0/16
    proto: tcp
    dport: 22
    tcp-flags: syn
    rate: 1/min
    burst: 2
    block-for: 60s
  - name: slog
    src: 10.233.8.0/24
    proto: udp
    rate: 3/min
    algo: sliding-log
  - name: shared
    src: 10.99.0.0/16
    rate: 10/s
    per: rule
YAML

if ! spawn_agent 100 "$CFG" --xdp-mode generic --metrics off --foreground; then
	echo "FAIL explain/agent-start: rlagent did not come up"; cat "$TMP/agent.log"; exit 1
fi
pass agent-start

# ex NAME PYEXPR WORDS...: explain WORDS as JSON, and check PYEXPR on it (j)
ex() {
	local name=$1 expr=$2 out
	shift 2
	out=$(ctl -j explain "$@" 2>&1)
	if python3 -c "
import json, sys
j = json.loads(sys.argv[1])
sys.exit(0 if ($expr) else 1)" "$out" 2>/dev/null; then
		pass "$name"
	else
		fail "$name" "explain $*: $out"
	fi
}
send_udp() { # SRC COUNT [FAMILY]
	nsenter --net="/run/netns/$SRC_NS" python3 -c '
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
dst = "fd00:233::2" if fam == socket.AF_INET6 else "10.233.0.2"
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for i in range(int(sys.argv[2])):
    s.sendto(b"x" * 32, (dst, 9))
' "$@"
}
send_syn() { # SRC COUNT: that many connection attempts to port 22 (one SYN each)
	nsenter --net="/run/netns/$SRC_NS" python3 -c '
import socket, sys, time
socks = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((sys.argv[1], 0))
    s.setblocking(False)
    s.connect_ex(("10.233.0.2", 22))
    socks.append(s)
    time.sleep(0.05)
time.sleep(0.2)
' "$@"
}

# ---- before any packet: a new key, full credit
ex fresh-key 'j["verdict"]=="pass" and j["rule"]["name"]=="udp-slow" and j["state"]["tracked"] is False and j["state"]["credit"]==5 and j["state"]["credit_max"]==5 and j["state"]["next_pass_in_ms"]==0 and j["state"]["key"]=="10.233.0.0/24" and j["match_prefix"]=="10.233.0.0/16"' \
	10.233.0.1 proto udp
ex match-prefix-default 'j["match_prefix"]=="0.0.0.0/0" and j["rule"]["name"]=="udp-slow" and j["lists"]==[]' 192.0.2.1 proto udp
ex no-rule-takes 'j["verdict"]=="pass" and j["reason"].startswith("unmatched") and "rule" not in j and any(c["rule"]=="ssh-syn" and not c["takes"] for c in j["candidates"])' \
	10.233.0.1 proto tcp dport 80
ex allowlisted 'j["verdict"]=="pass" and j["reason"].startswith("allowlisted") and j["lists"][0]["list"]=="allow" and j["lists"][0]["prefix"]=="10.233.5.0/24"' \
	10.233.5.9 proto udp
ex blocklisted 'j["verdict"]=="drop" and j["reason"]=="blocklisted" and j["lists"][0]=={"list":"block","prefix":"10.233.6.7/32","len":32,"expires_in_s":None,"expired":False}' \
	10.233.6.7
ex per-rule-key 'j["rule"]["name"]=="shared" and j["state"]["key"]=="rule" and j["state"]["credit_max"]==10' 10.99.1.1

# ---- after 3 datagrams: 2 credits left (6/min refills one per 10 s)
send_udp 10.233.0.1 3
ex credit-after-3 'j["verdict"]=="pass" and j["state"]["tracked"] is True and j["state"]["credit"]==2 and j["state"]["next_pass_in_ms"]==0' 10.233.0.1 proto udp
# the same /24 key: another address of it shares the bucket
ex same-key-shared 'j["state"]["key"]=="10.233.0.0/24" and j["state"]["credit"]==2' 10.233.0.77 proto udp
# ---- empty it: the next packet passes only after the refill (<= 10 s)
send_udp 10.233.0.1 10
ex over-limit 'j["verdict"]=="drop" and j["reason"]=="rule: over the limit" and j["state"]["credit"]==0 and 0 < j["state"]["next_pass_in_ms"] <= 10000' 10.233.0.1 proto udp
drops=$(ctl -j stats udp-slow | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"][0]["drop"]["packets"])')
[[ $drops == 8 ]] && pass datapath-agrees || fail datapath-agrees "13 datagrams on burst 5 should drop 8, stats say $drops"
# rlctl top reads the same word: the same credit
top=$(ctl -j top -n 5 | python3 -c 'import json,sys; print([ (r["credit"], r["credit_max"]) for r in json.load(sys.stdin)["top"] if r["rule"]=="udp-slow" and r["source"]=="10.233.0.0/24"])')
[[ $top == "[(0, 5)]" ]] && pass agrees-with-top || fail agrees-with-top "top says $top"
# the human form says the same
human=$(ctl explain 10.233.0.1 proto udp)
grep -q '^verdict:  drop (rule: over the limit)' <<<"$human" && grep -q '^credit:   0/5 packets' <<<"$human" &&
	grep -q '^next:     a packet would pass in ' <<<"$human" && pass human-output || fail human-output "$human"

# ---- a sliding log: 3 a minute, exactly
ex slog-fresh 'j["rule"]["name"]=="slog" and j["state"]["tracked"] is False and j["state"]["credit"]==3 and j["state"]["credit_max"]==3 and j["state"]["next_pass_in_ms"]==0' \
	10.233.8.1 proto udp
send_udp 10.233.8.1 2
ex slog-after-2 'j["verdict"]=="pass" and j["state"]["tracked"] is True and j["state"]["credit"]==1 and j["state"]["key"]=="10.233.8.1/32"' 10.233.8.1 proto udp
send_udp 10.233.8.1 3
ex slog-full 'j["verdict"]=="drop" and j["state"]["credit"]==0 and 50000 < j["state"]["next_pass_in_ms"] <= 60000' 10.233.8.1 proto udp

# ---- penalty box: 3 SYNs on burst 2
ex syn-rule 'j["rule"]["name"]=="ssh-syn" and j["state"]["key"]=="10.233.0.1/32" and j["state"]["credit"]==2' 10.233.0.1 proto tcp dport 22 syn
ex syn-implies-tcp 'j["packet"]=={"source":"10.233.0.1","proto":"tcp","dport":22,"syn":True} and j["rule"]["name"]=="ssh-syn"' 10.233.0.1 dport 22 syn
send_syn 10.233.0.1 3
ex penalty-box 'j["verdict"]=="drop" and j["reason"]=="rule: in the penalty box" and 50000 < j["state"]["blocked_for_ms"] <= 60000 and 50000 < j["state"]["next_pass_in_ms"] <= 60001' \
	10.233.0.1 proto tcp dport 22 syn

# ---- IPv6: the key is the source's /64
send_udp fd00:233:0:1::1 6
ex ipv6-key 'j["verdict"]=="drop" and j["state"]["key"]=="fd00:233:0:1::/64" and j["state"]["tracked"] is True and j["state"]["credit"]==0 and j["match_prefix"]=="::/0"' \
	fd00:233:0:1::abcd proto udp

# ---- monitor: over the limit, but passed
ctl rule change udp-slow action monitor >/dev/null
ex monitor 'j["verdict"]=="pass" and j["reason"].startswith("rule in monitor mode") and j["state"]["credit"]==0' 10.233.0.1 proto udp
ctl rule change udp-slow action drop >/dev/null

# ---- timed block: expires_in_s
ctl block add 10.233.7.0/24 for 10m >/dev/null
ex timed-block 'j["verdict"]=="drop" and 590 <= j["lists"][0]["expires_in_s"] <= 600 and j["blocked_for_ms"] > 590000' 10.233.7.1 proto udp

# ---- IPv6 list entries: the list trie behind each kind of guard bit (a
# /16 bit for a short prefix, a hashed /48 bit for a long one); an allow
# inside a block wins, as in the datapath; a source beside them is unlisted
ctl block add fd00:777::/32 >/dev/null
ctl block add fd00:233:5::/48 >/dev/null
ctl allow add fd00:777:1::/64 >/dev/null
ex ipv6-block-short 'j["verdict"]=="drop" and j["reason"]=="blocklisted" and j["lists"][0]["prefix"]=="fd00:777::/32"' fd00:777:9::1 proto udp
ex ipv6-block-48 'j["verdict"]=="drop" and j["reason"]=="blocklisted" and j["lists"][0]["prefix"]=="fd00:233:5::/48"' fd00:233:5::7 proto udp
ex ipv6-allow-in-block 'j["verdict"]=="pass" and j["reason"].startswith("allowlisted") and [e["list"] for e in j["lists"]]==["allow","block"]' fd00:777:1::5 proto udp
human=$(ctl explain fd00:233:5::7)
grep -q '^verdict:  drop (blocklisted)' <<<"$human" && grep -q '^matched:  a list entry' <<<"$human" &&
	grep -q '^list:     block fd00:233:5::/48$' <<<"$human" && pass human-list || fail human-list "$human"
ex ipv6-unlisted 'j["lists"]==[] and not j["reason"].startswith(("allowlisted","blocklisted"))' fd00:233:6::7 proto udp

# ---- bad input: usage errors (exit 2) from rlctl, refusals from the agent,
# nothing changes
before=$(ctl -j rule list; ctl -j block list; ctl -j allow list)
bad() {
	local name=$1 rc
	shift
	ctl explain "$@" >"$TMP/bad.out" 2>&1
	rc=$?
	[[ $rc -eq 2 ]] && pass "$name" || fail "$name" "explain $* exited $rc: $(cat "$TMP/bad.out")"
}
bad usage-missing-src
bad usage-prefix 10.0.0.0/8
bad usage-not-address banana
bad usage-dport-needs-proto 10.0.0.1 dport 22
bad usage-syn-not-tcp 10.0.0.1 proto udp syn
bad usage-bad-port 10.0.0.1 proto tcp dport 70000
bad usage-unknown-word 10.0.0.1 fast
bad usage-dangling-proto 10.0.0.1 proto
bad usage-twice 10.0.0.1 syn syn
grep -q "is a prefix" <(ctl explain 10.0.0.0/8 2>&1) && pass usage-message || fail usage-message "$(ctl explain 10.0.0.0/8 2>&1)"
# straight to the agent, past rlctl's own check
raw=$(python3 -c '
import json, socket, sys
out = []
for argv in (["explain"], ["explain", "10.0.0.0/8"], ["explain", "1.2.3.4", "dport", "x" * 5000],
             ["explain", "1.2.3.4", "proto", "icmp", "dport", "1"], ["explain", "::1", "syn", "proto", "udp"]):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall((json.dumps({"argv": argv}) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(65536)
        if not d:
            break
        buf += d
    j = json.loads(buf)
    out.append(j.get("code", "?") if not j.get("ok") else "ok")
print(" ".join(out))
' "$SOCK" 2>&1)
[[ $raw == "usage usage usage usage usage" ]] && pass agent-refuses-bad || fail agent-refuses-bad "$raw"
after=$(ctl -j rule list; ctl -j block list; ctl -j allow list)
# expires_in_s may tick between the two listings; compare without it
strip() { sed -E 's/"expires_in_s": ?[0-9]+/"expires_in_s":N/g'; }
[[ "$(strip <<<"$before")" == "$(strip <<<"$after")" ]] && pass rules-unchanged ||
	fail rules-unchanged "the running rules changed: $(diff <(strip <<<"$before") <(strip <<<"$after"))"
kill -0 "$AGENT_PID" 2>/dev/null && pass agent-alive || fail agent-alive "rlagent died"

exit $((fails > 0))
