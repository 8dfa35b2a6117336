// SPDX-License-Identifier: GPL-2.0
/*
 * test_crash.c - the agent's applies under crashes and failing map writes.
 * The real user/agent_*.c run against tests/unit/fake_maps.c: for every
 * map write of a rule add, change, delete, allow/block add and delete, a
 * config reload (a rename `ssh` -> `ssh-syn` with the same match, among
 * others) and a first start, the agent is "killed" at that write (the
 * maps kept as they are) and a fresh agent is started on the same maps:
 * it must start, hold the old or the new rule set exactly, its tries must
 * be what that set compiles to (it enforces it), the journal must be
 * clear and a second start must find nothing to repair.  The same writes
 * are made to fail once (rollback: the running rules are unchanged and
 * the maps say so) and for good (rollback fails: the agent never claims
 * "unchanged" when it is not, and re-syncs with the maps on its next
 * apply).  Plus: a failed add does not reuse its slot and generation, and
 * a reload renaming 7,000 of 10,001 rules is accepted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <jansson.h>

#include "agent.h"
#include "fake_maps.h"

static int fails, passes, resyncs;
static char conf_path[64], list_path[64];
static struct agent_maps fds;

#define FAIL(...) do { fails++; printf("FAIL " __VA_ARGS__); printf("\n"); } while (0)

static void maps_create(void)
{
	fds.match4 = fake_map_new(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct rl_lpm4),
				  sizeof(struct rl_match), RL_MAX_PREFIXES);
	fds.match6 = fake_map_new(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct rl_lpm6),
				  sizeof(struct rl_match), RL_MAX_PREFIXES);
	fds.agg = fake_map_new(BPF_MAP_TYPE_ARRAY, 4, 8, RL_MAX_RULES);
	fds.slagg = fake_map_new(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct rl_slog), RL_MAX_RULES);
	fds.catalog = fake_map_new(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct rl_catalog), RL_MAX_RULES);
	fds.lists = fake_map_new(BPF_MAP_TYPE_HASH, sizeof(struct rl_list_key),
				 sizeof(struct rl_list_val), 2 * RL_MAX_PREFIXES);
	fds.lst4 = fake_map_new(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct rl_lpm4),
				sizeof(struct rl_lval), RL_LST_ENTRIES);
	fds.lst6 = fake_map_new(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct rl_lpm6),
				sizeof(struct rl_lval), RL_LST_ENTRIES);
	fds.journal = fake_map_new(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct rl_jrec),
				   1 + 2 * RL_JOURNAL_RECS);
	fds.conf = fake_map_new(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct rl_conf), 1);
	/* read only through agent_pcpu_*, which fake_maps.c stands in for */
	fds.stats = fds.gstats = -1;
	fds.st4 = fds.st6 = fds.sl4 = fds.sl6 = fds.dir4 = fds.dir6 = fds.mval = -1;
	/* the guard bitmaps are mmapped by the real agent: left unmapped */
	fds.lbm4 = fds.lbm6 = fds.events = -1;
}

/* A fresh agent on the maps, as rlagent.c's main() leaves it before
 * agent_restore(); it is never freed when it "crashed". */
static struct agent *agent_new(void)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct rl_err err = {};

	if (!a)
		abort();
	a->config_path = conf_path;
	a->pin_dir = "/sys/fs/bpf/fake";
	a->maps = fds;
	a->ncpus = 1;
	agent_model_init(&a->model);
	rl_config_defaults(&a->cfg);
	if (rl_config_load(conf_path, &a->cfg, &err)) {
		printf("FAIL test_crash: %s does not load: %s\n", conf_path, err.msg);
		exit(1);
	}
	a->have_cfg = true;
	return a;
}

static void agent_free(struct agent *a)
{
	agent_model_free(&a->model);
	rl_compiled_free(&a->applied);
	rl_lset_free(&a->lapplied);
	rl_config_free(&a->cfg);
	free(a);
}

static void write_conf(const char *yaml)
{
	FILE *f = fopen(conf_path, "w");

	if (!f || fputs(yaml, f) < 0 || fclose(f)) {
		printf("FAIL test_crash: writing %s\n", conf_path);
		exit(1);
	}
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The lines of s in order: neither the listing nor the maps' walk order
 * is part of the rule set. */
static char *sort_lines(char *s)
{
	char **l = NULL, *out, *p, *sp = NULL;
	size_t n = 0, len = strlen(s), i;

	out = calloc(len + 2, 1);
	for (p = strtok_r(s, "\n", &sp); p; p = strtok_r(NULL, "\n", &sp)) {
		l = realloc(l, (n + 1) * sizeof(*l));
		l[n++] = p;
	}
	if (n)
		qsort(l, n, sizeof(*l), str_cmp);
	for (i = 0; i < n; i++) {
		strcat(out, l[i]);
		strcat(out, "\n");
	}
	free(l);
	free(s);
	return out;
}

/* The rule set as text: rules with their words, and the lists. */
static char *canon(const struct agent *a)
{
	char *buf = NULL, words[1024], pb[64];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int i;

	for (i = 0; i < a->model.n_rules; i++) {
		const struct agent_rule *r = &a->model.rules[i];

		rule_words(&r->spec, words, sizeof(words));
		fprintf(f, "rule %s: %s\n", r->spec.name, words);
	}
	for (i = 0; i < a->model.n_allow; i++) {
		rl_format_prefix(&a->model.allow[i].pfx, pb, sizeof(pb));
		fprintf(f, "allow %s%s\n", pb, a->model.allow[i].expires_ns ? " timed" : "");
	}
	for (i = 0; i < a->model.n_block; i++) {
		rl_format_prefix(&a->model.block[i].pfx, pb, sizeof(pb));
		fprintf(f, "block %s%s\n", pb, a->model.block[i].expires_ns ? " timed" : "");
	}
	fclose(f);
	return sort_lines(buf);
}

/* The list tries hold exactly what a's lists build to (rl_lists_build),
 * and so does a->lapplied. */
static int check_list_tries(struct agent *a, const char *what)
{
	struct rl_lset l = {};
	int i, bad = 0;

	if (rl_lists_build(a->model.allow, a->model.n_allow, a->model.block, a->model.n_block,
			   agent_now_ns(), &l)) {
		FAIL("test_crash: %s: the lists do not build", what);
		return 1;
	}
	if (l.n != a->lapplied.n ||
	    (int)(fake_map_count(fds.lst4) + fake_map_count(fds.lst6)) != l.n) {
		FAIL("test_crash: %s: %d list trie entries built, agent holds %d, tries %u + %u",
		     what, l.n, a->lapplied.n, fake_map_count(fds.lst4), fake_map_count(fds.lst6));
		bad = 1;
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		union { struct rl_lpm4 k4; struct rl_lpm6 k6; } k = {};
		struct rl_lval v;
		int fd;

		if (l.e[i].pfx.family == 4) {
			k.k4.prefixlen = l.e[i].pfx.len;
			memcpy(&k.k4.addr, l.e[i].pfx.addr, 4);
			fd = fds.lst4;
		} else {
			k.k6.prefixlen = l.e[i].pfx.len;
			memcpy(k.k6.addr, l.e[i].pfx.addr, 16);
			fd = fds.lst6;
		}
		if (bpf_map_lookup_elem(fd, &k, &v) || v.flags != l.e[i].v.flags ||
		    v.block_until_ns != l.e[i].v.block_until_ns) {
			FAIL("test_crash: %s: list trie entry %d is not what the lists build to", what, i);
			bad = 1;
			goto out;
		}
	}
out:
	rl_lset_free(&l);
	return bad;
}

/* The tries hold exactly a->applied, and a->applied is what a's model
 * compiles to: the datapath enforces the agent's rule set (the rules in
 * the rule tries, the lists in the list tries). */
static int check_tries(struct agent *a, const char *what)
{
	struct rl_compiled c = {};
	struct rl_rule_spec *specs = calloc((size_t)a->model.n_rules + 1, sizeof(*specs));
	uint32_t *ids = calloc((size_t)a->model.n_rules + 1, 4), *vers = calloc((size_t)a->model.n_rules + 1, 4);
	struct rl_err e = {};
	int i, bad = 0;

	for (i = 0; i < a->model.n_rules; i++) {
		specs[i] = a->model.rules[i].spec;
		ids[i] = a->model.rules[i].id;
		vers[i] = a->model.rules[i].ver;
	}
	if (check_list_tries(a, what))
		bad = 1;
	if (rl_compile(specs, ids, vers, a->model.n_rules, &c, &e)) {
		FAIL("test_crash: %s: the rule set does not compile: %s", what, e.msg);
		bad = 1;
		goto out;
	}
	if (c.n != a->applied.n ||
	    (int)(fake_map_count(fds.match4) + fake_map_count(fds.match6)) != c.n) {
		FAIL("test_crash: %s: %d match entries compiled, agent holds %d, tries %u + %u",
		     what, c.n, a->applied.n, fake_map_count(fds.match4), fake_map_count(fds.match6));
		bad = 1;
		goto out;
	}
	for (i = 0; i < c.n; i++) {
		union { struct rl_lpm4 k4; struct rl_lpm6 k6; } k = {};
		struct rl_match m;
		int fd;

		if (c.e[i].pfx.family == 4) {
			k.k4.prefixlen = c.e[i].pfx.len;
			memcpy(&k.k4.addr, c.e[i].pfx.addr, 4);
			fd = fds.match4;
		} else {
			k.k6.prefixlen = c.e[i].pfx.len;
			memcpy(k.k6.addr, c.e[i].pfx.addr, 16);
			fd = fds.match6;
		}
		/* block_until_ns depends on now: compare the rules */
		if (bpf_map_lookup_elem(fd, &k, &m) || m.n != c.e[i].m.n || m.flags != c.e[i].m.flags ||
		    memcmp(m.rule, c.e[i].m.rule, (size_t)m.n * sizeof(m.rule[0]))) {
			FAIL("test_crash: %s: match entry %d is not what the rule set compiles to", what, i);
			bad = 1;
			goto out;
		}
	}
out:
	rl_compiled_free(&c);
	free(specs);
	free(ids);
	free(vers);
	return bad;
}

static int journal_clear(const char *what)
{
	struct rl_jrec h;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(fds.journal, &zero, &h) || h.op != RL_J_NONE) {
		FAIL("test_crash: %s: the journal head is still op %u", what, h.op);
		return 1;
	}
	return 0;
}

/* A fresh agent started on the maps: it must start, enforce what it
 * holds, and a second start must write nothing.  Returns its canon. */
static char *restart(const char *what)
{
	struct agent *b = agent_new(), *c;
	struct rl_err err = {};
	bool had;
	char *s, *s2;
	long w;

	if (agent_restore(b, &had, &err)) {
		FAIL("test_crash: %s: the next agent does not start: %s", what, err.msg);
		agent_free(b);
		return NULL;
	}
	check_tries(b, what);
	journal_clear(what);
	s = canon(b);
	agent_free(b);
	c = agent_new();
	fake_fault(FAKE_NONE, 0);
	if (agent_restore(c, &had, &err))
		FAIL("test_crash: %s: the second start fails: %s", what, err.msg);
	w = fake_map_writes();
	s2 = canon(c);
	if (w || strcmp(s, s2))
		FAIL("test_crash: %s: a second start wrote %ld times or found another set", what, w);
	free(s2);
	agent_free(c);
	return s;
}

static json_t *run(struct agent *a, const char *words)
{
	json_t *argv = json_array(), *req;
	char *dup = strdup(words), *p, *line, *sp = NULL;
	struct agent_job *job = NULL;
	json_t *resp;

	for (p = strtok_r(dup, " ", &sp); p; p = strtok_r(NULL, " ", &sp))
		json_array_append_new(argv, json_string(strcmp(p, "@LIST") ? p : list_path));
	req = json_pack("{s:o}", "argv", argv);
	line = json_dumps(req, JSON_COMPACT);
	resp = ctl_answer(a, line, strlen(line), "test", 0, &job);
	free(line);
	free(dup);
	json_decref(req);
	return resp;
}

static bool resp_ok(json_t *r)
{
	return r && json_is_true(json_object_get(r, "ok"));
}

static const char *resp_msg(json_t *r)
{
	const char *m = r ? json_string_value(json_object_get(r, "error")) : NULL;

	return m ? m : "(no message)";
}

struct scen {
	const char *name;
	const char *conf;             /* the config the agent starts with      */
	const char *setup[4];         /* commands before the one under test    */
	const char *op;               /* the command under test, or NULL:      */
	const char *reload_conf;      /*   config reload to this file, or NULL: */
	                              /*   the first start itself              */
	long jlist;                   /* agent_jlist_max for it (0: the build's):
				       * 1 makes its list change a bulk one,
				       * written outside the journal          */
};

static const char conf_a[] =
	"version: 1\n"
	"interfaces: [eth0]\n"
	"allowlist: [10.0.0.0/8]\n"
	"blocklist: [192.0.2.7]\n"
	"rules:\n"
	"  - {name: ssh, proto: tcp, dport: 22, rate: 10/s, burst: 20}\n"
	"  - {name: web, src: 198.51.100.0/24, proto: tcp, dport: 80-443, rate: 10mbit}\n"
	"  - {name: dns, src: \"2001:db8:2::/48\", proto: udp, dport: 53, rate: 6000/min, algo: gcra}\n"
	"  - {name: mark, proto: udp, dport: 5000, rate: 1/s, action: mark, mark-value: 16}\n";

/* ssh renamed with the same match, dns changed, mark gone, one new rule,
 * one list entry moved */
static const char conf_b[] =
	"version: 1\n"
	"interfaces: [eth0]\n"
	"allowlist: [10.0.0.0/8, 192.0.2.7]\n"
	"rules:\n"
	"  - {name: ssh-syn, proto: tcp, dport: 22, rate: 10/s, burst: 20}\n"
	"  - {name: web, src: 198.51.100.0/24, proto: tcp, dport: 80-443, rate: 10mbit}\n"
	"  - {name: dns, src: \"2001:db8:2::/48\", proto: udp, dport: 53, rate: 20/s, algo: sliding-log}\n"
	"  - {name: new, src: 203.0.113.0/24, rate: 5/s, per: rule}\n";

/* reload_rename's change, and 10.0.0.0/8 moved to the blocklist, a feed
 * of four entries replaced by another: a bulk change in both directions */
static const char conf_c[] =
	"version: 1\n"
	"interfaces: [eth0]\n"
	"allowlist: [192.0.2.7, \"2001:db8:a::/48\"]\n"
	"blocklist: [10.0.0.0/8, 198.18.0.0/15, 203.0.113.64/26, \"2001:db8:b::/48\"]\n"
	"rules:\n"
	"  - {name: ssh-syn, proto: tcp, dport: 22, rate: 10/s, burst: 20}\n"
	"  - {name: web, src: 198.51.100.0/24, proto: tcp, dport: 80-443, rate: 10mbit}\n"
	"  - {name: dns, src: \"2001:db8:2::/48\", proto: udp, dport: 53, rate: 6000/min, algo: gcra}\n"
	"  - {name: mark, proto: udp, dport: 5000, rate: 1/s, action: mark, mark-value: 16}\n";

static const char conf_feed[] =
	"version: 1\n"
	"interfaces: [eth0]\n"
	"allowlist: [10.0.0.0/8]\n"
	"blocklist: [192.0.2.7, 100.64.0.0/10, 203.0.113.0/25, \"2001:db8:c::/48\", \"2001:db8:d::1\"]\n"
	"rules:\n"
	"  - {name: ssh, proto: tcp, dport: 22, rate: 10/s, burst: 20}\n";

static const struct scen scens[] = {
	{ "first start", conf_a, {}, NULL, NULL, 0 },
	{ "rule add", conf_a, {}, "rule add x src 203.0.113.0/24 proto tcp dport 443 rate 50/s", NULL, 0 },
	{ "rule change", conf_a, {}, "rule change web rate 20mbit algo gcra", NULL, 0 },
	{ "rule del", conf_a, {}, "rule del web", NULL, 0 },
	{ "allow add", conf_a, {}, "allow add 2001:db8:9::/48", NULL, 0 },
	{ "block add for", conf_a, {}, "block add 203.0.113.9 for 10m", NULL, 0 },
	{ "allow del", conf_a, {}, "allow del 10.0.0.0/8", NULL, 0 },
	{ "block del", conf_a, { "block add 203.0.113.0/24" }, "block del 203.0.113.0/24", NULL, 0 },
	{ "reload rename", conf_a, { "allow add 198.51.100.9 for 1h" }, NULL, conf_b, 0 },
	/* bulk list changes: each list entry stands alone, so a crash may
	 * keep part of them (the rules stay old or new exactly) */
	{ "block import (bulk)", conf_a, {}, "block import @LIST for 1h", NULL, 1 },
	{ "block flush (bulk)", conf_a, { "block add 203.0.113.0/24", "block add 2001:db8:7::/48" },
	  "block flush", NULL, 1 },
	{ "reload moving entries (bulk)", conf_feed, { "allow add 198.51.100.9 for 1h" }, NULL,
	  conf_c, 1 },
};

static void setup(const struct scen *s, struct agent **out)
{
	struct rl_err err = {};
	bool had;
	int i;

	fake_maps_reset();
	write_conf(s->conf);
	*out = NULL;
	if (!s->op && !s->reload_conf)
		return;		/* the first start is the operation */
	*out = agent_new();
	if (agent_restore(*out, &had, &err)) {
		FAIL("test_crash: %s: setup start: %s", s->name, err.msg);
		exit(1);
	}
	for (i = 0; i < 4 && s->setup[i]; i++) {
		json_t *r = run(*out, s->setup[i]);

		if (!resp_ok(r)) {
			FAIL("test_crash: %s: setup '%s': %s", s->name, s->setup[i], resp_msg(r));
			exit(1);
		}
		json_decref(r);
	}
	if (s->reload_conf)
		write_conf(s->reload_conf);
}

/* Runs the operation under test: 0 ok, 1 refused; *resp its answer. */
static int operate(const struct scen *s, struct agent **a, json_t **resp)
{
	struct rl_err err = {};
	bool had;

	*resp = NULL;
	if (!s->op && !s->reload_conf) {
		*a = agent_new();
		if (agent_restore(*a, &had, &err)) {
			*resp = json_pack("{s:b, s:s}", "ok", 0, "error", err.msg);
			return 1;
		}
		return 0;
	}
	*resp = run(*a, s->op ? s->op : "config reload");
	return resp_ok(*resp) ? 0 : 1;
}

/* The operation, killed at write n (or, with fail_at, failing at that
 * write and killed at write n in its rollback): true if it got there. */
static bool crash_at(const struct scen *s, long n, long fail_at)
{
	struct agent *a;
	json_t *resp;

	setup(s, &a);
	fake_fault(fail_at ? FAKE_FAIL_ONCE : FAKE_CRASH, fail_at ? fail_at : n);
	if (fail_at)
		fake_crash_also(n);
	if (setjmp(fake_crash_jmp))
		return true;
	operate(s, &a, &resp);
	json_decref(resp);
	return false;
}

/* The lines of text starting with "rule " (rules) or not (lists). */
static char *part(const char *text, bool rules)
{
	char *out = calloc(strlen(text) + 1, 1);
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, "\n") + (p[strcspn(p, "\n")] == '\n');

		if (!strncmp(p, "rule ", 5) == rules)
			strncat(out, p, n);
		p += n;
	}
	return out;
}

/* Whether line (with its newline) is one of text's lines. */
static bool has_line(const char *text, const char *line, size_t n)
{
	const char *p = text;

	while (*p) {
		size_t m = strcspn(p, "\n") + (p[strcspn(p, "\n")] == '\n');

		if (m == n && !strncmp(p, line, n))
			return true;
		p += m;
	}
	return false;
}

/* Prefixes rl_lists holds on both lists (a bulk move cut short). */
static int on_both(void)
{
	struct rl_list_key k, k2;
	struct rl_list_val v;
	uint32_t i;
	int n = 0;

	for (i = 0; !fake_map_entry(fds.lists, i, &k, &v); i++) {
		if (k.kind != RL_LIST_ALLOW)
			continue;
		k2 = k;
		k2.kind = RL_LIST_BLOCK;
		n += !bpf_map_lookup_elem(fds.lists, &k2, &v);
	}
	return n;
}

/*
 * Whether a restarted agent's set `got` is allowed after an operation from
 * `before` to `after`: one of them exactly, or with bulk lists, the rules
 * of one of them exactly and lists between the two: every entry in one of
 * them, every entry both have kept.
 */
static bool holds(const char *got, const char *before, const char *after, bool bulk)
{
	char *gr, *br, *ar, *gl, *bl, *al;
	const char *p;
	bool ok;

	if (!strcmp(got, before) || !strcmp(got, after))
		return true;
	if (!bulk)
		return false;
	gr = part(got, true);
	br = part(before, true);
	ar = part(after, true);
	gl = part(got, false);
	bl = part(before, false);
	al = part(after, false);
	ok = !strcmp(gr, br) || !strcmp(gr, ar);
	for (p = gl; ok && *p;) {
		size_t n = strcspn(p, "\n") + 1;

		ok = has_line(bl, p, n) || has_line(al, p, n);
		p += n;
	}
	for (p = bl; ok && *p;) {
		size_t n = strcspn(p, "\n") + 1;

		ok = !has_line(al, p, n) || has_line(gl, p, n);
		p += n;
	}
	free(gr);
	free(br);
	free(ar);
	free(gl);
	free(bl);
	free(al);
	return ok;
}

static void scenario(const struct scen *s)
{
	struct agent *a;
	json_t *resp;
	char *before = NULL, *after = NULL, *got, what[160];
	long n, total;
	int crashes = 0, fails_before = fails, both = 0;
	bool bulk = s->jlist != 0;

	agent_jlist_max = s->jlist ? s->jlist : RL_JOURNAL_LIST_RECS;

	/* the old and the new set, as a start on the maps reads them */
	setup(s, &a);
	if (a) {
		before = canon(a);
		agent_free(a);
		a = NULL;
		free(before);
		before = restart("old set");
	} else {
		before = strdup("");
	}
	setup(s, &a);
	fake_fault(FAKE_NONE, 0);
	if (operate(s, &a, &resp)) {
		FAIL("test_crash: %s: refused without a fault: %s", s->name, resp_msg(resp));
		return;
	}
	total = fake_writes();
	json_decref(resp);
	agent_free(a);
	after = restart("new set");
	if (!before || !after || !strcmp(before, after)) {
		FAIL("test_crash: %s: the operation changes nothing", s->name);
		return;
	}

	/* kill -9 at write n */
	for (n = 1; n <= total; n++) {
		snprintf(what, sizeof(what), "%s, crash at write %ld of %ld", s->name, n, total);
		if (!crash_at(s, n, 0)) {
			FAIL("test_crash: %s: did not reach the write", what);
			continue;
		}
		crashes++;
		both += on_both() > 0;
		got = restart(what);
		if (got && !holds(got, before, after, bulk))
			FAIL("test_crash: %s: the next agent holds neither set:\n%s--- old:\n%s--- new:\n%s",
			     what, got, before, after);
		free(got);
	}

	/* write n fails and the agent is killed at write m of the rollback */
	for (n = 1; n <= total; n++) {
		long m;

		for (m = n + 1; m <= n + total + 2; m++) {
			snprintf(what, sizeof(what), "%s, write %ld of %ld fails, crash at write %ld",
				 s->name, n, total, m);
			if (!crash_at(s, m, n))
				break;	/* done before write m */
			got = restart(what);
			if (got && !holds(got, before, after, bulk))
				FAIL("test_crash: %s: the next agent holds neither set", what);
			free(got);
		}
	}

	/* write n fails once: refused, rollback, running rules unchanged */
	for (n = 1; n <= total; n++) {
		char *mem;

		setup(s, &a);
		snprintf(what, sizeof(what), "%s, write %ld of %ld fails", s->name, n, total);
		fake_fault(FAKE_FAIL_ONCE, n);
		if (!operate(s, &a, &resp)) {
			json_decref(resp);
			continue;	/* a write no one depends on */
		}
		fake_fault(FAKE_NONE, 0);
		if (!s->op && !s->reload_conf) {
			/* a first start that fails exits; the next one applies
			 * the config */
			agent_free(a);
			got = restart(what);
			if (got && strcmp(got, after))
				FAIL("test_crash: %s: the next start does not hold the config's set", what);
			free(got);
			json_decref(resp);
			continue;
		}
		mem = canon(a);
		got = restart(what);
		if (strstr(resp_msg(resp), "running rules are unchanged")) {
			if (strcmp(mem, before) || (got && strcmp(got, before)))
				FAIL("test_crash: %s: '%s', but the %s hold another set", what,
				     resp_msg(resp), strcmp(mem, before) ? "agent's rules" : "maps");
		} else if (got && (strcmp(mem, got) || !holds(got, before, after, bulk))) {
			FAIL("test_crash: %s: '%s', and the agent and the maps disagree or hold neither set",
			     what, resp_msg(resp));
		}
		check_tries(a, what);
		free(got);
		free(mem);
		json_decref(resp);
		agent_free(a);
	}

	/* write n and every later one fail: the rollback fails too */
	for (n = 1; n <= total && (s->op || s->reload_conf); n++) {
		json_t *r2;
		char *mem;

		setup(s, &a);
		snprintf(what, sizeof(what), "%s, writes from %ld of %ld fail", s->name, n, total);
		fake_fault(FAKE_FAIL_FROM, n);
		if (!operate(s, &a, &resp)) {
			json_decref(resp);
			continue;
		}
		mem = canon(a);
		if (strstr(resp_msg(resp), "running rules are unchanged") && strcmp(mem, before))
			FAIL("test_crash: %s: '%s' but the rules changed", what, resp_msg(resp));
		/* another change while the maps still fail: refused */
		r2 = run(a, "allow add 203.0.113.251");
		if (resp_ok(r2))
			FAIL("test_crash: %s: a change went through failing maps", what);
		json_decref(r2);
		fake_fault(FAKE_NONE, 0);
		/* killed now, the next agent starts with one set or the other */
		got = restart(what);
		if (got && !holds(got, before, after, bulk))
			FAIL("test_crash: %s: killed then, the next agent holds neither set:\n%s",
			     what, got);
		free(got);
		/* the next change re-syncs with the maps first, and if the
		 * agent was degraded, asks for the change again */
		r2 = run(a, "allow add 203.0.113.250");
		if (!resp_ok(r2) && strstr(resp_msg(r2), "has re-read the maps") &&
		    !strstr(resp_msg(r2), "unchanged")) {
			resyncs++;
			json_decref(r2);
			r2 = run(a, "allow add 203.0.113.250");
		}
		if (!resp_ok(r2))
			FAIL("test_crash: %s: the next change is refused: %s", what, resp_msg(r2));
		if (a->degraded)
			FAIL("test_crash: %s: still degraded after a good apply", what);
		check_tries(a, what);
		journal_clear(what);
		free(mem);
		mem = canon(a);
		got = restart(what);
		if (got && strcmp(got, mem))
			FAIL("test_crash: %s: the agent's rules are not the maps':\n%s--- maps:\n%s",
			     what, mem, got);
		free(got);
		free(mem);
		json_decref(r2);
		json_decref(resp);
		agent_free(a);
	}
	agent_jlist_max = RL_JOURNAL_LIST_RECS;
	/* a move between the lists, cut short, leaves a prefix on both: the
	 * restarts above adopted such pins (one entry kept, the other gone) */
	if (s->reload_conf == conf_c && !both)
		FAIL("test_crash: %s: no crash left a prefix on both lists", s->name);
	if (fails == fails_before) {
		printf("PASS test_crash: %s (%ld writes, each crashed, failed, and failed with a crash in the rollback)\n",
		       s->name, total);
		passes++;
	}
	if (!crashes)
		FAIL("test_crash: %s: no crash was injected", s->name);
	free(before);
	free(after);
}

/* A failed add spends its slot and generation. */
static void failed_add(void)
{
	struct agent *a;
	json_t *r;
	struct agent_rule *x;
	uint32_t s0, g0;
	long n;
	int bad = 0;

	for (n = 1; n < 12; n++) {
		setup(&scens[1], &a);
		s0 = a->next_slot;
		g0 = a->next_gen;
		fake_fault(FAKE_FAIL_ONCE, n);
		r = run(a, "rule add x src 203.0.113.0/24 rate 50/s");
		fake_fault(FAKE_NONE, 0);
		if (resp_ok(r)) {
			json_decref(r);
			agent_free(a);
			continue;
		}
		json_decref(r);
		r = run(a, "rule add y src 203.0.113.0/24 rate 50/s");
		x = agent_model_find(&a->model, "y");
		if (!resp_ok(r) || !x || x->id == s0 || x->ver >> 16 == g0) {
			FAIL("test_crash: a failed add (write %ld) gave its slot %u or gen %u to the next",
			     n, s0, g0);
			bad = 1;
		}
		json_decref(r);
		agent_free(a);
	}
	if (!bad) {
		printf("PASS test_crash: a failed rule add spends its slot and generation\n");
		passes++;
	}
}

/* Pins an rlagent from before the journal left after a kill in the middle
 * of a rename: both `ssh` and `ssh-syn`, same match.  The next start
 * applies the config instead of refusing to start. */
static void legacy_overlap(void)
{
	struct agent *a;
	struct rl_catalog c;
	struct rl_err err = {};
	uint32_t slot = 100;
	char *want, *got;
	bool had;

	fake_maps_reset();
	write_conf(conf_a);
	a = agent_new();
	if (agent_restore(a, &had, &err)) {
		FAIL("test_crash: legacy overlap: start: %s", err.msg);
		return;
	}
	want = canon(a);
	c = (struct rl_catalog){};
	bpf_map_lookup_elem(fds.catalog, &agent_model_find(&a->model, "ssh")->id, &c);
	snprintf(c.name, sizeof(c.name), "ssh-syn");
	c.rule.id = slot;
	c.prio = 99;
	bpf_map_update_elem(fds.catalog, &slot, &c, BPF_ANY);
	agent_free(a);
	got = restart("legacy overlap");
	if (got && strcmp(got, want))
		FAIL("test_crash: legacy overlap: the start holds another set than the config's:\n%s", got);
	else if (got) {
		printf("PASS test_crash: pins an old rlagent left overlapping: the config is applied\n");
		passes++;
	}
	free(got);
	free(want);
}

/* 10,001 rules, 7,000 renamed: more than the 6,383 free slots. */
static void big_rename(void)
{
	struct agent *a;
	struct agent_model m;
	struct rl_err err = {};
	bool had;
	int i;

	fake_maps_reset();
	write_conf("version: 1\ninterfaces: [eth0]\n");
	a = agent_new();
	if (agent_restore(a, &had, &err)) {
		FAIL("test_crash: big rename: start: %s", err.msg);
		return;
	}
	agent_model_init(&m);
	for (i = 0; i < 10001; i++) {
		struct rl_rule_spec s;

		rl_rule_defaults(&s, &a->cfg.defaults);
		snprintf(s.name, sizeof(s.name), "r%d", i);
		s.has_src4 = true;
		s.src4.family = 4;
		s.src4.len = 32;
		s.src4.addr[0] = 10;
		s.src4.addr[1] = (uint8_t)(i >> 16);
		s.src4.addr[2] = (uint8_t)(i >> 8);
		s.src4.addr[3] = (uint8_t)i;
		s.limit.rate = 10;
		s.limit.period_ns = 1000000000ull;
		s.limit.burst = 10;
		agent_model_add_rule(&m, &s);
	}
	if (agent_apply(a, &m, &err)) {
		FAIL("test_crash: big rename: 10,001 rules: %s", err.msg);
		agent_model_free(&m);
		return;
	}
	agent_model_free(&m);
	agent_model_dup(&a->model, &m);
	for (i = 0; i < 7000; i++)
		snprintf(m.rules[i].spec.name, sizeof(m.rules[i].spec.name), "renamed%d", i);
	if (agent_apply(a, &m, &err))
		FAIL("test_crash: big rename: renaming 7,000 of 10,001 rules is refused: %s", err.msg);
	else if (!check_tries(a, "big rename")) {
		printf("PASS test_crash: renaming 7,000 of 10,001 rules is applied\n");
		passes++;
	}
	agent_model_free(&m);
	agent_free(a);
}

static void remove_conf(void)
{
	unlink(conf_path);
	unlink(list_path);
}

int main(void)
{
	size_t i;

	snprintf(conf_path, sizeof(conf_path), "/tmp/rl_test_crash_%d.yaml", (int)getpid());
	snprintf(list_path, sizeof(list_path), "/tmp/rl_test_crash_%d.list", (int)getpid());
	atexit(remove_conf);
	{
		FILE *f = fopen(list_path, "w");

		if (!f || fputs("# a feed\n203.0.113.1\n203.0.113.2\n2001:db8:5::/48\n"
				"198.18.0.0/15\n192.0.2.7\n100.64.0.0/10\n", f) < 0 || fclose(f)) {
			printf("FAIL test_crash: writing %s\n", list_path);
			return 1;
		}
	}
	agent_log_level = getenv("V") ? LOG_LVL_DEBUG : -1;
	maps_create();
	for (i = 0; i < sizeof(scens) / sizeof(scens[0]); i++)
		scenario(&scens[i]);
	failed_add();
	legacy_overlap();
	big_rename();
	/* the failed rollbacks above must have reached the degraded state */
	if (!resyncs) {
		FAIL("test_crash: no failed rollback left the agent degraded");
	} else {
		printf("PASS test_crash: %d degraded agents re-read the maps on the next change\n",
		       resyncs);
		passes++;
	}
	printf("%s test_crash: %d passed, %d failed\n", fails ? "FAIL" : "PASS", passes, fails);
	return fails ? 1 : 0;
}
