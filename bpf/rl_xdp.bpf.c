// SPDX-License-Identifier: GPL-2.0
/*
 * rl_xdp.bpf.c - the XDP ingress program rl_xdp and the definitions of every
 * map the datapath and the agent share (docs/ARCHITECTURE.md, "Maps").  The
 * program parses (rl_parse.h), reads the clock once, and hands the rest to
 * the decision core (rl_core.h).  Built into build/rl_xdp.bpf.o and loaded
 * through build/rl_xdp.skel.h by user/lib_loader.c, which also decides the
 * state maps' type and size before load (on-full policy, configured size).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "rl_abi.h"
#include "rl_core.h"

/* Source prefix -> allow/block flags and candidate rules (IPv4). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_lpm4);
	__type(value, struct rl_match);
} rl_match4 SEC(".maps");

/* Source prefix -> allow/block flags and candidate rules (IPv6). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_lpm6);
	__type(value, struct rl_match);
} rl_match6 SEC(".maps");

/* Per-source state {rule, masked IPv4 source}; type and size set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1048576);
	__type(key, struct rl_key4);
	__type(value, struct rl_state);
} rl_st4 SEC(".maps");

/* Per-source state {rule, masked IPv6 source}; type and size set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1048576);
	__type(key, struct rl_key6);
	__type(value, struct rl_state);
} rl_st6 SEC(".maps");

/* Per-source sliding logs (IPv4); 280-byte values, so fewer keys by default. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rl_key4);
	__type(value, struct rl_slog);
} rl_sl4 SEC(".maps");

/* Per-source sliding logs (IPv6). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rl_key6);
	__type(value, struct rl_slog);
} rl_sl6 SEC(".maps");

/* Rule id -> the rule's shared bucket (per-rule keying, on-full=aggregate). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_state);
} rl_agg SEC(".maps");

/* Rule id -> the rule's shared sliding log. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_slog);
} rl_slagg SEC(".maps");

/* rule id * __RL_V_MAX + enum rl_verdict -> packets and bytes, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_MAX_RULES * __RL_V_MAX);
	__type(key, __u32);
	__type(value, struct rl_ctr);
} rl_stats SEC(".maps");

/* enum rl_gstat -> packets and bytes, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __RL_G_MAX);
	__type(key, __u32);
	__type(value, struct rl_ctr);
} rl_gstats SEC(".maps");

/* 0 -> runtime settings (malformed policy, clock, on-full). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_conf);
} rl_conf SEC(".maps");

/* Rule id -> the rule as written; the agent's memory across restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_catalog);
} rl_catalog SEC(".maps");

/* Allow/block list entries with expiry; the agent's memory across restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * RL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_list_key);
	__type(value, struct rl_list_val);
} rl_lists SEC(".maps");

SEC("xdp")
int rl_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct rl_maps maps = {
		.match4 = &rl_match4, .match6 = &rl_match6,
		.st4 = &rl_st4, .st6 = &rl_st6,
		.sl4 = &rl_sl4, .sl6 = &rl_sl6,
		.agg = &rl_agg, .slagg = &rl_slagg,
		.stats = &rl_stats, .gstats = &rl_gstats,
	};
	struct rl_conf dflt = {}, *conf;
	struct rl_res res;
	struct rl_pkt pkt;
	__u32 zero = 0;
	__u64 now = 0;
	int pr;

	conf = bpf_map_lookup_elem(&rl_conf, &zero);
	if (!conf)
		conf = &dflt;
	pr = rl_parse(data, data_end, &pkt);
	/* the only clock read: the algorithms take `now` as an argument */
	if (pr == RL_PARSE_OK)
		now = conf->coarse_clock ? bpf_ktime_get_coarse_ns() :
					   bpf_ktime_get_ns();
	return rl_decide(&maps, conf, pr, &pkt, now, &res) ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
