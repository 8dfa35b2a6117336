// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_rule.c - libFuzzer target for the rule grammar and the word
 * parsers of lib_parse.c.  The input is lines of words split on single
 * spaces (no quoting; two spaces make an empty word, as a JSON argv can):
 *
 *   rule add|change NAME WORDS...   what rlctl checks locally and the agent
 *                                   parses: rl_name_valid, then
 *                                   rl_parse_rule_words (add from the
 *                                   defaults, change from the last rule
 *                                   parsed), rl_rule_validate, rl_compile
 *   allow|block add|del PREFIX [for DUR]
 *   PARSER TEXT                     one word parser (rate, duration, burst,
 *                                   bburst, prefix, proto, ports, algo,
 *                                   action, mark, dscp, onoff, per, name,
 *                                   utf8) on the rest of the line as ONE
 *                                   word, spaces and all
 *   anything else                   `rule change x` words
 *
 * Besides the sanitizers it checks: every refusal has a message that is
 * valid UTF-8 (it ends up in JSON); a prefix or rate that parses formats
 * and parses back to itself; a rule that parses has the burst its words
 * say (as rl_parse_burst reads them) or the datapath's default, and one
 * that validates compiles.
 */
#include "fuzz_util.h"

#include <errno.h>
#include <stdbool.h>

#define MAX_WORDS 64

static void check_prefix(const char *s)
{
	struct rl_prefix p, q;
	struct rl_err e = {};
	char buf[64];

	if (rl_parse_prefix(s, &p, &e)) {
		fuzz_check_msg("prefix", e.msg);
		return;
	}
	if (rl_format_prefix(&p, buf, sizeof(buf)))
		fuzz_die("prefix '%s' parsed but does not format", s);
	if (rl_parse_prefix(buf, &q, &e) || memcmp(&p, &q, sizeof(p)))
		fuzz_die("prefix '%s' -> '%s' does not parse back to itself (%s)", s, buf, e.msg);
}

static void check_rate(const char *s)
{
	struct rl_limit l = {}, m = {};
	struct rl_err e = {};
	bool bytes = false, b2 = false;
	char buf[64];

	if (rl_parse_rate(s, &l, &bytes, &e)) {
		fuzz_check_msg("rate", e.msg);
		return;
	}
	if (!l.rate || !l.period_ns)
		fuzz_die("rate '%s' parsed to %llu per %llu ns", s, (unsigned long long)l.rate,
			 (unsigned long long)l.period_ns);
	if (rl_format_rate(&l, bytes, buf, sizeof(buf)))
		fuzz_die("rate '%s' parsed but does not format", s);
	if (rl_parse_rate(buf, &m, &b2, &e) || memcmp(&l, &m, sizeof(l)) || bytes != b2)
		fuzz_die("rate '%s' -> '%s' does not parse back to itself (%s)", s, buf, e.msg);
}

/* One word parser by name on s; false if there is none of that name. */
static bool parse_value(const char *name, const char *s)
{
	struct rl_err e = {};
	uint64_t u64;
	uint32_t u32;
	uint16_t lo, hi;
	uint8_t u8, p4, p6;
	bool b;
	int ret;

	if (!strcmp(name, "prefix")) {
		check_prefix(s);
		return true;
	}
	if (!strcmp(name, "rate")) {
		check_rate(s);
		return true;
	}
	if (!strcmp(name, "name")) {
		(void)rl_name_valid(s);
		return true;
	}
	if (!strcmp(name, "utf8")) {
		char copy[256];
		size_t n = rl_utf8_prefix(s, 40);

		if (n > 40 || n > strlen(s))
			fuzz_die("rl_utf8_prefix('%s', 40) = %zu", s, n);
		snprintf(copy, sizeof(copy), "%.*s", (int)n, s);
		rl_utf8_sanitize(copy);
		fuzz_check_msg("utf8", copy[0] ? copy : "-");
		return true;
	}
	if (!strcmp(name, "duration"))
		ret = rl_parse_duration(s, &u64, &e);
	else if (!strcmp(name, "burst"))
		ret = rl_parse_burst(s, false, &u64, &e);
	else if (!strcmp(name, "bburst"))
		ret = rl_parse_burst(s, true, &u64, &e);
	else if (!strcmp(name, "proto"))
		ret = rl_parse_proto(s, &u8, &e);
	else if (!strcmp(name, "ports")) {
		ret = rl_parse_ports(s, &lo, &hi, &e);
		if (!ret && (lo > hi || (!lo && hi != 65535)))
			fuzz_die("ports '%s' parsed to %u-%u", s, lo, hi);
	} else if (!strcmp(name, "algo")) {
		ret = rl_parse_algo(s, &u32, &e);
		if (!ret && u32 >= __RL_ALGO_MAX)
			fuzz_die("algo '%s' parsed to %u", s, u32);
	} else if (!strcmp(name, "action"))
		ret = rl_parse_action(s, &u8, &e);
	else if (!strcmp(name, "mark"))
		ret = rl_parse_mark(s, &u32, &e);
	else if (!strcmp(name, "dscp")) {
		ret = rl_parse_dscp(s, &u8, &e);
		if (!ret && u8 > 63)
			fuzz_die("dscp '%s' parsed to %u", s, u8);
	} else if (!strcmp(name, "onoff"))
		ret = rl_parse_onoff(s, &b, &e);
	else if (!strcmp(name, "per")) {
		ret = rl_parse_per(s, &b, &p4, &p6, &e);
		if (!ret && (p4 > 32 || p6 > 128))
			fuzz_die("per '%s' parsed to /%u,%u", s, p4, p6);
	} else
		return false;
	if (ret && ret != -EINVAL)
		fuzz_die("%s '%s': %d, not 0 or -EINVAL", name, s, ret);
	if (ret)
		fuzz_check_msg(name, e.msg);
	return true;
}

/* The rule the last `rule add|change` left, for the next `rule change`. */
static struct rl_rule_spec last;
static bool have_last;

/*
 * A burst the grammar took is what rl_parse_burst (the config's parser)
 * makes of the same text: its value, or value and unit word, joined.
 */
static void check_burst_word(int argc, char **argv, const struct rl_rule_spec *spec)
{
	struct rl_err e = {};
	uint64_t v = 0;
	char *b;
	int i;

	for (i = 0; i + 1 < argc; i++)
		if (!strcmp(argv[i], "burst"))
			break;
	if (i + 1 >= argc)
		return;
	b = malloc(strlen(argv[i + 1]) + (i + 2 < argc ? strlen(argv[i + 2]) : 0) + 2);
	if (!b)
		fuzz_die("out of memory");
	if (i + 2 < argc && rl_burst_unit_word(argv[i + 2]))
		sprintf(b, "%s %s", argv[i + 1], argv[i + 2]);
	else
		strcpy(b, argv[i + 1]);
	if (rl_parse_burst(b, spec->bytes, &v, &e) || v != spec->limit.burst || !spec->burst_set)
		fuzz_die("burst '%s': the grammar took %llu, rl_parse_burst says %llu (%s)", b,
			 (unsigned long long)spec->limit.burst, (unsigned long long)v, e.msg);
	free(b);
}

/* `rule add|change NAME` and its words (argv: the words after NAME). */
static void rule_cmd(const char *name, bool add, int argc, char **argv)
{
	struct rl_rule_spec spec;
	struct rl_compiled out = {};
	struct rl_err e = {};
	uint32_t id = 0, ver = 1u << 16;
	int ret;

	if (!rl_name_valid(name))
		return;
	if (add || !have_last)
		rl_rule_defaults(&spec, NULL);
	else
		spec = last;
	ret = rl_parse_rule_words(argc, argv, &spec, add, &e);
	if (ret) {
		if (ret != -EINVAL)
			fuzz_die("rule words: %d, not 0 or -EINVAL", ret);
		fuzz_check_msg("rule words", e.msg);
		return;
	}
	snprintf(spec.name, sizeof(spec.name), "%s", name);
	check_burst_word(argc, argv, &spec);
	if (!spec.burst_set && spec.limit.burst != rl_rule_burst(&spec))
		fuzz_die("rule %s: default burst %llu, datapath burst %llu", spec.name,
			 (unsigned long long)spec.limit.burst,
			 (unsigned long long)rl_rule_burst(&spec));
	last = spec;
	have_last = true;
	if (rl_rule_validate(&spec, &e)) {
		fuzz_check_msg("rule validate", e.msg);
		return;
	}
	ret = rl_compile(&spec, &id, &ver, 1, &out, &e);
	if (ret)
		fuzz_die("rule %s validates but does not compile: %s", spec.name, e.msg);
	if (out.n < 1)
		fuzz_die("rule %s compiles to no match entry", spec.name);
	rl_compiled_free(&out);
}

static void list_cmd(int argc, char **argv)
{
	struct rl_prefix p;
	struct rl_err e = {};
	uint64_t ns;

	if (argc < 3)
		return;
	if (rl_parse_prefix(argv[2], &p, &e)) {
		fuzz_check_msg("list prefix", e.msg);
		return;
	}
	if (argc == 5 && !strcmp(argv[3], "for") && rl_parse_duration(argv[4], &ns, &e))
		fuzz_check_msg("list duration", e.msg);
}

static void line(char *s)
{
	char *argv[MAX_WORDS + 1], *p = s, *sp;
	int argc = 0;

	sp = strchr(s, ' ');
	if (sp) {
		*sp = 0;
		if (parse_value(s, sp + 1))
			return;
		*sp = ' ';
	}
	for (;;) {
		if (argc == MAX_WORDS)
			return;
		argv[argc++] = p;
		sp = strchr(p, ' ');
		if (!sp)
			break;
		*sp = 0;
		p = sp + 1;
	}
	argv[argc] = NULL;
	if (argc >= 3 && !strcmp(argv[0], "rule") &&
	    (!strcmp(argv[1], "add") || !strcmp(argv[1], "change")))
		rule_cmd(argv[2], !strcmp(argv[1], "add"), argc - 3, argv + 3);
	else if (!strcmp(argv[0], "allow") || !strcmp(argv[0], "block"))
		list_cmd(argc, argv);
	else
		rule_cmd("x", false, argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *s, *nl;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	have_last = false;
	/* a NUL ends the input, as it ends a word */
	for (s = buf; s; s = nl ? nl + 1 : NULL) {
		nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		if (*s)
			line(s);
	}
	free(buf);
	return 0;
}
