// SPDX-License-Identifier: GPL-2.0
/*
 * test_dir.c - the direct match tables (lib_dir.c).  rl_dir_plan against a
 * plain longest-prefix match over random entry sets in a small universe
 * (prefixes nest and share /16s), for both families: a cell that names an
 * entry must name the longest match of every address in its /16, a NONE
 * cell must cover no entry, and a cell may send to the trie only where an
 * entry longer than /16 lies (else the fast path is lost for nothing).
 * Then the value slots: sharing equal values, the quarantine before a
 * slot is rewritten, commit and abort, running out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl_model.h"
#include "testlib.h"

static void mkpfx(struct rl_prefix *p, int family, int len)
{
	int bits = family == 4 ? 32 : 128, i;

	memset(p, 0, sizeof(*p));
	p->family = family;
	p->len = len;
	/* a small universe: the top 16 bits from a few values, so /16s are
	 * shared, nested and crowded */
	p->addr[0] = family == 4 ? 10 : 0x20;
	p->addr[1] = rnd() % 4;
	for (i = 2; i < bits / 8; i++)
		p->addr[i] = rnd() % 3;
	if (rnd() % 8 == 0)
		p->addr[0] = rnd();
	for (i = len; i < bits; i++)
		p->addr[i / 8] &= ~(0x80 >> (i % 8));
}

static int rand_len(int family)
{
	static const int l4[] = { 0, 8, 12, 15, 16, 16, 17, 20, 24, 24, 31, 32 };
	static const int l6[] = { 0, 3, 8, 16, 16, 17, 32, 48, 64, 64, 127, 128 };

	return family == 4 ? l4[rnd() % 12] : l6[rnd() % 12];
}

static int longest(const struct rl_compiled *c, const struct rl_prefix *a)
{
	int i, best = -1;

	for (i = 0; i < c->n; i++)
		if (rl_prefix_contains(&c->e[i].pfx, a) &&
		    (best < 0 || c->e[i].pfx.len > c->e[best].pfx.len))
			best = i;
	return best;
}

static void test_plan(int family)
{
	char name[64];
	int32_t *plan = malloc(RL_DIR_CELLS * sizeof(*plan));
	int round, failed = 0, fast = 0, checked = 0;

	for (round = 0; round < 300 && !failed; round++) {
		struct rl_compiled c = { 0 };
		int n = 1 + rnd() % 24, i, k;

		c.e = calloc(n + 1, sizeof(*c.e));
		for (i = 0; i < n; i++) {
			struct rl_prefix p;
			int dup = 0;

			mkpfx(&p, rnd() % 5 ? family : 10 - family, rand_len(family));
			if (p.family != family && p.len > (p.family == 4 ? 32 : 128))
				p.len = 0;
			for (k = 0; k < c.n; k++)
				dup |= !memcmp(&c.e[k].pfx, &p, sizeof(p));
			if (dup)
				continue;
			c.e[c.n].pfx = p;
			c.e[c.n].m.n = c.n;          /* tell entries apart */
			c.n++;
		}
		rl_dir_plan(&c, family, plan);
		for (k = 0; k < 2000; k++) {
			struct rl_prefix a;
			uint32_t cell;
			int want;

			mkpfx(&a, family, family == 4 ? 32 : 128);
			cell = (uint32_t)a.addr[0] << 8 | a.addr[1];
			want = longest(&c, &a);
			checked++;
			if (plan[cell] == RL_DIR_PLAN_TRIE)
				continue;
			fast++;
			if (plan[cell] != want) {
				CHECK(0, "round %d: address in /16 %#x: cell says %d, longest match %d",
				      round, cell, plan[cell], want);
				break;
			}
		}
		/* TRIE only where an entry longer than /16 lies */
		for (k = 0; k < (int)RL_DIR_CELLS && !failed; k++) {
			int need = 0;

			for (i = 0; i < c.n; i++)
				need |= c.e[i].pfx.family == family && c.e[i].pfx.len > RL_DIR_BITS &&
					((uint32_t)c.e[i].pfx.addr[0] << 8 | c.e[i].pfx.addr[1]) == (uint32_t)k;
			CHECK((plan[k] == RL_DIR_PLAN_TRIE) == need,
			      "round %d: cell %#x %s the trie", round, k, need ? "must ask" : "need not ask");
		}
		free(c.e);
	}
	printf("    IPv%d: %d addresses checked, %d decided by the table\n", family, checked, fast);
	CHECK(fast > checked / 10, "too few decided by the table: %d", fast);
	free(plan);
	snprintf(name, sizeof(name), "dir_plan_ipv%d_vs_longest_match", family);
	report(name, failed);
}

/* Only /0 entries: every cell names it (the common "all sources" rule set). */
static void test_plan_default(void)
{
	struct rl_compiled c = { 0 };
	struct rl_compiled_entry e[2] = { 0 };
	int32_t *plan = malloc(RL_DIR_CELLS * sizeof(*plan));
	int failed = 0, k, bad = 0;

	e[0].pfx.family = 4;
	e[1].pfx.family = 6;
	c.e = e;
	c.n = 2;
	rl_dir_plan(&c, 4, plan);
	for (k = 0; k < (int)RL_DIR_CELLS; k++)
		bad += plan[k] != 0;
	rl_dir_plan(&c, 6, plan);
	for (k = 0; k < (int)RL_DIR_CELLS; k++)
		bad += plan[k] != 1;
	CHECK(!bad, "%d cells do not name the /0 entry", bad);
	c.n = 0;
	rl_dir_plan(&c, 4, plan);
	for (k = 0; k < (int)RL_DIR_CELLS; k++)
		bad += plan[k] != RL_DIR_PLAN_NONE;
	CHECK(!bad, "%d cells of an empty set are not NONE", bad);
	free(plan);
	report("dir_plan_default_and_empty", failed);
}

static void test_slots(void)
{
	struct rl_dir_slots s;
	struct rl_match a = { .n = 1 }, b = { .n = 2 }, z = { 0 };
	uint64_t t = 5000000000ULL, q = RL_DIR_QUARANTINE_NS;
	int failed = 0, sa, sb, i, got;
	bool fresh;

	if (rl_dir_slots_init(&s)) {
		report("dir_slots", 1);
		return;
	}
	for (i = 0; i < RL_DIR_VALS; i++)
		rl_dir_slot_known(&s, i, &z, false, 0);
	/* a failed write (no rl_dir_slot_written) records nothing: the next
	 * sync must write the slot again, not trust it */
	sa = rl_dir_slot_get(&s, &a, t, &fresh);
	CHECK(sa >= 0 && fresh, "a: slot %d fresh %d", sa, fresh);
	rl_dir_slots_abort(&s);
	rl_dir_slots_commit(&s, t);
	sa = rl_dir_slot_get(&s, &a, t, &fresh);
	CHECK(sa >= 0 && fresh, "a after a failed write: slot %d fresh %d", sa, fresh);
	rl_dir_slot_written(&s, sa, &a);
	CHECK(rl_dir_slot_get(&s, &a, t, &fresh) == sa && !fresh, "a twice: not shared");
	rl_dir_slots_commit(&s, t);
	/* next sync: b replaces a; a's slot goes into quarantine */
	sb = rl_dir_slot_get(&s, &b, t + 1, &fresh);
	CHECK(sb >= 0 && sb != sa && fresh, "b: slot %d (a's %d)", sb, sa);
	rl_dir_slot_written(&s, sb, &b);
	rl_dir_slots_commit(&s, t + 1);
	CHECK(s.state[sa] == RL_DIR_SLOT_FREE, "a's slot not freed");
	/* fill every other slot: a's may not be rewritten within a second */
	for (i = 0, got = 0; i < RL_DIR_VALS + 4; i++) {
		struct rl_match m = { .n = 100 + i };
		int k = rl_dir_slot_get(&s, &m, t + q / 2, &fresh);

		CHECK(k != sa, "slot of a rewritten %llu ns after it was freed",
		      (unsigned long long)(q / 2));
		if (k < 0)
			break;
		rl_dir_slot_written(&s, k, &m);
		got++;
	}
	CHECK(got == RL_DIR_VALS - 2, "%d new slots, expected %d", got, RL_DIR_VALS - 2);
	rl_dir_slots_abort(&s);
	for (i = 0; i < RL_DIR_VALS; i++)
		CHECK(i == sa ? s.state[i] == RL_DIR_SLOT_FREE : s.state[i] == RL_DIR_SLOT_USED,
		      "after abort slot %d in state %d", i, s.state[i]);
	/* a value equal to a quarantined slot's may name it again: no write */
	CHECK(rl_dir_slot_get(&s, &a, t + 2, &fresh) == sa && !fresh, "a not found in quarantine");
	rl_dir_slots_commit(&s, t + 2);
	/* a sync that needs only b: everything else is freed; after the
	 * quarantine a new value gets a slot again */
	rl_dir_slot_get(&s, &b, t + 3, &fresh);
	rl_dir_slots_commit(&s, t + 3);
	{
		struct rl_match c = { .n = 7 };

		CHECK(rl_dir_slot_get(&s, &c, t + 3 + q / 2, &fresh) < 0, "slot reused too early");
		rl_dir_slots_abort(&s);
		got = rl_dir_slot_get(&s, &c, t + 3 + q, &fresh);
		CHECK(got >= 0 && fresh, "no slot after the quarantine (%d)", got);
	}
	rl_dir_slots_free(&s);
	report("dir_slots_share_quarantine_abort", failed);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_plan(4);
	test_plan(6);
	test_plan_default();
	test_slots();
	printf("test_dir: %d cases, %d failed\n", cases, failures);
	return failures ? 1 : 0;
}
