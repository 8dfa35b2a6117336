#!/bin/bash
# tests/integration/test_notify.sh - rlagent under a service manager, without
# one: a Python listener on a Unix datagram socket stands in for systemd's
# NOTIFY_SOCKET and a file whose device:inode is in JOURNAL_STREAM for the
# journal.  READY=1 must come only once the control socket answers with the
# config's rules applied and pinned; RELOADING=1 then READY=1 around a
# SIGHUP, an `rlctl config reload` and a refused reload; STOPPING=1 on
# SIGTERM.  Log lines carry <3>/<4>/<6>/<7> when stderr is the "journal"
# and not otherwise.  Protocol: tests/run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
TEST=notify
NS=rlntf$$
HOST_IF=rlnh$$
DUT_IF=rlnn$$
PIN=/sys/fs/bpf/rlntf$$
SOCK=/tmp/rlntf$$.sock
TMP=$(mktemp -d /tmp/rlntf$$.XXXX)
LISTENER=""

cleanup_extra() {
	[[ -n $LISTENER ]] && kill "$LISTENER" 2>/dev/null && wait "$LISTENER" 2>/dev/null
}
trap cleanup EXIT INT TERM

need_root
need_built rlagent rlctl
mount_bpffs
# no addresses: nothing here sends to the agent
# shellcheck disable=SC2119
netns_veth || no_netns

CFG=$TMP/rl.yaml
cat >"$CFG" <<YAML
version: 1
interfaces: [$DUT_IF]
rules:
  - name: udp-all
    proto: udp
    rate: 100/s
  - name: icmp
    proto: icmp
    rate: 5/s
YAML
cp "$CFG" "$TMP/good.yaml"

# The listener: one line per datagram, "<seconds since start> <fields|...>";
# at the first READY=1 it asks the control socket, at once, for the rules
# and looks for the pins (what READY promises), and it stops at STOPPING=1.
python3 - "$TMP/notify.sock" "$TMP/notify.log" "$OUT/rlctl" "$SOCK" "$PIN" <<'PY' &
import os, socket, subprocess, sys, time
path, log, rlctl, sock, pin = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
t0 = time.time()
ready_seen = False
with open(log, "w", buffering=1) as f:
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            f.write("TIMEOUT\n")
            break
        f.write("%.3f %s\n" % (time.time() - t0, msg.replace("\n", "|")))
        if "READY=1" in msg.split("\n") and not ready_seen:
            ready_seen = True
            r = subprocess.run([rlctl, "-S", sock, "-t", "2", "-j", "rule", "list"],
                               capture_output=True, text=True)
            f.write("AT-READY rc=%d pins=%s %s\n" % (r.returncode,
                    os.path.exists(os.path.join(pin, "rl_catalog")), r.stdout.strip()))
        if "STOPPING=1" in msg.split("\n"):
            break
PY
LISTENER=$!
for _ in $(seq 50); do [[ -S $TMP/notify.sock ]] && break; sleep 0.05; done

# stderr goes to a file; JOURNAL_STREAM names that very file
: >"$TMP/agent.log"
journal=$(stat -c '%d:%i' "$TMP/agent.log")
NOTIFY_SOCKET=$TMP/notify.sock JOURNAL_STREAM=$journal nsenter --net="/run/netns/$NS" \
	"$OUT/rlagent" -c "$CFG" --socket "$SOCK" --pin-dir "$PIN" --xdp-mode generic \
	--metrics off --detach-on-exit -v 2>>"$TMP/agent.log" &
AGENT_PID=$!
# wait until the agent is ready (no polling of the socket: READY says so)
for _ in $(seq 100); do grep -q 'READY=1' "$TMP/notify.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.3

# lines: "<t> fields" -> the fields of message N (1-based)
msg() { grep -v '^AT-READY\|^TIMEOUT' "$TMP/notify.log" | sed -n "${1}p" | cut -d' ' -f2-; }
nmsg() { grep -vc '^AT-READY\|^TIMEOUT' "$TMP/notify.log"; }

if [[ $(msg 1) == "READY=1|MAINPID=$AGENT_PID|STATUS=enforcing 2 rules on 1 interface(s)" ]]; then
	pass ready-first-and-only
else
	fail ready-first-and-only "first message '$(msg 1)'; log: $(cat "$TMP/notify.log")"
fi
at=$(grep '^AT-READY' "$TMP/notify.log")
if [[ $at == "AT-READY rc=0 pins=True "* ]] && python3 -c '
import json, sys
j = json.loads(sys.argv[1].split(" ", 3)[3])
sys.exit(sorted(r["name"] for r in j["rules"]) != ["icmp", "udp-all"])' "$at"; then
	pass ready-after-socket-rules-pins
else
	fail ready-after-socket-rules-pins "$at"
fi
[[ $(nmsg) == 1 ]] && pass ready-sent-once || fail ready-sent-once "$(cat "$TMP/notify.log")"

# reload_pair N NAME: messages N and N+1 are RELOADING=1 (with
# MONOTONIC_USEC) and READY=1
reload_pair() {
	local n=$1 name=$2 want=$3 m1 m2
	for _ in $(seq 50); do [[ $(nmsg) -ge $((n + 1)) ]] && break; sleep 0.1; done
	m1=$(msg "$n") m2=$(msg $((n + 1)))
	if [[ $m1 =~ ^RELOADING=1\|MONOTONIC_USEC=[0-9]+\|STATUS=reloading\  && $m2 == "READY=1|STATUS=$want"* ]]; then
		pass "$name"
	else
		fail "$name" "messages $n, $((n + 1)): '$m1' '$m2'"
	fi
}
kill -HUP "$AGENT_PID"
reload_pair 2 sighup-reloading-ready "reloaded; enforcing 2 rules"
ctl config reload >/dev/null
reload_pair 4 ctl-reload-reloading-ready "reloaded; enforcing 2 rules"
printf 'version: 1\nrules:\n  - name: x\n    rate: banana\n' >"$CFG"
kill -HUP "$AGENT_PID"
reload_pair 6 refused-reload-ready "last reload refused: "
cp "$TMP/good.yaml" "$CFG"
# a warning: state-entries cannot change on a reload
sed 's/^rules:/defaults:\n  state-entries: 4096\nrules:/' "$TMP/good.yaml" >"$CFG"
ctl config reload >/dev/null
reload_pair 8 warned-reload-ready "reloaded"

kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
rc=$?
AGENT_PID=""
wait "$LISTENER" 2>/dev/null
LISTENER=""
last=$(msg "$(nmsg)")
[[ $rc == 0 && $last == "STOPPING=1|STATUS=exiting on Terminated" ]] && pass stopping-on-sigterm \
	|| fail stopping-on-sigterm "exit $rc, last message '$last'"

# priorities: info, debug, warning and error lines, each with its own
# prefix, and none without one (libbpf's lines included)
grep -q '^<6>ready: ' "$TMP/agent.log" && grep -q '^<7>debug: ' "$TMP/agent.log" &&
	grep -q '^<4>warning: .*state-entries changed' "$TMP/agent.log" &&
	grep -q '^<3>error: config reload .*refused' "$TMP/agent.log" \
	&& pass journal-priorities || fail journal-priorities "$(head -c 1500 "$TMP/agent.log")"
bad=$(grep -v '^<[3467]>' "$TMP/agent.log" | head -3)
[[ -z $bad ]] && pass journal-every-line-prefixed || fail journal-every-line-prefixed "$bad"
grep -q '^<[3467]>rlagent: ' "$TMP/agent.log" && fail journal-no-name "the journal names the program: $(grep -m1 '^<[3467]>rlagent: ' "$TMP/agent.log")" \
	|| pass journal-no-name

# stderr that is not the stream JOURNAL_STREAM names: plain lines
JOURNAL_STREAM=1:1 "$OUT/rlagent" -c "$CFG.none" 2>"$TMP/plain.log" >/dev/null
if grep -q '^rlagent: error: ' "$TMP/plain.log" && ! grep -q '^<' "$TMP/plain.log"; then
	pass no-journal-plain
else
	fail no-journal-plain "$(cat "$TMP/plain.log")"
fi
: >"$TMP/other.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/other.log") "$OUT/rlagent" -c "$CFG.none" 2>"$TMP/plain.log" >/dev/null
grep -q '^rlagent: error: ' "$TMP/plain.log" && pass journal-stream-elsewhere-plain \
	|| fail journal-stream-elsewhere-plain "$(cat "$TMP/plain.log")"
: >"$TMP/j.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/j.log") "$OUT/rlagent" -c "$CFG.none" 2>>"$TMP/j.log" >/dev/null
grep -q '^<3>error: ' "$TMP/j.log" && pass journal-error-at-start || fail journal-error-at-start "$(cat "$TMP/j.log")"

echo "notify: $fails failure(s)"
[[ $fails -eq 0 ]]
