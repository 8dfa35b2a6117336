/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_core.h - the decision core shared by the XDP and TC ingress hooks:
 * given a parsed packet and the clock, it finds the rule, charges the
 * key's state and updates every counter.  Included by bpf/rl_xdp.bpf.c.
 *
 * Division of labour (enum rl_hook): XDP decides everything except rules
 * with action mark, whose packets it passes on uncharged (RL_G_TC_DEFER);
 * only TC has an skb to label, so TC decides them and ignores every other
 * packet, which XDP already decided and counted.
 *
 * Accounting: RL_G_PACKETS counts every packet (at XDP), and every packet
 * lands in exactly one terminal counter:
 *
 *   RL_G_NON_IP, RL_G_PARSE_ERR, RL_G_UNMATCHED, RL_G_ALLOW, RL_G_BLOCKLIST,
 *   rl_stats[rule][verdict], RL_G_FULL_PASS, RL_G_FULL_DROP, RL_G_LOCK_BUSY,
 *   and for a packet XDP deferred to TC: TC's rl_stats verdict, or
 *   RL_G_TC_UNPARSED when TC cannot parse what XDP could (a header past
 *   TC's linear pull).
 *
 * RL_G_FRAGMENT, RL_G_STATE_NEW, RL_G_MAP_FULL, RL_G_FULL_AGG, RL_G_EVICT,
 * RL_G_TC_DEFER and RL_G_EV_LOST (drop events not reported; it counts
 * events, not packets) are additional.  Packets that never met a limit (full
 * map with fail-open or fail-closed, contention) are not in rl_stats: its
 * verdicts mean "what the limit said".
 */
#ifndef RL_CORE_H
#define RL_CORE_H

#include "rl_bpf.h"
#include "rl_abi.h"
#include "rl_algo.h"
#include "rl_rulematch.h"
#include "rl_parse.h"
#include "rl_state.h"
#include "rl_evemit.h"

enum rl_hook {
	RL_HOOK_XDP = 0,           /* every action but mark                 */
	RL_HOOK_TC,                /* mark rules only                       */
};

/* What the hook does with the packet. */
struct rl_res {
	__u32 drop;                /* 1: drop the packet (XDP only)         */
	__u32 label;               /* 1: label the skb (TC only)            */
	__u32 mark;                /* with label: the rule's RL_MK_* values */
	__u8  mark_flags;
	__u8  dscp;
	__u8  _pad[2];
};

static __always_inline void rl_stat(__u32 rule, __u32 verdict, __u32 len)
{
	__u32 idx = rule * __RL_V_MAX + verdict;
	struct rl_ctr *c = bpf_map_lookup_elem(&rl_stats, &idx);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline int rl_rule_matches(const struct rl_rule *r,
					   const struct rl_pkt *p)
{
	return rl_rule_takes(r, p->family, p->proto, p->has_ports, p->dport, p->syn);
}

/*
 * The first candidate rule that matches the packet (candidates are sorted
 * most specific first), or -1.  A global function: the verifier checks the
 * sixteen candidates once instead of once per parsed-packet shape.
 */
__noinline int rl_pick_rule(const struct rl_match *mt, const struct rl_pkt *p)
{
	__u32 i, n;

	if (!mt || !p)
		return -1;
	n = mt->n;
	for (i = 0; i < RL_MAX_CAND; i++) {
		if (i >= n)
			break;
		if (rl_rule_matches(&mt->rule[i], p))
			return (int)i;
	}
	return -1;
}

/* Mask an IPv4 source (network order) to the rule's key length. */
static __always_inline __u32 rl_mask4(__u32 addr, __u8 plen)
{
	if (plen >= 32)
		return addr;
	if (!plen)
		return 0;
	return addr & bpf_htonl(~0u << (32 - plen));
}

/* Mask an IPv6 source (two 64-bit halves, network order) to plen bits. */
static __always_inline void rl_mask6(__u64 *dst, const __u64 *src, __u8 plen)
{
	__u64 m;
	int i;

#pragma unroll
	for (i = 0; i < 2; i++) {
		__u32 bits = plen > i * 64 ? plen - i * 64 : 0;

		if (bits >= 64)
			m = ~0ULL;
		else if (!bits)
			m = 0;
		else
			m = bpf_cpu_to_be64(~0ULL << (64 - bits));
		dst[i] = src[i] & m;
	}
}

/*
 * Sliding log of one key under its spin lock.  The deny pre-check reads
 * without the lock; the lock is taken only when the packet may pass, and
 * nothing inside it calls a helper (the verifier forbids it): `now` was
 * read before.
 */
static __always_inline __u32 rl_charge_slog(const struct rl_rule *r,
					    struct rl_slog *sl,
					    struct rl_clock *clk)
{
	__u64 late = clk->late, now;
	__u32 v;

	if (sl->tag == r->tag) {
		if (late < sl->block_until_ns)
			return RL_V_BLOCK;
		if (rl_slog_full(&r->limit, &sl->r, late) && !r->block_ns)
			return RL_V_DROP;
	}
	now = rl_clock_now(clk);
	bpf_spin_lock(&sl->lock);
	/* new generation (or none yet): fresh; new epoch: drained */
	v = rl_slog_decide(r, &sl->tag, &sl->block_until_ns, &sl->r, now);
	bpf_spin_unlock(&sl->lock);
	return v;
}

/* The rule's shared state: rl_agg or rl_slagg at its id. */
static __always_inline __u32 rl_charge_agg(const struct rl_rule *r, __u64 cost,
					   struct rl_clock *clk)
{
	__u32 id = r->id;
	struct rl_slog *sl;
	__u64 *w;

	if (r->limit.algo == RL_ALGO_SLIDING_LOG) {
		sl = bpf_map_lookup_elem(&rl_slagg, &id);
		return sl ? rl_charge_slog(r, sl, clk) : RL_CHARGE_BUSY;
	}
	w = bpf_map_lookup_elem(&rl_agg, &id);
	return w ? rl_charge(r, w, cost, clk) : RL_CHARGE_BUSY;
}

/* A per-source sliding log: found, or inserted (BPF_NOEXIST is race-free). */
static __always_inline struct rl_slog *rl_slog_get(void *map, const void *key,
						   __u32 len)
{
	/* zeroes of the value's size, typed without the spin lock: a lock
	 * may not live in .rodata */
	static const __u64 zero[sizeof(struct rl_slog) / 8];
	struct rl_slog *sl = bpf_map_lookup_elem(map, key);

	if (sl)
		return sl;
	if (!bpf_map_update_elem(map, key, zero, BPF_NOEXIST))
		rl_gcount1(RL_G_STATE_NEW, len);
	return bpf_map_lookup_elem(map, key);
}

/*
 * Charge the packet to its source's state.  Returns a verdict,
 * RL_CHARGE_BUSY, or sets *full when there was no room for a new key.
 */
static __always_inline __u32 rl_charge_source(const struct rl_rule *r,
					      const struct rl_pkt *p,
					      __u64 cost, struct rl_clock *clk,
					      int evict, int *full)
{
	struct rl_key4 k4;
	struct rl_key6 k6;
	struct rl_slog *sl;
	__u64 a6[2], *wp = 0;
	__u32 a4;
	int res;

	if (p->family == 4) {
		a4 = rl_mask4(p->src4, r->plen4);
		if (r->limit.algo == RL_ALGO_SLIDING_LOG) {
			k4.rule = r->id;
			k4.addr = a4;
			sl = rl_slog_get(&rl_sl4, &k4, p->len);
			goto slog;
		}
		res = rl_slot_get4((__u64)(r->id + 1) << 32 | a4, clk, evict,
				   p->len, &wp);
	} else {
		rl_mask6(a6, p->src6, r->plen6);
		if (r->limit.algo == RL_ALGO_SLIDING_LOG) {
			k6.rule = r->id;
			__builtin_memcpy(k6.addr, a6, 16);
			sl = rl_slog_get(&rl_sl6, &k6, p->len);
			goto slog;
		}
		res = rl_slot_get6(r->id, a6, clk, evict, p->len, &wp);
	}
	if (res == RL_SLOT_FULL) {
		*full = 1;
		return RL_CHARGE_BUSY;
	}
	if (res != RL_SLOT_OK || !wp)
		return RL_CHARGE_BUSY;
	return rl_charge(r, wp, cost, clk);
slog:
	if (!sl) {
		*full = 1;
		return RL_CHARGE_BUSY;
	}
	return rl_charge_slog(r, sl, clk);
}

/*
 * After the limit spoke: the monitor and mark actions.  `v` is what the
 * limit said (PASS/DROP/BLOCK); returns the counted verdict.  A mark
 * rule's over-limit and boxed packets are both labelled.
 */
static __always_inline __u32 rl_apply_action(const struct rl_rule *r, __u32 v,
					     struct rl_res *res)
{
	if (v == RL_V_PASS)
		return RL_V_PASS;
	if (r->action == RL_ACT_MONITOR)
		return RL_V_MONITOR;
	if (r->action == RL_ACT_MARK) {
		res->label = 1;
		return RL_V_MARK;
	}
	res->drop = 1;
	return v;
}

/*
 * The match entry of the packet's source: its /16's cell in the direct
 * table (rl_abi.h "Direct match table"), and the LPM trie only where the
 * cell says so.  One call site per map, so every array lookup is inlined.
 */
static __always_inline const struct rl_match *rl_match_get(const struct rl_pkt *p)
{
	const struct rl_match *m;
	struct rl_lpm4 k4;
	struct rl_lpm6 k6;
	__u64 *d;
	__u32 cell, idx, v;

	/* the asm (a move, an add of 0: ~free) keeps clang from merging
	 * lookups of different maps into one call on a selected map, which
	 * the verifier could not inline */
	if (p->family == 4) {
		cell = bpf_ntohl(p->src4) >> (32 - RL_DIR_BITS);
		idx = cell / RL_DIR_PER_ELEM;
		d = bpf_map_lookup_elem(&rl_dir4, &idx);
		v = d ? (__u16)(*d >> (cell % RL_DIR_PER_ELEM * 16)) : RL_DIR_TRIE;
		asm volatile("%0 = %0" : "+r"(v));
	} else {
		cell = bpf_be64_to_cpu(p->src6[0]) >> (64 - RL_DIR_BITS);
		idx = cell / RL_DIR_PER_ELEM;
		d = bpf_map_lookup_elem(&rl_dir6, &idx);
		v = d ? (__u16)(*d >> (cell % RL_DIR_PER_ELEM * 16)) : RL_DIR_TRIE;
		asm volatile("%0 += 0" : "+r"(v));
	}
	if (v != RL_DIR_TRIE) {
		if (v == RL_DIR_NONE)
			return 0;
		cell = v - 1;
		m = bpf_map_lookup_elem(&rl_mval, &cell);
		asm volatile("%0 = %0" : "+r"(m));
		/* a cell naming no slot (never written so) asks the trie */
		if (m)
			return m;
	}
	if (p->family == 4) {
		k4.prefixlen = 32;
		k4.addr = p->src4;
		return bpf_map_lookup_elem(&rl_match4, &k4);
	}
	k6.prefixlen = 128;
	__builtin_memcpy(k6.addr, p->src6, 16);
	return bpf_map_lookup_elem(&rl_match6, &k6);
}

/*
 * The source's bulk-list entry (rl_lists.h), or NULL: its guard bit, and
 * the list trie only where the bit is set, so a source on no list pays
 * one inlined array load.
 */
static __always_inline const struct rl_lval *rl_list_get(const struct rl_pkt *p)
{
	struct rl_lpm4 k4;
	struct rl_lpm6 k6;
	__u64 *w, hi;
	__u32 bit, idx;

	if (p->family == 4) {
		bit = rl_lbm4_bit(bpf_ntohl(p->src4));
		idx = bit / 64;
		w = bpf_map_lookup_elem(&rl_lbm4, &idx);
		asm volatile("%0 = %0" : "+r"(w));
		if (!w || !((*w >> (bit % 64)) & 1))
			return 0;
		k4.prefixlen = 32;
		k4.addr = p->src4;
		return bpf_map_lookup_elem(&rl_lst4, &k4);
	}
	hi = bpf_be64_to_cpu(p->src6[0]);
	bit = rl_lbm6_short_bit(hi);
	idx = bit / 64;
	asm volatile("%0 += 0" : "+r"(idx));
	w = bpf_map_lookup_elem(&rl_lbm6, &idx);
	if (!w || !((*w >> (bit % 64)) & 1)) {
		bit = rl_lbm6_hash_bit(hi);
		idx = RL_LBM6_SHORT + bit / 64;
		w = bpf_map_lookup_elem(&rl_lbm6, &idx);
		if (!w || !((*w >> (bit % 64)) & 1))
			return 0;
	}
	k6.prefixlen = 128;
	__builtin_memcpy(k6.addr, p->src6, 16);
	return bpf_map_lookup_elem(&rl_lst6, &k6);
}

/*
 * Decide one parsed packet (RL_PARSE_OK) at `hook` (a constant, so each
 * program keeps only its own branches).  Fills *res and counts it.
 */
static __always_inline void rl_decide(const struct rl_conf *conf,
				      enum rl_hook hook,
				      const struct rl_pkt *p,
				      struct rl_res *res)
{
	const struct rl_match *mt;
	const struct rl_lval *lv;
	const struct rl_rule *r = 0;
	struct rl_clock clk;
	__u32 v, i, g;
	int ri;
	__u64 cost;
	int full = 0;

	if (p->frag_nonfirst && hook == RL_HOOK_XDP)
		rl_gcount1(RL_G_FRAGMENT, p->len);

	/* the bulk lists first: allow beats block beats rules */
	lv = rl_list_get(p);
	if (lv) {
		if (lv->flags & RL_LF_ALLOW) {
			g = RL_G_ALLOW;
			goto global;
		}
		rl_clock_start(&clk, conf->coarse_clock);
		if ((lv->flags & RL_LF_BLOCK) &&
		    (clk.late < lv->block_until_ns ||
		     rl_clock_now(&clk) < lv->block_until_ns)) {
			g = RL_G_BLOCKLIST;
			res->drop = 1;
			if (conf->events)
				rl_ev_blocked(p, &clk, hook);
			goto global;
		}
	}

	mt = rl_match_get(p);
	g = RL_G_UNMATCHED;
	if (!mt)
		goto global;
	rl_clock_start(&clk, conf->coarse_clock);

	/* the most specific candidate usually matches: test it inline, and
	 * pay the call into the sixteen-candidate loop only when it does not
	 * (a BPF-to-BPF call costs ~9 ns here) */
	if (mt->n && rl_rule_matches(&mt->rule[0], p)) {
		ri = 0;
	} else {
		ri = rl_pick_rule(mt, p);
		if (ri < 0)
			goto global;
	}
	i = (__u32)ri & (RL_MAX_CAND - 1);
	rl_opaque(i);
	r = &mt->rule[i];
	if (r->id >= RL_MAX_RULES) {
		r = 0;
		goto global;
	}
	if (hook == RL_HOOK_XDP && r->action == RL_ACT_MARK) {
		if (p->hdr_end > RL_TC_PULL) {
			/* TC could not read it: it passes here, unlabelled */
			g = RL_G_TC_UNPARSED;
			goto global;
		}
		/* uncharged here: charging twice would halve the rate */
		rl_gcount1(RL_G_TC_DEFER, p->len);
		return;
	}
	if (hook == RL_HOOK_TC) {
		if (r->action != RL_ACT_MARK)
			return;
		res->mark = r->mark;
		res->mark_flags = r->mark_flags;
		res->dscp = r->dscp;
	}

	/* a GRO skb at TC stands for segs packets; bytes are capped to the
	 * largest cost the algorithms' bounds allow */
	if (r->flags & RL_RF_BYTES)
		cost = p->len < RL_MAX_COST ? p->len : RL_MAX_COST;
	else
		cost = p->segs > 1 ? p->segs : 1;
	if (cost > RL_MAX_COST)
		cost = RL_MAX_COST;
	if (r->flags & RL_RF_PER_RULE)
		v = rl_charge_agg(r, cost, &clk);
	else
		v = rl_charge_source(r, p, cost, &clk,
				     conf->on_full == RL_FULL_EVICT, &full);

	if (full) {
		rl_gcount1(RL_G_MAP_FULL, p->len);
		switch (conf->on_full) {
		case RL_FULL_FAIL_CLOSED:
			g = RL_G_FULL_DROP;
			res->drop = 1;
			goto global;
		case RL_FULL_AGGREGATE:
		case RL_FULL_EVICT:
			/* evict: only a full sliding-log hash gets here (logs
			 * are not evicted; the agent's sweep deletes idle ones):
			 * the rule's shared log limits what has no log of its
			 * own, so a random-source flood cannot open the rule */
			rl_gcount1(RL_G_FULL_AGG, p->len);
			v = rl_charge_agg(r, cost, &clk);
			break;
		default:
			g = RL_G_FULL_PASS;
			goto global;
		}
	}
	if (v == RL_CHARGE_BUSY) {
		/* fail closed: contention must never over-admit; a monitor
		 * rule never drops, so it passes (still counted) */
		g = RL_G_LOCK_BUSY;
		res->drop = r->action != RL_ACT_MONITOR;
		goto global;
	}
	i = rl_apply_action(r, v, res);
	rl_stat(r->id, i, p->len);
	if (v == RL_V_DROP && conf->events)
		rl_ev_limit(r, p, i, &clk, hook);
	goto out;

global:
	/* at TC only a mark rule's packet gets here with a rule */
	if (hook == RL_HOOK_XDP || r)
		rl_gcount1(g, p->len);
out:
	if (hook == RL_HOOK_TC) {
		/* TC never drops: what would drop (fail-closed, contention)
		 * is labelled and goes on */
		res->label |= res->drop;
		res->drop = 0;
	}
}

#endif /* RL_CORE_H */
