/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_state.h - where a packet's state word lives: the per-source bucket
 * tables rl_st4/rl_st6 (find, or claim a slot for a new key), the clock a
 * decision reads, and the compare-and-swap loop that charges a word.
 * Included by the decision core (bpf/rl_core.h); the maps are rl_maps.h's.
 *
 * Slot protocol (include/rl_abi.h "Per-source state"): kw is claimed with
 * one cmpxchg (old -> RL_KW_CLAIM), the word reset to 0 ("no state": the
 * first charge initialises it fresh), the IPv6 address written, and kw
 * published with an atomic exchange, which orders the stores before it.
 * A CPU that finds the key's buckets holding a claim in progress looks
 * again a bounded number of times (the claim may be this very key, about
 * to be published); if the key does not appear it drops the packet as
 * contended (RL_G_LOCK_BUSY): only the first packets of a new key that two
 * CPUs see at once can meet this.
 */
#ifndef RL_STATE_H
#define RL_STATE_H

#include "rl_maps.h"
#include "rl_algo.h"
#include "rl_hash.h"

/* Compare-and-swap attempts before a packet counts as contended. */
#define RL_CAS_TRIES 8

/*
 * Rounds over a key's slots while another CPU's claim is in progress there
 * (claim, reset, publish: a few dozen ns) before the packet counts as
 * contended.
 */
#define RL_CLAIM_RESCANS 16

/* What rl_slot_get() found. */
enum rl_slot_res {
	RL_SLOT_OK = 0,            /* *wp is the key's word                 */
	RL_SLOT_FULL,              /* no empty or idle slot (policy decides) */
	RL_SLOT_BUSY,              /* another CPU is inserting here         */
};

/*
 * The clock.  Every packet that reaches a limit needs an upper bound of the
 * time, `late`; only admissions (and denials close to the edge) need the
 * precise time (bpf_ktime_get_ns, ~40 ns on the development VM).
 *
 * The bound comes from jiffies: bpf_jiffies64() is inlined by the verifier
 * (a load; bpf_ktime_get_coarse_ns is a ~20-30 ns call there), and jiffies
 * * tick + jbase (struct rl_clk, learnt on this CPU from its precise reads)
 * is the time of the last tick, give or take how late ticks run: `late`
 * adds max(two ticks, the lag last seen on this CPU plus a quarter) - two:
 * the next tick may land later than the quickest one jbase was learnt
 * from, and a lag measured from few reads may not show it yet.  A CPU's
 * first packet reads the precise clock to learn jbase (later reads lower
 * it); with rl_conf.coarse_clock (which decides on the coarse clock
 * alone), the estimate is the coarse clock itself, read with its helper
 * once per jiffy and CPU and cached in rl_clk (rl_clock_coarse).
 */
struct rl_clock {
	__u64 coarse;              /* the estimate: never far from now     */
	__u64 now;                 /* precise, 0 until read                 */
	__u64 late;                /* estimate + margin: real now is earlier */
	__u64 jiffies;             /* read before the precise clock         */
	__u32 coarse_only;         /* rl_conf.coarse_clock                  */
	__u32 _pad;
};

/*
 * The coarse clock, cached per jiffy: the kernel moves the coarse clock
 * at the tick that moves jiffies, so within one jiffy it is the value the
 * first packet of that jiffy read.  The read is cached only if jiffies did
 * not move while it was made (never a value ahead of its jiffy); in the
 * few hundred ns a tick takes between moving jiffies and the coarse clock,
 * the cached value is one tick old until the next jiffy.
 */
static __always_inline __u64 rl_clock_coarse(struct rl_clk *st, __u64 j)
{
	__u64 t;

	if (st && st->jset == RL_JSET_COARSE && st->jlast == (__u32)j)
		return j * rl_tick_ns + st->jbase;
	t = bpf_ktime_get_coarse_ns();
	if (st && bpf_jiffies64() == j) {
		st->jbase = t - j * rl_tick_ns;
		st->jlast = (__u32)j;
		st->jset = RL_JSET_COARSE;
	}
	return t;
}

static __always_inline void rl_clock_start(struct rl_clock *c, __u32 coarse_only)
{
	__u32 zero = 0;
	struct rl_clk *st = bpf_map_lookup_elem(&rl_clk, &zero);
	__u64 m = 2 * rl_tick_ns;

	c->jiffies = bpf_jiffies64();
	c->now = 0;
	c->coarse_only = coarse_only;
	if (coarse_only) {
		c->coarse = rl_clock_coarse(st, c->jiffies);
		c->late = c->coarse;
		return;
	}
	if (st && st->jset != RL_JSET_PRECISE) {
		/* this CPU's first packet learns the tick's base: a CPU that
		 * only ever denies would otherwise never read the precise
		 * clock and pay the coarse helper on every packet */
		c->now = bpf_ktime_get_ns();
		st->jbase = c->now - c->jiffies * rl_tick_ns;
		st->jset = RL_JSET_PRECISE;
	}
	if (st)
		c->coarse = c->jiffies * rl_tick_ns + st->jbase;
	else
		c->coarse = bpf_ktime_get_coarse_ns();
	if (st && st->lag + (st->lag >> 2) > m)
		m = st->lag + (st->lag >> 2);
	c->late = c->coarse + m;
}

/*
 * The precise time, read once.  Every read re-measures the lag of the
 * estimate and lowers jbase when jiffies were seen to advance sooner.
 */
static __always_inline __u64 rl_clock_now(struct rl_clock *c)
{
	__u32 zero = 0;
	struct rl_clk *st;
	__u64 d, x;

	if (c->now)
		return c->now;
	if (c->coarse_only) {
		c->now = c->coarse;
		return c->now;
	}
	c->now = bpf_ktime_get_ns();
	st = bpf_map_lookup_elem(&rl_clk, &zero);
	if (st) {
		d = c->now > c->coarse ? c->now - c->coarse : 0;
		/* a new maximum at once, then a slow decay (1/64 a read) */
		st->lag = d >= st->lag ? d : st->lag - ((st->lag - d) >> 6);
		/* jiffies were read first: x >= the last tick's B, exactly */
		x = c->now - c->jiffies * rl_tick_ns;
		if (st->jset != RL_JSET_PRECISE || (__s64)(x - st->jbase) < 0) {
			st->jbase = x;
			st->jset = RL_JSET_PRECISE;
		}
	}
	return c->now;
}

/* The rule a slot's key belongs to, for the idle check; NULL if gone. */
static __always_inline const struct rl_rule *rl_rule_by_id(__u64 kw)
{
	__u32 id = (__u32)(kw >> 32) - 1;
	const struct rl_catalog *c;

	if (id >= RL_MAX_RULES)
		return 0;
	c = bpf_map_lookup_elem(&rl_catalog, &id);
	if (!c || !c->in_use || c->rule.id != id)
		return 0;
	return &c->rule;
}

/* A slot a new key may take: empty, or its word is idle (or orphaned). */
static __always_inline int rl_slot_free(__u64 kw, __u64 word, __u64 now)
{
	const struct rl_rule *o;

	if (!kw)
		return 1;
	/* a claim in progress, or a key just published whose first charge
	 * has not landed yet (word still 0): taking it would drop the new
	 * key's state and let it start a second burst */
	if (kw == RL_KW_CLAIM || !word)
		return 0;
	o = rl_rule_by_id(kw);
	return !o || rl_word_idle(o, word, now);
}

static __always_inline void rl_gcount1(__u32 g, __u32 len)
{
	struct rl_ctr *c = bpf_map_lookup_elem(&rl_gstats, &g);

	/* per-CPU slot, and a BPF program cannot migrate: no atomics */
	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/* A 32-bit fold of an IPv6 source for the slot's kw (the address is kept whole). */
static __always_inline __u32 rl_fold6(const __u64 *a)
{
	__u64 x = a[0] ^ (a[1] * 0x9e3779b97f4a7c15ULL);

	return (__u32)(x ^ (x >> 32));
}

static __always_inline int rl_addr6_eq(const __u8 *s, const __u64 *a)
{
	const __u64 *p = (const __u64 *)s;

	return p[0] == a[0] && p[1] == a[1];
}

/*
 * A new key: pick its slot among the n0 + n1 slots of its two buckets and
 * claim it.  Every slot is looked at; the first empty one wins over the
 * first free (idle or orphaned) one, and with none of either `evict`
 * takes a live one chosen by the hash (RL_G_EVICT).  A second slot for
 * one key would be a second bucket of credit, so the key itself is looked
 * for too (another CPU may have published it since the lookup), and a
 * claim in progress or a lost claim race makes this CPU look again, a
 * bounded number of times, before it gives up (RL_SLOT_BUSY).  Idleness is
 * judged at the precise time (the coarse one with rl_conf.coarse_clock,
 * never later than the real one): a slot is taken only once it is surely
 * idle.
 *
 * kwp(i)/wp(i): slot i's kw and word.  Returns the slot index, or -1 with
 * in->res set.  The word is reset to 0 before kw is published (the first
 * charge initialises it fresh); IPv6 writes the address in between.
 */
#define RL_INSERT_BODY(NSLOT, KWP, WP, MATCH, ADDR6)				\
	__u64 k, seen = 0, *kp, h = in->h, kw = in->kw;				\
	int i, r, cand = -1, empty = 0, *res = &in->res;			\
										\
	for (i = 0; i < 2 * (NSLOT); i++) {					\
		kp = KWP(i);							\
		k = *(volatile __u64 *)kp;					\
		if (k == RL_KW_CLAIM)						\
			goto rescan;						\
		/* published by another CPU since this CPU looked */		\
		if (MATCH(i)) {							\
			*res = RL_SLOT_OK;					\
			return i;						\
		}								\
		if (empty)							\
			continue;						\
		if (!k) {							\
			cand = i;						\
			seen = 0;						\
			empty = 1;						\
		} else if (cand < 0 && rl_slot_free(k, *WP(i), in->now)) {	\
			cand = i;						\
			seen = k;						\
		}								\
	}									\
	if (cand < 0) {								\
		if (!in->evict) {						\
			*res = RL_SLOT_FULL;					\
			return -1;						\
		}								\
		cand = (h >> 40) & (2 * (NSLOT) - 1);				\
		seen = *(volatile __u64 *)KWP(cand);				\
		if (seen == RL_KW_CLAIM)					\
			goto rescan;						\
		rl_gcount1(RL_G_EVICT, in->len);				\
	}									\
	kp = KWP(cand);								\
	if (__sync_val_compare_and_swap(kp, seen, RL_KW_CLAIM) != seen)		\
		goto rescan;							\
	*WP(cand) = 0;								\
	ADDR6;									\
	__sync_lock_test_and_set(kp, kw);					\
	rl_gcount1(RL_G_STATE_NEW, in->len);					\
	*res = RL_SLOT_OK;							\
	return cand;								\
rescan:										\
	/* another CPU is claiming a slot here, maybe for this very key:	\
	 * look for it a bounded number of times before giving up */		\
	for (r = 0; r < RL_CLAIM_RESCANS * 2 * (NSLOT); r++)			\
		if (MATCH(r % (2 * (NSLOT)))) {					\
			*res = RL_SLOT_OK;					\
			return r % (2 * (NSLOT));				\
		}								\
	*res = RL_SLOT_BUSY;							\
	return -1

/*
 * Global BPF functions: the verifier checks each once, on its own, where
 * inlined into the core the slot scan multiplied its states past the
 * verifier's budget.  Pointer arguments of a global function may be NULL.
 */
struct rl_ins {
	__u64 kw, h, now;          /* key, its hash, precise time           */
	__u64 a[2];                /* IPv6: the masked source               */
	__u32 evict, len;
	int res;                   /* out: enum rl_slot_res                 */
	__u32 _pad;
};

__noinline int rl_insert4(struct rl_bkt4 *b0, struct rl_bkt4 *b1,
			  struct rl_ins *in)
{
	if (!b0 || !b1 || !in)
		return -1;
#define RL_KWP4(i) ((i) < RL_BKT4_SLOTS ? &b0->s[(i) & 3].kw : &b1->s[(i) & 3].kw)
#define RL_WP4(i) ((i) < RL_BKT4_SLOTS ? &b0->s[(i) & 3].word : &b1->s[(i) & 3].word)
#define RL_MATCH4(i) (*(volatile __u64 *)RL_KWP4(i) == kw)
	RL_INSERT_BODY(RL_BKT4_SLOTS, RL_KWP4, RL_WP4, RL_MATCH4, (void)0);
}

__noinline int rl_insert6(struct rl_bkt6 *b0, struct rl_bkt6 *b1,
			  struct rl_ins *in)
{
	if (!b0 || !b1 || !in)
		return -1;
#define RL_SLOT6(i) ((i) < RL_BKT6_SLOTS ? &b0->s[(i) & 1] : &b1->s[(i) & 1])
#define RL_KWP6(i) (&RL_SLOT6(i)->kw)
#define RL_WP6(i) (&RL_SLOT6(i)->word)
#define RL_MATCH6(i) (*(volatile __u64 *)RL_KWP6(i) == kw &&			\
		      rl_addr6_eq(RL_SLOT6(i)->addr, in->a))
	RL_INSERT_BODY(RL_BKT6_SLOTS, RL_KWP6, RL_WP6, RL_MATCH6,
		       { struct rl_slot6 *s6 = RL_SLOT6(cand);
			 ((__u64 *)s6->addr)[0] = in->a[0];
			 ((__u64 *)s6->addr)[1] = in->a[1]; });
}

/*
 * IPv4: find the word of key kw (rule id + 1 << 32 | masked source), or
 * claim a slot for it (rl_insert4).
 */
static __always_inline int rl_slot_get4(__u64 kw, struct rl_clock *clk,
					int evict, __u32 len, __u64 **wp)
{
	__u64 h = rl_hash4(kw, rl_seed);
	__u32 i1, i2;
	struct rl_ins in;
	struct rl_bkt4 *b0, *b1;
	int i;

	rl_buckets(h, rl_st4_n, &i1, &i2);
	b0 = bpf_map_lookup_elem(&rl_st4, &i1);
	if (!b0)
		return RL_SLOT_FULL;
#pragma unroll
	for (i = 0; i < RL_BKT4_SLOTS; i++) {
		if (b0->s[i].kw == kw) {
			*wp = &b0->s[i].word;
			return RL_SLOT_OK;
		}
	}
	b1 = bpf_map_lookup_elem(&rl_st4, &i2);
	if (!b1)
		return RL_SLOT_FULL;
#pragma unroll
	for (i = 0; i < RL_BKT4_SLOTS; i++) {
		if (b1->s[i].kw == kw) {
			*wp = &b1->s[i].word;
			return RL_SLOT_OK;
		}
	}
	/* a new key: it is admitted next, so the precise read is not extra */
	in = (struct rl_ins){ .kw = kw, .h = h, .now = rl_clock_now(clk),
			      .evict = evict, .len = len, .res = RL_SLOT_FULL };
	i = rl_insert4(b0, b1, &in);
	if (in.res != RL_SLOT_OK)
		return in.res;
	rl_opaque(i);
	*wp = i & RL_BKT4_SLOTS ? &b1->s[i & 3].word : &b0->s[i & 3].word;
	return RL_SLOT_OK;
}

/* IPv6: as rl_slot_get4 for rule id and the masked source a[2]. */
static __always_inline int rl_slot_get6(__u32 id, const __u64 *a,
					struct rl_clock *clk, int evict,
					__u32 len, __u64 **wp)
{
	__u64 kw = (__u64)(id + 1) << 32 | rl_fold6(a);
	__u64 h = rl_hash6(id, a, rl_seed);
	__u32 i1, i2;
	struct rl_ins in;
	struct rl_bkt6 *b0, *b1;
	struct rl_slot6 *s;
	int i;

	rl_buckets(h, rl_st6_n, &i1, &i2);
	b0 = bpf_map_lookup_elem(&rl_st6, &i1);
	if (!b0)
		return RL_SLOT_FULL;
	b1 = bpf_map_lookup_elem(&rl_st6, &i2);
	if (!b1)
		return RL_SLOT_FULL;
#pragma unroll
	for (i = 0; i < RL_BKT6_SLOTS; i++) {
		s = &b0->s[i];
		if (s->kw == kw && rl_addr6_eq(s->addr, a)) {
			*wp = &s->word;
			return RL_SLOT_OK;
		}
		s = &b1->s[i];
		if (s->kw == kw && rl_addr6_eq(s->addr, a)) {
			*wp = &s->word;
			return RL_SLOT_OK;
		}
	}
	in = (struct rl_ins){ .kw = kw, .h = h, .now = rl_clock_now(clk),
			      .a = { a[0], a[1] }, .evict = evict, .len = len,
			      .res = RL_SLOT_FULL };
	i = rl_insert6(b0, b1, &in);
	if (in.res != RL_SLOT_OK)
		return in.res;
	rl_opaque(i);
	*wp = i & RL_BKT6_SLOTS ? &b1->s[i & 1].word : &b0->s[i & 1].word;
	return RL_SLOT_OK;
}

/* Internal outcome of charging: a verdict or "contended". */
#define RL_CHARGE_BUSY  __RL_V_MAX

/*
 * Charge `cost` to the word at wp.  A deny is decided on one load at the
 * latest time the precise clock could show (clk->late): if even
 * then the packet does not conform, it does not now, and nothing is
 * written (monotonicity, rl_algo.h).  Otherwise the precise clock decides
 * and a compare-and-swap commits, retried on a concurrent change.  `early`
 * (1): the caller saw the word conform at clk->late already (a GCRA word
 * of this rule version, rl_fast_deny), so that test is not made again.  A
 * global function, checked once by the verifier (see rl_insert4).
 */
__noinline __u32 rl_charge_word(const struct rl_rule *r, __u64 *wp, __u64 cost,
				struct rl_clock *clk, int early)
{
	__u64 w, nw, old;
	__u32 v;
	int i;

	if (!r || !wp || !clk)
		return RL_CHARGE_BUSY;
	w = *(volatile __u64 *)wp;
	if (!early) {
		v = rl_word_decide(r, w, cost, clk->late, &nw);
		if (v != RL_W_PASS && nw == w)
			return v;
	}
#pragma clang loop unroll(disable)
	for (i = 0; i < RL_CAS_TRIES; i++) {
		v = rl_word_decide(r, w, cost, rl_clock_now(clk), &nw);
		if (nw == w)
			return v;
		old = __sync_val_compare_and_swap(wp, w, nw);
		if (old == w)
			return v;
		w = old;
	}
	return RL_CHARGE_BUSY;
}

/*
 * The deny path without a call: a token/leaky-bucket word of this rule
 * version that is over even at clk->late, or a box that lasts past it.
 * Returns 1 with *v set when decided; 0: rl_charge_word decides
 * (admissions, windows, version changes, a rule with a penalty box to
 * start), and *conf says whether the word conformed at `late` (a GCRA
 * word of this version, no box).  Kept small and free of the algorithm
 * switch so that inlining it at each call site costs the verifier little.
 */
static __always_inline int rl_fast_deny(const struct rl_rule *r, __u64 w,
					__u64 cost, __u64 late, __u32 *v,
					int *conf)
{
	__u64 d;
	__u8 t = rl_word_tag(w);

	*conf = 0;
	if (t == (r->tag | RL_TAG_BOXED)) {
		if ((late >> RL_BOX_SHIFT) >= (w & RL_PAY_MASK))
			return 0;
		*v = RL_V_BLOCK;
		return 1;
	}
	if (t != r->tag || r->block_ns || !rl_algo_is_gcra(r->limit.algo))
		return 0;
	d = (w - rl_gcra_now(&r->k, late)) & RL_PAY_MASK;
	if (!d || d > r->k.aux || d + cost * r->k.unit <= r->k.cap) {
		*conf = 1;
		return 0;
	}
	*v = RL_V_DROP;
	return 1;
}

/*
 * A token/leaky-bucket word that conformed at `late` is decided here too,
 * at the precise time, without the call: over at now is final (the rule
 * has no box, rl_fast_deny), an admission is one compare-and-swap.  Only a
 * lost race goes to rl_charge_word, which loads the word again.
 */
static __always_inline __u32 rl_charge(const struct rl_rule *r, __u64 *wp,
				       __u64 cost, struct rl_clock *clk)
{
	__u64 w = *(volatile __u64 *)wp, np;
	__u32 v;
	int conf;

	if (rl_fast_deny(r, w, cost, clk->late, &v, &conf))
		return v;
	if (!conf)
		return rl_charge_word(r, wp, cost, clk, 0);
	if (!rl_gcra_admit(&r->k, w & RL_PAY_MASK, cost, rl_clock_now(clk), &np))
		return RL_V_DROP;
	if (__sync_val_compare_and_swap(wp, w, rl_word_make(r->tag, np)) == w)
		return RL_V_PASS;
	return rl_charge_word(r, wp, cost, clk, 0);
}

#endif /* RL_STATE_H */
