// SPDX-License-Identifier: GPL-2.0
/*
 * agent_journal.c - the apply journal (rl_journal, struct rl_jrec in
 * include/rl_abi.h) that makes agent_apply() crash-consistent: every
 * rl_catalog and rl_lists write of an apply is first recorded, then the
 * head commits them in one write, then they are done; a crash after the
 * commit is finished by the next agent (agent_journal_recover, called by
 * agent_adopt), one before it left rl_catalog and rl_lists untouched.
 * docs/ARCHITECTURE.md "Crash-consistent applies" has the argument.
 * Used by user/agent_state.c only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "agent.h"

void agent_list_key(uint32_t kind, const struct rl_prefix *p, struct rl_list_key *k)
{
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->prefixlen = p->len;
	k->family = p->family;
	memcpy(k->addr, p->addr, p->family == 4 ? 4 : 16);
}

static const char *pfx_str(const struct rl_prefix *p, char *buf, size_t len)
{
	if (rl_format_prefix(p, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

static int jlog_add(struct agent_jlog *j, uint32_t op, uint32_t arg, const void *v, size_t len)
{
	struct rl_jrec *r;

	if (j->n >= RL_JOURNAL_RECS)
		return -E2BIG;
	if (j->n >= j->cap) {
		int cap = j->cap ? j->cap * 2 : 64;

		r = realloc(j->r, (size_t)cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		j->r = r;
		j->cap = cap;
	}
	r = &j->r[j->n++];
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->arg = arg;
	memcpy(&r->cat, v, len);
	return 0;
}

int agent_jlog_cat(struct agent_jlog *j, uint32_t slot, const struct rl_catalog *c)
{
	return jlog_add(j, RL_J_CAT, slot, c, sizeof(*c));
}

int agent_jlog_list(struct agent_jlog *j, bool del, uint32_t kind, const struct rl_prefix *p,
		    uint64_t expires_ns)
{
	struct rl_jrec r;

	memset(&r, 0, sizeof(r));
	agent_list_key(kind, p, &r.list.key);
	r.list.val.expires_ns = expires_ns;
	return jlog_add(j, del ? RL_J_LIST_DEL : RL_J_LIST_SET, 0, &r.list, sizeof(r.list));
}

void agent_jlog_free(struct agent_jlog *j)
{
	free(j->r);
	memset(j, 0, sizeof(*j));
}

/* One record's write: idempotent, so a recovery may redo any of them. */
int agent_journal_do(struct agent *a, const struct rl_jrec *r, struct rl_err *err)
{
	char pbuf[64];
	struct rl_prefix p = {};

	if (r->op == RL_J_CAT) {
		if (r->arg >= RL_MAX_RULES) {
			agent_err(err, "rl_journal names rl_catalog slot %u", r->arg);
			return -EINVAL;
		}
		if (!bpf_map_update_elem(a->maps.catalog, &r->arg, &r->cat, BPF_ANY))
			return 0;
		agent_err(err, "writing rl_catalog slot %u (rule '%.*s'): %s", r->arg,
			  RL_NAME_LEN - 1, r->cat.in_use ? r->cat.name : "", strerror(errno));
		return -errno;
	}
	if (r->op != RL_J_LIST_SET && r->op != RL_J_LIST_DEL) {
		agent_err(err, "rl_journal holds an unknown record (op %u)", r->op);
		return -EINVAL;
	}
	p.family = r->list.key.family;
	p.len = r->list.key.prefixlen;
	memcpy(p.addr, r->list.key.addr, p.family == 4 ? 4 : 16);
	if (r->op == RL_J_LIST_SET) {
		if (!bpf_map_update_elem(a->maps.lists, &r->list.key, &r->list.val, BPF_ANY))
			return 0;
		agent_err(err, "writing rl_lists entry %s: %s%s", pfx_str(&p, pbuf, sizeof(pbuf)),
			  strerror(errno), errno == E2BIG ? " (rl_lists is full)" : "");
		return -errno;
	}
	if (!bpf_map_delete_elem(a->maps.lists, &r->list.key) || errno == ENOENT)
		return 0;
	agent_err(err, "deleting rl_lists entry %s: %s", pfx_str(&p, pbuf, sizeof(pbuf)),
		  strerror(errno));
	return -errno;
}

static int journal_head(struct agent *a, uint32_t op, uint32_t n, uint64_t seq,
			struct rl_err *err)
{
	struct rl_jrec h;
	uint32_t zero = 0;

	memset(&h, 0, sizeof(h));
	h.op = op;
	h.arg = n;
	h.seq = seq;
	if (!bpf_map_update_elem(a->maps.journal, &zero, &h, BPF_ANY))
		return 0;
	agent_err(err, "writing the rl_journal head: %s", strerror(errno));
	return -errno;
}

int agent_journal_done(struct agent *a, struct rl_err *err)
{
	int ret = journal_head(a, RL_J_NONE, a->jflag ? RL_J_APPLIED : 0, a->jseq, err);

	if (!ret)
		a->japplied = a->jflag;
	return ret;
}

/* Where record i (from 0) of apply seq lives: applies alternate between
 * two regions, so a commit never overwrites the records of the one before
 * it, which a failed rollback may have left committed. */
static uint32_t journal_rec(uint64_t seq, uint32_t i)
{
	return 1 + (uint32_t)(seq & 1) * RL_JOURNAL_RECS + i;
}

/* Writes j's records and commits them: from here on the apply is done,
 * by this agent or the next one.  a->jseq is the last committed apply's
 * number: it moves only with a head written, so the region of a commit
 * still pending is never the one written to. */
int agent_journal_commit(struct agent *a, struct agent_jlog *j, struct rl_err *err)
{
	uint64_t seq = a->jseq + 1;
	uint32_t i;
	int ret;

	for (i = 0; i < (uint32_t)j->n; i++) {
		uint32_t k = journal_rec(seq, i);

		j->r[i].seq = seq;
		if (bpf_map_update_elem(a->maps.journal, &k, &j->r[i], BPF_ANY)) {
			agent_err(err, "writing rl_journal record %u: %s", k, strerror(errno));
			return -errno;
		}
	}
	/* a forward apply leaves a set the user made; a rollback leaves
	 * the one before it, flagged as that one was */
	a->jflag = a->jfwd || a->japplied;
	ret = journal_head(a, RL_J_COMMIT, (uint32_t)j->n | (a->jflag ? RL_J_APPLIED : 0), seq, err);
	if (!ret)
		a->jseq = seq;
	return ret;
}

/*
 * Finishes the apply a crash (or a failed rollback) left committed in
 * rl_journal: redoes all its records, then clears the head.  Leaves
 * a->jseq at the last apply's number.
 */
int agent_journal_recover(struct agent *a, int *redone, struct rl_err *err)
{
	struct rl_jrec h, r;
	uint32_t zero = 0, i;
	int ret;

	*redone = 0;
	if (bpf_map_lookup_elem(a->maps.journal, &zero, &h)) {
		agent_err(err, "reading the rl_journal head: %s", strerror(errno));
		return -errno;
	}
	if (h.seq > a->jseq)
		a->jseq = h.seq;
	a->jflag = a->japplied = !!(h.arg & RL_J_APPLIED);
	h.arg &= ~RL_J_APPLIED;
	if (h.op == RL_J_NONE)
		return 0;
	if (h.op != RL_J_COMMIT || h.arg > RL_JOURNAL_RECS) {
		agent_err(err, "rl_journal head is not one rl wrote (op %u, %u records)", h.op, h.arg);
		return -EINVAL;
	}
	for (i = 0; i < h.arg; i++) {
		uint32_t k = journal_rec(h.seq, i);

		if (bpf_map_lookup_elem(a->maps.journal, &k, &r)) {
			agent_err(err, "reading rl_journal record %u: %s", k, strerror(errno));
			return -errno;
		}
		if (r.seq != h.seq) {
			agent_err(err, "rl_journal record %u belongs to apply %llu, not %llu", k,
				  (unsigned long long)r.seq, (unsigned long long)h.seq);
			return -EINVAL;
		}
		ret = agent_journal_do(a, &r, err);
		if (ret)
			return ret;
	}
	*redone = (int)h.arg;
	return journal_head(a, RL_J_NONE, a->japplied ? RL_J_APPLIED : 0, h.seq, err);
}
