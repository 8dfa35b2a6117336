/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_algo.h - the rate-limit algorithms as pure functions on one 64-bit
 * state word, so that the datapath can update a key with a single
 * compare-and-swap and decide a denied packet with one load.
 *
 * Included by the XDP/TC programs (bpf/rl_core.h), the agent (idle checks,
 * `top`), the host unit tests and the simulator (tools/rlsim.c).  Every
 * function takes `now_ns` from its caller and never reads a clock; no
 * helpers, maps, globals or floats; no division on the packet path (the
 * divisions live in rl_lconst_compile(), which userspace runs once per rule).
 *
 * The word:  bits 63..56 tag, bits 55..0 payload.
 *   tag      RL_TAG_BOXED | rule tag (rl_rule.tag: generation and epoch of
 *            the rule the word belongs to; 0 = no state yet).
 *   payload  token bucket / leaky bucket: the GCRA theoretical arrival
 *            time (TAT) in scaled units, modulo 2^56;
 *            fixed window: window index (24 bits) << 32 | units admitted;
 *            sliding window: window index (4 bits) << 52 | previous count
 *            (26 bits) << 26 | current count (26 bits);
 *            boxed: the penalty box's end, ns >> 8.
 *
 * Scaled units (GCRA).  One nanosecond is rate_r scaled units and one unit
 * of cost (a packet or a byte) is `unit` scaled units, where rate_r/unit is
 * the limit's rate per ns reduced by their gcd: 100/s is 1/10000000,
 * 100gbit is 25/2.  Refill is then exact integer arithmetic for every rate
 * from 1/h to 100 Gbit/s.  Time scaled this way wraps 2^56, so the TAT is
 * compared by wrapping difference d = TAT - now (mod 2^56): d in
 * [0, aux] is "that far ahead"; anything else is a TAT in the past (the key
 * is idle: full credit).  A live key is never more than max(cap, one
 * packet) + skew ahead, which aux bounds with a second of slack for clocks
 * that differ between CPUs.  Misreading is possible only for a key idle for
 * t with t*rate_r mod 2^56 in the aux window below 2^56 (never for t <
 * 2^55/rate_r: 139 years at rate_r 1, 16 days at 100gbit), and then it errs
 * towards denial (fail closed) for at most aux, never towards admission;
 * the agent's sweep clears idle keys long before that
 * (docs/ARCHITECTURE.md "Exactness").
 *
 * GCRA admits a packet of cost c at now iff max(TAT, now) + c*unit - now
 * <= cap (cap = burst*unit), the same admission set as a token bucket of
 * burst units refilled at rate; so admissions in any interval of length t
 * are at most burst + rate*t.  A full bucket (TAT <= now) also admits one
 * packet that costs more than the whole burst, into debt: a jumbo frame
 * under a small byte burst, or a GRO skb charged its segments at TC, would
 * otherwise never pass.  The bound is then max(burst, that packet) + rate*t.
 * The debt is at most min(RL_MAX_COST units, RL_DEBT_MAX scaled units): a
 * packet costing more than that (over 2501 segments at 1/h) is refused.
 *
 * Monotonicity (why a lock-free "deny" is final): every admission only
 * moves a word further into debt, and time only adds credit, so a deny
 * decided on a word read at time t is the decision the packet would have
 * got at t; concurrent admissions can only make it more right.
 */
#ifndef RL_ALGO_H
#define RL_ALGO_H

#include "rl_abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * Hide a value from the compiler's range analysis so that a bounds mask it
 * "knows" to be redundant is still emitted for the verifier.
 */
#ifdef __bpf__
#define rl_opaque(x) asm volatile("" : "+r"(x))
#else
#define rl_opaque(x) ((void)0)
#endif

#define RL_U64_MAX     (~0ULL)
#define RL_MAX_COST    65535ULL       /* largest cost: one packet's bytes   */

#define RL_PAY_BITS    56
#define RL_PAY_MASK    ((1ULL << RL_PAY_BITS) - 1)
#define RL_PAY_SIGN    (1ULL << (RL_PAY_BITS - 1))
#define RL_TAG_BOXED   0x80u          /* word tag bit: in the penalty box   */
#define RL_TAG_MASK    0x7fu          /* word tag bits naming the rule ver  */
#define RL_BOX_SHIFT   8              /* boxed payload: end ns >> 8         */

/* Fixed and sliding window field widths. */
#define RL_FW_IDX_MASK 0xffffffULL
#define RL_FW_CNT_MASK 0xffffffffULL
#define RL_SW_CNT_BITS 26
#define RL_SW_CNT_MASK ((1ULL << RL_SW_CNT_BITS) - 1)
#define RL_SW_IDX_MASK 0xfULL
#define RL_SW_W_SHIFT  47             /* weight = rem * inv >> 47: 16 bits  */

/* Skew between CPUs' clocks that a live TAT may be ahead by (2^30 ns). */
#define RL_SKEW_NS     (1ULL << 30)

/* Most scaled units a GCRA word may be ahead of now by, skew aside. */
#define RL_DEBT_MAX    (1ULL << 53)

/* Longest scaled unit (ns per packet or byte, reduced): cost * unit < 2^63. */
#define RL_UNIT_MAX    (1ULL << 47)

/* Verdicts of the word functions (same numbering as enum rl_verdict). */
#define RL_W_PASS      RL_V_PASS
#define RL_W_DROP      RL_V_DROP
#define RL_W_BLOCK     RL_V_BLOCK

static __always_inline __u8 rl_word_tag(__u64 w)
{
	return (__u8)(w >> RL_PAY_BITS);
}

static __always_inline __u64 rl_word_make(__u8 tag, __u64 payload)
{
	return (__u64)tag << RL_PAY_BITS | (payload & RL_PAY_MASK);
}

/* Burst 0 means "no burst": exactly one unit of credit (strict spacing). */
static __always_inline __u64 rl_burst(const struct rl_limit *l)
{
	return l->burst ? l->burst : 1;
}

static __always_inline int rl_algo_is_gcra(__u32 algo)
{
	return algo == RL_ALGO_TOKEN_BUCKET || algo == RL_ALGO_LEAKY_BUCKET;
}

/* --- GCRA: token bucket and leaky bucket (meter) ------------------------ */

static __always_inline __u64 rl_gcra_now(const struct rl_lconst *k, __u64 now_ns)
{
	return (now_ns * k->rate_r) & RL_PAY_MASK;
}

/* How far the TAT is ahead of now, scaled; 0 when idle (full credit). */
static __always_inline __u64 rl_gcra_ahead(const struct rl_lconst *k,
					   __u64 payload, __u64 now_ns)
{
	__u64 d = (payload - rl_gcra_now(k, now_ns)) & RL_PAY_MASK;

	return d > k->aux ? 0 : d;
}

/*
 * 1 and *out = the charged payload if a packet of `cost` conforms at
 * now_ns, else 0.
 */
static __always_inline int rl_gcra_admit(const struct rl_lconst *k,
					 __u64 payload, __u64 cost,
					 __u64 now_ns, __u64 *out)
{
	__u64 now_s = rl_gcra_now(k, now_ns);
	__u64 d = (payload - now_s) & RL_PAY_MASK;
	__u64 need = cost * k->unit;

	if (d > k->aux)
		d = 0;
	if (d && d + need > k->cap)
		return 0;
	/* into debt: no further than the word can tell from an idle key
	 * (rl_lconst_compile); a costlier packet is refused, never
	 * under-charged */
	if (need > k->cap && need > k->aux - RL_SKEW_NS * k->rate_r)
		return 0;
	*out = (now_s + d + need) & RL_PAY_MASK;
	return 1;
}

/* --- window index ---------------------------------------------------------- */

/*
 * How old the stored window widx is, seen from now's window idx (both
 * kept modulo mask + 1; `elapsed` = ns since now's window began): 0 = the
 * same window, 1 = the one before, 2 = older.  A stored window *later*
 * than now's is another CPU's clock ahead of ours and counts as the same
 * window (its counts stand: fail closed), but only if that window starts
 * within RL_SKEW_NS of now; any other "later" index is an old one that
 * wrapped, so a key idle for long starts afresh instead of keeping its old
 * counts until the index comes round.  Aliasing remains only for a key
 * idle for a multiple of mask + 1 windows (and, sliding window, one more),
 * or within RL_SKEW_NS of that: it keeps its old counts for at most a
 * window or two (fail closed).
 */
static __always_inline __u32 rl_win_age(const struct rl_lconst *k, __u64 idx,
					__u64 widx, __u64 mask, __u64 elapsed)
{
	__u64 fwd = (idx - widx) & mask, back = (widx - idx) & mask;

	if (!fwd)
		return 0;
	/* the stored window starts back * unit - elapsed ns after now; no
	 * overflow: back < 2^23 and unit < 2^31 unless back == 1 */
	if (back <= (mask >> 1) && (back == 1 || k->unit < (1ULL << 31)) &&
	    back * k->unit - elapsed <= RL_SKEW_NS)
		return 0;
	return fwd == 1 ? 1 : 2;
}

/* --- fixed window --------------------------------------------------------- */

/* At most rate_r units per window; the index as rl_win_age() reads it. */
static __always_inline int rl_fw_admit(const struct rl_lconst *k,
				       __u64 payload, __u64 cost,
				       __u64 now_ns, __u64 *out)
{
	__u64 full = k->unit ? now_ns / k->unit : 0;
	__u64 idx = full & RL_FW_IDX_MASK;
	__u64 widx = payload >> 32 & RL_FW_IDX_MASK;
	__u64 cnt = payload & RL_FW_CNT_MASK;

	if (rl_win_age(k, idx, widx, RL_FW_IDX_MASK, now_ns - full * k->unit)) {
		widx = idx;
		cnt = 0;
	}
	if (cnt + cost > k->rate_r)
		return 0;
	*out = widx << 32 | (cnt + cost);
	return 1;
}

/* --- sliding window counter ------------------------------------------------ */

/*
 * Cloudflare's estimate: prev * (period - elapsed) / period + cur <= rate.
 * The weight is 16-bit fixed point from a reciprocal computed once per
 * rule (rl_lconst.aux), rounded up so the estimate never falls below the
 * exact one.  The index as rl_win_age() reads it, on 4 bits: a key idle
 * for a multiple of 16 windows (or one more) keeps its old counts for a
 * window or two (fail closed).
 */
static __always_inline int rl_sw_admit(const struct rl_lconst *k,
				       __u64 payload, __u64 cost,
				       __u64 now_ns, __u64 *out)
{
	__u64 full = k->unit ? now_ns / k->unit : 0;
	__u64 idx = full & RL_SW_IDX_MASK;
	__u64 widx = payload >> (2 * RL_SW_CNT_BITS) & RL_SW_IDX_MASK;
	__u64 prev = payload >> RL_SW_CNT_BITS & RL_SW_CNT_MASK;
	__u64 cur = payload & RL_SW_CNT_MASK;
	__u64 elapsed = now_ns - full * k->unit, weight;
	__u32 age = rl_win_age(k, idx, widx, RL_SW_IDX_MASK, elapsed);

	if (age == 1) {
		prev = cur;
		cur = 0;
		widx = idx;
	} else if (age) {
		prev = 0;
		cur = 0;
		widx = idx;
	}
	/* a later window (a clock behind ours): the whole previous count */
	if (widx != idx || elapsed > k->unit)
		elapsed = 0;
	weight = ((k->unit - elapsed) * k->aux + (1ULL << RL_SW_W_SHIFT) - 1)
		 >> RL_SW_W_SHIFT;
	if (prev * weight + ((cur + cost) << 16) > (k->rate_r << 16))
		return 0;
	*out = widx << (2 * RL_SW_CNT_BITS) | prev << RL_SW_CNT_BITS | (cur + cost);
	return 1;
}

/* --- the word ------------------------------------------------------------ */

/*
 * A word for `tag` at now_ns.  full = 1: a new key (full credit).  full =
 * 0: drained, no credit at now_ns, used when a rule changes algorithm or
 * period: admissions before the switch plus admissions after it never
 * exceed one burst plus the rate.
 */
static __always_inline __u64 rl_word_init(const struct rl_rule *r,
					  __u64 now_ns, int full)
{
	const struct rl_lconst *k = &r->k;
	__u64 p, idx = k->unit ? now_ns / k->unit : 0;

	switch (r->limit.algo) {
	case RL_ALGO_FIXED_WINDOW:
		p = (idx & RL_FW_IDX_MASK) << 32 | (full ? 0 : k->rate_r);
		break;
	case RL_ALGO_SLIDING_WINDOW:
		p = (idx & RL_SW_IDX_MASK) << (2 * RL_SW_CNT_BITS) |
		    (full ? 0 : k->rate_r & RL_SW_CNT_MASK);
		break;
	default:
		p = rl_gcra_now(k, now_ns) + (full ? 0 : k->cap);
		break;
	}
	return rl_word_make(r->tag, p);
}

/*
 * The word as this rule version sees it: a word of another version (or
 * none yet) is re-initialised, fresh for a new generation, drained for a
 * new epoch of the same rule (RL_TAG_GEN tells them apart).
 */
static __always_inline __u64 rl_word_current(const struct rl_rule *r,
					     __u64 w, __u64 now_ns)
{
	__u8 t = rl_word_tag(w) & RL_TAG_MASK;

	if (t == r->tag)
		return w;
	return rl_word_init(r, now_ns,
			    !t || (t & RL_TAG_GEN) != (r->tag & RL_TAG_GEN));
}

/*
 * Decide a packet of `cost` at now_ns on word w of rule r: RL_W_PASS with
 * *out the word to store, RL_W_DROP (*out = the word with the penalty box
 * set if the rule has one, else w as this rule version sees it: w itself,
 * or w re-initialised if it was of another version), or RL_W_BLOCK (in
 * the box: *out = w).  *out == w means nothing to write.
 */
static __always_inline __u32 rl_word_decide(const struct rl_rule *r, __u64 w,
					    __u64 cost, __u64 now_ns, __u64 *out)
{
	__u64 p, np = 0;
	int ok;

	*out = w;
	if (rl_word_tag(w) & RL_TAG_BOXED) {
		/* rule tags have no box bit: a box of another version still
		 * blocks until it ends, then the key starts afresh */
		if ((now_ns >> RL_BOX_SHIFT) < (w & RL_PAY_MASK))
			return RL_W_BLOCK;
		w = rl_word_init(r, now_ns, 1);
	} else {
		w = rl_word_current(r, w, now_ns);
	}
	p = w & RL_PAY_MASK;
	switch (r->limit.algo) {
	case RL_ALGO_FIXED_WINDOW:
		ok = rl_fw_admit(&r->k, p, cost, now_ns, &np);
		break;
	case RL_ALGO_SLIDING_WINDOW:
		ok = rl_sw_admit(&r->k, p, cost, now_ns, &np);
		break;
	default:
		ok = rl_gcra_admit(&r->k, p, cost, now_ns, &np);
		break;
	}
	if (ok) {
		*out = rl_word_make(r->tag, np);
		return RL_W_PASS;
	}
	if (r->block_ns) {
		/* the box's end, rounded up to its 256 ns unit */
		p = now_ns + r->block_ns;
		if (p < now_ns)
			p = RL_U64_MAX;
		p = (p >> RL_BOX_SHIFT) + 1;
		*out = rl_word_make(RL_TAG_BOXED | r->tag,
				    p > RL_PAY_MASK ? RL_PAY_MASK : p);
		return RL_W_DROP;
	}
	/* a word of another version was re-initialised above: store it, or
	 * every later packet would re-initialise it drained at its own now
	 * and be denied for as long as the key stays busy */
	*out = w;
	return RL_W_DROP;
}

/*
 * True if the word is indistinguishable from a new key's at now_ns, so
 * that reusing its slot loses nothing (the datapath's slot reuse, the
 * agent's sweep).  A word of another rule version is idle: its next packet
 * would re-initialise it anyway.
 */
static __always_inline int rl_word_idle(const struct rl_rule *r, __u64 w,
					__u64 now_ns)
{
	const struct rl_lconst *k = &r->k;
	__u64 p = w & RL_PAY_MASK, full, el;

	if (!w)
		return 1;
	if (rl_word_tag(w) & RL_TAG_BOXED)
		return (now_ns >> RL_BOX_SHIFT) >= p;
	if (rl_word_tag(w) != r->tag)
		return 1;
	full = k->unit ? now_ns / k->unit : 0;
	el = now_ns - full * k->unit;
	/* a window later than now's (a clock behind ours) is not idle */
	switch (r->limit.algo) {
	case RL_ALGO_FIXED_WINDOW:
		return rl_win_age(k, full & RL_FW_IDX_MASK,
				  (p >> 32) & RL_FW_IDX_MASK, RL_FW_IDX_MASK, el) ||
		       !(p & RL_FW_CNT_MASK);
	case RL_ALGO_SLIDING_WINDOW:
		return rl_win_age(k, full & RL_SW_IDX_MASK,
				  p >> (2 * RL_SW_CNT_BITS) & RL_SW_IDX_MASK,
				  RL_SW_IDX_MASK, el) == 2 ||
		       !(p & ((1ULL << (2 * RL_SW_CNT_BITS)) - 1));
	default:
		return rl_gcra_ahead(k, p, now_ns) == 0;
	}
}

/*
 * Credit left at now_ns in units (packets or bytes), for `top`; a boxed
 * key has none.  Windows: units left in the current window.
 */
static __always_inline __u64 rl_word_credit(const struct rl_rule *r, __u64 w,
					    __u64 now_ns)
{
	const struct rl_lconst *k = &r->k;
	__u64 p, used;

	if (rl_word_tag(w) & RL_TAG_BOXED) {
		if ((now_ns >> RL_BOX_SHIFT) < (w & RL_PAY_MASK))
			return 0;
		w = 0;
	}
	w = rl_word_current(r, w, now_ns);
	p = w & RL_PAY_MASK;
	switch (r->limit.algo) {
	case RL_ALGO_FIXED_WINDOW:
		if (rl_word_idle(r, w, now_ns))
			return k->rate_r;
		used = p & RL_FW_CNT_MASK;
		return used < k->rate_r ? k->rate_r - used : 0;
	case RL_ALGO_SLIDING_WINDOW:
		if (rl_word_idle(r, w, now_ns))
			return k->rate_r;
		used = p & RL_SW_CNT_MASK;
		return used < k->rate_r ? k->rate_r - used : 0;
	default:
		used = rl_gcra_ahead(k, p, now_ns);
		if (!k->unit || used >= k->cap)
			return 0;
		return (k->cap - used) / k->unit;
	}
}

/* --- sliding log ----------------------------------------------------------- */

/*
 * At most `rate` admissions (cost 1, packet rates only) in any window of
 * period_ns, exactly.  The ring holds the last n = rate admission times; a
 * packet is admitted iff fewer than n are logged or the oldest has left
 * the window.  Bounded: rate <= RL_SLOG_MAX.  The caller holds the log's
 * spin lock (bpf_spin_lock in the datapath).
 */
static __always_inline __u32 rl_slog_n(const struct rl_limit *l)
{
	return l->rate < RL_SLOG_MAX ? (__u32)l->rate : RL_SLOG_MAX;
}

static __always_inline void rl_slog_init(const struct rl_limit *l,
					 struct rl_slog_ring *s, __u64 now_ns,
					 int full)
{
	__u32 i, n = rl_slog_n(l);

	s->head = 0;
	s->count = full ? 0 : n;
	s->n = n;
	for (i = 0; i < RL_SLOG_MAX; i++)
		s->ts[i] = full ? 0 : now_ns;
}

/*
 * Lock-free pre-check for the deny path: 1 if the log is certainly full at
 * now_ns (a torn read can only make the oldest look newer: deny errs
 * towards denial, never towards admission).
 */
static __always_inline int rl_slog_full(const struct rl_limit *l,
					const struct rl_slog_ring *s,
					__u64 now_ns)
{
	__u32 h = s->head;
	__u64 ts;

	rl_opaque(h);
	ts = s->ts[h & (RL_SLOG_MAX - 1)];
	return s->n == rl_slog_n(l) && s->count >= s->n && h < s->n &&
	       now_ns >= ts && now_ns - ts < l->period_ns;
}

/*
 * True if no admission of the ring is still inside the window at now_ns,
 * so deleting the log loses nothing a new one would not have (the
 * agent's sweep).  A ring out of shape counts as idle: the datapath
 * would restart it anyway.
 */
static __always_inline int rl_slog_idle(const struct rl_limit *l,
					const struct rl_slog_ring *s,
					__u64 now_ns)
{
	__u64 newest;

	if (!s->count || !s->n || s->n > RL_SLOG_MAX || s->count > s->n ||
	    s->head >= s->n)
		return 1;
	newest = s->ts[((s->head + s->count - 1) % s->n) & (RL_SLOG_MAX - 1)];
	return now_ns >= newest && now_ns - newest >= l->period_ns;
}

static __always_inline int rl_slog_admit(const struct rl_limit *l,
					 struct rl_slog_ring *s, __u64 now_ns)
{
	__u32 n = rl_slog_n(l), slot;

	if (!n || l->rate > RL_SLOG_MAX)
		return 0;
	/* the rate changed (or a torn ring): restart drained, n entries
	 * "admitted now".  Keeping a grown ring's old entries with its new
	 * slots free would let a rate raised from 8 to 9 admit 9 + 8 within
	 * one period; a drained start never over-admits (BPF has no stack
	 * for rotating the old entries into a larger ring) */
	if (s->n != n || s->head >= n || s->count > n)
		rl_slog_init(l, s, now_ns, 0);
	if (s->count < n) {
		slot = (s->head + s->count) % n;
		rl_opaque(slot);
		s->ts[slot & (RL_SLOG_MAX - 1)] = now_ns;
		s->count++;
		return 1;
	}
	slot = s->head;
	rl_opaque(slot);
	slot &= RL_SLOG_MAX - 1;
	if (now_ns < s->ts[slot] || now_ns - s->ts[slot] < l->period_ns)
		return 0;
	s->ts[slot] = now_ns;
	s->head = (s->head + 1) % n;
	return 1;
}

/*
 * One packet on a key's sliding log: its ring s, the rule tag the ring
 * was kept for and the penalty box's end (ns, 0 = none), all updated in
 * place.  A ring of another rule version restarts: fresh (box cleared)
 * for a new generation, drained for a new epoch.  Returns RL_V_PASS,
 * RL_V_DROP or RL_V_BLOCK.  The datapath calls it under the log's spin
 * lock; `explain` on a copy.
 */
static __always_inline __u32 rl_slog_decide(const struct rl_rule *r, __u32 *tag,
					    __u64 *block_until,
					    struct rl_slog_ring *s, __u64 now_ns)
{
	if (*tag != r->tag) {
		int full = !*tag || (*tag & RL_TAG_GEN) != (r->tag & RL_TAG_GEN);

		rl_slog_init(&r->limit, s, now_ns, full);
		if (full)
			*block_until = 0;
		*tag = r->tag;
	}
	if (now_ns < *block_until)
		return RL_V_BLOCK;
	if (rl_slog_admit(&r->limit, s, now_ns))
		return RL_V_PASS;
	if (r->block_ns)
		*block_until = now_ns + r->block_ns < now_ns ? ~0ULL : now_ns + r->block_ns;
	return RL_V_DROP;
}

/* --- userspace: per-rule constants and the range check -------------------- */

#ifndef __bpf__
static inline __u64 rl_gcd(__u64 a, __u64 b)
{
	while (b) {
		__u64 t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Largest rate_r for exact GCRA; larger ones are rounded (see below). */
#define RL_RATE_R_MAX  8192ULL

/*
 * The per-rule constants of a limit (struct rl_lconst).  GCRA: rate/period
 * per ns reduced to rate_r/unit.  A reduced rate_r above RL_RATE_R_MAX (an
 * odd rate like 999999937/s) would make the scaled clock wrap within hours;
 * it is replaced by the largest fraction rate_r'/unit' <= rate/period with
 * rate_r' = RL_RATE_R_MAX, which errs low by less than 0.16% (never over).
 * Returns 1 if the rate had to be rounded, 0 if exact.
 */
static inline int rl_lconst_compile(const struct rl_limit *l, int bytes,
				    struct rl_lconst *k)
{
	__u64 g, rate_r, unit, slack, big;
	int rounded = 0;

	(void)bytes;
	k->rate_r = k->unit = k->cap = k->aux = 0;
	if (!l->rate || !l->period_ns)
		return 0;
	switch (l->algo) {
	case RL_ALGO_FIXED_WINDOW:
	case RL_ALGO_SLIDING_WINDOW:
		k->rate_r = l->rate;
		k->unit = l->period_ns;
		/* ceil(2^63 / period): weight = rem * aux >> 47, above the
		 * exact weight by less than (1 + period/2^47) / 2^16 */
		k->aux = ((1ULL << 63) + l->period_ns - 1) / l->period_ns;
		return 0;
	case RL_ALGO_SLIDING_LOG:
		k->rate_r = l->rate;
		k->unit = l->period_ns;
		return 0;
	default:
		break;
	}
	g = rl_gcd(l->rate, l->period_ns);
	rate_r = l->rate / g;
	unit = l->period_ns / g;
	if (rate_r > RL_RATE_R_MAX) {
		/* unit' = ceil(unit * RL_RATE_R_MAX / rate_r), in 128 bits */
		unsigned __int128 u = (unsigned __int128)unit * RL_RATE_R_MAX;

		unit = (__u64)((u + rate_r - 1) / rate_r);
		rate_r = RL_RATE_R_MAX;
		rounded = 1;
	}
	k->rate_r = rate_r;
	k->unit = unit;
	k->cap = rl_burst(l) * unit;
	/* a slow rate (1/h: unit 3.6e12) cannot hold RL_MAX_COST units of
	 * debt in 56 bits: rl_gcra_admit refuses what exceeds RL_DEBT_MAX */
	big = unit > RL_DEBT_MAX / RL_MAX_COST ? RL_DEBT_MAX : RL_MAX_COST * unit;
	slack = RL_SKEW_NS * rate_r;
	k->aux = (k->cap > big ? k->cap : big) + slack;
	return rounded;
}

/*
 * A cluster rule's share (scope cluster, user/agent_cluster.c): this host
 * admits q / RL_SHARE_ONE of the limit's rate and burst.  The scaled clock
 * (rate_r), cap and aux stay those of the whole limit and only `unit`, the
 * scaled cost of one packet or byte, grows as the share shrinks: a TAT
 * keeps its meaning (how long until the bucket is full) under any share,
 * so the agent changes a share with no new epoch and nothing is drained.
 * aux is computed for the smallest share, so it too is the same for every
 * share.  unit is rounded up: a share never admits more than its fraction.
 * bank_ns > 0 lets the bucket hold that long's worth of the share when it
 * is more than the burst's (cap = max(burst, rate x bank) in scaled time):
 * senders that pause longer than burst/rate between bursts would
 * otherwise waste a host's share (agent_cluster_bank_ms: 4 sync periods,
 * at most 1 s, at least 2 periods).
 */
#define RL_SHARE_ONE   65536u
#define RL_SHARE_MIN   64u            /* 1/1024 of the limit              */

static inline void rl_lconst_share(const struct rl_limit *l, int bytes, __u32 q,
				   __u64 bank_ns, struct rl_lconst *k)
{
	__u64 umax, big;
	unsigned __int128 u;

	rl_lconst_compile(l, bytes, k);
	if (!k->unit || !rl_algo_is_gcra(l->algo))
		return;
	if (bank_ns > 60000000000ULL)
		bank_ns = 60000000000ULL;
	if (bank_ns * k->rate_r > k->cap)
		k->cap = bank_ns * k->rate_r;
	if (q < RL_SHARE_MIN)
		q = RL_SHARE_MIN;
	if (q > RL_SHARE_ONE)
		q = RL_SHARE_ONE;
	u = (unsigned __int128)k->unit * RL_SHARE_ONE;
	umax = (__u64)((u + RL_SHARE_MIN - 1) / RL_SHARE_MIN);
	k->unit = (__u64)((u + q - 1) / q);
	big = umax > RL_DEBT_MAX / RL_MAX_COST ? RL_DEBT_MAX : RL_MAX_COST * umax;
	k->aux = (k->cap > big ? k->cap : big) + RL_SKEW_NS * k->rate_r;
}

/* NULL if a limit can be shared (scope cluster), else why not. */
static inline const char *rl_share_check(const struct rl_limit *l, int bytes)
{
	struct rl_lconst k;

	if (!rl_algo_is_gcra(l->algo))
		return "scope cluster needs algo token-bucket or leaky-bucket";
	rl_lconst_share(l, bytes, RL_SHARE_MIN, 60000000000ULL, &k);
	if (!k.unit || k.unit > RL_UNIT_MAX || k.aux >= RL_PAY_SIGN / 2)
		return "rate is too slow or burst too large to be shared down to 1/1024 "
		       "in the 56-bit state word (scope cluster)";
	return 0;
}

/*
 * Userspace check that a limit is inside the exact range of the arithmetic
 * above.  Returns NULL if fine, else what is wrong.
 */
static inline const char *rl_limit_check(const struct rl_limit *l, int bytes)
{
	__u64 burst = rl_burst(l);
	struct rl_lconst k;

	if (!l->rate)
		return "rate must be at least 1";
	if (!l->period_ns)
		return "period must be positive";
	if (l->algo >= __RL_ALGO_MAX)
		return "unknown algorithm";
	if (l->rate > RL_U64_MAX / 4 || burst > RL_U64_MAX / 4)
		return "rate or burst is too large";
	if (l->algo == RL_ALGO_FIXED_WINDOW &&
	    l->rate > RL_FW_CNT_MASK - RL_MAX_COST)
		return "fixed-window counts at most 4294901760 units per window";
	if (l->algo == RL_ALGO_SLIDING_WINDOW &&
	    l->rate > RL_SW_CNT_MASK - RL_MAX_COST)
		return "sliding-window counts at most 67043328 units per window "
		       "(26-bit counts in one state word): use token-bucket for larger byte rates";
	if (l->algo == RL_ALGO_SLIDING_LOG && bytes)
		return "sliding-log limits packets, not bytes";
	if (l->algo == RL_ALGO_SLIDING_LOG && l->rate > RL_SLOG_MAX)
		return "sliding-log keeps at most 32 timestamps per key: rate must be <= 32 per period";
	if (bytes && burst < 1514)
		return "a byte-rate burst must be at least 1514 bytes (one full frame)";
	if (rl_algo_is_gcra(l->algo)) {
		rl_lconst_compile(l, bytes, &k);
		if (k.unit > RL_UNIT_MAX)
			return "rate is too slow for the 56-bit state word "
			       "(at most 2^47 ns, 39 hours, per packet or byte)";
		/* the TAT is compared by wrapping difference on 56 bits:
		 * everything a live key can be ahead by must fit half of it */
		if (burst > RL_DEBT_MAX / k.unit || k.aux >= RL_PAY_SIGN / 2)
			return "burst x period is too large for the 56-bit state word "
			       "(at most 2^53 scaled units: lower the burst or use a shorter period)";
	}
	return 0;
}
#endif /* !__bpf__ */

#endif /* RL_ALGO_H */
