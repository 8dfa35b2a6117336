// SPDX-License-Identifier: GPL-2.0
/*
 * test_config.c - the YAML loader (lib_config.c): a full valid config, then
 * hostile files, each of which must be refused with a message that names
 * the file, the right line and the offending key or value, and must leave
 * the caller's config untouched.  Temp files go to $TMPDIR (or /tmp);
 * the sample configs in tests/configs/ are read relative to the repo root.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include "rl_model.h"
#include "testlib.h"

#define NS 1000000000ULL

static char tmpdir[256];

static const char *write_tmp(const char *name, const void *data, size_t len)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	if (!f)
		return NULL;
	fwrite(data, 1, len, f);
	fclose(f);
	return path;
}

static const char *repo_file(const char *rel)
{
	static char path[512];
	const char *here = __FILE__;   /* tests/unit/test_config.c from the repo root */
	const char *cut = strstr(here, "tests/unit/");

	snprintf(path, sizeof(path), "%.*s%s", cut ? (int)(cut - here) : 0, here, rel);
	return path;
}

static void test_good(void)
{
	struct rl_config c;
	struct rl_err e = {};
	int failed = 0, r;
	const struct rl_rule_spec *ssh, *web, *dns, *login, *global;

	r = rl_config_load(repo_file("tests/configs/good.yaml"), &c, &e);
	CHECK(!r, "good.yaml refused: %s", e.msg);
	if (r) {
		report("config/good", failed);
		return;
	}
	CHECK(c.n_ifaces == 2 && !strcmp(c.ifaces[0].name, "eth0") && c.ifaces[0].xdp_mode == 0 &&
	      !strcmp(c.ifaces[1].name, "veth1") && c.ifaces[1].xdp_mode == 2, "interfaces");
	CHECK(c.defaults.plen4 == 32 && c.defaults.plen6 == 64 && c.defaults.on_full == RL_FULL_EVICT &&
	      c.defaults.state_entries == 1048576 && c.defaults.coarse_clock &&
	      c.defaults.xdp_attach == 0 && c.defaults.xdp_prio == 25, "defaults");
	CHECK(!strcmp(c.metrics, "[::1]:9471"), "metrics '%s'", c.metrics);
	CHECK(c.n_allow == 2 && c.allow[1].pfx.family == 6 && c.allow[1].pfx.len == 48, "allowlist");
	CHECK(c.n_block == 1 && c.block[0].pfx.len == 32 && c.block[0].expires_ns == 0, "blocklist");
	CHECK(c.n_rules == 5, "%d rules", c.n_rules);
	if (c.n_rules == 5) {
		ssh = &c.rules[0];
		web = &c.rules[1];
		dns = &c.rules[2];
		login = &c.rules[3];
		global = &c.rules[4];
		CHECK(!strcmp(ssh->name, "ssh-syn") && ssh->proto == IPPROTO_TCP && ssh->syn_only &&
		      ssh->dport_lo == 22 && ssh->dport_hi == 22 && ssh->limit.rate == 10 &&
		      ssh->limit.burst == 20 && ssh->burst_set && ssh->block_ns == 60 * NS &&
		      !ssh->has_src4 && !ssh->has_src6 && ssh->plen6 == 64, "ssh-syn");
		CHECK(web->has_src4 && web->has_src6 && web->src6.len == 48 && web->dport_lo == 80 &&
		      web->dport_hi == 443 && web->bytes && web->limit.rate == 1250000 &&
		      web->limit.algo == RL_ALGO_LEAKY_BUCKET && web->plen4 == 24 && web->plen6 == 56 &&
		      web->action == RL_ACT_MONITOR && !web->burst_set && web->limit.burst == 1250000,
		      "web");
		CHECK(dns->has_src4 && !dns->has_src6 && dns->limit.rate == 6000 &&
		      dns->limit.period_ns == 60 * NS && dns->limit.algo == RL_ALGO_SLIDING_WINDOW &&
		      dns->limit.burst == 6000, "dns");
		CHECK(login->limit.algo == RL_ALGO_SLIDING_LOG && login->limit.rate == 30, "login");
		CHECK(global->per_rule && global->action == RL_ACT_DROP &&
		      global->limit.algo == RL_ALGO_TOKEN_BUCKET, "global");
	}
	rl_config_free(&c);
	report("config/good", failed);
}

struct bad {
	const char *name;
	const char *yaml;
	int line;                 /* 0: no line expected (file-level error) */
	const char *needle[3];
};

#define HDR "version: 1\n"

static const struct bad bads[] = {
	{ "unknown-key", HDR "rules:\n  - name: a\n    rate: 10/s\n    colour: blue\n", 5,
	  { "unknown key 'colour'", "rules[0]" } },
	{ "unknown-top-key", HDR "rulez: []\n", 2, { "unknown key 'rulez'", "version, interfaces" } },
	{ "unknown-defaults-key", HDR "defaults:\n  algo: tb\n  burst: 5\n", 4,
	  { "unknown key 'burst'", "defaults" } },
	{ "unknown-iface-key", HDR "interfaces:\n  - name: eth0\n    mode: native\n", 4,
	  { "unknown key 'mode'" } },
	{ "wrong-type-burst", HDR "rules:\n  - name: a\n    rate: 10/s\n    burst: lots\n", 5,
	  { "burst", "'lots'" } },
	{ "wrong-type-seq", HDR "rules:\n  - name: a\n    rate: [10/s]\n", 4, { "rate" } },
	{ "wrong-type-rules", HDR "rules: 5\n", 2, { "rules", "'5'" } },
	{ "negative-burst", HDR "rules:\n  - name: a\n    rate: 10/s\n    burst: -3\n", 5,
	  { "burst", "'-3'" } },
	{ "bad-cidr", HDR "rules:\n  - name: a\n    src: 10.0.0.0/33\n    rate: 10/s\n", 4,
	  { "src", "'33'" } },
	{ "bad-cidr-list", HDR "allowlist:\n  - 10.0.0.0/8\n  - 300.1.2.3\n", 4,
	  { "allowlist[1]", "300.1.2.3" } },
	{ "bad-src-list", HDR "rules:\n  - name: a\n    src: [10.0.0.0/8, 11.0.0.0/8]\n    rate: 10/s\n", 4,
	  { "11.0.0.0/8", "IPv4" } },
	{ "impossible-rate", HDR "rules:\n  - name: a\n    rate: 1bit\n", 4,
	  { "rate", "'1bit'", "whole number of bytes" } },
	{ "zero-rate", HDR "rules:\n  - name: a\n    rate: 0/s\n", 4, { "'0/s'", "zero" } },
	{ "burst-overflow", HDR "rules:\n  - name: a\n    rate: 1/h\n    burst: 1000000000000\n", 5,
	  { "burst 1000000000000", "max is 2501" } },
	{ "byte-burst", HDR "rules:\n  - name: a\n    rate: 10mbit\n    burst: 100\n", 5,
	  { "burst 100", "1514" } },
	{ "byte-burst-units", HDR "rules:\n  - name: a\n    rate: 10/s\n    burst: 64kb\n", 5,
	  { "rules[0] ('a') burst '64kb'", "counts packets" } },
	{ "packet-burst-units", HDR "rules:\n  - name: a\n    rate: 10mbit\n    burst: 5 packets\n", 5,
	  { "burst '5 packets'", "byte rate" } },
	{ "version-2", "version: 2\nrules: []\n", 1, { "version 2", "version: 1" } },
	{ "version-missing", "rules:\n  - name: a\n    rate: 10/s\n", 1, { "missing", "'version'" } },
	{ "version-string", "version: one\n", 1, { "version", "'one'" } },
	{ "duplicate-name", HDR "rules:\n  - name: a\n    rate: 10/s\n  - name: b\n    rate: 1/s\n"
	  "  - name: a\n    proto: udp\n    rate: 5/s\n", 7, { "'a'", "twice", "line 3" } },
	{ "duplicate-key", HDR "rules:\n  - name: a\n    rate: 10/s\n    rate: 20/s\n", 5,
	  { "'rate'", "twice", "line 4" } },
	{ "overlap", HDR "rules:\n  - name: one\n    proto: tcp\n    dport: 22\n    rate: 10/s\n"
	  "  - name: two\n    proto: tcp\n    dport: 22\n    rate: 20/s\n", 7,
	  { "'two' overlaps rule 'one'", "line 3" } },
	{ "overlap-any", HDR "rules:\n  - name: one\n    rate: 10/s\n  - name: two\n    rate: 20/s\n", 5,
	  { "'two' overlaps rule 'one'" } },
	{ "slog-bound", HDR "rules:\n  - name: login\n    rate: 100/min\n    algo: sliding-log\n", 5,
	  { "sliding-log", "<= 32", "100" } },
	{ "slog-bound-default", HDR "defaults:\n  algo: sliding-log\nrules:\n  - name: login\n    rate: 100/min\n", 6,
	  { "sliding-log", "<= 32" } },
	{ "icmp-dport", HDR "rules:\n  - name: p\n    proto: icmp\n    dport: 7\n    rate: 1/s\n", 5,
	  { "dport", "icmp" } },
	{ "syn-udp", HDR "rules:\n  - name: p\n    proto: udp\n    tcp-flags: syn\n    rate: 1/s\n", 5,
	  { "tcp-flags", "tcp" } },
	{ "bad-port", HDR "rules:\n  - name: p\n    proto: tcp\n    dport: 70000\n    rate: 1/s\n", 5,
	  { "dport", "'70000'" } },
	{ "bad-name", HDR "rules:\n  - name: \"a b\"\n    rate: 1/s\n", 3, { "'a b'" } },
	{ "long-name", HDR "rules:\n  - name: abcdefghijabcdefghijabcdefghijabc\n    rate: 1/s\n", 3,
	  { "too long" } },
	{ "missing-rate", HDR "rules:\n  - name: x\n    proto: tcp\n", 3, { "'rate'", "missing" } },
	{ "bad-on-full", HDR "defaults:\n  on-full: explode\n", 3, { "'explode'", "evict" } },
	{ "bad-clock", HDR "defaults:\n  clock: atomic\n", 3, { "'atomic'", "coarse" } },
	{ "bad-xdp-mode", HDR "interfaces:\n  - name: eth0\n    xdp-mode: turbo\n", 4, { "'turbo'" } },
	{ "state-entries", HDR "defaults:\n  state-entries: 10\n", 3, { "state-entries 10" } },
	{ "bad-xdp-attach", HDR "defaults:\n  xdp-attach: shared\n", 3,
	  { "'shared'", "auto, dispatcher or link" } },
	{ "xdp-priority-0", HDR "defaults:\n  xdp-priority: 0\n", 3, { "xdp-priority 0", "1..10000" } },
	{ "xdp-priority-big", HDR "defaults:\n  xdp-priority: 10001\n", 3, { "xdp-priority 10001" } },
	{ "xdp-priority-word", HDR "defaults:\n  xdp-priority: first\n", 3, { "xdp-priority first" } },
	{ "tabs", HDR "rules:\n\t- name: a\n", 3, { "not valid YAML", "tab" } },
	{ "garbage", HDR "rules: [a, b\n  c: : :\n", 0, { "not valid YAML" } },
	{ "not-mapping", "- just\n- a list\n", 1, { "top level" } },
	{ "scalar-doc", "hello world\n", 1, { "top level" } },
	{ "empty", "", 1, { "empty" } },
	{ "only-comment", "# nothing here\n", 1, { "empty" } },
	{ "two-docs", HDR "---\nversion: 1\n", 2, { "second YAML document" } },
	{ "alias", HDR "defaults: &d\n  algo: tb\nrules:\n  - name: a\n    rate: 1/s\n    algo: *d\n", 7,
	  { "alias" } },
	{ "deep", HDR "x: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]\n", 2, { "nested" } },
	{ "block-for", HDR "rules:\n  - name: a\n    rate: 1/s\n    block-for: forever\n", 5,
	  { "block-for", "'forever'" } },
	{ "mark-no-label", HDR "rules:\n  - name: m\n    rate: 1/s\n    action: mark\n", 5,
	  { "rules[0]", "action mark needs at least one label" } },
	{ "mark-value-range", HDR "rules:\n  - name: m\n    rate: 1/s\n    action: mark\n"
	  "    mark-value: 4294967296\n", 6, { "mark-value", "'4294967296'" } },
	{ "dscp-range", HDR "rules:\n  - name: m\n    rate: 1/s\n    action: mark\n    dscp: 64\n", 6,
	  { "dscp", "'64'", "0..63" } },
	{ "ecn-not-bool", HDR "rules:\n  - name: m\n    rate: 1/s\n    action: mark\n    ecn: sometimes\n", 6,
	  { "ecn", "'sometimes'" } },
	{ "dscp-without-mark", HDR "rules:\n  - name: m\n    rate: 1/s\n    dscp: 10\n", 5,
	  { "rules[0]", "dscp needs action mark" } },
	{ "mark-default-action", HDR "defaults:\n  action: mark\n", 3,
	  { "defaults.action", "per rule" } },
	{ "mark-typo-key", HDR "rules:\n  - name: m\n    rate: 1/s\n    action: mark\n    mark: 5\n", 6,
	  { "unknown key 'mark'", "mark-value" } },
	{ "metrics-hostname", HDR "metrics: localhost:9471\n", 2, { "metrics 'localhost:9471'", "numeric address" } },
	{ "metrics-no-port", HDR "metrics: 127.0.0.1\n", 2, { "metrics '127.0.0.1'", "ADDR:PORT" } },
	{ "metrics-port-0", HDR "metrics: 127.0.0.1:0\n", 2, { "metrics '127.0.0.1:0'" } },
	{ "metrics-long", HDR "metrics: 127.0.0.1:9471xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	  2, { "want ADDR:PORT" } },
};

static void test_bad(void)
{
	size_t i;
	int k;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct rl_config c;
		struct rl_err e = {};
		char name[96], want[600];
		const char *path = write_tmp("bad.yaml", b->yaml, strlen(b->yaml));
		int failed = 0, r;

		memset(&c, 0x5a, sizeof(c));
		r = rl_config_load(path, &c, &e);
		CHECK(r < 0, "accepted");
		CHECK(c.n_rules == 0x5a5a5a5a, "cfg changed on failure");
		CHECK(strstr(e.msg, path) == e.msg, "message does not start with the file: %s", e.msg);
		if (b->line) {
			snprintf(want, sizeof(want), "%s:%d:", path, b->line);
			CHECK(strstr(e.msg, want) && e.line == b->line,
			      "want line %d: %s (line=%d)", b->line, e.msg, e.line);
		}
		for (k = 0; k < 3 && b->needle[k]; k++)
			CHECK(strstr(e.msg, b->needle[k]), "message lacks \"%s\": %s", b->needle[k], e.msg);
		snprintf(name, sizeof(name), "config/bad/%s", b->name);
		report(name, failed);
	}
}

static void test_files(void)
{
	static const struct { const char *file; int line; const char *needle; } f[] = {
		{ "tests/configs/bad_unknown_key.yaml", 6, "'colour'" },
		{ "tests/configs/bad_overlap.yaml", 13, "'ssh-c' overlaps rule 'ssh-b'" },
		{ "tests/configs/bad_slog.yaml", 8, "<= 32" },
	};
	int failed = 0;
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		struct rl_config c;
		struct rl_err e = {};

		CHECK(rl_config_load(repo_file(f[i].file), &c, &e) < 0, "%s accepted", f[i].file);
		CHECK(e.line == f[i].line && strstr(e.msg, f[i].needle), "%s: %s", f[i].file, e.msg);
	}
	report("config/sample-files", failed);
}

static void test_hostile_bytes(void)
{
	int failed = 0;
	struct rl_config c;
	struct rl_err e = {};
	char *big;
	size_t i, n;
	unsigned char junk[4096];
	const char *path;
	unsigned seed = 12345;

	/* binary junk: random bytes, and text with a NUL in it */
	for (i = 0; i < sizeof(junk); i++) {
		seed = seed * 1103515245u + 12345u;
		junk[i] = (unsigned char)(seed >> 16);
	}
	path = write_tmp("junk.yaml", junk, sizeof(junk));
	CHECK(rl_config_load(path, &c, &e) < 0 && strstr(e.msg, path), "junk: %s", e.msg);
	path = write_tmp("nul.yaml", "version: 1\nrules:\0 []\n", 22);
	CHECK(rl_config_load(path, &c, &e) < 0 && e.line == 2 && strstr(e.msg, "binary"),
	      "NUL: %s", e.msg);

	/* over the size limit (16 MiB) */
	n = (16 << 20) + 100;
	big = malloc(n);
	if (!big) {
		printf("FAIL config/hostile-bytes: out of memory\n");
		failures++;
		return;
	}
	memset(big, '#', n);
	memcpy(big, HDR, strlen(HDR));
	path = write_tmp("big.yaml", big, n);
	CHECK(rl_config_load(path, &c, &e) == -EFBIG && strstr(e.msg, "16777216"), "16 MiB: %s", e.msg);
	unlink(path);

	/* just under it: one huge unknown key on line 2, quoted short */
	n = (1 << 20) - 16;
	memset(big, 'k', n);
	memcpy(big, HDR, strlen(HDR));
	memcpy(big + n - 6, ": 1\n", 4);
	path = write_tmp("bigkey.yaml", big, n - 2);
	CHECK(rl_config_load(path, &c, &e) < 0 && e.line == 2 && strstr(e.msg, "kkkk") &&
	      strlen(e.msg) < RL_ERR_LEN, "huge key: %s", e.msg);
	free(big);

	/* missing file and a directory */
	CHECK(rl_config_load("/nonexistent/rl.yaml", &c, &e) == -ENOENT &&
	      strstr(e.msg, "/nonexistent/rl.yaml"), "missing file: %s", e.msg);
	CHECK(rl_config_load(tmpdir, &c, &e) < 0, "directory accepted");
	report("config/hostile-bytes", failed);
}

static void on_alarm(int sig)
{
	(void)sig;
	printf("FAIL config/not-regular: a load blocked for 5 s (opened a FIFO blocking?)\n");
	fflush(stdout);
	_exit(1);
}

/*
 * The agent reads paths a client names (`rlctl config check FILE`) on its
 * only thread: a FIFO nobody writes, or a device, must be refused at once,
 * never waited on.  SIGALRM turns a hang into a failure.
 */
static void test_not_regular(void)
{
	char fifo[512];
	struct rl_config c;
	struct rl_err e = {};
	int failed = 0;

	snprintf(fifo, sizeof(fifo), "%s/fifo.yaml", tmpdir);
	CHECK(!mkfifo(fifo, 0600), "mkfifo %s: %s", fifo, strerror(errno));
	signal(SIGALRM, on_alarm);
	alarm(5);
	CHECK(rl_config_load(fifo, &c, &e) == -EINVAL && strstr(e.msg, "not a regular file") &&
	      strstr(e.msg, "FIFO") && strstr(e.msg, fifo), "FIFO: %s", e.msg);
	CHECK(rl_config_check(fifo, NULL, &e) == -EINVAL && strstr(e.msg, "FIFO"), "check FIFO: %s",
	      e.msg);
	CHECK(rl_config_load("/dev/zero", &c, &e) == -EINVAL && strstr(e.msg, "character device"),
	      "/dev/zero: %s", e.msg);
	CHECK(rl_config_load(tmpdir, &c, &e) == -EINVAL && strstr(e.msg, "directory"),
	      "directory: %s", e.msg);
	alarm(0);
	signal(SIGALRM, SIG_DFL);
	unlink(fifo);
	report("config/not-regular", failed);
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Complexity, not speed: 100,000 keys in one mapping (the duplicate-key
 * check was quadratic: 76 s of CPU for 105k), and a duplicate found among
 * them.  CPU time, so a loaded machine does not fail it; 2 s is ~100x
 * what the linear check takes.
 */
static void test_many_keys(void)
{
	const int nk = 100000;
	size_t cap = (size_t)nk * 16 + 64, o;
	char *y = malloc(cap);
	struct rl_config c;
	struct rl_err e = {};
	const char *path;
	double t0, dt;
	int failed = 0, i, r;

	if (!y) {
		printf("FAIL config/many-keys: out of memory\n");
		failures++;
		return;
	}
	o = (size_t)snprintf(y, cap, "version: 1\n");
	for (i = 0; i < nk; i++)
		o += (size_t)snprintf(y + o, cap - o, "k%d: 1\n", i);
	path = write_tmp("keys.yaml", y, o);
	t0 = cpu_s();
	r = rl_config_load(path, &c, &e);
	dt = cpu_s() - t0;
	CHECK(r == -EINVAL && strstr(e.msg, "unknown key 'k0'"), "%d keys: %s", nk, e.msg);
	CHECK(dt < 2.0, "%d distinct keys took %.2f s of CPU", nk, dt);
	printf("    %d keys: %.3f s of CPU\n", nk, dt);

	/* the same with the last key repeating the first */
	o -= strlen("k99999: 1\n");
	o += (size_t)snprintf(y + o, cap - o, "k0: 2\n");
	path = write_tmp("keys.yaml", y, o);
	t0 = cpu_s();
	r = rl_config_load(path, &c, &e);
	dt = cpu_s() - t0;
	CHECK(r == -EINVAL && strstr(e.msg, "key 'k0' appears twice") && e.line == nk + 1 &&
	      strstr(e.msg, "first on line 2"), "duplicate: %s", e.msg);
	CHECK(dt < 2.0, "%d keys with a duplicate took %.2f s of CPU", nk, dt);
	free(y);
	report("config/many-keys", failed);
}

/*
 * The most rules a config may hold, each on its own source: names and
 * overlaps are checked in linear time (pairwise, this took 3.2 s of CPU),
 * and `--check-config` compiles them too.
 */
static void test_many_rules(void)
{
	const int nr = RL_MAX_RULES;
	size_t cap = (size_t)nr * 80 + 64, o;
	char *y = malloc(cap);
	struct rl_config c;
	struct rl_err e = {};
	const char *path;
	double t0, dt;
	int failed = 0, i, r, n = 0;

	if (!y) {
		printf("FAIL config/many-rules: out of memory\n");
		failures++;
		return;
	}
	o = (size_t)snprintf(y, cap, "version: 1\nrules:\n");
	for (i = 0; i < nr; i++)
		o += (size_t)snprintf(y + o, cap - o,
				      "  - {name: r%d, src: 10.%d.%d.%d/32, proto: udp, rate: 1/s}\n",
				      i, i >> 16, (i >> 8) & 255, i & 255);
	path = write_tmp("rules.yaml", y, o);
	t0 = cpu_s();
	r = rl_config_check(path, &n, &e);
	dt = cpu_s() - t0;
	CHECK(!r && n == nr, "%d rules: %d %s", nr, r, e.msg);
	CHECK(dt < 2.0, "%d rules took %.2f s of CPU", nr, dt);
	printf("    %d rules loaded, checked and compiled: %.3f s of CPU\n", nr, dt);

	/* the last rule on the first one's source and port: refused, named */
	o -= strlen("  - {name: r16383, src: 10.0.63.255/32, proto: udp, rate: 1/s}\n");
	o += (size_t)snprintf(y + o, cap - o, "  - {name: last, src: 10.0.0.0/32, proto: udp, rate: 2/s}\n");
	path = write_tmp("rules.yaml", y, o);
	r = rl_config_load(path, &c, &e);
	CHECK(r == -EINVAL && strstr(e.msg, "rule 'last' overlaps rule 'r0' (line 3)") &&
	      e.line == nr + 2, "overlap: %s", e.msg);
	free(y);
	report("config/many-rules", failed);
}

/* One prefix on both lists: refused with where, as `allow add` refuses it. */
static void test_lists_disjoint(void)
{
	static const char y[] = HDR
		"allowlist:\n  - 10.0.0.0/8\n  - 192.0.2.0/24\n"
		"blocklist:\n  - 198.51.100.0/24\n  - 192.0.2.0/24\n";
	static const char ok[] = HDR
		"allowlist:\n  - 192.0.2.0/24\n"
		"blocklist:\n  - 192.0.2.0/25\n";
	int failed = 0;
	struct rl_config c;
	struct rl_err e = {};
	const char *path = write_tmp("lists.yaml", y, strlen(y));

	CHECK(rl_config_load(path, &c, &e) == -EINVAL && strstr(e.msg, "blocklist[1]") &&
	      strstr(e.msg, "192.0.2.0/24 is on the allowlist too (allowlist[1])") && e.line == 7,
	      "both lists: line %d: %s", e.line, e.msg);
	path = write_tmp("lists.yaml", ok, strlen(ok));
	memset(&e, 0, sizeof(e));
	CHECK(!rl_config_load(path, &c, &e), "nested prefixes on the two lists refused: %s", e.msg);
	if (!e.msg[0])
		rl_config_free(&c);
	report("config/lists-disjoint", failed);
}

/* Big lists load in n log n; the first entry listed twice (in file order)
 * is the one named, and a bad entry after it does not hide it. */
static void test_big_lists(void)
{
	static const char dup[] = HDR
		"blocklist:\n  - 10.0.0.3\n  - 10.0.0.1\n  - 10.0.0.2\n  - 10.0.0.1\n"
		"  - 10.0.0.3\n  - 10.0.0.300\n";
	static const char bad_first[] = HDR
		"blocklist:\n  - 10.0.0.1\n  - 10.0.0.300\n  - 10.0.0.1\n";
	const int n = 300000;
	size_t cap = (size_t)n * 24 + 4096, o;
	char *y = malloc(cap);
	int failed = 0, i, r;
	struct rl_config c;
	struct rl_err e = {};
	const char *path;
	double t0, dt;

	path = write_tmp("dup.yaml", dup, strlen(dup));
	r = rl_config_load(path, &c, &e);
	CHECK(r == -EINVAL && strstr(e.msg, "blocklist[3]: '10.0.0.1' is listed twice (also blocklist[1])"),
	      "dup: %s", e.msg);
	path = write_tmp("dup.yaml", bad_first, strlen(bad_first));
	memset(&e, 0, sizeof(e));
	r = rl_config_load(path, &c, &e);
	CHECK(r == -EINVAL && strstr(e.msg, "blocklist[1]") && strstr(e.msg, "10.0.0.300"),
	      "bad entry before the repeat: %s", e.msg);

	if (!y) {
		CHECK(0, "out of memory");
		report("config/big-lists", failed);
		return;
	}
	o = (size_t)snprintf(y, cap, HDR "allowlist:\n");
	for (i = 0; i < n / 2; i++)
		o += (size_t)snprintf(y + o, cap - o, "  - 100.%d.%d.%d\n", 64 + (i >> 16), (i >> 8) & 255, i & 255);
	o += (size_t)snprintf(y + o, cap - o, "blocklist:\n");
	for (i = 0; i < n / 2; i++)
		o += (size_t)snprintf(y + o, cap - o, "  - 101.%d.%d.%d\n", 64 + (i >> 16), (i >> 8) & 255, i & 255);
	path = write_tmp("big.yaml", y, o);
	memset(&e, 0, sizeof(e));
	t0 = cpu_s();
	r = rl_config_load(path, &c, &e);
	dt = cpu_s() - t0;
	CHECK(!r && c.n_allow == n / 2 && c.n_block == n / 2, "%d entries: %d %s", n, r, e.msg);
	CHECK(dt < 20.0, "%d list entries took %.2f s of CPU", n, dt);
	printf("    %d list entries loaded: %.3f s of CPU\n", n, dt);
	if (!r)
		rl_config_free(&c);
	free(y);
	report("config/big-lists", failed);
}

/* burst with units in the file: "64kb" for a byte rate, "5 packets" */
static void test_burst_units(void)
{
	static const char y[] = HDR
		"rules:\n  - name: a\n    src: 10.0.0.0/8\n    rate: 10mbit\n    burst: 64kb\n"
		"  - name: b\n    src: 10.1.0.0/16\n    rate: 5/s\n    burst: 5 packets\n"
		"  - name: c\n    src: 10.2.0.0/16\n    rate: 5/s\n    burst: 7\n";
	int failed = 0;
	struct rl_config c;
	struct rl_err e = {};
	const char *path = write_tmp("burst.yaml", y, strlen(y));

	CHECK(!rl_config_load(path, &c, &e), "refused: %s", e.msg);
	if (!failed) {
		CHECK(c.rules[0].limit.burst == 65536 && c.rules[0].burst_set, "64kb: %llu",
		      (unsigned long long)c.rules[0].limit.burst);
		CHECK(c.rules[1].limit.burst == 5 && c.rules[1].burst_set, "5 packets: %llu",
		      (unsigned long long)c.rules[1].limit.burst);
		CHECK(c.rules[2].limit.burst == 7, "7: %llu", (unsigned long long)c.rules[2].limit.burst);
		rl_config_free(&c);
	}
	report("config/burst-units", failed);
}

static void test_mark(void)
{
	static const char y[] = HDR
		"rules:\n  - name: a\n    src: 10.0.0.0/8\n    rate: 5/s\n    action: mark\n"
		"    mark-value: 0x10\n    dscp: af11\n    ecn: true\n"
		"  - name: b\n    src: 10.1.0.0/16\n    rate: 5/s\n    action: mark\n    dscp: 0\n"
		"    ecn: false\n"
		"  - name: c\n    src: 10.2.0.0/16\n    rate: 5/s\n    action: mark\n    ecn: on\n";
	int failed = 0;
	struct rl_config c;
	struct rl_err e = {};
	const char *path = write_tmp("mark.yaml", y, strlen(y));

	CHECK(!rl_config_load(path, &c, &e), "refused: %s", e.msg);
	if (!failed) {
		CHECK(c.rules[0].action == RL_ACT_MARK &&
		      c.rules[0].mark_flags == (RL_MK_MARK | RL_MK_DSCP | RL_MK_ECN) &&
		      c.rules[0].mark == 0x10 && c.rules[0].dscp == 10, "rule a: %#x %#x %u",
		      c.rules[0].mark_flags, c.rules[0].mark, c.rules[0].dscp);
		CHECK(c.rules[1].mark_flags == RL_MK_DSCP && c.rules[1].dscp == 0, "rule b: %#x",
		      c.rules[1].mark_flags);
		CHECK(c.rules[2].mark_flags == RL_MK_ECN, "rule c: %#x", c.rules[2].mark_flags);
		rl_config_free(&c);
	}
	report("config/mark", failed);
}

static void test_defaults_apply(void)
{
	static const char y[] = HDR
		"defaults:\n  algo: fixed-window\n  action: monitor\n  per: rule\n"
		"rules:\n  - name: a\n    rate: 5/s\n  - name: b\n    src: 10.0.0.0/8\n    rate: 5/s\n"
		"    algo: tb\n    action: drop\n    per: source/24\n";
	int failed = 0;
	struct rl_config c;
	struct rl_err e = {};
	const char *path = write_tmp("defaults.yaml", y, strlen(y));

	CHECK(!rl_config_load(path, &c, &e), "refused: %s", e.msg);
	if (!failed) {
		CHECK(c.rules[0].limit.algo == RL_ALGO_FIXED_WINDOW && c.rules[0].action == RL_ACT_MONITOR &&
		      c.rules[0].per_rule, "defaults not applied");
		CHECK(c.rules[1].limit.algo == RL_ALGO_TOKEN_BUCKET && c.rules[1].action == RL_ACT_DROP &&
		      !c.rules[1].per_rule && c.rules[1].plen4 == 24, "rule fields not kept");
		rl_config_free(&c);
	}
	report("config/defaults-apply", failed);
}

int main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/rl-test-config-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		printf("FAIL config/setup: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_good();
	test_bad();
	test_files();
	test_hostile_bytes();
	test_not_regular();
	test_many_keys();
	test_many_rules();
	test_defaults_apply();
	test_mark();
	test_burst_units();
	test_lists_disjoint();
	test_big_lists();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			printf("    (could not remove %s)\n", tmpdir);
	}
	printf("%s: %d failed\n", __FILE__, failures);
	return failures ? 1 : 0;
}
