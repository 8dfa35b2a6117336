// SPDX-License-Identifier: GPL-2.0
/*
 * rlctl.c - the command-line client of rlagent, in the style of ip(8) and
 * bpftool(8):  rlctl [-j|-p] [-S SOCKET] [-t SECONDS] OBJECT COMMAND ...
 *
 * The grammar is checked here with the same lib_parse the agent uses, so
 * a usage error never needs (or bothers) the agent; the agent parses the
 * words again and is the one that decides.  The request on the wire is
 * the words themselves, {"argv": [...]}, one JSON object per line; the
 * answer is one JSON object per line, printed as a table or, with -j, as
 * it came (-p indents it).
 *
 * Exit codes: 0 ok, 1 refused by the agent (or an invalid config for
 * `config check`), 2 usage error, 3 agent unreachable.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <jansson.h>
#include "rl_model.h"
#include "rl_version.h"

#define EXIT_REFUSED     1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3
#define DEFAULT_SOCK     "/run/rlagent/rlagent.sock"
#define MAX_RESP         (256 * 1024 * 1024)

static bool json_out;
/* -j: one line (for scripts and jq); -p: indented for people, as bpftool */
static size_t json_flags = JSON_COMPACT;

static void print_json(json_t *o)
{
	char *s = json_dumps(o, json_flags);

	printf("%s\n", s ? s : "{}");
	free(s);
}

static const char usage_top[] =
"usage: rlctl [-j|-p] [-S SOCKET] [-t SECONDS] OBJECT COMMAND [ARGS...]\n"
"\n"
"  -j, --json     print the agent's JSON answer instead of a table, on one line\n"
"  -p, --pretty   the same JSON, indented (implies -j)\n"
"  -S SOCKET      control socket (default " DEFAULT_SOCK ", or $RLCTL_SOCKET)\n"
"  -t SECONDS     connect/answer timeout (default 5)\n"
"  -h, --help     print this on stdout and exit 0 (so do `help` and `OBJECT help`)\n"
"  -V, --version  print the version and exit 0\n"
"\n"
"objects and commands:\n"
"  rule add NAME [src PREFIX] [proto tcp|udp|icmp|icmpv6|any] [dport N[-M]]\n"
"           [tcp-flags syn] rate RATE [burst N [UNIT]] [algo ALGO]\n"
"           [per source[/L4[,L6]]|per rule] [action drop|monitor|mark]\n"
"           [mark-value N] [dscp N|CLASS] [ecn] [block-for DUR]\n"
"  rule change NAME WORDS...      change only the words given\n"
"  rule del NAME\n"
"  rule list [NAME]\n"
"  allow add PREFIX [for DUR] | allow del PREFIX | allow list\n"
"  block add PREFIX [for DUR] | block del PREFIX | block list\n"
"  allow|block import FILE [for DUR] | allow|block flush\n"
"  events [-n N]                  stream sampled drop events (over-limit, penalty\n"
"                                 box, blocklist); -j: JSON lines; -n: stop after N\n"
"  stats [RULE]                   per-rule verdict counters and global counters\n"
"  top [-n N]                     worst sources now: blocked, then least credit\n"
"  status                         agent, interfaces, rules, last reload\n"
"  config reload                  re-read the agent's config file and apply it\n"
"  config dump                    the running state in config syntax\n"
"  config save [FILE]             write it over the agent's config file (or FILE)\n"
"  config check FILE              validate FILE locally (the agent is not needed)\n"
"  help | OBJECT help             (`help` later on is a word: a rule may be\n"
"                                 named help)\n"
"\n"
"RATE: N/s, N/min, N/h (packets) or tc units 10mbit, 500kbit, 1mbps (bytes).\n"
"burst: N in the rate's unit; `N packets` for a packet rate, tc sizes 15000b,\n"
"       64kb, 1mb (1024-based) for a byte rate.\n"
"ALGO: token-bucket, leaky-bucket, fixed-window, sliding-window, sliding-log.\n"
"DUR:  500ms, 30s, 10m, 1h, 1d.\n"
"\n"
"exit codes: 0 ok, 1 refused by the agent, 2 usage error, 3 agent unreachable\n"
"(socket missing, connection refused, or no answer within the timeout).\n";

static const char usage_rule[] =
"usage: rlctl rule add NAME [src PREFIX] [proto P] [dport N[-M]] [tcp-flags syn]\n"
"                      rate RATE [burst N [UNIT]] [algo ALGO]\n"
"                      [per source[/L4[,L6]]|per rule] [action drop|monitor|mark]\n"
"                      [mark-value N] [dscp N|CLASS] [ecn [on|off]] [block-for DUR]\n"
"       rlctl rule change NAME WORDS...   (e.g. rate 200/s, algo sliding-window)\n"
"       rlctl rule del NAME\n"
"       rlctl rule list [NAME]\n"
"A rule NAME is 1-31 characters of [A-Za-z0-9._-].  `src` may be given once\n"
"for IPv4 and once for IPv6; without it the rule covers every source.\n"
"Changing algo, the rate's period or packets/bytes restarts the rule's\n"
"per-source state drained (no new burst); other changes keep it.\n";

static const char usage_list[] =
"usage: rlctl %s add PREFIX [for DUR]\n"
"       rlctl %s del PREFIX\n"
"       rlctl %s import FILE [for DUR]   one prefix a line, '#' comments; all or nothing\n"
"       rlctl %s flush                   empty the list\n"
"       rlctl %s list\n";

static const char usage_config[] =
"usage: rlctl config reload        parse, validate, compile and apply the agent's\n"
"                                  config file; on any error nothing changes\n"
"       rlctl config dump          print the running state as a config file\n"
"       rlctl config save [FILE]   write the running state over the agent's config\n"
"                                  file (or FILE), atomically: runtime changes\n"
"                                  survive a reboot\n"
"       rlctl config check FILE    validate FILE here, without the agent\n";

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* the user's words, maybe cut: -j must still print valid JSON */
	rl_utf8_sanitize(buf);
	if (json_out) {
		json_t *o = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", buf, "code",
				      code == EXIT_USAGE ? "usage" :
				      code == EXIT_UNREACHABLE ? "unreachable" : "refused");

		print_json(o);
		json_decref(o);
	} else {
		fprintf(stderr, "rlctl: %s\n", buf);
	}
	return code;
}

static int usage_err(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_err(const char *usage, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!json_out && usage)
		fprintf(stderr, "%s", usage);
	return fail(EXIT_USAGE, "%s", buf);
}


/* Local grammar check: returns 0 or the exit code of the usage error. */
static int check_words(int argc, char **argv)
{
	const char *obj = argv[0], *verb = argc > 1 ? argv[1] : NULL;
	struct rl_err err = {};

	if (!strcmp(obj, "rule")) {
		struct rl_defaults d;
		struct rl_config cfg;
		struct rl_rule_spec spec;
		bool add;

		if (!verb)
			return usage_err(usage_rule, "rule: missing command (add, change, del, list)");
		if (!strcmp(verb, "list") || !strcmp(verb, "show"))
			return argc <= 3 ? 0 : usage_err(usage_rule, "rule list takes at most a NAME");
		if (!strcmp(verb, "del") || !strcmp(verb, "delete")) {
			if (argc != 3)
				return usage_err(usage_rule, "rule del takes exactly one NAME");
			return 0;
		}
		if (strcmp(verb, "add") && strcmp(verb, "change"))
			return usage_err(usage_rule, "rule: unknown command '%.*s' (add, change, del, list)",
					 RL_CUT(verb, 64));
		add = !strcmp(verb, "add");
		if (argc < 3)
			return usage_err(usage_rule, "rule %s: missing NAME", verb);
		if (!rl_name_valid(argv[2]))
			return usage_err(NULL, "rule name '%.*s' is invalid: use 1-%d characters of [A-Za-z0-9._-]",
					 RL_CUT(argv[2], 64), RL_NAME_LEN - 1);
		if (!add && argc < 4)
			return usage_err(usage_rule, "rule change %s: nothing to change", argv[2]);
		rl_config_defaults(&cfg);
		d = cfg.defaults;
		rl_config_free(&cfg);
		memset(&spec, 0, sizeof(spec));
		rl_rule_defaults(&spec, &d);
		if (!add) {
			/* A change edits an existing rule: give the parser a
			 * complete one so only the grammar is judged here. */
			spec.limit.rate = 1;
			spec.limit.period_ns = 1000000000ull;
			spec.limit.burst = 1;
		}
		if (rl_parse_rule_words(argc - 3, argv + 3, &spec, add, &err))
			return usage_err(NULL, "rule %s %s: %s", verb, argv[2], err.msg);
		return 0;
	}
	if (!strcmp(obj, "allow") || !strcmp(obj, "block")) {
		char u[256];
		struct rl_prefix p;
		uint64_t ns;

		snprintf(u, sizeof(u), usage_list, obj, obj, obj, obj, obj);
		if (!verb || !strcmp(verb, "list") || !strcmp(verb, "show"))
			return argc <= 2 ? 0 : usage_err(u, "%s list takes no arguments", obj);
		if (!strcmp(verb, "flush"))
			return argc == 2 ? 0 : usage_err(u, "%s flush takes no arguments", obj);
		if (!strcmp(verb, "import")) {
			if (argc < 3)
				return usage_err(u, "%s import: missing FILE", obj);
			if (argc == 5 && !strcmp(argv[3], "for")) {
				if (rl_parse_duration(argv[4], &ns, &err))
					return usage_err(NULL, "%s import %s for: %s", obj, argv[2], err.msg);
				if (!ns)
					return usage_err(NULL, "%s import %s for: the duration must be more than 0",
							 obj, argv[2]);
				return 0;
			}
			if (argc != 3)
				return usage_err(u, "%s import: unexpected '%.*s'", obj, RL_CUT(argv[3], 64));
			return 0;
		}
		if (strcmp(verb, "add") && strcmp(verb, "del") && strcmp(verb, "delete"))
			return usage_err(u, "%s: unknown command '%.*s' (add, del, list, import, flush)", obj,
					 RL_CUT(verb, 64));
		if (argc < 3)
			return usage_err(u, "%s %s: missing PREFIX", obj, verb);
		if (rl_parse_prefix(argv[2], &p, &err))
			return usage_err(NULL, "%s %s: %s", obj, verb, err.msg);
		if (!strcmp(verb, "add") && argc == 5 && !strcmp(argv[3], "for")) {
			if (rl_parse_duration(argv[4], &ns, &err))
				return usage_err(NULL, "%s add %s for: %s", obj, argv[2], err.msg);
			if (!ns)
				return usage_err(NULL, "%s add %s for: the duration must be more than 0",
						 obj, argv[2]);
			return 0;
		}
		if (argc != 3)
			return usage_err(u, "%s %s: unexpected '%.*s'", obj, verb, RL_CUT(argv[3], 64));
		return 0;
	}
	if (!strcmp(obj, "events")) {
		char *end;
		long n;

		if (argc == 1)
			return 0;
		if (argc != 3 || strcmp(argv[1], "-n"))
			return usage_err(usage_top, "usage: rlctl events [-n N]");
		n = strtol(argv[2], &end, 10);
		if (*end || end == argv[2] || n < 1 || n > 1000000000)
			return usage_err(NULL, "events -n: '%.*s' is not a count 1..1000000000",
					 RL_CUT(argv[2], 64));
		return 0;
	}
	if (!strcmp(obj, "stats"))
		return argc <= 2 ? 0 : usage_err(usage_top, "stats takes at most a rule NAME");
	if (!strcmp(obj, "status"))
		return argc == 1 ? 0 : usage_err(usage_top, "status takes no arguments");
	if (!strcmp(obj, "top")) {
		char *end;
		long n;

		if (argc == 1)
			return 0;
		if (argc != 3 || strcmp(argv[1], "-n"))
			return usage_err(usage_top, "usage: rlctl top [-n N]");
		n = strtol(argv[2], &end, 10);
		if (*end || end == argv[2] || n < 1 || n > 10000)
			return usage_err(NULL, "top -n: '%.*s' is not a count 1..10000", RL_CUT(argv[2], 64));
		return 0;
	}
	if (!strcmp(obj, "config")) {
		if (!verb)
			return usage_err(usage_config, "config: missing command (reload, dump, save, check)");
		if (!strcmp(verb, "reload") || !strcmp(verb, "dump"))
			return argc == 2 ? 0 : usage_err(usage_config, "config %s takes no arguments", verb);
		if (!strcmp(verb, "save"))
			return argc <= 3 ? 0 : usage_err(usage_config, "config save takes at most one FILE");
		if (!strcmp(verb, "check"))
			return argc == 3 ? 0 : usage_err(usage_config, "config check takes one FILE");
		return usage_err(usage_config, "config: unknown command '%.*s' (reload, dump, save, check)",
				 RL_CUT(verb, 64));
	}
	return usage_err(usage_top, "unknown object '%.*s' (rule, allow, block, stats, top, events, status, config, help)",
			 RL_CUT(obj, 64));
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With keep_conn, call_agent leaves the connection open for a stream
 * (`events`): its fd, and what arrived after the first answer line. */
static bool keep_conn;
static int keep_fd = -1;
static char *keep_rest;
static size_t keep_rest_len;

/* Sends the words and waits for one answer line.  Returns 0, or an exit
 * code with the message already printed. */
static int call_agent(const char *path, int timeout_s, int argc, char **argv, json_t **resp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_t *req = json_object(), *arr = json_array();
	char *line = NULL, *buf = NULL, *nl;
	size_t len, off = 0, cap = 0;
	int64_t deadline = ms_now() + (int64_t)timeout_s * 1000;
	json_error_t jerr;
	int fd = -1, ret, i;
	struct timeval tv = { .tv_sec = timeout_s };

	/* a word dropped here would change the command: refuse instead */
	for (i = 0; i < argc; i++)
		if (json_array_append_new(arr, json_string(argv[i]))) {
			json_decref(req);
			json_decref(arr);
			return fail(EXIT_USAGE, "word %d ('%.*s') is not valid UTF-8; the agent takes UTF-8 words only",
				    i + 1, RL_CUT(argv[i], 64));
		}
	json_object_set_new(req, "argv", arr);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line) {
		ret = fail(EXIT_UNREACHABLE, "out of memory encoding the request");
		goto cleanup;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		ret = fail(EXIT_USAGE, "socket path %s is too long", path);
		goto cleanup;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = fail(EXIT_UNREACHABLE, "creating a socket: %s", strerror(errno));
		goto cleanup;
	}
	/* connect() on a Unix socket blocks only while the backlog is full. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = fail(EXIT_UNREACHABLE, "cannot reach rlagent at %s: %s%s", path, strerror(errno),
			   errno == EACCES ? " (the socket is root-only: run as root)" :
			   errno == ENOENT || errno == ECONNREFUSED ?
			   " (is rlagent running? -S picks another socket)" : "");
		goto cleanup;
	}
	len = strlen(line);
	line[len++] = '\n';	/* overwrites the NUL: the line is sent by length */
	for (off = 0; off < len;) {
		ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			ret = fail(EXIT_UNREACHABLE, "sending to rlagent at %s: %s", path,
				   errno == EAGAIN ? "timed out" : strerror(errno));
			goto cleanup;
		}
		off += (size_t)w;
	}
	off = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - ms_now();
		ssize_t r;

		if (cap - off < 65536) {
			char *n;

			if (cap >= MAX_RESP) {
				ret = fail(EXIT_UNREACHABLE, "answer from rlagent is larger than %d bytes",
					   MAX_RESP);
				goto cleanup;
			}
			cap = cap ? cap * 2 : 65536;
			n = realloc(buf, cap + 1);
			if (!n) {
				ret = fail(EXIT_UNREACHABLE, "out of memory reading the answer");
				goto cleanup;
			}
			buf = n;
		}
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			ret = fail(EXIT_UNREACHABLE, "rlagent at %s did not answer within %d s", path,
				   timeout_s);
			goto cleanup;
		}
		r = recv(fd, buf + off, cap - off, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = fail(EXIT_UNREACHABLE, "rlagent at %s closed the connection without an answer%s%s",
				   path, r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
			goto cleanup;
		}
		nl = memchr(buf + off, '\n', (size_t)r);
		off += (size_t)r;
		if (nl)
			break;
	}
	*resp = json_loadb(buf, (size_t)(nl - buf), 0, &jerr);
	if (!*resp || !json_is_object(*resp)) {
		json_decref(*resp);
		*resp = NULL;
		ret = fail(EXIT_UNREACHABLE, "rlagent sent an answer that is not a JSON object: %s", jerr.text);
		goto cleanup;
	}
	ret = 0;
	if (keep_conn) {
		keep_rest_len = off - (size_t)(nl - buf) - 1;
		keep_rest = malloc(keep_rest_len + 1);
		if (keep_rest) {
			memcpy(keep_rest, nl + 1, keep_rest_len);
			keep_fd = fd;
			fd = -1;
		}
	}
cleanup:
	if (fd >= 0)
		close(fd);
	free(line);
	free(buf);
	return ret;
}

static const char *js(json_t *o, const char *k);
static long long ji(json_t *o, const char *k);
static void print_json(json_t *o);

/* One streamed event line, human-readable. */
static void print_event(json_t *e)
{
	const char *kind = js(e, "kind");

	if (!strcmp(kind, "lost")) {
		printf("lost %lld events: %s\n", ji(e, "count"), js(e, "reason"));
		return;
	}
	printf("%s %-11s %-39s %-5s", js(e, "time"), kind, js(e, "source"), js(e, "proto"));
	if (json_object_get(e, "dport"))
		printf(" dport %-5lld", ji(e, "dport"));
	printf(" rule %s verdict %s: %s\n", json_is_string(json_object_get(e, "rule")) ?
	       js(e, "rule") : "-", js(e, "verdict"), js(e, "reason"));
}

/* `events`: prints the stream until the agent closes it, or after max
 * events (0: no end).  Exit 0 on max reached, EXIT_UNREACHABLE if the
 * agent went away. */
static int stream_events(long max)
{
	struct timeval tv = { 0 };
	char *buf = keep_rest, *nl;
	size_t len = keep_rest_len, cap = keep_rest_len + 1;
	long seen = 0;

	setsockopt(keep_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t r;

		while ((nl = memchr(buf, '\n', len))) {
			json_error_t jerr;
			json_t *e = json_loadb(buf, (size_t)(nl - buf), 0, &jerr);

			if (e) {
				if (json_out)
					print_json(e);
				else
					print_event(e);
				fflush(stdout);
				if (strcmp(js(e, "kind"), "lost"))
					seen++;
				json_decref(e);
			}
			len -= (size_t)(nl - buf) + 1;
			memmove(buf, nl + 1, len);
			if (max && seen >= max) {
				free(buf);
				close(keep_fd);
				return 0;
			}
		}
		if (cap - len < 4096) {
			char *n;

			if (cap > (1u << 20)) {
				free(buf);
				close(keep_fd);
				return fail(EXIT_UNREACHABLE, "an event line from rlagent is too long");
			}
			n = realloc(buf, cap * 2 + 4096);
			if (!n) {
				free(buf);
				close(keep_fd);
				return fail(EXIT_UNREACHABLE, "out of memory");
			}
			buf = n;
			cap = cap * 2 + 4096;
		}
		r = recv(keep_fd, buf + len, cap - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			close(keep_fd);
			return fail(EXIT_UNREACHABLE, "rlagent closed the event stream%s%s",
				    r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
		}
		len += (size_t)r;
	}
}

static const char *js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static long long ji(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* "mark" with its labels, e.g. mark:0x10,dscp=10,ecn; other actions as is. */
static void fmt_action(json_t *r, char *buf, size_t len)
{
	json_t *mv = json_object_get(r, "mark_value"), *d = json_object_get(r, "dscp");
	size_t o;

	snprintf(buf, len, "%s", js(r, "action"));
	if (strcmp(buf, "mark"))
		return;
	if (json_is_integer(mv)) {
		o = strlen(buf);
		snprintf(buf + o, len - o, ":0x%llx", (unsigned long long)json_integer_value(mv));
	}
	if (json_is_integer(d)) {
		o = strlen(buf);
		snprintf(buf + o, len - o, "%sdscp=%lld", strchr(buf, ':') ? "," : ":",
			 (long long)json_integer_value(d));
	}
	if (json_is_true(json_object_get(r, "ecn"))) {
		o = strlen(buf);
		snprintf(buf + o, len - o, "%secn", strchr(buf, ':') ? "," : ":");
	}
}

static void print_rules(json_t *rules)
{
	size_t i;
	json_t *r;

	printf("%-20s %-5s %-20s %-6s %-11s %-14s %-10s %-15s %-14s %-8s %s\n", "NAME", "ID", "SRC",
	       "PROTO", "DPORT", "RATE", "BURST", "ALGO", "PER", "ACTION", "BLOCK-FOR");
	json_array_foreach(rules, i, r) {
		json_t *src = json_object_get(r, "src");
		char sbuf[128] = "any", bb[32], act[64];
		size_t k;
		json_t *s;

		if (json_array_size(src)) {
			sbuf[0] = 0;
			json_array_foreach(src, k, s)
				snprintf(sbuf + strlen(sbuf), sizeof(sbuf) - strlen(sbuf), "%s%s",
					 k ? "," : "", json_string_value(s) ? json_string_value(s) : "?");
		}
		snprintf(bb, sizeof(bb), "%lld%s", ji(r, "burst"),
			 json_is_true(json_object_get(r, "bytes")) ? "B" : "");
		fmt_action(r, act, sizeof(act));
		printf("%-20s %-5lld %-20s %-6s %-11s %-14s %-10s %-15s %-14s %-8s %s\n",
		       js(r, "name"), ji(r, "id"), sbuf, js(r, "proto"),
		       js(r, "dport"), js(r, "rate"), bb, js(r, "algo"), js(r, "per"),
		       act, js(r, "block_for"));
	}
}

static void print_list(json_t *l)
{
	size_t i;
	json_t *e;

	printf("%-44s %s\n", "PREFIX", "EXPIRES");
	json_array_foreach(l, i, e) {
		json_t *x = json_object_get(e, "expires_in_s");
		char t[32] = "never";

		if (json_is_integer(x))
			snprintf(t, sizeof(t), "in %llds", (long long)json_integer_value(x));
		printf("%-44s %s\n", js(e, "prefix"), t);
	}
}

static void print_stats(json_t *o)
{
	static const char *const v[] = { "pass", "drop", "monitor", "block", "mark" };
	const int nv = (int)(sizeof(v) / sizeof(v[0]));
	json_t *rules = json_object_get(o, "rules"), *r, *g = json_object_get(o, "global"), *c;
	const char *k;
	size_t i;
	int j;

	printf("%-20s", "RULE");
	for (j = 0; j < nv; j++)
		printf(" %12s-pkts %12s-bytes", v[j], v[j]);
	printf("\n");
	json_array_foreach(rules, i, r) {
		printf("%-20s", js(r, "name"));
		for (j = 0; j < nv; j++) {
			json_t *x = json_object_get(r, v[j]);

			printf(" %17lld %18lld", ji(x, "packets"), ji(x, "bytes"));
		}
		printf("\n");
	}
	printf("\n%-20s %17s %18s\n", "GLOBAL", "packets", "bytes");
	json_object_foreach(g, k, c)
		printf("%-20s %17lld %18lld\n", k, ji(c, "packets"), ji(c, "bytes"));
}

static void print_status(json_t *o)
{
	json_t *ifs = json_object_get(o, "interfaces"), *i1, *lr = json_object_get(o, "last_reload");
	json_t *sm = json_object_get(o, "state_maps"), *m, *gc, *dt;
	const char *k;
	size_t i;

	printf("pid:           %lld\n", ji(o, "pid"));
	printf("uptime:        %llds\n", ji(o, "uptime_s"));
	printf("config:        %s\n", js(o, "config"));
	printf("pin dir:       %s\n", js(o, "pin_dir"));
	printf("adopted:       %s\n", json_is_true(json_object_get(o, "adopted")) ? "yes (rules came from pinned state)" : "no");
	printf("interfaces:   ");
	if (!json_array_size(ifs))
		printf(" none");
	json_array_foreach(ifs, i, i1)
		printf(" %s (ifindex %lld, xdp %s)", js(i1, "name"), ji(i1, "ifindex"), js(i1, "mode"));
	printf("\n");
	printf("rules:         %lld\n", ji(o, "rules"));
	printf("allowlist:     %lld\n", ji(o, "allow"));
	printf("blocklist:     %lld\n", ji(o, "block"));
	printf("match entries: %lld\n", ji(o, "match_entries"));
	printf("on-full:       %s\n", js(o, "on_full"));
	printf("malformed:     %s\n", js(o, "malformed"));
	printf("clock:         %s\n", js(o, "clock"));
	dt = json_object_get(o, "direct_table");
	if (json_is_object(dt)) {
		json_t *d4 = json_object_get(dt, "ipv4"), *d6 = json_object_get(dt, "ipv6");

		printf("match table:   /16s decided directly %lld v4, %lld v6; by the trie %lld v4, %lld v6; "
		       "value slots %lld of %lld%s\n",
		       ji(d4, "table") + ji(d4, "none"), ji(d6, "table") + ji(d6, "none"),
		       ji(d4, "trie"), ji(d6, "trie"), ji(dt, "slots_used"), ji(dt, "slots"),
		       ji(dt, "no_slot") ? " (some /16s wait for a free slot)" : "");
	}
	gc = json_object_get(o, "gc");
	json_object_foreach(sm, k, m) {
		json_t *age = json_object_get(m, "swept_s_ago");

		if (!json_is_object(m))
			continue;
		printf("%-6s         %s, %lld buckets x %lld slots, capacity %lld sources; ", k,
		       js(m, "type"), ji(m, "buckets"), ji(m, "slots_per_bucket"), ji(m, "capacity"));
		if (json_is_integer(json_object_get(m, "live")))
			printf("live %lld as of %.1f s ago\n", ji(m, "live"), json_number_value(age));
		else if (json_is_false(json_object_get(gc, "on")))
			printf("live not counted (--gc-interval 0)\n");
		else
			printf("live not counted yet (first sweep under way)\n");
	}
	if (json_is_object(lr))
		printf("last reload:   %s: %s\n", json_is_true(json_object_get(lr, "ok")) ? "ok" : "FAILED",
		       js(lr, "message"));
	else
		printf("last reload:   none\n");
}

static void print_top(json_t *o)
{
	json_t *t = json_object_get(o, "top"), *r;
	size_t i;

	printf("%lld tracked source keys%s; penalty box first, then least credit\n", ji(o, "tracked"),
	       json_is_true(json_object_get(o, "truncated")) ? " (scan truncated)" : "");
	printf("%-20s %-44s %-12s %s\n", "RULE", "SOURCE", "BLOCKED-FOR", "CREDIT");
	json_array_foreach(t, i, r) {
		char b[32] = "-";

		if (ji(r, "blocked_for_ms"))
			snprintf(b, sizeof(b), "%lldms", ji(r, "blocked_for_ms"));
		printf("%-20s %-44s %-12s %lld/%lld\n", js(r, "rule"), js(r, "source"), b,
		       ji(r, "credit"), ji(r, "credit_max"));
	}
}

static void print_human(int argc, char **argv, json_t *o)
{
	const char *obj = argv[0], *verb = argc > 1 ? argv[1] : "list";
	json_t *r = json_object_get(o, "rule");

	if (!strcmp(obj, "rule")) {
		if (!strcmp(verb, "list") || !strcmp(verb, "show"))
			print_rules(json_object_get(o, "rules"));
		else if (!strcmp(verb, "add"))
			printf("added rule %s: %s\n", js(r, "name"), js(r, "spec"));
		else if (!strcmp(verb, "change"))
			printf("%s rule %s: %s\n",
			       json_is_false(json_object_get(o, "changed")) ? "unchanged" : "changed",
			       js(r, "name"), js(r, "spec"));
		else
			printf("deleted rule %s\n", argv[2]);
	} else if (!strcmp(obj, "allow") || !strcmp(obj, "block")) {
		const char *list = !strcmp(obj, "allow") ? "allowlist" : "blocklist";

		if (!strcmp(verb, "list") || !strcmp(verb, "show")) {
			print_list(json_object_get(o, obj));
			if ((size_t)ji(o, "total") > json_array_size(json_object_get(o, obj)))
				fprintf(stderr, "rlctl: showing the first %zu of %lld entries\n",
					json_array_size(json_object_get(o, obj)), ji(o, "total"));
		} else if (!strcmp(verb, "import"))
			printf("imported %lld entries into the %s (%lld new, %lld already there%s%s): %lld entries, %lld ms\n",
			       ji(o, "read"), list, ji(o, "added"), ji(o, "updated"),
			       argc == 5 ? ", for " : "", argc == 5 ? argv[4] : "", ji(o, "entries"),
			       ji(o, "ms"));
		else if (!strcmp(verb, "flush"))
			printf("flushed the %s: %lld entries removed\n", list, ji(o, "removed"));
		else if (!strcmp(verb, "add"))
			printf("added %s to the %s%s%s\n", js(o, "prefix"), list,
			       argc == 5 ? " for " : "", argc == 5 ? argv[4] : "");
		else
			printf("removed %s from the %s\n", js(o, "prefix"), list);
	} else if (!strcmp(obj, "stats")) {
		print_stats(o);
	} else if (!strcmp(obj, "status")) {
		print_status(o);
	} else if (!strcmp(obj, "top")) {
		print_top(o);
	} else if (!strcmp(obj, "config")) {
		if (!strcmp(verb, "dump"))
			fputs(js(o, "yaml"), stdout);
		else if (!strcmp(verb, "reload"))
			printf("reloaded %s: %lld rules\n", js(o, "config"), ji(o, "rules"));
		else if (!strcmp(verb, "save"))
			printf("saved the running state to %s: %lld rules, %lld allow and %lld block entries\n",
			       js(o, "config"), ji(o, "rules"), ji(o, "allow"), ji(o, "block"));
		else
			printf("%s: OK (%lld rules)\n", js(o, "config"), ji(o, "rules"));
	}
}

static int config_check_local(const char *path)
{
	struct rl_err err = {};
	int n = 0;

	if (rl_config_check(path, &n, &err))
		return fail(EXIT_REFUSED, "%s", err.msg);
	if (json_out) {
		json_t *o = json_pack("{s:b, s:s, s:i}", "ok", 1, "config", path, "rules", n);

		print_json(o);
		json_decref(o);
	} else {
		printf("%s: OK (%d rule%s)\n", path, n, n == 1 ? "" : "s");
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("RLCTL_SOCKET");
	char *abs_file = NULL;
	json_t *resp = NULL;
	int c, ret, timeout_s = 5;
	bool timeout_set = false;
	char *end;

	if (!sock || !*sock)
		sock = DEFAULT_SOCK;
	/* '+': stop at the first word, so `top -n 5` reaches the object. */
	while ((c = getopt_long(argc, argv, "+jpS:t:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json_out = true;
			break;
		case 'p':
			json_out = true;
			json_flags = JSON_INDENT(2);
			break;
		case 'S':
			sock = optarg;
			break;
		case 't':
			timeout_s = (int)strtol(optarg, &end, 10);
			timeout_set = true;
			if (*end || timeout_s < 1 || timeout_s > 3600)
				return usage_err(usage_top, "-t %s: want seconds 1..3600", optarg);
			break;
		case 'h':
			fputs(usage_top, stdout);
			return 0;
		case 'V':
			printf("rlctl %s\n", RL_VERSION);
			return 0;
		default:
			fputs(usage_top, stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return usage_err(usage_top, "missing OBJECT");
	if (!strcmp(argv[0], "help")) {
		fputs(usage_top, stdout);
		return 0;
	}
	/* `OBJECT help` only: a later "help" is a word like any other (a
	 * rule may be named help: `rule del help` deletes it), and so is
	 * `stats help`, whose second word is a rule name */
	if (argc == 2 && !strcmp(argv[1], "help") && strcmp(argv[0], "stats")) {
		if (!strcmp(argv[0], "rule"))
			fputs(usage_rule, stdout);
		else if (!strcmp(argv[0], "allow") || !strcmp(argv[0], "block"))
			printf(usage_list, argv[0], argv[0], argv[0], argv[0], argv[0]);
		else if (!strcmp(argv[0], "config"))
			fputs(usage_config, stdout);
		else
			fputs(usage_top, stdout);
		return 0;
	}
	ret = check_words(argc, argv);
	if (ret)
		return ret;
	if (!strcmp(argv[0], "config") && !strcmp(argv[1], "check"))
		return config_check_local(argv[2]);

	/* an import or flush of a million lines takes seconds: unless -t says */
	if (!timeout_set && argc >= 2 && (!strcmp(argv[1], "import") || !strcmp(argv[1], "flush")))
		timeout_s = 300;
	/* FILE is the caller's: relative to our directory, not the agent's */
	if (((!strcmp(argv[0], "config") && !strcmp(argv[1], "save")) ||
	     ((!strcmp(argv[0], "allow") || !strcmp(argv[0], "block")) && !strcmp(argv[1], "import"))) &&
	    argc >= 3 && argv[2][0] != '/') {
		char cwd[4096];

		if (!getcwd(cwd, sizeof(cwd)))
			return fail(EXIT_USAGE, "%s %s %s: cannot tell the current directory: %s",
				    argv[0], argv[1], argv[2], strerror(errno));
		abs_file = malloc(strlen(cwd) + strlen(argv[2]) + 2);
		if (!abs_file)
			return fail(EXIT_USAGE, "out of memory");
		sprintf(abs_file, "%s/%s", cwd, argv[2]);
		argv[2] = abs_file;
	}
	if (!strcmp(argv[0], "events")) {
		long max = argc == 3 ? strtol(argv[2], NULL, 10) : 0;

		keep_conn = true;
		ret = call_agent(sock, timeout_s, 1, argv, &resp);
		if (ret)
			return ret;
		if (!json_is_true(json_object_get(resp, "ok"))) {
			fprintf(stderr, "rlctl: %s\n", js(resp, "error"));
			json_decref(resp);
			free(keep_rest);
			if (keep_fd >= 0)
				close(keep_fd);
			return EXIT_REFUSED;
		}
		json_decref(resp);
		return stream_events(max);
	}
	ret = call_agent(sock, timeout_s, argc, argv, &resp);
	free(abs_file);
	if (ret)
		return ret;
	if (!json_is_true(json_object_get(resp, "ok"))) {
		const char *code = js(resp, "code");

		ret = !strcmp(code, "usage") ? EXIT_USAGE : EXIT_REFUSED;
		if (!json_out)
			fprintf(stderr, "rlctl: %s\n", js(resp, "error"));
	} else {
		ret = 0;
	}
	if (json_out)
		print_json(resp);
	else if (!ret)
		print_human(argc, argv, resp);
	json_decref(resp);
	return ret;
}
