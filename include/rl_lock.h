/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_lock.h - the bounded per-key try-lock that guards a state's words
 * (struct rl_state.lock, struct rl_slog.lock).  Included by the decision
 * core (bpf/rl_core.h) and by host tests and simulators that replay the
 * datapath's locking with threads.
 *
 * Why not bpf_spin_lock: the kernel refuses it in LRU hash values, and LRU
 * is the default full-map policy.  The lock is a __u32 taken with a 0 -> 1
 * compare-and-swap; BPF has no way to sleep or yield, so the spin is
 * bounded and a caller that does not get the lock must fail closed (the
 * core drops and counts RL_G_LOCK_BUSY).  In XDP the holder runs with
 * bottom halves disabled and cannot be preempted on its CPU; the critical
 * section is a few dozen instructions, so a give-up means real contention
 * from other CPUs, never a holder that went away.
 *
 * Memory ordering: BPF atomic instructions with BPF_FETCH (cmpxchg, xchg)
 * are fully ordered, so the acquiring cmpxchg and the releasing xchg fence
 * the critical section on every JIT.  On the host the same builtins are
 * used; the release is an explicit release store after a full barrier.
 * Needs clang -mcpu=v3 for 32-bit atomics on the BPF side.
 */
#ifndef RL_LOCK_H
#define RL_LOCK_H

#include "rl_types.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * Attempts before giving up.  A critical section is ~50 instructions, so
 * 1024 failed attempts (a few microseconds) means the holder was
 * interrupted or the key is hammered from several CPUs; measured with two
 * CPUs on one key (tests/bpf/test_smp.c), 256 gave up on ~0.3% of packets
 * under BPF_PROG_TEST_RUN, 1024 on ~0.003%.
 */
#define RL_LOCK_SPINS 1024

#ifdef __bpf__
#include <bpf/bpf_helpers.h>

struct rl_lock_spin_ctx {
	__u32 *lock;
	int got;
};

static long rl_lock_spin(__u32 i, void *ctx)
{
	struct rl_lock_spin_ctx *c = ctx;

	(void)i;
	/* read first: spinning on a plain load keeps the line shared */
	if (*(volatile __u32 *)c->lock)
		return 0;
	if (__sync_val_compare_and_swap(c->lock, 0, 1) != 0)
		return 0;
	c->got = 1;
	return 1;
}

/*
 * 1: lock taken, the caller must rl_unlock().  0: gave up.  The spin is a
 * bpf_loop() callback: the verifier checks it once, where an open-coded
 * loop would make it walk the rest of the program once per spin.
 */
static __always_inline int rl_trylock(__u32 *lock)
{
	struct rl_lock_spin_ctx c = { .lock = lock, .got = 0 };

	/* uncontended fast path: no helper call */
	if (__sync_val_compare_and_swap(lock, 0, 1) == 0)
		return 1;
	bpf_loop(RL_LOCK_SPINS, rl_lock_spin, &c, 0);
	return c.got;
}
#else
/* 1: lock taken, the caller must rl_unlock().  0: gave up. */
static __always_inline int rl_trylock(__u32 *lock)
{
	int i;

	for (i = 0; i < RL_LOCK_SPINS; i++) {
		if (__atomic_load_n(lock, __ATOMIC_RELAXED))
			continue;
		if (__sync_val_compare_and_swap(lock, 0, 1) == 0)
			return 1;
	}
	return 0;
}
#endif

static __always_inline void rl_unlock(__u32 *lock)
{
#ifdef __bpf__
	/* xchg is a fully ordered BPF atomic: stores above are visible first */
	__sync_lock_test_and_set(lock, 0);
#else
	__sync_synchronize();
	__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
#endif
}

#endif /* RL_LOCK_H */
