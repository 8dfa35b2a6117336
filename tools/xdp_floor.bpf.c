// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_floor.bpf.c - the floor of the benchmarks (tools/bench.sh): an XDP
 * program that drops every packet and does nothing else.  rl's deny path is
 * reported as a ratio of this program's rate and as nanoseconds above it,
 * so every cost the veth, the generator and the XDP hook itself add cancels
 * out.  The matching pass floor is tools/xdp_pass.bpf.c (shared with the
 * lab), not duplicated here.  Load with
 *   ip link set dev IF xdpdrv obj build/xdp_floor.bpf.o sec xdp_drop
 * (iproute2 sets the program type itself, so the section name is free.)
 */
#include "rl_bpf.h"

SEC("xdp_drop")
int rl_floor_drop(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
