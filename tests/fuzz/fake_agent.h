/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fake_agent.h - the controls of tests/fuzz/fake_agent.c's maps: make the
 * n-th map write from now fail (0: none); count the writes that went
 * through.  Included by fake_agent.c and fuzz_request.c.
 */
#ifndef RL_FAKE_AGENT_H
#define RL_FAKE_AGENT_H

void fake_fail_write(long n);
void fake_writes_reset(void);
long fake_writes(void);
/* the model lists agent_state.c holds from fake_calloc's pool */
int fake_pool_used(void);

#endif /* RL_FAKE_AGENT_H */
