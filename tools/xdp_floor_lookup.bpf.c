// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_floor_lookup.bpf.c - the stateful floor of the benchmarks
 * (tools/bench.sh, row `floor-lookup`): an XDP program that looks the IPv4
 * source up in a plain BPF hash (inserting it on a miss, as any per-source
 * limiter must) and drops.  At 1M sources rl's per-packet cost is reported
 * against this: what one hash lookup of the source costs on this machine
 * with this many keys, whatever the tool.  IPv4 only, no VLAN: the
 * benchmark's flood is plain IPv4 UDP.
 */
#include "rl_bpf.h"

#ifndef FLOOR_ENTRIES
#define FLOOR_ENTRIES 16777216   /* as rl's tables for 10M sources */
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FLOOR_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} floor_src SEC(".maps");

SEC("xdp_drop_lookup")
int rl_floor_lookup(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	__u64 one = 1, *v;
	__u32 src;

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_DROP;
	src = iph->saddr;
	v = bpf_map_lookup_elem(&floor_src, &src);
	if (v)
		(*v)++;
	else
		bpf_map_update_elem(&floor_src, &src, &one, BPF_NOEXIST);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
