# tests/integration/lib.sh - the setup the integration tests that run one
# rlagent in a network namespace share.  Sourced by them (after they cd to
# the top of the tree), never run by itself: tests/run.sh and `make test`
# run only tests/integration/test_*.sh.
#
# Sourcing it sets OUT (from OUTPUT, default build), fails=0 and
# AGENT_PID="".  The test then sets TEST (the prefix of its PASS/FAIL/SKIP
# names) and its resource names, each carrying its PID:
#   NS PIN SOCK TMP    the agent's namespace, pin dir, control socket and
#                      scratch dir
#   HOST_IF DUT_IF     netns_veth: a veth from the host into $NS
#   SRC_NS SRC_IF      netns_pair: a veth from a second namespace, $SRC_NS
# traps cleanup on EXIT INT TERM, and calls need_root, need_built,
# mount_bpffs, netns_veth or netns_pair, spawn_agent.  What a test starts
# or creates beyond these it removes in a function cleanup_extra, which
# cleanup calls first if the test defines it.
# shellcheck shell=bash
OUT=${OUTPUT:-build}
AGENT_PID="" AGENT_LOG="" HOST_IF="" SRC_NS=""
fails=0

pass() { echo "PASS $TEST/$1"; }
fail() { echo "FAIL $TEST/$1: $2"; fails=$((fails + 1)); }
ctl() { "$OUT/rlctl" -S "$SOCK" "$@"; }
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

# cleanup: the test's cleanup_extra, then the agent (kill -9), $PIN, the
# namespaces and veth, $SOCK and $TMP (kept if KEEP_TMP is set)
cleanup() {
	declare -F cleanup_extra >/dev/null && cleanup_extra
	[[ -n $AGENT_PID ]] && kill -9 "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	rm -rf "$PIN"
	ip netns del "$NS" 2>/dev/null
	[[ -n ${HOST_IF:-} ]] && ip link del "$HOST_IF" 2>/dev/null
	[[ -n ${SRC_NS:-} ]] && ip netns del "$SRC_NS" 2>/dev/null
	rm -f "$SOCK"
	[[ -n ${KEEP_TMP:-} ]] || rm -rf "$TMP"
}

# need_root: the whole test is a SKIP unless it runs as root
need_root() {
	[[ $(id -u) -eq 0 ]] && return 0
	echo "SKIP $TEST: needs root (netns, XDP, bpffs)"
	exit 0
}

# need_built FILE...: FAIL $TEST/build unless each is in $OUT
need_built() {
	local b
	for b in "$@"; do
		[[ -x $OUT/$b ]] || { echo "FAIL $TEST/build: $OUT/$b missing (make $OUT/$b)"; exit 1; }
	done
}

mount_bpffs() { mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf; }

# netns_veth [NET]: namespace $NS and a veth, $HOST_IF on the host and
# $DUT_IF in $NS (up); with NET (the first three octets of a /24) the host
# end gets NET.1 and is up, and $DUT_IF gets NET.2
netns_veth() {
	ip netns add "$NS" &&
	ip link add "$HOST_IF" type veth peer name "$DUT_IF" &&
	ip link set "$DUT_IF" netns "$NS" &&
	if [[ $# -gt 0 ]]; then
		ip addr add "$1.1/24" dev "$HOST_IF" &&
		ip link set "$HOST_IF" up &&
		ip -n "$NS" addr add "$1.2/24" dev "$DUT_IF"
	fi &&
	ip -n "$NS" link set "$DUT_IF" up
}

# netns_pair SRC_ADDR DUT_ADDR: namespaces $NS and $SRC_NS and a veth
# between them, $SRC_IF (SRC_ADDR) and $DUT_IF (DUT_ADDR), up, and lo up
# in $NS
netns_pair() {
	ip netns add "$NS" &&
	ip netns add "$SRC_NS" &&
	ip link add "$SRC_IF" netns "$SRC_NS" type veth peer name "$DUT_IF" netns "$NS" &&
	ip -n "$SRC_NS" addr add "$1" dev "$SRC_IF" &&
	ip -n "$SRC_NS" link set "$SRC_IF" up &&
	ip -n "$NS" addr add "$2" dev "$DUT_IF" &&
	ip -n "$NS" link set "$DUT_IF" up &&
	ip -n "$NS" link set lo up
}

# no_netns: what a test does when netns_veth or netns_pair (or what it
# adds to them) failed
no_netns() {
	echo "FAIL $TEST/netns: could not build the namespace${SRC_NS:+s} and veth"
	exit 1
}

# spawn_agent TRIES CONFIG ARGS...: rlagent -c CONFIG in $NS on $SOCK and
# $PIN, with ARGS, its output appended to $AGENT_LOG (default
# $TMP/agent.log); sets AGENT_PID and waits up to TRIES tenths of a second
# for `rlctl status`.  Fails if the agent died or did not answer.
spawn_agent() {
	local tries=$1 cfg=$2
	shift 2
	nsenter --net="/run/netns/$NS" "$OUT/rlagent" -c "$cfg" --socket "$SOCK" \
		--pin-dir "$PIN" "$@" >>"${AGENT_LOG:-$TMP/agent.log}" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq "$tries"); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
show_agent_log() { echo "---- agent log"; cat "${AGENT_LOG:-$TMP/agent.log}"; }
stop_agent() { kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""; }

# http METHOD PATH [OUTFILE]: a request to the metrics listener on
# 127.0.0.1:$PORT in $NS; prints "STATUS CONTENT-TYPE", body to OUTFILE
http() {
	in_ns python3 -c '
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request(sys.argv[2], sys.argv[3])
r = c.getresponse()
body = r.read()
if len(sys.argv) > 4:
    open(sys.argv[4], "wb").write(body)
print(r.status, r.getheader("Content-Type"))
' "$PORT" "$@" 2>&1
}
