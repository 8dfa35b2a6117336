/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_ref_algo.h - the reference model of the rate-limit algorithms: rl's
 * original two-word implementations (exact 64-bit arithmetic, no wrap),
 * kept for host tests only.  tests/unit/test_algo.c compares the datapath's
 * one-word algorithms (include/rl_algo.h) with these on millions of random
 * decisions.  Every function takes `now_ns` from its caller
 * and never reads a clock; no helpers, maps, globals or floats; all integer
 * arithmetic is exact or explicitly bounded, and every divisor is guarded
 * (division by zero is 0 in BPF but undefined on the host).
 *
 * A limit is `rate` units per `period_ns` with `burst` units of credit
 * (struct rl_limit).  A unit is a packet, or a byte for byte rates; `cost`
 * is 1 or the packet length.
 *
 * Token bucket and GCRA work in *scaled units*: one unit = period_ns scaled
 * units, and one nanosecond refills `rate` scaled units.  That makes refill
 * exact for any rate from 1/h to 100 Gbit/s without fractions: the bucket
 * capacity is burst * period_ns, which userspace bounds (ref_limit_check)
 * so that it and everything derived from it fits in 64 bits.
 *
 * Time going backwards (a caller's clock stepping back, or two CPUs whose
 * `now` readings arrive out of order) never creates credit: elapsed time is
 * clamped at zero.  A year idle is one comparison: credit saturates at the
 * capacity before any multiplication can overflow.
 */
#ifndef RL_REF_ALGO_H
#define RL_REF_ALGO_H

#include "rl_abi.h"

/* The two-word state of the reference model (rl's layout before 0.2). */
struct ref_words {
	__u64 w0;
	__u64 w1;
};

struct ref_slog {
	__u32 head;
	__u32 count;
	__u64 ts[RL_SLOG_MAX];
};

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
#define RL_WEIGHT_ONE  (1ULL << 16)   /* sliding-window weight fixed point */
#define RL_MAX_COST    65535ULL       /* largest cost: one packet's bytes   */

/* Burst 0 means "no burst": exactly one unit of credit (strict spacing). */
static __always_inline __u64 ref_burst(const struct rl_limit *l)
{
	return l->burst ? l->burst : 1;
}

/* Bucket capacity in scaled units. */
static __always_inline __u64 ref_cap(const struct rl_limit *l)
{
	return ref_burst(l) * l->period_ns;
}

/*
 * Token bucket.  w0 = credit (scaled units), w1 = time of the last refill.
 */
static __always_inline void ref_tb_refill(const struct rl_limit *l,
					 struct ref_words *s, __u64 now_ns)
{
	__u64 cap = ref_cap(l);
	__u64 credit = s->w0 < cap ? s->w0 : cap;
	__u64 elapsed, room;

	if (now_ns <= s->w1) {
		s->w0 = credit;
		return;
	}
	elapsed = now_ns - s->w1;
	s->w1 = now_ns;
	room = cap - credit;
	/* elapsed * rate <= room  <=>  elapsed <= room / rate: no overflow */
	if (!l->rate || elapsed > room / l->rate)
		credit = l->rate ? cap : credit;
	else
		credit += elapsed * l->rate;
	s->w0 = credit;
}

static __always_inline int ref_tb_admit(const struct rl_limit *l,
				       struct ref_words *s, __u64 cost,
				       __u64 now_ns)
{
	__u64 need = cost * l->period_ns;

	ref_tb_refill(l, s, now_ns);
	if (s->w0 < need)
		return 0;
	s->w0 -= need;
	return 1;
}

/*
 * GCRA (virtual scheduling).  The theoretical arrival time TAT is kept as
 * whole ns (w0) plus a remainder in 1/rate ns (w1 < rate), so the emission
 * interval period/rate is exact.  A packet of cost c conforms iff
 * max(TAT, now) - now + c*T <= burst*T, the same admission set as the token
 * bucket above; the difference is the state: one timestamp, no refill.
 */
static __always_inline int ref_gcra_admit(const struct rl_limit *l,
					 struct ref_words *s, __u64 cost,
					 __u64 now_ns)
{
	__u64 cap = ref_cap(l), need = cost * l->period_ns;
	__u64 tat = s->w0, frac = s->w1, ahead, inc_int, inc_rem;

	if (!l->rate || need > cap)
		return 0;
	if (frac >= l->rate)
		frac = 0;
	if (tat < now_ns) {
		tat = now_ns;
		frac = 0;
	}
	ahead = tat - now_ns;
	/* ahead*rate + frac + need <= cap, without overflowing ahead*rate */
	if (ahead > (cap - need) / l->rate)
		return 0;
	if (ahead * l->rate + frac > cap - need)
		return 0;
	inc_int = need / l->rate;
	inc_rem = need % l->rate;
	frac += inc_rem;
	if (frac >= l->rate) {
		frac -= l->rate;
		inc_int++;
	}
	s->w0 = tat + inc_int;
	s->w1 = frac;
	return 1;
}

/*
 * Fixed window: w0 = window index (now / period), w1 = units admitted in
 * it.  At most `rate` units per window; burst is not used.  A window index
 * that goes backwards is treated as the current one.
 */
static __always_inline __u64 ref_window_index(const struct rl_limit *l,
					     __u64 now_ns)
{
	return l->period_ns ? now_ns / l->period_ns : 0;
}

static __always_inline int ref_fw_admit(const struct rl_limit *l,
				       struct ref_words *s, __u64 cost,
				       __u64 now_ns)
{
	__u64 idx = ref_window_index(l, now_ns);

	if (idx > s->w0) {
		s->w0 = idx;
		s->w1 = 0;
	}
	if (s->w1 + cost > l->rate)
		return 0;
	s->w1 += cost;
	return 1;
}

/*
 * Sliding-window counter (Cloudflare-style): w0 = current window index,
 * w1 = previous window's count << 32 | current window's count.  The
 * estimate prev * (1 - elapsed/period) + cur must stay <= rate; the weight
 * is 16-bit fixed point.  Counts fit 32 bits because userspace refuses
 * windows of more than 2^32-1 units.
 */
static __always_inline int ref_sw_admit(const struct rl_limit *l,
				       struct ref_words *s, __u64 cost,
				       __u64 now_ns)
{
	__u64 idx = ref_window_index(l, now_ns), prev, cur, elapsed, weight;

	prev = s->w1 >> 32;
	cur = s->w1 & 0xffffffffULL;
	if (idx == s->w0 + 1) {
		prev = cur;
		cur = 0;
		s->w0 = idx;
	} else if (idx > s->w0 + 1) {
		prev = 0;
		cur = 0;
		s->w0 = idx;
	}
	/* backwards or same window: elapsed from the stored window start */
	elapsed = now_ns - s->w0 * l->period_ns;
	if (now_ns < s->w0 * l->period_ns || !l->period_ns)
		elapsed = 0;
	if (elapsed > l->period_ns)
		elapsed = l->period_ns;
	weight = l->period_ns ?
		((l->period_ns - elapsed) << 16) / l->period_ns : RL_WEIGHT_ONE;
	s->w1 = prev << 32 | cur;
	if (prev * weight + ((cur + cost) << 16) > (l->rate << 16))
		return 0;
	s->w1 = prev << 32 | (cur + cost);
	return 1;
}

/*
 * Initialise a key's words.  full = 1: a new key, full credit.  full = 0:
 * drained, no credit at now_ns (an algorithm switch: admissions before it
 * plus admissions after it never exceed one burst plus the rate).
 */
static __always_inline void ref_algo_init(const struct rl_limit *l,
					 struct ref_words *s, __u64 now_ns,
					 int full)
{
	__u64 cap = ref_cap(l), idx = ref_window_index(l, now_ns);

	switch (l->algo) {
	case RL_ALGO_LEAKY_BUCKET:
		s->w0 = now_ns;
		s->w1 = 0;
		if (!full && l->rate) {
			s->w0 = now_ns + cap / l->rate;
			s->w1 = cap % l->rate;
		}
		break;
	case RL_ALGO_FIXED_WINDOW:
		s->w0 = idx;
		s->w1 = full ? 0 : l->rate;
		break;
	case RL_ALGO_SLIDING_WINDOW:
		s->w0 = idx;
		s->w1 = full ? 0 : (l->rate & 0xffffffffULL);
		break;
	default:
		s->w0 = full ? cap : 0;
		s->w1 = now_ns;
		break;
	}
}

/* Charge `cost` units at now_ns: 1 admitted (state charged), 0 denied. */
static __always_inline int ref_algo_admit(const struct rl_limit *l,
					 struct ref_words *s, __u64 cost,
					 __u64 now_ns)
{
	switch (l->algo) {
	case RL_ALGO_LEAKY_BUCKET:
		return ref_gcra_admit(l, s, cost, now_ns);
	case RL_ALGO_FIXED_WINDOW:
		return ref_fw_admit(l, s, cost, now_ns);
	case RL_ALGO_SLIDING_WINDOW:
		return ref_sw_admit(l, s, cost, now_ns);
	case RL_ALGO_TOKEN_BUCKET:
		return ref_tb_admit(l, s, cost, now_ns);
	default:
		return 0;
	}
}

/*
 * True if the state is indistinguishable from a new key's at now_ns, so
 * that deleting it loses nothing (used by the agent's garbage collector).
 */
static __always_inline int ref_algo_idle(const struct rl_limit *l,
					const struct ref_words *s, __u64 now_ns)
{
	struct ref_words t = *s;
	__u64 idx = ref_window_index(l, now_ns);

	switch (l->algo) {
	case RL_ALGO_LEAKY_BUCKET:
		return s->w0 <= now_ns;
	case RL_ALGO_FIXED_WINDOW:
		return idx > s->w0 || s->w1 == 0;
	case RL_ALGO_SLIDING_WINDOW:
		return idx > s->w0 + 1 || s->w1 == 0;
	default:
		ref_tb_refill(l, &t, now_ns);
		return t.w0 >= ref_cap(l);
	}
}

/*
 * Sliding log: at most `rate` admissions (cost 1, packet rates only) in any
 * window of period_ns, exactly.  The ring holds the last `rate` admission
 * times; a packet is admitted iff fewer than `rate` are logged or the
 * oldest has left the window.  Bounded: rate <= RL_SLOG_MAX.
 */
static __always_inline void ref_slog_init(const struct rl_limit *l,
					 struct ref_slog *s, __u64 now_ns,
					 int full)
{
	__u32 i, n = l->rate < RL_SLOG_MAX ? (__u32)l->rate : RL_SLOG_MAX;

	s->head = 0;
	s->count = full ? 0 : n;
	for (i = 0; i < RL_SLOG_MAX; i++)
		s->ts[i] = full ? 0 : now_ns;
}

static __always_inline int ref_slog_admit(const struct rl_limit *l,
					 struct ref_slog *s, __u64 now_ns)
{
	__u32 n = l->rate < RL_SLOG_MAX ? (__u32)l->rate : RL_SLOG_MAX;
	__u32 slot;

	if (!n || l->rate > RL_SLOG_MAX)
		return 0;
	/* a rate change shrank the ring: restart it drained, never open */
	if (s->head >= n || s->count > n)
		ref_slog_init(l, s, now_ns, 0);
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
 * Userspace check that a limit is inside the exact range of the arithmetic
 * above.  Returns NULL if fine, else what is wrong.
 */
static inline const char *ref_limit_check(const struct rl_limit *l, int bytes)
{
	__u64 burst = ref_burst(l);

	if (!l->rate)
		return "rate must be at least 1";
	if (!l->period_ns)
		return "period must be positive";
	if (l->algo >= __RL_ALGO_MAX)
		return "unknown algorithm";
	/* capacity, plus one more refill step, plus a max-size packet */
	if (burst > (RL_U64_MAX / 2) / l->period_ns ||
	    RL_MAX_COST > (RL_U64_MAX / 2) / l->period_ns ||
	    l->rate > RL_U64_MAX / 4)
		return "burst x period is too large for exact 64-bit arithmetic";
	if ((l->algo == RL_ALGO_FIXED_WINDOW ||
	     l->algo == RL_ALGO_SLIDING_WINDOW) && l->rate > 0xffffffffULL - RL_MAX_COST)
		return "window algorithms count at most 4294901760 units per window";
	if (l->algo == RL_ALGO_SLIDING_LOG && bytes)
		return "sliding-log limits packets, not bytes";
	if (l->algo == RL_ALGO_SLIDING_LOG && l->rate > RL_SLOG_MAX)
		return "sliding-log keeps at most 32 timestamps per key: rate must be <= 32 per period";
	if (bytes && burst < 1514)
		return "a byte-rate burst must be at least 1514 bytes (one full frame)";
	return 0;
}

#endif /* RL_REF_ALGO_H */
