/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fake_maps.h - in-memory maps with fault injection (tests/unit/fake_maps.c),
 * for tests/unit/test_crash.c.
 */
#ifndef RL_FAKE_MAPS_H
#define RL_FAKE_MAPS_H

#include <setjmp.h>
#include <stdint.h>

enum fake_mode {
	FAKE_NONE,
	FAKE_CRASH,                   /* longjmp at write n, which is not done */
	FAKE_FAIL_ONCE,               /* write n fails, the others succeed     */
	FAKE_FAIL_FROM,               /* write n and every later one fail      */
};

extern jmp_buf fake_crash_jmp;

/* Writes are counted from 1 after each call. */
void fake_fault(enum fake_mode m, long n);
/* After fake_fault(): also crash at write n (a crash in the rollback of
 * a failure planned before it). */
void fake_crash_also(long n);
long fake_writes(void);
/* the map writes among them (not TC attaches, not rl_conf) */
long fake_map_writes(void);
int fake_map_new(uint32_t type, uint32_t ksz, uint32_t vsz, uint32_t max);
void fake_maps_reset(void);
uint32_t fake_map_count(int fd);
int fake_map_entry(int fd, uint32_t i, void *key, void *value);

#endif /* RL_FAKE_MAPS_H */
