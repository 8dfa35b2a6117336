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
#include "rl_cmds.h"
#include "rl_model.h"
#include "rl_version.h"

#define EXIT_REFUSED     1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3
#define DEFAULT_SOCK     "/run/rlagent/rlagent.sock"
#define MAX_RESP         (256 * 1024 * 1024)

static bool json_out;
/* completion: errors are not printed (the shell would offer them) */
static bool silent;
/* -j: one line (for scripts and jq); -p: indented for people, as bpftool */
static size_t json_flags = JSON_COMPACT;

static void print_json(json_t *o)
{
	char *s = json_dumps(o, json_flags);

	printf("%s\n", s ? s : "{}");
	free(s);
}

static const char usage_head[] =
"usage: rlctl [-j|-p] [-S SOCKET] [-t SECONDS] OBJECT COMMAND [ARGS...]\n"
"\n"
"  -j, --json     print the agent's JSON answer instead of a table, on one line\n"
"  -p, --pretty   the same JSON, indented (implies -j)\n"
"  -S SOCKET      control socket (default " DEFAULT_SOCK ", or $RLCTL_SOCKET)\n"
"  -t SECONDS     connect/answer timeout (default 5)\n"
"  -h, --help     print this on stdout and exit 0 (so do `help` and `OBJECT help`)\n"
"  -V, --version  print the version and exit 0\n"
"\n"
"objects and commands (`help` later on is a word: a rule may be named help):\n";

static const char usage_tail[] =
"\n"
"exit codes: 0 ok, 1 refused by the agent, 2 usage error, 3 agent unreachable\n"
"(socket missing, connection refused, or no answer within the timeout).\n";

/* The help text, from the command table: everything, or one object's. */
static void usage(FILE *f, const char *obj)
{
	if (obj && *obj) {
		rl_cmd_usage(f, obj, "rlctl");
		return;
	}
	fputs(usage_head, f);
	rl_cmd_usage(f, NULL, NULL);
	fputs(usage_tail, f);
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (silent)
		return code;
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

/* A usage error; obj: also print that object's help ("" all of it). */
static int usage_err(const char *obj, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_err(const char *obj, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!json_out && obj)
		usage(stderr, obj);
	return fail(EXIT_USAGE, "%s", buf);
}

/*
 * Local grammar check, from the command table: 0 and *cmd, or the exit
 * code of the usage error (a bad shape also prints the object's help).
 */
static int check_words(int argc, char **argv, const struct rl_cmd **cmd)
{
	struct rl_err err = {};
	int r = rl_cmd_parse(argc, argv, cmd, &err);

	if (!r)
		return 0;
	return usage_err(r == 1 ? NULL : rl_cmd_is_object(argv[0]) ? argv[0] : "", "%s", err.msg);
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
		char sbuf[128] = "any", bb[32], act[64], per[48];
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
		/* a scope cluster rule's rate and burst are the cluster's */
		snprintf(per, sizeof(per), "%s%s", js(r, "per"),
			 strcmp(js(r, "scope"), "cluster") ? "" : ",cluster");
		printf("%-20s %-5lld %-20s %-6s %-11s %-14s %-10s %-15s %-14s %-8s %s\n",
		       js(r, "name"), ji(r, "id"), sbuf, js(r, "proto"),
		       js(r, "dport"), js(r, "rate"), bb, js(r, "algo"), per,
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

static double jd(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/* status: the cluster section, if the agent has one */
static void print_cluster(json_t *c)
{
	json_t *rules = json_object_get(c, "rules"), *r;
	size_t i;

	if (!json_is_object(c))
		return;
	printf("cluster:       '%s' node %s, Redis %s: %s; sync every %.0f ms, last took %.2f ms; "
	       "on-redis-down %s\n", js(c, "name"), js(c, "node"), js(c, "redis"),
	       json_is_true(json_object_get(c, "connected")) ? "connected" : "DOWN",
	       jd(c, "sync_s") * 1e3, jd(c, "last_sync_latency_s") * 1e3, js(c, "on_redis_down"));
	printf("               syncs %lld ok, %lld failed, %lld skipped; %lld on the down policy; "
	       "%lld share updates; %lld Redis commands\n", ji(c, "syncs_ok"), ji(c, "syncs_failed"),
	       ji(c, "syncs_skipped"), ji(c, "down_syncs"), ji(c, "share_updates"),
	       ji(c, "redis_commands"));
	if (*js(c, "last_error") && strcmp(js(c, "last_error"), "-"))
		printf("               last error: %s\n", js(c, "last_error"));
	json_array_foreach(rules, i, r)
		printf("  rule %-20s share %.3f = %.0f of %.0f %s/s here; here %lld/s offered, %lld/s admitted; "
		       "cluster %lld/s offered, %lld/s admitted, %lld nodes\n", js(r, "name"),
		       jd(r, "share"), jd(r, "local_rate_per_s"), jd(r, "rate_per_s"), js(r, "unit"),
		       ji(r, "demand_per_s"), ji(r, "admitted_per_s"), ji(r, "cluster_demand_per_s"),
		       ji(r, "cluster_admitted_per_s"), ji(r, "nodes"));
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
	if (json_is_string(json_object_get(o, "degraded")))
		printf("DEGRADED:      %s\n", json_string_value(json_object_get(o, "degraded")));
	printf("interfaces:   ");
	if (!json_array_size(ifs))
		printf(" none");
	json_array_foreach(ifs, i, i1) {
		printf(" %s (ifindex %lld, xdp %s", js(i1, "name"), ji(i1, "ifindex"), js(i1, "mode"));
		if (!strcmp(js(i1, "attach"), "dispatcher"))
			printf(", libxdp dispatcher, priority %lld)", ji(i1, "priority"));
		else
			printf(", own bpf_link)");
	}
	printf("\n");
	json_array_foreach(ifs, i, i1)
		if (json_is_string(json_object_get(i1, "attach_note")))
			printf("  %s: %s\n", js(i1, "name"), js(i1, "attach_note"));
	if (json_is_array(json_object_get(o, "capabilities"))) {
		json_t *c;

		printf("capabilities: ");
		if (!json_array_size(json_object_get(o, "capabilities")))
			printf(" none");
		json_array_foreach(json_object_get(o, "capabilities"), i, c)
			printf(" %s", json_string_value(c));
		printf("\n");
	}
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
	print_cluster(json_object_get(o, "cluster"));
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

static void print_explain(json_t *o)
{
	json_t *p = json_object_get(o, "packet"), *l, *e, *r = json_object_get(o, "rule"),
	       *st = json_object_get(o, "state"), *v;
	size_t i;

	printf("packet:   from %s, proto %s", js(p, "source"), js(p, "proto"));
	if (json_is_integer(json_object_get(p, "dport")))
		printf(", dport %lld", ji(p, "dport"));
	printf("%s\n", json_is_true(json_object_get(p, "syn")) ? ", SYN" : "");
	printf("verdict:  %s (%s)\n", js(o, "verdict"), js(o, "reason"));
	printf("matched:  %s\n", json_is_string(json_object_get(o, "match_prefix")) ?
	       js(o, "match_prefix") :
	       !strncmp(js(o, "reason"), "allowlisted", 11) || !strcmp(js(o, "reason"), "blocklisted") ?
	       "a list entry (the list tries decide before the rules)" :
	       "no prefix (no entry covers the source)");
	l = json_object_get(o, "lists");
	json_array_foreach(l, i, e) {
		printf("list:     %s %s", js(e, "list"), js(e, "prefix"));
		if (json_is_true(json_object_get(e, "expired")))
			printf(" (expired)");
		else if (json_is_integer(json_object_get(e, "expires_in_s")))
			printf(" (expires in %llds)", ji(e, "expires_in_s"));
		printf("\n");
	}
	if (json_is_integer(json_object_get(o, "blocked_for_ms")))
		printf("blocked:  %lldms left\n", ji(o, "blocked_for_ms"));
	if (r)
		printf("rule:     %s: %s\n", js(r, "name"), js(r, "spec"));
	if (!st)
		return;
	printf("key:      %s (%s)\n", js(st, "key"),
	       json_is_true(json_object_get(st, "tracked")) ? "tracked" :
	       json_is_false(json_object_get(st, "tracked")) ? "not tracked yet: a new key starts full" :
	       "state not read");
	if (json_is_string(json_object_get(st, "note")))
		printf("note:     %s\n", js(st, "note"));
	if (json_is_string(json_object_get(st, "error")))
		printf("error:    %s\n", js(st, "error"));
	if (!json_is_integer(json_object_get(st, "credit")))
		return;
	printf("credit:   %lld/%lld %s\n", ji(st, "credit"), ji(st, "credit_max"), js(st, "unit"));
	if (ji(st, "blocked_for_ms"))
		printf("box:      penalty box, %lldms left\n", ji(st, "blocked_for_ms"));
	v = json_object_get(st, "next_pass_in_ms");
	if (json_is_number(v) && json_number_value(v) == 0)
		printf("next:     a packet would pass now\n");
	else if (json_is_number(v))
		printf("next:     a packet would pass in %.3fms\n", json_number_value(v));
	else
		printf("next:     not within 52 days\n");
}

static void print_human(const struct rl_cmd *cmd, int argc, char **argv, json_t *o)
{
	const char *list = !strcmp(argv[0], "allow") ? "allowlist" : "blocklist";
	json_t *r = json_object_get(o, "rule");

	switch (cmd->id) {
	case RL_CMD_RULE_LIST:
		print_rules(json_object_get(o, "rules"));
		break;
	case RL_CMD_RULE_ADD:
		printf("added rule %s: %s\n", js(r, "name"), js(r, "spec"));
		break;
	case RL_CMD_RULE_CHANGE:
		printf("%s rule %s: %s\n",
		       json_is_false(json_object_get(o, "changed")) ? "unchanged" : "changed",
		       js(r, "name"), js(r, "spec"));
		break;
	case RL_CMD_RULE_DEL:
		printf("deleted rule %s\n", argv[2]);
		break;
	case RL_CMD_LIST_SHOW:
		print_list(json_object_get(o, argv[0]));
		if ((size_t)ji(o, "total") > json_array_size(json_object_get(o, argv[0])))
			fprintf(stderr, "rlctl: showing the first %zu of %lld entries\n",
				json_array_size(json_object_get(o, argv[0])), ji(o, "total"));
		break;
	case RL_CMD_LIST_ADD:
		printf("added %s to the %s%s%s\n", js(o, "prefix"), list,
		       argc == 5 ? " for " : "", argc == 5 ? argv[4] : "");
		break;
	case RL_CMD_LIST_DEL:
		printf("removed %s from the %s\n", js(o, "prefix"), list);
		break;
	case RL_CMD_LIST_IMPORT:
		printf("imported %lld entries into the %s (%lld new, %lld already there%s%s): %lld entries, %lld ms\n",
		       ji(o, "read"), list, ji(o, "added"), ji(o, "updated"),
		       argc == 5 ? ", for " : "", argc == 5 ? argv[4] : "", ji(o, "entries"),
		       ji(o, "ms"));
		break;
	case RL_CMD_LIST_FLUSH:
		printf("flushed the %s: %lld entries removed\n", list, ji(o, "removed"));
		break;
	case RL_CMD_STATS:
		print_stats(o);
		break;
	case RL_CMD_STATUS:
		print_status(o);
		break;
	case RL_CMD_TOP:
		print_top(o);
		break;
	case RL_CMD_EXPLAIN:
		print_explain(o);
		break;
	case RL_CMD_CONFIG_DUMP:
		fputs(js(o, "yaml"), stdout);
		break;
	case RL_CMD_CONFIG_RELOAD:
		printf("reloaded %s: %lld rules\n", js(o, "config"), ji(o, "rules"));
		break;
	case RL_CMD_CONFIG_SAVE:
		printf("saved the running state to %s: %lld rules, %lld allow and %lld block entries\n",
		       js(o, "config"), ji(o, "rules"), ji(o, "allow"), ji(o, "block"));
		break;
	case RL_CMD_CONFIG_CHECK:
	case RL_CMD_EVENTS:
	case RL_CMD_PING:
	case __RL_CMD_MAX:
		break;
	}
}

/* rl_cmd_complete's words that start with cur, one a line. */
struct comp {
	const char *cur;
	const char *sock;
};

static void comp_rules(const char *sock, const char *cur)
{
	char *av[] = { "rule", "list", NULL };
	json_t *resp = NULL, *rules, *r;
	size_t i;

	/* the agent's rule names, if it answers within a second */
	silent = true;
	if (!call_agent(sock, 1, 2, av, &resp)) {
		rules = json_object_get(resp, "rules");
		json_array_foreach(rules, i, r) {
			const char *n = js(r, "name");

			if (!strncmp(n, cur, strlen(cur)))
				printf("%s\n", n);
		}
	}
	silent = false;
	json_decref(resp);
}

static void comp_emit(const char *w, void *ctx)
{
	struct comp *c = ctx;

	if (!strcmp(w, RL_COMPLETE_RULES))
		comp_rules(c->sock, c->cur);
	else if (!strcmp(w, RL_COMPLETE_FILES))
		printf("%s\n", w);      /* the shell completes file names */
	else if (!strncmp(w, c->cur, strlen(c->cur)))
		printf("%s\n", w);
}

/*
 * rlctl __complete WORDS... CUR: the candidates for CUR after WORDS (the
 * words typed so far, options left out), one a line, from the command
 * table; "@files" asks the shell for file names.  deploy/rlctl.bash.
 */
static int complete(const char *sock, int argc, char **argv)
{
	struct comp c = { .cur = argc ? argv[argc - 1] : "", .sock = sock };

	rl_cmd_complete(argc ? argc - 1 : 0, argv, comp_emit, &c);
	return 0;
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
	const struct rl_cmd *cmd = NULL;
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
				return usage_err("", "-t %s: want seconds 1..3600", optarg);
			break;
		case 'h':
			usage(stdout, NULL);
			return 0;
		case 'V':
			printf("rlctl %s\n", RL_VERSION);
			return 0;
		default:
			usage(stderr, NULL);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return usage_err("", "missing OBJECT");
	if (!strcmp(argv[0], "__complete"))
		return complete(sock, argc - 1, argv + 1);
	if (!strcmp(argv[0], "help")) {
		usage(stdout, NULL);
		return 0;
	}
	/* `OBJECT help` only: a later "help" is a word like any other (a
	 * rule may be named help: `rule del help` deletes it), and so is
	 * `stats help`, whose second word is a rule name */
	if (argc == 2 && !strcmp(argv[1], "help") && strcmp(argv[0], "stats")) {
		usage(stdout, rl_cmd_is_object(argv[0]) ? argv[0] : NULL);
		return 0;
	}
	ret = check_words(argc, argv, &cmd);
	if (ret)
		return ret;
	if (cmd->flags & RL_CMD_LOCAL)
		return config_check_local(argv[2]);

	/* an import or flush of a million lines takes seconds: unless -t says */
	if (!timeout_set && (cmd->id == RL_CMD_LIST_IMPORT || cmd->id == RL_CMD_LIST_FLUSH))
		timeout_s = 300;
	/* FILE is the caller's: relative to our directory, not the agent's */
	if ((cmd->id == RL_CMD_CONFIG_SAVE || cmd->id == RL_CMD_LIST_IMPORT) && argc >= 3 &&
	    argv[2][0] != '/') {
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
	if (cmd->id == RL_CMD_EVENTS) {
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
		print_human(cmd, argc, argv, resp);
	json_decref(resp);
	return ret;
}
