// SPDX-License-Identifier: GPL-2.0
/*
 * agent_gc.c - periodic clean-up of the per-source state maps rl_st4 and
 * rl_st6, run from the agent's poll loop in bounded steps so that the
 * control socket stays responsive with millions of keys.
 *
 * What it deletes:
 *   - keys of rule slots no rule uses any more (deleted rules); a reused
 *     slot would re-initialise them anyway, so deleting them is invisible;
 *   - with a plain HASH state map (on-full fail-open, fail-closed or
 *     aggregate), keys that are not in a penalty box and whose credit is
 *     back at the maximum: a new key starts exactly like that, so dropping
 *     them only frees room.  Without this such a map fills up once and the
 *     full-map policy then applies for good.  LRU maps (on-full evict)
 *     evict by themselves and are left alone.
 *
 * The kernel has no compare-and-delete from userspace: a packet that
 * charges a full key between our read and our delete is forgotten, so a
 * source can get one packet more than its burst, once, in that instant.
 * That is why only keys at full credit are ever candidates.
 *
 * Each full pass also counts the keys, which `status` reports.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "agent.h"
#include "rl_algo.h"

#define GC_STEP_KEYS    32768           /* keys looked at per step           */
#define GC_STEP_NS      200000000ull    /* between steps of a pass           */

union gc_key {
	struct rl_key4 k4;
	struct rl_key6 k6;
};

static struct {
	int fam;                  /* 4 or 6: the map being walked            */
	bool have_cursor;
	union gc_key cursor;
	uint32_t seen, deleted;   /* this pass                               */
	uint64_t next_ns;
} gc = { .fam = 4 };

/* Units of credit a key has now and can have at most (see rlctl top). */
static bool at_full_credit(const struct rl_limit *l, struct rl_words w, uint64_t now)
{
	uint64_t idx = rl_window_index(l, now), cap = rl_cap(l);

	switch (l->algo) {
	case RL_ALGO_TOKEN_BUCKET:
		rl_tb_refill(l, &w, now);
		return w.w0 >= cap;
	case RL_ALGO_LEAKY_BUCKET:
		return w.w0 <= now;
	case RL_ALGO_FIXED_WINDOW:
		return idx > w.w0 || w.w1 == 0;
	case RL_ALGO_SLIDING_WINDOW:
		/* both windows must be over, or the estimate is not zero */
		return idx > w.w0 + 1 || w.w1 == 0;
	default:
		return false;
	}
}

static bool hash_mode(const struct agent *a)
{
	return a->cfg.defaults.on_full != RL_FULL_EVICT;
}

uint64_t agent_gc_next(const struct agent *a)
{
	return a->gc_interval_ns ? gc.next_ns : 0;
}

void agent_gc_step(struct agent *a, uint64_t now)
{
	int fd = gc.fam == 4 ? a->maps.st4 : a->maps.st6;
	size_t ksz = gc.fam == 4 ? sizeof(struct rl_key4) : sizeof(struct rl_key6);
	union gc_key *keys = NULL;
	bool *del = NULL;
	int32_t *by_id = NULL;
	int n = 0, i;
	bool done = false;

	keys = malloc(GC_STEP_KEYS * sizeof(*keys));
	del = calloc(GC_STEP_KEYS, sizeof(*del));
	by_id = malloc(RL_MAX_RULES * sizeof(*by_id));
	if (!keys || !del || !by_id) {
		gc.next_ns = now + GC_STEP_NS;
		goto cleanup;
	}
	for (i = 0; i < RL_MAX_RULES; i++)
		by_id[i] = -1;
	for (i = 0; i < a->model.n_rules; i++)
		by_id[a->model.rules[i].id] = i;

	while (n < GC_STEP_KEYS) {
		union gc_key next;

		if (bpf_map_get_next_key(fd, gc.have_cursor ? &gc.cursor : NULL, &next)) {
			done = true;	/* ENOENT: end of this map */
			break;
		}
		memcpy(&gc.cursor, &next, ksz);
		gc.have_cursor = true;
		keys[n++] = next;
	}
	gc.seen += (uint32_t)n;

	for (i = 0; i < n; i++) {
		uint32_t id = gc.fam == 4 ? keys[i].k4.rule : keys[i].k6.rule;
		const struct agent_rule *r;
		struct rl_state st;

		/* The cursor must survive: deleting it would restart the walk. */
		if (!done && i == n - 1)
			break;
		if (id >= RL_MAX_RULES || by_id[id] < 0) {
			del[i] = true;
			continue;
		}
		if (!hash_mode(a) || bpf_map_lookup_elem(fd, &keys[i], &st))
			continue;
		r = &a->model.rules[by_id[id]];
		if (st.ver != r->ver || (st.block_until_ns > now) || st.lock)
			continue;
		del[i] = at_full_credit(&r->spec.limit, st.s, now);
	}
	for (i = 0; i < n; i++)
		if (del[i] && !bpf_map_delete_elem(fd, &keys[i]))
			gc.deleted++;

	if (!done) {
		gc.next_ns = now + GC_STEP_NS;
		goto cleanup;
	}
	if (gc.fam == 4)
		a->st4_used = gc.seen;
	else
		a->st6_used = gc.seen;
	a->gc_deleted += gc.deleted;
	if (gc.deleted)
		log_debug("gc: rl_st%d: %u keys, %u idle or orphaned deleted", gc.fam, gc.seen,
			  gc.deleted);
	gc.have_cursor = false;
	gc.seen = gc.deleted = 0;
	if (gc.fam == 4) {
		gc.fam = 6;
		gc.next_ns = now + GC_STEP_NS;
	} else {
		gc.fam = 4;
		a->gc_passes++;
		gc.next_ns = now + a->gc_interval_ns;
	}
cleanup:
	free(keys);
	free(del);
	free(by_id);
}
