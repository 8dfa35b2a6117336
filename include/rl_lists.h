/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_lists.h - the bulk allow/block lists' ABI and their guard bitmaps:
 * which bit of rl_lbm4/rl_lbm6 stands for a source.  Included by the
 * datapath (bpf/rl_core.h), which tests the bit before it looks the
 * source up in the list tries rl_lst4/rl_lst6, and by userspace
 * (user/lib_lists.c), which sets the bits; both must agree bit for bit.
 *
 * IPv4: one bit per /24 (2^24 bits, 2 MiB), set when a list prefix
 * intersects that /24: exact at /24 granularity.
 * IPv6: two regions of one array.  Elements [0, RL_LBM6_SHORT) hold one bit
 * per /16, set for a /16 a list prefix shorter than /48 intersects; the
 * rest hold 2^24 bits indexed by a hash of the source's /48, set for list
 * prefixes of /48 or longer.  A false positive costs one trie lookup,
 * never a wrong verdict: the trie decides.
 */
#ifndef RL_LISTS_H
#define RL_LISTS_H

#include "rl_types.h"
#include "rl_hash.h"

#define RL_MAX_LISTED     (1u << 21)  /* entries in each list trie (2M)     */
/* Each list trie's capacity: an apply writes the new entries before it
 * deletes the old (rl_lists.h, docs/ARCHITECTURE.md), so a change that
 * replaces a full list holds both for a moment; not preallocated. */
#define RL_LST_ENTRIES    (2 * RL_MAX_LISTED)
#define RL_LBM_BITS       24          /* bits of a bitmap region: 2^24      */
#define RL_LBM4_ELEMS     (1u << (RL_LBM_BITS - 6))
#define RL_LBM6_SHORT     1024u       /* 65,536 bits: one per IPv6 /16      */
#define RL_LBM6_ELEMS     (RL_LBM6_SHORT + (1u << (RL_LBM_BITS - 6)))
#define RL_LBM6_HASH_LEN  48          /* prefixes >= /48 use the hash region */

/* rl_lval.flags */
#define RL_LF_ALLOW       (1u << 0)   /* a covering prefix is allowlisted   */
#define RL_LF_BLOCK       (1u << 1)   /* a covering prefix is blocklisted   */

/*
 * Value of the list tries rl_lst4/rl_lst6.  The entry for list prefix P
 * carries the flags of every list prefix containing P (itself included),
 * so the longest match alone decides: allow beats block.
 */
struct rl_lval {
	__u32 flags;               /* RL_LF_*                               */
	__u32 _pad;
	__u64 block_until_ns;      /* latest block expiry, ~0ULL = forever  */
};
_Static_assert(sizeof(struct rl_lval) == 16, "rl_lval ABI");

/* The bit of an IPv4 source (host order): its /24. */
static __always_inline __u32 rl_lbm4_bit(__u32 src_host)
{
	return src_host >> (32 - RL_LBM_BITS);
}

/* The short-prefix bit of an IPv6 source (its top 64 bits, host order). */
static __always_inline __u32 rl_lbm6_short_bit(__u64 hi_host)
{
	return (__u32)(hi_host >> 48);
}

/* The hash-region bit of an IPv6 source, counted from the region's start. */
static __always_inline __u32 rl_lbm6_hash_bit(__u64 hi_host)
{
	return (__u32)(rl_mix(hi_host >> (64 - RL_LBM6_HASH_LEN)) >> (64 - RL_LBM_BITS));
}

#endif /* RL_LISTS_H */
