// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_floor_touch.bpf.c - the benchmarks' floor that reads the packet
 * (tools/bench.sh, row `floor-touch`): checks the bounds of the Ethernet
 * and IPv4 headers, reads the EtherType and the IPv4 source, and drops.
 * Anything that decides by the source pays this much more than the bare
 * XDP_DROP floor (tools/xdp_floor.bpf.c), which never touches the packet's
 * data: the bench reports rl's cost over both.
 */
#include "rl_bpf.h"

SEC("xdp_drop_touch")
int rl_floor_touch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_DROP;
	/* the verdict depends on the source, so the load stays */
	return iph->saddr == 0xffffffff ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
