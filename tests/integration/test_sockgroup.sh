#!/bin/bash
# test_sockgroup.sh - who may use the control socket (issue 8).  Without
# --socket-group the socket is root's alone (0600) and another user cannot
# even connect; with --socket-group GROUP it is 0660 root:GROUP in a 0750
# directory, and a member (here uid and gid 65534, nobody:nogroup, through
# setpriv) may read - rule list, stats, status, top, explain, allow list,
# config dump - but every change, `config check` (which would read any
# file as root) and `config save` are refused with a clear message, while
# root still changes rules.  A socket directory another user could write
# to (mode 0777, not sticky) or one owned by another user is refused at
# start, before anything is created.  `rlctl __complete` (the bash
# completion) lists the running rules to a member.  Protocol: tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUTPUT:-build}
LAB=rlsg$$
PIN=/sys/fs/bpf/rlsg$$
TMP=$(mktemp -d /tmp/rlsg$$.XXXX)
SDIR=$TMP/run
SOCK=$SDIR/rlagent.sock
AGENT_PID=""
fails=0
GID=65534

pass() { echo "PASS sockgroup/$1"; }
fail() { echo "FAIL sockgroup/$1: $2"; fails=$((fails + 1)); }
ctl() { "$OUT/rlctl" -S "$SOCK" "$@"; }
# the same command as nobody:nogroup, no other groups
nobody() { setpriv --reuid=65534 --regid="$GID" --clear-groups "$OUT/rlctl" -S "$SOCK" "$@"; }

# SIGTERM: --detach-on-exit removes the pins, so each start is a fresh one
stop_agent() {
	[[ -n $AGENT_PID ]] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
}
cleanup() {
	stop_agent
	tools/lab.sh down "$LAB" >/dev/null 2>&1
	rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT INT TERM

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP sockgroup: needs root (netns, XDP, setpriv to another user)"
	exit 0
fi
for b in rlagent rlctl; do
	[[ -x $OUT/$b ]] || { echo "FAIL sockgroup/build: $OUT/$b missing (make)"; exit 1; }
done
command -v setpriv >/dev/null || { echo "FAIL sockgroup/setpriv: setpriv (util-linux) is missing"; exit 1; }
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
chmod 0755 "$TMP"       # nobody must reach $SDIR
eval "$(tools/lab.sh up "$LAB")" || { echo "FAIL sockgroup/lab: lab.sh up failed"; exit 1; }

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
	: >"$TMP/agent.log"
	nsenter --net="/run/netns/$DUT_NS" "$OUT/rlagent" -c "$CFG" --socket "$SOCK" \
		--pin-dir "$PIN" --metrics off --xdp-mode generic --detach-on-exit "$@" \
		>>"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 100); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

# ---- root only (the default)
if start_agent; then
	m=$(stat -c '%a %U' "$SOCK")
	[[ $m == "600 root" ]] && pass default-socket-0600 || fail default-socket-0600 "socket is $m"
	nobody status >/dev/null 2>&1
	rc=$?
	[[ $rc -eq 3 ]] && pass default-other-user-cannot-connect || fail default-other-user-cannot-connect "exit $rc"
	stop_agent
	sleep 0.2
else
	fail default-start "$(tail -3 "$TMP/agent.log")"
fi
rm -rf "$SDIR"

# ---- with --socket-group
if start_agent --socket-group "$GID"; then
	m=$(stat -c '%a %g' "$SOCK") d=$(stat -c '%a %g' "$SDIR")
	[[ $m == "660 $GID" && $d == "750 $GID" ]] && pass group-modes ||
		fail group-modes "socket $m, directory $d"
	ok=1 bad=""
	for cmd in "status" "rule list" "stats" "top" "allow list" "block" "config dump" \
		   "explain 10.77.0.1 proto udp dport 9"; do
		# shellcheck disable=SC2086
		nobody $cmd >/dev/null 2>"$TMP/err" || { ok=0; bad+="[$cmd: $(cat "$TMP/err")] "; }
	done
	[[ $ok == 1 ]] && pass member-reads || fail member-reads "$bad"
	# events is a read: the stream opens (and runs until timeout stops it)
	out=$(timeout 2 setpriv --reuid=65534 --regid="$GID" --clear-groups "$OUT/rlctl" -S "$SOCK" events 2>&1)
	rc=$?
	[[ $rc -eq 124 && $out != *"only root"* ]] && pass member-events ||
		fail member-events "exit $rc: $out"
	ok=1 bad=""
	for cmd in "rule add x proto udp rate 1/s" "rule change udp9 rate 9/s" "rule del udp9" \
		   "allow add 192.0.2.1" "block add 192.0.2.2 for 1m" "block del 192.0.2.2" \
		   "config reload" "config save /tmp/rlsg-nope.yaml" "block import /etc/hosts" \
		   "allow import /etc/hosts for 1m" "block flush" "allow flush"; do
		# shellcheck disable=SC2086
		out=$(nobody $cmd 2>&1)
		rc=$?
		[[ $rc -eq 1 && $out == *"only root may run"* ]] || { ok=0; bad+="[$cmd: exit $rc: $out] "; }
	done
	[[ $ok == 1 ]] && pass member-changes-refused || fail member-changes-refused "$bad"
	# config check is rlctl's own job, but a raw request to the agent
	# would make root read any file: refused too
	out=$(setpriv --reuid=65534 --regid="$GID" --clear-groups /usr/bin/python3 - "$SOCK" <<'PY' 2>&1
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(json.dumps({"argv": ["config", "check", "/etc/shadow"]}).encode() + b"\n")
print(s.makefile().readline().strip())
PY
)
	[[ $out == *'"ok":false'*"only root may run"* ]] && pass member-config-check-refused ||
		fail member-config-check-refused "$out"
	r=$(ctl -j rule list | python3 -c 'import json,sys; print(sorted(r["name"] + ":" + r["rate"] for r in json.load(sys.stdin)["rules"]))')
	[[ $r == "['udp9:5/s']" ]] && pass rules-unchanged || fail rules-unchanged "$r"
	ctl rule add byroot proto tcp dport 22 rate 3/s >/dev/null 2>&1 && pass root-changes ||
		fail root-changes "root could not add a rule"
	# completion asks the agent for rule names (a member may: rule list)
	c=$(nobody __complete rule del "" | sort | tr '\n' ' ')
	[[ $c == "byroot udp9 " ]] && pass complete-rule-names || fail complete-rule-names "'$c'"
	c=$(nobody __complete rule change u | tr '\n' ' ')
	[[ $c == "udp9 " ]] && pass complete-rule-prefix || fail complete-rule-prefix "'$c'"
	stop_agent
	sleep 0.2
else
	fail group-start "$(tail -3 "$TMP/agent.log")"
fi
rm -rf "$SDIR"

# ---- unsafe socket directories are refused before anything is created
mkdir -m 0777 "$SDIR"
chmod 0777 "$SDIR"
if start_agent; then
	fail open-dir-refused "the agent started with a socket in a 0777 directory"
	stop_agent
else
	grep -q "writable by no one else" "$TMP/agent.log" && [[ ! -e $PIN ]] &&
		pass open-dir-refused || fail open-dir-refused "$(tail -2 "$TMP/agent.log"); pins: $(ls "$PIN" 2>&1 | head -2)"
fi
chmod 0700 "$SDIR"
chown 65534 "$SDIR"
if start_agent; then
	fail foreign-dir-refused "the agent started with a socket in a directory of uid 65534"
	stop_agent
else
	grep -q "owned by uid 65534" "$TMP/agent.log" && pass foreign-dir-refused ||
		fail foreign-dir-refused "$(tail -2 "$TMP/agent.log")"
fi
rm -rf "$SDIR"

# ---- bad option values
out=$("$OUT/rlagent" -i lo --socket-group no-such-group-$$ 2>&1)
rc=$?
[[ $rc -eq 2 && $out == *"no such group"* ]] && pass bad-group || fail bad-group "exit $rc: $out"

[[ $fails -eq 0 ]]
