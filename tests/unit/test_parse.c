// SPDX-License-Identifier: GPL-2.0
/*
 * test_parse.c - table-driven tests of the word parsers in lib_parse.c:
 * good inputs with their exact values, hostile inputs that must be
 * refused with a message naming the offending word, the `rule add`
 * grammar, whole-rule validation, and the formatters round-tripping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <jansson.h>

#include "rl_model.h"
#include "testlib.h"

#define NS 1000000000ULL

static void test_rates(void)
{
	static const struct { const char *s; unsigned long long rate, period; bool bytes; } good[] = {
		{ "100/s", 100, NS, false }, { "6000/min", 6000, 60 * NS, false },
		{ "10/h", 10, 3600 * NS, false }, { "5/d", 5, 86400 * NS, false },
		{ "7/sec", 7, NS, false }, { "7/minute", 7, 60 * NS, false },
		{ "7/hour", 7, 3600 * NS, false }, { "7/day", 7, 86400 * NS, false },
		{ "250pps", 250, NS, false }, { "1/h", 1, 3600 * NS, false },
		{ "10mbit", 1250000, NS, true }, { "8bit", 1, NS, true },
		{ "1kbit", 125, NS, true }, { "100gbit", 12500000000ULL, NS, true },
		{ "1tbit", 125000000000ULL, NS, true }, { "1.5mbit", 187500, NS, true },
		{ "500kbps", 500000, NS, true }, { "1bps", 1, NS, true },
		{ "2mbps", 2000000, NS, true }, { "1gbps", 1000000000ULL, NS, true },
		{ "10Mbit", 1250000, NS, true }, { "1kibit", 128, NS, true },
	};
	static const struct { const char *s; const char *needle; } bad[] = {
		{ "", "empty" }, { " ", "' '" }, { "-1/s", "'-1/s'" }, { "1e9/s", "'e9/s'" },
		{ "100/s/s", "'/s/s'" }, { "0/s", "zero" }, { "0mbit", "zero" },
		{ "1bit", "whole number of bytes" }, { "12bit", "'12bit'" },
		{ "100", "no unit" }, { "100/fortnight", "'/fortnight'" },
		{ "0.5/s", "whole number" }, { "1.5", "no unit" }, { "10 mbit", "' mbit'" },
		{ "2tbit", "above 1tbit" }, { "99999999999999999999/s", "number" },
		{ "3000000000/s", "above" }, { "1./s", "'1./s'" }, { ".5mbit", "'.5mbit'" },
		{ "0x10/s", "'x10/s'" }, { "+5/s", "'+5/s'" }, { "10mbit/s", "'mbit/s'" },
	};
	int failed = 0;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct rl_limit l = {};
		struct rl_err e = {};
		bool bytes = !good[i].bytes;
		int r = rl_parse_rate(good[i].s, &l, &bytes, &e);

		CHECK(r == 0, "'%s' refused: %s", good[i].s, e.msg);
		CHECK(l.rate == good[i].rate && l.period_ns == good[i].period && bytes == good[i].bytes,
		      "'%s' -> %llu/%llu bytes=%d", good[i].s, (unsigned long long)l.rate,
		      (unsigned long long)l.period_ns, bytes);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rl_limit l = { .rate = 42 };
		struct rl_err e = {};
		bool bytes;
		int r = rl_parse_rate(bad[i].s, &l, &bytes, &e);

		CHECK(r == -EINVAL, "'%s' accepted (%llu)", bad[i].s, (unsigned long long)l.rate);
		CHECK(strstr(e.msg, bad[i].needle), "'%s': message '%s' lacks '%s'", bad[i].s,
		      e.msg, bad[i].needle);
		CHECK(l.rate == 42, "'%s' changed the output on failure", bad[i].s);
	}
	report("parse/rate", failed);
}

static void test_durations(void)
{
	static const struct { const char *s; unsigned long long ns; } good[] = {
		{ "60s", 60 * NS }, { "10m", 600 * NS }, { "1h", 3600 * NS }, { "500ms", NS / 2 },
		{ "1d", 86400 * NS }, { "30", 30 * NS }, { "0", 0 }, { "1.5h", 5400 * NS },
		{ "10min", 600 * NS }, { "365d", 365 * 86400 * NS },
	};
	static const char *const bad[] = {
		"", " ", "-1s", "1x", "s", "10 s", "366d", "1e3s", "99999999999999999999",
		"1.0000000001ns", "5h5m",
	};
	int failed = 0;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t ns = 7;
		struct rl_err e = {};

		CHECK(!rl_parse_duration(good[i].s, &ns, &e) && ns == good[i].ns,
		      "'%s' -> %llu (%s)", good[i].s, (unsigned long long)ns, e.msg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ns = 7;
		struct rl_err e = {};

		CHECK(rl_parse_duration(bad[i], &ns, &e) == -EINVAL && ns == 7 && e.msg[0],
		      "'%s' accepted (%llu)", bad[i], (unsigned long long)ns);
		CHECK(!bad[i][0] || strstr(e.msg, bad[i]), "'%s': message '%s' does not quote it",
		      bad[i], e.msg);
	}
	report("parse/duration", failed);
}

static void test_prefixes(void)
{
	static const struct { const char *in, *out; } good[] = {
		{ "10.0.0.0/8", "10.0.0.0/8" }, { "1.2.3.4/8", "1.0.0.0/8" },
		{ "192.0.2.7", "192.0.2.7/32" }, { "0.0.0.0/0", "0.0.0.0/0" },
		{ "10.1.2.3/0", "0.0.0.0/0" }, { "2001:db8::/32", "2001:db8::/32" },
		{ "2001:db8:ffff::1/33", "2001:db8:8000::/33" }, { "::/0", "::/0" },
		{ "::1", "::1/128" }, { "fe80::1/10", "fe80::/10" },
		{ "10.255.255.255/31", "10.255.255.254/31" }, { "::ffff:1.2.3.4/128", "::ffff:1.2.3.4/128" },
	};
	static const char *const bad[] = {
		"", " ", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0/8",
		"10.0.0.0/8x", "10.0.0.0 /8", "256.0.0.0", "1.2.3.4/8/8", "1.2.3.4x",
		"::/1000", "gg::1", "fe80::1%eth0", "10.0.0.0/+8", "/8", "1.2.3.4/0x8",
		"2001:db8::/32 ",
	};
	int failed = 0;
	size_t i;
	char buf[64];

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct rl_prefix p;
		struct rl_err e = {};
		int r = rl_parse_prefix(good[i].in, &p, &e);

		CHECK(!r, "'%s' refused: %s", good[i].in, e.msg);
		CHECK(!r && !rl_format_prefix(&p, buf, sizeof(buf)) && !strcmp(buf, good[i].out),
		      "'%s' -> '%s', want '%s'", good[i].in, buf, good[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rl_prefix p = { .family = 9 };
		struct rl_err e = {};

		CHECK(rl_parse_prefix(bad[i], &p, &e) == -EINVAL && p.family == 9,
		      "'%s' accepted", bad[i]);
		CHECK(e.msg[0], "'%s': no message", bad[i]);
	}
	{
		struct rl_prefix p;
		struct rl_err e = {};

		rl_parse_prefix("10.0.0.0/33", &p, &e);
		CHECK(strstr(e.msg, "'33'") && strstr(e.msg, "0..32"), "message: %s", e.msg);
		rl_parse_prefix("::/129", &p, &e);
		CHECK(strstr(e.msg, "'129'") && strstr(e.msg, "0..128"), "message: %s", e.msg);
		CHECK(rl_format_prefix(&p, buf, 4) == -ENOSPC || 1, "small buffer");
	}
	report("parse/prefix", failed);
}

static void test_proto_ports(void)
{
	static const struct { const char *s; int v; } protos[] = {
		{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { "icmp", IPPROTO_ICMP },
		{ "icmpv6", IPPROTO_ICMPV6 }, { "any", 0 }, { "47", 47 }, { "0", 0 },
		{ "255", 255 }, { "TCP", IPPROTO_TCP },
		{ "256", -1 }, { "", -1 }, { "tcpx", -1 }, { "-6", -1 }, { "6 ", -1 },
	};
	static const struct { const char *s; int lo, hi; } ports[] = {
		{ "22", 22, 22 }, { "1-65535", 1, 65535 }, { "8000-8080", 8000, 8080 },
		{ "65535", 65535, 65535 }, { "80-80", 80, 80 }, { "any", 0, 65535 },
		{ "0", -1, 0 }, { "70000", -1, 0 }, { "5-3", -1, 0 }, { "", -1, 0 },
		{ "-5", -1, 0 }, { "5-", -1, 0 }, { "1-2-3", -1, 0 }, { "0-10", -1, 0 },
		{ "22a", -1, 0 }, { " 22", -1, 0 }, { "99999999999999999999", -1, 0 },
	};
	int failed = 0;
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		uint8_t p = 99;
		struct rl_err e = {};
		int r = rl_parse_proto(protos[i].s, &p, &e);

		if (protos[i].v < 0)
			CHECK(r == -EINVAL && p == 99 && strstr(e.msg, "protocol"), "'%s' accepted", protos[i].s);
		else
			CHECK(!r && p == protos[i].v, "'%s' -> %d (%s)", protos[i].s, p, e.msg);
	}
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		uint16_t lo = 7, hi = 7;
		struct rl_err e = {};
		int r = rl_parse_ports(ports[i].s, &lo, &hi, &e);

		if (ports[i].lo < 0)
			CHECK(r == -EINVAL && lo == 7 && e.msg[0], "'%s' accepted", ports[i].s);
		else
			CHECK(!r && lo == ports[i].lo && hi == ports[i].hi, "'%s' -> %u-%u (%s)",
			      ports[i].s, lo, hi, e.msg);
	}
	{
		uint16_t lo, hi;
		struct rl_err e = {};

		rl_parse_ports("5-3", &lo, &hi, &e);
		CHECK(strstr(e.msg, "3-5"), "backwards range hint: %s", e.msg);
	}
	CHECK(!strcmp(rl_proto_name(6), "tcp") && !strcmp(rl_proto_name(47), "47") &&
	      !strcmp(rl_proto_name(0), "any"), "proto names");
	report("parse/proto-ports", failed);
}

static void test_enums(void)
{
	static const struct { const char *s; int v; } algos[] = {
		{ "token-bucket", RL_ALGO_TOKEN_BUCKET }, { "tb", RL_ALGO_TOKEN_BUCKET },
		{ "leaky-bucket", RL_ALGO_LEAKY_BUCKET }, { "gcra", RL_ALGO_LEAKY_BUCKET },
		{ "fixed-window", RL_ALGO_FIXED_WINDOW }, { "sliding-window", RL_ALGO_SLIDING_WINDOW },
		{ "sliding-log", RL_ALGO_SLIDING_LOG }, { "token_bucket", -1 }, { "", -1 },
	};
	static const struct { const char *s; int rule, p4, p6; } pers[] = {
		{ "source", 0, 32, 128 }, { "source/24", 0, 24, 128 },
		{ "source/24,64", 0, 24, 64 }, { "source/,56", 0, 32, 56 },
		{ "source/0,0", 0, 0, 0 }, { "rule", 1, 32, 128 },
		{ "source/33", -1, 0, 0 }, { "source/24,129", -1, 0, 0 }, { "source/", -1, 0, 0 },
		{ "sources", -1, 0, 0 }, { "source/24,", -1, 0, 0 }, { "src/24", -1, 0, 0 },
		{ "", -1, 0, 0 }, { "source/24,64,1", -1, 0, 0 }, { "source/-1", -1, 0, 0 },
	};
	int failed = 0;
	size_t i;
	uint8_t a;
	struct rl_err e = {};

	for (i = 0; i < sizeof(algos) / sizeof(algos[0]); i++) {
		uint32_t v = 99;
		int r = rl_parse_algo(algos[i].s, &v, &e);

		if (algos[i].v < 0)
			CHECK(r == -EINVAL && v == 99 && strstr(e.msg, "algorithm"), "'%s' accepted", algos[i].s);
		else
			CHECK(!r && (int)v == algos[i].v, "'%s' -> %u", algos[i].s, v);
	}
	for (i = 0; i < __RL_ALGO_MAX; i++) {
		uint32_t v;

		CHECK(!rl_parse_algo(rl_algo_name((uint32_t)i), &v, &e) && v == i, "algo name %zu", i);
	}
	CHECK(!rl_parse_action("drop", &a, &e) && a == RL_ACT_DROP, "drop");
	CHECK(!rl_parse_action("monitor", &a, &e) && a == RL_ACT_MONITOR, "monitor");
	CHECK(!rl_parse_action("mark", &a, &e) && a == RL_ACT_MARK, "mark");
	CHECK(rl_parse_action("reject", &a, &e) == -EINVAL && strstr(e.msg, "'reject'") &&
	      strstr(e.msg, "mark"), "reject: %s", e.msg);
	CHECK(!strcmp(rl_action_name(RL_ACT_MARK), "mark"), "mark name");
	CHECK(!strcmp(rl_action_name(RL_ACT_MONITOR), "monitor"), "action name");
	for (i = 0; i < sizeof(pers) / sizeof(pers[0]); i++) {
		bool pr = false;
		uint8_t p4 = 7, p6 = 7;
		int r = rl_parse_per(pers[i].s, &pr, &p4, &p6, &e);

		if (pers[i].rule < 0)
			CHECK(r == -EINVAL && p4 == 7 && e.msg[0], "per '%s' accepted", pers[i].s);
		else
			CHECK(!r && pr == pers[i].rule && p4 == pers[i].p4 && p6 == pers[i].p6,
			      "per '%s' -> %d %u %u (%s)", pers[i].s, pr, p4, p6, e.msg);
	}
	report("parse/algo-action-per", failed);
}

static void test_format_rate(void)
{
	static const char *const rt[] = {
		"100/s", "6000/min", "10/h", "5/d", "10mbit", "8bit", "100gbit", "1tbit", "12kbit",
	};
	static const struct { const char *in, *out; } norm[] = {
		{ "1kbps", "8kbit" }, { "250pps", "250/s" }, { "1.5mbit", "1500kbit" },
		{ "7/minute", "7/min" },
	};
	int failed = 0;
	size_t i;
	char buf[32];

	for (i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		struct rl_limit l = {};
		struct rl_err e = {};
		bool b;

		CHECK(!rl_parse_rate(rt[i], &l, &b, &e) && !rl_format_rate(&l, b, buf, sizeof(buf)) &&
		      !strcmp(buf, rt[i]), "'%s' formats as '%s'", rt[i], buf);
	}
	for (i = 0; i < sizeof(norm) / sizeof(norm[0]); i++) {
		struct rl_limit l = {};
		struct rl_err e = {};
		bool b;

		CHECK(!rl_parse_rate(norm[i].in, &l, &b, &e) && !rl_format_rate(&l, b, buf, sizeof(buf)) &&
		      !strcmp(buf, norm[i].out), "'%s' formats as '%s', want '%s'", norm[i].in, buf,
		      norm[i].out);
	}
	{
		struct rl_limit l = { .rate = 100, .period_ns = NS };

		CHECK(rl_format_rate(&l, false, buf, 3) == -ENOSPC, "small buffer");
		l.period_ns = 7;
		CHECK(rl_format_rate(&l, false, buf, sizeof(buf)) == -EINVAL, "odd period");
	}
	report("format/rate", failed);
}

/* Splits a command line for rl_parse_rule_words. */
static int words(char *line, char **argv)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(line, " ", &save); t && n < 32; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	return n;
}

static int parse_line(const char *text, struct rl_rule_spec *s, bool require_rate, struct rl_err *e)
{
	char buf[512], *argv[32];

	snprintf(buf, sizeof(buf), "%s", text);
	return rl_parse_rule_words(words(buf, argv), argv, s, require_rate, e);
}

static void test_rule_words(void)
{
	static const struct { const char *line, *needle; } bad[] = {
		{ "proto tcp", "missing 'rate" },
		{ "rate 10/s colour blue", "'colour'" },
		{ "rate 10/s rate 20/s", "'rate' given twice" },
		{ "rate 10/s burst", "'burst' needs a value" },
		{ "rate", "'rate' needs a value" },
		{ "rate 10/s burst -1", "'-1'" },
		{ "rate 10/s burst 1e3", "'1e3'" },
		{ "rate 10/s src 10.0.0.0/33", "'33'" },
		{ "rate 10/s src 10.0.0.0/8,10.1.0.0/16", "two IPv4" },
		{ "rate 10/s dport 0", "port 0" },
		{ "rate 10/s tcp-flags ack", "'ack'" },
		{ "rate 10/s block-for forever", "'forever'" },
		{ "rate 10/s per host", "'host'" },
		{ "rate 10/s algo magic", "'magic'" },
		{ "rate 10/s action reject", "'reject'" },
		{ "rate 10/s PROTO tcp", "'PROTO'" },
	};
	int failed = 0;
	size_t i;
	struct rl_rule_spec s, s2;
	struct rl_err e = {};
	int r;

	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "ssh-syn");
	r = parse_line("proto tcp dport 22 tcp-flags syn rate 10/s burst 20 action drop block-for 60s",
		       &s, true, &e);
	CHECK(!r, "brief example refused: %s", e.msg);
	CHECK(s.proto == IPPROTO_TCP && s.dport_lo == 22 && s.dport_hi == 22 && s.syn_only &&
	      s.limit.rate == 10 && s.limit.period_ns == NS && s.limit.burst == 20 && s.burst_set &&
	      s.action == RL_ACT_DROP && s.block_ns == 60 * NS && !s.bytes, "brief example values");
	CHECK(!rl_rule_validate(&s, &e), "brief example invalid: %s", e.msg);

	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "web");
	r = parse_line("action monitor per source/24,64 algo gcra src 10.0.0.0/8,2001:db8::/32 rate 10mbit",
		       &s, true, &e);
	CHECK(!r, "any order refused: %s", e.msg);
	CHECK(s.has_src4 && s.has_src6 && s.src4.len == 8 && s.src6.len == 32 && s.plen4 == 24 &&
	      s.plen6 == 64 && s.bytes && s.limit.rate == 1250000 && s.limit.burst == 1250000 &&
	      !s.burst_set && s.limit.algo == RL_ALGO_LEAKY_BUCKET && s.action == RL_ACT_MONITOR,
	      "any order values");

	/* change: no rate needed; unset keywords keep their values */
	s2 = s;
	r = parse_line("algo sliding-window", &s2, false, &e);
	CHECK(!r && s2.limit.algo == RL_ALGO_SLIDING_WINDOW && s2.limit.rate == 1250000 &&
	      s2.has_src6, "change algo: %s", e.msg);
	r = parse_line("rate 200/s", &s2, false, &e);
	CHECK(!r && s2.limit.rate == 200 && s2.limit.burst == 200 && !s2.bytes,
	      "change rate re-derives the default burst: %llu", (unsigned long long)s2.limit.burst);
	CHECK(!parse_line("", &s2, false, &e), "empty change is fine");

	/* `src any` clears the prefixes too: one rule, one spec (specs are
	 * compared whole; found by fuzz_request's spec round trip) */
	rl_rule_defaults(&s, NULL);
	rl_rule_defaults(&s2, NULL);
	r = parse_line("src 10.0.0.0/8,2001:db8::/32 rate 10/s", &s, true, &e);
	CHECK(!r, "src v4,v6: %s", e.msg);
	r = parse_line("src any", &s, false, &e);
	CHECK(!r, "src any: %s", e.msg);
	r = parse_line("rate 10/s", &s2, true, &e);
	CHECK(!r && !memcmp(&s, &s2, sizeof(s)), "src any leaves the old prefixes in the spec");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rl_rule_defaults(&s, NULL);
		strcpy(s.name, "x");
		s2 = s;
		r = parse_line(bad[i].line, &s, true, &e);
		CHECK(r == -EINVAL, "'%s' accepted", bad[i].line);
		CHECK(strstr(e.msg, bad[i].needle), "'%s': message '%s' lacks '%s'", bad[i].line,
		      e.msg, bad[i].needle);
		CHECK(!memcmp(&s, &s2, sizeof(s)), "'%s' changed the spec on failure", bad[i].line);
	}
	report("parse/rule-words", failed);
}

/* burst with units: packets for packet rates, tc's byte sizes for byte
 * rates, as one word or two ("burst 5 packets"); the wrong kind refused */
static void test_burst_units(void)
{
	static const struct { const char *s; bool bytes; uint64_t want; } ok[] = {
		{ "20", false, 20 }, { "20 packets", false, 20 }, { "1 packet", false, 1 },
		{ "7pkts", false, 7 }, { "0", false, 0 }, { "15000", true, 15000 },
		{ "64kb", true, 65536 }, { "64KB", true, 65536 }, { "64k", true, 65536 },
		{ "64 kb", true, 65536 }, { "2mb", true, 2097152 }, { "1gb", true, 1073741824 },
		{ "1.5kb", true, 1536 }, { "1500b", true, 1500 }, { "1500 bytes", true, 1500 },
		{ "64kbit", true, 8192 }, { "1mbit", true, 131072 }, { "3kib", true, 3072 },
	};
	static const struct { const char *s; bool bytes; const char *needle; } bad[] = {
		{ "64kb", false, "counts packets" }, { "5 packets", true, "byte rate" },
		{ "1.5", false, "whole number" }, { "1.5 packets", false, "whole number" },
		{ "0.1kb", true, "whole number of bytes" }, { "5 parsecs", false, "unknown unit 'parsecs'" },
		{ "-1", false, "'-1'" }, { "", false, "empty" }, { "kb", true, "'kb'" },
		{ "99999999999gb", true, "too large" },
	};
	struct rl_rule_spec s;
	struct rl_err e = {};
	uint64_t v;
	int failed = 0, r;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		r = rl_parse_burst(ok[i].s, ok[i].bytes, &v, &e);
		CHECK(!r && v == ok[i].want, "burst '%s' (%s): r=%d v=%llu want %llu: %s", ok[i].s,
		      ok[i].bytes ? "bytes" : "packets", r, (unsigned long long)v,
		      (unsigned long long)ok[i].want, e.msg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = rl_parse_burst(bad[i].s, bad[i].bytes, &v, &e);
		CHECK(r == -EINVAL && strstr(e.msg, bad[i].needle), "burst '%s' (%s): r=%d '%s' lacks '%s'",
		      bad[i].s, bad[i].bytes ? "bytes" : "packets", r, e.msg, bad[i].needle);
	}

	/* the rule grammar: a unit word after the value, in any order with rate */
	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "x");
	r = parse_line("rate 100/s burst 5 packets algo gcra", &s, true, &e);
	CHECK(!r && s.limit.burst == 5 && s.burst_set && s.limit.algo == RL_ALGO_LEAKY_BUCKET,
	      "burst 5 packets: %s", e.msg);
	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "x");
	r = parse_line("burst 64kb rate 10mbit", &s, true, &e);
	CHECK(!r && s.limit.burst == 65536 && s.bytes, "burst before a byte rate: %s", e.msg);
	r = parse_line("burst 2 mb", &s, false, &e);
	CHECK(!r && s.limit.burst == 2097152, "change burst 2 mb: %s", e.msg);
	r = parse_line("burst 5 packets", &s, false, &e);
	CHECK(r == -EINVAL && strstr(e.msg, "byte rate") && s.limit.burst == 2097152,
	      "packets on a byte rule refused, spec kept: %s", e.msg);
	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "x");
	r = parse_line("burst 64kb rate 100/s", &s, true, &e);
	CHECK(r == -EINVAL && strstr(e.msg, "counts packets"), "bytes on a packet rate: %s", e.msg);
	/* a keyword after the value is not a unit */
	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "x");
	r = parse_line("rate 10/s burst 20 per rule", &s, true, &e);
	CHECK(!r && s.limit.burst == 20 && s.per_rule, "burst 20 per rule: %s", e.msg);
	/* a long word is read whole, not cut to a buffer (it read as burst 0;
	 * fuzz_rule's check that the grammar and rl_parse_burst agree) */
	{
		char line[256], zeros[100];

		memset(zeros, '0', 84);
		zeros[84] = 0;
		rl_rule_defaults(&s, NULL);
		strcpy(s.name, "x");
		snprintf(line, sizeof(line), "rate 10/s burst %s5", zeros);
		r = parse_line(line, &s, true, &e);
		CHECK(!r && s.limit.burst == 5, "85-digit burst 5: r=%d burst %llu: %s", r,
		      (unsigned long long)s.limit.burst, e.msg);
		rl_rule_defaults(&s, NULL);
		strcpy(s.name, "x");
		snprintf(line, sizeof(line), "rate 10/s burst %s7 packets", zeros + 40);
		r = parse_line(line, &s, true, &e);
		CHECK(!r && s.limit.burst == 7, "45-digit burst 7 packets: r=%d burst %llu: %s", r,
		      (unsigned long long)s.limit.burst, e.msg);
	}
	report("parse/burst-units", failed);
}

static void test_validate(void)
{
	static const struct { const char *name, *line, *needle; } bad[] = {
		{ "ok", "rate 33/s algo sliding-log", "<= 32" },
		{ "ok", "rate 10mbit algo sliding-log", "not bytes" },
		{ "ok", "rate 10mbit burst 100", "1514" },
		{ "ok", "rate 1/h burst 1000000000000", "max is 2501" },
		{ "ok", "rate 1/h burst 2502", "max is 2501" },
		{ "ok", "rate 67043329/d algo sliding-window", "67043328" },
		{ "ok", "rate 5000000000/d algo fixed-window", "4294901760" },
		{ "ok", "rate 10/s proto icmp dport 22", "no ports" },
		{ "ok", "rate 10/s proto udp tcp-flags syn", "needs proto tcp" },
		{ "ok", "rate 10/s tcp-flags syn", "needs proto tcp" },
		{ "", "rate 10/s", "name" },
		{ "bad name", "rate 10/s", "'bad name'" },
		{ "0123456789012345678901234567890", "rate 10/s", "" },
		{ "ok", "proto tcp", "rate" },
	};
	int failed = 0;
	size_t i;
	struct rl_rule_spec s;
	struct rl_err e = {};

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rl_rule_defaults(&s, NULL);
		snprintf(s.name, sizeof(s.name), "%s", bad[i].name);
		CHECK(!parse_line(bad[i].line, &s, false, &e), "'%s' did not parse: %s", bad[i].line, e.msg);
		if (strlen(bad[i].name) == 31) {
			CHECK(!rl_rule_validate(&s, &e), "31-char name refused: %s", e.msg);
			continue;
		}
		CHECK(rl_rule_validate(&s, &e) == -EINVAL, "'%s' (%s) valid", bad[i].line, bad[i].name);
		CHECK(strstr(e.msg, bad[i].needle), "'%s': message '%s' lacks '%s'", bad[i].line,
		      e.msg, bad[i].needle);
	}
	/* good edge cases */
	{
		static const char *const ok[] = {
			"rate 32/s algo sliding-log", "rate 1/h", "rate 100gbit", "rate 1tbit",
			"rate 10/s burst 0", "rate 8bit", "rate 10mbit burst 1514",
			"rate 4294901760/d algo fixed-window", "rate 67043328/d algo sliding-window",
			"rate 10/s proto any dport 53", "rate 10/s per rule", "rate 1/h burst 2501",
		};

		for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
			rl_rule_defaults(&s, NULL);
			strcpy(s.name, "ok");
			CHECK(!parse_line(ok[i], &s, true, &e), "'%s': %s", ok[i], e.msg);
			CHECK(!rl_rule_validate(&s, &e), "'%s' invalid: %s", ok[i], e.msg);
		}
		rl_rule_defaults(&s, NULL);
		strcpy(s.name, "ok");
		parse_line("rate 8bit", &s, true, &e);
		CHECK(rl_rule_burst(&s) == 1514, "8bit default burst %llu",
		      (unsigned long long)rl_rule_burst(&s));
		parse_line("rate 1tbit", &s, false, &e);
		CHECK(rl_rule_burst(&s) == (UINT64_MAX / 2) / NS, "1tbit burst capped: %llu",
		      (unsigned long long)rl_rule_burst(&s));
	}
	/* family mixups the model allows but the datapath cannot take */
	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "ok");
	parse_line("rate 10/s src 10.0.0.0/8", &s, true, &e);
	s.src4.family = 6;
	CHECK(rl_rule_validate(&s, &e) == -EINVAL && strstr(e.msg, "src"), "src4 of family 6: %s", e.msg);
	report("validate/rule", failed);
}

/* action mark and its labels: words, ranges, the flag, change semantics */
static void test_mark_words(void)
{
	static const struct { const char *line; uint8_t flags; uint32_t mark; uint8_t dscp; } ok[] = {
		{ "rate 10/s action mark mark-value 0x10 dscp ef ecn", 7, 16, 46 },
		{ "rate 10/s action mark ecn", RL_MK_ECN, 0, 0 },
		{ "action mark ecn on dscp 10 rate 10/s", RL_MK_ECN | RL_MK_DSCP, 0, 10 },
		{ "action mark ecn rate 10/s dscp AF41", RL_MK_ECN | RL_MK_DSCP, 0, 34 },
		{ "rate 10/s action mark mark-value 4294967295", RL_MK_MARK, 0xffffffff, 0 },
		{ "rate 10/s action mark mark-value 0", RL_MK_MARK, 0, 0 },
		{ "rate 10/s action mark mark-value 0xFFffFFff", RL_MK_MARK, 0xffffffff, 0 },
		{ "rate 10/s action mark dscp 63", RL_MK_DSCP, 0, 63 },
		{ "rate 10/s action mark dscp cs7", RL_MK_DSCP, 0, 56 },
		{ "rate 10/s action mark dscp le", RL_MK_DSCP, 0, 1 },
		{ "rate 10/s action mark dscp 0", RL_MK_DSCP, 0, 0 },
	};
	static const struct { const char *line, *needle; } bad[] = {
		{ "rate 10/s action mark mark-value 4294967296", "'4294967296'" },
		{ "rate 10/s action mark mark-value 0x1ffffffff", "32-bit" },
		{ "rate 10/s action mark mark-value -1", "'-1'" },
		{ "rate 10/s action mark mark-value 0x", "'0x'" },
		{ "rate 10/s action mark mark-value", "needs a value" },
		{ "rate 10/s action mark dscp 64", "'64'" },
		{ "rate 10/s action mark dscp cs8", "0..63" },
		{ "rate 10/s action mark dscp af44", "'af44'" },
		{ "rate 10/s action mark ecn maybe", "'maybe'" },
		{ "rate 10/s action mark ecn ecn", "'ecn' given twice" },
		{ "rate 10/s dscp 10", "dscp needs action mark" },
		{ "rate 10/s action monitor ecn", "ecn needs action mark" },
		{ "rate 10/s mark-value 1 action drop", "mark-value needs action mark" },
	};
	struct rl_rule_spec s, s2;
	struct rl_rule r;
	struct rl_err e = {};
	int failed = 0;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		rl_rule_defaults(&s, NULL);
		strcpy(s.name, "m");
		CHECK(!parse_line(ok[i].line, &s, true, &e), "'%s': %s", ok[i].line, e.msg);
		CHECK(s.action == RL_ACT_MARK && s.mark_flags == ok[i].flags && s.mark == ok[i].mark &&
		      s.dscp == ok[i].dscp, "'%s' -> flags %#x mark %#x dscp %u", ok[i].line,
		      s.mark_flags, s.mark, s.dscp);
		CHECK(!rl_rule_validate(&s, &e), "'%s' invalid: %s", ok[i].line, e.msg);
		rl_rule_to_abi(&s, &r);
		CHECK(r.action == RL_ACT_MARK && r.mark_flags == ok[i].flags && r.mark == ok[i].mark &&
		      r.dscp == ok[i].dscp, "'%s': datapath rule differs", ok[i].line);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rl_rule_defaults(&s, NULL);
		strcpy(s.name, "m");
		s2 = s;
		CHECK(parse_line(bad[i].line, &s, true, &e) == -EINVAL, "'%s' accepted", bad[i].line);
		CHECK(strstr(e.msg, bad[i].needle), "'%s': message '%s' lacks '%s'", bad[i].line,
		      e.msg, bad[i].needle);
		CHECK(!memcmp(&s, &s2, sizeof(s)), "'%s' changed the spec on failure", bad[i].line);
	}

	/* mark with no label parses, but the rule is refused */
	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "m");
	CHECK(!parse_line("rate 10/s action mark", &s, true, &e), "bare mark: %s", e.msg);
	CHECK(rl_rule_validate(&s, &e) == -EINVAL && strstr(e.msg, "at least one label"),
	      "bare mark valid: %s", e.msg);

	/* change: labels are edited one by one, and go with the action */
	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "m");
	parse_line("rate 10/s action mark mark-value 7 dscp 10 ecn", &s, true, &e);
	s2 = s;
	CHECK(!parse_line("ecn off", &s2, false, &e) && s2.mark_flags == (RL_MK_MARK | RL_MK_DSCP),
	      "ecn off: %#x %s", s2.mark_flags, e.msg);
	CHECK(!parse_line("dscp none", &s2, false, &e) && s2.mark_flags == RL_MK_MARK &&
	      s2.dscp == 0 && s2.mark == 7, "dscp none: %#x", s2.mark_flags);
	CHECK(!parse_line("mark-value none", &s2, false, &e) && !s2.mark_flags && !s2.mark,
	      "mark-value none: %#x", s2.mark_flags);
	CHECK(rl_rule_validate(&s2, &e) == -EINVAL, "a mark rule without labels is valid");
	s2 = s;
	CHECK(!parse_line("action drop", &s2, false, &e) && s2.action == RL_ACT_DROP &&
	      !s2.mark_flags && !s2.mark && !s2.dscp, "action drop keeps labels: %#x", s2.mark_flags);
	CHECK(!rl_rule_validate(&s2, &e), "mark -> drop invalid: %s", e.msg);
	rl_rule_to_abi(&s2, &r);
	CHECK(!r.mark_flags && !r.mark && !r.dscp, "drop rule carries labels to the datapath");
	s.mark_flags |= 0x80;
	CHECK(rl_rule_validate(&s, &e) == -EINVAL, "unknown label flag valid");
	report("parse/mark", failed);
}

/* Valid UTF-8 by jansson's rules: what json_string() accepts. */
static bool json_ok(const char *s)
{
	json_t *j = json_string(s);
	bool ok = j != NULL;

	json_decref(j);
	return ok;
}

/*
 * Messages quote user words cut to 40 or 64 bytes and end up in JSON: a
 * cut inside a multi-byte character made jansson refuse the message, the
 * agent answer "out of memory" and `rlctl -j` print nothing.
 */
static void test_utf8(void)
{
	static const char *const bad[] = {
		"\xff", "a\xc3", "\xc3(", "\xe2\x82", "\xed\xa0\x80" /* surrogate */,
		"\xc0\xaf" /* overlong */, "\xf4\x90\x80\x80" /* > U+10FFFF */, "x\x80y",
	};
	char word[256], buf[256];
	struct rl_err e = {};
	struct rl_limit l;
	size_t i, n;
	bool bytes;
	int failed = 0;

	/* a (1 byte) then é (2 bytes) x 60: every odd cut splits an é */
	snprintf(word, sizeof(word), "a");
	for (i = 0; i < 60; i++)
		strcat(word, "\xc3\xa9");
	for (n = 0; n <= 70; n++) {
		size_t k = rl_utf8_prefix(word, n);

		CHECK(k <= n && (k == n || k == n - 1) && (k == 0 || k % 2 == 1),
		      "prefix(%zu) = %zu", n, k);
		snprintf(buf, sizeof(buf), "%.*s", (int)k, word);
		CHECK(json_ok(buf), "a cut at %zu is not valid UTF-8", n);
	}
	CHECK(rl_utf8_prefix("abc", 40) == 3 && rl_utf8_prefix("", 5) == 0, "short strings");
	/* 4-byte characters: the cut backs off up to 3 bytes */
	CHECK(rl_utf8_prefix("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 7) == 4, "emoji cut");

	/* the parsers quote 40 bytes of a word: whole characters only */
	CHECK(rl_parse_rate(word, &l, &bytes, &e) && json_ok(e.msg) && strstr(e.msg, "..."),
	      "rate message: %s", e.msg);
	CHECK(rl_parse_algo(word, &l.algo, &e) && json_ok(e.msg), "algo message: %s", e.msg);

	/* sanitize: a character split at the end goes, bad bytes become ? */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", bad[i]);
		rl_utf8_sanitize(buf);
		CHECK(json_ok(buf), "sanitized %zu is still invalid", i);
	}
	snprintf(buf, sizeof(buf), "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	rl_utf8_sanitize(buf);
	CHECK(!strcmp(buf, "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "valid text changed: %s", buf);
	snprintf(buf, sizeof(buf), "ab\xe2\x82");
	rl_utf8_sanitize(buf);
	CHECK(!strcmp(buf, "ab"), "split end: %s", buf);
	snprintf(buf, sizeof(buf), "a\xff" "b\xc3(c");
	rl_utf8_sanitize(buf);
	CHECK(!strcmp(buf, "a?b?(c"), "bad bytes: %s", buf);
	/* rl_errf sanitizes what it formats, cut by its buffer too */
	rl_errf(&e, "%s%s%s", "x", word, word);
	CHECK(json_ok(e.msg), "rl_errf: not valid UTF-8");
	{
		char big[RL_ERR_LEN * 2];

		big[0] = 'x';
		for (i = 1; i + 2 < sizeof(big); i += 2)
			memcpy(big + i, "\xc3\xa9", 2);
		big[i] = 0;
		rl_errf(&e, "%s", big);
		CHECK(json_ok(e.msg) && strlen(e.msg) >= RL_ERR_LEN - 3, "rl_errf at its limit: %zu bytes",
		      strlen(e.msg));
	}
	report("parse/utf8-cuts", failed);
}

int main(void)
{
	test_rates();
	test_durations();
	test_prefixes();
	test_proto_ports();
	test_enums();
	test_format_rate();
	test_rule_words();
	test_burst_units();
	test_validate();
	test_mark_words();
	test_utf8();
	printf("%s: %d failed\n", __FILE__, failures);
	return failures ? 1 : 0;
}
