/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_core.h - the decision core shared by the XDP and TC ingress hooks:
 * given a parse result, a parsed packet, `now` and the map pointers, it
 * decides pass, drop or label and updates every counter.  The hook only
 * parses, reads the clock once and maps the result to its own return code.
 * Included by bpf/rl_xdp.bpf.c.
 *
 * Division of labour (enum rl_hook): XDP decides everything except rules
 * with action mark, whose packets it passes on uncharged (counted in
 * RL_G_TC_DEFER); only TC has an skb to label, so TC decides them and
 * ignores every other packet, which XDP already decided and counted.
 *
 * Accounting: RL_G_PACKETS counts every packet (at XDP), and every packet
 * lands in exactly one terminal counter (a mark rule's packet at TC):
 *
 *   RL_G_NON_IP, RL_G_PARSE_ERR, RL_G_UNMATCHED, RL_G_ALLOW, RL_G_BLOCKLIST,
 *   rl_stats[rule][verdict], RL_G_FULL_PASS, RL_G_FULL_DROP, RL_G_LOCK_BUSY
 *
 * RL_G_FRAGMENT, RL_G_STATE_NEW, RL_G_MAP_FULL, RL_G_FULL_AGG and
 * RL_G_TC_DEFER are
 * additional (a packet charged to the aggregate after a full map ends in
 * rl_stats).  Packets that never met a limit (full map with fail-open or
 * fail-closed, lock given up) are not in rl_stats: its verdicts mean "what
 * the limit said".
 *
 * Rule ver 0 (generation 0) is reserved: zeroed state (a fresh rl_agg slot,
 * a fresh sliding log) carries ver 0, and the version check initialises it
 * for the rule on first use.
 */
#ifndef RL_CORE_H
#define RL_CORE_H

#include "rl_bpf.h"

#include "rl_abi.h"
#include "rl_algo.h"
#include "rl_lock.h"
#include "rl_parse.h"

/* The maps the core uses; the hook fills it with its map definitions. */
struct rl_maps {
	void *match4, *match6;
	void *st4, *st6;
	void *sl4, *sl6;
	void *agg, *slagg;
	void *stats, *gstats;
};

#define RL_V_NONE  0xffffffffu     /* rl_res.verdict: no rule verdict */

enum rl_hook {
	RL_HOOK_XDP = 0,           /* every action but mark                 */
	RL_HOOK_TC,                /* mark rules only                       */
};

struct rl_res {
	__u32 drop;                /* 1: drop the packet (XDP only)         */
	__u32 gstat;               /* terminal counter if verdict is NONE   */
	__u32 rule_id;             /* valid when verdict != RL_V_NONE       */
	__u32 verdict;             /* enum rl_verdict or RL_V_NONE          */
	__u32 label;               /* 1: label the skb (TC only)            */
	__u32 mark;                /* with label: the rule's RL_MK_* values */
	__u8  mark_flags;
	__u8  dscp;
	__u8  _pad[2];
};

/*
 * A new key's sliding log.  All zero is rl_slog_init(full) with ver 0,
 * which the locked version check turns into the rule's fresh state; it
 * lives in .rodata because 280 bytes do not fit the 512-byte BPF stack
 * beside the rest of the core.
 */
static const struct rl_slog rl_slog_zero;

/* Internal outcome of charging a state: a verdict or "lock busy". */
#define RL_CHARGE_BUSY  __RL_V_MAX

static __always_inline void rl_ctr_add(void *map, __u32 idx, __u32 len)
{
	struct rl_ctr *c = bpf_map_lookup_elem(map, &idx);

	/* per-CPU slot, and XDP cannot migrate mid-packet: no atomics */
	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline void rl_gcount(const struct rl_maps *m, __u32 g,
				      __u32 len)
{
	rl_ctr_add(m->gstats, g, len);
}

static __always_inline int rl_rule_matches(const struct rl_rule *r,
					   const struct rl_pkt *p)
{
	__u8 fam = r->flags & (RL_RF_V4 | RL_RF_V6);
	int any_port;

	/* neither family flag: the rule is in this family's trie, so it applies */
	if (fam && !(fam & (p->family == 4 ? RL_RF_V4 : RL_RF_V6)))
		return 0;
	if (r->proto && r->proto != p->proto)
		return 0;
	/* 0..65535 is "any"; 0..0 (a zeroed rule) is read the same way */
	any_port = r->dport_lo == 0 &&
		   (r->dport_hi == 0 || r->dport_hi == 0xffff);
	if (!any_port && (!p->has_ports || p->dport < r->dport_lo ||
			  p->dport > r->dport_hi))
		return 0;
	if ((r->flags & RL_RF_SYN) && (p->proto != IPPROTO_TCP || !p->syn ||
				       !p->has_ports))
		return 0;
	return 1;
}

static __always_inline __u64 rl_sat_add(__u64 a, __u64 b)
{
	return a + b < a ? ~0ULL : a + b;
}

/*
 * After the limit spoke: the penalty box and the monitor and mark actions.
 * `v` is what the limit said (PASS/DROP/BLOCK); returns the counted
 * verdict.  A mark rule's over-limit and boxed packets are both labelled:
 * the penalty box of a mark rule labels everything for a while.
 */
static __always_inline __u32 rl_apply_action(const struct rl_rule *r, __u32 v,
					     struct rl_res *res)
{
	res->drop = 0;
	if (v == RL_V_PASS)
		return RL_V_PASS;
	if (r->action == RL_ACT_MONITOR)
		return RL_V_MONITOR;
	if (r->action == RL_ACT_MARK)
		return RL_V_MARK;
	res->drop = 1;
	return v;
}

/* Charge a words state under its lock.  Returns a verdict or RL_CHARGE_BUSY. */
static __always_inline __u32 rl_charge_state(const struct rl_rule *r,
					     struct rl_state *st, __u64 cost,
					     __u64 now)
{
	__u32 v;

	if (!rl_trylock(&st->lock))
		return RL_CHARGE_BUSY;
	if (st->ver != r->ver) {
		/* new generation: a new rule in this slot, full credit as for
		 * a new key; same generation, new epoch: drained (no second
		 * burst at an algorithm switch) */
		int full = (st->ver >> 16) != (r->ver >> 16);

		rl_algo_init(&r->limit, &st->s, now, full);
		if (full)
			st->block_until_ns = 0;
		st->ver = r->ver;
	}
	if (now < st->block_until_ns) {
		v = RL_V_BLOCK;
	} else if (rl_algo_admit(&r->limit, &st->s, cost, now)) {
		v = RL_V_PASS;
	} else {
		v = RL_V_DROP;
		if (r->block_ns)
			st->block_until_ns = rl_sat_add(now, r->block_ns);
	}
	rl_unlock(&st->lock);
	return v;
}

static __always_inline __u32 rl_charge_slog(const struct rl_rule *r,
					    struct rl_slog *sl, __u64 now)
{
	__u32 v;

	if (!rl_trylock(&sl->lock))
		return RL_CHARGE_BUSY;
	if (sl->ver != r->ver) {
		int full = (sl->ver >> 16) != (r->ver >> 16);

		rl_slog_init(&r->limit, sl, now, full);
		if (full)
			sl->block_until_ns = 0;
		sl->ver = r->ver;
	}
	if (now < sl->block_until_ns) {
		v = RL_V_BLOCK;
	} else if (rl_slog_admit(&r->limit, sl, now)) {
		v = RL_V_PASS;
	} else {
		v = RL_V_DROP;
		if (r->block_ns)
			sl->block_until_ns = rl_sat_add(now, r->block_ns);
	}
	rl_unlock(&sl->lock);
	return v;
}

/* The per-rule bucket: rl_agg or rl_slagg at the rule's id. */
static __always_inline __u32 rl_charge_agg(const struct rl_maps *m,
					   const struct rl_rule *r, __u64 cost,
					   __u64 now)
{
	__u32 id = r->id;
	struct rl_state *st;
	struct rl_slog *sl;

	if (r->limit.algo == RL_ALGO_SLIDING_LOG) {
		sl = bpf_map_lookup_elem(m->slagg, &id);
		return sl ? rl_charge_slog(r, sl, now) : RL_CHARGE_BUSY;
	}
	st = bpf_map_lookup_elem(m->agg, &id);
	return st ? rl_charge_state(r, st, cost, now) : RL_CHARGE_BUSY;
}

/* Mask an IPv4/IPv6 source (network order) to the rule's key length. */
static __always_inline __u32 rl_mask4(__u32 addr, __u8 plen)
{
	if (plen >= 32)
		return addr;
	if (!plen)
		return 0;
	return addr & bpf_htonl(~0u << (32 - plen));
}

static __always_inline void rl_mask6(__u8 *dst, const __u8 *src, __u8 plen)
{
	__u32 w[4], bits;
	int i;

	__builtin_memcpy(w, src, 16);
#pragma unroll
	for (i = 0; i < 4; i++) {
		bits = plen > i * 32 ? plen - i * 32 : 0;
		w[i] = rl_mask4(w[i], bits > 32 ? 32 : bits);
	}
	__builtin_memcpy(dst, w, 16);
}

/*
 * Look up the key's state, inserting it if new.  `init` is the value a new
 * key starts with.  BPF_NOEXIST makes the insert race-free: if another CPU
 * inserted first, ours fails with -EEXIST and both use the one entry.
 * Returns NULL when the map is full (or the entry vanished again at once).
 */
static __always_inline void *rl_state_get(const struct rl_maps *m, void *map,
					  const void *key, const void *init,
					  __u32 len)
{
	void *v = bpf_map_lookup_elem(map, key);
	long err;

	if (v)
		return v;
	err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	if (!err)
		rl_gcount(m, RL_G_STATE_NEW, len);
	return bpf_map_lookup_elem(map, key);
}

/*
 * The state the packet is charged to.  Returns a verdict, RL_CHARGE_BUSY,
 * or sets *full when no per-source state could be had.
 */
static __always_inline __u32 rl_charge_source(const struct rl_maps *m,
					      const struct rl_rule *r,
					      const struct rl_pkt *p,
					      __u64 cost, __u64 now, int *full)
{
	struct rl_state init = {};
	struct rl_key4 k4 = {};
	struct rl_key6 k6 = {};
	struct rl_state *st;
	struct rl_slog *sl;
	const void *key;
	__u32 addr;
	void *map;

	if (p->family == 4) {
		__builtin_memcpy(&addr, p->src, 4);
		k4.rule = r->id;
		k4.addr = rl_mask4(addr, r->plen4);
		key = &k4;
	} else {
		k6.rule = r->id;
		rl_mask6(k6.addr, p->src, r->plen6);
		key = &k6;
	}

	if (r->limit.algo == RL_ALGO_SLIDING_LOG) {
		map = p->family == 4 ? m->sl4 : m->sl6;
		sl = rl_state_get(m, map, key, &rl_slog_zero, p->len);
		if (!sl) {
			*full = 1;
			return RL_CHARGE_BUSY;
		}
		return rl_charge_slog(r, sl, now);
	}

	init.ver = r->ver;
	rl_algo_init(&r->limit, &init.s, now, 1);
	map = p->family == 4 ? m->st4 : m->st6;
	st = rl_state_get(m, map, key, &init, p->len);
	if (!st) {
		*full = 1;
		return RL_CHARGE_BUSY;
	}
	return rl_charge_state(r, st, cost, now);
}

/*
 * Decide one packet at `hook` (a constant, so each program keeps only its
 * own branches).  parse_res is rl_parse()'s result; p and now are only
 * read for RL_PARSE_OK.  Fills *res; returns res->drop at XDP, res->label
 * at TC.
 */
static __always_inline int rl_decide(const struct rl_maps *m,
				     const struct rl_conf *conf,
				     enum rl_hook hook, int parse_res,
				     const struct rl_pkt *p, __u64 now,
				     struct rl_res *res)
{
	const struct rl_match *mt;
	const struct rl_rule *r = 0;
	struct rl_lpm4 k4;
	struct rl_lpm6 k6;
	__u32 v, n, i;
	__u64 cost;
	int full = 0;

	res->drop = 0;
	res->gstat = RL_G_PACKETS;
	res->rule_id = 0;
	res->verdict = RL_V_NONE;
	res->label = 0;
	res->mark = 0;
	res->mark_flags = 0;
	res->dscp = 0;
	if (hook == RL_HOOK_TC && parse_res != RL_PARSE_OK)
		return 0;          /* XDP counted and judged it */
	if (hook == RL_HOOK_XDP)
		rl_gcount(m, RL_G_PACKETS, p->len);

	if (parse_res == RL_PARSE_NON_IP) {
		res->gstat = RL_G_NON_IP;
		goto global;
	}
	if (parse_res != RL_PARSE_OK) {
		res->gstat = RL_G_PARSE_ERR;
		res->drop = conf->malformed != RL_MALFORMED_PASS;
		goto global;
	}
	if (p->frag_nonfirst && hook == RL_HOOK_XDP)
		rl_gcount(m, RL_G_FRAGMENT, p->len);

	/* one LPM lookup: every rule and list state for this source */
	if (p->family == 4) {
		k4.prefixlen = 32;
		__builtin_memcpy(&k4.addr, p->src, 4);
		mt = bpf_map_lookup_elem(m->match4, &k4);
	} else {
		k6.prefixlen = 128;
		__builtin_memcpy(k6.addr, p->src, 16);
		mt = bpf_map_lookup_elem(m->match6, &k6);
	}
	res->gstat = RL_G_UNMATCHED;
	if (!mt)
		goto global;
	/* allow beats block beats rules */
	if (mt->flags & RL_MF_ALLOW) {
		res->gstat = RL_G_ALLOW;
		goto global;
	}
	if ((mt->flags & RL_MF_BLOCK) && now < mt->block_until_ns) {
		res->gstat = RL_G_BLOCKLIST;
		res->drop = 1;
		goto global;
	}

	/* candidates are sorted most specific first: the first match wins */
	n = mt->n;
	for (i = 0; i < RL_MAX_CAND; i++) {
		if (i >= n)
			break;
		if (rl_rule_matches(&mt->rule[i], p)) {
			r = &mt->rule[i];
			break;
		}
	}
	if (r && r->id >= RL_MAX_RULES)
		r = 0;
	if (!r)
		goto global;
	if (hook == RL_HOOK_XDP && r->action == RL_ACT_MARK) {
		/* uncharged here: charging twice would halve the rate */
		rl_gcount(m, RL_G_TC_DEFER, p->len);
		return 0;
	}
	if (hook == RL_HOOK_TC) {
		if (r->action != RL_ACT_MARK)
			return 0;
		res->mark = r->mark;
		res->mark_flags = r->mark_flags;
		res->dscp = r->dscp;
	}

	/* a GRO skb at TC stands for segs packets; bytes are capped to the
	 * largest cost the algorithms' overflow bounds allow */
	if (r->flags & RL_RF_BYTES)
		cost = p->len < RL_MAX_COST ? p->len : RL_MAX_COST;
	else
		cost = p->segs > 1 ? p->segs : 1;
	if (r->flags & RL_RF_PER_RULE)
		v = rl_charge_agg(m, r, cost, now);
	else
		v = rl_charge_source(m, r, p, cost, now, &full);

	if (full) {
		rl_gcount(m, RL_G_MAP_FULL, p->len);
		switch (conf->on_full) {
		case RL_FULL_FAIL_CLOSED:
			res->gstat = RL_G_FULL_DROP;
			res->drop = 1;
			goto global;
		case RL_FULL_AGGREGATE:
			rl_gcount(m, RL_G_FULL_AGG, p->len);
			v = rl_charge_agg(m, r, cost, now);
			break;
		default:
			/* fail-open, and evict when even LRU could not insert */
			res->gstat = RL_G_FULL_PASS;
			goto global;
		}
	}
	if (v == RL_CHARGE_BUSY) {
		/* fail closed: contention must never over-admit; a monitor
		 * rule never drops, so it passes (still counted) */
		res->gstat = RL_G_LOCK_BUSY;
		res->drop = r->action != RL_ACT_MONITOR;
		goto global;
	}

	res->rule_id = r->id;
	res->verdict = rl_apply_action(r, v, res);
	rl_ctr_add(m->stats, r->id * __RL_V_MAX + res->verdict, p->len);
	goto out;

global:
	/* at TC only a mark rule's packet gets here with a rule */
	if (hook == RL_HOOK_XDP || r)
		rl_gcount(m, res->gstat, p->len);
out:
	if (hook == RL_HOOK_XDP)
		return res->drop;
	/* TC never drops: what would drop (over the limit, fail-closed,
	 * lock given up) is labelled and goes on */
	res->label = res->drop || res->verdict == RL_V_MARK;
	res->drop = 0;
	return res->label;
}

#endif /* RL_CORE_H */
