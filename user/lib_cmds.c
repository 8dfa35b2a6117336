// SPDX-License-Identifier: GPL-2.0
/*
 * lib_cmds.c - the command table (rl_cmds.h) and what reads it: finding a
 * command, its grammar check (the same lib_parse functions the agent
 * parses with), the help text and the completion candidates.  rlctl and
 * rlagent both link it, so a command added here is checked, dispatched,
 * documented in `rlctl help` and completed in one place.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rl_cmds.h"

static int shape(struct rl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A bad shape (missing or extra words): rlctl shows the object's help. */
static int shape(struct rl_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->line = err->col = 0;
	return 2;
}

static int check_rule_name(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)argv;
	if (argc != 3)
		return shape(err, "rule %s takes exactly one NAME", c->verb);
	return 0;
}

static int check_rule_list(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)c;
	(void)argv;
	return argc <= 3 ? 0 : shape(err, "rule list takes at most a NAME");
}

static int check_rule_words(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	bool add = c->id == RL_CMD_RULE_ADD;
	struct rl_rule_spec spec;
	struct rl_config cfg;
	struct rl_defaults d;

	if (argc < 3)
		return shape(err, "rule %s: missing NAME", c->verb);
	if (!rl_name_valid(argv[2])) {
		rl_errf(err, "rule name '%.*s' is invalid: use 1-%d characters of [A-Za-z0-9._-]",
			RL_CUT(argv[2], 64), RL_NAME_LEN - 1);
		return 1;
	}
	if (!add && argc < 4)
		return shape(err, "rule change %s: nothing to change", argv[2]);
	rl_config_defaults(&cfg);
	d = cfg.defaults;
	rl_config_free(&cfg);
	memset(&spec, 0, sizeof(spec));
	rl_rule_defaults(&spec, &d);
	if (!add) {
		/* a change edits an existing rule: give the parser a complete
		 * one so that only the grammar is judged here */
		spec.limit.rate = 1;
		spec.limit.period_ns = 1000000000ull;
		spec.limit.burst = 1;
	}
	if (rl_parse_rule_words(argc - 3, argv + 3, &spec, add, err)) {
		struct rl_err e = *err;

		rl_errf(err, "rule %s %s: %s", c->verb, argv[2], e.msg);
		return 1;
	}
	return 0;
}

static int check_list_prefix(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	struct rl_prefix p;
	struct rl_err e = {};
	uint64_t ns;

	if (argc < 3)
		return shape(err, "%s %s: missing PREFIX", argv[0], argv[1]);
	if (rl_parse_prefix(argv[2], &p, &e)) {
		rl_errf(err, "%s %s: %s", argv[0], argv[1], e.msg);
		return 1;
	}
	if (c->id == RL_CMD_LIST_ADD && argc == 5 && !strcmp(argv[3], "for")) {
		if (rl_parse_duration(argv[4], &ns, &e)) {
			rl_errf(err, "%s add %s for: %s", argv[0], argv[2], e.msg);
			return 1;
		}
		if (!ns) {
			rl_errf(err, "%s add %s for: the duration must be more than 0", argv[0], argv[2]);
			return 1;
		}
		return 0;
	}
	if (argc != 3)
		return shape(err, "%s %s: unexpected '%.*s'", argv[0], argv[1], RL_CUT(argv[3], 64));
	return 0;
}

static int check_list_show(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)c;
	return argc <= 2 ? 0 : shape(err, "%s list takes no arguments", argv[0]);
}

static int check_list_import(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	struct rl_err e = {};
	uint64_t ns;

	(void)c;
	if (argc < 3)
		return shape(err, "%s import: missing FILE", argv[0]);
	if (argc == 5 && !strcmp(argv[3], "for")) {
		if (rl_parse_duration(argv[4], &ns, &e)) {
			rl_errf(err, "%s import %.*s for: %s", argv[0], RL_CUT(argv[2], 200), e.msg);
			return 1;
		}
		if (!ns) {
			rl_errf(err, "%s import %.*s for: the duration must be more than 0", argv[0],
				RL_CUT(argv[2], 200));
			return 1;
		}
		return 0;
	}
	if (argc != 3)
		return shape(err, "%s import: unexpected '%.*s'", argv[0], RL_CUT(argv[3], 64));
	return 0;
}

static int check_list_flush(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)c;
	return argc == 2 ? 0 : shape(err, "%s flush takes no arguments", argv[0]);
}

/* `OBJ [-n N]` with 1 <= N <= max (top, events). */
static int check_count(int argc, char **argv, long max, struct rl_err *err)
{
	char *end;
	long n;

	if (argc == 1)
		return 0;
	if (argc != 3 || strcmp(argv[1], "-n"))
		return shape(err, "usage: rlctl %s [-n N]", argv[0]);
	n = strtol(argv[2], &end, 10);
	if (*end || end == argv[2] || n < 1 || n > max) {
		rl_errf(err, "%s -n: '%.*s' is not a count 1..%ld", argv[0], RL_CUT(argv[2], 64), max);
		return 1;
	}
	return 0;
}

/* `events [-n N]`: rlctl stops after N events; the agent gets `events`. */
static int check_events(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)c;
	return check_count(argc, argv, 1000000000, err);
}

static int check_stats(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)c;
	(void)argv;
	return argc <= 2 ? 0 : shape(err, "stats takes at most a rule NAME");
}

static int check_none(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)argv;
	if (c->verb)
		return argc == 2 ? 0 : shape(err, "%s %s takes no arguments", c->obj, c->verb);
	return argc == 1 ? 0 : shape(err, "%s takes no arguments", c->obj);
}

static int check_top(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)c;
	return check_count(argc, argv, 10000, err);
}

static int check_explain(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	struct rl_explain_req q;

	(void)c;
	return rl_parse_explain_words(argc - 1, argv + 1, &q, err) ? 1 : 0;
}

static int check_save(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)c;
	(void)argv;
	return argc <= 3 ? 0 : shape(err, "config save takes at most one FILE");
}

static int check_file(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)argv;
	return argc == 3 ? 0 : shape(err, "config %s takes one FILE", c->verb);
}

static int check_any(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err)
{
	(void)c;
	(void)argc;
	(void)argv;
	(void)err;
	return 0;
}

#define RULE_WORDS "src proto dport tcp-flags rate burst algo per action mark-value dscp ecn block-for scope"

const struct rl_cmd rl_cmds[] = {
	{ "rule", "add", NULL,
	  "NAME [src PREFIX] [proto tcp|udp|icmp|icmpv6|any] [dport N[-M]] [tcp-flags syn]\n"
	  "rate RATE [burst N [UNIT]] [algo ALGO] [per source[/L4[,L6]]|per rule]\n"
	  "[action drop|monitor|mark] [mark-value N] [dscp N|CLASS] [ecn [on|off]]\n"
	  "[block-for DUR] [scope local|cluster]",
	  "add a rule", RL_CMD_RULE_ADD, RL_CMD_CHANGES, NULL, RULE_WORDS, check_rule_words },
	{ "rule", "change", NULL, "NAME WORDS...",
	  "change only the words given (e.g. rate 200/s, algo sliding-window)",
	  RL_CMD_RULE_CHANGE, RL_CMD_CHANGES, RL_COMPLETE_RULES, RULE_WORDS, check_rule_words },
	{ "rule", "del", "delete", "NAME", "delete a rule",
	  RL_CMD_RULE_DEL, RL_CMD_CHANGES, RL_COMPLETE_RULES, NULL, check_rule_name },
	{ "rule", "list", "show", "[NAME]", "the rules, or one",
	  RL_CMD_RULE_LIST, 0, RL_COMPLETE_RULES, NULL, check_rule_list },
	{ "allow|block", "add", NULL, "PREFIX [for DUR]",
	  "add an address or prefix, for a time or for good",
	  RL_CMD_LIST_ADD, RL_CMD_CHANGES, NULL, "for", check_list_prefix },
	{ "allow|block", "del", "delete", "PREFIX", "remove an entry",
	  RL_CMD_LIST_DEL, RL_CMD_CHANGES, NULL, NULL, check_list_prefix },
	{ "allow|block", "list", "show", "", "the entries (also without `list`)",
	  RL_CMD_LIST_SHOW, RL_CMD_DEFAULT, NULL, NULL, check_list_show },
	{ "allow|block", "import", NULL, "FILE [for DUR]",
	  "add every prefix of FILE (one a line, '#' comments), all or nothing;\n"
	  "a prefix already there takes the import's expiry",
	  RL_CMD_LIST_IMPORT, RL_CMD_CHANGES, RL_COMPLETE_FILES, "for", check_list_import },
	{ "allow|block", "flush", NULL, "", "empty the list",
	  RL_CMD_LIST_FLUSH, RL_CMD_CHANGES, NULL, NULL, check_list_flush },
	{ "stats", NULL, NULL, "[RULE]", "per-rule verdict counters and global counters",
	  RL_CMD_STATS, 0, RL_COMPLETE_RULES, NULL, check_stats },
	{ "top", NULL, NULL, "[-n N]", "worst sources now: blocked, then least credit",
	  RL_CMD_TOP, 0, "-n", NULL, check_top },
	{ "explain", NULL, NULL, "SRC [proto P] [dport N] [syn]",
	  "which list entry or rule applies to such a packet, and the state of its\n"
	  "bucket now", RL_CMD_EXPLAIN, 0, NULL, "proto dport syn", check_explain },
	{ "events", NULL, NULL, "[-n N]",
	  "stream sampled drop events (over-limit, penalty box, blocklist);\n"
	  "-j: JSON lines; -n: stop after N", RL_CMD_EVENTS, 0, "-n", NULL, check_events },
	{ "status", NULL, NULL, "", "agent, interfaces, rules, last reload",
	  RL_CMD_STATUS, 0, NULL, NULL, check_none },
	{ "config", "reload", NULL, "", "re-read the agent's config file and apply it",
	  RL_CMD_CONFIG_RELOAD, RL_CMD_CHANGES, NULL, NULL, check_none },
	{ "config", "dump", NULL, "", "the running state in config syntax",
	  RL_CMD_CONFIG_DUMP, 0, NULL, NULL, check_none },
	{ "config", "save", NULL, "[FILE]", "write it over the agent's config file (or FILE)",
	  RL_CMD_CONFIG_SAVE, RL_CMD_CHANGES, RL_COMPLETE_FILES, NULL, check_save },
	{ "config", "check", NULL, "FILE", "validate FILE locally (the agent is not needed)",
	  RL_CMD_CONFIG_CHECK, RL_CMD_LOCAL, RL_COMPLETE_FILES, NULL, check_file },
	{ "ping", NULL, NULL, "", "is the agent there", RL_CMD_PING, RL_CMD_HIDDEN,
	  NULL, NULL, check_any },
};
const size_t rl_n_cmds = sizeof(rl_cmds) / sizeof(rl_cmds[0]);

/* Notes printed after an object's commands in its help. */
static const struct {
	const char *obj;
	const char *text;
} notes[] = {
	{ "rule",
	  "A rule NAME is 1-31 characters of [A-Za-z0-9._-].  `src` may be given once\n"
	  "for IPv4 and once for IPv6; without it the rule covers every source.\n"
	  "Changing algo, the rate's period or packets/bytes restarts the rule's\n"
	  "per-source state drained (no new burst); other changes keep it.\n" },
	{ NULL,
	  "RATE: N/s, N/min, N/h (packets) or tc units 10mbit, 500kbit, 1mbps (bytes).\n"
	  "burst: N in the rate's unit; `N packets` for a packet rate, tc sizes 15000b,\n"
	  "       64kb, 1mb (1024-based) for a byte rate.\n"
	  "ALGO: token-bucket, leaky-bucket, fixed-window, sliding-window, sliding-log.\n"
	  "DUR:  500ms, 30s, 10m, 1h, 1d.\n" },
};

/* Values of a rule word, for completion (NULL: nothing to offer). */
static const struct {
	const char *word;
	const char *values;
} word_values[] = {
	{ "proto", "tcp udp icmp icmpv6 any" },
	{ "algo", "token-bucket leaky-bucket fixed-window sliding-window sliding-log" },
	{ "action", "drop monitor mark" },
	{ "per", "source source/24,64 rule" },
	{ "tcp-flags", "syn any" },
	{ "scope", "local cluster" },
	{ "dscp", "none ef le cs0 cs1 cs2 cs3 cs4 cs5 cs6 cs7 af11 af12 af13 af21 af22 af23 "
		  "af31 af32 af33 af41 af42 af43" },
	{ "mark-value", "none" },
	{ "ecn", "on off" },
	{ "src", NULL }, { "dport", NULL }, { "rate", NULL }, { "burst", NULL },
	{ "block-for", NULL }, { "for", NULL },
};

/* obj is one of c's objects ("allow|block" holds two). */
static bool obj_is(const struct rl_cmd *c, const char *obj)
{
	const char *p = c->obj, *bar;
	size_t n = strlen(obj);

	for (;;) {
		bar = strchr(p, '|');
		if ((bar ? (size_t)(bar - p) : strlen(p)) == n && !strncmp(p, obj, n))
			return true;
		if (!bar)
			return false;
		p = bar + 1;
	}
}

bool rl_cmd_is_object(const char *obj)
{
	size_t i;

	for (i = 0; i < rl_n_cmds; i++)
		if (!(rl_cmds[i].flags & RL_CMD_HIDDEN) && obj_is(&rl_cmds[i], obj))
			return true;
	return false;
}

/* Appends w to the ", "-separated list in buf unless it is there. */
static void add_known(char *buf, size_t len, const char *w, size_t wl)
{
	const char *p = buf;
	size_t off = strlen(buf);

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == wl && !strncmp(p, w, wl))
			return;
		p += n;
		p += strspn(p, ", ");
	}
	snprintf(buf + off, len > off ? len - off : 0, "%s%.*s", off ? ", " : "", (int)wl, w);
}

/* "a, b, c": the visible objects, or obj's verbs. */
static void known(char *buf, size_t len, const char *obj)
{
	size_t i;

	buf[0] = 0;
	for (i = 0; i < rl_n_cmds; i++) {
		const struct rl_cmd *c = &rl_cmds[i];
		const char *o = c->obj;

		if (c->flags & RL_CMD_HIDDEN)
			continue;
		if (obj) {
			if (obj_is(c, obj) && c->verb)
				add_known(buf, len, c->verb, strlen(c->verb));
			continue;
		}
		while (*o) {
			size_t n = strcspn(o, "|");

			add_known(buf, len, o, n);
			o += n;
			o += *o == '|';
		}
	}
	if (!obj)
		add_known(buf, len, "help", 4);
}

const struct rl_cmd *rl_cmd_find(int argc, char **argv, struct rl_err *err)
{
	const struct rl_cmd *def = NULL;
	bool obj_known = false;
	char list[256];
	size_t i;

	if (argc < 1) {
		shape(err, "missing OBJECT");
		return NULL;
	}
	for (i = 0; i < rl_n_cmds; i++) {
		const struct rl_cmd *c = &rl_cmds[i];

		if (!obj_is(c, argv[0]))
			continue;
		obj_known = true;
		if (!c->verb)
			return c;
		if (c->flags & RL_CMD_DEFAULT)
			def = c;
		if (argc > 1 && (!strcmp(argv[1], c->verb) || (c->alias && !strcmp(argv[1], c->alias))))
			return c;
	}
	if (!obj_known) {
		known(list, sizeof(list), NULL);
		shape(err, "unknown object '%.*s' (%s)", RL_CUT(argv[0], 64), list);
		return NULL;
	}
	if (argc == 1 && def)
		return def;
	known(list, sizeof(list), argv[0]);
	if (argc == 1)
		shape(err, "%s: missing command (%s)", argv[0], list);
	else
		shape(err, "%s: unknown command '%.*s' (%s)", argv[0], RL_CUT(argv[1], 64), list);
	return NULL;
}

int rl_cmd_parse(int argc, char **argv, const struct rl_cmd **cmd, struct rl_err *err)
{
	const struct rl_cmd *c = rl_cmd_find(argc, argv, err);

	*cmd = c;
	if (!c)
		return 2;
	return c->check(c, argc, argv, err);
}

/* Prints text with every line after the first indented by `ind`. */
static void put_indented(FILE *f, const char *text, int ind)
{
	const char *p = text, *nl;

	for (;;) {
		nl = strchr(p, '\n');
		fprintf(f, "%.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
		if (!nl)
			break;
		p = nl + 1;
		fprintf(f, "%*s", ind, "");
	}
}

void rl_cmd_usage(FILE *f, const char *obj, const char *prog)
{
	size_t i, j;
	bool first = true;

	for (i = 0; i < rl_n_cmds; i++) {
		const struct rl_cmd *c = &rl_cmds[i];
		int n;

		if ((c->flags & RL_CMD_HIDDEN) || (obj && !obj_is(c, obj)))
			continue;
		/* "usage: rlctl rule add ..." for one object, as ip(8) prints */
		n = fprintf(f, "%s%s%s%s%s%s", !prog ? "  " : first ? "usage: " : "       ",
			    prog ? prog : "", prog ? " " : "",
			    obj && strchr(c->obj, '|') ? obj : c->obj,
			    c->verb ? " " : "", c->verb ? c->verb : "");
		first = false;
		/* the words on the first line, continued under them */
		if (*c->args) {
			fputc(' ', f);
			put_indented(f, c->args, n + 1);
		} else {
			fputc('\n', f);
		}
		fprintf(f, "%*s", prog ? 11 : 6, "");
		put_indented(f, c->help, prog ? 11 : 6);
	}
	for (j = 0; j < sizeof(notes) / sizeof(notes[0]); j++)
		if (!obj || (notes[j].obj && !strcmp(notes[j].obj, obj)) ||
		    (!notes[j].obj && !strcmp(obj, "rule"))) {
			fputc('\n', f);
			fputs(notes[j].text, f);
		}
}

/* Emits each space-separated word of list. */
static void emit_words(const char *list, void (*emit)(const char *, void *), void *ctx)
{
	char w[64];
	const char *p = list;
	size_t n;

	while (p && *p) {
		n = strcspn(p, " ");
		if (n && n < sizeof(w)) {
			memcpy(w, p, n);
			w[n] = 0;
			emit(w, ctx);
		}
		p += n;
		p += strspn(p, " ");
	}
}

void rl_cmd_complete(int n, char **words, void (*emit)(const char *, void *), void *ctx)
{
	const struct rl_cmd *c = NULL;
	size_t i, j;
	int first;

	if (n == 0) {          /* the objects */
		for (i = 0; i < rl_n_cmds; i++) {
			const char *o = rl_cmds[i].obj;
			char w[32];

			if (rl_cmds[i].flags & RL_CMD_HIDDEN)
				continue;
			for (j = 0; j < i; j++)
				if (!strcmp(rl_cmds[j].obj, o))
					break;
			if (j < i)
				continue;
			while (*o) {
				snprintf(w, sizeof(w), "%.*s", (int)strcspn(o, "|"), o);
				emit(w, ctx);
				o += strcspn(o, "|");
				o += *o == '|';
			}
		}
		emit("help", ctx);
		return;
	}
	for (i = 0; i < rl_n_cmds; i++)
		if (!(rl_cmds[i].flags & RL_CMD_HIDDEN) && obj_is(&rl_cmds[i], words[0]) &&
		    !rl_cmds[i].verb)
			c = &rl_cmds[i];
	if (!c && n == 1) {    /* the object's verbs */
		for (i = 0; i < rl_n_cmds; i++)
			if (!(rl_cmds[i].flags & RL_CMD_HIDDEN) && obj_is(&rl_cmds[i], words[0]))
				emit(rl_cmds[i].verb, ctx);
		if (rl_cmd_is_object(words[0]))
			emit("help", ctx);
		return;
	}
	if (!c) {
		struct rl_err err;

		c = rl_cmd_find(n, words, &err);
		if (!c || !c->verb)
			return;
	}
	first = c->verb ? 2 : 1;
	if (n == first) {
		if (c->first)
			emit_words(c->first, emit, ctx);
		return;
	}
	if (n < first || !c->words)
		return;
	/* a word's value, or the next keyword (a burst takes a unit too) */
	for (j = 0; j < sizeof(word_values) / sizeof(word_values[0]); j++)
		if (!strcmp(words[n - 1], word_values[j].word)) {
			if (word_values[j].values)
				emit_words(word_values[j].values, emit, ctx);
			if (strcmp(words[n - 1], "ecn"))
				return;
		}
	if (n >= 2 && !strcmp(words[n - 2], "burst") && c->id <= RL_CMD_RULE_CHANGE)
		emit_words("packets b kb mb", emit, ctx);
	emit_words(c->words, emit, ctx);
}
