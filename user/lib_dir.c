// SPDX-License-Identifier: GPL-2.0
/*
 * lib_dir.c - the direct match tables (rl_dir4/rl_dir6, rl_abi.h "Direct
 * match table") derived from compiled match entries, and the allocator of
 * their value slots (rl_mval).  Pure: no maps; agent_dir.c writes what
 * these decide, tests/unit/test_dir.c checks them against a plain
 * longest-prefix match.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rl_model.h"

static uint32_t top_bits(const struct rl_prefix *p)
{
	return (uint32_t)p->addr[0] << 8 | p->addr[1];
}

/*
 * Cells of one family: the longest entry of length <= 16 covering each
 * /16 (painted shortest first, so longer ones overwrite), then TRIE for
 * every /16 that holds a longer entry.  Entries are unique per prefix.
 */
void rl_dir_plan(const struct rl_compiled *c, int family, int32_t *plan)
{
	int i, len;

	for (i = 0; i < (int)RL_DIR_CELLS; i++)
		plan[i] = RL_DIR_PLAN_NONE;
	for (len = 0; len <= RL_DIR_BITS; len++) {
		for (i = 0; i < c->n; i++) {
			const struct rl_prefix *p = &c->e[i].pfx;
			uint32_t first, n, k;

			if (p->family != family || p->len != len)
				continue;
			n = 1u << (RL_DIR_BITS - len);
			first = len ? top_bits(p) & ~(n - 1) : 0;
			for (k = 0; k < n; k++)
				plan[first + k] = i;
		}
	}
	for (i = 0; i < c->n; i++) {
		const struct rl_prefix *p = &c->e[i].pfx;

		if (p->family == family && p->len > RL_DIR_BITS)
			plan[top_bits(p)] = RL_DIR_PLAN_TRIE;
	}
}

static uint64_t match_hash(const struct rl_match *m)
{
	const unsigned char *b = (const unsigned char *)m;
	uint64_t h = 1469598103934665603ULL;    /* FNV-1a */
	size_t i;

	for (i = 0; i < sizeof(*m); i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

int rl_dir_slots_init(struct rl_dir_slots *s)
{
	memset(s, 0, sizeof(*s));
	s->val = calloc(RL_DIR_VALS, sizeof(*s->val));
	return s->val ? 0 : -ENOMEM;
}

void rl_dir_slots_free(struct rl_dir_slots *s)
{
	free(s->val);
	s->val = NULL;
}

void rl_dir_slot_known(struct rl_dir_slots *s, uint32_t slot, const struct rl_match *m,
		       bool used, uint64_t now_ns)
{
	s->val[slot] = *m;
	s->hash[slot] = match_hash(m);
	s->state[slot] = used ? RL_DIR_SLOT_USED : RL_DIR_SLOT_FREE;
	s->freed_ns[slot] = now_ns;
}

int rl_dir_slot_get(struct rl_dir_slots *s, const struct rl_match *m,
		    uint64_t now_ns, bool *fresh)
{
	uint64_t h = match_hash(m);
	int i, free_at = -1;

	*fresh = false;
	for (i = 0; i < RL_DIR_VALS; i++) {
		if (s->hash[i] == h && !memcmp(&s->val[i], m, sizeof(*m))) {
			/* the same bytes: naming it again writes nothing, so
			 * even a slot still in quarantine will do */
			if (s->state[i] == RL_DIR_SLOT_USED || s->state[i] == RL_DIR_SLOT_FREE)
				s->state[i] = RL_DIR_SLOT_KEPT;
			return i;
		}
		if (free_at < 0 && s->state[i] == RL_DIR_SLOT_FREE &&
		    now_ns - s->freed_ns[i] >= RL_DIR_QUARANTINE_NS)
			free_at = i;
	}
	/* recorded by rl_dir_slot_written once the map holds it: a failed
	 * write leaves the slot free, with what it really holds */
	*fresh = free_at >= 0;
	return free_at;
}

void rl_dir_slot_written(struct rl_dir_slots *s, uint32_t slot, const struct rl_match *m)
{
	s->val[slot] = *m;
	s->hash[slot] = match_hash(m);
	s->state[slot] = RL_DIR_SLOT_NEW;
}

void rl_dir_slots_commit(struct rl_dir_slots *s, uint64_t now_ns)
{
	int i;

	for (i = 0; i < RL_DIR_VALS; i++) {
		if (s->state[i] == RL_DIR_SLOT_USED) {
			/* no cell names it any more: a packet may still be
			 * reading it, so it waits before it is reused */
			s->state[i] = RL_DIR_SLOT_FREE;
			s->freed_ns[i] = now_ns;
		} else if (s->state[i] != RL_DIR_SLOT_FREE) {
			s->state[i] = RL_DIR_SLOT_USED;
		}
	}
}

uint64_t rl_dir_slots_next_free(const struct rl_dir_slots *s)
{
	uint64_t t = 0;
	int i;

	for (i = 0; i < RL_DIR_VALS; i++)
		if (s->state[i] == RL_DIR_SLOT_FREE &&
		    (!t || s->freed_ns[i] + RL_DIR_QUARANTINE_NS < t))
			t = s->freed_ns[i] + RL_DIR_QUARANTINE_NS;
	return t;
}

void rl_dir_slots_abort(struct rl_dir_slots *s)
{
	int i;

	/* cells may name any slot touched by the failed sync: keep them all,
	 * fresh ones too (they were written before any cell named them) */
	for (i = 0; i < RL_DIR_VALS; i++)
		if (s->state[i] != RL_DIR_SLOT_FREE)
			s->state[i] = RL_DIR_SLOT_USED;
}
