// SPDX-License-Identifier: GPL-2.0
/*
 * rl_xdp.bpf.c - the XDP ingress program rl_xdp, the TC ingress program
 * rl_tc_in, and the definitions of every map the datapath and the agent
 * share (docs/ARCHITECTURE.md, "Maps").  Both programs live in this one
 * object so that they share every map through one skeleton and one set of
 * pins.  Each parses (rl_parse.h), reads the clock once, and hands the rest
 * to the decision core (rl_core.h): XDP decides drop and monitor rules, TC
 * decides and labels mark rules.  Built into build/rl_xdp.bpf.o and loaded
 * through build/rl_xdp.skel.h by user/lib_loader.c, which also decides the
 * state maps' type and size before load (on-full policy, configured size).
 */
#include "rl_bpf.h"

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
	return rl_decide(&maps, conf, RL_HOOK_XDP, pr, &pkt, now, &res) ?
	       XDP_DROP : XDP_PASS;
}

/*
 * Headers the parser may need, made linear before direct access: enough
 * for two VLAN tags, IPv6 and a few extension headers.  A chain longer
 * than the linear part parses as malformed here and goes on unlabelled
 * (XDP already counted it).
 */
#define RL_TC_PULL  256

/* The new traffic class / TOS byte: DSCP in the top six bits, ECN below. */
static __always_inline __u8 rl_tos_label(__u8 tos, const struct rl_res *res)
{
	if (res->mark_flags & RL_MK_DSCP)
		tos = (__u8)(res->dscp << 2) | (tos & 0x03);
	/* RFC 3168: only ECN-capable packets (ECT(0) 10, ECT(1) 01) may
	 * carry CE (11); Not-ECT (00) must be left as it is */
	if ((res->mark_flags & RL_MK_ECN) && (tos & 0x03))
		tos |= 0x03;
	return tos;
}

/*
 * The IP header's offset and family, found again from the skb: carrying
 * them through the decision core as stack values multiplies the verifier's
 * states (it then tells VLAN depths apart in all of the core).
 */
static __always_inline int rl_l3(struct __sk_buff *skb, __u32 *off)
{
	__be16 proto;
	int i;

	*off = offsetof(struct ethhdr, h_proto);
#pragma unroll
	for (i = 0; i <= RL_MAX_VLAN; i++) {
		if (bpf_skb_load_bytes(skb, *off, &proto, 2))
			return 0;
		*off += 2;
		if (proto == bpf_htons(ETH_P_IP))
			return 4;
		if (proto == bpf_htons(ETH_P_IPV6))
			return 6;
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			return 0;
		*off += 2;
	}
	return 0;
}

/* Label an over-limit skb with the mark rule's skb mark, DSCP and ECN CE. */
static __always_inline void rl_label(struct __sk_buff *skb,
				     const struct rl_res *res)
{
	__u8 w[2], nw[2], tc, ntc;
	__u32 off;
	int fam;

	if (res->mark_flags & RL_MK_MARK)
		skb->mark = res->mark;
	if (!(res->mark_flags & (RL_MK_DSCP | RL_MK_ECN)))
		return;
	fam = rl_l3(skb, &off);
	if (!fam || bpf_skb_load_bytes(skb, off, w, 2))
		return;
	if (fam == 4) {
		/* the TOS byte and its header checksum change together, so the
		 * header's one's-complement sum (and a CHECKSUM_COMPLETE
		 * skb->csum) stays the same */
		ntc = rl_tos_label(w[1], res);
		if (ntc == w[1])
			return;
		nw[0] = w[0];
		nw[1] = ntc;
		bpf_l3_csum_replace(skb, off + offsetof(struct iphdr, check),
				    *(__u16 *)w, *(__u16 *)nw, 2);
		bpf_skb_store_bytes(skb, off + 1, &ntc, 1, 0);
		return;
	}
	/* IPv6: version(4) | traffic class(8) | flow label(20) */
	tc = (__u8)((w[0] & 0x0f) << 4) | (w[1] >> 4);
	ntc = rl_tos_label(tc, res);
	if (ntc == tc)
		return;
	nw[0] = (w[0] & 0xf0) | (ntc >> 4);
	nw[1] = (__u8)(ntc << 4) | (w[1] & 0x0f);
	/* no IPv6 header checksum; RECOMPUTE fixes a CHECKSUM_COMPLETE csum */
	bpf_skb_store_bytes(skb, off, nw, 2, BPF_F_RECOMPUTE_CSUM);
}

/*
 * TC ingress (clsact, direct action).  Returns TC_ACT_UNSPEC always, so
 * filters after ours still run and can act on the label (TC_ACT_OK would
 * end classification); at the end of the chain UNSPEC means pass.
 */
SEC("tc")
int rl_tc_in(struct __sk_buff *skb)
{
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
	__u32 zero = 0, lin;
	__u64 now;
	int pr;

	lin = skb->data_end - skb->data;
	if (lin < RL_TC_PULL && skb->len > lin)
		bpf_skb_pull_data(skb, skb->len < RL_TC_PULL ? skb->len : RL_TC_PULL);
	pr = rl_parse((void *)(long)skb->data, (void *)(long)skb->data_end, &pkt);
	if (pr != RL_PARSE_OK)
		return TC_ACT_UNSPEC;
	/* the whole skb, not its linear part: byte limits see what XDP saw */
	pkt.len = skb->len;
	pkt.segs = skb->gso_segs;
	conf = bpf_map_lookup_elem(&rl_conf, &zero);
	if (!conf)
		conf = &dflt;
	now = conf->coarse_clock ? bpf_ktime_get_coarse_ns() : bpf_ktime_get_ns();
	if (rl_decide(&maps, conf, RL_HOOK_TC, pr, &pkt, now, &res))
		rl_label(skb, &res);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
