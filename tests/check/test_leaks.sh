#!/bin/bash
# tests/check/test_leaks.sh - the leak check of tests/run.sh, on fake tests:
#   leaky.sh  starts a fake agent (a copy of sleep named rlagent) the way
#             issue 12's demo did - a backgrounded shell function whose $!
#             is killed - plus a setsid-detached fake rlgen, and leaves a
#             netns, a pin dir, an interface with a clsact qdisc
#   clean.sh  creates the same things and removes them
#   other.sh  creates a netns named after a live process (this script), as
#             another checkout's test run would
# run.sh must fail leaky.sh once, naming each thing, remove them all, pass
# clean.sh and other.sh, leave alone what existed before it started and
# what other.sh's live owner holds, and keep its summary line.
# Protocol: tests/run.sh (PASS/FAIL/SKIP lines, non-zero exit on failure).
set -u
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUTPUT:-build}
fails=0
pass() { echo "PASS leaks/$1"; }
fail() { echo "FAIL leaks/$1: $2"; fails=$((fails + 1)); }

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP leaks: needs root (netns, bpffs, links)"
	exit 0
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

TMP=$(mktemp -d /tmp/rlleaks$$.XXXX)
PRE=rlpre$$
# alive PID COMM: PID is a live process named COMM (not a reused PID)
alive() { [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]]; }
cleanup() {
	local p
	for p in $(cat "$TMP"/*.pid 2>/dev/null); do
		alive "$p" rlagent || alive "$p" rlgen && kill -9 "$p"
	done
	# and what run.sh should have removed, if it did not
	for p in "$PRE" "rlother$$" $(cat "$TMP/leaky.name" 2>/dev/null); do
		ip netns del "$p" 2>/dev/null
		ip link del "$p" 2>/dev/null
		rm -rf "/sys/fs/bpf/$p"
	done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

mkdir -p "$TMP/bin" "$TMP/logs"
cp "$(command -v sleep)" "$TMP/bin/rlagent"
cp "$(command -v sleep)" "$TMP/bin/rlgen"

# the fake tests record the names they used here
cat >"$TMP/leaky.sh" <<EOF
n=rlleak\$\$
echo "\$n" >"$TMP/leaky.name"
ip netns add "\$n" && mkdir "/sys/fs/bpf/\$n" && ip link add "\$n" type veth peer name "\${n}p" &&
	tc qdisc add dev "\$n" clsact || { echo "FAIL fake/setup: could not create"; exit 1; }
start_agent() { "$TMP/bin/rlagent" 600; echo "agent exited"; }
start_agent &
sub=\$!
for _ in \$(seq 100); do pgrep -P "\$sub" >"$TMP/agent.pid" && break; sleep 0.05; done
kill "\$sub"
( setsid "$TMP/bin/rlgen" 601 & echo \$! >"$TMP/gen.pid" )
echo "PASS fake/leaky"
EOF
cat >"$TMP/clean.sh" <<'EOF'
n=rlclean$$
ip netns add "$n" && mkdir "/sys/fs/bpf/$n" && ip link add "$n" type veth peer name "${n}p" && tc qdisc add dev "$n" clsact
sleep 30 &
s=$!
tc qdisc del dev "$n" clsact; ip link del "$n"; ip netns del "$n"; rmdir "/sys/fs/bpf/$n"
kill "$s"
echo "PASS fake/clean"
EOF
cat >"$TMP/other.sh" <<EOF
ip netns add rlother$$
echo "PASS fake/other"
EOF

# present before run.sh starts: not a leak, not touched
ip netns add "$PRE" && mkdir "/sys/fs/bpf/$PRE" && ip link add "$PRE" type veth peer name "${PRE}p" &&
	tc qdisc add dev "$PRE" clsact || { echo "FAIL leaks/setup: could not create $PRE"; exit 1; }

OUTPUT=$OUT TEST_LOGS=$TMP/logs tests/run.sh "$TMP/leaky.sh" "$TMP/clean.sh" "$TMP/other.sh" >"$TMP/run.out" 2>&1
r=$?
sed 's/^/    /' "$TMP/run.out"
n=$(cat "$TMP/leaky.name" 2>/dev/null)
[[ -n $n ]] || { echo "FAIL leaks/fake-ran: leaky.sh did not run"; exit 1; }

[[ $r -ne 0 ]] && pass run-exit-nonzero || fail run-exit-nonzero "run.sh exited 0"
[[ $(tail -n 1 "$TMP/run.out") == "3 passed, 1 failed, 0 skipped" ]] && pass summary-line \
	|| fail summary-line "last line: $(tail -n 1 "$TMP/run.out")"
line=$(grep '^   FAIL leaky.sh/leaks: ' "$TMP/run.out")
[[ $(grep -c '^   FAIL ' "$TMP/run.out") -eq 1 && -n $line ]] && pass one-fail-line-for-leaky \
	|| fail one-fail-line-for-leaky "$(grep '^   FAIL ' "$TMP/run.out")"
agent=$(cat "$TMP/agent.pid" 2>/dev/null) gen=$(cat "$TMP/gen.pid" 2>/dev/null)
for what in "process-agent:process rlagent (pid $agent)" "process-daemon:process rlgen (pid $gen)" \
	"netns:netns $n" "pin-dir:pin dir /sys/fs/bpf/$n" "interface:interface $n" \
	"qdisc:qdisc clsact ffff: on $n" "says-removed:(removed)"; do
	[[ $line == *"${what#*:}"* ]] && pass "names-${what%%:*}" || fail "names-${what%%:*}" "'${what#*:}' not in: $line"
done
[[ $line == *"$PRE"* || $line == *rlclean* || $line == *rlother* ]] \
	&& fail only-what-leaky-left "$line" || pass only-what-leaky-left

alive "$agent" rlagent || alive "$gen" rlgen && fail processes-ended "pids $agent $gen" || pass processes-ended
[[ ! -e /run/netns/$n ]] && pass netns-removed || fail netns-removed "$n is still there"
[[ ! -e /sys/fs/bpf/$n ]] && pass pin-dir-removed || fail pin-dir-removed "/sys/fs/bpf/$n is still there"
ip link show "$n" >/dev/null 2>&1 && fail interface-removed "$n is still there" || pass interface-removed
[[ -e /run/netns/$PRE && -d /sys/fs/bpf/$PRE ]] && tc qdisc show dev "$PRE" | grep -q clsact \
	&& pass preexisting-untouched || fail preexisting-untouched "$(ls -d /run/netns/$PRE /sys/fs/bpf/$PRE 2>&1)"
[[ -e /run/netns/rlother$$ ]] && pass live-owner-untouched || fail live-owner-untouched "rlother$$ was removed"

echo "leaks: $fails failure(s)"
[[ $fails -eq 0 ]]
