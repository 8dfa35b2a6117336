#!/bin/bash
# tests/integration/test_events.sh - `rlctl events` end to end: rlagent on
# a veth inside a network namespace this script creates; a bounded UDP
# flood from the host (3,000 datagrams, at most 20 s) over three rules and
# the blocklist while `rlctl -j events` and `rlctl events` stream.  Checks:
# JSON lines with time, source, rule, verdict and reason; over-limit events
# bounded to about one per second per source and CPU; one penalty-box
# start; blocklist hits sampled; the human format; `-n` stops; a listener
# that disconnects leaves the agent well; bad `events` arguments refused.
# Protocol: tests/run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
TEST=events
NS=rlevt$$
HOST_IF=rleh$$
DUT_IF=rlen$$
PIN=/sys/fs/bpf/rlevt$$
NET=10.234.$(($$ % 250))
SOCK=/tmp/rlevt$$.sock
TMP=$(mktemp -d /tmp/rlevt$$.XXXX)
EV_PID="" EVH_PID=""

cleanup_extra() {
	for p in $EV_PID $EVH_PID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
}
trap cleanup EXIT INT TERM

need_root
need_built rlagent rlctl
mount_bpffs
netns_veth "$NET" && ip addr add $NET.3/24 dev "$HOST_IF" || no_netns

CFG=$TMP/rl.yaml
cat >"$CFG" <<YAML
version: 1
interfaces: [$DUT_IF]
rules:
  - name: slow
    proto: udp
    dport: 9
    rate: 5/s
    burst: 5
  - name: boxed
    proto: udp
    dport: 10
    rate: 5/s
    burst: 5
    block-for: 1h
YAML

spawn_agent 100 "$CFG" --xdp-mode generic --metrics off --foreground --detach-on-exit ||
	{ echo "FAIL events/start: agent did not come up"; cat "$TMP/agent.log"; exit 1; }

# send N SRC PORT SECONDS: N datagrams from SRC spread over SECONDS
send() {
	timeout 20 python3 -c 'import socket,sys,time
n, src, port, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
for i in range(n):
    s.sendto(b"x" * 32, (sys.argv[5], port))
    time.sleep(secs / n)' "$1" "$2" "$3" "$4" "$NET.2"
}

# listeners: JSON (bounded by a timeout) and human
timeout 30 "$OUT/rlctl" -S "$SOCK" -j events >"$TMP/ev.json" 2>"$TMP/ev.err" &
EV_PID=$!
timeout 30 "$OUT/rlctl" -S "$SOCK" events >"$TMP/ev.txt" 2>&1 &
EVH_PID=$!
sleep 0.5
ctl block add $NET.3 >/dev/null
# the flood: 3 s of 'slow' (over from the 6th packet on), 'boxed', and
# the blocklisted address
send 1500 $NET.1 9 3 &
s1=$!
send 600 $NET.1 10 3 &
s2=$!
send 900 $NET.3 11 3
wait $s1 $s2
sleep 1.5
kill "$EV_PID" "$EVH_PID" 2>/dev/null; wait "$EV_PID" "$EVH_PID" 2>/dev/null; EV_PID="" EVH_PID=""

python3 - "$TMP/ev.json" "$NET" >"$TMP/check.out" 2>&1 <<'PY'
import json, sys
path, net = sys.argv[1], sys.argv[2]
ev = [json.loads(l) for l in open(path) if l.strip()]
assert ev and not any("ok" in e for e in ev), "the stream's answer line was printed"
for e in ev:
    if e["kind"] == "lost":
        continue
    for k in ("time", "ts", "source", "rule", "verdict", "reason", "kind", "proto"):
        assert k in e, "event without %s: %r" % (k, e)
over = [e for e in ev if e["kind"] == "over-limit" and e["source"] == net + ".1" and e["rule"] == "slow"]
pen = [e for e in ev if e["kind"] == "penalty-box" and e["source"] == net + ".1" and e["rule"] == "boxed"]
bl = [e for e in ev if e["kind"] == "blocklist" and e["source"] == net + ".3"]
other = [e for e in ev if e not in over + pen + bl and e["kind"] != "lost"]
print("over-limit %d, penalty %d, blocklist %d, other %d" % (len(over), len(pen), len(bl), len(other)))
# 3 s of flooding: about one a second per CPU (2 CPUs, 2^30 ns seconds)
assert 1 <= len(over) <= 2 * 5, "over-limit events: %d" % len(over)
assert all(e["verdict"] == "drop" and e["dport"] == 9 for e in over), over[:2]
assert len(pen) == 1 and "penalty box for 1h" in pen[0]["reason"], pen
# 900 hits, 1 in 64 per CPU
assert 900 // 64 - 2 <= len(bl) <= 900 // 64 + 2, "blocklist events: %d" % len(bl)
assert all(e["rule"] is None and e["verdict"] == "drop" for e in bl), bl[:2]
assert not other, other[:3]
PY
if [[ $? -eq 0 ]]; then
	pass "json-stream ($(cat "$TMP/check.out"))"
else
	fail json-stream "$(cat "$TMP/check.out"); $(head -c 600 "$TMP/ev.json"); $(cat "$TMP/ev.err")"
fi
if grep -q "over-limit .*$NET.1 .*rule slow verdict drop: over the limit of rule slow" "$TMP/ev.txt" &&
   grep -q "penalty-box .*rule boxed verdict drop" "$TMP/ev.txt" &&
   grep -q "blocklist .*$NET.3 .*verdict drop: on the blocklist" "$TMP/ev.txt"; then
	pass human-format
else
	fail human-format "$(head -5 "$TMP/ev.txt")"
fi

# -n: stops after N events by itself
( timeout 20 "$OUT/rlctl" -S "$SOCK" events -n 3 >"$TMP/n3.txt" 2>&1; echo "rc=$?" >>"$TMP/n3.txt" ) &
n3=$!
sleep 0.3
send 640 $NET.3 11 2
wait $n3
if [[ $(grep -c 'blocklist' "$TMP/n3.txt") -eq 3 ]] && grep -q '^rc=0$' "$TMP/n3.txt"; then
	pass events-n-stops
else
	fail events-n-stops "$(cat "$TMP/n3.txt")"
fi

# bad arguments: usage errors, agent unchanged
"$OUT/rlctl" -S "$SOCK" events -n 0 >/dev/null 2>&1; [[ $? -eq 2 ]] && pass events-n-0-usage || fail events-n-0-usage "exit $?"
"$OUT/rlctl" -S "$SOCK" events now >/dev/null 2>&1; [[ $? -eq 2 ]] && pass events-extra-word-usage || fail events-extra-word-usage "exit $?"
printf '{"argv":["events","x"]}\n' | timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).decode())' "$SOCK" >"$TMP/raw.out" 2>&1
grep -q '"code":"usage"' "$TMP/raw.out" && pass agent-refuses-events-args || fail agent-refuses-events-args "$(cat "$TMP/raw.out")"

# a listener that goes away mid-stream, and one that never reads: the
# agent stays up and answers
timeout 2 "$OUT/rlctl" -S "$SOCK" events >/dev/null 2>&1 &
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"{\"argv\":[\"events\"]}\n"); time.sleep(4)' "$SOCK" &
stuck=$!
send 2000 $NET.1 9 2
wait $stuck
sleep 0.5
if kill -0 "$AGENT_PID" 2>/dev/null && ctl status >/dev/null; then
	pass agent-survives-listeners
else
	fail agent-survives-listeners "$(tail -5 "$TMP/agent.log")"
fi
# still streaming for a new listener
( timeout 10 "$OUT/rlctl" -S "$SOCK" -j events -n 1 >"$TMP/again.json" 2>&1 ) &
again=$!
sleep 0.3
send 200 $NET.3 11 1
wait $again
grep -q '"kind":"blocklist"' "$TMP/again.json" && pass stream-again || fail stream-again "$(cat "$TMP/again.json")"

# an agent that exits (without detaching) while a client streams leaves
# the datapath enforcing from the pins, but not sampling events nobody reads
kill -9 "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null
AGENT_LOG=$TMP/agent2.log spawn_agent 100 "$CFG" --xdp-mode generic --metrics off --foreground
timeout 20 "$OUT/rlctl" -S "$SOCK" events >/dev/null 2>&1 &
EV_PID=$!
conf_events() {
	bpftool -j map lookup pinned "$PIN/rl_conf" key 0 0 0 0 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["formatted"]["value"]["events"])' 2>/dev/null
}
for _ in $(seq 50); do [[ $(conf_events) == 1 ]] && break; sleep 0.1; done
on=$(conf_events)
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
off=$(conf_events)
kill "$EV_PID" 2>/dev/null; wait "$EV_PID" 2>/dev/null; EV_PID=""
if [[ $on == 1 && $off == 0 ]]; then
	pass exit-clears-events
else
	fail exit-clears-events "rl_conf.events while streaming '$on', after the agent exited '$off'; $(tail -3 "$TMP/agent2.log")"
fi
ip -n "$NS" link set dev "$DUT_IF" xdpgeneric off 2>/dev/null

if (( fails )); then echo "---- agent log (tail)"; tail -20 "$TMP/agent.log"; fi
exit $((fails > 0))
