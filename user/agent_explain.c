// SPDX-License-Identifier: GPL-2.0
/*
 * agent_explain.c - `rlctl explain SRC [proto P] [dport N] [syn]`: what
 * the datapath would do with such a packet now, and why.
 *
 * It asks the maps, not the model: the allow/block verdict is the list
 * trie's (rl_lst4/rl_lst6) answer for SRC behind its guard bit in
 * rl_lbm4/rl_lbm6, tested as bpf/rl_core.h rl_list_get does; the match
 * entry is the pinned rule trie's answer for SRC (bpf_map_lookup_elem on an LPM trie is a longest-prefix
 * lookup), the rule is the first candidate of that entry that takes the
 * packet (rl_rule_takes, the function bpf/rl_core.h uses), and the
 * bucket is read where the datapath keeps it (the state table slot of
 * {rule, SRC masked to the rule's key length}, or the rule's shared word)
 * and judged with the algorithm core itself (include/rl_algo.h):
 * rl_word_credit for the credit, as `top` does, and rl_word_decide at
 * later times for when the next packet would pass.  Nothing is written.
 *
 * The answer is built by steps that each add one part: the list entries
 * that cover SRC (explain_lists: one function, so another source of list
 * entries adds itself there; they come from the agent's sorted lists, the
 * record in rl_lists), the list verdict, the match entry, the rule, the
 * state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "agent.h"
#include "rl_algo.h"
#include "rl_hash.h"
#include "rl_rulematch.h"

/* A byte-rate rule is explained for a packet of this many bytes (the
 * smallest Ethernet frame): `explain` has no packet length to go by. */
#define EXPLAIN_BYTES 64

static json_t *pfx_json(const struct rl_prefix *p)
{
	char t[64];

	if (rl_format_prefix(p, t, sizeof(t)))
		return json_string("?");
	return json_string(t);
}

/* A single address, without its /32 or /128. */
static json_t *addr_json(const struct rl_prefix *p)
{
	char t[64], *slash;

	if (rl_format_prefix(p, t, sizeof(t)))
		return json_string("?");
	slash = strchr(t, '/');
	if (slash)
		*slash = 0;
	return json_string(t);
}

/* The key the datapath charges: SRC masked to the rule's key length. */
static struct rl_prefix key_of(const struct rl_prefix *src, uint8_t plen)
{
	struct rl_prefix k = *src;
	int i;

	k.len = plen;
	for (i = 0; i < 16; i++) {
		int bits = (int)plen - 8 * i;

		if (bits >= 8)
			continue;
		k.addr[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
	return k;
}

/*
 * The allow and block entries covering SRC, longest first: what the list
 * trie's entry for SRC was derived from.  The lists are sorted by address
 * then length, so each prefix length costs one bisection.  Entries past
 * their expiry are shown as expired until the agent drops them.
 */
static json_t *explain_lists(struct agent *a, const struct rl_prefix *src, uint64_t now)
{
	const struct { const struct rl_list_entry *l; int n; const char *name; } lists[] = {
		{ a->model.allow, a->model.n_allow, "allow" },
		{ a->model.block, a->model.n_block, "block" },
	};
	json_t *arr = json_array();
	int len, i;
	size_t k;

	for (len = src->family == 4 ? 32 : 128; len >= 0; len--) {
		struct rl_prefix p = key_of(src, (uint8_t)len);

		for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
			const struct rl_list_entry *e;
			json_t *o;

			i = agent_list_find(lists[k].l, lists[k].n, &p);
			if (i < 0)
				continue;
			e = &lists[k].l[i];
			o = json_pack("{s:s, s:o, s:i}", "list", lists[k].name,
				      "prefix", pfx_json(&e->pfx), "len", (int)e->pfx.len);
			json_object_set_new(o, "expires_in_s", e->expires_ns ?
				json_integer(e->expires_ns > now ?
					(json_int_t)((e->expires_ns - now + 999999999ull) / 1000000000ull) : 0) :
				json_null());
			json_object_set_new(o, "expired", json_boolean(e->expires_ns && e->expires_ns <= now));
			json_array_append_new(arr, o);
		}
	}
	return arr;
}

/*
 * What the datapath's list check (bpf/rl_core.h rl_list_get) finds for
 * SRC: 1 and *lv if its guard bit is set and the list trie has an entry
 * covering it, 0 if not, -errno if a map could not be read.  Without the
 * bitmaps mapped (no kernel) the trie alone decides.
 */
static int list_lookup(struct agent *a, const struct rl_prefix *src, struct rl_lval *lv)
{
	const uint64_t *bm = a->maps.lbm[src->family == 4 ? 0 : 1];
	uint32_t bit;

	if (src->family == 4) {
		struct rl_lpm4 k = { .prefixlen = 32 };
		uint32_t h = (uint32_t)src->addr[0] << 24 | (uint32_t)src->addr[1] << 16 |
			     (uint32_t)src->addr[2] << 8 | src->addr[3];

		bit = rl_lbm4_bit(h);
		if (bm && !((__atomic_load_n(&bm[bit / 64], __ATOMIC_RELAXED) >> (bit % 64)) & 1))
			return 0;
		memcpy(&k.addr, src->addr, 4);
		if (bpf_map_lookup_elem(a->maps.lst4, &k, lv))
			return errno == ENOENT ? 0 : -errno;
		return 1;
	}
	struct rl_lpm6 k6 = { .prefixlen = 128 };
	uint64_t hi = 0;
	int i;

	for (i = 0; i < 8; i++)
		hi = hi << 8 | src->addr[i];
	if (bm) {
		bit = rl_lbm6_short_bit(hi);
		if (!((__atomic_load_n(&bm[bit / 64], __ATOMIC_RELAXED) >> (bit % 64)) & 1)) {
			bit = rl_lbm6_hash_bit(hi);
			if (!((__atomic_load_n(&bm[RL_LBM6_SHORT + bit / 64], __ATOMIC_RELAXED) >>
			       (bit % 64)) & 1))
				return 0;
		}
	}
	memcpy(k6.addr, src->addr, 16);
	if (bpf_map_lookup_elem(a->maps.lst6, &k6, lv))
		return errno == ENOENT ? 0 : -errno;
	return 1;
}

/* The compiled entry the trie returns for SRC: the longest containing it. */
static const struct rl_prefix *match_prefix(const struct agent *a, const struct rl_prefix *src)
{
	const struct rl_prefix *best = NULL;
	int i;

	for (i = 0; i < a->applied.n; i++) {
		const struct rl_prefix *p = &a->applied.e[i].pfx;

		if (p->family == src->family && rl_prefix_contains(p, src) &&
		    (!best || p->len > best->len))
			best = p;
	}
	return best;
}

static int trie_lookup(struct agent *a, const struct rl_prefix *src, struct rl_match *m)
{
	if (src->family == 4) {
		struct rl_lpm4 k = { .prefixlen = 32 };

		memcpy(&k.addr, src->addr, 4);
		return bpf_map_lookup_elem(a->maps.match4, &k, m) ? -errno : 0;
	}
	struct rl_lpm6 k6 = { .prefixlen = 128 };

	memcpy(k6.addr, src->addr, 16);
	return bpf_map_lookup_elem(a->maps.match6, &k6, m) ? -errno : 0;
}

/*
 * The key's word: 1 and *w if the table holds it, 0 if it does not (a new
 * key: the datapath starts it fresh), -errno if it could not be read.
 */
static int read_word(struct agent *a, const struct rl_rule *r, const struct rl_prefix *key,
		     __u64 *w)
{
	struct rl_conf conf = {};
	__u32 i1, i2, idx[2], k;
	int j;

	*w = 0;
	if (r->flags & RL_RF_PER_RULE) {
		__u32 id = r->id;

		return bpf_map_lookup_elem(a->maps.agg, &id, w) ? -errno : (*w != 0);
	}
	k = 0;
	if (bpf_map_lookup_elem(a->maps.conf, &k, &conf))
		return -errno;
	if (key->family == 4) {
		__u32 a4;
		__u64 kw;

		memcpy(&a4, key->addr, 4);
		kw = (__u64)(r->id + 1) << 32 | a4;
		if (!a->maps.n_bkt4)
			return 0;
		rl_buckets(rl_hash4(kw, conf.seed), a->maps.n_bkt4, &i1, &i2);
		idx[0] = i1;
		idx[1] = i2;
		for (j = 0; j < 2; j++) {
			struct rl_bkt4 b;

			if (a->maps.bkt4)
				memcpy(&b, &a->maps.bkt4[idx[j]], sizeof(b));
			else if (bpf_map_lookup_elem(a->maps.st4, &idx[j], &b))
				return -errno;
			for (k = 0; k < RL_BKT4_SLOTS; k++)
				if (b.s[k].kw == kw) {
					*w = b.s[k].word;
					return 1;
				}
		}
		return 0;
	}
	__u64 a6[2];

	memcpy(a6, key->addr, 16);
	if (!a->maps.n_bkt6)
		return 0;
	rl_buckets(rl_hash6(r->id, a6, conf.seed), a->maps.n_bkt6, &i1, &i2);
	idx[0] = i1;
	idx[1] = i2;
	for (j = 0; j < 2; j++) {
		struct rl_bkt6 b;

		if (a->maps.bkt6)
			memcpy(&b, &a->maps.bkt6[idx[j]], sizeof(b));
		else if (bpf_map_lookup_elem(a->maps.st6, &idx[j], &b))
			return -errno;
		for (k = 0; k < RL_BKT6_SLOTS; k++)
			if (b.s[k].kw >> 32 == (__u64)r->id + 1 && b.s[k].kw != RL_KW_CLAIM &&
			    !memcmp(b.s[k].addr, key->addr, 16)) {
				*w = b.s[k].word;
				return 1;
			}
	}
	return 0;
}

/*
 * How long until a packet of `cost` on word w would pass: 0 if it would
 * now.  Admission only gets easier as time passes (rl_algo.h,
 * "Monotonicity"), so the first passing time is found by doubling, then
 * bisection, each step one rl_word_decide.  UINT64_MAX if not within
 * 2^52 ns (52 days).
 */
static uint64_t next_pass_ns(const struct rl_rule *r, __u64 w, __u64 cost, uint64_t now)
{
	uint64_t lo = 0, hi = 1000, mid;
	__u64 out;

	if (rl_word_decide(r, w, cost, now, &out) == RL_W_PASS)
		return 0;
	while (rl_word_decide(r, w, cost, now + hi, &out) != RL_W_PASS) {
		lo = hi;
		if (hi >= 1ull << 52)
			return UINT64_MAX;
		hi *= 2;
	}
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (rl_word_decide(r, w, cost, now + mid, &out) == RL_W_PASS)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/*
 * A sliding log: the key's ring (rl_sl4/rl_sl6, or rl_slagg for a per-rule
 * log), 1 if found, 0 if none (a new key), -errno.
 */
static int read_slog(struct agent *a, const struct rl_rule *r, const struct rl_prefix *key,
		     struct rl_slog *sl)
{
	int ret;

	memset(sl, 0, sizeof(*sl));
	if (r->flags & RL_RF_PER_RULE) {
		__u32 id = r->id;

		ret = bpf_map_lookup_elem(a->maps.slagg, &id, sl);
	} else if (key->family == 4) {
		struct rl_key4 k = { .rule = r->id };

		memcpy(&k.addr, key->addr, 4);
		ret = bpf_map_lookup_elem(a->maps.sl4, &k, sl);
	} else {
		struct rl_key6 k = { .rule = r->id };

		memcpy(k.addr, key->addr, 16);
		ret = bpf_map_lookup_elem(a->maps.sl6, &k, sl);
	}
	if (ret)
		return errno == ENOENT ? 0 : -errno;
	return sl->tag != 0;
}

/* One packet at `at` on a copy of the log: the datapath's verdict. */
static __u32 slog_try(const struct rl_rule *r, const struct rl_slog *sl, uint64_t at)
{
	struct rl_slog c = *sl;

	return rl_slog_decide(r, &c.tag, &c.block_until_ns, &c.r, at);
}

/* Same search as next_pass_ns, on the log. */
static uint64_t slog_next_pass_ns(const struct rl_rule *r, const struct rl_slog *sl, uint64_t now)
{
	uint64_t lo = 0, hi = 1000, mid;

	if (slog_try(r, sl, now) == RL_V_PASS)
		return 0;
	while (slog_try(r, sl, now + hi) != RL_V_PASS) {
		lo = hi;
		if (hi >= 1ull << 52)
			return UINT64_MAX;
		hi *= 2;
	}
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (slog_try(r, sl, now + mid) == RL_V_PASS)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* Credit of a log: how many packets it would admit now, one after another. */
static uint64_t slog_credit(const struct rl_rule *r, const struct rl_slog *sl, uint64_t now)
{
	struct rl_slog c = *sl;
	uint64_t n = 0;

	while (n <= RL_SLOG_MAX && rl_slog_decide(r, &c.tag, &c.block_until_ns, &c.r, now) == RL_V_PASS)
		n++;
	return n;
}

static void slog_state(struct agent *a, const struct rl_rule *r, const struct rl_prefix *key,
		       uint64_t now, json_t *o, __u32 *verdict)
{
	struct rl_slog sl, fresh;
	uint64_t next;
	int ret = read_slog(a, r, key, &sl);

	if (ret < 0) {
		json_object_set_new(o, "error", json_string(strerror(-ret)));
		return;
	}
	memset(&fresh, 0, sizeof(fresh));
	json_object_set_new(o, "tracked", json_boolean(ret == 1 && sl.tag == r->tag));
	json_object_set_new(o, "credit", json_integer((json_int_t)slog_credit(r, &sl, now)));
	json_object_set_new(o, "credit_max", json_integer((json_int_t)slog_credit(r, &fresh, now)));
	json_object_set_new(o, "blocked_for_ms", json_integer(
		sl.tag == r->tag && now < sl.block_until_ns ?
		(json_int_t)((sl.block_until_ns - now) / 1000000) : 0));
	next = slog_next_pass_ns(r, &sl, now);
	json_object_set_new(o, "next_pass_in_ms", next == UINT64_MAX ? json_null() :
			    json_real((double)next / 1e6));
	json_object_set_new(o, "packet_cost", json_integer(1));
	if (verdict)
		*verdict = slog_try(r, &sl, now);
}

/* The key's state; *verdict: what the datapath would decide now. */
static json_t *state_json(struct agent *a, const struct rl_rule *r, const struct rl_prefix *src,
			  uint64_t now, __u32 *verdict)
{
	struct rl_prefix key = key_of(src, src->family == 4 ? r->plen4 : r->plen6);
	__u64 w, cost = (r->flags & RL_RF_BYTES) ? EXPLAIN_BYTES : 1, credit, max;
	uint64_t blocked = 0, next;
	json_t *o;
	int ret;

	o = json_object();
	json_object_set_new(o, "key", (r->flags & RL_RF_PER_RULE) ? json_string("rule") :
			    pfx_json(&key));
	json_object_set_new(o, "unit", json_string((r->flags & RL_RF_BYTES) ? "bytes" : "packets"));
	if (r->limit.algo == RL_ALGO_SLIDING_LOG) {
		slog_state(a, r, &key, now, o, verdict);
		return o;
	}
	ret = read_word(a, r, &key, &w);
	if (ret < 0) {
		json_object_set_new(o, "error", json_string(strerror(-ret)));
		*verdict = ~0u;
		return o;
	}
	json_object_set_new(o, "tracked", json_boolean(ret == 1));
	if (rl_word_tag(w) & RL_TAG_BOXED && (now >> RL_BOX_SHIFT) < (w & RL_PAY_MASK))
		blocked = ((w & RL_PAY_MASK) << RL_BOX_SHIFT) - now;
	credit = rl_word_credit(r, w, now);
	max = rl_word_credit(r, 0, now);
	next = next_pass_ns(r, w, cost, now);
	json_object_set_new(o, "credit", json_integer((json_int_t)credit));
	json_object_set_new(o, "credit_max", json_integer((json_int_t)max));
	json_object_set_new(o, "blocked_for_ms", json_integer((json_int_t)(blocked / 1000000)));
	json_object_set_new(o, "next_pass_in_ms", next == UINT64_MAX ? json_null() :
			    json_real((double)next / 1e6));
	json_object_set_new(o, "packet_cost", json_integer((json_int_t)cost));
	if (verdict) {
		__u64 out;

		*verdict = rl_word_decide(r, w, cost, now, &out);
	}
	return o;
}

/* The model's rule in slot id, NULL if none (a rule deleted since). */
static const struct agent_rule *rule_by_id(const struct agent *a, uint32_t id)
{
	int i;

	for (i = 0; i < a->model.n_rules; i++)
		if (a->model.rules[i].id == id)
			return &a->model.rules[i];
	return NULL;
}

json_t *agent_explain(struct agent *a, int argc, char **argv)
{
	struct rl_explain_req q;
	struct rl_err err = {};
	const struct rl_prefix *mp;
	struct rl_match m;
	struct rl_lval lv;
	uint64_t now = agent_now_ns();
	json_t *o, *pkt, *cands;
	const char *verdict, *reason;
	int ret, pick = -1;
	__u32 i;

	if (rl_parse_explain_words(argc - 1, argv + 1, &q, &err))
		return agent_error("usage", "%s", err.msg);
	pkt = json_pack("{s:o, s:s, s:o, s:b}", "source", addr_json(&q.src),
			"proto", q.proto ? rl_proto_name(q.proto) : "any",
			"dport", q.has_dport ? json_integer(q.dport) : json_null(), "syn", q.syn);
	o = json_pack("{s:b, s:o, s:o}", "ok", 1, "packet", pkt,
		      "lists", explain_lists(a, &q.src, now));

	/* the bulk lists first, as the datapath: allow beats block beats rules */
	ret = list_lookup(a, &q.src, &lv);
	if (ret < 0) {
		json_decref(o);
		return agent_error("refused", "reading the list trie: %s", strerror(-ret));
	}
	if (ret > 0 && (lv.flags & RL_LF_ALLOW)) {
		json_object_set_new(o, "match_prefix", json_null());
		verdict = "pass";
		reason = "allowlisted: allow beats block beats rules";
		goto out;
	}
	if (ret > 0 && (lv.flags & RL_LF_BLOCK) && now < lv.block_until_ns) {
		json_object_set_new(o, "match_prefix", json_null());
		verdict = "drop";
		reason = "blocklisted";
		if (lv.block_until_ns != ~0ULL)
			json_object_set_new(o, "blocked_for_ms", json_integer(
				(json_int_t)((lv.block_until_ns - now) / 1000000)));
		goto out;
	}

	ret = trie_lookup(a, &q.src, &m);
	if (ret && ret != -ENOENT) {
		json_decref(o);
		return agent_error("refused", "reading the match trie: %s", strerror(-ret));
	}
	mp = ret ? NULL : match_prefix(a, &q.src);
	json_object_set_new(o, "match_prefix", mp ? pfx_json(mp) : json_null());
	if (ret) {
		verdict = "pass";
		reason = "unmatched: no rule covers the source";
		goto out;
	}
	cands = json_array();
	for (i = 0; i < m.n && i < RL_MAX_CAND; i++) {
		const struct agent_rule *ar = rule_by_id(a, m.rule[i].id);
		int takes = rl_rule_takes(&m.rule[i], q.src.family, q.proto,
					  q.has_dport && (q.proto == IPPROTO_TCP || q.proto == IPPROTO_UDP),
					  q.dport, q.syn);

		json_array_append_new(cands, json_pack("{s:s, s:b}", "rule",
				      ar ? ar->spec.name : "?", "takes", pick < 0 && takes));
		if (pick < 0 && takes)
			pick = (int)i;
	}
	json_object_set_new(o, "candidates", cands);
	if (pick < 0) {
		verdict = "pass";
		reason = "unmatched: rules cover the source, but none takes this protocol, port or flag";
		goto out;
	} else {
		const struct rl_rule *r = &m.rule[pick];
		const struct agent_rule *ar = rule_by_id(a, r->id);
		__u32 v = ~0u;

		json_object_set_new(o, "rule", ar ? agent_rule_json(ar) :
				    json_pack("{s:i}", "id", (json_int_t)r->id));
		json_object_set_new(o, "state", state_json(a, r, &q.src, now, &v));
		if (r->action == RL_ACT_MARK && v != RL_V_PASS && v != ~0u) {
			verdict = "mark";
			reason = "mark rule (decided at TC): over the limit, passes labelled";
		} else if (v == RL_V_PASS) {
			verdict = "pass";
			reason = "rule: within the limit";
		} else if (v == ~0u) {
			verdict = "rule";
			reason = "rule: its state could not be read";
		} else if (r->action == RL_ACT_MONITOR) {
			verdict = "pass";
			reason = "rule in monitor mode: over the limit, counted as would-drop";
		} else {
			verdict = "drop";
			reason = v == RL_V_BLOCK ? "rule: in the penalty box" : "rule: over the limit";
		}
	}
out:
	json_object_set_new(o, "verdict", json_string(verdict));
	json_object_set_new(o, "reason", json_string(reason));
	return o;
}
