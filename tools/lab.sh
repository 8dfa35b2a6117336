#!/bin/bash
# tools/lab.sh - builds and removes the network-namespace lab the tests,
# the demo and the benchmarks run in.  Nothing leaves the namespaces.
#
#   lab.sh up NAME [--cli] [--xdp-pass gen|dut]...   build; print KEY=VALUE facts
#   lab.sh down NAME                                 remove; never fails
#   lab.sh exec NAME gen|dut|cli CMD...              run CMD in that netns
#   lab.sh facts NAME [--cli]                        print the facts again
#
#   NAME-gen  [NAME-g 10.77.0.1/24 fd77::1/64 02:77:00:00:00:01]
#                  |  veth
#   NAME-dut  [NAME-d 10.77.0.2/24 fd77::2/64 02:77:00:00:00:02]
#             [NAME-e 10.78.0.2/24 fd78::2/64 02:78:00:00:00:02]   (--cli)
#                  |  veth
#   NAME-cli  [NAME-c 10.78.0.1/24 fd78::1/64 02:78:00:00:00:01]   (--cli)
#
# NAME is 1..12 letters/digits (interface names stay <= 15 chars); use one
# per run, e.g. rl$$.  Neighbour entries are static, so nothing waits for ARP
# or DAD.  The dut routes everything else back to gen (and 10.78/fd78 to cli),
# with rp_filter off, so replies to spoofed sources stay inside the lab.
#
# What the veth needs (verified on 6.18): rlgen's frames are XDP-redirected
# out of NAME-g, and veth hands such frames to the peer's NAPI, which runs
# only while NAME-d has an XDP program - without one they vanish silently
# (no counter on either end grows; rlgen warns).  So the dut end must carry an
# XDP program: rl's own, or `--xdp-pass dut` (build/xdp_pass.bpf.o) when rl
# is not attached.  NAME-g itself needs nothing to send, and gets normal skb
# traffic (replies) without XDP; `--xdp-pass gen` exists for XDP_TX/redirect
# back towards gen.
#
# exec uses `nsenter --net`, not `ip netns exec`: the latter remounts /sys,
# hiding /sys/fs/bpf, where rlagent pins its maps.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUTPUT=${OUTPUT:-$here/../build}
case $OUTPUT in /*) ;; *) OUTPUT=$here/../$OUTPUT ;; esac

die() { echo "lab.sh: $*" >&2; exit 1; }

check_name() {
	[[ $1 =~ ^[A-Za-z0-9]{1,12}$ ]] ||
		die "NAME must be 1..12 letters or digits (got '$1'): interface names are NAME-g and must fit 15 chars"
}

facts() {
	local n=$1 cli=$2
	cat <<EOF
LAB=$n
GEN_NS=$n-gen
DUT_NS=$n-dut
GEN_IF=$n-g
DUT_IF=$n-d
GEN_MAC=02:77:00:00:00:01
DUT_MAC=02:77:00:00:00:02
GEN_IP4=10.77.0.1
DUT_IP4=10.77.0.2
GEN_IP6=fd77::1
DUT_IP6=fd77::2
GEN_NSENTER='nsenter --net=/run/netns/$n-gen'
DUT_NSENTER='nsenter --net=/run/netns/$n-dut'
EOF
	if [[ $cli == 1 ]]; then
		cat <<EOF
CLI_NS=$n-cli
CLI_IF=$n-c
DUT_CLI_IF=$n-e
CLI_MAC=02:78:00:00:00:01
DUT_CLI_MAC=02:78:00:00:00:02
CLI_IP4=10.78.0.1
DUT_CLI_IP4=10.78.0.2
CLI_IP6=fd78::1
DUT_CLI_IP6=fd78::2
CLI_NSENTER='nsenter --net=/run/netns/$n-cli'
EOF
	fi
}

down() {
	local n=$1 ns dev
	for ns in "$n-gen" "$n-dut" "$n-cli"; do
		[[ -e /run/netns/$ns ]] || continue
		# libxdp's dispatcher (rl's, with --xdp-attach auto or dispatcher)
		# keeps pins under /sys/fs/bpf/xdp that outlive the interface;
		# libxdp's own unload removes them
		if command -v xdp-loader >/dev/null; then
			for dev in $(inns "$ns" ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
				[[ $dev == lo ]] || inns "$ns" xdp-loader unload -a "$dev" >/dev/null 2>&1
			done
		fi
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# inns NS CMD...: run CMD in namespace NS, keeping this mount namespace.
inns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

nsconf() {
	local ns=$1
	inns "$ns" ip link set lo up || return 1
	inns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 >/dev/null
}

ifup() {
	local ns=$1 dev=$2 mac=$3 ip4=$4 ip6=$5
	inns "$ns" ip link set dev "$dev" address "$mac" &&
	inns "$ns" sysctl -qw "net.ipv4.conf.$dev.rp_filter=0" >/dev/null &&
	inns "$ns" ip addr add "$ip4" dev "$dev" &&
	inns "$ns" ip addr add "$ip6" dev "$dev" nodad &&
	inns "$ns" ip link set dev "$dev" up
}

neigh() {
	local ns=$1 dev=$2 mac=$3 ip4=$4 ip6=$5
	inns "$ns" ip neigh replace "$ip4" lladdr "$mac" dev "$dev" nud permanent &&
	inns "$ns" ip neigh replace "$ip6" lladdr "$mac" dev "$dev" nud permanent
}

xdp_pass() {
	local ns=$1 dev=$2 obj=$OUTPUT/xdp_pass.bpf.o
	[[ -f $obj ]] || die "$obj is missing: run 'make $OUTPUT/xdp_pass.bpf.o' first"
	inns "$ns" ip link set dev "$dev" xdpdrv obj "$obj" sec xdp ||
		die "attaching $obj to $dev in $ns failed"
}

up() {
	local n=$1 cli=0 xgen=0 xdut=0 q ns
	shift
	while [[ $# -gt 0 ]]; do
		case $1 in
		--cli) cli=1 ;;
		--xdp-pass)
			case ${2:-} in
			gen) xgen=1 ;;
			dut) xdut=1 ;;
			*) die "--xdp-pass takes gen or dut" ;;
			esac
			shift ;;
		*) die "unknown option '$1' for up" ;;
		esac
		shift
	done
	[[ $EUID -eq 0 ]] || die "needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create namespaces"
	for ns in "$n-gen" "$n-dut" "$n-cli"; do
		[[ -e /run/netns/$ns ]] && die "namespace $ns exists: run 'lab.sh down $n' or pick another NAME"
	done
	# any failure from here on (die exits) removes what was built
	trap 'down "$n"' EXIT
	trap 'exit 1' INT TERM
	# one rx queue per CPU: veth picks the peer queue by the sending CPU,
	# so each rlgen thread feeds its own queue and NAPI instead of
	# overflowing one shared ring
	q=$(nproc)
	ip netns add "$n-gen" && ip netns add "$n-dut" || die "ip netns add failed"
	ip link add "$n-g" numtxqueues "$q" numrxqueues "$q" netns "$n-gen" type veth \
		peer name "$n-d" numtxqueues "$q" numrxqueues "$q" netns "$n-dut" ||
		die "creating veth $n-g/$n-d failed"
	nsconf "$n-gen" && nsconf "$n-dut" || die "configuring namespaces failed"
	ifup "$n-gen" "$n-g" 02:77:00:00:00:01 10.77.0.1/24 fd77::1/64 &&
	ifup "$n-dut" "$n-d" 02:77:00:00:00:02 10.77.0.2/24 fd77::2/64 &&
	neigh "$n-gen" "$n-g" 02:77:00:00:00:02 10.77.0.2 fd77::2 &&
	neigh "$n-dut" "$n-d" 02:77:00:00:00:01 10.77.0.1 fd77::1 || die "configuring $n-g/$n-d failed"
	if [[ $cli == 1 ]]; then
		ip netns add "$n-cli" || die "ip netns add $n-cli failed"
		ip link add "$n-c" netns "$n-cli" type veth peer name "$n-e" netns "$n-dut" ||
			die "creating veth $n-c/$n-e failed"
		nsconf "$n-cli" &&
		ifup "$n-cli" "$n-c" 02:78:00:00:00:01 10.78.0.1/24 fd78::1/64 &&
		ifup "$n-dut" "$n-e" 02:78:00:00:00:02 10.78.0.2/24 fd78::2/64 &&
		neigh "$n-cli" "$n-c" 02:78:00:00:00:02 10.78.0.2 fd78::2 &&
		neigh "$n-dut" "$n-e" 02:78:00:00:00:01 10.78.0.1 fd78::1 &&
		inns "$n-cli" ip route add default via 10.78.0.2 &&
		inns "$n-cli" ip -6 route add default via fd78::2 || die "configuring $n-c/$n-e failed"
	fi
	# spoofed sources' replies go back to gen, which drops them
	inns "$n-dut" ip route add default via 10.77.0.1 &&
	inns "$n-dut" ip -6 route add default via fd77::1 || die "dut routes failed"
	if [[ $xgen == 1 ]]; then xdp_pass "$n-gen" "$n-g"; fi
	if [[ $xdut == 1 ]]; then xdp_pass "$n-dut" "$n-d"; fi
	trap - EXIT INT TERM
	facts "$n" "$cli"
}

cmd=${1:-}
name=${2:-}
[[ -n $cmd && -n $name ]] || { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
check_name "$name"
shift 2
case $cmd in
up) up "$name" "$@" ;;
down) down "$name" ;;
facts) c=0; [[ ${1:-} == --cli || -e /run/netns/$name-cli ]] && c=1; facts "$name" $c ;;
exec)
	ns=${1:-}
	case $ns in gen|dut|cli) ;; *) die "exec NAME gen|dut|cli CMD..." ;; esac
	shift
	[[ $# -gt 0 ]] || die "exec needs a command"
	[[ -e /run/netns/$name-$ns ]] || die "no namespace $name-$ns: run 'lab.sh up $name' first"
	exec nsenter --net="/run/netns/$name-$ns" -- "$@" ;;
*) die "unknown command '$cmd' (up, down, exec, facts)" ;;
esac
