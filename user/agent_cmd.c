// SPDX-License-Identifier: GPL-2.0
/*
 * agent_cmd.c - the control commands of rlagent.  A request is the argv
 * rlctl was given ({"argv": ["rule","add","ssh",...]}); the agent parses
 * it again with lib_parse and never trusts the client's own checks.
 * Every command answers with one JSON object: {"ok":true, ...data} or
 * {"ok":false, "error":"...", "code":"usage"|"refused"}.
 *
 * A command that changes anything builds a complete new model and hands
 * it to agent_apply(), which refuses it without touching a map if it does
 * not validate or compile.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "agent.h"
#include "rl_cmds.h"
#include "rl_algo.h"

#define MAX_ARGS     256
#define MAX_ARG_LEN  1024

static const char *const gstat_names[__RL_G_MAX] = {
	[RL_G_PACKETS]   = "packets",
	[RL_G_NON_IP]    = "non_ip",
	[RL_G_PARSE_ERR] = "parse_err",
	[RL_G_UNMATCHED] = "unmatched",
	[RL_G_ALLOW]     = "allow",
	[RL_G_BLOCKLIST] = "blocklist",
	[RL_G_STATE_NEW] = "state_new",
	[RL_G_MAP_FULL]  = "map_full",
	[RL_G_FULL_PASS] = "full_pass",
	[RL_G_FULL_DROP] = "full_drop",
	[RL_G_FULL_AGG]  = "full_agg",
	[RL_G_LOCK_BUSY] = "lock_busy",
	[RL_G_FRAGMENT]  = "fragment",
	[RL_G_TC_DEFER]  = "tc_defer",
	[RL_G_EVICT]     = "evict",
	[RL_G_TC_UNPARSED] = "tc_unparsed",
	[RL_G_EV_LOST]   = "events_lost",
};

const char *agent_gstat_name(int g)
{
	return g >= 0 && g < __RL_G_MAX ? gstat_names[g] : NULL;
}

static const char *const verdict_names[__RL_V_MAX] = {
	[RL_V_PASS] = "pass", [RL_V_DROP] = "drop",
	[RL_V_MONITOR] = "monitor", [RL_V_BLOCK] = "block",
	[RL_V_MARK] = "mark",
};

static const char *const on_full_names[__RL_FULL_MAX] = {
	[RL_FULL_EVICT] = "evict", [RL_FULL_FAIL_OPEN] = "fail-open",
	[RL_FULL_FAIL_CLOSED] = "fail-closed", [RL_FULL_AGGREGATE] = "aggregate",
};

static const char *const malformed_names[__RL_MALFORMED_MAX] = {
	[RL_MALFORMED_DROP] = "drop", [RL_MALFORMED_PASS] = "pass",
};

static const char *const xdp_mode_names[] = { "auto", "native", "generic" };

/* The requester of a change, for its log line. */
static const char *who(void)
{
	return agent_peer ? agent_peer : "the agent";
}

json_t *agent_error(const char *code, const char *fmt, ...)
{
	char buf[RL_ERR_LEN + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* a quoted word may be cut, or a path not UTF-8: JSON would refuse */
	rl_utf8_sanitize(buf);
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", buf, "code", code);
}

/* A JSON string of text the agent does not control (paths, messages),
 * sanitized to UTF-8 so encoding the answer cannot fail. */
static json_t *jtext(const char *s)
{
	char *c = strdup(s ? s : "");
	json_t *j;

	if (!c)
		return NULL;
	rl_utf8_sanitize(c);
	j = json_string(c);
	free(c);
	return j;
}

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

void format_duration(uint64_t ns, char *buf, size_t len)
{
	static const struct { uint64_t ns; const char *unit; } u[] = {
		{ 86400000000000ull, "d" }, { 3600000000000ull, "h" },
		{ 60000000000ull, "m" }, { 1000000000ull, "s" },
		{ 1000000ull, "ms" }, { 1000ull, "us" }, { 1, "ns" },
	};
	size_t i;

	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (ns >= u[i].ns && ns % u[i].ns == 0) {
			snprintf(buf, len, "%" PRIu64 "%s", ns / u[i].ns, u[i].unit);
			return;
		}
	snprintf(buf, len, "0s");
}

static void fmt_prefix(const struct rl_prefix *p, char *buf, size_t len)
{
	if (rl_format_prefix(p, buf, len))
		snprintf(buf, len, "?");
}

static void fmt_ports(const struct rl_rule_spec *s, char *buf, size_t len)
{
	if (s->dport_lo == s->dport_hi)
		snprintf(buf, len, "%u", s->dport_lo);
	else
		snprintf(buf, len, "%u-%u", s->dport_lo, s->dport_hi);
}

/* "V4", "V6" or "V4,V6": the one-word form `src` and the config take. */
static void fmt_src(const struct rl_rule_spec *s, char *buf, size_t len)
{
	char a[64] = "", b[64] = "";

	if (s->has_src4)
		fmt_prefix(&s->src4, a, sizeof(a));
	if (s->has_src6)
		fmt_prefix(&s->src6, b, sizeof(b));
	snprintf(buf, len, "%s%s%s", a, *a && *b ? "," : "", b);
}

static bool has_ports(const struct rl_rule_spec *s)
{
	return !(s->dport_lo == 0 && s->dport_hi == 65535);
}

static void fmt_per(const struct rl_rule_spec *s, char *buf, size_t len)
{
	if (s->per_rule)
		snprintf(buf, len, "rule");
	else
		snprintf(buf, len, "source/%u,%u", s->plen4, s->plen6);
}

static void fmt_rate(const struct rl_rule_spec *s, char *buf, size_t len)
{
	if (rl_format_rate(&s->limit, s->bytes, buf, len))
		snprintf(buf, len, "%llu/%lluns", (unsigned long long)s->limit.rate,
			 (unsigned long long)s->limit.period_ns);
}

/* The rule as `rule add` words after NAME: what `rule list` shows and what
 * a user can paste back. */
void rule_words(const struct rl_rule_spec *s, char *buf, size_t len)
{
	char t[96];
	size_t o = 0;

#define W(...) do { int _n = snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__); \
		    if (_n > 0) o += (size_t)_n; } while (0)
	buf[0] = 0;
	if (s->has_src4 || s->has_src6) {
		fmt_src(s, t, sizeof(t));
		W("src %s ", t);
	}
	if (s->proto)
		W("proto %s ", rl_proto_name(s->proto));
	if (has_ports(s)) {
		fmt_ports(s, t, sizeof(t));
		W("dport %s ", t);
	}
	if (s->syn_only)
		W("tcp-flags syn ");
	fmt_rate(s, t, sizeof(t));
	W("rate %s burst %llu algo %s ", t, (unsigned long long)s->limit.burst,
	  rl_algo_name(s->limit.algo));
	fmt_per(s, t, sizeof(t));
	W("per %s action %s", t, rl_action_name(s->action));
	if (s->mark_flags & RL_MK_MARK)
		W(" mark-value 0x%x", s->mark);
	if (s->mark_flags & RL_MK_DSCP)
		W(" dscp %u", s->dscp);
	if (s->mark_flags & RL_MK_ECN)
		W(" ecn");
	if (s->block_ns) {
		format_duration(s->block_ns, t, sizeof(t));
		W(" block-for %s", t);
	}
	if (s->cluster)
		W(" scope cluster");
#undef W
	if (o >= len && len)
		buf[len - 1] = 0;
}

json_t *agent_rule_json(const struct agent_rule *r)
{
	const struct rl_rule_spec *s = &r->spec;
	char t[96], words[512];
	json_t *o, *src;

	src = json_array();
	if (s->has_src4) {
		fmt_prefix(&s->src4, t, sizeof(t));
		json_array_append_new(src, json_string(t));
	}
	if (s->has_src6) {
		fmt_prefix(&s->src6, t, sizeof(t));
		json_array_append_new(src, json_string(t));
	}
	rule_words(s, words, sizeof(words));
	o = json_pack("{s:s, s:i, s:i, s:o, s:s, s:s}",
		      "name", s->name, "id", (json_int_t)r->id, "ver", (json_int_t)r->ver,
		      "src", src, "proto", s->proto ? rl_proto_name(s->proto) : "any",
		      "algo", rl_algo_name(s->limit.algo));
	if (has_ports(s)) {
		fmt_ports(s, t, sizeof(t));
		json_object_set_new(o, "dport", json_string(t));
	} else {
		json_object_set_new(o, "dport", json_null());
	}
	json_object_set_new(o, "tcp_flags", s->syn_only ? json_string("syn") : json_null());
	fmt_rate(s, t, sizeof(t));
	json_object_set_new(o, "rate", json_string(t));
	json_object_set_new(o, "bytes", json_boolean(s->bytes));
	json_object_set_new(o, "burst", json_integer((json_int_t)s->limit.burst));
	fmt_per(s, t, sizeof(t));
	json_object_set_new(o, "per", json_string(t));
	json_object_set_new(o, "action", json_string(rl_action_name(s->action)));
	json_object_set_new(o, "mark_value", s->mark_flags & RL_MK_MARK ?
			    json_integer((json_int_t)s->mark) : json_null());
	json_object_set_new(o, "dscp", s->mark_flags & RL_MK_DSCP ?
			    json_integer((json_int_t)s->dscp) : json_null());
	json_object_set_new(o, "ecn", json_boolean(s->mark_flags & RL_MK_ECN));
	if (s->block_ns) {
		format_duration(s->block_ns, t, sizeof(t));
		json_object_set_new(o, "block_for", json_string(t));
	} else {
		json_object_set_new(o, "block_for", json_null());
	}
	json_object_set_new(o, "scope", json_string(s->cluster ? "cluster" : "local"));
	if (s->cluster)
		json_object_set_new(o, "share", json_real((double)(s->share_q ? s->share_q : RL_SHARE_ONE) /
							  RL_SHARE_ONE));
	json_object_set_new(o, "spec", json_string(words));
	return o;
}


/* Applies `next` and turns the outcome into a response. */
static json_t *apply_or_refuse(struct agent *a, struct agent_model *next, json_t *okresp)
{
	struct rl_err err = {};
	int ret = agent_apply(a, next, &err);

	agent_model_free(next);
	if (ret) {
		json_decref(okresp);
		return agent_error("refused", "%s%s", err.msg, AGENT_UNCHANGED(a));
	}
	return okresp;
}

static json_t *cmd_rule(struct agent *a, int argc, char **argv)
{
	struct agent_model next;
	struct agent_rule *cur;
	struct rl_rule_spec spec;
	struct rl_err err = {};
	const char *verb = argc > 1 ? argv[1] : "list";
	json_t *resp;
	int i;

	if (!strcmp(verb, "list") || !strcmp(verb, "show")) {
		json_t *arr = json_array();

		for (i = 0; i < a->model.n_rules; i++) {
			if (argc > 2 && strcmp(a->model.rules[i].spec.name, argv[2]))
				continue;
			json_array_append_new(arr, agent_rule_json(&a->model.rules[i]));
		}
		if (argc > 2 && !json_array_size(arr)) {
			json_decref(arr);
			return agent_error("refused", "no rule named '%s'; `rlctl rule list` shows them",
					   argv[2]);
		}
		return json_pack("{s:b, s:o}", "ok", 1, "rules", arr);
	}
	if (!strcmp(verb, "add") || !strcmp(verb, "change")) {
		bool add = !strcmp(verb, "add");

		if (argc < 3 || (!add && argc < 4))
			return agent_error("usage", "usage: rule %s NAME [src PREFIX] [proto P] [dport N[-M]] "
					   "[tcp-flags syn] %s [burst N [UNIT]] [algo A] [per source[/L4[,L6]]|per rule] "
					   "[action drop|monitor|mark] [mark-value N] [dscp N] [ecn] "
					   "[block-for DUR]", verb,
					   add ? "rate RATE" : "[rate RATE]");
		if (!rl_name_valid(argv[2]))
			return agent_error("usage", "rule name '%.*s' is invalid: use 1-%d characters of [A-Za-z0-9._-]",
					   RL_CUT(argv[2], 64), RL_NAME_LEN - 1);
		cur = agent_model_find(&a->model, argv[2]);
		if (add && cur)
			return agent_error("refused", "rule '%s' exists; `rlctl rule change %s ...` changes it",
					   argv[2], argv[2]);
		if (!add && !cur)
			return agent_error("refused", "no rule named '%s'; `rlctl rule add %s ...` creates it",
					   argv[2], argv[2]);
		memset(&spec, 0, sizeof(spec));
		if (add)
			rl_rule_defaults(&spec, &a->cfg.defaults);
		else
			spec = cur->spec;
		if (rl_parse_rule_words(argc - 3, argv + 3, &spec, add, &err))
			return agent_error("usage", "rule %s %s: %s", verb, argv[2], err.msg);
		snprintf(spec.name, sizeof(spec.name), "%s", argv[2]);
		if (!add && !memcmp(&spec, &cur->spec, sizeof(spec)))
			return json_pack("{s:b, s:b, s:o}", "ok", 1, "changed", 0,
					 "rule", agent_rule_json(cur));
		if (agent_model_dup(&a->model, &next))
			return agent_error("refused", "out of memory");
		if (add) {
			if (agent_model_add_rule(&next, &spec)) {
				agent_model_free(&next);
				return agent_error("refused", "out of memory");
			}
		} else {
			agent_model_find(&next, argv[2])->spec = spec;
		}
		resp = apply_or_refuse(a, &next, ok());
		if (json_object_get(resp, "error"))
			return resp;
		cur = agent_model_find(&a->model, argv[2]);
		json_object_set_new(resp, "rule", agent_rule_json(cur));
		log_info("rule %s %s by %s: %s", verb, argv[2], who(),
			 json_string_value(json_object_get(json_object_get(resp, "rule"), "spec")));
		return resp;
	}
	if (!strcmp(verb, "del") || !strcmp(verb, "delete")) {
		if (argc != 3)
			return agent_error("usage", "usage: rule del NAME");
		if (!agent_model_find(&a->model, argv[2]))
			return agent_error("refused", "no rule named '%s'; `rlctl rule list` shows them",
					   argv[2]);
		if (agent_model_dup(&a->model, &next))
			return agent_error("refused", "out of memory");
		agent_model_del_rule(&next, argv[2]);
		resp = apply_or_refuse(a, &next, ok());
		if (!json_object_get(resp, "error"))
			log_info("rule del %s by %s", argv[2], who());
		return resp;
	}
	return agent_error("usage", "unknown command 'rule %.*s': try add, change, del, list",
			   RL_CUT(verb, 64));
}

#define LIST_SHOW 100000

static json_t *list_json(const struct rl_list_entry *l, int n, uint64_t now)
{
	json_t *arr = json_array();
	char t[64];
	int i;

	/* the answer must fit a client's queue (agent_ctl.c): the first
	 * LIST_SHOW entries, and "total" says how many there are */
	if (n > LIST_SHOW)
		n = LIST_SHOW;
	for (i = 0; i < n; i++) {
		json_t *o;

		fmt_prefix(&l[i].pfx, t, sizeof(t));
		o = json_pack("{s:s}", "prefix", t);
		if (l[i].expires_ns)
			json_object_set_new(o, "expires_in_s", json_integer(
				l[i].expires_ns > now ? (json_int_t)((l[i].expires_ns - now + 999999999ull) /
								      1000000000ull) : 0));
		else
			json_object_set_new(o, "expires_in_s", json_null());
		json_array_append_new(arr, o);
	}
	return arr;
}

/* An import file larger than this is refused before it is read: 2M
 * entries of the longest IPv6 prefix with comments fit well inside. */
#define IMPORT_MAX_BYTES (512ull << 20)

/*
 * `allow|block import FILE [for DURATION]`: every prefix of FILE (an
 * absolute path, opened by the agent) onto the list, all or nothing.  A
 * prefix already there takes the import's expiry.
 */
static json_t *cmd_list_import(struct agent *a, bool allow, int argc, char **argv)
{
	const char *obj = argv[0], *path;
	struct rl_list_entry *in = NULL, *l, *old, *merged;
	struct agent_model next;
	struct rl_err err = {};
	uint64_t dur = 0, now = agent_now_ns(), t0 = now;
	int n = 0, i, j, k, nold, added = 0, fd;
	const struct rl_list_entry *other;
	int n_other;
	struct stat st;
	json_t *resp;
	FILE *f;

	/* the shape was checked by the command table (check_list_import) */
	if (argc == 5) {
		if (rl_parse_duration(argv[4], &dur, &err))
			return agent_error("usage", "%s import: for: %s", obj, err.msg);
		if (!dur)
			return agent_error("usage", "%s import: for: the duration must be more than 0",
					   obj);
	}
	path = argv[2];
	if (path[0] != '/')
		return agent_error("usage", "%s import: '%.*s' is not an absolute path (rlctl makes it one)",
				   obj, RL_CUT(path, 200));
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return agent_error("refused", "%s import: cannot open %.*s: %s", obj,
				   RL_CUT(path, 200), strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > IMPORT_MAX_BYTES) {
		close(fd);
		return agent_error("refused", "%s import: %.*s is not a regular file of at most %llu MiB",
				   obj, RL_CUT(path, 200), IMPORT_MAX_BYTES >> 20);
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return agent_error("refused", "%s import: %s", obj, strerror(errno));
	}
	if (rl_list_read(f, path, RL_MAX_LIST, &in, &n, &err)) {
		fclose(f);
		resp = agent_error("refused", "%s import: %s; nothing was changed", obj, err.msg);
		json_object_set_new(resp, "line", json_integer(err.line));
		return resp;
	}
	fclose(f);

	/* a prefix on the other list is refused, as `add` refuses it */
	other = allow ? a->model.block : a->model.allow;
	n_other = allow ? a->model.n_block : a->model.n_allow;
	for (i = 0; i < n; i++) {
		if (agent_list_find(other, n_other, &in[i].pfx) >= 0) {
			char t[64];
			int line = (int)in[i].expires_ns;

			fmt_prefix(&in[i].pfx, t, sizeof(t));
			free(in);
			resp = agent_error("refused", "%s import: %.*s: line %d: %s is on the %s; `rlctl %s del %s` first; nothing was changed",
					   obj, RL_CUT(path, 200), line, t,
					   allow ? "blocklist" : "allowlist", allow ? "block" : "allow", t);
			json_object_set_new(resp, "line", json_integer(line));
			return resp;
		}
		in[i].expires_ns = dur ? now + dur : 0;
	}
	n = rl_list_sort(in, n);

	if (agent_model_dup(&a->model, &next)) {
		free(in);
		return agent_error("refused", "out of memory");
	}
	old = allow ? next.allow : next.block;
	nold = allow ? next.n_allow : next.n_block;
	merged = malloc(((size_t)nold + (size_t)n + 1) * sizeof(*merged));
	if (!merged) {
		free(in);
		agent_model_free(&next);
		return agent_error("refused", "out of memory");
	}
	for (i = 0, j = 0, k = 0; i < nold || j < n;) {
		int c = i >= nold ? 1 : j >= n ? -1 : rl_lpfx_cmp(&old[i].pfx, &in[j].pfx);

		if (c < 0) {
			merged[k++] = old[i++];
		} else {
			added += c > 0;
			merged[k++] = in[j++];
			i += c == 0;
		}
	}
	free(in);
	if (k - nold + next.n_allow + next.n_block > RL_MAX_LIST) {
		free(merged);
		agent_model_free(&next);
		return agent_error("refused", "%s import: %d entries would make %d allow + block entries; at most %d; nothing was changed",
				   obj, n, k - nold + next.n_allow + next.n_block, RL_MAX_LIST);
	}
	l = allow ? next.allow : next.block;
	free(l);
	if (allow) {
		next.allow = merged;
		next.n_allow = next.cap_allow = k;
	} else {
		next.block = merged;
		next.n_block = next.cap_block = k;
	}
	resp = apply_or_refuse(a, &next, json_pack("{s:b, s:s, s:i, s:i, s:i, s:i}", "ok", 1,
						  "list", allow ? "allow" : "block", "read", n,
						  "added", added, "updated", n - added, "entries", k));
	agent_model_free(&next);
	if (!json_object_get(resp, "error")) {
		json_object_set_new(resp, "ms", json_integer((json_int_t)((agent_now_ns() - t0) / 1000000)));
		log_info("%s import %s: %d entries (%d new)%s%s by %s", obj, path, n, added,
			 dur ? " for " : "", dur ? argv[4] : "", who());
	}
	return resp;
}

/* `allow|block flush`: the whole list off, at once. */
static json_t *cmd_list_flush(struct agent *a, bool allow, char **argv)
{
	struct agent_model next;
	int n = allow ? a->model.n_allow : a->model.n_block;
	json_t *resp;

	if (agent_model_dup(&a->model, &next))
		return agent_error("refused", "out of memory");
	if (allow)
		next.n_allow = 0;
	else
		next.n_block = 0;
	resp = apply_or_refuse(a, &next, json_pack("{s:b, s:s, s:i}", "ok", 1, "list",
						  allow ? "allow" : "block", "removed", n));
	agent_model_free(&next);
	if (!json_object_get(resp, "error"))
		log_info("%s flush: %d entries removed by %s", argv[0], n, who());
	return resp;
}

static json_t *cmd_list(struct agent *a, int argc, char **argv)
{
	bool allow = !strcmp(argv[0], "allow");
	const char *obj = argv[0];
	const char *verb = argc > 1 ? argv[1] : "list";
	struct agent_model next;
	struct rl_prefix p;
	struct rl_err err = {};
	uint64_t dur = 0, now = agent_now_ns();
	struct rl_list_entry *l;
	int *n, idx;
	char t[64];

	if (!strcmp(verb, "list") || !strcmp(verb, "show")) {
		if (argc > 2)
			return agent_error("usage", "usage: %s list", obj);
		return json_pack("{s:b, s:o, s:i}", "ok", 1, allow ? "allow" : "block",
				 allow ? list_json(a->model.allow, a->model.n_allow, now)
				       : list_json(a->model.block, a->model.n_block, now),
				 "total", allow ? a->model.n_allow : a->model.n_block);
	}
	if (strcmp(verb, "add") && strcmp(verb, "del") && strcmp(verb, "delete"))
		return agent_error("usage", "unknown command '%s %.*s': try add, del, list", obj,
				   RL_CUT(verb, 64));
	if (argc < 3)
		return agent_error("usage", "usage: %s %s PREFIX%s", obj, verb,
				   strcmp(verb, "add") ? "" : " [for DURATION]");
	if (rl_parse_prefix(argv[2], &p, &err))
		return agent_error("usage", "%s %s: %s", obj, verb, err.msg);
	fmt_prefix(&p, t, sizeof(t));
	if (!strcmp(verb, "add")) {
		if (argc == 5 && !strcmp(argv[3], "for")) {
			if (rl_parse_duration(argv[4], &dur, &err))
				return agent_error("usage", "%s add %s for: %s", obj, argv[2], err.msg);
			if (!dur)
				return agent_error("usage", "%s add %s for: the duration must be more than 0",
						   obj, argv[2]);
		} else if (argc != 3) {
			return agent_error("usage", "usage: %s add PREFIX [for DURATION]", obj);
		}
		if (agent_list_find(allow ? a->model.block : a->model.allow,
				    allow ? a->model.n_block : a->model.n_allow, &p) >= 0)
			return agent_error("refused", "%s is on the %s; `rlctl %s del %s` first",
					   t, allow ? "blocklist" : "allowlist",
					   allow ? "block" : "allow", t);
	} else if (argc != 3) {
		return agent_error("usage", "usage: %s del PREFIX", obj);
	}

	if (agent_model_dup(&a->model, &next))
		return agent_error("refused", "out of memory");
	l = allow ? next.allow : next.block;
	n = allow ? &next.n_allow : &next.n_block;
	idx = rl_list_search(l, *n, &p);
	if (!strcmp(verb, "add")) {
		if (idx < 0) {
			if (next.n_allow + next.n_block >= RL_MAX_LIST ||
			    agent_list_reserve(&next, allow, *n + 1)) {
				agent_model_free(&next);
				return agent_error("refused", "allow + block lists are full (%d entries)",
						   RL_MAX_LIST);
			}
			l = allow ? next.allow : next.block;
			/* keep the list sorted: insert where the search ended */
			idx = -idx - 1;
			memmove(&l[idx + 1], &l[idx], (size_t)(*n - idx) * sizeof(*l));
			(*n)++;
			memset(&l[idx], 0, sizeof(l[idx]));
			l[idx].pfx = p;
		}
		l[idx].expires_ns = dur ? now + dur : 0;
	} else {
		if (idx < 0) {
			agent_model_free(&next);
			return agent_error("refused", "%s is not on the %s; `rlctl %s list` shows it",
					   t, allow ? "allowlist" : "blocklist", obj);
		}
		memmove(&l[idx], &l[idx + 1], (size_t)(*n - idx - 1) * sizeof(*l));
		(*n)--;
	}
	json_t *resp = apply_or_refuse(a, &next, json_pack("{s:b, s:s}", "ok", 1, "prefix", t));

	if (!json_object_get(resp, "error"))
		log_info("%s %s %s%s%s by %s", obj, verb, t, dur ? " for " : "", dur ? argv[4] : "",
			 who());
	return resp;
}

static json_t *ctr_json(const struct rl_ctr *c)
{
	return json_pack("{s:I, s:I}", "packets", (json_int_t)c->packets,
			 "bytes", (json_int_t)c->bytes);
}

static json_t *cmd_stats(struct agent *a, int argc, char **argv)
{
	json_t *rules = json_array(), *glob = json_object();
	struct rl_ctr c;
	int i, v, ret;

	for (i = 0; i < a->model.n_rules; i++) {
		const struct agent_rule *r = &a->model.rules[i];
		json_t *o;

		if (argc > 1 && strcmp(r->spec.name, argv[1]))
			continue;
		o = json_pack("{s:s, s:i}", "name", r->spec.name, "id", (json_int_t)r->id);
		for (v = 0; v < __RL_V_MAX; v++) {
			ret = agent_pcpu_sum(a, a->maps.stats, r->id * __RL_V_MAX + v, &c);
			if (ret)
				memset(&c, 0, sizeof(c));
			json_object_set_new(o, verdict_names[v], ctr_json(&c));
		}
		json_array_append_new(rules, o);
	}
	if (argc > 1 && !json_array_size(rules)) {
		json_decref(rules);
		json_decref(glob);
		return agent_error("refused", "no rule named '%s'", argv[1]);
	}
	for (i = 0; i < __RL_G_MAX; i++) {
		/* a counter newer than this table has no name yet: left out */
		if (!gstat_names[i])
			continue;
		if (agent_pcpu_sum(a, a->maps.gstats, (uint32_t)i, &c))
			memset(&c, 0, sizeof(c));
		json_object_set_new(glob, gstat_names[i], ctr_json(&c));
	}
	return json_pack("{s:b, s:o, s:o}", "ok", 1, "rules", rules, "global", glob);
}

/*
 * A state table: its size in buckets and in tracked sources (what
 * state-entries asked for), and what the last complete sweep found, with
 * its age: between sweeps the count is that old, and before the first
 * one there is none (null), never a silent 0.
 */
static json_t *table_json(const struct agent *a, int fam, uint64_t now)
{
	const struct agent_sweep *sw = fam == 4 ? &a->sweep4 : &a->sweep6;
	uint32_t n = fam == 4 ? a->maps.n_bkt4 : a->maps.n_bkt6;
	int slots = fam == 4 ? RL_BKT4_SLOTS : RL_BKT6_SLOTS;
	json_t *o;

	o = json_pack("{s:s, s:I, s:i, s:I, s:I, s:I}", "type", "table",
		      "buckets", (json_int_t)n, "slots_per_bucket", slots,
		      "slots", (json_int_t)n * slots, "capacity", (json_int_t)a->st_capacity,
		      "cleared", (json_int_t)sw->cleared);
	if (sw->live >= 0) {
		json_object_set_new(o, "live", json_integer(sw->live));
		json_object_set_new(o, "swept_s_ago", json_real(now > sw->at_ns ?
			(double)(now - sw->at_ns) / 1e9 : 0.0));
	} else {
		json_object_set_new(o, "live", json_null());
		json_object_set_new(o, "swept_s_ago", json_null());
	}
	return o;
}

static json_t *cmd_status(struct agent *a)
{
	json_t *ifs = json_array(), *o, *lr;
	uint64_t now = agent_now_ns();
	int i;

	for (i = 0; i < a->n_ifaces; i++)
		json_array_append_new(ifs, json_pack("{s:s, s:i, s:s, s:s, s:o, s:o}",
						     "name", a->ifaces[i].name,
						     "ifindex", a->ifaces[i].ifindex,
						     "mode", a->ifaces[i].mode,
						     "attach", a->ifaces[i].dispatcher ?
								"dispatcher" : "link",
						     "priority", a->ifaces[i].dispatcher ?
								json_integer(a->ifaces[i].prio) :
								json_null(),
						     "attach_note", a->ifaces[i].note[0] ?
								jtext(a->ifaces[i].note) :
								json_null()));
	if (a->have_last_reload)
		lr = json_pack("{s:b, s:o, s:I}", "ok", a->last_reload_ok,
			       "message", jtext(a->last_reload_msg),
			       "time", (json_int_t)a->last_reload_time);
	else
		lr = json_null();
	o = json_pack("{s:b, s:i, s:I, s:o, s:i, s:i, s:i, s:o, s:o?, s:s, s:s, s:b, s:i, s:o}",
		      "ok", 1, "pid", (int)getpid(),
		      "uptime_s", (json_int_t)(time(NULL) - a->started),
		      "interfaces", ifs,
		      "rules", a->model.n_rules, "allow", a->model.n_allow, "block", a->model.n_block,
		      "pin_dir", jtext(a->pin_dir),
		      "config", a->config_path ? jtext(a->config_path) : NULL,
		      "on_full", a->cfg.defaults.on_full < __RL_FULL_MAX ?
				 on_full_names[a->cfg.defaults.on_full] : "?",
		      "malformed", a->cfg.defaults.malformed < __RL_MALFORMED_MAX ?
				   malformed_names[a->cfg.defaults.malformed] : "?",
		      "adopted", a->adopted, "match_entries", a->applied.n,
		      "last_reload", lr);
	/* a failed rollback the maps could not be re-read after */
	json_object_set_new(o, "degraded", a->degraded ? jtext(a->degraded_msg) : json_false());
	json_object_set_new(o, "clock", json_string(a->cfg.defaults.coarse_clock ?
						       "coarse" : "precise"));
	json_object_set_new(o, "direct_table", agent_dir_json(a));
	{
		json_t *caps = json_array();
		char c[sizeof(a->caps)], *t, *save = NULL;

		snprintf(c, sizeof(c), "%s", a->caps);
		for (t = strtok_r(c, " ", &save); a->caps_dropped && t; t = strtok_r(NULL, " ", &save))
			json_array_append_new(caps, json_string(t));
		json_object_set_new(o, "capabilities", a->caps_dropped ? caps : json_null());
		if (!a->caps_dropped)
			json_decref(caps);
	}
	json_object_set_new(o, "state_maps", json_pack("{s:o, s:o}",
						       "rl_st4", table_json(a, 4, now),
						       "rl_st6", table_json(a, 6, now)));
	json_object_set_new(o, "cluster", agent_cluster_json(a));
	json_object_set_new(o, "gc", json_pack("{s:b, s:f, s:I, s:I}",
					       "on", a->gc_interval_ns != 0,
					       "interval_s", (double)a->gc_interval_ns / 1e9,
					       "passes", (json_int_t)a->gc_passes,
					       "deleted", (json_int_t)a->gc_deleted));
	return o;
}

/* "file:8:5: ..." is exact but easy to miss; say "line 8" in words too. */
static void add_line_hint(struct rl_err *err)
{
	size_t len = strlen(err->msg);

	if (err->line > 0 && !strstr(err->msg, "line ") && len + 40 < sizeof(err->msg))
		snprintf(err->msg + len, sizeof(err->msg) - len, " (line %d, column %d)",
			 err->line, err->col);
}

int agent_check_config(const char *path, int *n_rules, struct rl_err *err)
{
	int ret = rl_config_check(path, n_rules, err);

	if (ret)
		add_line_hint(err);
	return ret;
}

/* Carries the live timed entries of an old list into `next`, whose first
 * na0/nb0 entries (the config's, sorted) are all it searches: what this
 * appends is sorted afterwards. */
static void keep_timed(const struct rl_list_entry *l, int n, struct agent_model *next, bool allow,
		       int na0, int nb0)
{
	uint64_t now = agent_now_ns();
	char t[64];
	int i;

	for (i = 0; i < n; i++) {
		const struct rl_list_entry *e = &l[i];

		if (!e->expires_ns || e->expires_ns <= now ||
		    agent_list_find(next->block, nb0, &e->pfx) >= 0 ||
		    agent_list_find(next->allow, na0, &e->pfx) >= 0)
			continue;
		if (next->n_allow + next->n_block >= RL_MAX_LIST ||
		    agent_list_reserve(next, allow, (allow ? next->n_allow : next->n_block) + 1)) {
			fmt_prefix(&e->pfx, t, sizeof(t));
			log_warn("config reload: no room to keep the timed %s entry %s (allow + block lists are full)",
				 allow ? "allow" : "block", t);
			continue;
		}
		if (allow)
			next->allow[next->n_allow++] = *e;
		else
			next->block[next->n_block++] = *e;
	}
}

int agent_config_reload(struct agent *a, struct rl_err *err)
{
	struct rl_config cfg;
	struct agent_model next;
	int ret, na0, nb0;

	a->unchanged = true;
	a->reloads++;
	a->have_last_reload = true;
	a->last_reload_time = time(NULL);
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		agent_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
			     (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000,
			     a->config_path ? a->config_path : "(no config file)");
	}
	if (!a->config_path) {
		agent_err(err, "the agent was started without a config file (-c FILE); nothing to reload");
		ret = -ENOENT;
		goto out;
	}
	rl_config_defaults(&cfg);
	ret = rl_config_load(a->config_path, &cfg, err);
	if (ret) {
		add_line_hint(err);
		rl_config_free(&cfg);
		goto out;
	}
	ret = agent_model_from_config(&cfg, &next, err);
	if (ret) {
		rl_config_free(&cfg);
		goto out;
	}
	/* Timed entries added at runtime (block for 10m, allow for 1h) are
	 * not configuration: both kinds outlive a reload and expire on their
	 * own, unless the file now lists the prefix itself. */
	na0 = next.n_allow;
	nb0 = next.n_block;
	keep_timed(a->model.allow, a->model.n_allow, &next, true, na0, nb0);
	keep_timed(a->model.block, a->model.n_block, &next, false, na0, nb0);
	next.n_allow = rl_list_sort(next.allow, next.n_allow);
	next.n_block = rl_list_sort(next.block, next.n_block);
	/* a new cluster: section first, so that its scope cluster rules apply */
	if (cfg.cluster.enabled && agent_cluster_configure(a, &cfg.cluster)) {
		agent_err(err, "cluster: cannot start the Redis thread");
		agent_model_free(&next);
		rl_config_free(&cfg);
		ret = -ENOMEM;
		goto out;
	}
	ret = agent_apply(a, &next, err);
	agent_model_free(&next);
	if (ret) {
		agent_cluster_configure(a, &a->cfg.cluster);
		rl_config_free(&cfg);
		goto out;
	}
	if (!cfg.cluster.enabled)
		agent_cluster_configure(a, &cfg.cluster);
	if (cfg.defaults.state_entries != a->cfg.defaults.state_entries)
		log_warn("%s: defaults.state-entries changed but keeps its old value %u: it sizes the pinned state tables; to change it, stop rlagent, remove %s and start it again (after `rlctl config dump` if runtime changes matter)",
			 a->config_path, a->cfg.defaults.state_entries, a->pin_dir);
	if (cfg.defaults.on_full != a->cfg.defaults.on_full && cfg.defaults.on_full < __RL_FULL_MAX)
		log_info("%s: on-full %s -> %s", a->config_path,
			 a->cfg.defaults.on_full < __RL_FULL_MAX ?
			 on_full_names[a->cfg.defaults.on_full] : "?",
			 on_full_names[cfg.defaults.on_full]);
	if (!a->metrics_cli && a->metrics_listen &&
	    strcmp(cfg.metrics[0] ? cfg.metrics : AGENT_DEFAULT_METRICS, a->metrics_listen))
		log_warn("%s: metrics changed to %s; the listener stays on %s until rlagent restarts",
			 a->config_path, cfg.metrics[0] ? cfg.metrics : AGENT_DEFAULT_METRICS,
			 a->metrics_listen);
	if (cfg.n_ifaces != a->cfg.n_ifaces ||
	    memcmp(cfg.ifaces, a->cfg.ifaces, sizeof(cfg.ifaces[0]) * (size_t)cfg.n_ifaces))
		log_warn("%s: interfaces changed; restart rlagent to attach or detach them",
			 a->config_path);
	if (cfg.defaults.xdp_attach != a->cfg.defaults.xdp_attach ||
	    cfg.defaults.xdp_prio != a->cfg.defaults.xdp_prio)
		log_warn("%s: xdp-attach or xdp-priority changed (or differs from the command line); "
			 "it takes effect when rl attaches afresh (rlagent --detach-on-exit, then start it)",
			 a->config_path);
	cfg.defaults.xdp_attach = a->cfg.defaults.xdp_attach;
	cfg.defaults.xdp_prio = a->cfg.defaults.xdp_prio;
	/* state_entries sized the tables at load: keep the one in effect.
	 * on_full is read per packet from rl_conf, written below. */
	cfg.defaults.state_entries = a->cfg.defaults.state_entries;
	rl_config_free(&a->cfg);
	a->cfg = cfg;
	a->have_cfg = true;
	ret = agent_bpf_write_conf(a);
	if (ret) {
		agent_err(err, "rules applied, but writing rl_conf failed: %s", strerror(-ret));
		a->unchanged = false;
		goto out;
	}
out:
	a->last_reload_ok = !ret;
	if (ret)
		snprintf(a->last_reload_msg, sizeof(a->last_reload_msg), "%s", err->msg);
	else
		snprintf(a->last_reload_msg, sizeof(a->last_reload_msg), "applied %s: %d rules",
			 a->config_path, a->model.n_rules);
	rl_utf8_sanitize(a->last_reload_msg);
	if (ret)
		log_err("config reload by %s refused: %s%s", who(), err->msg, AGENT_UNCHANGED(a));
	else
		log_info("config reload by %s: %s", who(), a->last_reload_msg);
	/* refused or not, the old or the new rules are running: ready again */
	agent_notify("READY=1\nSTATUS=%s%s; enforcing %d rules on %d interface(s)",
		     ret ? "last reload refused: " : "", ret ? err->msg : "reloaded",
		     a->model.n_rules, a->n_ifaces);
	return ret;
}

/* YAML double-quoted scalars: always safe for names and prefixes. */
static void yq(char *buf, size_t len, const char *s)
{
	size_t o = 0;

	if (len < 3) {
		if (len)
			buf[0] = 0;
		return;
	}
	buf[o++] = '"';
	for (; *s && o + 3 < len; s++) {
		if (*s == '"' || *s == '\\')
			buf[o++] = '\\';
		buf[o++] = *s;
	}
	buf[o++] = '"';
	buf[o] = 0;
}

char *agent_config_dump(struct agent *a)
{
	const struct rl_defaults *d = &a->cfg.defaults;
	uint64_t now = agent_now_ns();
	char t[128], q[600];
	char *buf = NULL;
	size_t sz = 0;
	FILE *f;
	int i, k;

	f = open_memstream(&buf, &sz);
	if (!f)
		return NULL;
	fprintf(f, "# running state of rlagent (pid %d), including runtime changes\n", (int)getpid());
	fprintf(f, "version: 1\n");
	if (a->n_ifaces) {
		fprintf(f, "interfaces:\n");
		for (i = 0; i < a->n_ifaces; i++) {
			int mode = 0, k;

			for (k = 0; k < a->cfg.n_ifaces; k++)
				if (!strcmp(a->cfg.ifaces[k].name, a->ifaces[i].name))
					mode = a->cfg.ifaces[k].xdp_mode;
			yq(q, sizeof(q), a->ifaces[i].name);
			fprintf(f, "  - name: %s\n", q);
			if (mode > 0 && mode < 3)
				fprintf(f, "    xdp-mode: %s\n", xdp_mode_names[mode]);
		}
	}
	yq(q, sizeof(q), a->metrics_listen ? a->metrics_listen : "off");
	fprintf(f, "metrics: %s\n", q);
	fprintf(f, "defaults:\n");
	fprintf(f, "  algo: %s\n", rl_algo_name(d->algo));
	fprintf(f, "  action: %s\n", rl_action_name(d->action));
	if (d->per_rule)
		fprintf(f, "  per: rule\n");
	else
		fprintf(f, "  per: source/%u,%u\n", d->plen4, d->plen6);
	fprintf(f, "  on-full: %s\n", d->on_full < __RL_FULL_MAX ? on_full_names[d->on_full] : "evict");
	fprintf(f, "  malformed: %s\n",
		d->malformed < __RL_MALFORMED_MAX ? malformed_names[d->malformed] : "drop");
	fprintf(f, "  state-entries: %u\n", d->state_entries);
	fprintf(f, "  clock: %s\n", d->coarse_clock ? "coarse" : "precise");
	fprintf(f, "  xdp-attach: %s\n", d->xdp_attach == 1 ? "dispatcher" :
					 d->xdp_attach == 2 ? "link" : "auto");
	fprintf(f, "  xdp-priority: %u\n", d->xdp_prio);
	for (i = 0, k = 0; i < a->model.n_allow; i++) {
		if (a->model.allow[i].expires_ns)
			continue;
		if (!k++)
			fprintf(f, "allowlist:\n");
		fmt_prefix(&a->model.allow[i].pfx, t, sizeof(t));
		fprintf(f, "  - %s\n", t);
	}
	for (i = 0; i < a->model.n_allow; i++) {
		const struct rl_list_entry *e = &a->model.allow[i];

		if (!e->expires_ns || e->expires_ns <= now)
			continue;
		fmt_prefix(&e->pfx, t, sizeof(t));
		fprintf(f, "# runtime allow %s, %llus left\n", t,
			(unsigned long long)((e->expires_ns - now) / 1000000000ull));
	}
	if (a->model.n_block) {
		int n = 0;

		for (i = 0; i < a->model.n_block; i++) {
			if (a->model.block[i].expires_ns)
				continue;
			if (!n++)
				fprintf(f, "blocklist:\n");
			fmt_prefix(&a->model.block[i].pfx, t, sizeof(t));
			fprintf(f, "  - %s\n", t);
		}
		/* A config file has no expiring entries: timed blocks are shown
		 * as comments, so loading this file never makes one permanent. */
		for (i = 0; i < a->model.n_block; i++) {
			const struct rl_list_entry *e = &a->model.block[i];
			char d2[32];

			if (!e->expires_ns || e->expires_ns <= now)
				continue;
			fmt_prefix(&e->pfx, t, sizeof(t));
			format_duration((e->expires_ns - now + 999999999ull) / 1000000000ull *
					1000000000ull, d2, sizeof(d2));
			fprintf(f, "# runtime block %s, %s left (`rlctl block add %s for %s`)\n",
				t, d2, t, d2);
		}
	}
	if (a->model.n_rules)
		fprintf(f, "rules:\n");
	for (i = 0; i < a->model.n_rules; i++) {
		const struct rl_rule_spec *s = &a->model.rules[i].spec;

		yq(q, sizeof(q), s->name);
		fprintf(f, "  - name: %s\n", q);
		if (s->has_src4 && s->has_src6) {
			char t6[64];

			fmt_prefix(&s->src4, t, sizeof(t));
			fmt_prefix(&s->src6, t6, sizeof(t6));
			fprintf(f, "    src: [\"%s\", \"%s\"]\n", t, t6);
		} else if (s->has_src4 || s->has_src6) {
			fmt_src(s, t, sizeof(t));
			fprintf(f, "    src: \"%s\"\n", t);
		}
		if (s->proto)
			fprintf(f, "    proto: %s\n", rl_proto_name(s->proto));
		if (has_ports(s)) {
			fmt_ports(s, t, sizeof(t));
			fprintf(f, "    dport: %s\n", t);
		}
		if (s->syn_only)
			fprintf(f, "    tcp-flags: syn\n");
		fmt_rate(s, t, sizeof(t));
		fprintf(f, "    rate: %s\n", t);
		/* A defaulted burst stays defaulted, so a later rate change in
		 * the file rescales it as the original file would have. */
		if (s->burst_set)
			fprintf(f, "    burst: %llu\n", (unsigned long long)s->limit.burst);
		fprintf(f, "    algo: %s\n", rl_algo_name(s->limit.algo));
		fmt_per(s, t, sizeof(t));
		fprintf(f, "    per: %s\n", t);
		fprintf(f, "    action: %s\n", rl_action_name(s->action));
		if (s->mark_flags & RL_MK_MARK)
			fprintf(f, "    mark-value: 0x%x\n", s->mark);
		if (s->mark_flags & RL_MK_DSCP)
			fprintf(f, "    dscp: %u\n", s->dscp);
		if (s->mark_flags & RL_MK_ECN)
			fprintf(f, "    ecn: true\n");
		if (s->block_ns) {
			format_duration(s->block_ns, t, sizeof(t));
			fprintf(f, "    block-for: %s\n", t);
		}
		if (s->cluster)
			fprintf(f, "    scope: cluster\n");
	}
	if (a->cfg.cluster.enabled) {
		const struct rl_cluster *c = &a->cfg.cluster;

		fprintf(f, "cluster:\n");
		fprintf(f, "  name: %s\n", c->name);
		yq(q, sizeof(q), c->redis);
		fprintf(f, "  redis: %s\n", q);
		if (c->password_file[0]) {
			yq(q, sizeof(q), c->password_file);
			fprintf(f, "  password-file: %s\n", q);
		}
		fprintf(f, "  node: %s\n", c->node);
		format_duration(c->sync_ns, t, sizeof(t));
		fprintf(f, "  sync: %s\n", t);
		fprintf(f, "  on-redis-down: %s\n",
			c->on_down == RL_CLUSTER_DOWN_LOCAL ? "local" : "last-share");
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static json_t *cmd_config(struct agent *a, int argc, char **argv)
{
	struct rl_err err = {};
	const char *verb = argc > 1 ? argv[1] : "";

	if (!strcmp(verb, "reload")) {
		if (argc != 2)
			return agent_error("usage", "usage: config reload");
		if (agent_config_reload(a, &err))
			return agent_error("refused", "config reload: %s%s", err.msg,
					   AGENT_UNCHANGED(a));
		return json_pack("{s:b, s:o, s:i}", "ok", 1, "config", jtext(a->config_path),
				 "rules", a->model.n_rules);
	}
	if (!strcmp(verb, "dump")) {
		char *y;
		json_t *o;

		if (argc != 2)
			return agent_error("usage", "usage: config dump");
		y = agent_config_dump(a);
		if (!y)
			return agent_error("refused", "out of memory");
		o = json_pack("{s:b, s:o}", "ok", 1, "yaml", jtext(y));
		free(y);
		return o;
	}
	if (!strcmp(verb, "save")) {
		char saved[4096];
		int na = 0, nb = 0, i;

		if (argc > 3)
			return agent_error("usage", "usage: config save [FILE]");
		if (agent_config_save(a, argc == 3 ? argv[2] : NULL, saved, sizeof(saved), &err))
			return agent_error("refused", "config save: %s; nothing was written", err.msg);
		/* timed entries are comments in the file */
		for (i = 0; i < a->model.n_allow; i++)
			na += !a->model.allow[i].expires_ns;
		for (i = 0; i < a->model.n_block; i++)
			nb += !a->model.block[i].expires_ns;
		log_info("config save: wrote the running state to %s: %d rules, %d allow and %d block entries",
			 saved, a->model.n_rules, na, nb);
		return json_pack("{s:b, s:s, s:i, s:i, s:i}", "ok", 1, "config", saved,
				 "rules", a->model.n_rules, "allow", na, "block", nb);
	}
	if (!strcmp(verb, "check")) {
		int n = 0;

		if (argc != 3)
			return agent_error("usage", "usage: config check FILE");
		if (agent_check_config(argv[2], &n, &err))
			return agent_error("refused", "%s", err.msg);
		return json_pack("{s:b, s:o, s:i}", "ok", 1, "config", jtext(argv[2]), "rules", n);
	}
	return agent_error("usage", "unknown command 'config %.*s': try reload, dump, save [FILE], check FILE",
			   RL_CUT(verb, 64));
}

/*
 * `top` reads the per-source state tables in place (the agent's shared
 * mapping) and reports the sources in a penalty box, then those with the
 * least credit left.  The tables can be gigabytes, so the scan is a job:
 * TOP_STEP_BUCKETS buckets a poll turn (a few milliseconds), the answer
 * when it is done, and other clients, scrapes and the sweep are served in
 * between.  Only the N rows asked for are kept (a heap), so memory is
 * bounded too.  Rows name the rule by slot and are resolved when the scan
 * ends: a rule deleted meanwhile loses its rows.  Sliding-log keys live in
 * their own hashes and are not shown.
 */
#define TOP_STEP_BUCKETS 65536            /* 4 MiB of table a poll turn */

struct top_row {
	uint32_t id;              /* the rule's slot */
	struct rl_prefix src;
	uint64_t blocked_ns;      /* penalty box time left, 0 = none */
	uint64_t credit, max;     /* units left now, and the most there can be */
	uint32_t permille;        /* credit / max */
};

struct agent_job {
	int fam;                  /* table being scanned: 4, 6; 0 when done */
	uint32_t bucket;          /* next bucket in it */
	long want;                /* -n */
	struct top_row *rows;     /* a heap of the `want` first rows (top_cmp) */
	long cnt;
	int64_t tracked;
	int32_t by_id[RL_MAX_RULES];
};

static int top_cmp(const struct top_row *a, const struct top_row *b)
{
	/* in the penalty box first (longest left first), then least credit */
	if (a->blocked_ns != b->blocked_ns)
		return a->blocked_ns > b->blocked_ns ? -1 : 1;
	if (a->permille != b->permille)
		return a->permille < b->permille ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return memcmp(a->src.addr, b->src.addr, 16);
}

static int top_qcmp(const void *x, const void *y)
{
	return top_cmp(x, y);
}

/* Keeps the `want` first rows: a max-heap, its last row at the root. */
static void top_keep(struct agent_job *t, const struct top_row *row)
{
	struct top_row *h = t->rows;
	long i, c;

	if (t->cnt < t->want) {
		for (i = t->cnt++; i > 0 && top_cmp(&h[(i - 1) / 2], row) < 0; i = (i - 1) / 2)
			h[i] = h[(i - 1) / 2];
		h[i] = *row;
		return;
	}
	if (top_cmp(row, &h[0]) >= 0)
		return;
	for (i = 0; (c = 2 * i + 1) < t->cnt; i = c) {
		if (c + 1 < t->cnt && top_cmp(&h[c], &h[c + 1]) < 0)
			c++;
		if (top_cmp(&h[c], row) <= 0)
			break;
		h[i] = h[c];
	}
	h[i] = *row;
}

/*
 * One table slot into a row: keys of deleted rules, and words of another
 * version of the rule (they restart on their next packet) are skipped; a
 * penalty box of any version counts while it lasts.  The numbers come
 * from the algorithm's own functions (rl_algo.h): credit of the word, and
 * of an empty word (a new key's, the most there can be).
 */
static void top_slot(struct agent *a, struct agent_job *t, int fam, const __u64 *kwp,
		     const __u64 *wp, const uint8_t *addr6, uint64_t now)
{
	__u64 kw = __atomic_load_n(kwp, __ATOMIC_ACQUIRE), w, end = 0;
	const struct agent_rule *r;
	struct top_row row;
	uint32_t a4;

	if (!kw || kw == RL_KW_CLAIM)
		return;
	r = agent_slot_rule(a, t->by_id, kw);
	if (!r || r->spec.per_rule)
		return;
	w = __atomic_load_n(wp, __ATOMIC_RELAXED);
	if (rl_word_tag(w) & RL_TAG_BOXED) {
		end = (w & RL_PAY_MASK) << RL_BOX_SHIFT;
		if (end <= now)
			return;
	} else if (rl_word_tag(w) != r->abi.tag) {
		return;
	}
	memset(&row, 0, sizeof(row));
	row.id = r->id;
	row.src.family = (uint8_t)fam;
	if (fam == 4) {
		/* the key's low half is the source as the packet has it */
		a4 = (uint32_t)kw;
		memcpy(row.src.addr, &a4, 4);
		row.src.len = r->spec.plen4;
	} else {
		memcpy(row.src.addr, addr6, 16);
		row.src.len = r->spec.plen6;
	}
	row.blocked_ns = end ? end - now : 0;
	row.credit = rl_word_credit(&r->abi, w, now);
	row.max = rl_word_credit(&r->abi, 0, now);
	row.permille = row.max ? (uint32_t)(row.credit >= row.max ? 1000 :
			row.credit * 1000 / row.max) : 1000;
	t->tracked++;
	top_keep(t, &row);
}

static json_t *cmd_top(struct agent *a, int argc, char **argv, struct agent_job **job)
{
	struct agent_job *t;
	long n = 20;
	int i;

	for (i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			n = strtol(argv[++i], &end, 10);
			if (*end || end == argv[i] || n < 1 || n > 10000)
				return agent_error("usage", "top -n: '%s' is not a count 1..10000", argv[i]);
		} else {
			return agent_error("usage", "usage: top [-n N]");
		}
	}
	(void)a;
	t = agent_top_job(n);
	if (!t)
		return agent_error("refused", "out of memory");
	*job = t;
	return NULL;
}

struct agent_job *agent_top_job(long n)
{
	struct agent_job *t = calloc(1, sizeof(*t));

	if (t)
		t->rows = calloc((size_t)n, sizeof(*t->rows));
	if (!t || !t->rows) {
		free(t);
		return NULL;
	}
	t->want = n;
	t->fam = 4;
	return t;
}

void agent_job_free(struct agent_job *t)
{
	if (!t)
		return;
	free(t->rows);
	free(t);
}

json_t *agent_job_step(struct agent *a, struct agent_job *t)
{
	uint64_t now = agent_now_ns();
	uint32_t nb = t->fam == 4 ? a->maps.n_bkt4 : a->maps.n_bkt6, b, end;
	json_t *arr, *resp;
	long i;
	int k;

	agent_rule_index(a, t->by_id);
	if (t->fam && !(t->fam == 4 ? (void *)a->maps.bkt4 : (void *)a->maps.bkt6))
		nb = 0;
	end = nb - t->bucket > TOP_STEP_BUCKETS ? t->bucket + TOP_STEP_BUCKETS : nb;
	for (b = t->bucket; t->fam == 4 && b < end; b++)
		for (k = 0; k < RL_BKT4_SLOTS; k++)
			top_slot(a, t, 4, &a->maps.bkt4[b].s[k].kw, &a->maps.bkt4[b].s[k].word,
				 NULL, now);
	for (b = t->bucket; t->fam == 6 && b < end; b++)
		for (k = 0; k < RL_BKT6_SLOTS; k++)
			top_slot(a, t, 6, &a->maps.bkt6[b].s[k].kw, &a->maps.bkt6[b].s[k].word,
				 a->maps.bkt6[b].s[k].addr, now);
	t->bucket = end;
	if (end < nb)
		return NULL;
	t->bucket = 0;
	if (t->fam == 4) {
		t->fam = 6;
		return NULL;
	}
	qsort(t->rows, (size_t)t->cnt, sizeof(*t->rows), top_qcmp);
	arr = json_array();
	for (i = 0; i < t->cnt; i++) {
		const struct top_row *row = &t->rows[i];
		char s[64];

		if (t->by_id[row->id] < 0)
			continue;	/* the rule went while the scan ran */
		fmt_prefix(&row->src, s, sizeof(s));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I}",
			"rule", a->model.rules[t->by_id[row->id]].spec.name, "source", s,
			"blocked_for_ms", (json_int_t)(row->blocked_ns / 1000000),
			"credit", (json_int_t)row->credit, "credit_max", (json_int_t)row->max));
	}
	resp = json_pack("{s:b, s:I, s:b, s:o}", "ok", 1, "tracked", (json_int_t)t->tracked,
			 "truncated", 0, "top", arr);
	return resp;
}

/*
 * The command table (user/lib_cmds.c) names the command and checks its
 * grammar, as rlctl did; the handler parses the words again for what it
 * needs.  A peer other than root may run only what changes nothing (the
 * socket's group, --socket-group): `config check` reads any file the agent
 * can, so it is root's too.
 */
static json_t *dispatch_argv(struct agent *a, int argc, char **argv, uid_t uid,
			     struct agent_job **job)
{
	const struct rl_cmd *c;
	struct rl_err err = {};

	if (rl_cmd_parse(argc, argv, &c, &err))
		return agent_error("usage", "%s", err.msg);
	if (uid != 0 && (c->flags & (RL_CMD_CHANGES | RL_CMD_LOCAL)))
		return agent_error("refused", "only root may run `%s%s%s`; uid %u may read: rule list, "
				   "allow list, block list, stats, top, explain, events, status, config dump",
				   argv[0], c->verb ? " " : "", c->verb ? c->verb : "", (unsigned)uid);
	switch (c->id) {
	case RL_CMD_RULE_ADD:
	case RL_CMD_RULE_CHANGE:
	case RL_CMD_RULE_DEL:
	case RL_CMD_RULE_LIST:
		return cmd_rule(a, argc, argv);
	case RL_CMD_LIST_ADD:
	case RL_CMD_LIST_DEL:
	case RL_CMD_LIST_SHOW:
		return cmd_list(a, argc, argv);
	case RL_CMD_LIST_IMPORT:
		return cmd_list_import(a, !strcmp(argv[0], "allow"), argc, argv);
	case RL_CMD_LIST_FLUSH:
		return cmd_list_flush(a, !strcmp(argv[0], "allow"), argv);
	case RL_CMD_STATS:
		return cmd_stats(a, argc, argv);
	case RL_CMD_STATUS:
		return cmd_status(a);
	case RL_CMD_CONFIG_RELOAD:
	case RL_CMD_CONFIG_DUMP:
	case RL_CMD_CONFIG_SAVE:
	case RL_CMD_CONFIG_CHECK:
		return cmd_config(a, argc, argv);
	case RL_CMD_TOP:
		return cmd_top(a, argc, argv, job);
	case RL_CMD_EXPLAIN:
		return agent_explain(a, argc, argv);
	case RL_CMD_PING:
		return ok();
	case RL_CMD_EVENTS:
		/* agent_ctl.c turns the connection into a stream on "stream" */
		return json_pack("{s:b, s:s, s:i, s:i}", "ok", 1, "stream", "events",
				 "budget_per_cpu_s", RL_EV_BUDGET, "blocklist_sample", RL_EV_SAMPLE);
	case __RL_CMD_MAX:
		break;
	}
	return agent_error("usage", "command '%.*s' has no handler", RL_CUT(argv[0], 64));
}

json_t *agent_dispatch(struct agent *a, json_t *req, uid_t uid, struct agent_job **job)
{
	char *argv[MAX_ARGS + 1];
	json_t *jargv, *v, *resp;
	size_t i, argc;

	if (!json_is_object(req))
		return agent_error("usage", "request must be a JSON object {\"argv\": [...]}");
	jargv = json_object_get(req, "argv");
	if (!json_is_array(jargv))
		return agent_error("usage", "request needs \"argv\": an array of strings");
	argc = json_array_size(jargv);
	if (argc == 0)
		return agent_error("usage", "empty argv: try `rlctl help`");
	if (argc > MAX_ARGS)
		return agent_error("usage", "argv has %zu words; at most %d", argc, MAX_ARGS);
	json_array_foreach(jargv, i, v) {
		const char *s = json_string_value(v);

		if (!json_is_string(v))
			return agent_error("usage", "argv[%zu] is not a string", i);
		if (strlen(s) != json_string_length(v))
			return agent_error("usage", "argv[%zu] contains a NUL byte", i);
		if (json_string_length(v) > MAX_ARG_LEN)
			return agent_error("usage", "argv[%zu] is longer than %d bytes", i, MAX_ARG_LEN);
		argv[i] = (char *)s;
	}
	/* Private copies: the parsers get words they may keep or modify. */
	for (i = 0; i < argc; i++) {
		argv[i] = strdup(argv[i]);
		if (!argv[i]) {
			while (i--)
				free(argv[i]);
			return agent_error("refused", "out of memory");
		}
	}
	argv[argc] = NULL;
	resp = dispatch_argv(a, (int)argc, argv, uid, job);
	for (i = 0; i < argc; i++)
		free(argv[i]);
	return resp;
}
