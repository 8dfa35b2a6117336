#!/bin/bash
# tests/integration/test_ctl.sh - rlagent and rlctl end to end: the agent
# runs on a veth inside a network namespace this script creates (with the
# host's /sys/fs/bpf, so pins are visible from here), and rlctl drives it:
# rules, allow/block lists, stats, status, JSON output, config dump and
# reload, exit codes, kill -9 and adoption of the pinned state, and a
# hostile control-socket client.  Protocol: tests/run.sh (PASS/FAIL/SKIP
# lines, non-zero exit on failure).
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
TEST=ctl
OUT_ABS=$(realpath "$OUT")
NS=rltest$$
HOST_IF=rlh$$
DUT_IF=rln$$
PIN=/sys/fs/bpf/rltest$$
# a /24 of its own: two runs at once (other checkouts) must not share a route
NET=10.231.$(($$ % 250))
SOCK=/tmp/rltest$$.sock
TMP=$(mktemp -d /tmp/rltest$$.XXXX)
noif_pid=""

check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi; }
# rc NAME WANT CMD...: the command's exit code must be WANT
rc() {
	local name=$1 want=$2; shift 2
	"$@" >"$TMP/rc.out" 2>&1
	local got=$?
	if [[ $got -eq $want ]]; then pass "$name"; else fail "$name" "exit $got, want $want: $(head -c 300 "$TMP/rc.out")"; fi
}

# the other agents, their pins and sockets
cleanup_extra() {
	[[ -n $noif_pid ]] && kill -9 "$noif_pid" 2>/dev/null && wait "$noif_pid" 2>/dev/null
	[[ -n ${BIG_PID:-} ]] && kill -9 "$BIG_PID" 2>/dev/null && wait "$BIG_PID" 2>/dev/null
	[[ -n ${SHARED_PID:-} ]] && kill -9 "$SHARED_PID" 2>/dev/null && wait "$SHARED_PID" 2>/dev/null
	[[ -n ${HUP_PID:-} ]] && kill -9 "$HUP_PID" 2>/dev/null && wait "$HUP_PID" 2>/dev/null
	rm -rf "${PIN}noif" "${PIN}big" "${PIN}shared" "${PIN}hup"
	rm -f "$SOCK.big" "$SOCK.shared" "$SOCK.long" "$SOCK.hup"
}
trap cleanup EXIT INT TERM

need_root
need_built rlagent rlctl
mount_bpffs

netns_veth "$NET" && ip -n "$NS" link set lo up || no_netns

CFG=$TMP/rl.yaml
cat >"$CFG" <<YAML
version: 1
interfaces:
  - $DUT_IF
allowlist:
  - 10.99.0.0/16
rules:
  - name: icmp-flood
    proto: icmp
    rate: 5/s
    burst: 5
  - name: udp-all
    proto: udp
    rate: 100/s
YAML
cp "$CFG" "$TMP/good.yaml"

start_agent() { start_agent_args; }
start_agent_args() {
	spawn_agent 100 "$CFG" --xdp-mode generic --gc-interval 1 --foreground "$@" ||
		{ show_agent_log; return 1; }
}
alive() { kill -0 "$AGENT_PID" 2>/dev/null && ctl status >/dev/null 2>&1; }
jsonok() { "$@" | python3 -m json.tool >/dev/null; }
# jq-like field access with python: jget 'EXPR' reads JSON on stdin, j = the object
jget() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
# send_udp N: N datagrams from the host side into the namespace, as fast
# as a socket goes (well over the 100/s of rule udp-all)
send_udp() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    s.sendto(b"x" * 64, (sys.argv[2], 9))
' "$1" "$NET.2"
}
udp_drops() { ctl -j stats | jget '[r for r in j["rules"] if r["name"]=="udp-all"][0]["drop"]["packets"]'; }

# ---- config checks (no agent needed)
rc check-config-ok 0 "$OUT/rlagent" --check-config "$CFG"
printf 'version: 1\nrules:\n  - name: x\n    rate: banana\n' >"$TMP/bad1.yaml"
rc check-config-bad 1 "$OUT/rlagent" --check-config "$TMP/bad1.yaml"
rc ctl-config-check-ok 0 "$OUT/rlctl" config check "$CFG"
rc ctl-config-check-bad 1 "$OUT/rlctl" config check "$TMP/bad1.yaml"
# a FIFO nobody writes to is refused at once, never waited on
mkfifo "$TMP/fifo.yaml"
rc check-config-fifo 1 timeout 5 "$OUT/rlagent" --check-config "$TMP/fifo.yaml"
grep -q "not a regular file (a FIFO)" "$TMP/rc.out" && pass check-config-fifo-says-why || fail check-config-fifo-says-why "$(cat "$TMP/rc.out")"

# ---- unreachable agent and usage errors need no agent
rc unreachable-exit-3 3 "$OUT/rlctl" -S /tmp/rltest$$.none.sock status
rc unreachable-json-exit-3 3 "$OUT/rlctl" -j -S /tmp/rltest$$.none.sock rule list
# an agent that accepts and never answers: rlctl gives up after -t seconds
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(8)
c, _ = s.accept(); time.sleep(5)
' "$TMP/hung.sock" &
hung=$!
for _ in $(seq 50); do [[ -S $TMP/hung.sock ]] && break; sleep 0.05; done
start=$SECONDS
rc hung-agent-exit-3 3 "$OUT/rlctl" -S "$TMP/hung.sock" -t 1 status
(( SECONDS - start <= 3 )) && pass hung-agent-timeout || fail hung-agent-timeout "took $((SECONDS - start)) s"
kill "$hung" 2>/dev/null; wait "$hung" 2>/dev/null
rc usage-unknown-object 2 ctl frobnicate
rc usage-rule-no-name 2 ctl rule add
rc usage-bad-rate 2 ctl rule add x rate banana
rc usage-missing-rate 2 ctl rule add x proto tcp
rc usage-bad-prefix 2 ctl allow add 10.0.0.300/8
rc usage-bad-duration 2 ctl block add 192.0.2.1 for forever
rc usage-top-n 2 ctl top -n 0
rc usage-bad-name 2 ctl rule add 'bad name!' rate 1/s
rc help-exit-0 0 "$OUT/rlctl" help
rc rule-help-exit-0 0 "$OUT/rlctl" rule help
"$OUT/rlctl" help | grep -q "3 agent unreachable" && pass help-documents-exit-codes || fail help-documents-exit-codes "no exit codes in help"
# asked for, usage goes to stdout with exit 0; a usage error puts it on
# stderr with exit 2
# helpout NAME WANT_RC STREAM CMD...: exit WANT_RC, usage on STREAM only
helpout() {
	local name=$1 want=$2 stream=$3; shift 3
	"$@" >"$TMP/h.out" 2>"$TMP/h.err"
	local got=$? on=$TMP/h.out off=$TMP/h.err
	[[ $stream == stderr ]] && { on=$TMP/h.err; off=$TMP/h.out; }
	if [[ $got -eq $want ]] && grep -q '^usage: ' "$on" && ! grep -q '^usage: ' "$off"; then pass "$name"
	else fail "$name" "exit $got (want $want), stdout: $(head -c 120 "$TMP/h.out"), stderr: $(head -c 120 "$TMP/h.err")"; fi
}
helpout rlctl--help 0 stdout "$OUT/rlctl" --help
helpout rlctl-h 0 stdout "$OUT/rlctl" -h
helpout rlctl-bad-option 2 stderr "$OUT/rlctl" --bogus
helpout rlctl-no-object 2 stderr "$OUT/rlctl"
helpout rlagent--help 0 stdout "$OUT/rlagent" --help
helpout rlagent-h 0 stdout "$OUT/rlagent" -h
helpout rlagent-bad-option 2 stderr "$OUT/rlagent" --bogus

# ---- no interface: one line saying what is missing, a non-zero exit and
# no pins.  The bare run uses the default pin dir and socket unless they
# are taken (an agent of the machine's own); the netns keeps its metrics
# port off the host's.
noif_pin=/sys/fs/bpf/rlagent noif_args=()
if [[ -e $noif_pin || -e /run/rlagent/rlagent.sock ]]; then
	noif_pin=${PIN}noif noif_args=(--pin-dir "$noif_pin" --socket "$TMP/noif.sock")
fi
nsenter --net="/run/netns/$NS" timeout 10 "$OUT/rlagent" "${noif_args[@]}" >"$TMP/noif.out" 2>"$TMP/noif.err"
r=$?
if [[ $r -eq 2 && $(wc -l <"$TMP/noif.err") -eq 1 && ! -s $TMP/noif.out && ! -e $noif_pin ]] &&
	grep -q -- '-i IFNAME' "$TMP/noif.err" && grep -q 'interfaces:' "$TMP/noif.err"; then
	pass no-interface-no-args
else
	fail no-interface-no-args "exit $r, pins $(ls -d "$noif_pin" 2>&1), stderr: $(head -c 300 "$TMP/noif.err")"
fi
[[ $noif_pin == "${PIN}noif" ]] || { rm -rf "$noif_pin"; rm -f /run/rlagent/rlagent.sock; }
sed '/^interfaces:/,/^  - /d' "$CFG" >"$TMP/noif.yaml"
grep -q interfaces "$TMP/noif.yaml" && fail no-interface-config "sed left the interfaces in"
rc noif-check-config-ok 0 "$OUT/rlagent" --check-config "$TMP/noif.yaml"
nsenter --net="/run/netns/$NS" timeout 10 "$OUT/rlagent" -c "$TMP/noif.yaml" --pin-dir "${PIN}noif" \
	--socket "$TMP/noif.sock" --metrics off >"$TMP/noif.out" 2>"$TMP/noif.err"
r=$?
if [[ $r -eq 1 && $(wc -l <"$TMP/noif.err") -eq 1 && ! -e ${PIN}noif ]] &&
	grep -q "noif.yaml lists no interfaces" "$TMP/noif.err" && grep -q -- '-i IFNAME' "$TMP/noif.err"; then
	pass no-interface-config
else
	fail no-interface-config "exit $r, pins $(ls -d "${PIN}noif" 2>&1), stderr: $(head -c 300 "$TMP/noif.err")"
fi
# the same config with -i runs, on that interface
nsenter --net="/run/netns/$NS" "$OUT/rlagent" -c "$TMP/noif.yaml" -i "$DUT_IF" --pin-dir "${PIN}noif" \
	--socket "$TMP/noif.sock" --metrics off --xdp-mode generic --detach-on-exit >"$TMP/noif.log" 2>&1 &
noif_pid=$!
for _ in $(seq 100); do
	"$OUT/rlctl" -S "$TMP/noif.sock" status >/dev/null 2>&1 && break
	kill -0 "$noif_pid" 2>/dev/null || break
	sleep 0.1
done
[[ $("$OUT/rlctl" -S "$TMP/noif.sock" -j status 2>&1 | jget '[i["name"] for i in j["interfaces"]]') == "['$DUT_IF']" ]] \
	&& pass no-interface-config-with-i || fail no-interface-config-with-i "$(tail -3 "$TMP/noif.log")"
kill -TERM "$noif_pid" 2>/dev/null; wait "$noif_pid" 2>/dev/null; noif_pid=""
rm -rf "${PIN}noif"

# ---- start
if ! start_agent; then
	echo "FAIL ctl/agent-start: rlagent did not come up"
	exit 1
fi
pass agent-start
ctl status | grep -q "$DUT_IF" && pass status-shows-interface || fail status-shows-interface "$(ctl status)"
[[ $(ctl -j status | jget 'len(j["interfaces"])') == 1 ]] && pass status-json-interfaces || fail status-json-interfaces "$(ctl -j status)"
[[ $(ctl -j rule list | jget 'sorted(r["name"] for r in j["rules"])') == "['icmp-flood', 'udp-all']" ]] \
	&& pass config-rules-applied || fail config-rules-applied "$(ctl rule list)"
ctl allow list | grep -q 10.99.0.0/16 && pass config-allowlist-applied || fail config-allowlist-applied "$(ctl allow list)"

# The direct match table (rl_abi.h) follows the tries: FAMILY CELL -> the
# cell's value (0 = ask the trie, 65535 = no entry, else a value slot);
# four 16-bit cells to an element.
dir_cell() {
	local e=$(($2 / 4))
	bpftool map lookup pinned "$PIN/rl_dir$1" key $((e & 255)) $((e >> 8)) 0 0 -j 2>/dev/null |
		jget "j['formatted']['value'] >> ($2 % 4 * 16) & 0xffff"
}
# The bulk lists' guard bitmap rl_lbm4 (rl_lists.h): the bit of A.B.C.0/24.
lbm4_bit() {
	local b=$(( ($1 << 16) | ($2 << 8) | $3 )) e
	e=$((b / 64))
	bpftool map lookup pinned "$PIN/rl_lbm4" key $((e & 255)) $(((e >> 8) & 255)) $((e >> 16)) 0 -j 2>/dev/null |
		jget "j['formatted']['value'] >> ($b % 64) & 1"
}
# the allowlist has its own trie now: 10.99/16 shares the rules' cell,
# and its /24s' guard bits are set
c_all=$(dir_cell 4 0x0ae7) c_allow=$(dir_cell 4 0x0a63) c_v6=$(dir_cell 6 0x2001)
[[ $c_all -ge 1 && $c_all -le 1024 && $c_allow == "$c_all" &&
   $c_v6 -ge 1 && $c_v6 -le 1024 && $(lbm4_bit 10 99 0) == 1 && $(lbm4_bit 10 99 255) == 1 &&
   $(lbm4_bit 10 100 0) == 0 ]] && pass dir-table-follows-config ||
	fail dir-table-follows-config "cells 10.231/16=$c_all 10.99/16=$c_allow 2001::/16=$c_v6 bits $(lbm4_bit 10 99 0) $(lbm4_bit 10 99 255) $(lbm4_bit 10 100 0)"

# ---- rules
rc rule-add 0 ctl rule add ssh-syn proto tcp dport 22 tcp-flags syn rate 10/s burst 20 action drop block-for 60s
ctl rule list | grep -q '^ssh-syn ' && pass rule-add-listed || fail rule-add-listed "$(ctl rule list)"
# each change is logged with who made it (SO_PEERCRED: uid, pid, command)
grep -q "rule add ssh-syn by uid 0 pid [0-9]* (rlctl): " "$TMP/agent.log" && pass change-logs-peer \
	|| fail change-logs-peer "$(grep 'rule add ssh-syn' "$TMP/agent.log")"
rc rule-add-dup-refused 1 ctl rule add ssh-syn rate 1/s
ver0=$(ctl -j rule list ssh-syn | jget 'j["rules"][0]["ver"]')
rc rule-change-rate 0 ctl rule change ssh-syn rate 200/s
ctl -j rule list ssh-syn | jget 'j["rules"][0]["rate"]' | grep -q '^200/s' && pass rule-change-applied || fail rule-change-applied "$(ctl rule list ssh-syn)"
ver1=$(ctl -j rule list ssh-syn | jget 'j["rules"][0]["ver"]')
# a token bucket's rate is part of its scaled clock: a new rate re-initialises
# its keys drained (same generation, next epoch), never with a second burst
[[ $(( ver0 >> 16 )) == $(( ver1 >> 16 )) && $(( ver1 & 0xffff )) == $(( (ver0 & 0xffff) + 1 )) ]] \
	&& pass rule-change-rate-drains-gcra || fail rule-change-rate-drains-gcra "ver $ver0 -> $ver1"
rc rule-change-algo 0 ctl rule change ssh-syn algo sliding-window
ver2=$(ctl -j rule list ssh-syn | jget 'j["rules"][0]["ver"]')
if (( (ver2 >> 16) == (ver1 >> 16) && (ver2 & 0xffff) != (ver1 & 0xffff) )); then
	pass rule-change-algo-bumps-epoch
else
	fail rule-change-algo-bumps-epoch "ver $ver1 -> $ver2"
fi
rc rule-change-missing-refused 1 ctl rule change nosuch rate 1/s
rc rule-change-bad-value-usage 2 ctl rule change ssh-syn algo quantum
rc rule-add-v6 0 ctl rule add web6 src 10.60.0.0/16,2001:db8::/32 proto tcp dport 80-443 rate 1000/min per source/24,64
rc rule-add-monitor 0 ctl rule add mon src 10.50.0.0/16 rate 10mbit action monitor per rule
rc rule-del 0 ctl rule del mon
rc rule-del-missing-refused 1 ctl rule del mon
ctl rule list | grep -q '^mon ' && fail rule-del-gone "still listed" || pass rule-del-gone
gen_web6=$(ctl -j rule list web6 | jget 'j["rules"][0]["ver"] >> 16')
gen_ssh=$(ctl -j rule list ssh-syn | jget 'j["rules"][0]["ver"] >> 16')
[[ $gen_web6 -gt $gen_ssh ]] && pass new-rule-new-gen || fail new-rule-new-gen "gen web6 $gen_web6 ssh $gen_ssh"

# ---- a rule named help: only `OBJECT help` is help, so a trailing help
# never shadows the name (`rule del help` used to print the usage, exit 0
# and delete nothing)
rc rule-named-help-add 0 ctl rule add help src 10.61.0.0/16 rate 5/s
ctl -j stats help | jget 'j["rules"][0]["name"]' | grep -qx help && pass rule-named-help-stats \
	|| fail rule-named-help-stats "$(ctl -j stats help 2>&1 | head -5)"
rc rule-named-help-change 0 ctl rule change help rate 6/s
ctl -j rule list help | jget 'j["rules"][0]["rate"]' | grep -q '^6/s' && pass rule-named-help-changed \
	|| fail rule-named-help-changed "$(ctl rule list help 2>&1)"
rc rule-named-help-del 0 ctl rule del help
ctl -j rule list | jget '"help" in [r["name"] for r in j["rules"]]' | grep -qx False && pass rule-named-help-deleted \
	|| fail rule-named-help-deleted "still listed: $(ctl rule list)"
"$OUT/rlctl" rule help | grep -q "usage: rlctl rule add" && pass object-help-still-help || fail object-help-still-help "$("$OUT/rlctl" rule help 2>&1 | head -3)"

# ---- allow / block
rc allow-add 0 ctl allow add 192.0.2.0/24
rc allow-add-v6 0 ctl allow add 2001:db8:1::/48
ctl allow list | grep -q 192.0.2.0/24 && pass allow-listed || fail allow-listed "$(ctl allow list)"
# a list entry leaves the rule path alone: 192.0/16 keeps the rules' cell
# (it used to ask the trie), and the /24's guard bit says "look it up"
[[ $(dir_cell 4 0xc000) == "$(dir_cell 4 0x0ae7)" && $(dir_cell 4 0xc001) == "$(dir_cell 4 0x0ae7)" &&
   $(lbm4_bit 192 0 2) == 1 && $(lbm4_bit 192 0 3) == 0 ]] &&
	pass list-entry-leaves-dir-table ||
	fail list-entry-leaves-dir-table "cells 192.0/16=$(dir_cell 4 0xc000) 192.1/16=$(dir_cell 4 0xc001) bits $(lbm4_bit 192 0 2) $(lbm4_bit 192 0 3)"
[[ $(ctl -j status | jget 'j["direct_table"]["ipv4"]["table"] >= 60000 and j["direct_table"]["slots_used"] >= 1') == True ]] &&
	ctl status | grep -q '^match table: ' && pass status-direct-table ||
	fail status-direct-table "$(ctl -j status | jget 'j.get("direct_table")')"
rc allow-del 0 ctl allow del 2001:db8:1::/48
rc allow-del-missing-refused 1 ctl allow del 2001:db8:1::/48
rc block-add-timed 0 ctl block add 198.51.100.7 for 10m
rc allow-add-timed 0 ctl allow add 203.0.113.64/26 for 10m
rc block-add-perm 0 ctl block add 198.51.100.0/30
rc block-conflict-refused 1 ctl block add 192.0.2.0/24
ctl -j block list | jget '[e for e in j["block"] if e["prefix"]=="198.51.100.7/32"][0]["expires_in_s"]' | grep -Eq '^(5[0-9][0-9]|600)$' \
	&& pass block-expiry-listed || fail block-expiry-listed "$(ctl -j block list)"
rc block-add-short 0 ctl block add 198.51.100.9 for 1s
sleep 2.5
ctl block list | grep -q 198.51.100.9 && fail block-expires "still listed after expiry: $(ctl block list)" || pass block-expires
bpftool map dump pinned "$PIN/rl_lists" 2>/dev/null | grep -q '"prefixlen": 32' && pass block-in-rl_lists || fail block-in-rl_lists "$(bpftool map dump pinned "$PIN/rl_lists" 2>&1 | head -20)"

# ---- traffic and stats: udp-all is 100/s with a burst of 100
t0=$(date +%s.%N)
send_udp 1000
t1=$(date +%s.%N)
drops=$(udp_drops)
passes=$(ctl -j stats | jget '[r for r in j["rules"] if r["name"]=="udp-all"][0]["pass"]["packets"]')
# at most burst + rate * t, plus the few seconds the stats call may add
limit=$(python3 -c "print(int(100 + 100 * ($t1 - $t0 + 1)))")
if [[ $drops -gt 0 && $passes -ge 100 && $passes -le $limit && $((drops + passes)) -eq 1000 ]]; then
	pass stats-counts-verdicts
else
	fail stats-counts-verdicts "pass=$passes drop=$drops (limit $limit)"
fi
pkts=$(ctl -j stats | jget 'j["global"]["packets"]["packets"]')
[[ $pkts -ge 1000 ]] && pass stats-globals || fail stats-globals "global packets $pkts"
ctl stats | grep -q '^udp-all' && pass stats-table || fail stats-table "$(ctl stats)"
send_udp 300
ctl -j top -n 5 | jget 'j["top"][0]["rule"] == "udp-all" and j["top"][0]["source"] == "'$NET'.1/32" and j["top"][0]["credit"] < j["top"][0]["credit_max"]' \
	| grep -q True && pass top-shows-flooder || fail top-shows-flooder "$(ctl top -n 5)"

# ---- JSON for every command
for c in "status" "rule list" "stats" "allow list" "block list" "config dump" "top -n 5"; do
	# shellcheck disable=SC2086
	jsonok ctl -j $c && pass "json/${c// /-}" || fail "json/${c// /-}" "$(ctl -j $c 2>&1 | head -5)"
done
# -j is one line (scripts, jq), -p the same object indented; errors too
jl=$(ctl -j rule list) pl=$(ctl -p rule list) jp=$(ctl --json --pretty rule list)
if [[ $(wc -l <<<"$jl") == 1 && $(wc -l <<<"$pl") -gt 10 && $pl == "$jp" ]] &&
	python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$jl" "$pl"; then
	pass json/compact-and-pretty
else
	fail json/compact-and-pretty "-j $(wc -l <<<"$jl") lines, -p $(wc -l <<<"$pl") lines"
fi
[[ $(ctl -j rule add x rate nope | wc -l) == 1 && $(ctl -p rule add x rate nope | wc -l) -gt 1 ]] \
	&& pass json/compact-and-pretty-errors || fail json/compact-and-pretty-errors "$(ctl -p rule add x rate nope)"
jsonok ctl -j rule add ssh-syn rate 1/s
ctl -j rule add ssh-syn rate 1/s | jget 'j["ok"] is False and j["code"]=="refused"' | grep -q True \
	&& pass json/refused-shape || fail json/refused-shape "$(ctl -j rule add ssh-syn rate 1/s)"
ctl -j rule add x rate nope | jget 'j["code"]' | grep -q usage && pass json/usage-shape || fail json/usage-shape "$(ctl -j rule add x rate nope)"

# ---- long multi-byte words: messages cut them on a character boundary (a
# cut inside an é made the JSON encoder fail: the agent answered "out of
# memory", rlctl -j printed nothing)
mb=$(python3 -c "print('a' + '\u00e9' * 500)")
utf8_case() {
	local name=$1 want_rc=$2 needle=$3; shift 3
	"$@" >"$TMP/mb.out" 2>/dev/null
	local r=$?
	if [[ $r -eq $want_rc ]] && jget "j['ok'] is False and '$needle' in j['error'] and 'memory' not in j['error']" <"$TMP/mb.out" 2>/dev/null | grep -q True; then
		pass "utf8/$name"
	else
		fail "utf8/$name" "exit $r: $(head -c 300 "$TMP/mb.out")"
	fi
}
utf8_case rlctl-rule-add 2 "is invalid" ctl -j rule add "$mb" rate 1/s
utf8_case rlctl-rate 2 "does not start" ctl -j rule add x rate "$mb"
utf8_case agent-rule-del 1 "no rule named" ctl -j rule del "$mb"
utf8_case agent-stats 1 "no rule named" ctl -j stats "$mb"
python3 - "$SOCK" "$mb" >"$TMP/mb.out" 2>&1 <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
mb = sys.argv[2]
reqs = [["rule", "add", mb, "rate", "1/s"], [mb], ["rule", mb], ["config", mb], ["block", mb]]
for r in reqs:
    s.sendall(json.dumps({"argv": r}).encode() + b"\n")
buf = b""
while buf.count(b"\n") < len(reqs):
    d = s.recv(65536)
    if not d:
        break
    buf += d
out = [json.loads(l) for l in buf.split(b"\n") if l]
assert len(out) == len(reqs), out
for o in out:
    assert o["ok"] is False and o["code"] == "usage" and "memory" not in o["error"], o
print("ok")
PY
grep -qx ok "$TMP/mb.out" && pass utf8/agent-cuts-words || fail utf8/agent-cuts-words "$(tail -3 "$TMP/mb.out")"
# a word that is not UTF-8 is refused, never dropped from the request
rc utf8/not-utf8-refused 2 ctl stats $'\xff'

# ---- config dump round trip
ctl config dump >"$TMP/dump.yaml"
rc dump-check-config 0 "$OUT/rlagent" --check-config "$TMP/dump.yaml"
grep -q ssh-syn "$TMP/dump.yaml" && grep -q 2001:db8::/32 "$TMP/dump.yaml" && pass dump-has-runtime-rules || fail dump-has-runtime-rules "$(cat "$TMP/dump.yaml")"

# ---- reload: a bad file is refused and nothing changes
before=$(ctl -j rule list)
printf 'version: 1\ninterfaces:\n  - %s\nrules:\n  - name: x\n    proto: udp\n    rate: 100/s\n    burts: 10\n' "$DUT_IF" >"$CFG"
rc reload-bad-refused 1 ctl config reload
grep -q "line" "$TMP/rc.out" && pass reload-bad-says-line || fail reload-bad-says-line "$(cat "$TMP/rc.out")"
[[ $(ctl -j rule list) == "$before" ]] && pass reload-bad-rules-unchanged || fail reload-bad-rules-unchanged "rule list changed"
ctl -j status | jget 'j["last_reload"]["ok"]' | grep -q False && pass reload-bad-in-status || fail reload-bad-in-status "$(ctl status)"
# 17 rules covering every source: one more than a match entry holds
{ printf 'version: 1\nrules:\n'; for i in $(seq 17); do printf '  - name: r%d\n    proto: udp\n    dport: %d\n    rate: %d/s\n' "$i" "$i" "$i"; done; } >"$CFG"
rc reload-invalid-rule-refused 1 ctl config reload
[[ $(ctl -j rule list) == "$before" ]] && pass reload-invalid-rules-unchanged || fail reload-invalid-rules-unchanged "rule list changed"
cp "$TMP/good.yaml" "$CFG"
kill -HUP "$AGENT_PID"
sleep 0.5
ctl -j status | jget 'j["last_reload"]["ok"]' | grep -q True && pass sighup-reload || fail sighup-reload "$(ctl status)"
[[ $(ctl -j rule list | jget 'sorted(r["name"] for r in j["rules"])') == "['icmp-flood', 'udp-all']" ]] \
	&& pass reload-applies-file || fail reload-applies-file "$(ctl rule list)"
ctl block list | grep -q 198.51.100.7 && pass reload-keeps-timed-blocks || fail reload-keeps-timed-blocks "$(ctl block list)"
# timed allows too (a reload used to keep the blocks and drop the allows)
ctl -j allow list | jget '[e["expires_in_s"] for e in j["allow"] if e["prefix"] == "203.0.113.64/26"]' | grep -Eq '^\[(5[0-9][0-9]|600)\]$' \
	&& pass reload-keeps-timed-allows || fail reload-keeps-timed-allows "$(ctl allow list)"
ctl allow del 203.0.113.64/26 >/dev/null   # its countdown would differ across the restart below
rc reload-ok 0 ctl config reload
# on-full is read per packet: a reload applies it at once, state-entries
# (the tables' size) still needs fresh pins and only warns
sed 's/^rules:/defaults:\n  on-full: fail-closed\n  state-entries: 4096\nrules:/' "$TMP/good.yaml" >"$CFG"
rc reload-on-full 0 ctl config reload
ctl -j status | jget 'j["on_full"] == "fail-closed" and j["state_maps"]["rl_st4"]["capacity"] == 1048576' | grep -q True \
	&& pass reload-on-full-live || fail reload-on-full-live "$(ctl -j status | jget 'j["on_full"], j["state_maps"]["rl_st4"]')"
[[ $(bpftool map lookup pinned "$PIN/rl_conf" key 0 0 0 0 -j 2>/dev/null | jget 'j["formatted"]["value"]["on_full"]') == 2 ]] \
	&& pass reload-on-full-in-rl_conf || fail reload-on-full-in-rl_conf "$(bpftool map lookup pinned "$PIN/rl_conf" key 0 0 0 0 2>&1 | head -5)"
grep -q "state-entries changed but keeps its old value" "$TMP/agent.log" && ! grep -q "on-full.*keep" "$TMP/agent.log" \
	&& pass reload-state-entries-warns || fail reload-state-entries-warns "$(grep -i 'on-full\|state-entries' "$TMP/agent.log" | tail -3)"
cp "$TMP/good.yaml" "$CFG"
rc reload-on-full-back 0 ctl config reload

# ---- 10,000 rules: a change costs milliseconds, not the agent's attention
# for seconds (the whole-set checks were pairwise: 1.5 s per `rule add`)
python3 - "$CFG" "$DUT_IF" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("version: 1\ninterfaces:\n  - %s\nrules:\n" % sys.argv[2])
    for i in range(10000):
        f.write("  - {name: r%d, src: 10.%d.%d.%d/32, proto: udp, rate: 10/s}\n"
                % (i, 100 + (i >> 16), (i >> 8) & 255, i & 255))
PY
rc reload-10k-rules 0 ctl -t 30 config reload
# request to answer on the socket, in ms: add, change, del, then status
python3 - "$SOCK" >"$TMP/10k.out" <<'PY'
import json, socket, sys, time
def call(argv):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
    t = time.monotonic(); s.sendall(json.dumps({"argv": argv}).encode() + b"\n")
    b = b""
    while not b.endswith(b"\n"):
        d = s.recv(65536)
        if not d:
            break
        b += d
    dt = (time.monotonic() - t) * 1000
    assert json.loads(b)["ok"], b
    return dt
add = [call(["rule", "add", "x%d" % i, "src", "10.200.0.%d/32" % i, "proto", "udp", "rate", "5/s"]) for i in range(3)]
chg = call(["rule", "change", "x0", "rate", "7/s"])
dl = call(["rule", "del", "x1"])
print("%.0f %.0f %.0f %.0f" % (max(add), min(add), chg, dl))
PY
read -r add_max add_min chg_ms del_ms <"$TMP/10k.out"
echo "    with 10000 rules: rule add ${add_min}-${add_max} ms, change ${chg_ms} ms, del ${del_ms} ms"
[[ -n ${add_max:-} ]] && (( add_max < 500 && chg_ms < 500 && del_ms < 500 )) && pass 10k-rules-change-fast \
	|| fail 10k-rules-change-fast "add ${add_max:-?} ms, change ${chg_ms:-?} ms, del ${del_ms:-?} ms (bound 500): $(cat "$TMP/10k.out")"
[[ $(ctl -j status | jget 'j["rules"]') == 10002 ]] && pass 10k-rules-counted || fail 10k-rules-counted "$(ctl -j status | jget 'j["rules"]')"
cp "$TMP/good.yaml" "$CFG"
rc reload-back-from-10k 0 ctl -t 30 config reload
# ---- config save: the running state, runtime changes and agent-wide
# settings included, written back over the config file; it checks, and a
# reload of it gives the same model
sed 's/^rules:/defaults:\n  on-full: fail-closed\n  malformed: pass\n  clock: coarse\nrules:/' "$TMP/good.yaml" >"$CFG"
ctl config reload >/dev/null || fail save-setup "reload with defaults: $(ctl config reload 2>&1)"
ctl rule add saved-rule src 10.61.0.0/16,2001:db8:61::/48 proto udp dport 5000-5100 rate 10mbit \
	burst 64kb algo sliding-window per source/24,64 block-for 30s >/dev/null &&
ctl rule change icmp-flood action monitor algo fixed-window >/dev/null &&
ctl allow add 10.62.0.0/16 >/dev/null && ctl block add 198.51.100.64/26 >/dev/null ||
	fail save-setup "runtime changes refused"
chmod 640 "$CFG"
cfg_ino=$(stat -c %i "$CFG")
rc config-save 0 ctl config save
grep -q "saved the running state to $CFG: 3 rules, 2 allow and 1 block entries" "$TMP/rc.out" \
	&& pass config-save-says || fail config-save-says "$(cat "$TMP/rc.out")"
rc config-save-check-config 0 "$OUT/rlagent" --check-config "$CFG"
if grep -q '^  - name: "saved-rule"' "$CFG" && grep -q '^    burst: 65536' "$CFG" &&
	grep -q '^  - 10.62.0.0/16' "$CFG" && grep -q '^  - 198.51.100.64/26' "$CFG" &&
	grep -q '^  on-full: fail-closed' "$CFG" && grep -q '^  malformed: pass' "$CFG" &&
	grep -q '^  clock: coarse' "$CFG" && grep -q "^  - name: \"$DUT_IF\"" "$CFG" &&
	grep -q '^# runtime block 198.51.100.7/32' "$CFG"; then
	pass config-save-content
else
	fail config-save-content "$(cat "$CFG")"
fi
# written next to it and renamed over it: a new inode, the old mode, no
# temporary file left
[[ $(stat -c %a "$CFG") == 640 && $(stat -c %i "$CFG") != "$cfg_ino" ]] && ! ls -a "$TMP" | grep -q '^\.rl\.yaml\.' \
	&& pass config-save-atomic || fail config-save-atomic "mode $(stat -c %a "$CFG"), inode $cfg_ino -> $(stat -c %i "$CFG"), $(ls -a "$TMP")"
model() {
	echo "$(ctl -j rule list)"
	# a reload puts timed blocks after the file's: the same set, in another order
	ctl -j allow list | jget 'sorted((e["prefix"], e["expires_in_s"] is None) for e in j["allow"])'
	ctl -j block list | jget 'sorted((e["prefix"], e["expires_in_s"] is None) for e in j["block"])'
	ctl -j status | jget '(j["on_full"], j["malformed"], j["clock"], j["interfaces"])'
	ctl config dump | grep -v '^#'
}
model >"$TMP/model.before"
rc config-save-reload 0 ctl config reload
model >"$TMP/model.after"
cmp -s "$TMP/model.before" "$TMP/model.after" && pass config-save-reload-identical \
	|| fail config-save-reload-identical "$(diff "$TMP/model.before" "$TMP/model.after" | head -20)"
cp "$CFG" "$TMP/saved.yaml"
ctl -j rule list | jget 'sorted((r["name"], r["spec"]) for r in j["rules"])' >"$TMP/saved.rules"
# FILE is the caller's path (relative to rlctl's directory); the config
# file stays as it was
cfg_sum=$(md5sum <"$CFG")
( cd "$TMP" && "$OUT_ABS/rlctl" -S "$SOCK" config save copy.yaml >/dev/null )
[[ -s $TMP/copy.yaml && $(md5sum <"$CFG") == "$cfg_sum" ]] && diff <(grep -v '^#' "$CFG") <(grep -v '^#' "$TMP/copy.yaml") >/dev/null \
	&& pass config-save-file || fail config-save-file "$(ls -l "$TMP")"
# through a symlink the file it names is replaced, the link stays
ln -s copy.yaml "$TMP/link.yaml"
rc config-save-symlink 0 ctl config save "$TMP/link.yaml"
[[ -L $TMP/link.yaml ]] && grep -q "^# $TMP/copy.yaml - written by" "$TMP/copy.yaml" \
	&& pass config-save-symlink-kept || fail config-save-symlink-kept "$(ls -l "$TMP"; head -2 "$TMP/copy.yaml")"
rc config-save-no-dir-refused 1 ctl config save "/nonexistent-rl$$/x.yaml"
grep -q "directory must exist" "$TMP/rc.out" && pass config-save-no-dir-says || fail config-save-no-dir-says "$(cat "$TMP/rc.out")"
rc config-save-dir-refused 1 ctl config save "$TMP"
rc config-save-usage 2 ctl config save a b
cp "$TMP/good.yaml" "$CFG"
rc config-save-back 0 ctl config reload

# ---- runtime state survives kill -9
ctl rule add ssh-syn proto tcp dport 22 rate 10/s >/dev/null
ctl rule change icmp-flood algo leaky-bucket >/dev/null
send_udp 500
list_before=$(ctl -j rule list)
block_before=$(ctl -j allow list)
drops_before=$(udp_drops)
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
if bpftool link show pinned "$PIN/link_$DUT_IF" 2>/dev/null | grep -q xdp; then pass killed-link-still-attached
else fail killed-link-still-attached "$(ls "$PIN" 2>&1; bpftool link show 2>&1 | head)"; fi
bpftool map show pinned "$PIN/rl_catalog" >/dev/null 2>&1 && bpftool map show pinned "$PIN/rl_match4" >/dev/null 2>&1 \
	&& pass killed-maps-still-pinned || fail killed-maps-still-pinned "$(ls "$PIN" 2>&1)"
send_udp 500	# enforced with no agent running
if start_agent; then
	pass restart
	[[ $(ctl -j rule list) == "$list_before" ]] && pass restart-adopts-rules-identical || fail restart-adopts-rules-identical "$(ctl rule list)"
	[[ $(ctl -j allow list) == "$block_before" ]] && pass restart-adopts-lists || fail restart-adopts-lists "$(ctl allow list)"
	ctl -j status | jget 'j["adopted"]' | grep -q True && pass restart-status-adopted || fail restart-status-adopted "$(ctl status)"
	grep -q "adopted .* rules from pinned state" "$TMP/agent.log" && pass restart-logs-adoption || fail restart-logs-adoption "$(tail -5 "$TMP/agent.log")"
	drops_after=$(udp_drops)
	[[ $drops_after -gt $drops_before ]] && pass restart-counters-kept-and-enforced-while-down \
		|| fail restart-counters-kept-and-enforced-while-down "drops before $drops_before after $drops_after"
else
	fail restart "agent did not restart"
fi

# ---- GC: idle keys and keys of a deleted rule go, and status counts the
# live ones with the age of the count.  A slow refill keeps the key live
# (not idle) for the sweeps below; at 100/s it would be idle in a second.
ctl rule change udp-all rate 1/min burst 100 >/dev/null
send_udp 50
sleep 1.5
live=$(ctl -j status | jget 'j["state_maps"]["rl_st4"]["live"]')
[[ $live =~ ^[0-9]+$ && $live -ge 1 ]] && pass status-state-live || fail status-state-live "live=$live"
ctl -j status | jget 'j["state_maps"]["rl_st4"]["swept_s_ago"] < 3 and j["state_maps"]["rl_st4"]["capacity"] == 1048576 and j["state_maps"]["rl_st4"]["buckets"] > 0' \
	| grep -q True && pass status-state-table || fail status-state-table "$(ctl -j status | jget 'j["state_maps"]')"
ctl status | grep -Eq '^rl_st4 +table, [0-9]+ buckets x 4 slots, capacity 1048576 sources; live [0-9]+ as of [0-9.]+ s ago' \
	&& pass status-state-text || fail status-state-text "$(ctl status | grep rl_st)"
ctl rule del udp-all >/dev/null
sleep 2.5
ctl -j status | jget 'j["state_maps"]["rl_st4"]["live"] == 0 and j["gc"]["deleted"] >= 1' | grep -q True \
	&& pass gc-deletes-orphaned-keys || fail gc-deletes-orphaned-keys "$(ctl -j status | jget 'j["state_maps"], j["gc"]')"
ctl rule add udp-all proto udp rate 100/s >/dev/null || fail gc-readd "could not re-add udp-all"
# a key at full credit is idle: the sweep frees it
send_udp 5
sleep 2.5
ctl -j status | jget 'j["state_maps"]["rl_st4"]["live"] == 0' | grep -q True \
	&& pass gc-frees-idle-keys || fail gc-frees-idle-keys "$(ctl -j status | jget 'j["state_maps"]')"

# sliding logs (a hash, not the tables) are swept too: a deleted rule's
# logs go, so a non-evict on-full never fills up with orphans
slogs() { bpftool -j map dump pinned "$PIN/rl_sl4" 2>/dev/null | jget 'len(j)'; }
if ctl rule add slog-gc proto udp dport 9 rate 1/min burst 50 algo sliding-log >/dev/null; then
	send_udp 20
	n_before=$(slogs)
	ctl rule del slog-gc >/dev/null
	sleep 2.5
	n_after=$(slogs)
	[[ $n_before -ge 1 && $n_after == 0 ]] && pass gc-deletes-orphaned-slogs ||
		fail gc-deletes-orphaned-slogs "rl_sl4 entries $n_before before the delete, $n_after after"
else
	fail gc-deletes-orphaned-slogs "could not add a sliding-log rule"
fi

# ---- a deleted rule's gen is never handed out again, even after a restart
ctl rule add tmp src 10.77.0.0/16 rate 5/s >/dev/null
gen_tmp=$(ctl -j rule list tmp | jget 'j["rules"][0]["ver"] >> 16')
ctl rule del tmp >/dev/null
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
if start_agent; then
	ctl rule add tmp2 src 10.77.0.0/16 rate 5/s >/dev/null
	gen_tmp2=$(ctl -j rule list tmp2 | jget 'j["rules"][0]["ver"] >> 16')
	[[ $gen_tmp2 -gt $gen_tmp ]] && pass gen-monotonic-across-restart || fail gen-monotonic-across-restart "gen $gen_tmp then $gen_tmp2"
	ctl rule del tmp2 >/dev/null
else
	fail gen-monotonic-across-restart "agent did not restart"
fi

# ---- hostile control-socket clients; after each the agent answers and
# the rules are exactly as before
snap=$(ctl -j rule list)
hostile() {
	local name=$1
	python3 - "$SOCK" "$name" >"$TMP/hostile.out" 2>&1 <<'PY'
import json, os, socket, sys, time
path, case = sys.argv[1], sys.argv[2]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s
def lines(s, n=1):
    buf = b""
    out = []
    while len(out) < n:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
        while b"\n" in buf:
            l, buf = buf.split(b"\n", 1)
            out.append(json.loads(l))
    return out
if case == "garbage":
    s = conn(); s.sendall(os.urandom(4096).replace(b"\n", b"x") + b"\n\x00\xff\xfe\n")
    r = lines(s, 2)
    assert r and all(x["ok"] is False for x in r), r
elif case == "huge-line":
    s = conn()
    try:
        s.sendall(b"{\"argv\":[\"" + b"a" * (1 << 20) + b"\"]}\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = lines(s, 1)
    assert r and "too large" in r[0]["error"], r
elif case == "invalid-json":
    s = conn(); s.sendall(b"{\"argv\": [\"rule\", \"list\"\n")
    r = lines(s, 1); assert r[0]["ok"] is False and r[0]["code"] == "usage", r
elif case == "wrong-types":
    bad = ['{"argv":"rule"}', '{"argv":[1,2]}', '[]', '"str"', 'null', '{}', '{"argv":[]}',
           '{"argv":["rule","add","x",{"a":1}]}', '{"argv":["rule","del"]}',
           '{"argv":["rule","add","evil\\u0000","rate","1/s"]}', '{"argv":["rule","add","e","rate","1/s","burst","\\u0000"]}',
           '{"argv":["rule","del","icmp-flood","extra"]}', '{"argv":["rule","change","icmp-flood","rate"]}',
           '{"argv":["rule","add","' + 'n' * 100 + '","rate","1/s"]}', '{"argv":["block","add","1.2.3.4","for","-1s"]}',
           '{"argv":["rule","add","big","rate","99999999999999999999999/s"]}', '{"argv":' + '[' * 5000 + ']' * 5000 + '}',
           '{"argv":["allow","add","::/0","for","0s"]}', '{"argv":["top","-n","99999999999"]}']
    s = conn()
    for b in bad:
        s.sendall(b.encode() + b"\n")
    r = lines(s, len(bad))
    assert len(r) == len(bad) and all(x["ok"] is False for x in r), r
elif case == "disconnect-mid-line":
    for _ in range(20):
        s = conn(); s.sendall(b"{\"argv\": [\"rule\", \"del\", \"icmp-flood\""); s.close()
    s = conn(); s.sendall(b"{\"argv\":[\"rule\",\"del\""); s.shutdown(socket.SHUT_WR); time.sleep(0.2); s.close()
elif case == "never-reads":
    s = conn(); s.setblocking(False)
    req = b"{\"argv\":[\"config\",\"dump\"]}\n" * 1000
    sent = 0
    deadline = time.time() + 3
    while time.time() < deadline:
        try:
            sent += s.send(req)
        except BlockingIOError:
            time.sleep(0.05)
    # still connected and never read; the agent must serve others meanwhile
    import subprocess
    r = subprocess.run([os.environ["RLCTL"], "-S", path, "-t", "3", "status"], capture_output=True)
    assert r.returncode == 0, r
    s.close()
elif case == "config-check-fifo":
    # the agent opens the file a client names: a FIFO must not stall it
    fifo = os.environ["RLFIFO"]
    s = conn(); s.sendall(json.dumps({"argv": ["config", "check", fifo]}).encode() + b"\n")
    r = lines(s, 1)
    assert r and r[0]["ok"] is False and "FIFO" in r[0]["error"], r
    s.sendall(b'{"argv":["config","check","/dev/zero"]}\n')
    r = lines(s, 1)
    assert r and r[0]["ok"] is False and "character device" in r[0]["error"], r
elif case == "idle-64":
    # 64 idle connections and one dribbling a request a byte at a time:
    # rlctl still gets in at once (the longest-idle make room), and none of
    # them outlives the 5 s allowed without a complete request
    import select, subprocess
    socks = [conn() for _ in range(64)]
    drib = conn(); drib.sendall(b'{"argv":')
    time.sleep(0.2)
    t0 = time.time()
    r = subprocess.run([os.environ["RLCTL"], "-S", path, "status"], capture_output=True)
    dt = time.time() - t0
    assert r.returncode == 0 and dt < 2, ("rlctl status", r.returncode, dt, r.stderr)
    left, drib_open, t0 = set(socks), True, time.time()
    while (left or drib_open) and time.time() - t0 < 10:
        if drib_open:
            try:
                drib.send(b" ")
                drib.setblocking(False)
                if drib.recv(4096) == b"":
                    drib_open = False
            except (BlockingIOError, socket.timeout):
                pass
            except OSError:
                drib_open = False
            drib.setblocking(True); drib.settimeout(5)
        rd, _, _ = select.select(list(left), [], [], 0.5)
        for s in rd:
            try:
                d = s.recv(4096)
            except OSError:
                d = b""
            if not d:
                left.discard(s)
    assert not left and not drib_open, ("still open after 10 s", len(left), drib_open)
elif case == "per-uid":
    # another uid (the socket opened to it for the test) holds at most 16
    # connections: the 17th and later push its own idle ones out
    import select
    pid = os.fork()
    if pid == 0:
        os.setgid(65534); os.setuid(65534)
        socks = [conn() for _ in range(40)]
        time.sleep(0.5)
        rd, _, _ = select.select(socks, [], [], 0)
        closed = sum(1 for s in rd if s.recv(4096) == b"")
        os._exit(0 if closed == 24 else 10 + min(closed, 200))
    _, st = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(st) == 0, ("closed", os.WEXITSTATUS(st) - 10)
    import subprocess
    r = subprocess.run([os.environ["RLCTL"], "-S", path, "-t", "2", "status"], capture_output=True)
    assert r.returncode == 0, r
elif case == "many-clients":
    socks = []
    for _ in range(200):
        try:
            socks.append(conn())
        except OSError:
            break
    time.sleep(0.3)
    for s in socks:
        s.close()
print("ok")
PY
	local r=$?
	if [[ $r -ne 0 ]]; then fail "hostile/$name" "$(tail -5 "$TMP/hostile.out")"; return; fi
	if alive && [[ $(ctl -j rule list) == "$snap" ]]; then pass "hostile/$name"
	else fail "hostile/$name" "agent dead or rules changed after the client"; fi
}
export RLCTL=$OUT/rlctl RLFIFO=$TMP/fifo.yaml
for h in garbage huge-line invalid-json wrong-types disconnect-mid-line never-reads config-check-fifo many-clients idle-64; do
	hostile "$h"
done
chmod 0666 "$SOCK"
hostile per-uid
chmod 0600 "$SOCK"

# ---- a second agent on the same pins is refused at once
nsenter --net="/run/netns/$NS" timeout 10 "$OUT/rlagent" -c "$CFG" --socket "$SOCK.2" \
	--pin-dir "$PIN" --foreground >"$TMP/agent2.log" 2>&1
r=$?
[[ $r -ne 0 && $r -ne 124 ]] && grep -q "another rlagent" "$TMP/agent2.log" && pass second-agent-refused \
	|| fail second-agent-refused "exit $r: $(tail -3 "$TMP/agent2.log")"
alive && [[ $(ctl -j rule list) == "$snap" ]] && pass second-agent-harmless || fail second-agent-harmless "first agent disturbed"

# ---- SIGTERM exits without detaching
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
grep -q "without detaching" "$TMP/agent.log" && pass sigterm-logs || fail sigterm-logs "$(tail -3 "$TMP/agent.log")"
bpftool map show pinned "$PIN/rl_catalog" >/dev/null 2>&1 && pass sigterm-keeps-pins || fail sigterm-keeps-pins "$(ls "$PIN" 2>&1)"
rc rlctl-after-exit-unreachable 3 ctl status

# extra_if X: XIF = an interface of its own in the namespace (one end of a
# veth pair: there may be no dummy module) for an extra agent, which keeps
# its XDP link pinned in its own pin dir.  Not called through $(...): the
# subshell would run the EXIT trap.
extra_if() {
	XIF=rl$1$$
	ip -n "$NS" link add "$XIF" type veth peer name "${XIF}p" &&
	ip -n "$NS" link set "$XIF" up && ip -n "$NS" link set "${XIF}p" up
}

# ---- `top` over large tables is a job done a slice a poll turn: a status
# sent while it runs is answered at once, not after the whole scan.  A
# second agent (own pins, socket and dummy interface) with 4M-source tables
# (320 MB of buckets to walk).
printf 'version: 1\ndefaults:\n  state-entries: 4194304\nrules:\n  - name: a\n    rate: 1/s\n' >"$TMP/big.yaml"
extra_if b
nsenter --net="/run/netns/$NS" "$OUT/rlagent" -c "$TMP/big.yaml" -i "$XIF" --xdp-mode generic \
	--socket "$SOCK.big" --pin-dir "${PIN}big" --metrics off \
	--gc-interval 0 --foreground >"$TMP/agent-big.log" 2>&1 &
BIG_PID=$!
for _ in $(seq 100); do "$OUT/rlctl" -S "$SOCK.big" status >/dev/null 2>&1 && break; sleep 0.1; done
python3 - "$SOCK.big" >"$TMP/top.out" 2>&1 <<'PY'
import json, socket, sys, time
def send(argv):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
    s.sendall(json.dumps({"argv": argv}).encode() + b"\n")
    return s
def recv(s):
    b = b""
    while not b.endswith(b"\n"):
        d = s.recv(65536)
        if not d:
            break
        b += d
    assert json.loads(b)["ok"], b
good = 0
for rep in range(3):
    t0 = time.monotonic(); a = send(["top", "-n", "5"])
    time.sleep(0.005)
    t1 = time.monotonic(); b = send(["status"])
    recv(b); tb = time.monotonic() - t1
    recv(a); ta = time.monotonic() - t0
    print("top %.1f ms, status sent during it %.1f ms" % (ta * 1000, tb * 1000))
    good += tb < ta / 2
print("ok" if good >= 2 else "slow")
PY
sed 's/^/    /' "$TMP/top.out"
tail -1 "$TMP/top.out" | grep -qx ok && pass top-leaves-loop-responsive || fail top-leaves-loop-responsive "$(cat "$TMP/top.out")"
kill "$BIG_PID"; wait "$BIG_PID" 2>/dev/null
rm -rf "${PIN}big" "$SOCK.big"

# ---- a SIGHUP right after start, while a large config is still being
# checked and loaded, waits for the poll loop (it used to kill the agent:
# signals were blocked only after the config was validated)
python3 - "$TMP/hup.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("version: 1\nrules:\n")
    for i in range(16000):
        f.write("  - {name: r%d, src: 10.%d.%d.%d/32, proto: udp, rate: 10/s}\n"
                % (i, 100 + (i >> 16), (i >> 8) & 255, i & 255))
PY
extra_if u
nsenter --net="/run/netns/$NS" "$OUT/rlagent" -c "$TMP/hup.yaml" -i "$XIF" --xdp-mode generic \
	--socket "$SOCK.hup" --pin-dir "${PIN}hup" --metrics off \
	--foreground >"$TMP/agent-hup.log" 2>&1 &
HUP_PID=$!
# nsenter execs rlagent: the signal must find rlagent, not nsenter
for _ in $(seq 500); do [[ $(cat /proc/$HUP_PID/comm 2>/dev/null) == rlagent ]] && break; sleep 0.01; done
sleep 0.05
kill -HUP "$HUP_PID"
for _ in $(seq 150); do "$OUT/rlctl" -S "$SOCK.hup" status >/dev/null 2>&1 && break; kill -0 "$HUP_PID" 2>/dev/null || break; sleep 0.1; done
sleep 0.5
if kill -0 "$HUP_PID" 2>/dev/null && "$OUT/rlctl" -S "$SOCK.hup" -t 10 -j status | jget 'j["rules"] == 16000 and j["last_reload"]["ok"]' | grep -q True; then
	pass sighup-during-start
else
	kill -0 "$HUP_PID" 2>/dev/null || { wait "$HUP_PID"; echo "    agent exited $?"; }
	fail sighup-during-start "$(tail -3 "$TMP/agent-hup.log")"
fi
grep -q "^rlagent: ready" "$TMP/agent-hup.log" && grep -q "SIGHUP from uid [0-9]* pid [0-9]*: reloading" "$TMP/agent-hup.log" \
	&& pass sighup-during-start-reloads || fail sighup-during-start-reloads "$(grep -v '^libbpf' "$TMP/agent-hup.log" | tail -5)"
kill "$HUP_PID" 2>/dev/null; wait "$HUP_PID" 2>/dev/null; HUP_PID=""
rm -rf "${PIN}hup" "$SOCK.hup"

# ---- a pin dir too long is refused, never cut (the lock and the unpin used
# the full path while the pins went to the cut one)
long="${PIN}long$(printf 'x%.0s' $(seq 300))"
rc pin-dir-too-long 2 "$OUT/rlagent" -c "$TMP/good.yaml" --socket "$SOCK.long" --pin-dir "$long" --metrics off
grep -q -- "--pin-dir: .* want 1..255" "$TMP/rc.out" && pass pin-dir-too-long-says-why || fail pin-dir-too-long-says-why "$(head -3 "$TMP/rc.out")"
# shellcheck disable=SC2010
[[ -z $(ls /sys/fs/bpf | grep "^$(basename "$PIN")long") ]] && pass pin-dir-too-long-creates-nothing \
	|| fail pin-dir-too-long-creates-nothing "$(ls /sys/fs/bpf | grep "^$(basename "$PIN")long")"

# ---- --detach-on-exit in a shared pin dir removes rl's pins only (it used
# to unlink every entry: with --pin-dir /sys/fs/bpf, other tools' pins too)
mkdir -p "${PIN}shared"
bpftool map create "${PIN}shared/foreign" type array key 4 value 4 entries 1 name foreign 2>"$TMP/bpftool.err" \
	|| fail detach-keeps-foreign-pins "bpftool map create: $(cat "$TMP/bpftool.err")"
printf 'version: 1\nrules:\n  - name: a\n    rate: 1/s\n' >"$TMP/shared.yaml"
extra_if s
nsenter --net="/run/netns/$NS" "$OUT/rlagent" -c "$TMP/shared.yaml" -i "$XIF" --xdp-mode generic \
	--socket "$SOCK.shared" --pin-dir "${PIN}shared" --metrics off \
	--detach-on-exit --foreground >"$TMP/agent-shared.log" 2>&1 &
SHARED_PID=$!
for _ in $(seq 100); do "$OUT/rlctl" -S "$SOCK.shared" status >/dev/null 2>&1 && break; sleep 0.1; done
[[ -e ${PIN}shared/rl_catalog ]] || fail detach-keeps-foreign-pins "the agent did not pin: $(tail -3 "$TMP/agent-shared.log")"
kill -TERM "$SHARED_PID"; wait "$SHARED_PID" 2>/dev/null; SHARED_PID=""
if [[ -e ${PIN}shared/foreign && ! -e ${PIN}shared/rl_catalog && ! -e ${PIN}shared/rl_st4 ]] &&
   grep -q "still holds entries rl did not create" "$TMP/agent-shared.log"; then
	pass detach-keeps-foreign-pins
else
	fail detach-keeps-foreign-pins "left: $(ls "${PIN}shared" 2>&1 | tr '\n' ' '); log: $(tail -2 "$TMP/agent-shared.log")"
fi
rm -rf "${PIN}shared" "$SOCK.shared"

# ---- --detach-on-exit removes everything
if start_agent_args --detach-on-exit; then
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
	[[ ! -e $PIN ]] && ! ip -n "$NS" link show "$DUT_IF" | grep -q xdp && pass detach-on-exit \
		|| fail detach-on-exit "$(ls "$PIN" 2>&1; ip -n "$NS" link show "$DUT_IF")"
else
	fail detach-on-exit "agent did not start"
fi

# ---- a reboot: a fresh agent on fresh pins from the saved file runs the
# rules, lists and defaults that were saved
cp "$TMP/saved.yaml" "$CFG"
if start_agent_args --detach-on-exit; then
	ctl -j rule list | jget 'sorted((r["name"], r["spec"]) for r in j["rules"])' >"$TMP/reboot.rules"
	if cmp -s "$TMP/saved.rules" "$TMP/reboot.rules" && ctl allow list | grep -q 10.62.0.0/16 &&
		ctl block list | grep -q 198.51.100.64/26 &&
		ctl -j status | jget 'j["on_full"] == "fail-closed" and j["malformed"] == "pass" and j["clock"] == "coarse" and not j["adopted"]' | grep -q True; then
		pass config-save-survives-reboot
	else
		fail config-save-survives-reboot "$(diff "$TMP/saved.rules" "$TMP/reboot.rules"; ctl status)"
	fi
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
else
	fail config-save-survives-reboot "agent did not start from $TMP/saved.yaml"
fi

# ---- every rule and list entry deleted at run time stays deleted after a
# restart: the pins are the running set, even empty (not the config again)
if start_agent_args --detach-on-exit; then
	for r in $(ctl -j rule list | jget '" ".join(r["name"] for r in j["rules"])'); do
		ctl rule del "$r" >/dev/null
	done
	ctl allow flush >/dev/null; ctl block flush >/dev/null
	n=$(ctl -j rule list | jget 'len(j["rules"])')
	kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
	if start_agent_args --detach-on-exit; then
		m=$(ctl -j rule list | jget 'len(j["rules"])')
		a=$(ctl -j allow list | jget 'len(j["allow"])')
		[[ $n == 0 && $m == 0 && $a == 0 ]] && ctl -j status | jget 'j["adopted"]' | grep -q True &&
			pass empty-set-survives-restart ||
			fail empty-set-survives-restart "before $n rules, after restart $m rules, $a allow entries: $(tail -3 "$TMP/agent.log")"
		kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
	else
		fail empty-set-survives-restart "agent did not restart"
	fi
else
	fail empty-set-survives-restart "agent did not start"
fi

echo "ctl: $fails failure(s)"
[[ $fails -eq 0 ]]
