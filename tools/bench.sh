#!/bin/bash
# tools/bench.sh - the benchmark suite behind `make bench` (never part of
# `make test`).  Builds its own lab (tools/lab.sh), floods the dut end of
# one veth with tools/rlgen and measures, side by side on that one veth:
#
#   floor      bare XDP_DROP (build/xdp_floor.bpf.o)
#   floor-touch   XDP_DROP after reading the packet's IPv4 source
#              (build/xdp_floor_touch.bpf.o): what deciding by the source
#              costs before any state
#   floor-lookup  XDP_DROP after one BPF hash lookup of the source
#              (build/xdp_floor_lookup.bpf.o): the stateful floor
#   xdp-pass   bare XDP_PASS (build/xdp_pass.bpf.o)
#   nft        XDP_PASS + nftables netdev ingress dynamic set, limit rate over
#   hashlimit  XDP_PASS + iptables raw PREROUTING hashlimit (srcip)
#   rl-ALGO-deny  rlagent, rule `udp 1/h burst 1 per source` (drops all but
#              the warm-up's first packet of each source: at 10M sources a
#              rate of 10/s would admit 100 Mpps, so the "deny" rows of the
#              large columns would measure the pass path and the stack)
#   rl-ALGO-pass  rlagent, rule with a limit no flood reaches (admits all)
#
# at 1, 1k, 64k, 1M, 10M sources and every-packet-new, in two modes:
#   cost        generator and receiver on CPU 0 (softirq NAPI): the rate is
#               what one CPU does end to end, ns/packet = 1e9/pps;
#   throughput  threaded NAPI on the dut veth, its kthreads pinned to CPU 1,
#               generator on CPU 0: packets the receiver processed per second
#               (rx_packets delta; the rest overflow the veth ring).
# Runs are interleaved: for each size, every repetition runs every config
# once (round robin), so drift hits all configs alike; medians with min/max.
# Every run starts with a warm-up pass that touches each source once, so the
# measured pass sees steady state (tracked sources) - every-new measures the
# insert path.
#
# Then: accuracy (admitted/allowed per algorithm, 2x and 10x offered, 1 and
# 2 CPUs, counted behind rl by tools/rlcount), rule-update latency (probe on
# the pinned verdict counters), time to load 10k rules, memory per tracked
# source, a profile of the deny path, and the machine's facts.
#
#   tools/bench.sh [--quick] [--out DIR]
#   BENCH_REPS=N (default 5, --quick 1), BENCH_SIZES="1 1000 new",
#   BENCH_CONFIGS="floor rl-tb-deny" (subset), BENCH_SECS (flood cap, s),
#   BENCH_KEEP=1 keeps the scratch directory.
# Output: DIR/results.json and DIR/results.md (DIR defaults to bench/).
# Everything stays in namespaces named rb$$-*; a trap removes them, the
# agent, its pins and the scratch files, on success and on failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
OUT=${OUTPUT:-build}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
export OUTPUT=$OUT

QUICK=0
RESDIR=$ROOT/bench
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) QUICK=1 ;;
	--out) RESDIR=${2:?--out needs a directory}; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done

if [[ $QUICK == 1 ]]; then
	REPS=${BENCH_REPS:-1}
	SIZES=${BENCH_SIZES:-"1 1000 65536 new"}
	SECS=${BENCH_SECS:-0.3}
	ACC_REPS=1
	ACC_SECS=1.4
	LAT_REPS=3
else
	REPS=${BENCH_REPS:-5}
	SIZES=${BENCH_SIZES:-"1 1000 65536 1000000 10000000 new"}
	SECS=${BENCH_SECS:-0.5}
	ACC_REPS=$(( REPS < 3 ? REPS : 3 ))
	ACC_SECS=2.4
	LAT_REPS=10
fi
ALGOS="tb lb fw sw sl"
ALL_CONFIGS="floor floor-touch floor-lookup xdp-pass nft hashlimit"
for a in $ALGOS; do ALL_CONFIGS+=" rl-$a-deny"; done
for a in $ALGOS; do [[ $a == sl ]] || ALL_CONFIGS+=" rl-$a-pass"; done
CONFIGS=${BENCH_CONFIGS:-$ALL_CONFIGS}
COUNT=${BENCH_COUNT:-20000000}          # packet cap of a measured pass
WARM_SECS=${BENCH_WARM_SECS:-30}        # time cap of a warm-up pass
SRC_BASE=100.0.0.0/8                    # 16M sources, clear of the lab's 10.77/10.78
# the deny rule: one packet per source per hour, the same for nft and
# hashlimit, so that no source earns a token between two visits of the flood
# at any column (10M sources at 1 Mpps: a visit every 10 s)
DENY_RATE=1/h DENY_BURST=1 NFT_DENY='1/hour burst 1 packets' IPT_DENY=(--hashlimit-above 1/hour --hashlimit-burst 1)
PASS_RATE=60000000/s PASS_BURST=60000000   # above any flood; within the sliding window's 26-bit counts

max_size=1
for s in $SIZES; do
	[[ $s == new ]] && continue
	(( s > max_size )) && max_size=$s
done
# rl_st4/rl_st6 entries: each size runs on the smallest of two tables that
# holds it - the default config's 1M sources up to 1M, 16M above (and for
# every-new when a size above 1M is measured) - and floor-lookup's hash is
# sized the same, so neither pays at 1k sources for a table ten million
# sources need (its page walks: docs/ARCHITECTURE.md).  BENCH_STATE_ENTRIES
# fixes one size for every column.  The tables are preallocated, so this is
# also what the agent's start-up costs.
STATE_ENTRIES_MAX=$(( max_size > 1048576 ? 16777216 : 1048576 ))
size_entries() { # SIZE: the state-entries its column runs with
	if [[ -n ${BENCH_STATE_ENTRIES:-} ]]; then echo "$BENCH_STATE_ENTRIES"
	elif [[ $1 == new ]]; then echo "$STATE_ENTRIES_MAX"
	elif (( $1 > 1048576 )); then echo 16777216
	else echo 1048576; fi
}
STATE_ENTRIES=$(size_entries "$(echo $SIZES | awk '{print $1}')")

LAB=rb$$
PIN=/sys/fs/bpf/rlbench$$
BPIN=/sys/fs/bpf/rlbenchp$$              # our own pins (bpffs allows no dots)
RLPROG=$BPIN/rl_xdp
TRPROG=$BPIN/testrun
FLPROG=$BPIN/floor_lookup                # floor-lookup, loaded once per size
TMP=$(mktemp -d /tmp/rlbench.XXXXXX)
RAW=$TMP/raw.jsonl
AGENT_PID=""
BG_PIDS=()
T_START=$(date +%s)

log() { printf '[%5ds] %s\n' $(( $(date +%s) - T_START )) "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	if [[ -n $AGENT_PID ]]; then
		kill -TERM "$AGENT_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$AGENT_PID" 2>/dev/null
	fi
	sysctl -qw kernel.bpf_stats_enabled=0 2>/dev/null
	"$ROOT/tools/lab.sh" down "$LAB" >/dev/null 2>&1
	rm -rf "$PIN" "$BPIN"
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "scratch kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (namespaces, XDP, nftables)"
for b in rlagent rlctl rlgen rlcount xdp_floor.bpf.o xdp_floor_touch.bpf.o xdp_floor_lookup.bpf.o xdp_floor_lookup_1m.bpf.o xdp_pass.bpf.o; do
	[[ -e $OUT/$b ]] || die "$OUT/$b is missing: run 'make' first"
done
for t in nft iptables bpftool python3 nsenter; do
	command -v "$t" >/dev/null || die "$t is missing (make bench installs the deps)"
done
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || die "no bpffs on /sys/fs/bpf"

eval "$("$ROOT/tools/lab.sh" up "$LAB")" || die "lab.sh up $LAB failed"

dut() { nsenter --net="/run/netns/$DUT_NS" -- "$@"; }
genns() { nsenter --net="/run/netns/$GEN_NS" -- "$@"; }
# sysfs of the dut namespace needs `ip netns exec` (it remounts /sys)
dut_sys() { ip netns exec "$DUT_NS" sh -c "$1"; }
rx_packets() { dut_sys "cat /sys/class/net/$DUT_IF/statistics/rx_packets"; }
ctl() { "$OUT/rlctl" -S "$TMP/agent.sock" "$@"; }
jget() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# ---------------------------------------------------------------- facts
machine_facts() {
	python3 - "$OUT" <<'PY'
import json, os, re, subprocess, sys, gzip
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
cpu = ""
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"): cpu = l.split(":", 1)[1].strip(); break
hz = ""
try:
    for l in gzip.open("/proc/config.gz", "rt"):
        if l.startswith("CONFIG_HZ="): hz = l.strip().split("=")[1]
except Exception:
    pass
if not hz:
    hz = sh(f"grep -h '^CONFIG_HZ=' /boot/config-{os.uname().release} | cut -d= -f2")
mem = sh("awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo")
jit = sh("cat /proc/sys/net/core/bpf_jit_enable")
facts = {
    "kernel": os.uname().release,
    "cpu_model": cpu,
    "cpus": os.cpu_count(),
    "mem_mib": int(mem) if mem else None,
    "clocksource": sh("cat /sys/devices/system/clocksource/clocksource0/current_clocksource"),
    "hz": int(hz) if hz else None,
    "bpf_jit_enable": int(jit) if jit else None,
    "jit_always_on": "CONFIG_BPF_JIT_ALWAYS_ON=y" in sh("zcat /proc/config.gz 2>/dev/null | grep JIT_ALWAYS"),
    "virt": sh("systemd-detect-virt 2>/dev/null") or sh("grep -q hypervisor /proc/cpuinfo && echo vm"),
    "libbpf": sh("pkg-config --modversion libbpf"),
    "clang": sh("clang --version | head -1"),
    "nft": sh("nft -v"),
    "iptables": sh("iptables -V"),
    "git_commit": sh("git rev-parse --short HEAD"),
    "date": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
    "load_at_start": sh("cat /proc/loadavg"),
}
print(json.dumps(facts))
PY
}

# ---------------------------------------------------------------- agent
# bench.yaml with `clock: $1` (precise or coarse)
write_config() {
	cat >"$TMP/bench.yaml" <<EOF
version: 1
interfaces:
  - $DUT_IF
defaults:
  state-entries: $STATE_ENTRIES
  clock: $1
rules:
  - name: bench
    proto: udp
    rate: $DENY_RATE
    burst: $DENY_BURST
    per: source
EOF
}
# set_clock precise|coarse: the running agent re-reads bench.yaml (its rule
# back at the deny rate)
set_clock() {
	write_config "$1"
	ctl config reload >/dev/null || die "rlctl config reload (clock: $1) failed"
}
start_agent() {
	write_config precise
	local t0=$SECONDS gc=()
	# the state GC is off: its passes over a 16M-entry map would land on
	# the CPUs being measured (it only reclaims idle sources anyway)
	"$OUT/rlagent" --help 2>&1 | grep -q -- --gc-interval && gc=(--gc-interval 0)
	# nsenter directly, not dut(): $! of a backgrounded function is its
	# subshell, and killing that leaked the agent
	nsenter --net="/run/netns/$DUT_NS" -- "$OUT/rlagent" -c "$TMP/bench.yaml" --socket "$TMP/agent.sock" \
		--pin-dir "$PIN" "${gc[@]}" --detach-on-exit >>"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 1200); do
		ctl status >/dev/null 2>&1 && break
		kill -0 "$AGENT_PID" 2>/dev/null || { cat "$TMP/agent.log" >&2; die "rlagent exited"; }
		sleep 0.05
	done
	ctl status >/dev/null 2>&1 || die "rlagent not ready after 60 s"
	AGENT_START_S=$(( SECONDS - t0 ))
	# The agent attached rl_xdp with a bpf_link.  To give the veth to the
	# baselines and back without restarting it (16M-entry maps take seconds
	# to preallocate), pin the program, detach the link and attach the same
	# program through netlink when an rl config runs: same program, same maps.
	local link prog
	link=$(ls "$PIN"/link_* 2>/dev/null | head -1)
	[[ -n $link ]] || die "rlagent pinned no XDP link in $PIN"
	prog=$(bpftool -j link show pinned "$link" | jget 'j["prog_id"]') || die "reading $link"
	RL_PROG_ID=$prog
	mkdir -p "$BPIN" && bpftool prog pin id "$prog" "$RLPROG" || die "pinning rl_xdp (id $prog)"
	bpftool link detach pinned "$link" || die "detaching $link"
	log "rlagent up in ${AGENT_START_S}s (state-entries $STATE_ENTRIES), rl_xdp prog id $prog"
}

# A fresh agent on fresh maps: the matrix's 10M-source floods fill the
# sliding-log hashes (not swept with the GC off), and the accuracy runs need
# every source to have a log of its own.
restart_agent_fresh() {
	xdp_off
	kill -TERM "$AGENT_PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	rm -rf "$PIN" "$RLPROG"
	start_agent
}

rl_rule() { # ALGO RATE BURST: the bench rule as one change
	local algo
	case $1 in
	tb) algo=token-bucket ;; lb) algo=leaky-bucket ;; fw) algo=fixed-window ;;
	sw) algo=sliding-window ;; sl) algo=sliding-log ;;
	esac
	ctl rule change bench algo "$algo" rate "$2" burst "$3" >/dev/null ||
		die "rlctl rule change bench algo $algo rate $2 burst $3 failed"
}

# ---------------------------------------------------------------- configs
xdp_off() { dut ip link set dev "$DUT_IF" xdpdrv off 2>/dev/null; return 0; }
xdp_obj() { xdp_off; dut ip link set dev "$DUT_IF" xdpdrv obj "$1" sec "$2" || die "attaching $1 sec $2"; }
xdp_rl() { xdp_off; dut ip link set dev "$DUT_IF" xdpdrv pinned "$RLPROG" || die "attaching rl_xdp"; }

# The baselines' state (nft set elements with their limit, the hashlimit
# table) lives as long as the size does: for each run only the hook is
# added and removed (nft: the base chain; iptables: the PREROUTING base
# chain with its jump), so other configs never pay for an empty hook and
# the baselines are warmed once per size, as rl (whose maps persist) is.
# Their garbage collectors are held off for the run (gc-interval 1h): by
# default each scans its whole table every second or so from a kworker,
# which at 10M entries took most of a CPU from whatever config ran next.
nft_setup() {
	dut nft -f - <<EOF || die "loading the nftables baseline"
table netdev rlbench {
	set src4 {
		type ipv4_addr; size 16777216; flags dynamic,timeout; timeout 30m; gc-interval 1h;
	}
}
EOF
}
nft_on() {
	dut nft -f - <<EOF || die "hooking the nftables baseline"
table netdev rlbench {
	chain ingress {
		type filter hook ingress device "$DUT_IF" priority 0; policy accept;
		ip protocol udp update @src4 { ip saddr limit rate over $NFT_DENY } drop
	}
}
EOF
}
nft_off() { dut nft delete chain netdev rlbench ingress 2>/dev/null; return 0; }
nft_reset() { dut nft delete table netdev rlbench 2>/dev/null; return 0; }
ipt_setup() {
	dut iptables -t raw -N RLB && dut iptables -t raw -A RLB -p udp -m hashlimit \
		"${IPT_DENY[@]}" --hashlimit-mode srcip \
		--hashlimit-name rlbench --hashlimit-htable-size 1048576 \
		--hashlimit-htable-max 16777216 --hashlimit-htable-expire 1800000 \
		--hashlimit-htable-gcinterval 3600000 -j DROP ||
		die "loading the hashlimit baseline"
}
ipt_on() { dut iptables -t raw -A PREROUTING -j RLB || die "hooking the hashlimit baseline"; }
ipt_off() {
	dut iptables -t raw -D PREROUTING -j RLB 2>/dev/null
	dut nft delete chain ip raw PREROUTING 2>/dev/null
	return 0
}
ipt_reset() { ipt_off; dut nft delete table ip raw 2>/dev/null; return 0; }

config_on() {
	case $1 in
	floor) xdp_obj "$OUT/xdp_floor.bpf.o" xdp_drop ;;
	floor-touch) xdp_obj "$OUT/xdp_floor_touch.bpf.o" xdp_drop_touch ;;
	floor-lookup) # its hash as large as rl's tables of this column; the
		# program (and so its hash) is pinned for the whole size, so that it
		# is warmed like rl's state and measures lookups, not inserts
		if [[ ! -e $FLPROG ]]; then
			local o=$OUT/xdp_floor_lookup_1m.bpf.o
			(( STATE_ENTRIES > 1048576 )) && o=$OUT/xdp_floor_lookup.bpf.o
			mkdir -p "$BPIN" && bpftool prog load "$o" "$FLPROG" type xdp >/dev/null ||
				die "loading $o"
		fi
		xdp_off; dut ip link set dev "$DUT_IF" xdpdrv pinned "$FLPROG" || die "attaching floor-lookup" ;;
	xdp-pass) xdp_obj "$OUT/xdp_pass.bpf.o" xdp ;;
	nft) xdp_obj "$OUT/xdp_pass.bpf.o" xdp; nft_on ;;
	hashlimit) xdp_obj "$OUT/xdp_pass.bpf.o" xdp; ipt_on ;;
	rl-*-deny) a=${1#rl-}; rl_rule "${a%-deny}" "$DENY_RATE" "$DENY_BURST"; xdp_rl ;;
	rl-*-pass) a=${1#rl-}; rl_rule "${a%-pass}" "$PASS_RATE" "$PASS_BURST"; xdp_rl ;;
	*) die "unknown config $1" ;;
	esac
}
config_off() {
	case $1 in
	nft) nft_off ;;
	hashlimit) ipt_off ;;
	esac
	xdp_off
}

# ---------------------------------------------------------------- floods
# quiet: this machine is shared; wait (up to 10 s) while someone else's
# flood or load generator runs, so it does not land in our numbers.
quiet() {
	local n=0
	while { pgrep -x rlgen || pgrep -x wrk || pgrep -x hping3; } >/dev/null && (( n < 100 )); do
		sleep 0.1
		n=$((n + 1))
	done
	(( n > 0 )) && echo "$n" >>"$TMP/quiet.waits"
	return 0
}
napi_threads() { # pids of the dut veth's NAPI kthreads
	ps -eo pid=,comm= | awk -v p="napi/$DUT_IF" 'index($2, p) == 1 {print $1}'
}

# rlgen_run OUTFILE ARGS...: one flood from the generator namespace
rlgen_run() {
	local f=$1
	shift
	genns "$OUT/rlgen" -j -i "$GEN_IF" --dst-mac "$DUT_MAC" --src-mac "$GEN_MAC" -4 \
		--dst "$DUT_IP4" --src-base "$SRC_BASE" --proto udp --dport 9 "$@" >"$f" 2>"$f.err"
}

src_args() { # SIZE -> rlgen source arguments
	if [[ $1 == new ]]; then echo "--every-new"; else echo "-n $1"; fi
}

# measure CONFIG SIZE REP MODE: one measured pass, one JSON line to $RAW
measure() {
	local cfg=$1 size=$2 rep=$3 mode=$4 rx0 rx1 f=$TMP/m.json p
	if [[ $mode == tput ]]; then
		dut_sys "echo 1 > /sys/class/net/$DUT_IF/threaded" || die "threaded NAPI on $DUT_IF"
		for p in $(napi_threads); do taskset -pc 1 "$p" >/dev/null; done
		sleep 0.05
	fi
	quiet
	local sn0=0 sn1=0
	[[ $cfg == rl-* ]] && sn0=$(glob_ctr state_new)
	rx0=$(rx_packets)
	# shellcheck disable=SC2046
	rlgen_run "$f" $(src_args "$size") --count "$COUNT" --duration "$SECS" --cpus 0 ||
		{ log "rlgen failed ($cfg $size $mode): $(tail -2 "$f.err")"; [[ $mode == tput ]] && dut_sys "echo 0 > /sys/class/net/$DUT_IF/threaded"; return 1; }
	sleep 0.02
	rx1=$(rx_packets)
	[[ $cfg == rl-* ]] && sn1=$(glob_ctr state_new)
	[[ $mode == tput ]] && dut_sys "echo 0 > /sys/class/net/$DUT_IF/threaded"
	python3 - "$f" "$cfg" "$size" "$rep" "$mode" "$rx0" "$rx1" "$((sn1 - sn0))" "$STATE_ENTRIES" >>"$RAW" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
cfg, size, rep, mode, rx0, rx1, state_new, entries = sys.argv[2:10]
rx = int(rx1) - int(rx0)
secs = float(g["seconds"])
rate = g["pps"] if mode == "cost" else rx / secs
print(json.dumps({"kind": "matrix", "config": cfg, "size": size, "rep": int(rep), "mode": mode,
                  "pps": rate, "sent": g["packets"], "seconds": secs, "rx": rx,
                  "tx_dropped": g.get("dev_tx_dropped", 0), "state_new": int(state_new),
                  "state_entries": int(entries)}))
PY
}

# rewarm CONFIG SIZE: rl's configs switch the one bench rule between
# algorithms and rates, and a change of algorithm or of the rate's period
# restarts every source's state drained: its next packet re-initialises
# the word (a call, a precise clock read and a compare-and-swap instead of
# the inline denial) and, for a pass config, is dropped. From 64k sources
# on, a measured pass visits most sources once or not at all, so it would
# measure that one-off transition instead of the steady state: touch every
# source once more after each change (not measured; nft and hashlimit
# never change their rule).  A window algorithm's drained state lasts
# until its window ends, at any size: its pass configs re-warm at every
# size and then wait two windows (of 1 s), or their pass row would measure
# denials.
JUST_WARMED=0
rewarm() {
	local cfg=$1 size=$2
	[[ $cfg == rl-* && $size != new ]] || return 0
	(( size >= 65536 )) || [[ $cfg == rl-fw-pass || $cfg == rl-sw-pass ]] || return 0
	[[ $JUST_WARMED == 1 ]] && return 0   # warm() just touched every source
	touch_all "$TMP/rewarm.json" "$size" 0 || log "re-warm failed: $(tail -2 "$TMP/rewarm.json.err")"
}
window_roll() {
	[[ $2 != new ]] || return 0   # every-new sources start fresh
	case $1 in rl-fw-pass|rl-sw-pass) sleep 2.1 ;; esac
}

# touch_all OUT SIZE MIN_SECS: one packet from each of SIZE sources, from
# both CPUs.  Every new source passes (its first packet is within the
# burst) and goes up the stack: ~0.1-0.3 Mpps, so 10M sources need well
# over 30 s; the time cap grows with the size (at least MIN_SECS).
touch_all() {
	local out=$1 size=$2 cap=$(( $2 / 40000 + 10 ))
	(( cap > $3 )) || cap=$3
	# shellcheck disable=SC2046
	rlgen_run "$out" $(src_args "$size") --count "$size" --duration "$cap" --cpus 0,1
}

# warm CONFIG SIZE: once per size and state owner (rl's maps, the nft set,
# the hashlimit table), touch every source once, so measured passes see
# tracked sources; floor and xdp-pass keep no state.
declare -A WARMED=()
warm() {
	local cfg=$1 size=$2 owner
	[[ $size == new ]] && return 0
	case $cfg in nft|hashlimit|floor-lookup) owner=$cfg ;; rl-*) owner=rl ;; *) return 0 ;; esac
	[[ -n ${WARMED[$owner:$size]:-} ]] && return 0
	WARMED[$owner:$size]=1
	JUST_WARMED=1
	touch_all "$TMP/warm.json" "$size" "$WARM_SECS" || log "warm-up failed: $(tail -2 "$TMP/warm.json.err")"
	python3 -c 'import json,sys; g=json.load(open(sys.argv[1])); sys.exit(g["packets"] < int(sys.argv[2]))' \
		"$TMP/warm.json" "$size" 2>/dev/null ||
		log "warm-up of $cfg at $size sources stopped at its time cap before touching every source"
	python3 - "$TMP/warm.json" "$cfg" "$size" >>"$RAW" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
print(json.dumps({"kind": "warm", "config": sys.argv[2], "size": sys.argv[3], "packets": g["packets"],
                  "seconds": g["seconds"], "pps": g["pps"]}))
PY
}

run_matrix() {
	local size rep cfg order n_cfg i
	read -r -a order <<<"$CONFIGS"
	n_cfg=${#order[@]}
	for size in $SIZES; do
		if [[ $(size_entries "$size") != "$STATE_ENTRIES" ]]; then
			STATE_ENTRIES=$(size_entries "$size")
			log "matrix: $size sources run on $STATE_ENTRIES-entry tables"
			restart_agent_fresh
		fi
		nft_reset; ipt_reset; nft_setup; ipt_setup
		rm -f "$FLPROG"   # a fresh floor-lookup hash for each size
		for rep in $(seq 1 "$REPS"); do
			log "matrix: $size sources, repetition $rep/$REPS"
			# rotate the order every repetition: no config always runs first
			for i in $(seq 0 $(( n_cfg - 1 ))); do
				cfg=${order[$(( (i + rep - 1) % n_cfg ))]}
				config_on "$cfg"
				JUST_WARMED=0
				warm "$cfg" "$size"
				rewarm "$cfg" "$size"
				window_roll "$cfg" "$size"
				measure "$cfg" "$size" "$rep" cost
				measure "$cfg" "$size" "$rep" tput
				config_off "$cfg"
			done
		done
		nft_reset; ipt_reset
	done
}

# ---------------------------------------------------------------- accuracy
# One flood at K x the limit from 100 sources on CPUS, counted per source
# behind rl by rlcount (TC ingress, independent of rl's own counters).  The
# flood is started so that it begins ~0.3 s after a CLOCK_MONOTONIC second
# boundary (bpf_ktime_get_ns, which the window algorithms index by), so its
# first and last windows are both well covered.  Two references per run:
#   bound  token/leaky bucket burst + rate*t (t = the generator's own
#          timing), windows rate * windows touched - what may be admitted;
#   exact  the algorithm replayed on the offered arrivals (paced, uniform)
#          - what an exact implementation admits; only this one is fair
#          to the window algorithms when the offered load is only 2x.
rule_seen() { # RULE: packets that met the rule's limit (every verdict)
	ctl -j stats 2>/dev/null | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("rules", []):
    if r.get("name") == sys.argv[1]:
        print(sum(r[v]["packets"] for v in ("pass", "drop", "monitor", "block", "mark") if v in r)); break
else:
    print(0)' "$1" 2>/dev/null || echo 0
}

glob_ctr() { # NAME: a global counter's packets from rlctl -j stats
	ctl -j stats 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin).get("global", {}); v = j.get(sys.argv[1], 0)
print(v.get("packets", 0) if isinstance(v, dict) else v)' "$1" 2>/dev/null || echo 0
}

run_accuracy() {
	local algo k cpus rep rate burst nsrc=100 i=0 name total cnt cpid f a lb0 lb1 seen t0 t1 startup=0.01
	for rep in $(seq 1 "$ACC_REPS"); do
	# tbc: the token bucket with `clock: coarse` (the reload puts the
	# bench rule back; it is deleted below like the other rules)
	for algo in $ALGOS tbc; do
		if [[ $algo == sl ]]; then rate=30; burst=30; else rate=1000; burst=100; fi
		case $algo in
		tb) a=token-bucket ;; lb) a=leaky-bucket ;; fw) a=fixed-window ;;
		sw) a=sliding-window ;; sl) a=sliding-log ;;
		tbc) a=token-bucket; set_clock coarse ;;
		esac
		for k in 2 10; do
			for cpus in 0 0,1; do
				i=$((i + 1))
				name=acc$i
				ctl rule del bench >/dev/null 2>&1
				ctl rule del "acc$((i - 1))" >/dev/null 2>&1
				# a new rule: fresh state for every source (full burst)
				ctl rule add "$name" proto udp rate "$rate/s" burst "$burst" algo "$a" \
					per source action drop >/dev/null || die "rlctl rule add $name failed"
				xdp_rl
				total=$(( k * rate * nsrc ))
				cnt=$(python3 -c "print(int($total * $ACC_SECS))")
				f=$TMP/acc
				rm -f "$f.ready"
				nsenter --net="/run/netns/$DUT_NS" -- "$OUT/rlcount" -i "$DUT_IF" --drop --duration 60 \
					--ready-file "$f.ready" >"$f.count.json" 2>"$f.count.err" &
				cpid=$!
				BG_PIDS+=("$cpid")
				for _ in $(seq 100); do [[ -e $f.ready ]] && break; sleep 0.05; done
				[[ -e $f.ready ]] || die "rlcount did not start: $(cat "$f.count.err")"
				quiet
				lb0=$(glob_ctr lock_busy)
				# start so that the first packet leaves ~0.3 s into a second;
				# one process aligns, runs rlgen and stamps its end
				read -r t0 t1 < <(python3 - "$f.gen.json" "$cpus" "$nsrc" "$total" "$cnt" "$ACC_SECS" "$startup" \
					"$GEN_NS" "$OUT/rlgen" "$GEN_IF" "$DUT_MAC" "$GEN_MAC" "$DUT_IP4" <<'PY'
import subprocess, sys, time
out, cpus, nsrc, total, cnt, secs, startup, ns, rlgen, gif, dmac, smac, dst = sys.argv[1:14]
t = time.monotonic()
time.sleep((0.3 - float(startup) - t) % 1.0)
t0 = time.monotonic()
with open(out, "w") as o, open(out + ".err", "w") as e:
    subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "--", rlgen, "-j", "-i", gif, "--dst-mac", dmac,
                    "--src-mac", smac, "-4", "--dst", dst, "--proto", "udp", "--dport", "9",
                    "-n", nsrc, "--src-base", "198.18.0.0/16", "--rate", total, "--pace-ms", "50", "--count", cnt,
                    "--duration", str(float(secs) + 2), "--cpus", cpus], stdout=o, stderr=e)
print(t0, time.monotonic())
PY
)
				[[ -s $f.gen.json ]] || log "rlgen failed in accuracy: $(tail -2 "$f.gen.json.err")"
				sleep 0.1
				kill -INT "$cpid" 2>/dev/null
				wait "$cpid"
				xdp_off
				lb1=$(glob_ctr lock_busy)
				seen=$(rule_seen "$name")
				startup=$(python3 -c "import json; g=json.load(open('$f.gen.json')); print(max(0.002, min(0.8, $t1 - $t0 - g['seconds'] - 0.002)))" 2>/dev/null || echo 0.01)
				python3 - "$f.count.json" "$f.gen.json" "$algo" "$k" "$cpus" "$rate" "$burst" \
					"$t0" "$t1" "$rep" "$nsrc" "$lb0" "$lb1" "$seen" >>"$RAW" <<'PY'
import json, math, sys
cnt = json.load(open(sys.argv[1])); gen = json.load(open(sys.argv[2]))
algo, k, cpus = sys.argv[3], int(sys.argv[4]), sys.argv[5]
rate, burst, t0, t1, rep, nsrc = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9]), int(sys.argv[10]), int(sys.argv[11])
lock_busy = int(sys.argv[13]) - int(sys.argv[12])
seen = int(sys.argv[14])       # packets that reached rl's rule (every verdict)
t = float(gen["seconds"])
ncpu = len(cpus.split(","))
per = [s["packets"] for s in cnt.get("per_source", []) if s["src"].startswith("198.18.")]
# the flood ran [end - t, end]; end ~ when rlgen returned (its exit is ~ms)
end = t1 - 0.002
start = end - t
windows = math.floor(end) - math.floor(start) + 1
offered = gen["packets"] / nsrc
gcra = algo in ("tb", "lb", "tbc")     # tbc: the token bucket, clock: coarse
if gcra:
    bound = burst + rate * t
    bound_ref = "burst + rate*t"
else:
    bound = rate * windows
    bound_ref = "rate * windows touched"
def replay(start, n, gap):
    """What an exact limiter admits of n arrivals gap s apart from start."""
    P = 1.0
    adm = 0
    tok = float(burst); last = start
    cur_w = None; cnt_w = 0; prev_w = 0; log = []
    for j in range(n):
        now = start + j * gap
        if gcra:
            tok = min(float(burst), tok + (now - last) * rate); last = now
            if tok >= 1 - 1e-9: tok -= 1; adm += 1
        elif algo == "fw":
            w = math.floor(now / P)
            if w != cur_w: cur_w, cnt_w = w, 0
            if cnt_w < rate: cnt_w += 1; adm += 1
        elif algo == "sw":
            w = math.floor(now / P)
            if cur_w is None: cur_w = w
            if w == cur_w + 1: prev_w, cnt_w, cur_w = cnt_w, 0, w
            elif w > cur_w + 1: prev_w, cnt_w, cur_w = 0, 0, w
            weight = (P - (now - w * P)) / P
            if prev_w * weight + cnt_w + 1 <= rate: cnt_w += 1; adm += 1
        elif algo == "sl":
            log = [x for x in log if x > now - P]
            if len(log) < rate: log.append(now); adm += 1
    return adm
# exact replay on the generator's timing: one source, arrivals evenly
# spaced over [start, end) - off by the generator's start-up and by
# whatever the veth dropped before rl
n = int(round(offered)); gap = t / n if n else 1
exact_gen = min(replay(start, n, gap), offered)
# exact replay on what rl saw: each source's arrivals at the rate they
# reached rl (the rule's own packet count over the flood: the generator
# may send less than asked, and the veth drops what overflows its ring),
# from its first admitted packet (the first always passes: a new rule)
# to its latest, stamped by rlcount (CLOCK_MONOTONIC, as rl's clock)
srcs = [s for s in cnt.get("per_source", []) if s["src"].startswith("198.18.")]
arr = seen / nsrc / t if t > 0 else 0
if srcs and arr > 0 and all(s.get("first_ns") for s in srcs):
    ex = 0
    g = 1.0 / arr
    for s in srcs:
        a, b = s["first_ns"] / 1e9, s["last_ns"] / 1e9
        if arr >= 1.5 * rate and gcra:
            # over the limit all along: an exact bucket admits its burst,
            # then one packet per 1/rate, whatever the arrivals' pattern
            ex += burst + math.floor(rate * (b - a))
        elif arr >= 1.5 * rate and algo == "fw" and windows == math.floor(b) - math.floor(a) + 1:
            # every window got more than its limit (the first and last
            # hold >= 0.3 s of flood): an exact window admits its limit
            ex += rate * windows
        else:
            # the generator sends in 50 ms bursts: this replay of evenly
            # spaced arrivals is what the sliding algorithms are held to
            ex += replay(a, int((b - a) / g) + 1, g)
    exact = ex / len(srcs)
    exact_ref = "seen"
else:
    exact = exact_gen
    exact_ref = "generator"
admitted = sum(per)
print(json.dumps({"kind": "accuracy", "algo": algo, "offered_x": k, "cpus": ncpu, "rep": rep,
                  "sources": nsrc, "sources_seen": len(per), "rate": rate, "burst": burst,
                  "seconds": t, "start_frac": start % 1.0, "windows": windows,
                  "bound_ref": bound_ref, "bound_per_source": bound, "exact_per_source": exact,
                  "offered_per_source": offered, "admitted": admitted, "exact_ref": exact_ref,
                  "seen_by_rl": seen, "arrival_pps_per_source": arr,
                  "exact_gen_per_source": exact_gen,
                  "ratio_exact": admitted / (exact * len(per)) if exact and per else None,
                  "ratio_exact_gen": admitted / (exact_gen * nsrc) if exact_gen else None,
                  "ratio_bound": admitted / (bound * nsrc) if bound else None,
                  "max_excess_bound": max((p - bound for p in per), default=0),
                  "per_source_min": min(per, default=0), "per_source_max": max(per, default=0),
                  "sent": gen["packets"], "offered_pps": gen["pps"], "lock_busy": lock_busy}))
PY
			done
		done
		[[ $algo == tbc ]] && set_clock precise
	done
	done
	ctl rule del "acc$i" >/dev/null 2>&1
	ctl rule del bench >/dev/null 2>&1
	ctl rule add bench proto udp rate "$DENY_RATE" burst "$DENY_BURST" per source action drop >/dev/null ||
		die "re-adding the bench rule"
}

# ---------------------------------------------------------------- latency
# A 1-source flood at 200 kpps on CPU 0 while a probe on CPU 1 polls the
# rule's per-CPU verdict counters in the pinned rl_stats through bpf(2):
# latency = from just before `rlctl rule change` is spawned until the first
# packet with the new verdict is counted (5 us apart at this rate).
run_latency() {
	ctl rule del bench >/dev/null 2>&1
	ctl rule add lat proto udp rate 10/s burst 10 per source action monitor >/dev/null ||
		die "rlctl rule add lat failed"
	local id
	id=$(ctl -j rule list | jget '[r["id"] for r in j["rules"] if r["name"]=="lat"][0]')
	xdp_rl
	local secs=$(( LAT_REPS * 2 + 5 ))
	# nsenter directly, not rlgen_run: $! of a backgrounded function is its
	# subshell, and killing that left rlgen flooding into the next run
	nsenter --net="/run/netns/$GEN_NS" -- "$OUT/rlgen" -j -i "$GEN_IF" --dst-mac "$DUT_MAC" \
		--src-mac "$GEN_MAC" -4 --dst "$DUT_IP4" --src-base "$SRC_BASE" --proto udp --dport 9 \
		-n 1 --rate 200000 --count $(( secs * 200000 )) --duration "$secs" --cpus 0 \
		>"$TMP/lat.gen.json" 2>"$TMP/lat.gen.json.err" &
	local gpid=$!
	BG_PIDS+=("$gpid")
	sleep 0.5
	taskset -c 1 python3 - "$PIN/rl_stats" "$id" "$LAT_REPS" "$OUT/rlctl" "$TMP/agent.sock" >>"$RAW" <<'PY'
import ctypes, json, os, struct, subprocess, sys, time
pin, rid, reps, rlctl, sock = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
libc = ctypes.CDLL(None, use_errno=True)
NR_bpf = 321
BPF_MAP_LOOKUP_ELEM, BPF_OBJ_GET = 1, 7
def bpf(cmd, attr):
    r = libc.syscall(NR_bpf, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if r < 0: raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return r
path = ctypes.create_string_buffer(pin.encode())
class ObjGet(ctypes.Structure):
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32), ("file_flags", ctypes.c_uint32)]
fd = bpf(BPF_OBJ_GET, ObjGet(ctypes.addressof(path), 0, 0))
ncpu = 0
for part in open("/sys/devices/system/cpu/possible").read().strip().split(","):
    lo, _, hi = part.partition("-"); ncpu = max(ncpu, int(hi or lo) + 1)
val = ctypes.create_string_buffer(16 * ncpu)
key = ctypes.c_uint32(0)
class Lookup(ctypes.Structure):
    _fields_ = [("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("key", ctypes.c_uint64),
                ("value", ctypes.c_uint64), ("flags", ctypes.c_uint64)]
def count(verdict):
    key.value = rid * 5 + verdict          # __RL_V_MAX verdicts per rule
    bpf(BPF_MAP_LOOKUP_ELEM, Lookup(fd, 0, ctypes.addressof(key), ctypes.addressof(val), 0))
    return sum(struct.unpack_from("<Q", val.raw, 16 * c)[0] for c in range(ncpu))
V_DROP, V_MONITOR = 1, 2
res = []
for i in range(reps):
    for action, verdict in (("drop", V_DROP), ("monitor", V_MONITOR)):
        base = count(verdict)
        t0 = time.perf_counter()
        p = subprocess.Popen([rlctl, "-S", sock, "rule", "change", "lat", "action", action],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen = None
        while time.perf_counter() - t0 < 2.0:
            if count(verdict) > base:
                seen = time.perf_counter(); break
        rc = p.wait(); t2 = time.perf_counter()
        if seen is None:
            # the probe missed: the counter may have moved between polls only
            # after rlctl returned; record the failure rather than a number
            res.append({"to": action, "apply_us": None, "rlctl_us": (t2 - t0) * 1e6, "rc": rc})
        else:
            res.append({"to": action, "apply_us": (seen - t0) * 1e6, "rlctl_us": (t2 - t0) * 1e6, "rc": rc})
        time.sleep(0.2)
print(json.dumps({"kind": "latency", "samples": res}))
PY
	kill "$gpid" 2>/dev/null
	wait "$gpid" 2>/dev/null
	xdp_off
	ctl rule del lat >/dev/null 2>&1
}

# ---------------------------------------------------------------- 10k rules
run_rules_load() {
	local n=10000 t0 t1 t2 t3 nloop=1000 i cfg=$TMP/bench.yaml
	cp "$cfg" "$TMP/bench.yaml.orig"
	python3 - "$n" >>"$cfg" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    # flow style: the agent refuses config files over 1 MiB
    print(f"  - {{name: r{i}, src: 20.{i >> 8}.{i & 255}.0/24, proto: udp, dport: {1000 + i % 5000}, "
          f"rate: {100 + i % 900}/s, burst: 50}}")
PY
	t0=$(date +%s.%N)
	ctl -t 120 config reload >"$TMP/reload.out" 2>&1
	local rc=$?
	t1=$(date +%s.%N)
	local loaded
	loaded=$(ctl -j rule list | jget 'len(j["rules"])')
	cp "$TMP/bench.yaml.orig" "$cfg"
	t2=$(date +%s.%N)
	ctl -t 120 config reload >/dev/null 2>&1
	t3=$(date +%s.%N)
	# rlctl in a loop: one process and one apply per rule
	local t4 t5
	t4=$(date +%s.%N)
	for i in $(seq 0 $(( nloop - 1 ))); do
		ctl rule add "l$i" src "21.$(( i >> 8 )).$(( i & 255 )).0/24" proto udp rate 100/s burst 50 \
			per source >/dev/null 2>&1 || break
	done
	t5=$(date +%s.%N)
	local added
	added=$(ctl -j rule list | jget 'len(j["rules"])')
	cp "$TMP/bench.yaml.orig" "$cfg"
	ctl -t 120 config reload >/dev/null 2>&1
	python3 - >>"$RAW" <<PY
import json
print(json.dumps({"kind": "rules", "n": $n, "reload_rc": $rc, "rules_after_reload": $loaded,
                  "reload_10k_s": $t1 - $t0, "reload_back_to_1_s": $t3 - $t2,
                  "loop_n": $nloop, "loop_rules_after": $added, "loop_s": $t5 - $t4,
                  "reload_msg": open("$TMP/reload.out").read().strip()[:300]}))
PY
}

# ---------------------------------------------------------------- memory
run_memory() {
	# fill a known number of sources, then read memlock (the LRU map is
	# preallocated: memlock / max_entries is the cost of one tracked source)
	ctl rule change bench algo token-bucket rate "$DENY_RATE" burst "$DENY_BURST" >/dev/null
	xdp_rl
	local n=1000000
	(( n > STATE_ENTRIES )) && n=$STATE_ENTRIES
	rlgen_run "$TMP/mem.gen.json" -n "$n" --src-base 198.19.0.0/16 --src-shift 0 --count "$n" --duration 20 --cpus 0 ||
		rlgen_run "$TMP/mem.gen.json" -n "$n" --count "$n" --duration 20 --cpus 0
	xdp_off
	local m
	for m in rl_st4 rl_st6 rl_sl4 rl_match4 rl_stats; do
		bpftool -j map show pinned "$PIN/$m" 2>/dev/null
		echo
	done | python3 -c '
import json, sys
maps = [json.loads(l) for l in sys.stdin if l.strip()]
print(json.dumps({"kind": "memory", "maps": [{k: m.get(k) for k in
    ("name", "type", "bytes_key", "bytes_value", "max_entries", "bytes_memlock", "flags")} for m in maps]}))' >>"$RAW"
	ctl -j stats >"$TMP/mem.stats.json" 2>/dev/null
}

# ---------------------------------------------------------------- profile
# No PMU in this VM (perf has no cycles), so: bpf_stats (run_time_ns per
# program run, which adds its own ~2 clock reads) and perf's cpu-clock
# sampling of CPU 0 during a cost-mode deny flood.
run_profile() {
	local size
	sysctl -qw kernel.bpf_stats_enabled=1 || { log "no bpf_stats; profile skipped"; return 0; }
	for size in 1 1000 1000000; do
		[[ $size -le $STATE_ENTRIES ]] || continue
		for cfg in floor rl-tb-deny; do
			config_on "$cfg"
			warm "$cfg" "$size"
			local id
			id=$(dut ip -j link show dev "$DUT_IF" | jget 'j[0]["xdp"]["prog"]["id"]')
			local b0 b1
			b0=$(bpftool -j prog show id "$id")
			local perf_out=""
			if command -v perf >/dev/null && [[ $cfg == rl-tb-deny ]]; then
				perf record -q -e cpu-clock -C 0 -o "$TMP/perf.data" -- sleep "$SECS" >/dev/null 2>&1 &
				perf_out=$!
			fi
			rlgen_run "$TMP/prof.json" -n "$size" --count "$COUNT" --duration "$SECS" --cpus 0
			[[ -n $perf_out ]] && wait "$perf_out"
			b1=$(bpftool -j prog show id "$id")
			local top=""
			if [[ -n $perf_out && -s $TMP/perf.data ]]; then
				top=$(perf report -q -i "$TMP/perf.data" --sort sym --stdio 2>/dev/null |
					grep -v -e halt -e idle -e poll_idle | head -12 |
					sed 's/^ *//' | python3 -c 'import json,sys; print(json.dumps([l.rstrip() for l in sys.stdin if l.strip()]))')
			fi
			python3 - "$cfg" "$size" "$b0" "$b1" "$TMP/prof.json" "${top:-[]}" >>"$RAW" <<'PY'
import json, sys
cfg, size, b0, b1, gf, top = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5], json.loads(sys.argv[6])
g = json.load(open(gf))
runs = b1.get("run_cnt", 0) - b0.get("run_cnt", 0)
ns = b1.get("run_time_ns", 0) - b0.get("run_time_ns", 0)
print(json.dumps({"kind": "profile", "config": cfg, "size": size, "runs": runs,
                  "ns_per_run": ns / runs if runs else None, "pps": g["pps"],
                  "xlated_insns": b1.get("bytes_xlated"), "jited_bytes": b1.get("bytes_jited"),
                  "perf_top": top}))
PY
			config_off "$cfg"
		done
	done
	sysctl -qw kernel.bpf_stats_enabled=0
}

# ---------------------------------------------------------------- test_run
# Program cost without the stack or the veth: BPF_PROG_TEST_RUN (repeat) of
# one UDP frame through rl_xdp (pass and deny rule) and the bare programs.
run_testrun() {
	local pkt=$TMP/pkt.bin
	python3 - "$pkt" <<'PY'
import socket, struct, sys
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return (~s) & 0xffff
src, dst = socket.inet_aton("100.1.2.3"), socket.inet_aton("10.77.0.2")
udp = struct.pack("!HHHH", 40000, 9, 8 + 18, 0) + b"\0" * 18
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
eth = bytes.fromhex("027700000002027700000001") + b"\x08\x00"
open(sys.argv[1], "wb").write(eth + ip + udp)
PY
	local reps=400000 cfg out
	# the -coarse rows: the token bucket again with `clock: coarse`
	for cfg in floor xdp-pass rl-tb-deny rl-tb-pass rl-lb-deny rl-lb-pass rl-fw-deny rl-sw-deny rl-sl-deny \
		rl-tb-deny-coarse rl-tb-pass-coarse; do
		case $cfg in
		floor) bpftool prog load "$OUT/xdp_floor.bpf.o" "$TRPROG" type xdp >/dev/null 2>&1; out=$TRPROG ;;
		xdp-pass) bpftool prog load "$OUT/xdp_pass.bpf.o" "$TRPROG" type xdp >/dev/null 2>&1; out=$TRPROG ;;
		*-coarse) set_clock coarse; config_on "${cfg%-coarse}"; xdp_off; out=$RLPROG ;;
		rl-*) config_on "$cfg"; xdp_off; out=$RLPROG ;;
		esac
		bpftool prog run pinned "$out" data_in "$pkt" repeat 1000 >/dev/null 2>&1
		# the best of 5 runs: a shared VM's noise only ever adds
		local r="" x _
		for _ in 1 2 3 4 5; do
			x=$(bpftool prog run pinned "$out" data_in "$pkt" repeat "$reps" 2>&1 | grep -o 'duration (average): [0-9]*' | grep -o '[0-9]*$')
			[[ -n $x ]] && { [[ -z $r ]] || (( x < r )); } && r=$x
		done
		[[ $out == "$TRPROG" ]] && rm -f "$TRPROG"
		echo "{\"kind\": \"testrun\", \"config\": \"$cfg\", \"ns\": ${r:-null}}" >>"$RAW"
	done
	set_clock precise
	ctl rule change bench algo token-bucket rate "$DENY_RATE" burst "$DENY_BURST" >/dev/null
}

# ---------------------------------------------------------------- report
# report RAW FACTS DIR RUNTIME: medians, ratios, targets -> results.{json,md}
report() {
	python3 - "$@" "$REPS" "$SIZES" "$SECS" "$QUICK" "${AGENT_START_S:-0}" "$STATE_ENTRIES" "$COUNT" <<'PY'
import json, statistics, sys
raw_f, facts_f, outdir, runtime, reps, sizes, secs, quick, agent_s, state_entries, count = sys.argv[1:12]
raw = [json.loads(l) for l in open(raw_f) if l.strip()]
facts = json.load(open(facts_f))
sizes = sizes.split()
SIZE_NAME = {"1": "1", "1000": "1k", "65536": "64k", "1000000": "1M", "10000000": "10M", "new": "every-new"}
sname = lambda s: SIZE_NAME.get(s, s)
ALGO = {"tb": "token bucket", "lb": "leaky bucket (GCRA)", "fw": "fixed window",
        "sw": "sliding window", "sl": "sliding log"}
# accuracy rows only: the token bucket with `clock: coarse`
ALGO_ACC = dict(ALGO, tbc="token bucket, clock: coarse")

def med(v): return statistics.median(v) if v else None

# ---- matrix
cells = {}
for r in raw:
    if r["kind"] == "matrix":
        cells.setdefault((r["config"], r["size"], r["mode"]), []).append(r)
configs = []
for r in raw:
    if r["kind"] == "matrix" and r["config"] not in configs: configs.append(r["config"])
order = ["floor", "floor-touch", "floor-lookup", "xdp-pass", "nft", "hashlimit"] + [f"rl-{a}-deny" for a in ALGO] + [f"rl-{a}-pass" for a in ALGO]
configs.sort(key=lambda c: order.index(c) if c in order else 99)
matrix = []
M = {}
for (c, s, m), rs in cells.items():
    v = [x["pps"] for x in rs]
    e = {"config": c, "size": s, "mode": m, "n": len(v), "pps_median": med(v), "pps_min": min(v),
         "pps_max": max(v), "ns_per_packet": 1e9 / med(v) if med(v) else None,
         "sent_median": med([x["sent"] for x in rs]), "tx_dropped_median": med([x["tx_dropped"] for x in rs]),
         "state_new_per_packet": med([x.get("state_new", 0) / x["sent"] for x in rs if x["sent"]])}
    matrix.append(e); M[(c, s, m)] = e
def pps(c, s, m="cost"):
    e = M.get((c, s, m)); return e["pps_median"] if e else None
def ratio(a, b):
    return a / b if a and b else None

def ns_over(c, base, size, m="cost"):
    a, b = pps(c, size, m), pps(base, size, m)
    return (1e9 / a - 1e9 / b) if a and b else None

ratios = []
for s in sizes:
    for m in ("cost", "tput"):
        for a in ALGO:
            c = f"rl-{a}-deny"
            if (c, s, m) not in M: continue
            ratios.append({"size": s, "mode": m, "config": c,
                           "vs_floor": ratio(pps(c, s, m), pps("floor", s, m)),
                           "vs_nft": ratio(pps(c, s, m), pps("nft", s, m)),
                           "vs_hashlimit": ratio(pps(c, s, m), pps("hashlimit", s, m)),
                           "vs_own_1": ratio(pps(c, s, m), pps(c, "1", m)),
                           "ns_over_floor": ns_over(c, "floor", s, m),
                           "ns_over_floor_touch": ns_over(c, "floor-touch", s, m),
                           "inserts_per_packet": M[(c, s, m)]["state_new_per_packet"]})
passd = []
for s in sizes:
    for a in ALGO:
        c = f"rl-{a}-pass"
        if (c, s, "cost") in M and ("xdp-pass", s, "cost") in M:
            passd.append({"size": s, "config": c,
                          "ns_over_xdp_pass": 1e9 / pps(c, s) - 1e9 / pps("xdp-pass", s)})

acc = {}
for r in raw:
    if r["kind"] == "accuracy":
        acc.setdefault((r["algo"], r["offered_x"], r["cpus"]), []).append(r)
accuracy = []
for (a, k, n), rs in sorted(acc.items(), key=lambda x: (list(ALGO_ACC).index(x[0][0]), x[0][1], x[0][2])):
    re_ = [x["ratio_exact"] for x in rs if x["ratio_exact"] is not None]
    rb = [x["ratio_bound"] for x in rs if x["ratio_bound"] is not None]
    accuracy.append({"algo": a, "offered_x": k, "cpus": n, "n": len(rs),
                     "ratio_exact_median": med(re_), "ratio_exact_min": min(re_, default=None), "ratio_exact_max": max(re_, default=None),
                     "ratio_bound_median": med(rb),
                     "ratio_exact_gen_median": med([x["ratio_exact_gen"] for x in rs if x.get("ratio_exact_gen") is not None]),
                     "max_excess_bound": max(x["max_excess_bound"] for x in rs), "burst": rs[0]["burst"],
                     "rate": rs[0]["rate"], "bound_ref": rs[0]["bound_ref"],
                     "lock_busy": sum(x["lock_busy"] for x in rs),
                     "sources_seen_min": min(x["sources_seen"] for x in rs), "sources": rs[0]["sources"],
                     "seconds": med([x["seconds"] for x in rs])})
lat = [s for r in raw if r["kind"] == "latency" for s in r["samples"]]
rules = next((r for r in raw if r["kind"] == "rules"), None)
mem = next((r for r in raw if r["kind"] == "memory"), None)
prof = [r for r in raw if r["kind"] == "profile"]
tr = {r["config"]: r["ns"] for r in raw if r["kind"] == "testrun"}

# ---- targets
T = []
def target(name, value, ok, how):
    T.append({"target": name, "value": value, "met": ok, "how": how})
def fmt(x, f="{:.2f}"): return f.format(x) if x is not None else "n/a"
for m in ("cost", "tput"):
    v = ratio(pps("rl-tb-deny", "1000", m), pps("floor", "1000", m))
    target(f"deny path at 1k sources >= 0.65x bare XDP_DROP ({m})", f"{fmt(v)}x",
           v is not None and v >= 0.65, "rate ratio, medians, token bucket")
d = [ns_over("rl-tb-deny", "floor", s) for s in ("1", "1000")]
dt = [ns_over("rl-tb-deny", "floor-touch", s) for s in ("1", "1000")]
target("deny path <= +25 ns over bare XDP_DROP at 1 and 1k sources",
       ", ".join(fmt(x, "{:+.0f}") for x in d) + " ns (over floor-touch, which reads the source: "
       + ", ".join(fmt(x, "{:+.0f}") for x in dt) + " ns)",
       all(x is not None and x <= 25 for x in d), "cost mode, ns per packet difference")
for b in ("nft", "hashlimit"):
    v = ratio(pps("rl-tb-deny", "1000"), pps(b, "1000"))
    target(f">= 3.5x {b} at 1k sources", f"{fmt(v)}x", v is not None and v >= 3.5, "cost mode, token bucket deny vs baseline")
    for big in ("1000000", "10000000"):
        if big not in sizes:
            continue
        v = ratio(pps("rl-tb-deny", big), pps(b, big))
        target(f">= 2x {b} at {sname(big)} sources", f"{fmt(v)}x", v is not None and v >= 2, "cost mode")
if "1000000" in sizes:
    v = ratio(pps("floor-lookup", "1000000"), pps("rl-tb-deny", "1000000"))
    target("cost at 1M sources <= 1.2x one hash lookup (floor-lookup)", f"{fmt(v)}x",
           v is not None and v <= 1.2, "cost mode, ns per packet ratio rl / floor-lookup")
for a in ("lb", "fw", "sw", "sl"):
    v = ratio(pps("rl-tb-deny", "1000"), pps(f"rl-{a}-deny", "1000"))
    lim = 2.0 if a == "sl" else 1.5
    target(f"{ALGO[a]} cost <= {lim}x token bucket", f"{fmt(v)}x", v is not None and v <= lim, "cost mode, 1k sources, ns ratio")
pv = [p["ns_over_xdp_pass"] for p in passd if p["config"] == "rl-tb-pass" and p["size"] in ("1", "1000")]
def tr_over_pass(c):
    """test_run ns of config c over bare XDP_PASS, or None."""
    return tr[c] - tr["xdp-pass"] if tr.get(c) is not None and tr.get("xdp-pass") is not None else None
trd, trc = tr_over_pass("rl-tb-pass"), tr_over_pass("rl-tb-pass-coarse")
target("pass path <= +20 ns over bare XDP_PASS",
       f"live {', '.join(fmt(x, '{:+.1f}') for x in pv) or 'n/a'} ns (1, 1k sources); test_run {fmt(trd, '{:+.0f}')} ns"
       + (f" (with clock: coarse {fmt(trc, '{:+.0f}')} ns, not counted)" if trc is not None else ""),
       bool(pv) and max(pv) <= 20 and (trd is None or trd <= 20), "token bucket; live = cost-mode ns difference, test_run = BPF_PROG_TEST_RUN of one frame")
acc_precise = [a for a in accuracy if a["algo"] != "tbc"]
acc_coarse = [a for a in accuracy if a["algo"] == "tbc"]
if acc_precise:
    worst = max(abs(a["ratio_exact_median"] - 1) for a in acc_precise if a["ratio_exact_median"] is not None)
    wa = max((a for a in acc_precise if a["ratio_exact_median"] is not None), key=lambda a: abs(a["ratio_exact_median"] - 1))
    target("accuracy within +-0.5% of allowed",
           f"worst |admitted/exact - 1| = {worst * 100:.2f}% ({ALGO[wa['algo']]}, {wa['offered_x']}x, {wa['cpus']} CPU)",
           worst <= 0.005, "median over repetitions, summed over sources; exact = the algorithm replayed on the offered arrivals")
    lb = sum(a["lock_busy"] for a in accuracy if a["cpus"] == 2)
    target("no contention drops with two CPUs (lock_busy)", f"{lb}", lb == 0, "accuracy runs on 2 CPUs, all algorithms")
    ex = max(a["max_excess_bound"] - a["cpus"] for a in acc_precise)
    target("over-admission <= burst + 1 per CPU", f"max per-source excess over burst+rate*t (rate*windows), minus 1 per CPU: {ex:+.1f}",
           ex <= 0, "per source, every run (clock: precise)")
if acc_coarse:
    # clock: coarse promises burst + rate*(t + 2 ticks) (docs/CONFIG.md)
    tick_s = 1.0 / int(facts.get("hz") or 250)
    worst = max(abs(a["ratio_exact_median"] - 1) for a in acc_coarse if a["ratio_exact_median"] is not None)
    ex = max(a["max_excess_bound"] - a["cpus"] - a["rate"] * 2 * tick_s for a in acc_coarse)
    target("clock: coarse, over-admission <= burst + rate*2 ticks + 1 per CPU",
           f"max per-source excess over that: {ex:+.1f}; worst |admitted/exact - 1| = {worst * 100:.2f}%",
           ex <= 0, "token bucket, per source, every run; accuracy shown, not a target")
if mem:
    st4 = next((m for m in mem["maps"] if m["name"] == "rl_st4"), None)
    if st4 and st4.get("bytes_memlock") and st4.get("max_entries"):
        b = st4["bytes_memlock"] / int(state_entries)
        target("<= 32 bytes per tracked IPv4 source", f"{b:.3f} B (rl_st4 memlock / state-entries {int(state_entries)})",
               round(b, 1) <= 32, "bpftool map show; preallocated table of 64-byte buckets (+ one page of map header)")
    st6 = next((m for m in mem["maps"] if m["name"] == "rl_st6"), None)
    if st6 and st6.get("bytes_memlock"):
        b = st6["bytes_memlock"] / int(state_entries)
        target("<= 48 bytes per tracked IPv6 source", f"{b:.3f} B (rl_st6 memlock / state-entries)", round(b, 1) <= 48,
               "bpftool map show (+ one page of map header)")

res = {"facts": facts, "params": {"reps": int(reps), "sizes": sizes, "seconds_per_pass": float(secs),
       "packets_cap_per_pass": int(count), "quick": quick == "1", "runtime_s": int(runtime),
       "agent_start_s": int(agent_s), "state_entries": int(state_entries)},
       "matrix": matrix, "ratios": ratios, "pass_path": passd, "testrun_ns": tr, "accuracy": accuracy,
       "latency": lat, "rules": rules, "memory": mem, "profile": prof, "targets": T, "raw": raw}
json.dump(res, open(f"{outdir}/results.json", "w"), indent=1)

# ---- markdown
L = []
w = L.append
f = facts
w("# rl benchmark results\n")
w(f"Generated by `make bench` (`tools/bench.sh{' --quick' if quick == '1' else ''}`) on {f['date']}, commit `{f['git_commit']}`, "
  f"{reps} repetition(s) per cell, interleaved; {float(secs)} s (or {int(count)/1e6:.0f}M packets) per measured pass; "
  f"whole run {int(runtime) // 60} min {int(runtime) % 60} s.\n")
w("Machine: " + f"kernel {f['kernel']}, {f['cpu_model']} ({f['cpus']} CPUs, {f['virt'] or 'bare metal'}), "
  f"{f['mem_mib']} MiB, clocksource {f['clocksource']}, HZ {f['hz']}, bpf_jit_enable {f['bpf_jit_enable']}"
  f"{' (JIT always on)' if f['jit_always_on'] else ''}, libbpf {f['libbpf']}, {f['nft']}, {f['iptables']}.\n")
w("## Targets\n")
w("| target | rl | met? |\n|---|---|---|")
for t in T:
    w(f"| {t['target']} | {t['value']} | {'met' if t['met'] else '**missed**'} |")
w("")
def mtable(mode, title, note):
    w(f"## {title}\n\n{note}\n")
    present = [s for s in sizes if any((c, s, mode) in M for c in configs)]
    w("| config | " + " | ".join(sname(s) for s in present) + " |")
    w("|---|" + "---|" * len(present))
    for c in configs:
        row = []
        for s in present:
            e = M.get((c, s, mode))
            if not e: row.append(""); continue
            cell = f"{e['pps_median']/1e6:.2f} ({e['pps_min']/1e6:.2f}-{e['pps_max']/1e6:.2f})"
            if mode == "cost":
                cell += f"<br>{e['ns_per_packet']:.0f} ns"
                fl = pps("floor", s, mode)
                if fl and c != "floor": cell += f", {1e9/e['pps_median'] - 1e9/fl:+.0f}"
            row.append(cell)
        w(f"| {c} | " + " | ".join(row) + " |")
    w("")
mtable("cost", "Cost mode (generator and receiver on one CPU)",
       "Mpps median (min-max); below: ns per packet (1e9/pps, generator included) and ns over the bare XDP_DROP floor.")
mtable("tput", "Throughput mode (threaded NAPI on the dut veth, pinned to the other CPU)",
       "Packets the receiver processed per second, Mpps median (min-max); the generator offers more than any config takes.")
w("## Ratios (rl deny path, medians)\n")
w("inserts/pkt: rl_st4 entries created per packet during the measured pass (0 = every source was tracked; every-new = 1). "
  "over touch: ns over floor-touch, the XDP_DROP program that reads the packet's source first.\n")
w("| sources | mode | algorithm | x floor | ns over floor | over touch | x nft | x hashlimit | x own 1-source | inserts/pkt |")
w("|---|---|---|---|---|---|---|---|---|---|")
for r in ratios:
    w(f"| {sname(r['size'])} | {r['mode']} | {ALGO[r['config'].split('-')[1]]} | {fmt(r['vs_floor'])} | {fmt(r['ns_over_floor'], '{:+.0f}')} | "
      f"{fmt(r.get('ns_over_floor_touch'), '{:+.0f}')} | "
      f"{fmt(r['vs_nft'], '{:.1f}')} | {fmt(r['vs_hashlimit'], '{:.1f}')} | {fmt(r['vs_own_1'])} | {fmt(r['inserts_per_packet'], '{:.3f}')} |")
w("")
w("## Pass path (rule with a limit no flood reaches)\n")
w("Live: cost-mode ns/packet of rl's pass path minus bare XDP_PASS (both then run the kernel stack). "
  "test_run: BPF_PROG_TEST_RUN of one 60-byte UDP frame, best of 5 averages of 400,000 runs, ns per run (program only, no stack; -coarse: with `clock: coarse`).\n")
if passd:
    w("| sources | " + " | ".join(ALGO[a] for a in ALGO if a != "sl") + " |")
    w("|---|" + "---|" * 4)
    for s in sizes:
        row = [next((fmt(p["ns_over_xdp_pass"], "{:+.1f}") for p in passd if p["size"] == s and p["config"] == f"rl-{a}-pass"), "")
               for a in ALGO if a != "sl"]
        if any(row): w(f"| {sname(s)} | " + " | ".join(row) + " |")
    w("")
if tr:
    w("| program (test_run) | ns/run |\n|---|---|")
    for c, v in tr.items(): w(f"| {c} | {v if v is not None else 'n/a'} |")
    w("")
w("## Accuracy (admitted / allowed)\n")
w("100 sources, each offered 2x or 10x its limit for ~%s s (paced by the generator, on CPU 0 or on CPUs 0 and 1 at once, "
  "so two CPUs hit every key together); admitted packets counted per source behind rl at TC ingress (tools/rlcount). "
  "`exact`: per source, over the time from its first admitted packet to its latest (stamped by rlcount with CLOCK_MONOTONIC, "
  "the clock rl's windows are aligned to), what an exact limiter admits: for token and leaky buckets offered at least 1.5x, "
  "burst + rate*that time; for fixed windows so offered, rate * windows; otherwise the algorithm replayed in Python on "
  "evenly spaced arrivals at the rate they reached rl (the rule's own count of packets over the flood's time, over the "
  "sources; the generator sends 50 ms bursts, so the sliding algorithms' rows carry that model's error too). "
  "`exact (gen)`: the replay over the generator's measured interval at the rate it sent, "
  "which also charges rl for the generator's start-up and for frames the generator did not send or the veth dropped before rl. `bound`: token/leaky bucket burst + rate*t, "
  "windows rate * windows touched. Excess = max over sources of admitted - bound (<= 0: never over-admitted). "
  "lock_busy = packets dropped as contended: compare-and-swap retries ran out, or a new key was being inserted by another CPU (fail closed). "
  "`token bucket, clock: coarse`: the token bucket with `clock: coarse`, whose bound is burst + rate*(t + 2 ticks) (docs/CONFIG.md); its excess column still shows admitted - (burst + rate*t).\n" % (fmt(accuracy[0]["seconds"]) if accuracy else "?"))
if accuracy:
    w("| algorithm | limit | offered | CPUs | admitted/exact median (min-max) | admitted/exact (gen) | admitted/bound | max excess | lock_busy | sources seen |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for a in accuracy:
        lim = f"{a['rate']}/s burst {a['burst']}" if a["algo"] in ("tb", "lb", "tbc") else f"{a['rate']}/s"
        w(f"| {ALGO_ACC[a['algo']]} | {lim} | {a['offered_x']}x | {a['cpus']} | {fmt(a['ratio_exact_median'], '{:.4f}')} "
          f"({fmt(a['ratio_exact_min'], '{:.4f}')}-{fmt(a['ratio_exact_max'], '{:.4f}')}) | {fmt(a.get('ratio_exact_gen_median'), '{:.4f}')} | "
          f"{fmt(a['ratio_bound_median'], '{:.4f}')} | "
          f"{a['max_excess_bound']:+.1f} | {a['lock_busy']} | {a['sources_seen_min']}/{a['sources']} |")
    w("")
w("## Rule updates, memory\n")
ok = [s["apply_us"] for s in lat if s["apply_us"] is not None]
if lat:
    rl_us = [s["rlctl_us"] for s in lat]
    w(f"- Rule-update latency (`rlctl rule change lat action drop|monitor` until the datapath counts the first packet with the new verdict; "
      f"1-source flood at 200 kpps; {len(lat)} changes, {len(lat) - len(ok)} missed): median {fmt(med(ok), '{:.0f}')} us "
      f"(min {fmt(min(ok, default=None), '{:.0f}')}, max {fmt(max(ok, default=None), '{:.0f}')}); the rlctl process itself returns after a median {med(rl_us):.0f} us.")
if rules:
    w(f"- 10k rules: `rlctl config reload` of a config with {rules['n']} rules (distinct /24 sources) took {rules['reload_10k_s']:.2f} s "
      f"(exit {rules['reload_rc']}, {rules['rules_after_reload']} rules listed after); back to 1 rule {rules['reload_back_to_1_s']:.2f} s. "
      f"`rlctl rule add` in a loop: {rules['loop_rules_after'] - 1} rules in {rules['loop_s']:.2f} s "
      f"({rules['loop_s'] / max(rules['loop_rules_after'] - 1, 1) * 1e3:.1f} ms per rule, process start included).")
    if rules["reload_rc"] != 0: w(f"  reload said: `{rules['reload_msg']}`")
if mem:
    for m in mem["maps"]:
        if m.get("bytes_memlock") and m.get("max_entries"):
            w(f"- `{m['name']}` {m['type']}: key {m['bytes_key']} B, value {m['bytes_value']} B, {m['max_entries']} entries, memlock {m['bytes_memlock'] / 2**20:.1f} MiB "
              f"= {m['bytes_memlock'] / m['max_entries']:.1f} B per entry.")
w(f"- Agent start-up with {int(state_entries)}-entry state maps (preallocated bucket tables): {agent_s} s.")
w("")
if prof:
    w("## Profile of the deny path\n")
    w("bpf_stats (`kernel.bpf_stats_enabled`; adds ~2 clock reads per run) and perf cpu-clock samples of CPU 0 (this VM has no PMU: no cycle counts).\n")
    w("| config | sources | ns per program run | flood Mpps (stats on) |\n|---|---|---|---|")
    for p in prof:
        w(f"| {p['config']} | {sname(p['size'])} | {fmt(p['ns_per_run'], '{:.1f}')} | {p['pps']/1e6:.2f} |")
    w("")
    for p in prof:
        if p["perf_top"]:
            w(f"perf top symbols, {p['config']} at {sname(p['size'])} sources:\n\n```\n" + "\n".join(p["perf_top"][:10]) + "\n```\n")
w("## How the numbers were made\n")
w("See bench/README.md. Same veth, same flood (rlgen UDP, 60-byte frames, sources from 100.0.0.0/8 in a pseudo-random permutation) "
  "for every config; each run begins with a warm-up pass touching every source once; nft and hashlimit limit 1/hour burst 1 per source "
  "as rl's deny rule does (every measured packet is over the limit).\n")
tables = {}
for r in raw:
    if r.get("kind") == "matrix" and "state_entries" in r:
        tables.setdefault(r["state_entries"], [])
        if sname(r["size"]) not in tables[r["state_entries"]]:
            tables[r["state_entries"]].append(sname(r["size"]))
if tables:
    w("Table sizes: each column ran on rl state tables (and a floor-lookup hash) of " +
      "; ".join(f"{e:,} entries for {', '.join(c)} sources" for e, c in sorted(tables.items())) +
      " - the smallest that holds the column's sources (tools/bench.sh size_entries).\n")
open(f"{outdir}/results.md", "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
}

# ---------------------------------------------------------------- main
log "bench: reps $REPS, sizes '$SIZES', ${SECS}s per measured pass, lab $LAB"
machine_facts >"$TMP/facts.json" || die "collecting machine facts"
start_agent
: >"$RAW"
SKIP=${BENCH_SKIP:-}
[[ $SKIP == *matrix* ]] || run_matrix
[[ $SKIP == *testrun* ]] || run_testrun
[[ $SKIP == *accuracy* ]] || { log "accuracy"; restart_agent_fresh; run_accuracy; }
[[ $SKIP == *latency* ]] || { log "rule-update latency"; run_latency; }
[[ $SKIP == *rules* ]] || { log "10k rules"; run_rules_load; }
[[ $SKIP == *memory* ]] || { log "memory"; run_memory; }
[[ $SKIP == *profile* ]] || { log "profile"; run_profile; }
T_TOTAL=$(( $(date +%s) - T_START ))
log "measurements done in ${T_TOTAL}s; writing $RESDIR"
mkdir -p "$RESDIR"
report "$RAW" "$TMP/facts.json" "$RESDIR" "$T_TOTAL" || die "writing the report"
log "wrote $RESDIR/results.md and $RESDIR/results.json"
