// SPDX-License-Identifier: GPL-2.0
/*
 * agent_gc.c - the sweep of the per-source state: the bucket tables
 * rl_st4/rl_st6 (read and cleared in place through the agent's shared
 * mapping) and the sliding-log hashes rl_sl4/rl_sl6.  It runs from the
 * agent's poll loop in bounded steps (GC_STEP_BUCKETS buckets or
 * GC_STEP_LOGS logs a call), so the control socket stays responsive with
 * millions of keys.
 *
 * A table slot is freed when its key's rule is gone (deleted, or now per
 * rule) or its word is idle (rl_word_idle: the key is indistinguishable
 * from a new one).  The datapath takes idle slots by itself when a new key
 * needs room; the sweep frees them ahead of that so that a bucket pair
 * never looks full, and so that an idle TAT is gone long before the 56-bit
 * scaled clock could wrap onto it (rl_algo.h).  Freeing is one
 * compare-and-swap of kw from the value read to 0, never a plain store: a
 * CPU may be claiming the slot (kw = RL_KW_CLAIM) or have just replaced
 * the key, and either wins.  A CPU that charged the key between our read
 * and the swap loses that charge: the key restarts fresh, once, which for
 * an idle key means at most one packet more than its burst.
 *
 * A sliding log is deleted when its rule is gone or no longer a
 * sliding-log rule, or it is not in a penalty box and holds nothing a new
 * log would not: no entries, another generation's entries, or entries all
 * older than the period.  The kernel has no compare-and-delete, so the
 * same one-packet race applies.
 *
 * Each completed sweep of a table records its live slots and when, for
 * `status` and /metrics.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "agent.h"
#include "rl_algo.h"

#define GC_STEP_BUCKETS 16384           /* table buckets per step (1 MiB)   */
#define GC_STEP_LOGS    4096            /* sliding logs per step            */
#define GC_STEP_NS      2000000ull      /* between steps of a pass          */

enum gc_phase { GC_ST4 = 0, GC_ST6, GC_SL4, GC_SL6, __GC_PHASES };

union gc_key {
	struct rl_key4 k4;
	struct rl_key6 k6;
};

static struct {
	enum gc_phase phase;
	uint32_t bucket;          /* next bucket of the table being swept    */
	int64_t live;             /* occupied slots seen so far this sweep   */
	bool have_cursor;         /* sliding logs: the last key looked at    */
	union gc_key cursor;
	uint64_t next_ns;
	int32_t by_id[RL_MAX_RULES];
} gc;

void agent_rule_index(const struct agent *a, int32_t *by_id)
{
	int i;

	for (i = 0; i < RL_MAX_RULES; i++)
		by_id[i] = -1;
	for (i = 0; i < a->model.n_rules; i++)
		if (a->model.rules[i].id < RL_MAX_RULES)
			by_id[a->model.rules[i].id] = i;
}

const struct agent_rule *agent_slot_rule(const struct agent *a, const int32_t *by_id,
					 uint64_t kw)
{
	uint32_t id = (uint32_t)(kw >> 32) - 1;

	if (id >= RL_MAX_RULES || by_id[id] < 0)
		return NULL;
	return &a->model.rules[by_id[id]];
}

uint64_t agent_gc_next(const struct agent *a)
{
	/* 1, not 0: the first step is due at once, and 0 means "never" */
	return a->gc_interval_ns ? (gc.next_ns ? gc.next_ns : 1) : 0;
}

/* Sweep one slot; returns 1 if it holds a key afterwards. */
static int sweep_slot(struct agent *a, __u64 *kwp, const __u64 *wp, uint64_t now)
{
	__u64 kw = __atomic_load_n(kwp, __ATOMIC_ACQUIRE), w;
	const struct agent_rule *r;

	if (!kw)
		return 0;
	if (kw == RL_KW_CLAIM)
		return 1;
	/* the word after the key: kw is published after its word is reset */
	w = __atomic_load_n(wp, __ATOMIC_RELAXED);
	r = agent_slot_rule(a, gc.by_id, kw);
	if (r && !r->spec.per_rule && !rl_word_idle(&r->abi, w, now))
		return 1;
	if (!__atomic_compare_exchange_n(kwp, &kw, 0, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		return 1;
	a->gc_deleted++;
	return 0;
}

/* Sweep up to GC_STEP_BUCKETS buckets; true when the table is done. */
static bool sweep_table(struct agent *a, int fam, uint64_t now)
{
	uint32_t n = fam == 4 ? a->maps.n_bkt4 : a->maps.n_bkt6;
	uint32_t end = n - gc.bucket > GC_STEP_BUCKETS ? gc.bucket + GC_STEP_BUCKETS : n;
	struct agent_sweep *sw = fam == 4 ? &a->sweep4 : &a->sweep6;
	uint64_t before = a->gc_deleted;
	uint32_t b;
	int i;

	if (!(fam == 4 ? (void *)a->maps.bkt4 : (void *)a->maps.bkt6))
		return true;
	for (b = gc.bucket; b < end; b++) {
		if (fam == 4) {
			struct rl_bkt4 *bk = &a->maps.bkt4[b];

			for (i = 0; i < RL_BKT4_SLOTS; i++)
				gc.live += sweep_slot(a, &bk->s[i].kw, &bk->s[i].word, now);
		} else {
			struct rl_bkt6 *bk = &a->maps.bkt6[b];

			for (i = 0; i < RL_BKT6_SLOTS; i++)
				gc.live += sweep_slot(a, &bk->s[i].kw, &bk->s[i].word, now);
		}
	}
	sw->cleared += a->gc_deleted - before;
	gc.bucket = end;
	if (end < n)
		return false;
	sw->live = gc.live;
	sw->at_ns = now;
	gc.bucket = 0;
	gc.live = 0;
	return true;
}

/* True if deleting the log loses nothing a new log would not have. */
static bool slog_idle(const struct agent_rule *r, const struct rl_slog *sl, uint64_t now)
{
	if (!r || r->spec.per_rule || r->abi.limit.algo != RL_ALGO_SLIDING_LOG)
		return true;
	if (sl->block_until_ns > now)
		return false;
	if (!sl->tag || (sl->tag & RL_TAG_GEN) != (r->abi.tag & RL_TAG_GEN))
		return true;
	/* read under the log's lock (BPF_F_LOCK), so the ring is not torn */
	return rl_slog_idle(&r->abi.limit, &sl->r, now);
}

/* Look at up to GC_STEP_LOGS sliding logs; true when the hash is done. */
static bool sweep_logs(struct agent *a, int fam, uint64_t now)
{
	int fd = fam == 4 ? a->maps.sl4 : a->maps.sl6;
	size_t ksz = fam == 4 ? sizeof(struct rl_key4) : sizeof(struct rl_key6);
	union gc_key *keys = malloc(GC_STEP_LOGS * sizeof(*keys));
	struct agent_sweep *sw = fam == 4 ? &a->sweep4 : &a->sweep6;
	bool done = false;
	int n = 0, i;

	if (!keys)
		return false;
	while (n < GC_STEP_LOGS) {
		union gc_key next;

		if (bpf_map_get_next_key(fd, gc.have_cursor ? &gc.cursor : NULL, &next)) {
			done = true;	/* ENOENT: the end of the hash */
			break;
		}
		memcpy(&gc.cursor, &next, ksz);
		gc.have_cursor = true;
		keys[n++] = next;
	}
	for (i = 0; i < n; i++) {
		uint32_t id = fam == 4 ? keys[i].k4.rule : keys[i].k6.rule;
		const struct agent_rule *r;
		struct rl_slog sl;

		/* the cursor must survive: deleting it would restart the walk */
		if (!done && i == n - 1)
			break;
		if (bpf_map_lookup_elem_flags(fd, &keys[i], &sl, BPF_F_LOCK))
			continue;
		r = agent_slot_rule(a, gc.by_id, (uint64_t)(id + 1) << 32);
		if (slog_idle(r, &sl, now) && !bpf_map_delete_elem(fd, &keys[i])) {
			a->gc_deleted++;
			sw->cleared++;
		}
	}
	free(keys);
	if (done)
		gc.have_cursor = false;
	return done;
}

void agent_gc_step(struct agent *a, uint64_t now)
{
	bool done;

	agent_rule_index(a, gc.by_id);
	switch (gc.phase) {
	case GC_ST4:
		done = sweep_table(a, 4, now);
		break;
	case GC_ST6:
		done = sweep_table(a, 6, now);
		break;
	case GC_SL4:
		done = sweep_logs(a, 4, now);
		break;
	default:
		done = sweep_logs(a, 6, now);
		break;
	}
	gc.next_ns = now + GC_STEP_NS;
	if (!done)
		return;
	if (++gc.phase < __GC_PHASES)
		return;
	gc.phase = GC_ST4;
	a->gc_passes++;
	log_debug("gc: pass %llu: %lld IPv4 and %lld IPv6 keys live, %llu freed since start",
		  (unsigned long long)a->gc_passes, (long long)a->sweep4.live,
		  (long long)a->sweep6.live, (unsigned long long)a->gc_deleted);
	gc.next_ns = now + a->gc_interval_ns;
}
