/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xdp_floor.h - how the benchmarks' floors that read the packet
 * (xdp_floor_touch.bpf.c, xdp_floor_lookup.bpf.c) find the IPv4 source:
 * the same bounds checks and loads in both, so that floor-lookup costs
 * floor-touch plus its hash lookup.  IPv4 only, no VLAN: the bench's flood
 * is plain IPv4 UDP.
 */
#ifndef XDP_FLOOR_H
#define XDP_FLOOR_H

#include "rl_bpf.h"

/* The IPv4 source of the packet in *src; 0 if it is not a plain IPv4 one. */
static __always_inline int floor_ipv4_src(struct xdp_md *ctx, __u32 *src)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	*src = iph->saddr;
	return 1;
}

#endif /* XDP_FLOOR_H */
