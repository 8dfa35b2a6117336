/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_tc.h - the TC ingress program rl_tc_in and the labelling of
 * over-limit skbs (skb mark, DSCP, ECN CE) for rules with action mark.
 * XDP has no skb and so no mark: it passes a mark rule's packets on
 * uncharged (RL_G_TC_DEFER) and this program decides them with the same
 * core.  Included at the end of bpf/rl_xdp.bpf.c, so both programs share
 * one object, one skeleton and one set of maps.
 */
#ifndef RL_TC_H
#define RL_TC_H

#include "rl_core.h"


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
		if (!rl_is_vlan(proto))
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
 * end classification); at the end of the chain UNSPEC means pass.  The
 * agent attaches it only while a mark rule exists.
 */
SEC("tc")
int rl_tc_in(struct __sk_buff *skb)
{
	struct rl_res res = {};
	struct rl_conf *conf;
	struct rl_pkt pkt;
	__u32 zero = 0, lin;
	int pr;

	lin = skb->data_end - skb->data;
	if (lin < RL_TC_PULL && skb->len > lin)
		bpf_skb_pull_data(skb, skb->len < RL_TC_PULL ? skb->len : RL_TC_PULL);
	/* the whole skb, not its linear part: byte limits see what XDP saw */
	pkt.len = skb->len;
	pkt.segs = skb->gso_segs;
	pr = rl_parse((void *)(long)skb->data, (void *)(long)skb->data_end,
		      &pkt, 1);
	/* what XDP could not parse, or parsed past TC's pull, XDP decided */
	if (pr != RL_PARSE_OK || pkt.hdr_end > RL_TC_PULL)
		return TC_ACT_UNSPEC;
	conf = bpf_map_lookup_elem(&rl_conf, &zero);
	if (!conf)
		return TC_ACT_UNSPEC;
	rl_decide(conf, RL_HOOK_TC, &pkt, &res);
	if (res.label)
		rl_label(skb, &res);
	return TC_ACT_UNSPEC;
}

#endif /* RL_TC_H */
