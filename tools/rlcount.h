/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rlcount.h - the ABI between tools/rlcount.bpf.c and tools/rlcount.c:
 * the per-source key and value and the global counters.
 */
#ifndef RLCOUNT_H
#define RLCOUNT_H

#include "rl_types.h"

#define RLC_DEFAULT_SOURCES (2u << 20)

struct rlc_key {
	__u8 family;               /* 4 or 6                                */
	__u8 _pad[3];
	__u8 addr[16];             /* network order; IPv4 in the first 4    */
};
_Static_assert(sizeof(struct rlc_key) == 20, "rlc_key ABI");

struct rlc_val {
	__u64 packets;
	__u64 bytes;
	__u64 first_ns;            /* bpf_ktime_get_ns of the first packet  */
	__u64 last_ns;             /* and of the latest (CLOCK_MONOTONIC)   */
};
_Static_assert(sizeof(struct rlc_val) == 32, "rlc_val ABI");

enum rlc_glob {
	RLC_G_ALL = 0,             /* every packet seen                     */
	RLC_G_IP,                  /* IPv4/IPv6, counted per source         */
	RLC_G_OTHER,               /* not IP, or truncated                  */
	RLC_G_OUTSIDE,             /* IP, but outside --prefix: not counted */
	RLC_G_FULL,                /* IP, but the source map was full       */
	__RLC_G_MAX,
};

#endif /* RLCOUNT_H */
