/* SPDX-License-Identifier: GPL-2.0 */
/*
 * testlib.h - the reporting protocol of tests/run.sh for host unit tests:
 * CHECK() records a failed expectation in the enclosing case (a local
 * `int failed`), report() prints `PASS name` or `FAIL name: ...` once per
 * case; plus a seeded xorshift64* PRNG so every random trace can be
 * replayed.  Included by tests/unit/test_*.c.
 */
#ifndef RL_TESTLIB_H
#define RL_TESTLIB_H

#include <stdint.h>
#include <stdio.h>

static int failures, cases;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("    at %s:%d: ", __FILE__, __LINE__);      \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
			failed = 1;                                        \
		}                                                          \
	} while (0)

static inline void report(const char *name, int failed)
{
	cases++;
	if (failed) {
		failures++;
		printf("FAIL %s: see above\n", name);
	} else {
		printf("PASS %s\n", name);
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static inline uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

#endif /* RL_TESTLIB_H */
