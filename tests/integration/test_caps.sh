#!/bin/bash
# test_caps.sh - least privilege (issue 8): once rlagent has loaded,
# attached and pinned, /proc/PID/status shows only the capabilities it
# still needs - CAP_NET_ADMIN (the TC program for mark rules), plus CAP_BPF
# only on kernels before 6.5, whose bpf() checks it for every map access -
# in the effective, permitted and bounding sets; `rlctl status` and the
# log say the same.  Everything the agent does afterwards still works:
# rule add/change/del, the allow and block lists, a mark rule (TC program
# attached at run time) and its removal, config reload by rlctl and by
# SIGHUP, config save, stats; and --detach-on-exit still removes XDP, TC
# and the pins.  Protocol: tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUTPUT:-build}
LAB=rlcp$$
PIN=/sys/fs/bpf/rlcaps$$
SOCK=/tmp/rlcaps$$.sock
TMP=$(mktemp -d /tmp/rlcaps$$.XXXX)
AGENT_PID=""
fails=0

pass() { echo "PASS caps/$1"; }
fail() { echo "FAIL caps/$1: $2"; fails=$((fails + 1)); }
ctl() { "$OUT/rlctl" -S "$SOCK" "$@"; }

cleanup() {
	[[ -n $AGENT_PID ]] && kill -9 "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	tools/lab.sh down "$LAB" >/dev/null 2>&1
	rm -rf "$PIN" "$SOCK" "$TMP"
}
trap cleanup EXIT INT TERM

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP caps: needs root (netns, XDP, capabilities to drop)"
	exit 0
fi
for b in rlagent rlctl; do
	[[ -x $OUT/$b ]] || { echo "FAIL caps/build: $OUT/$b missing (make)"; exit 1; }
done
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
eval "$(tools/lab.sh up "$LAB")" || { echo "FAIL caps/lab: lab.sh up failed"; exit 1; }
dut() { nsenter --net="/run/netns/$DUT_NS" "$@"; }
gen() { nsenter --net="/run/netns/$GEN_NS" "$@"; }

CFG=$TMP/rl.yaml
cat >"$CFG" <<YAML
version: 1
interfaces: [$DUT_IF]
defaults:
  state-entries: 4096
rules:
  - name: udp9
    proto: udp
    dport: 9
    rate: 5/s
    burst: 5
YAML

start_agent() {
	nsenter --net="/run/netns/$DUT_NS" "$OUT/rlagent" -c "$CFG" --socket "$SOCK" \
		--pin-dir "$PIN" --metrics off --xdp-mode generic "$@" >>"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 100); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
# send N: N UDP datagrams to port 9 of the dut (bounded by N)
send() {
	gen python3 - "$1" "$DUT_IP4" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[1])):
    s.sendto(b"rl-caps-test", (sys.argv[2], 9))
PY
	sleep 0.3
}
capset() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$AGENT_PID/status"; }
rl_filters() { dut tc filter show dev "$DUT_IF" ingress 2>/dev/null | grep -c 'rl_tc_in'; }

start_agent || { echo "FAIL caps/start: rlagent did not come up: $(tail -5 "$TMP/agent.log")"; exit 1; }
pass start

# ---- the reduced set -----------------------------------------------------
NET_ADMIN=$((1 << 12)) BPF=$((1 << 39))
want=$NET_ADMIN
read -r kmaj kmin _ <<<"$(uname -r | tr '.-' '  ')"
old_kernel=$((kmaj < 6 || (kmaj == 6 && kmin < 5)))
for set in CapEff CapPrm CapBnd; do
	got=$((16#$(capset $set)))
	if ((got == want || (old_kernel && got == (want | BPF)))); then
		pass "$set-reduced"
	else
		fail "$set-reduced" "$(capset $set), want $(printf '%016x' $want)$( ((old_kernel)) && echo ' (or with cap_bpf)')"
	fi
done
st=$(ctl -j status | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["capabilities"]))')
eff=$((16#$(capset CapEff)))
exp="cap_net_admin"
((eff & BPF)) && exp="cap_net_admin cap_bpf"
[[ $st == "$exp" ]] && pass status-says || fail status-says "status: '$st', CapEff says '$exp'"
ctl status | grep -q "^capabilities: *$exp" && pass rlctl-status-line || fail rlctl-status-line "$(ctl status | grep -i cap)"
grep -q "least privilege: kept $exp" "$TMP/agent.log" && pass log-line ||
	fail log-line "$(grep -i 'privilege\|capab' "$TMP/agent.log")"

# ---- what the agent does afterwards ---------------------------------------
ctl rule add web proto tcp dport 80 rate 100/s >/dev/null && ctl rule list | grep -q '^web ' &&
	pass rule-add || fail rule-add "$(ctl rule list 2>&1)"
ctl rule change web rate 200/s >/dev/null && ctl rule list | grep '^web ' | grep -q '200/s' &&
	pass rule-change || fail rule-change "$(ctl rule list 2>&1)"
ctl rule del web >/dev/null && ! ctl rule list | grep -q '^web ' &&
	pass rule-del || fail rule-del "$(ctl rule list 2>&1)"
ctl block add 192.0.2.0/24 >/dev/null && ctl allow add 198.51.100.0/24 >/dev/null &&
	ctl block del 192.0.2.0/24 >/dev/null && ctl allow del 198.51.100.0/24 >/dev/null &&
	pass lists || fail lists "allow/block add/del failed"

send 20
drops=$(ctl -j stats | python3 -c 'import json,sys; r=[r for r in json.load(sys.stdin)["rules"] if r["name"]=="udp9"][0]; print(r["drop"]["packets"])')
((drops >= 10)) && pass enforces-and-stats || fail enforces-and-stats "udp9 dropped $drops of 20 (burst 5)"

ctl rule add marked proto udp dport 10 rate 10/s action mark mark-value 0x20 >/dev/null
[[ $(rl_filters) -eq 1 ]] && pass mark-rule-attaches-tc ||
	fail mark-rule-attaches-tc "$(dut tc filter show dev "$DUT_IF" ingress 2>&1; grep -i 'tc\|error' "$TMP/agent.log" | tail -3)"
ctl rule del marked >/dev/null
[[ $(rl_filters) -eq 0 ]] && pass mark-rule-del-detaches-tc ||
	fail mark-rule-del-detaches-tc "$(dut tc filter show dev "$DUT_IF" ingress 2>&1)"

cat >>"$CFG" <<YAML
  - name: icmp
    proto: icmp
    rate: 10/s
YAML
ctl config reload >/dev/null && ctl rule list | grep -q '^icmp ' && pass reload ||
	fail reload "$(ctl config reload 2>&1; ctl rule list)"
cat >>"$CFG" <<YAML
  - name: marked-cfg
    proto: udp
    dport: 11
    rate: 10/s
    action: mark
    mark-value: 0x30
YAML
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do ctl rule list | grep -q '^marked-cfg ' && break; sleep 0.1; done
ctl rule list | grep -q '^marked-cfg ' && [[ $(rl_filters) -eq 1 ]] && pass sighup-reload-with-mark ||
	fail sighup-reload-with-mark "$(ctl rule list; dut tc filter show dev "$DUT_IF" ingress)"
# a reload with a bad xdp-priority is refused, naming it; the rules stay
before=$(ctl rule list)
cp "$CFG" "$TMP/good.yaml"
sed -i 's/^  state-entries: 4096$/  state-entries: 4096\n  xdp-priority: 0/' "$CFG"
out=$(ctl config reload 2>&1)
if [[ $? -ne 0 && $out == *"xdp-priority 0 is not valid"* && $(ctl rule list) == "$before" ]]; then
	pass reload-bad-xdp-priority-refused
else
	fail reload-bad-xdp-priority-refused "$out"
fi
# a valid change is taken at the next fresh attach, with a warning
sed -i 's/^  xdp-priority: 0$/  xdp-priority: 30/' "$CFG"
ctl config reload >/dev/null && grep -q "xdp-attach or xdp-priority changed" "$TMP/agent.log" &&
	pass reload-xdp-priority-warns || fail reload-xdp-priority-warns "$(tail -3 "$TMP/agent.log")"
cp "$TMP/good.yaml" "$CFG"
ctl config save "$TMP/saved.yaml" >/dev/null && "$OUT/rlagent" --check-config "$TMP/saved.yaml" >/dev/null &&
	pass config-save || fail config-save "$(ctl config save "$TMP/saved.yaml" 2>&1)"
# nothing refused for want of a capability since the drop
after=$(sed -n '/least privilege/,$p' "$TMP/agent.log")
grep -qi 'not permitted\|permission denied\|needs cap_' <<<"$after" &&
	fail nothing-refused-after-drop "$(grep -i 'not permitted\|permission denied\|needs cap_' <<<"$after" | head -3)" ||
	pass nothing-refused-after-drop

# ---- --detach-on-exit after the drop --------------------------------------
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
if start_agent --detach-on-exit; then
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; rc=$?; AGENT_PID=""
	if [[ $rc -eq 0 && ! -e $PIN ]] && ! dut ip link show dev "$DUT_IF" | grep -q 'prog/xdp' &&
		[[ $(rl_filters) -eq 0 ]]; then
		pass detach-on-exit
	else
		fail detach-on-exit "exit $rc, pins: $(ls "$PIN" 2>&1 | head -3), $(dut ip link show dev "$DUT_IF" | grep prog), tc $(rl_filters)"
	fi
else
	fail detach-on-exit "rlagent did not come back: $(tail -3 "$TMP/agent.log")"
fi

[[ $fails -eq 0 ]]
