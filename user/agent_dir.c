// SPDX-License-Identifier: GPL-2.0
/*
 * agent_dir.c - keeps the direct match tables (rl_dir4/rl_dir6 and their
 * value slots rl_mval; rl_abi.h "Direct match table") equal to what the
 * match tries say.  The tries stay the source of truth: after every sync
 * of the tries, each /16 cell is pointed at a copy of the entry all of its
 * addresses match, or at the trie.  What to point where is lib_dir.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "agent.h"

static uint32_t cell_get(const uint64_t *elems, uint32_t cell)
{
	uint64_t e = __atomic_load_n(&elems[cell / RL_DIR_PER_ELEM], __ATOMIC_RELAXED);

	return (uint16_t)(e >> (cell % RL_DIR_PER_ELEM * 16));
}

static size_t cells_size(void)
{
	return (size_t)RL_DIR_ELEMS * sizeof(uint64_t);
}

/*
 * Map both tables and learn what every value slot holds.  With adopted
 * pins, slots no cell names start a quarantine now: a previous agent may
 * have let go of them a moment ago (the first sync may then send /16s to
 * the trie; agent_dir_retry looks again when the quarantine ends).
 */
int agent_dir_open(struct agent *a, bool adopted)
{
	struct agent_dir *d = &a->dir;
	uint8_t *named = NULL;
	uint64_t now = agent_now_ns(), since;
	struct rl_match m;
	uint32_t i, c;
	int f, ret;

	/* fresh maps: no packet has ever read a slot */
	since = adopted ? now : now - RL_DIR_QUARANTINE_NS;

	ret = rl_dir_slots_init(&d->slots);
	named = calloc(RL_DIR_VALS, 1);
	if (ret || !named) {
		log_err("direct match tables: out of memory");
		free(named);
		return -ENOMEM;
	}
	for (f = 0; f < 2; f++) {
		int fd = f ? a->maps.dir6 : a->maps.dir4;
		void *p = mmap(NULL, cells_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED) {
			ret = -errno;
			log_err("mapping %s: %s", f ? "rl_dir6" : "rl_dir4", strerror(errno));
			goto out;
		}
		d->cells[f] = p;
		for (c = 0; c < RL_DIR_CELLS; c++) {
			uint32_t v = cell_get(d->cells[f], c);

			if (v != RL_DIR_TRIE && v != RL_DIR_NONE && v <= RL_DIR_VALS)
				named[v - 1] = 1;
		}
	}
	for (i = 0; i < RL_DIR_VALS; i++) {
		if (bpf_map_lookup_elem(a->maps.mval, &i, &m)) {
			ret = -errno;
			log_err("reading rl_mval slot %u: %s", i, strerror(errno));
			goto out;
		}
		rl_dir_slot_known(&d->slots, i, &m, named[i], since);
	}
	ret = 0;
out:
	free(named);
	return ret;
}

void agent_dir_close(struct agent *a)
{
	struct agent_dir *d = &a->dir;
	int f;

	for (f = 0; f < 2; f++) {
		if (d->cells[f])
			munmap(d->cells[f], cells_size());
		d->cells[f] = NULL;
	}
	rl_dir_slots_free(&d->slots);
}

/*
 * Point every cell where c (the tries' exact content) says.  Values are
 * written into their slots first, cells after (single 8-byte stores), so a
 * packet reads an old cell and value or a new one.  A /16 whose value finds
 * no slot asks the trie, which is never wrong, only slower.
 */
int agent_dir_sync(struct agent *a, const struct rl_compiled *c, struct rl_err *err)
{
	struct agent_dir *d = &a->dir;
	int32_t *plan = NULL, *slot_of = NULL;
	uint64_t now = agent_now_ns();
	uint32_t cell;
	uint64_t want, elem = 0;
	int f, i, ret = 0, no_slot = 0;
	bool fresh;

	if (!d->cells[0] || !d->cells[1])
		return 0;
	plan = malloc(RL_DIR_CELLS * sizeof(*plan));
	slot_of = malloc(((size_t)c->n + 1) * sizeof(*slot_of));
	if (!plan || !slot_of) {
		agent_err(err, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < c->n; i++)
		slot_of[i] = -2;                /* not looked for yet */
	for (f = 0; f < 2; f++) {
		rl_dir_plan(c, f ? 6 : 4, plan);
		for (cell = 0; cell < RL_DIR_CELLS; cell++) {
			int e = plan[cell];

			if (e == RL_DIR_PLAN_NONE) {
				want = RL_DIR_NONE;
			} else if (e == RL_DIR_PLAN_TRIE) {
				want = RL_DIR_TRIE;
			} else {
				if (slot_of[e] == -2) {
					slot_of[e] = rl_dir_slot_get(&d->slots, &c->e[e].m, now, &fresh);
					if (slot_of[e] >= 0 && fresh) {
						if (bpf_map_update_elem(a->maps.mval, &slot_of[e],
									&c->e[e].m, BPF_ANY)) {
							ret = -errno;
							agent_err(err, "writing rl_mval slot %d: %s",
								  slot_of[e], strerror(errno));
							rl_dir_slots_abort(&d->slots);
							goto out;
						}
						rl_dir_slot_written(&d->slots, slot_of[e], &c->e[e].m);
					}
				}
				want = slot_of[e] >= 0 ? (uint64_t)slot_of[e] + 1 : RL_DIR_TRIE;
				no_slot += slot_of[e] < 0;
			}
			elem |= want << (cell % RL_DIR_PER_ELEM * 16);
			if (cell % RL_DIR_PER_ELEM == RL_DIR_PER_ELEM - 1) {
				uint64_t *ep = &d->cells[f][cell / RL_DIR_PER_ELEM];

				if (__atomic_load_n(ep, __ATOMIC_RELAXED) != elem)
					__atomic_store_n(ep, elem, __ATOMIC_RELEASE);
				elem = 0;
			}
		}
	}
	/* the quarantine starts once no cell names the slot: now */
	rl_dir_slots_commit(&d->slots, agent_now_ns());
	d->no_slot_cells = no_slot;
	/* some /16s wait for a slot in quarantine: look again once it ends */
	d->retry_ns = no_slot ? rl_dir_slots_next_free(&d->slots) : 0;
out:
	if (ret)        /* try again in a second, not at once (no spinning) */
		d->retry_ns = agent_now_ns() + RL_DIR_QUARANTINE_NS;
	free(plan);
	free(slot_of);
	return ret;
}

/* After a sync that found no slot for some /16: when to try again (0: no). */
uint64_t agent_dir_next(const struct agent *a)
{
	return a->dir.retry_ns;
}

void agent_dir_retry(struct agent *a)
{
	struct rl_err err = {};

	if (agent_dir_sync(a, &a->applied, &err))
		log_warn("direct match table: %s (the trie still decides)", err.msg);
}

/* For status: per family, /16s decided by the table, sent to the trie,
 * and with no entry; and value slots in use. */
json_t *agent_dir_json(const struct agent *a)
{
	const struct agent_dir *d = &a->dir;
	json_t *o = json_object();
	int f, i, used = 0;

	for (f = 0; f < 2; f++) {
		int n[3] = { 0, 0, 0 };          /* table, trie, none */
		uint32_t c;

		if (!d->cells[f])
			continue;
		for (c = 0; c < RL_DIR_CELLS; c++) {
			uint32_t v = cell_get(d->cells[f], c);

			n[v == RL_DIR_TRIE ? 1 : v == RL_DIR_NONE ? 2 : 0]++;
		}
		json_object_set_new(o, f ? "ipv6" : "ipv4",
				    json_pack("{s:i, s:i, s:i}", "table", n[0], "trie", n[1],
					      "none", n[2]));
	}
	for (i = 0; i < RL_DIR_VALS; i++)
		used += d->slots.state[i] != RL_DIR_SLOT_FREE;
	json_object_set_new(o, "slots_used", json_integer(used));
	json_object_set_new(o, "slots", json_integer(RL_DIR_VALS));
	json_object_set_new(o, "no_slot", json_integer(d->no_slot_cells));
	return o;
}
