// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_floor_lookup.bpf.c - the stateful floor of the benchmarks
 * (tools/bench.sh, row `floor-lookup`): an XDP program that looks the IPv4
 * source up in a plain BPF hash (inserting it on a miss, as any per-source
 * limiter must) and drops.  At 1M sources rl's per-packet cost is reported
 * against this: what one hash lookup of the source costs on this machine
 * with this many keys, whatever the tool.  It reads the source as
 * floor-touch does (xdp_floor.h).
 */
#include "xdp_floor.h"

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
	__u64 one = 1, *v;
	__u32 src;

	if (!floor_ipv4_src(ctx, &src))
		return XDP_DROP;
	v = bpf_map_lookup_elem(&floor_src, &src);
	if (v)
		(*v)++;
	else
		bpf_map_update_elem(&floor_src, &src, &one, BPF_NOEXIST);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
