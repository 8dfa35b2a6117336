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
 * A CPU that finds the key's buckets holding a claim in progress does not
 * wait: it drops the packet as contended (RL_G_LOCK_BUSY), which only ever
 * happens to the first packets of a key that two CPUs see at once.
 */
#ifndef RL_STATE_H
#define RL_STATE_H

#include "rl_maps.h"
#include "rl_algo.h"

/* Compare-and-swap attempts before a packet counts as contended. */
#define RL_CAS_TRIES 8

/* What rl_slot_get() found. */
enum rl_slot_res {
	RL_SLOT_OK = 0,            /* *wp is the key's word                 */
	RL_SLOT_FULL,              /* no empty or idle slot (policy decides) */
	RL_SLOT_BUSY,              /* another CPU is inserting here         */
};

/*
 * The clock: the coarse clock (~3 ns, lags real time by less than
 * rl_tick_ns) is read for every packet that reaches a limit; the precise
 * one (~24 ns on kvm-clock) only when a decision could go either way
 * within a tick, i.e. on admissions and on denials close to the edge.
 */
struct rl_clock {
	__u64 coarse;
	__u64 now;                 /* precise, 0 until read                 */
	__u32 coarse_only;         /* rl_conf.coarse_clock                  */
};

static __always_inline __u64 rl_clock_now(struct rl_clock *c)
{
	if (!c->now)
		c->now = c->coarse_only ? c->coarse : bpf_ktime_get_ns();
	return c->now;
}

/* murmur3's 64-bit finaliser: a full avalanche in two multiplies. */
static __always_inline __u64 rl_mix(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* A 32-bit hash onto [0, n) without division (Lemire's multiply-shift). */
static __always_inline __u32 rl_reduce(__u32 h, __u32 n)
{
	return (__u32)(((__u64)h * n) >> 32);
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
	if (kw == RL_KW_CLAIM)
		return 0;
	o = rl_rule_by_id(kw);
	return !o || rl_word_idle(o, word, now);
}

/*
 * Claim slot (kw_slot, word_slot) seen holding `seen` for key kw.  0 on
 * success (the word is reset: the first charge initialises it); -1 if
 * another CPU changed the slot first.
 */
static __always_inline int rl_slot_claim(__u64 *kw_slot, __u64 *word_slot,
					 __u64 seen)
{
	if (__sync_val_compare_and_swap(kw_slot, seen, RL_KW_CLAIM) != seen)
		return -1;
	*word_slot = 0;
	return 0;
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

/*
 * IPv4: find the word of key kw (rule id + 1 << 32 | masked source), or
 * claim a slot for it.  evict: with no empty or idle slot, take a live
 * one (RL_G_EVICT) instead of reporting RL_SLOT_FULL.
 */
static __always_inline int rl_slot_get4(__u64 kw, struct rl_clock *clk,
					int evict, __u32 len, __u64 **wp)
{
	struct rl_bkt4 *b[2];
	__u64 h = rl_mix(kw ^ rl_seed), k, *vk = 0, *vw = 0, seen = 0;
	__u32 i1 = rl_reduce((__u32)h, rl_st4_n), i2 = rl_reduce(h >> 32, rl_st4_n);
	int j, i, busy = 0;

	b[0] = bpf_map_lookup_elem(&rl_st4, &i1);
	if (!b[0])
		return RL_SLOT_FULL;
#pragma unroll
	for (i = 0; i < RL_BKT4_SLOTS; i++) {
		if (b[0]->s[i].kw == kw) {
			*wp = &b[0]->s[i].word;
			return RL_SLOT_OK;
		}
	}
	b[1] = bpf_map_lookup_elem(&rl_st4, &i2);
	if (!b[1])
		return RL_SLOT_FULL;
#pragma unroll
	for (i = 0; i < RL_BKT4_SLOTS; i++) {
		if (b[1]->s[i].kw == kw) {
			*wp = &b[1]->s[i].word;
			return RL_SLOT_OK;
		}
	}

	/* a new key: the first empty slot, else the first idle one */
	for (j = 0; j < 2; j++) {
		struct rl_bkt4 *bk = b[j];

		for (i = 0; i < RL_BKT4_SLOTS; i++) {
			k = bk->s[i].kw;
			if (k == RL_KW_CLAIM) {
				busy = 1;
				continue;
			}
			if (vk && k)
				continue;
			if (!k || rl_slot_free(k, bk->s[i].word, rl_clock_now(clk))) {
				vk = &bk->s[i].kw;
				vw = &bk->s[i].word;
				seen = k;
				if (!k)
					goto claim;
			}
		}
	}
	if (busy)
		return RL_SLOT_BUSY;
	if (!vk) {
		if (!evict)
			return RL_SLOT_FULL;
		/* every slot live: replace one, chosen by the hash's top bits */
		j = (h >> 63) & 1;
		i = (h >> 60) & (RL_BKT4_SLOTS - 1);
		vk = &b[j]->s[i].kw;
		vw = &b[j]->s[i].word;
		seen = *vk;
		rl_gcount1(RL_G_EVICT, len);
	}
claim:
	if (rl_slot_claim(vk, vw, seen))
		return RL_SLOT_BUSY;
	__sync_lock_test_and_set(vk, kw);
	rl_gcount1(RL_G_STATE_NEW, len);
	*wp = vw;
	return RL_SLOT_OK;
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

/* IPv6: as rl_slot_get4 for rule id and the masked source a[2]. */
static __always_inline int rl_slot_get6(__u32 id, const __u64 *a,
					struct rl_clock *clk, int evict,
					__u32 len, __u64 **wp)
{
	struct rl_bkt6 *b[2];
	__u64 kw = (__u64)(id + 1) << 32 | rl_fold6(a);
	__u64 h = rl_mix(rl_mix(a[0] ^ rl_seed) ^ a[1] ^ ((__u64)id << 17));
	__u32 i1 = rl_reduce((__u32)h, rl_st6_n), i2 = rl_reduce(h >> 32, rl_st6_n);
	__u64 k, *vk = 0, *vw = 0, seen = 0;
	struct rl_slot6 *vs = 0;
	int j, i, busy = 0;

	b[0] = bpf_map_lookup_elem(&rl_st6, &i1);
	if (!b[0])
		return RL_SLOT_FULL;
	b[1] = bpf_map_lookup_elem(&rl_st6, &i2);
	if (!b[1])
		return RL_SLOT_FULL;
#pragma unroll
	for (j = 0; j < 2; j++) {
#pragma unroll
		for (i = 0; i < RL_BKT6_SLOTS; i++) {
			struct rl_slot6 *s = &b[j]->s[i];

			if (s->kw == kw && rl_addr6_eq(s->addr, a)) {
				*wp = &s->word;
				return RL_SLOT_OK;
			}
		}
	}
	for (j = 0; j < 2; j++) {
		for (i = 0; i < RL_BKT6_SLOTS; i++) {
			struct rl_slot6 *s = &b[j]->s[i];

			k = s->kw;
			if (k == RL_KW_CLAIM) {
				busy = 1;
				continue;
			}
			if (vk && k)
				continue;
			if (!k || rl_slot_free(k, s->word, rl_clock_now(clk))) {
				vk = &s->kw;
				vw = &s->word;
				vs = s;
				seen = k;
				if (!k)
					goto claim;
			}
		}
	}
	if (busy)
		return RL_SLOT_BUSY;
	if (!vk) {
		if (!evict)
			return RL_SLOT_FULL;
		j = (h >> 63) & 1;
		i = (h >> 62) & (RL_BKT6_SLOTS - 1);
		vs = &b[j]->s[i];
		vk = &vs->kw;
		vw = &vs->word;
		seen = *vk;
		rl_gcount1(RL_G_EVICT, len);
	}
claim:
	if (!vs || rl_slot_claim(vk, vw, seen))
		return RL_SLOT_BUSY;
	__builtin_memcpy(vs->addr, a, 16);
	__sync_lock_test_and_set(vk, kw);
	rl_gcount1(RL_G_STATE_NEW, len);
	*wp = vw;
	return RL_SLOT_OK;
}

/* Internal outcome of charging: a verdict or "contended". */
#define RL_CHARGE_BUSY  __RL_V_MAX

/*
 * Charge `cost` to the word at wp.  A deny is decided on one load at the
 * latest time the precise clock could show (coarse + one tick): if even
 * then the packet does not conform, it does not now, and nothing is
 * written (monotonicity, rl_algo.h).  Otherwise the precise clock decides
 * and a compare-and-swap commits, retried on a concurrent change.
 */
static __always_inline __u32 rl_charge_word(const struct rl_rule *r,
					    __u64 *wp, __u64 cost,
					    struct rl_clock *clk)
{
	__u64 w = *(volatile __u64 *)wp, nw, old;
	__u32 v;
	int i;

	v = rl_word_decide(r, w, cost, clk->coarse + rl_tick_ns, &nw);
	if (v != RL_W_PASS && nw == w)
		return v;
#pragma unroll
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

#endif /* RL_STATE_H */
