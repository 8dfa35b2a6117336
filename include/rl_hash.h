/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_hash.h - where a key of the per-source tables lives: the seeded hash
 * and its reduction onto the bucket count.  Included by the datapath
 * (bpf/rl_state.h) and by userspace that must find a key's buckets the
 * same way (tests/bpf/rl_testlib.h).
 */
#ifndef RL_HASH_H
#define RL_HASH_H

#include "rl_types.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

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

/* The hash of an IPv4 key kw (rule id + 1 << 32 | masked source). */
static __always_inline __u64 rl_hash4(__u64 kw, __u64 seed)
{
	return rl_mix(kw ^ seed);
}

/* The hash of an IPv6 key: rule id and the masked source a[2]. */
static __always_inline __u64 rl_hash6(__u32 id, const __u64 *a, __u64 seed)
{
	return rl_mix(rl_mix(a[0] ^ seed) ^ a[1] ^ ((__u64)id << 17));
}

/* Its two candidate buckets among n: the hash's low and high halves. */
static __always_inline void rl_buckets(__u64 h, __u32 n, __u32 *i1, __u32 *i2)
{
	*i1 = rl_reduce((__u32)h, n);
	*i2 = rl_reduce((__u32)(h >> 32), n);
}

#endif /* RL_HASH_H */
