// SPDX-License-Identifier: GPL-2.0
/*
 * lib_config.c - the YAML config file (docs/CONFIG.md) into struct
 * rl_config.  Declared in rl_model.h; used by rlagent (startup, SIGHUP,
 * `rlctl config reload|check`) and tests/unit/test_config.c.
 *
 * Three passes over one in-memory copy of the file:
 *
 *  1. libyaml events: syntax errors, aliases (refused: a few bytes of
 *     anchors can expand to gigabytes), more than one document, nesting.
 *     libyaml gives every problem a mark, so these errors carry line:col.
 *  2. libyaml document tree: duplicate keys and required keys, and the
 *     map from a path such as rules[3].src to the node's start mark that
 *     every later error uses to point at the offending key or value.
 *  3. libcyaml with the schema below: unknown keys and wrong types.
 *     libcyaml 1.3 reports through its log callback, as one message plus
 *     a "Backtrace:" of `in mapping field 'x' (line: L, column: C)` /
 *     `in sequence entry 'N'` lines.  The values' line:col are right, but
 *     for an unknown key it names only the enclosing mapping (and a mark
 *     that is not the key's), and libyaml scanner errors come without any
 *     position; so the log is captured, the backtrace turned into a path,
 *     and the path resolved in the tree of pass 2 to the key itself.
 *
 * Values are loaded as strings wherever our own parsers (lib_parse.c)
 * give the better message, then converted.  Integers too: libcyaml 1.3
 * reads a 64-bit `burst: -3` through strtoull and wraps it to 2^64-3.  Fields whose YAML type varies
 * (`src`: a prefix or a list; `interfaces`: names or mappings) are
 * ignored by the schema and read from the tree.
 *
 * The result is built in a private struct and copied out only when all of
 * it is valid: a failed load never changes the caller's config.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <cyaml/cyaml.h>
#include <yaml.h>

#include "rl_model.h"
#include "rl_loader.h"              /* RL_XDP_PRIO_*: no libbpf calls here */

#define RL_CONFIG_MAX_BYTES  (16 << 20)  /* 16 MiB: 16384 rules fit many times */
#define RL_CONFIG_MAX_DEPTH  16
#define STR_MAX              256         /* longest scalar we accept   */

/* ---- libcyaml schema ------------------------------------------------ */

struct y_defaults {
	char *algo, *action, *per, *on_full, *malformed;
	char *state_entries, *clock, *xdp_attach, *xdp_priority;
};

struct y_rule {
	char *name, *proto, *dport, *tcp_flags, *rate, *algo, *per, *action, *block_for;
	char *burst, *mark_value, *dscp, *ecn, *scope;
};

struct y_cluster {
	char *name, *redis, *password_file, *node, *sync, *on_down;
};

struct y_cfg {
	int version;
	struct y_defaults *defaults;
	char **allow;
	unsigned allow_count;
	char **block;
	unsigned block_count;
	struct y_rule *rules;
	unsigned rules_count;
	struct y_cluster *cluster;
	char *metrics;
};

#define OPT_STR(key, st, m) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, st, m, 0, STR_MAX)

static const cyaml_schema_field_t defaults_fields[] = {
	OPT_STR("algo", struct y_defaults, algo),
	OPT_STR("action", struct y_defaults, action),
	OPT_STR("per", struct y_defaults, per),
	OPT_STR("on-full", struct y_defaults, on_full),
	OPT_STR("malformed", struct y_defaults, malformed),
	OPT_STR("state-entries", struct y_defaults, state_entries),
	OPT_STR("clock", struct y_defaults, clock),
	OPT_STR("xdp-attach", struct y_defaults, xdp_attach),
	OPT_STR("xdp-priority", struct y_defaults, xdp_priority),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t rule_fields[] = {
	CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_POINTER, struct y_rule, name, 0, STR_MAX),
	CYAML_FIELD_IGNORE("src", CYAML_FLAG_OPTIONAL),
	OPT_STR("proto", struct y_rule, proto),
	OPT_STR("dport", struct y_rule, dport),
	OPT_STR("tcp-flags", struct y_rule, tcp_flags),
	CYAML_FIELD_STRING_PTR("rate", CYAML_FLAG_POINTER, struct y_rule, rate, 0, STR_MAX),
	OPT_STR("burst", struct y_rule, burst),
	OPT_STR("algo", struct y_rule, algo),
	OPT_STR("per", struct y_rule, per),
	OPT_STR("action", struct y_rule, action),
	OPT_STR("block-for", struct y_rule, block_for),
	OPT_STR("mark-value", struct y_rule, mark_value),
	OPT_STR("dscp", struct y_rule, dscp),
	OPT_STR("ecn", struct y_rule, ecn),
	OPT_STR("scope", struct y_rule, scope),
	CYAML_FIELD_END
};

static const cyaml_schema_field_t cluster_fields[] = {
	OPT_STR("name", struct y_cluster, name),
	CYAML_FIELD_STRING_PTR("redis", CYAML_FLAG_POINTER, struct y_cluster, redis, 0, STR_MAX),
	OPT_STR("password-file", struct y_cluster, password_file),
	OPT_STR("node", struct y_cluster, node),
	OPT_STR("sync", struct y_cluster, sync),
	OPT_STR("on-redis-down", struct y_cluster, on_down),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t rule_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct y_rule, rule_fields),
};

static const cyaml_schema_value_t str_value = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, STR_MAX),
};

static const cyaml_schema_field_t top_fields[] = {
	CYAML_FIELD_INT("version", CYAML_FLAG_DEFAULT, struct y_cfg, version),
	CYAML_FIELD_IGNORE("interfaces", CYAML_FLAG_OPTIONAL),
	CYAML_FIELD_MAPPING_PTR("defaults", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
				struct y_cfg, defaults, defaults_fields),
	CYAML_FIELD_SEQUENCE("allowlist", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct y_cfg, allow, &str_value, 0, RL_MAX_LIST),
	CYAML_FIELD_SEQUENCE("blocklist", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct y_cfg, block, &str_value, 0, RL_MAX_LIST),
	CYAML_FIELD_SEQUENCE("rules", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
			     struct y_cfg, rules, &rule_value, 0, RL_MAX_RULES),
	CYAML_FIELD_MAPPING_PTR("cluster", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
				struct y_cfg, cluster, cluster_fields),
	OPT_STR("metrics", struct y_cfg, metrics),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t top_value = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct y_cfg, top_fields),
};

/* ---- error helpers -------------------------------------------------- */

struct loader {
	const char *path;
	const char *buf;
	size_t len;
	yaml_document_t doc;
	bool have_doc;
	struct rl_err *err;
	/* captured libcyaml log, one message per line */
	char log[4096];
	size_t log_len;
};

static void __attribute__((format(printf, 4, 5)))
errat(struct loader *ld, int line, int col, const char *fmt, ...)
{
	struct rl_err *e = ld->err;
	char msg[RL_ERR_LEN];
	va_list ap;
	int n;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->line = line;
	e->col = col;
	/* "file:line:col: " then as much of the message as fits */
	if (line)
		n = snprintf(e->msg, sizeof(e->msg), "%s:%d:%d: ", ld->path, line, col);
	else
		n = snprintf(e->msg, sizeof(e->msg), "%s: ", ld->path);
	if (n >= 0 && (size_t)n < sizeof(e->msg))
		memcpy(e->msg + n, msg, strnlen(msg, sizeof(e->msg) - (size_t)n - 1) + 1);
	e->msg[sizeof(e->msg) - 1] = 0;
	rl_utf8_sanitize(e->msg);
}

static void errnode(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void errnode(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[RL_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		errat(ld, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1, "%s", msg);
	else
		errat(ld, 0, 0, "%s", msg);
}

/* ---- the tree: path -> node ----------------------------------------- */

static yaml_node_t *node(struct loader *ld, int id)
{
	return id ? yaml_document_get_node(&ld->doc, id) : NULL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The key node and value node of `key` in mapping m, or NULL. */
static yaml_node_t *map_get(struct loader *ld, yaml_node_t *m, const char *key,
			    yaml_node_t **keynode)
{
	yaml_node_pair_t *p;

	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(ld, p->key);
		const char *s = scalar(k);

		if (s && !strcmp(s, key)) {
			if (keynode)
				*keynode = k;
			return node(ld, p->value);
		}
	}
	return NULL;
}

static yaml_node_t *seq_get(struct loader *ld, yaml_node_t *s, long i)
{
	if (!s || s->type != YAML_SEQUENCE_NODE || i < 0 ||
	    i >= s->data.sequence.items.top - s->data.sequence.items.start)
		return NULL;
	return node(ld, s->data.sequence.items.start[i]);
}

/*
 * The node at a path like "rules[3].src" (or its key with want_key), or
 * NULL.  Every later error message is placed with this.
 */
static yaml_node_t *lookup(struct loader *ld, const char *path, bool want_key)
{
	yaml_node_t *cur = yaml_document_get_root_node(&ld->doc), *key = NULL;
	const char *p = path;

	while (cur && *p) {
		char name[64];
		size_t n = strcspn(p, ".[");

		if (n) {
			if (n >= sizeof(name))
				return NULL;
			memcpy(name, p, n);
			name[n] = 0;
			key = NULL;
			cur = map_get(ld, cur, name, &key);
			p += n;
		} else if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);

			if (*end != ']')
				return NULL;
			cur = seq_get(ld, cur, i);
			key = NULL;
			p = end + 1;
		} else {
			p++;
		}
	}
	return want_key && key ? key : cur;
}

/* Errors at a path: the value's mark (or, if absent, the nearest parent's). */
static void errpath(struct loader *ld, const char *path, bool at_key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void errpath(struct loader *ld, const char *path, bool at_key, const char *fmt, ...)
{
	char msg[RL_ERR_LEN], parent[128];
	yaml_node_t *n = lookup(ld, path, at_key);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(parent, sizeof(parent), "%s", path);
	while (!n) {
		char *cut = strrchr(parent, '.');
		char *br = strrchr(parent, '[');

		if (br > cut)
			cut = br;
		if (!cut)
			break;
		*cut = 0;
		n = lookup(ld, parent, false);
	}
	errnode(ld, n, "%s", msg);
}

/* ---- pass 1: events ------------------------------------------------- */

/* " near '...'" from the start of the line holding byte `at`, printable. */
static void near_text(const struct loader *ld, size_t at, char *out, size_t len)
{
	size_t start = at < ld->len ? at : ld->len, i, o;
	char q[32];
	bool tab = at < ld->len && ld->buf[at] == '\t';

	while (start > 0 && ld->buf[start - 1] != '\n')
		start--;
	for (i = start, o = 0; i < ld->len && ld->buf[i] != '\n' && o < sizeof(q) - 4; i++)
		q[o++] = ld->buf[i] == '\t' ? '>' :
			 ((unsigned char)ld->buf[i] < 0x20 || (unsigned char)ld->buf[i] > 0x7e) ? '?' : ld->buf[i];
	if (i < ld->len && ld->buf[i] != '\n')
		q[o++] = '.', q[o++] = '.', q[o++] = '.';
	q[o] = 0;
	snprintf(out, len, "%s near '%.31s'", tab ? " (a tab: YAML indents with spaces only)" : "", q);
}

static int scan_events(struct loader *ld)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, docs = 0, ret = 0;
	bool done = false;

	if (!yaml_parser_initialize(&parser)) {
		errat(ld, 0, 0, "cannot initialise libyaml");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->buf, ld->len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			char near[96];

			near_text(ld, parser.problem_mark.index, near, sizeof(near));
			errat(ld, (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
			      "not valid YAML: %s%s%s%s", parser.problem ? parser.problem : "syntax error",
			      parser.context ? " " : "", parser.context ? parser.context : "", near);
			ret = -EINVAL;
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				errat(ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				      "a second YAML document: the config is one document");
				ret = -EINVAL;
			}
			break;
		case YAML_ALIAS_EVENT:
			errat(ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
			      "alias '*%s': anchors and aliases are not supported in the config",
			      ev.data.alias.anchor);
			ret = -EINVAL;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > RL_CONFIG_MAX_DEPTH) {
				errat(ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				      "nested more than %d levels deep", RL_CONFIG_MAX_DEPTH);
				ret = -EINVAL;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (ret)
			break;
	}
	yaml_parser_delete(&parser);
	if (!ret && !docs) {
		errat(ld, 1, 1, "the file is empty: expected a mapping that starts with 'version: 1'");
		ret = -EINVAL;
	}
	return ret;
}

/* ---- pass 2: tree checks -------------------------------------------- */

/*
 * Duplicate keys, in time linear in the keys: a mapping's keys go into an
 * open-addressing set (one scratch table, reused and grown), so a file of
 * a hundred thousand keys is checked in milliseconds, not minutes.
 */
struct keyset {
	uint32_t *slot;           /* pair index + 1, 0 empty                 */
	size_t cap;               /* a power of two                          */
};

static uint64_t key_hash(const yaml_node_t *k)
{
	const unsigned char *s = k->data.scalar.value;
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < k->data.scalar.length; i++)
		h = (h ^ s[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static bool key_eq(const yaml_node_t *a, const yaml_node_t *b)
{
	return a->data.scalar.length == b->data.scalar.length &&
	       !memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length);
}

/* The earlier key node equal to pairs[i]'s, or NULL after adding it. */
static yaml_node_t *keyset_add(struct loader *ld, struct keyset *ks, yaml_node_pair_t *pairs,
			       size_t i)
{
	yaml_node_t *k = node(ld, pairs[i].key);
	size_t h = (size_t)key_hash(k) & (ks->cap - 1);

	while (ks->slot[h]) {
		yaml_node_t *o = node(ld, pairs[ks->slot[h] - 1].key);

		if (key_eq(o, k))
			return o;
		h = (h + 1) & (ks->cap - 1);
	}
	ks->slot[h] = (uint32_t)i + 1;
	return NULL;
}

static int check_dups(struct loader *ld, struct keyset *ks, yaml_node_t *n, int depth)
{
	yaml_node_pair_t *p, *pairs;
	yaml_node_item_t *it;
	size_t np, want;
	int ret;

	if (!n || depth > RL_CONFIG_MAX_DEPTH + 1)
		return 0;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			ret = check_dups(ld, ks, node(ld, *it), depth + 1);
			if (ret)
				return ret;
		}
		return 0;
	}
	if (n->type != YAML_MAPPING_NODE)
		return 0;
	pairs = n->data.mapping.pairs.start;
	np = (size_t)(n->data.mapping.pairs.top - pairs);
	for (want = 16; want < np * 2; want <<= 1)
		;
	if (want > ks->cap) {
		uint32_t *s = realloc(ks->slot, want * sizeof(*s));

		if (!s) {
			errnode(ld, n, "out of memory checking %zu keys", np);
			return -ENOMEM;
		}
		ks->slot = s;
		ks->cap = want;
	}
	memset(ks->slot, 0, ks->cap * sizeof(*ks->slot));
	for (p = pairs; p < pairs + np; p++) {
		yaml_node_t *k = node(ld, p->key), *k2;

		if (!scalar(k)) {
			errnode(ld, k, "a key must be a plain word, not a list or mapping");
			return -EINVAL;
		}
		k2 = keyset_add(ld, ks, pairs, (size_t)(p - pairs));
		if (k2) {
			errnode(ld, k, "key '%.*s' appears twice in one mapping (first on line %d)",
				RL_CUT(scalar(k), 60), (int)k2->start_mark.line + 1);
			return -EINVAL;
		}
	}
	/* the set is rebuilt by each nested mapping: values after keys */
	for (p = pairs; p < pairs + np; p++) {
		ret = check_dups(ld, ks, node(ld, p->value), depth + 1);
		if (ret)
			return ret;
	}
	return 0;
}

static int check_tree(struct loader *ld)
{
	yaml_node_t *root = yaml_document_get_root_node(&ld->doc), *rules, *r;
	char path[64];
	long i;
	int ret;

	if (!root || (root->type == YAML_SCALAR_NODE && !root->data.scalar.length)) {
		errat(ld, 1, 1, "the file is empty: expected a mapping that starts with 'version: 1'");
		return -EINVAL;
	}
	if (root->type != YAML_MAPPING_NODE) {
		errnode(ld, root, "the top level must be a mapping (version:, interfaces:, defaults:, allowlist:, blocklist:, rules:), not a %s",
			root->type == YAML_SEQUENCE_NODE ? "list" : "plain value");
		return -EINVAL;
	}
	{
		struct keyset ks = {};

		ret = check_dups(ld, &ks, root, 0);
		free(ks.slot);
	}
	if (ret)
		return ret;
	if (!map_get(ld, root, "version", NULL)) {
		errnode(ld, root, "missing required key 'version' (write 'version: 1' first)");
		return -EINVAL;
	}
	rules = map_get(ld, root, "rules", NULL);
	for (i = 0; (r = seq_get(ld, rules, i)); i++) {
		if (r->type != YAML_MAPPING_NODE)
			continue;   /* libcyaml names the wrong type */
		snprintf(path, sizeof(path), "rules[%ld]", i);
		if (!map_get(ld, r, "name", NULL)) {
			errnode(ld, r, "%s: missing required key 'name'", path);
			return -EINVAL;
		}
		if (!map_get(ld, r, "rate", NULL)) {
			errnode(ld, r, "%s ('%.*s'): missing required key 'rate' (e.g. rate: 100/s)",
				path, RL_CUT(scalar(map_get(ld, r, "name", NULL)) ?: "?", 40));
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- pass 3: libcyaml ----------------------------------------------- */

static void cy_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct loader *ld = ctx;
	int n;

	if (level < CYAML_LOG_ERROR || ld->log_len >= sizeof(ld->log) - 1)
		return;
	n = vsnprintf(ld->log + ld->log_len, sizeof(ld->log) - ld->log_len, fmt, args);
	if (n > 0)
		ld->log_len += (size_t)n;
	if (ld->log_len >= sizeof(ld->log))
		ld->log_len = sizeof(ld->log) - 1;
}

static const char *allowed_keys(const char *path)
{
	if (!*path)
		return "version, interfaces, defaults, allowlist, blocklist, rules, cluster";
	if (!strcmp(path, "defaults"))
		return "algo, action, per, on-full, malformed, state-entries, clock, xdp-attach, xdp-priority";
	if (!strncmp(path, "rules[", 6))
		return "name, src, proto, dport, tcp-flags, rate, burst, algo, per, action, mark-value, dscp, ecn, block-for, scope";
	if (!strcmp(path, "cluster"))
		return "redis, password-file, node, sync, on-redis-down, name";
	return NULL;
}

/*
 * Turn the captured log into an error at the right place: the first line
 * is the complaint, the backtrace lines name the path from the inside out.
 */
static void cyaml_error(struct loader *ld, cyaml_err_t cerr)
{
	char path[256] = "", what[200] = "", *line, *save = NULL;
	char *segs[16];
	int nseg = 0, bt_line = 0, bt_col = 0, i;
	bool in_bt = false;
	yaml_node_t *n;

	for (line = strtok_r(ld->log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128];
		int l, c;

		if (!strncmp(line, "Load: Backtrace:", 16)) {
			in_bt = true;
		} else if (!in_bt && !what[0]) {
			snprintf(what, sizeof(what), "%s", !strncmp(line, "Load: ", 6) ? line + 6 : line);
		} else if (in_bt && nseg < 16) {
			segs[nseg++] = line;
			if (nseg == 1 && (sscanf(line, " in mapping field '%127[^']' (line: %d, column: %d)", name, &l, &c) == 3 ||
					  sscanf(line, " in sequence entry '%127[^']' (line: %d, column: %d)", name, &l, &c) == 3)) {
				bt_line = l;
				bt_col = c;
			}
		}
	}
	/* outermost first */
	for (i = nseg - 1; i >= 0; i--) {
		char name[128];
		size_t o = strlen(path);

		if (sscanf(segs[i], " in mapping field '%127[^']'", name) == 1)
			snprintf(path + o, sizeof(path) - o, "%s%s", o ? "." : "", name);
		else if (sscanf(segs[i], " in sequence entry '%127[^']'", name) == 1)
			/* libcyaml counts entries from 1 */
			snprintf(path + o, sizeof(path) - o, "[%ld]", strtol(name, NULL, 10) - 1);
	}
	if (!what[0])
		snprintf(what, sizeof(what), "%s", cyaml_strerror(cerr));

	if (cerr == CYAML_ERR_INVALID_KEY && !strncmp(what, "Unexpected key: ", 16)) {
		const char *key = what + 16, *allowed = allowed_keys(path);
		yaml_node_t *k = NULL;

		map_get(ld, lookup(ld, path, false), key, &k);
		if (k)
			errnode(ld, k, "unknown key '%.*s'%s%s%s%s%s", RL_CUT(key, 60), *path ? " in " : "", path,
				allowed ? " (expected one of: " : "", allowed ? allowed : "",
				allowed ? ")" : "");
		else
			errpath(ld, path, false, "unknown key '%.*s'%s%s", RL_CUT(key, 60), *path ? " in " : "", path);
		return;
	}
	n = lookup(ld, path, false);
	if (n && scalar(n))
		errnode(ld, n, "%s%s'%.*s': %s", path, *path ? " = " : "", RL_CUT(scalar(n), 60),
			what);
	else if (n)
		errnode(ld, n, "%s: %s", *path ? path : "top level", what);
	else if (bt_line)
		errat(ld, bt_line, bt_col, "%s: %s", *path ? path : "top level", what);
	else
		errat(ld, 0, 0, "%s", what);
}

/* ---- pass 4: conversion --------------------------------------------- */

/* `metrics: ADDR:PORT` or `metrics: off`: where /metrics is served. */
static int conv_metrics(struct loader *ld, const char *v, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	if (strcmp(v, "off") && (strlen(v) >= len || rl_parse_listen(v, &ss, &sslen))) {
		errpath(ld, "metrics", false,
			"metrics '%.*s': want ADDR:PORT with a numeric address (127.0.0.1:9471, [::1]:9471, 0.0.0.0:9471) or off",
			RL_CUT(v, 64));
		return -EINVAL;
	}
	snprintf(out, len, "%s", v);
	return 0;
}

/* Digits only: no sign, blanks, base prefix or exponent. */
static int strict_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int parse_at(struct loader *ld, const char *path, int ret, const struct rl_err *e)
{
	if (ret)
		errpath(ld, path, false, "%s: %s", path, e->msg);
	return ret;
}

static int conv_interfaces(struct loader *ld, struct rl_config *c)
{
	yaml_node_t *seq = lookup(ld, "interfaces", false), *it;
	char path[64];
	long i;

	if (!seq)
		return 0;
	if (seq->type != YAML_SEQUENCE_NODE) {
		errnode(ld, seq, "interfaces: expected a list of names or of {name, xdp-mode}");
		return -EINVAL;
	}
	for (i = 0; (it = seq_get(ld, seq, i)); i++) {
		const char *name = scalar(it), *mode = NULL;
		yaml_node_pair_t *p;

		snprintf(path, sizeof(path), "interfaces[%ld]", i);
		if (i >= RL_MAX_IFACES) {
			errnode(ld, it, "%s: at most %d interfaces", path, RL_MAX_IFACES);
			return -E2BIG;
		}
		if (it->type == YAML_MAPPING_NODE) {
			for (p = it->data.mapping.pairs.start; p < it->data.mapping.pairs.top; p++) {
				yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);

				if (!strcmp(scalar(k), "name")) {
					name = scalar(v);
				} else if (!strcmp(scalar(k), "xdp-mode")) {
					mode = scalar(v);
					if (!mode) {
						errnode(ld, v, "%s.xdp-mode: expected auto, native or generic", path);
						return -EINVAL;
					}
				} else {
					errnode(ld, k, "unknown key '%.*s' in %s (expected name, xdp-mode)",
						RL_CUT(scalar(k), 60), path);
					return -EINVAL;
				}
			}
			if (!map_get(ld, it, "name", NULL)) {
				errnode(ld, it, "%s: missing required key 'name'", path);
				return -EINVAL;
			}
		}
		if (!name || !*name || strlen(name) >= sizeof(c->ifaces[0].name) ||
		    strpbrk(name, " /\t")) {
			errpath(ld, path, false, "%s: interface name '%.*s' is not valid: expected 1-15 characters, no '/' or blanks",
				path, RL_CUT(name ? name : "(not a name)", 40));
			return -EINVAL;
		}
		strcpy(c->ifaces[i].name, name);
		c->ifaces[i].xdp_mode = 0;
		if (mode) {
			if (!strcmp(mode, "native")) {
				c->ifaces[i].xdp_mode = 1;
			} else if (!strcmp(mode, "generic")) {
				c->ifaces[i].xdp_mode = 2;
			} else if (strcmp(mode, "auto")) {
				errpath(ld, strcat(path, ".xdp-mode"), false,
					"xdp-mode '%.*s' is unknown: expected auto, native or generic",
					RL_CUT(mode, 40));
				return -EINVAL;
			}
		}
		c->n_ifaces = (int)i + 1;
	}
	return 0;
}

static int conv_defaults(struct loader *ld, const struct y_defaults *y, struct rl_defaults *d)
{
	static const char *const full[] = { "evict", "fail-open", "fail-closed", "aggregate" };
	struct rl_err e = {};
	unsigned i;

	if (!y)
		return 0;
	if (y->algo && parse_at(ld, "defaults.algo", rl_parse_algo(y->algo, &d->algo, &e), &e))
		return -EINVAL;
	if (y->action && parse_at(ld, "defaults.action", rl_parse_action(y->action, &d->action, &e), &e))
		return -EINVAL;
	if (d->action == RL_ACT_MARK) {
		errpath(ld, "defaults.action", false,
			"defaults.action: mark is set per rule, with its labels (mark-value, dscp, ecn): expected drop or monitor");
		return -EINVAL;
	}
	if (y->per && parse_at(ld, "defaults.per",
			       rl_parse_per(y->per, &d->per_rule, &d->plen4, &d->plen6, &e), &e))
		return -EINVAL;
	if (y->on_full) {
		for (i = 0; i < __RL_FULL_MAX && strcmp(y->on_full, full[i]); i++)
			;
		if (i == __RL_FULL_MAX) {
			errpath(ld, "defaults.on-full", false,
				"on-full '%.*s' is unknown: expected evict, fail-open, fail-closed or aggregate",
				RL_CUT(y->on_full, 40));
			return -EINVAL;
		}
		d->on_full = i;
	}
	if (y->malformed) {
		if (!strcmp(y->malformed, "drop")) {
			d->malformed = RL_MALFORMED_DROP;
		} else if (!strcmp(y->malformed, "pass")) {
			d->malformed = RL_MALFORMED_PASS;
		} else {
			errpath(ld, "defaults.malformed", false,
				"malformed '%.*s' is unknown: expected drop or pass",
				RL_CUT(y->malformed, 40));
			return -EINVAL;
		}
	}
	if (y->clock) {
		if (!strcmp(y->clock, "precise")) {
			d->coarse_clock = false;
		} else if (!strcmp(y->clock, "coarse")) {
			d->coarse_clock = true;
		} else {
			errpath(ld, "defaults.clock", false,
				"clock '%.*s' is unknown: expected precise or coarse", RL_CUT(y->clock, 40));
			return -EINVAL;
		}
	}
	if (y->state_entries) {
		uint64_t v;

		/* the kernel must be able to allocate the per-source maps */
		if (strict_uint(y->state_entries, &v) || v < 1024 || v > (1u << 28)) {
			errpath(ld, "defaults.state-entries", false,
				"state-entries %.*s is not valid: expected a whole number 1024..268435456",
				RL_CUT(y->state_entries, 40));
			return -EINVAL;
		}
		d->state_entries = (uint32_t)v;
	}
	if (y->xdp_attach) {
		int m = rl_parse_xdp_attach(y->xdp_attach);

		if (m < 0) {
			errpath(ld, "defaults.xdp-attach", false,
				"xdp-attach '%.*s' is unknown: expected auto, dispatcher or link",
				RL_CUT(y->xdp_attach, 40));
			return -EINVAL;
		}
		d->xdp_attach = (uint32_t)m;
	}
	if (y->xdp_priority) {
		uint64_t v;

		if (strict_uint(y->xdp_priority, &v) || v < 1 || v > RL_XDP_PRIO_MAX) {
			errpath(ld, "defaults.xdp-priority", false,
				"xdp-priority %.*s is not valid: expected a whole number 1..%u "
				"(lower runs first)", RL_CUT(y->xdp_priority, 40), RL_XDP_PRIO_MAX);
			return -EINVAL;
		}
		d->xdp_prio = (uint32_t)v;
	}
	return 0;
}

static bool word_ok(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (!n || n > max)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static int conv_cluster(struct loader *ld, const struct y_cluster *y, struct rl_cluster *c)
{
	char host[256];
	struct rl_err e = {};
	struct stat st;
	int port, fd;

	memset(c, 0, sizeof(*c));
	if (!y)
		return 0;
	c->enabled = true;
	c->sync_ns = 100000000ULL;
	c->on_down = RL_CLUSTER_DOWN_LAST_SHARE;
	strcpy(c->name, "rl");
	if (parse_at(ld, "cluster.redis", rl_parse_redis_addr(y->redis, host, sizeof(host), &port, &e), &e))
		return -EINVAL;
	snprintf(c->redis, sizeof(c->redis), "%s", y->redis);
	if (y->name) {
		if (!word_ok(y->name, sizeof(c->name) - 1)) {
			errpath(ld, "cluster.name", false,
				"cluster name '%.*s' is invalid: use 1-31 of [A-Za-z0-9._-] (it prefixes the Redis keys)",
				RL_CUT(y->name, 40));
			return -EINVAL;
		}
		strcpy(c->name, y->name);
	}
	if (y->node) {
		if (!word_ok(y->node, sizeof(c->node) - 1)) {
			errpath(ld, "cluster.node", false,
				"node '%.*s' is invalid: use 1-63 of [A-Za-z0-9._-]", RL_CUT(y->node, 40));
			return -EINVAL;
		}
		strcpy(c->node, y->node);
	} else {
		char hn[256] = "";

		if (gethostname(hn, sizeof(hn) - 1) || !word_ok(hn, sizeof(c->node) - 1)) {
			errpath(ld, "cluster", true,
				"the hostname '%.*s' cannot name this node: set cluster.node (1-63 of [A-Za-z0-9._-])",
				RL_CUT(hn, 40));
			return -EINVAL;
		}
		strcpy(c->node, hn);
	}
	if (y->sync) {
		if (parse_at(ld, "cluster.sync", rl_parse_duration(y->sync, &c->sync_ns, &e), &e))
			return -EINVAL;
		if (c->sync_ns < 10000000ULL || c->sync_ns > 60000000000ULL) {
			errpath(ld, "cluster.sync", false,
				"sync '%.*s' is out of range: expected 10ms..60s", RL_CUT(y->sync, 40));
			return -EINVAL;
		}
	}
	if (y->on_down) {
		if (!strcmp(y->on_down, "last-share")) {
			c->on_down = RL_CLUSTER_DOWN_LAST_SHARE;
		} else if (!strcmp(y->on_down, "local")) {
			c->on_down = RL_CLUSTER_DOWN_LOCAL;
		} else {
			errpath(ld, "cluster.on-redis-down", false,
				"on-redis-down '%.*s' is unknown: expected last-share or local",
				RL_CUT(y->on_down, 40));
			return -EINVAL;
		}
	}
	if (y->password_file) {
		if (strlen(y->password_file) >= sizeof(c->password_file) || y->password_file[0] != '/') {
			errpath(ld, "cluster.password-file", false,
				"password-file '%.*s' must be an absolute path under 256 bytes",
				RL_CUT(y->password_file, 40));
			return -EINVAL;
		}
		/* O_NONBLOCK: a FIFO is refused, never waited on */
		fd = open(y->password_file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > 512) {
			errpath(ld, "cluster.password-file", false,
				"password-file '%.*s': %s", RL_CUT(y->password_file, 200),
				fd < 0 ? strerror(errno) : "not a regular file of at most 512 bytes");
			if (fd >= 0)
				close(fd);
			return -EINVAL;
		}
		close(fd);
		strcpy(c->password_file, y->password_file);
	}
	return 0;
}

/* A prefix with its place in the file, sorted by prefix then place: the
 * list checks below run in n log n (a million entries: a pairwise scan
 * was 5e11 comparisons, and held the agent's loop for hours). */
struct pfx_at {
	struct rl_prefix pfx;
	unsigned idx;
};

static int pfx_at_cmp(const void *x, const void *y)
{
	const struct pfx_at *a = x, *b = y;
	int c = rl_lpfx_cmp(&a->pfx, &b->pfx);

	return c ? c : a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* l[0..n) by prefix, then place; NULL if out of memory. */
static struct pfx_at *pfx_sorted(const struct rl_list_entry *l, unsigned n)
{
	struct pfx_at *s = malloc((n ? n : 1) * sizeof(*s));
	unsigned i;

	if (!s)
		return NULL;
	for (i = 0; i < n; i++) {
		s[i].pfx = l[i].pfx;
		s[i].idx = i;
	}
	qsort(s, n, sizeof(*s), pfx_at_cmp);
	return s;
}

static int conv_list(struct loader *ld, const char *key, char **items, unsigned n,
		     struct rl_list_entry **out, int *n_out)
{
	struct rl_list_entry *l;
	struct pfx_at *s;
	struct rl_err e = {};
	char path[64];
	unsigned i, k, dup = n, dup_of = 0;

	l = calloc(n ? n : 1, sizeof(*l));
	if (!l) {
		errat(ld, 0, 0, "out of memory");
		return -ENOMEM;
	}
	/* the entries up to the first bad one ... */
	for (k = 0; k < n; k++)
		if (rl_parse_prefix(items[k], &l[k].pfx, &e))
			break;
	/* ... where the first entry listed twice, if it comes before that
	 * one, is the error, as a scan in file order finds it */
	s = pfx_sorted(l, k);
	if (!s) {
		free(l);
		errat(ld, 0, 0, "out of memory");
		return -ENOMEM;
	}
	for (i = 1; i < k; i++)
		if (!rl_lpfx_cmp(&s[i - 1].pfx, &s[i].pfx) && s[i].idx < dup) {
			unsigned g = i - 1;

			while (g > 0 && !rl_lpfx_cmp(&s[g - 1].pfx, &s[i].pfx))
				g--;
			dup = s[i].idx;
			dup_of = s[g].idx;
		}
	free(s);
	if (dup < n) {
		snprintf(path, sizeof(path), "%s[%u]", key, dup);
		errpath(ld, path, false, "%s: '%.*s' is listed twice (also %s[%u])",
			path, RL_CUT(items[dup], 60), key, dup_of);
		goto bad;
	}
	if (k < n) {
		snprintf(path, sizeof(path), "%s[%u]", key, k);
		memset(&e, 0, sizeof(e));
		parse_at(ld, path, rl_parse_prefix(items[k], &l[k].pfx, &e), &e);
		goto bad;
	}
	*out = l;
	*n_out = (int)n;
	return 0;
bad:
	free(l);
	return -EINVAL;
}

/* A prefix is on one list: what `allow add` and `block add` refuse, the
 * file may not say either (--check-config predicts what apply accepts). */
static int check_lists_disjoint(struct loader *ld, const struct rl_config *c)
{
	char path[64], buf[64];
	struct pfx_at *s, q;
	int i, lo, hi;

	if (!c->n_block || !c->n_allow)
		return 0;
	s = pfx_sorted(c->allow, (unsigned)c->n_allow);
	if (!s) {
		errat(ld, 0, 0, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < c->n_block; i++) {
		/* the first allow entry (by place) with this prefix */
		q.pfx = c->block[i].pfx;
		q.idx = 0;
		lo = 0;
		hi = c->n_allow;
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2;

			if (pfx_at_cmp(&s[mid], &q) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == c->n_allow || rl_lpfx_cmp(&s[lo].pfx, &q.pfx))
			continue;
		snprintf(path, sizeof(path), "blocklist[%d]", i);
		if (rl_format_prefix(&q.pfx, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "?");
		errpath(ld, path, false, "%s: %s is on the allowlist too (allowlist[%u]); "
			"a prefix may be on one list only", path, buf, s[lo].idx);
		free(s);
		return -EINVAL;
	}
	free(s);
	return 0;
}

static int conv_src(struct loader *ld, const char *rpath, struct rl_rule_spec *s)
{
	char path[96];
	yaml_node_t *v, *it;
	struct rl_err e = {};
	struct rl_prefix p;
	long i, n;

	snprintf(path, sizeof(path), "%s.src", rpath);
	v = lookup(ld, path, false);
	if (!v)
		return 0;
	if (v->type == YAML_SCALAR_NODE) {
		n = 1;
	} else if (v->type == YAML_SEQUENCE_NODE) {
		n = v->data.sequence.items.top - v->data.sequence.items.start;
		if (n < 1 || n > 2) {
			errnode(ld, v, "%s: expected one prefix, or a list of one IPv4 and one IPv6 prefix (got %ld entries)",
				path, n);
			return -EINVAL;
		}
	} else {
		errnode(ld, v, "%s: expected a prefix or a list of prefixes, not a mapping", path);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		it = v->type == YAML_SCALAR_NODE ? v : seq_get(ld, v, i);
		if (!scalar(it)) {
			errnode(ld, it, "%s: expected a prefix such as 10.0.0.0/8", path);
			return -EINVAL;
		}
		if (rl_parse_prefix(scalar(it), &p, &e)) {
			errnode(ld, it, "%s: %s", path, e.msg);
			return -EINVAL;
		}
		if ((p.family == 4 && s->has_src4) || (p.family == 6 && s->has_src6)) {
			errnode(ld, it, "%s: a second IPv%d prefix '%.*s': a rule takes at most one IPv4 and one IPv6 source (write two rules)",
				path, p.family, RL_CUT(scalar(it), 60));
			return -EINVAL;
		}
		if (p.family == 4) {
			s->has_src4 = true;
			s->src4 = p;
		} else {
			s->has_src6 = true;
			s->src6 = p;
		}
	}
	return 0;
}

/* The key a rl_rule_validate message is about: its first word. */
static const char *validate_key(const char *msg)
{
	static const char *const keys[] = {
		"src", "proto", "dport", "tcp-flags", "burst", "algo", "per", "action",
		"block-for", "rate", "mark-value", "dscp", "ecn", "scope",
	};
	size_t i, n;

	if (!strncmp(msg, "rule name", 9))
		return "name";
	if (!strncmp(msg, "algorithm", 9))
		return "algo";
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		n = strlen(keys[i]);
		if (!strncmp(msg, keys[i], n) && (msg[n] == ' ' || msg[n] == ':'))
			return keys[i];
	}
	return "rate";
}

static int conv_rule(struct loader *ld, long idx, const struct y_rule *y,
		     const struct rl_defaults *d, struct rl_rule_spec *s)
{
	char rpath[48], path[96];
	struct rl_err e = {};
	const char *vk;
	bool ecn = false;
	int ret;

	snprintf(rpath, sizeof(rpath), "rules[%ld]", idx);
	rl_rule_defaults(s, d);
	if (strlen(y->name) >= RL_NAME_LEN) {
		errpath(ld, strcat(strcpy(path, rpath), ".name"), false,
			"rule name '%.*s' is too long: at most %d characters", RL_CUT(y->name, 40),
			RL_NAME_LEN - 1);
		return -EINVAL;
	}
	strcpy(s->name, y->name);
	ret = conv_src(ld, rpath, s);
	if (ret)
		return ret;
#define CONV(field, key, call)                                              \
	do {                                                                \
		if (y->field) {                                             \
			snprintf(path, sizeof(path), "%s.%s", rpath, key);  \
			ret = call;                                         \
			if (ret) {                                          \
				errpath(ld, path, false, "%s ('%s') %s: %s", rpath, s->name, key, e.msg); \
				return ret;                                 \
			}                                                   \
		}                                                           \
	} while (0)
	CONV(proto, "proto", rl_parse_proto(y->proto, &s->proto, &e));
	CONV(dport, "dport", rl_parse_ports(y->dport, &s->dport_lo, &s->dport_hi, &e));
	CONV(rate, "rate", rl_parse_rate(y->rate, &s->limit, &s->bytes, &e));
	CONV(algo, "algo", rl_parse_algo(y->algo, &s->limit.algo, &e));
	CONV(per, "per", rl_parse_per(y->per, &s->per_rule, &s->plen4, &s->plen6, &e));
	CONV(action, "action", rl_parse_action(y->action, &s->action, &e));
	CONV(block_for, "block-for", rl_parse_duration(y->block_for, &s->block_ns, &e));
	CONV(scope, "scope", rl_parse_scope(y->scope, &s->cluster, &e));
	CONV(mark_value, "mark-value", rl_parse_mark(y->mark_value, &s->mark, &e));
	if (y->mark_value)
		s->mark_flags |= RL_MK_MARK;
	CONV(dscp, "dscp", rl_parse_dscp(y->dscp, &s->dscp, &e));
	if (y->dscp)
		s->mark_flags |= RL_MK_DSCP;
	CONV(ecn, "ecn", rl_parse_onoff(y->ecn, &ecn, &e));
	if (y->ecn && ecn)
		s->mark_flags |= RL_MK_ECN;
	CONV(tcp_flags, "tcp-flags",
	     strcmp(y->tcp_flags, "syn") ?
		     (rl_errf(&e, "'%.*s' is not supported: expected syn", RL_CUT(y->tcp_flags, 40)),
		      -EINVAL) :
		     (s->syn_only = true, 0));
#undef CONV
	if (y->burst) {
		uint64_t b;

		if (rl_parse_burst(y->burst, s->bytes, &b, &e)) {
			errpath(ld, strcat(strcpy(path, rpath), ".burst"), false,
				"%s ('%s') %s", rpath, s->name, e.msg);
			return -EINVAL;
		}
		s->limit.burst = b;
		s->burst_set = true;
	} else {
		s->limit.burst = rl_rule_burst(s);
	}
	ret = rl_rule_validate(s, &e);
	if (ret) {
		vk = validate_key(e.msg);
		snprintf(path, sizeof(path), "%s.%s", rpath, vk);
		if (!lookup(ld, path, false))
			snprintf(path, sizeof(path), "%s.rate", rpath);
		errpath(ld, path, false, "%s ('%s'): %s", rpath, s->name, e.msg);
	}
	return ret;
}



static int rule_line(struct loader *ld, int i)
{
	char path[32];
	yaml_node_t *n;

	snprintf(path, sizeof(path), "rules[%d]", i);
	n = lookup(ld, path, false);
	return n ? (int)n->start_mark.line + 1 : 0;
}

/* The exact source rules a and b share: "any" when neither has one. */
static void shared_src(const struct rl_rule_spec *a, const struct rl_rule_spec *b,
		       char *buf, size_t len)
{
	if (!b->has_src4 && !b->has_src6)
		snprintf(buf, len, "any (no src)");
	else if (b->has_src4 && a->has_src4 && !memcmp(&a->src4, &b->src4, sizeof(a->src4)))
		rl_format_prefix(&b->src4, buf, len);
	else
		rl_format_prefix(&b->src6, buf, len);
}

static int check_rules(struct loader *ld, const struct rl_config *c)
{
	char path[64], pb[64];
	const struct rl_rule_spec *a, *b;
	struct rl_prefix p;
	int i, j, ret;

	ret = rl_rules_check(c->rules, c->n_rules, &j, &i);
	if (!ret)
		return 0;
	if (ret == -ENOMEM) {
		errat(ld, 0, 0, "out of memory checking %d rules", c->n_rules);
		return ret;
	}
	a = &c->rules[j];
	b = &c->rules[i];
	if (ret == -EEXIST) {
		snprintf(path, sizeof(path), "rules[%d].name", i);
		errpath(ld, path, false, "rule name '%s' is used twice (first in the rule on line %d): names must be unique",
			b->name, rule_line(ld, j));
	} else if (ret == -EINVAL) {
		rl_rules_clash(a, b, &p);
		rl_format_prefix(&p, pb, sizeof(pb));
		snprintf(path, sizeof(path), "rules[%d]", i);
		errpath(ld, path, false,
			"rule '%s' overlaps rule '%s' (line %d): same source %s, proto %s%s, ports %u-%u and %u-%u; only file order would decide: merge them or make one more specific",
			b->name, a->name, rule_line(ld, j), pb, rl_proto_name(b->proto),
			b->syn_only ? " syn" : "", b->dport_lo, b->dport_hi,
			a->dport_lo, a->dport_hi);
	} else {
		shared_src(a, b, pb, sizeof(pb));
		snprintf(path, sizeof(path), "rules[%d]", i);
		errpath(ld, path, false,
			"rule '%s' is the %dth rule with source %s (the first is '%s' on line %d); at most %d rules may cover one prefix: merge rules or give them narrower or disjoint sources",
			b->name, RL_MAX_CAND + 1, pb, a->name, rule_line(ld, j), RL_MAX_CAND);
	}
	return ret;
}

/* ---- public --------------------------------------------------------- */

void rl_config_defaults(struct rl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->defaults.algo = RL_ALGO_TOKEN_BUCKET;
	cfg->defaults.action = RL_ACT_DROP;
	cfg->defaults.plen4 = 32;
	cfg->defaults.plen6 = 128;
	cfg->defaults.per_rule = false;
	cfg->defaults.on_full = RL_FULL_EVICT;
	cfg->defaults.malformed = RL_MALFORMED_DROP;
	cfg->defaults.state_entries = 1048576;
	cfg->defaults.xdp_prio = RL_XDP_PRIO_DEFAULT;
}

int rl_parse_xdp_attach(const char *s)
{
	static const char *const names[] = { "auto", "dispatcher", "link" };
	int i;

	for (i = 0; i < 3; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

void rl_config_free(struct rl_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->allow);
	free(cfg->block);
	free(cfg->rules);
	cfg->allow = cfg->block = NULL;
	cfg->rules = NULL;
	cfg->n_allow = cfg->n_block = cfg->n_rules = 0;
}

/*
 * The file into memory.  It is opened non-blocking and must be a regular
 * file: `rlctl config check` names a path for the agent to read, and a
 * FIFO or a device opened the usual way would block (or never end) on the
 * agent's only thread.  What is read is capped at RL_CONFIG_MAX_BYTES,
 * whatever the size the file claims.
 */
static int read_file(struct loader *ld, char **buf, size_t *len)
{
	int fd = open(ld->path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	size_t n = 0;
	char *b;

	if (fd < 0) {
		int e = errno;

		errat(ld, 0, 0, "cannot open: %s", strerror(e));
		return -e;
	}
	if (fstat(fd, &st)) {
		int e = errno;

		errat(ld, 0, 0, "cannot stat: %s", strerror(e));
		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		errat(ld, 0, 0, "not a regular file (%s): a config is a regular file",
		      S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" :
		      S_ISCHR(st.st_mode) ? "a character device" :
		      S_ISBLK(st.st_mode) ? "a block device" : S_ISSOCK(st.st_mode) ? "a socket" :
		      "another kind of file");
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > RL_CONFIG_MAX_BYTES) {
		errat(ld, 0, 0, "file is %lld bytes; a config may be at most %d bytes (16 MiB)",
		      (long long)st.st_size, RL_CONFIG_MAX_BYTES);
		close(fd);
		return -EFBIG;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		errat(ld, 0, 0, "out of memory");
		return -ENOMEM;
	}
	/* a file that grows meanwhile is read as far as its stat size */
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, b + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			errat(ld, 0, 0, "cannot read: %s", strerror(e));
			free(b);
			close(fd);
			return -e;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = 0;
	if (memchr(b, 0, n)) {
		const char *z = memchr(b, 0, n);
		int line = 1, col = 1;
		const char *p;

		for (p = b; p < z; p++, col++)
			if (*p == '\n') {
				line++;
				col = 0;
			}
		errat(ld, line, col, "binary data (a NUL byte): not a YAML text file");
		free(b);
		return -EINVAL;
	}
	*buf = b;
	*len = n;
	return 0;
}

int rl_config_load(const char *path, struct rl_config *cfg, struct rl_err *err)
{
	struct loader ld = { .path = path, .err = err };
	cyaml_config_t cy = {
		.log_fn = cy_log, .log_ctx = &ld, .mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR, .flags = CYAML_CFG_NO_ALIAS,
	};
	struct rl_config nc;
	struct y_cfg *y = NULL;
	char *buf = NULL;
	yaml_parser_t parser;
	cyaml_err_t cerr;
	unsigned i;
	int ret;

	if (err)
		memset(err, 0, sizeof(*err));
	rl_config_defaults(&nc);
	ret = read_file(&ld, &buf, &ld.len);
	if (ret)
		return ret;
	ld.buf = buf;

	ret = scan_events(&ld);
	if (ret)
		goto cleanup;
	if (!yaml_parser_initialize(&parser)) {
		errat(&ld, 0, 0, "cannot initialise libyaml");
		ret = -ENOMEM;
		goto cleanup;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, ld.len);
	if (!yaml_parser_load(&parser, &ld.doc)) {
		errat(&ld, (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
		      "not valid YAML: %s", parser.problem ? parser.problem : "syntax error");
		yaml_parser_delete(&parser);
		ret = -EINVAL;
		goto cleanup;
	}
	yaml_parser_delete(&parser);
	ld.have_doc = true;
	ret = check_tree(&ld);
	if (ret)
		goto cleanup;

	cerr = cyaml_load_data((const uint8_t *)buf, ld.len, &cy, &top_value, (void **)&y, NULL);
	if (cerr != CYAML_OK || !y) {
		ld.log[ld.log_len] = 0;
		cyaml_error(&ld, cerr);
		ret = cerr == CYAML_ERR_OOM ? -ENOMEM : -EINVAL;
		goto cleanup;
	}

	if (y->version != 1) {
		errpath(&ld, "version", false, "version %d is not supported: this rlagent reads 'version: 1'",
			y->version);
		ret = -EINVAL;
		goto cleanup;
	}
	ret = conv_interfaces(&ld, &nc);
	if (!ret)
		ret = conv_defaults(&ld, y->defaults, &nc.defaults);
	if (!ret)
		ret = conv_list(&ld, "allowlist", y->allow, y->allow_count, &nc.allow, &nc.n_allow);
	if (!ret)
		ret = conv_list(&ld, "blocklist", y->block, y->block_count, &nc.block, &nc.n_block);
	if (!ret)
		ret = check_lists_disjoint(&ld, &nc);
	if (ret)
		goto cleanup;
	if (nc.n_allow + nc.n_block > RL_MAX_LIST) {
		errpath(&ld, "blocklist", true, "allowlist and blocklist hold %d entries; at most %d in all",
			nc.n_allow + nc.n_block, RL_MAX_LIST);
		ret = -E2BIG;
		goto cleanup;
	}
	nc.rules = calloc(y->rules_count ? y->rules_count : 1, sizeof(*nc.rules));
	if (!nc.rules) {
		errat(&ld, 0, 0, "out of memory");
		ret = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < y->rules_count; i++) {
		ret = conv_rule(&ld, (long)i, &y->rules[i], &nc.defaults, &nc.rules[i]);
		if (ret)
			goto cleanup;
		nc.n_rules = (int)i + 1;
	}
	ret = conv_cluster(&ld, y->cluster, &nc.cluster);
	if (!ret && y->metrics)
		ret = conv_metrics(&ld, y->metrics, nc.metrics, sizeof(nc.metrics));
	for (i = 0; !ret && i < (unsigned)nc.n_rules; i++) {
		char path[48];

		if (!nc.rules[i].cluster || nc.cluster.enabled)
			continue;
		snprintf(path, sizeof(path), "rules[%u].scope", i);
		errpath(&ld, path, false,
			"rules[%u] ('%s') scope: cluster needs a top-level cluster: section (cluster.redis names the Redis server the hosts share)",
			i, nc.rules[i].name);
		ret = -EINVAL;
	}
	if (!ret)
		ret = check_rules(&ld, &nc);
	if (ret)
		goto cleanup;
	*cfg = nc;
	memset(&nc, 0, sizeof(nc));
cleanup:
	rl_config_free(&nc);
	if (y)
		cyaml_free(&cy, &top_value, y, 0);
	if (ld.have_doc)
		yaml_document_delete(&ld.doc);
	free(buf);
	return ret;
}

/*
 * Everything `--check-config` and `rlctl config check` promise: the file
 * loads, every rule validates, the counts fit the maps, and the rule set
 * compiles into match entries (no prefix covered by too many rules).
 */
int rl_config_check(const char *path, int *n_rules, struct rl_err *err)
{
	struct rl_config cfg;
	struct rl_compiled out = {};
	uint32_t *ids = NULL, *vers = NULL;
	int i, ret;

	rl_config_defaults(&cfg);
	ret = rl_config_load(path, &cfg, err);
	if (ret) {
		rl_config_free(&cfg);
		return ret;
	}
	ret = -EINVAL;
	for (i = 0; i < cfg.n_rules; i++) {
		struct rl_err e2 = {};

		if (!rl_name_valid(cfg.rules[i].name)) {
			rl_errf(err, "%s: rule name '%s' is invalid: use 1-%d characters of [A-Za-z0-9._-]",
				path, cfg.rules[i].name, RL_NAME_LEN - 1);
			goto cleanup;
		}
		if (rl_rule_validate(&cfg.rules[i], &e2)) {
			rl_errf(err, "%s: rule '%s': %s", path, cfg.rules[i].name, e2.msg);
			goto cleanup;
		}
	}
	if (cfg.n_rules > RL_MAX_RULES || cfg.n_allow + cfg.n_block > RL_MAX_LIST) {
		rl_errf(err, "%s: too many rules (max %d) or allow/block entries (max %d)",
			path, RL_MAX_RULES, RL_MAX_LIST);
		ret = -E2BIG;
		goto cleanup;
	}
	ret = -ENOMEM;
	ids = calloc((size_t)cfg.n_rules + 1, sizeof(*ids));
	vers = calloc((size_t)cfg.n_rules + 1, sizeof(*vers));
	if (!ids || !vers) {
		rl_errf(err, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < cfg.n_rules; i++) {
		ids[i] = (uint32_t)i;
		vers[i] = 1u << 16;
	}
	{
		struct rl_err e2 = {};

		ret = rl_compile(cfg.rules, ids, vers, cfg.n_rules, &out, &e2);
		if (ret) {
			rl_errf(err, "%s: %s", path, e2.msg);
			goto cleanup;
		}
	}
	if (n_rules)
		*n_rules = cfg.n_rules;
cleanup:
	rl_compiled_free(&out);
	free(ids);
	free(vers);
	rl_config_free(&cfg);
	return ret;
}
