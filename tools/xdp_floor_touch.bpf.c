// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_floor_touch.bpf.c - the benchmarks' floor that reads the packet
 * (tools/bench.sh, row `floor-touch`): checks the bounds of the Ethernet
 * and IPv4 headers, reads the EtherType and the IPv4 source, and drops.
 * Anything that decides by the source pays this much more than the bare
 * XDP_DROP floor (tools/xdp_floor.bpf.c), which never touches the packet's
 * data: the bench reports rl's cost over both.
 */
#include "xdp_floor.h"

SEC("xdp_drop_touch")
int rl_floor_touch(struct xdp_md *ctx)
{
	__u32 src;

	/* the verdict depends on the source, so the load stays */
	return floor_ipv4_src(ctx, &src) && src == 0xffffffff ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
