// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_request.c - libFuzzer target for the control socket's requests.
 * Each line of the input is one request as a client sends it (framed as
 * agent_ctl.c frames them: split at '\n', a '\r' before it dropped, empty
 * lines skipped) and is answered by ctl_answer(): the JSON parse, the
 * argv checks of agent_dispatch, every command's own grammar, and then the
 * command itself against a running model, map writes included: the maps
 * are fake_agent.c's, which accept every write.  So `rule add|change|del`,
 * `allow|block add|del`, `stats`, `status`, `top`, `config reload|dump|
 * save|check` all run to the end.  Each input starts from the same agent:
 * the rule set of base_yaml below, applied.
 *
 * Not the real thing: `config check FILE` reads the agent's config file
 * whatever FILE is (rl_config_check is wrapped: a path from the fuzzer is
 * never opened), and `config save` writes no file: agent_config_save is
 * replaced by the check it makes before writing (the dump loads back),
 * made stricter.  Two kinds of lines are not requests:
 *   #fail N       the N-th map write from then on fails (agent_apply's
 *                 rollback)
 *   #yaml TEXT    a line of the agent's config file: the first of an input
 *                 replaces base_yaml, the next ones add lines, so that
 *                 `config reload` and `config check` read any config
 *
 * Besides the sanitizers it checks every answer: there is one (or a job
 * that ends with one), it encodes as JSON (json_dumps refuses invalid
 * UTF-8), it is {"ok":true,...} or {"ok":false,"error":"...","code":
 * "usage"|"refused"}; a rule an answer shows parses back, from its "spec"
 * words, to the rule the agent holds; and `config save` finds that the
 * running state's dump loads back with the same rules and permanent list
 * entries (in order), as it must at the end of every input that changed
 * the maps.
 */
#include "fuzz_util.h"

#include <errno.h>
#include <stddef.h>
#include <jansson.h>

#include "agent.h"
#include "fake_agent.h"

static const char base_yaml[] =
	"version: 1\n"
	"interfaces:\n"
	"  - name: eth0\n"
	"    xdp-mode: native\n"
	"defaults:\n"
	"  per: source/32,64\n"
	"allowlist:\n"
	"  - 127.0.0.0/8\n"
	"  - ::1/128\n"
	"blocklist:\n"
	"  - 192.0.2.66/32\n"
	"rules:\n"
	"  - name: ssh-syn\n"
	"    proto: tcp\n"
	"    dport: 22\n"
	"    tcp-flags: syn\n"
	"    rate: 10/s\n"
	"    burst: 20\n"
	"    block-for: 60s\n"
	"  - name: web\n"
	"    proto: tcp\n"
	"    dport: 80-443\n"
	"    rate: 10mbit\n"
	"    per: source/24,64\n"
	"  - name: partner\n"
	"    src: [198.51.100.0/24, \"2001:db8:100::/48\"]\n"
	"    rate: 6000/min\n"
	"    algo: sliding-window\n"
	"    action: monitor\n"
	"  - name: login\n"
	"    proto: udp\n"
	"    dport: 1812\n"
	"    rate: 5/min\n"
	"    algo: sliding-log\n"
	"  - name: tag\n"
	"    proto: udp\n"
	"    dport: 5000-5100\n"
	"    rate: 1/s\n"
	"    action: mark\n"
	"    mark-value: 0x10\n"
	"    dscp: af41\n"
	"    ecn: true\n";

static struct fuzz_file conf_file, save_file;
static struct rl_config base_cfg;

int __real_rl_config_check(const char *path, int *n_rules, struct rl_err *err);
int __real_rl_config_load(const char *path, struct rl_config *cfg, struct rl_err *err);

/*
 * The loader's answers, remembered by the file's text.  The files read
 * here (`config reload`, `config check`, `config save`'s dump and the one
 * at the end of an input) are nearly always a text loaded before: the
 * base config, or the dump of a state that many inputs reach.  Parsing
 * it again (three YAML passes under ASan) was most of an input's time
 * and finds nothing new: rl_config_load and rl_config_check depend on
 * the text alone (a path is part of it: the messages name it), so a text
 * seen before gets the same return, error and config (a copy) without
 * the parse; a text not seen before is parsed by the real loader.  What
 * the agent does with the answer is run every time, and fuzz_config
 * fuzzes the loader itself.
 */
#define MEMO_SLOTS 256
#define MEMO_MAX   (64 * 1024)    /* longer texts are always parsed    */

struct memo {
	bool used, check;
	char path[64];
	void *mem;                /* mmap'd: text, then cfg's arrays  */
	size_t mem_len;
	const char *text;
	size_t len;
	int ret, n_rules;
	struct rl_err err;
	struct rl_config cfg;     /* rl_config_load's, if it returned 0 */
};
static struct memo memo[MEMO_SLOTS];

/* The text file f holds (NULL: too long to remember). */
static char *memo_read(const struct fuzz_file *f, size_t *len)
{
	static char buf[MEMO_MAX + 1];
	ssize_t n = pread(f->fd, buf, sizeof(buf), 0);

	if (n < 0 || n > MEMO_MAX)
		return NULL;
	*len = (size_t)n;
	return buf;
}

static struct memo *memo_slot(bool check, const char *path, const char *text, size_t len)
{
	uint64_t h = 1469598103934665603ull, w;
	size_t i;

	/* 8 bytes a step: texts of up to 64 KB are hashed for every load */
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, text + i, 8);
		h = (h ^ w) * 1099511628211ull;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ (unsigned char)text[i]) * 1099511628211ull;
	for (i = 0; path[i]; i++)
		h = (h ^ (unsigned char)path[i]) * 1099511628211ull;
	h ^= check;
	return &memo[h % MEMO_SLOTS];
}

static bool memo_hit(const struct memo *m, bool check, const char *path, const char *text,
		     size_t len)
{
	return m->used && m->check == check && m->len == len && !strcmp(m->path, path) &&
	       !memcmp(m->text, text, len);
}

static void *memo_copy(const void *p, size_t n, size_t size)
{
	void *q;

	if (!p)
		return NULL;
	q = malloc((n ? n : 1) * size);
	if (!q)
		fuzz_die("out of memory");
	memcpy(q, p, n * size);
	return q;
}

/* A config as the loader gives it: arrays of their own (malloc'd). */
static void cfg_copy(struct rl_config *dst, const struct rl_config *src)
{
	*dst = *src;
	dst->allow = memo_copy(src->allow, (size_t)src->n_allow, sizeof(*src->allow));
	dst->block = memo_copy(src->block, (size_t)src->n_block, sizeof(*src->block));
	dst->rules = memo_copy(src->rules, (size_t)src->n_rules, sizeof(*src->rules));
}

#define MEMO_ALIGN(n) (((n) + 15) & ~(size_t)15)

/* p (n elements of size) copied to mem at *off; NULL stays NULL */
static void *memo_put(char *mem, size_t *off, const void *p, size_t n, size_t size)
{
	void *q = mem + *off;

	if (!p)
		return NULL;
	memcpy(q, p, n * size);
	*off += MEMO_ALIGN(n * size);
	return q;
}

/*
 * Remembers an answer in slot m.  Its memory is mmap'd, not malloc'd: an
 * input that adds to the memory then mallocs no more than it frees, else
 * libFuzzer would run it a second time to look for a leak.
 */
static bool memo_store(struct memo *m, bool check, const char *path, const char *text,
		       size_t len, int ret, const struct rl_err *e, int n_rules,
		       const struct rl_config *c)
{
	size_t need = MEMO_ALIGN(len + 1), off = 0;
	char *mem;

	if (m->used)
		munmap(m->mem, m->mem_len);
	memset(m, 0, sizeof(*m));
	if (strlen(path) >= sizeof(m->path))
		return false;
	if (c)
		need += MEMO_ALIGN((size_t)c->n_allow * sizeof(*c->allow)) +
			MEMO_ALIGN((size_t)c->n_block * sizeof(*c->block)) +
			MEMO_ALIGN((size_t)c->n_rules * sizeof(*c->rules));
	mem = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fuzz_die("mmap: %m");
	m->mem = mem;
	m->mem_len = need;
	m->text = memo_put(mem, &off, text, len, 1);
	m->len = len;
	if (c) {
		m->cfg = *c;
		m->cfg.allow = memo_put(mem, &off, c->allow, (size_t)c->n_allow, sizeof(*c->allow));
		m->cfg.block = memo_put(mem, &off, c->block, (size_t)c->n_block, sizeof(*c->block));
		m->cfg.rules = memo_put(mem, &off, c->rules, (size_t)c->n_rules, sizeof(*c->rules));
	}
	m->check = check;
	snprintf(m->path, sizeof(m->path), "%s", path);
	m->ret = ret;
	m->err = *e;
	m->n_rules = n_rules;
	m->used = true;
	return true;
}

/* rl_config_load of `text`, which file f holds or (f_set) is given */
static int memo_load(struct fuzz_file *f, bool f_set, const char *text, size_t len,
		     struct rl_config *cfg, struct rl_err *err)
{
	struct memo *m = memo_slot(false, f->path, text, len);

	if (!memo_hit(m, false, f->path, text, len)) {
		struct rl_err e = {};
		struct rl_config c;
		int ret;

		if (!f_set)
			fuzz_file_set(f, text, len);
		rl_config_defaults(&c);
		ret = __real_rl_config_load(f->path, &c, &e);
		if (!memo_store(m, false, f->path, text, len, ret, &e, 0, ret ? NULL : &c)) {
			if (err)
				*err = e;
			if (!ret)
				*cfg = c;
			return ret;
		}
		if (!ret)
			rl_config_free(&c);
	}
	if (err)
		*err = m->err;
	if (!m->ret)
		cfg_copy(cfg, &m->cfg);
	return m->ret;
}

int __wrap_rl_config_load(const char *path, struct rl_config *cfg, struct rl_err *err)
{
	struct fuzz_file *f = !strcmp(path, conf_file.path) ? &conf_file :
			      !strcmp(path, save_file.path) ? &save_file : NULL;
	size_t len;
	char *text = f ? memo_read(f, &len) : NULL;

	if (!text)
		return __real_rl_config_load(path, cfg, err);
	return memo_load(f, true, text, len, cfg, err);
}

/* `config check FILE` checks the agent's config file, whatever FILE is. */
int __wrap_rl_config_check(const char *path, int *n_rules, struct rl_err *err)
{
	size_t len;
	char *text = memo_read(&conf_file, &len);
	struct memo *m;

	(void)path;
	if (!text)
		return __real_rl_config_check(conf_file.path, n_rules, err);
	m = memo_slot(true, conf_file.path, text, len);
	if (!memo_hit(m, true, conf_file.path, text, len)) {
		struct rl_err e = {};
		int n = 0, ret = __real_rl_config_check(conf_file.path, &n, &e);

		if (!memo_store(m, true, conf_file.path, text, len, ret, &e, n, NULL)) {
			if (!ret && n_rules)
				*n_rules = n;
			if (err)
				*err = e;
			return ret;
		}
	}
	if (!m->ret && n_rules)
		*n_rules = m->n_rules;
	if (err)
		*err = m->err;
	return m->ret;
}

/* Two specs say the same rule: a per-rule rule's key lengths mean nothing. */
static bool same_rule(const struct rl_rule_spec *x, const struct rl_rule_spec *y)
{
	struct rl_rule_spec a = *x, b = *y;

	if (a.per_rule && b.per_rule) {
		a.plen4 = b.plen4;
		a.plen6 = b.plen6;
	}
	return !memcmp(&a, &b, sizeof(a));
}

/* The running state's dump loads back as it is. */
static void check_dump(struct agent *a)
{
	struct rl_config cfg;
	struct rl_err e = {};
	char *y = agent_config_dump(a);
	int i, na = 0, nb = 0;

	if (!y)
		fuzz_die("config dump: out of memory");
	/* as rl_config_load(save_file.path) once save_file holds y */
	rl_config_defaults(&cfg);
	if (strlen(y) > MEMO_MAX)
		fuzz_file_set(&save_file, y, strlen(y));
	if (strlen(y) > MEMO_MAX ? rl_config_load(save_file.path, &cfg, &e) :
	    memo_load(&save_file, false, y, strlen(y), &cfg, &e))
		fuzz_die("the running state's dump does not load back: %s\n%s", e.msg, y);
	for (i = 0; i < a->model.n_allow; i++)
		na += !a->model.allow[i].expires_ns;
	for (i = 0; i < a->model.n_block; i++)
		nb += !a->model.block[i].expires_ns;
	if (cfg.n_rules != a->model.n_rules || cfg.n_allow != na || cfg.n_block != nb)
		fuzz_die("dump loads back with %d rules, %d allow, %d block; running %d, %d, %d\n%s",
			 cfg.n_rules, cfg.n_allow, cfg.n_block, a->model.n_rules, na, nb, y);
	for (i = 0; i < cfg.n_rules; i++)
		if (!same_rule(&cfg.rules[i], &a->model.rules[i].spec))
			fuzz_die("rule '%s' loads back from the dump as another rule\n%s",
				 a->model.rules[i].spec.name, y);
	for (i = 0, na = 0; i < a->model.n_allow; i++)
		if (!a->model.allow[i].expires_ns &&
		    memcmp(&a->model.allow[i].pfx, &cfg.allow[na++].pfx, sizeof(cfg.allow[0].pfx)))
			fuzz_die("allow entry %d loads back from the dump as another prefix\n%s", i, y);
	for (i = 0, nb = 0; i < a->model.n_block; i++)
		if (!a->model.block[i].expires_ns &&
		    memcmp(&a->model.block[i].pfx, &cfg.block[nb++].pfx, sizeof(cfg.block[0].pfx)))
			fuzz_die("block entry %d loads back from the dump as another prefix\n%s", i, y);
	rl_config_free(&cfg);
	free(y);
}

/* `config save` without the file: the check it makes before writing. */
int agent_config_save(struct agent *a, const char *path, char *saved, size_t len,
		      struct rl_err *err)
{
	(void)err;
	check_dump(a);
	snprintf(saved, len, "%s", path ? path : a->config_path);
	return 0;
}

/* A rule in an answer: its "spec" words, parsed as `rule add` parses them,
 * give the rule the agent holds. */
static void check_rule_words(struct agent *a, json_t *rule)
{
	const char *name = json_string_value(json_object_get(rule, "name"));
	const char *spec = json_string_value(json_object_get(rule, "spec"));
	struct agent_rule *r;
	struct rl_rule_spec s;
	struct rl_err e = {};
	char *buf, *argv[64], *p, *sp;
	int argc = 0;

	if (!name || !spec)
		fuzz_die("a rule in an answer without name or spec");
	r = agent_model_find(&a->model, name);
	if (!r)
		return;	/* `rule list` of a rule deleted since: not here */
	buf = strdup(spec);
	if (!buf)
		fuzz_die("out of memory");
	for (p = buf; p && argc < 64; p = sp ? sp + 1 : NULL) {
		sp = strchr(p, ' ');
		if (sp)
			*sp = 0;
		argv[argc++] = p;
	}
	rl_rule_defaults(&s, &a->cfg.defaults);
	if (rl_parse_rule_words(argc, argv, &s, true, &e))
		fuzz_die("rule '%s': its spec '%s' does not parse: %s", name, spec, e.msg);
	snprintf(s.name, sizeof(s.name), "%s", name);
	/* the words always give the burst; the rule may have its default */
	s.burst_set = r->spec.burst_set;
	if (!same_rule(&s, &r->spec))
		fuzz_die("rule '%s': its spec '%s' parses to another rule", name, spec);
	free(buf);
}

static void check_answer(struct agent *a, json_t *resp, const char *line)
{
	/* the encoding, as json_dumps makes it, into a buffer of its own
	 * (json_dumps grows one with realloc: half its time under ASan) */
	static char enc[256 * 1024];
	json_t *ok, *err, *code, *rules, *rule;
	const char *c;
	char *s, *big = NULL;
	size_t i, n;

	if (!resp)
		fuzz_die("no answer to '%s'", line);
	n = json_dumpb(resp, enc, sizeof(enc) - 1, JSON_COMPACT);
	if (n && n < sizeof(enc)) {
		enc[n] = 0;
		s = enc;
	} else {
		s = big = json_dumps(resp, JSON_COMPACT);
	}
	if (!s)
		fuzz_die("the answer to '%s' does not encode", line);
	ok = json_object_get(resp, "ok");
	if (!json_is_boolean(ok))
		fuzz_die("answer without \"ok\": %s", s);
	if (json_is_false(ok)) {
		err = json_object_get(resp, "error");
		code = json_object_get(resp, "code");
		c = json_string_value(code);
		if (!json_is_string(err) || !json_string_length(err) || !c ||
		    (strcmp(c, "usage") && strcmp(c, "refused")))
			fuzz_die("refusal without error or code: %s", s);
		fuzz_check_msg("answer", json_string_value(err));
	}
	rule = json_object_get(resp, "rule");
	if (rule)
		check_rule_words(a, rule);
	/* `rule list`; the rules of `stats` are counters */
	rules = json_object_get(resp, "rules");
	if (json_is_array(rules))
		json_array_foreach(rules, i, rule)
			if (json_object_get(rule, "spec"))
				check_rule_words(a, rule);
	free(big);
	json_decref(resp);
}

/* The agent every input starts from: base_yaml applied, once. */
static struct agent base_agent;

/*
 * *a made base_agent again.  struct agent is 2.2 MB, nearly all of it
 * a->cl.rules (RL_MAX_RULES cluster rules), which only the poll loop's
 * agent_cluster_step writes, never a request: copying it whole for each
 * input was most of the time of a short one.  So a is static (no 2.2 MB
 * stack frame to poison and unpoison either) and everything but that
 * table is copied, and of the table the entries below the highest count
 * an input left (cl_dirty), zeroed if base_agent has none there.
 */
static int cl_dirty;

static void agent_copy_base(struct agent *a)
{
	const size_t tab = offsetof(struct agent, cl.rules);
	const size_t tab_end = tab + sizeof(a->cl.rules);
	int n = base_agent.cl.n_rules;

	memcpy(a, &base_agent, tab);
	memcpy((char *)a + tab_end, (const char *)&base_agent + tab_end, sizeof(*a) - tab_end);
	memcpy(a->cl.rules, base_agent.cl.rules, (size_t)n * sizeof(a->cl.rules[0]));
	if (cl_dirty > n)
		memset(&a->cl.rules[n], 0, (size_t)(cl_dirty - n) * sizeof(a->cl.rules[0]));
	cl_dirty = n;
}

static void agent_start(struct agent *a)
{
	struct rl_compiled *c = &a->applied;

	agent_copy_base(a);
	a->started = time(NULL);
	rl_config_defaults(&a->cfg);
	a->cfg.n_ifaces = base_cfg.n_ifaces;
	memcpy(a->cfg.ifaces, base_cfg.ifaces, sizeof(a->cfg.ifaces));
	a->cfg.defaults = base_cfg.defaults;
	c->e = malloc(((size_t)c->n + 1) * sizeof(*c->e));
	if (!c->e || agent_model_dup(&base_agent.model, &a->model))
		fuzz_die("out of memory");
	memcpy(c->e, base_agent.applied.e, (size_t)c->n * sizeof(*c->e));
	a->lapplied.e = malloc(((size_t)a->lapplied.n + 1) * sizeof(*a->lapplied.e));
	if (!a->lapplied.e)
		fuzz_die("out of memory");
	memcpy(a->lapplied.e, base_agent.lapplied.e, (size_t)a->lapplied.n * sizeof(*a->lapplied.e));
}

static void base_start(struct agent *a)
{
	struct agent_model next;
	struct rl_err e = {};

	memset(a, 0, sizeof(*a));
	a->config_path = conf_file.path;
	a->sock_path = "/run/rlfuzz/rlagent.sock";
	a->pin_dir = "/sys/fs/bpf/rlfuzz";
	a->metrics_listen = "off";
	a->gc_interval_ns = 60 * 1000000000ull;
	a->sweep4.live = a->sweep6.live = -1;
	rl_config_defaults(&a->cfg);
	a->have_cfg = true;
	a->n_ifaces = 1;
	snprintf(a->ifaces[0].name, sizeof(a->ifaces[0].name), "eth0");
	a->ifaces[0].ifindex = 2;
	snprintf(a->ifaces[0].mode, sizeof(a->ifaces[0].mode), "native");
	a->st_capacity = base_cfg.defaults.state_entries;
	a->next_gen = 1;
	agent_model_init(&a->model);
	if (agent_model_from_config(&base_cfg, &next, &e) || agent_apply(a, &next, &e)) {
		fprintf(stderr, "fuzz_request: the base rule set does not apply: %s\n", e.msg);
		exit(1);
	}
	agent_model_free(&next);
	/* agent_start gives each input its own copy of these */
	rl_config_free(&a->cfg);
}

static void agent_stop(struct agent *a)
{
	if (a->cl.n_rules > cl_dirty)
		cl_dirty = a->cl.n_rules;
	agent_model_free(&a->model);
	rl_compiled_free(&a->applied);
	rl_lset_free(&a->lapplied);
	rl_config_free(&a->cfg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rl_err e = {};

	(void)argc;
	(void)argv;
	json_object_seed(1);
	fuzz_file_open(&conf_file, "rl-fuzz-base");
	fuzz_file_open(&save_file, "rl-fuzz-save");
	fuzz_file_set(&conf_file, base_yaml, sizeof(base_yaml) - 1);
	rl_config_defaults(&base_cfg);
	if (rl_config_load(conf_file.path, &base_cfg, &e)) {
		fprintf(stderr, "fuzz_request: the base config: %s\n", e.msg);
		exit(1);
	}
	base_start(&base_agent);
	return 0;
}

/* The config file as #yaml lines write it; conf_file holds base_yaml
 * again at the start of each input. */
static char yaml[64 * 1024];
static size_t yaml_len;
static bool yaml_dirty;           /* conf_file is not yet yaml */
static bool conf_changed;         /* conf_file is not base_yaml */

static void yaml_line(const char *s, size_t len, bool first)
{
	if (first)
		yaml_len = 0;
	if (yaml_len + len + 1 > sizeof(yaml))
		return;
	memcpy(yaml + yaml_len, s, len);
	yaml_len += len;
	yaml[yaml_len++] = '\n';
	yaml_dirty = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct agent a;
	const char *p = (const char *)data, *end = p + size;
	bool yaml_seen = false;

	if (conf_changed) {
		fuzz_file_set(&conf_file, base_yaml, sizeof(base_yaml) - 1);
		conf_changed = false;
	}
	fake_fail_write(0);
	agent_start(&a);
	fake_writes_reset();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		struct agent_job *job = NULL;
		char shown[128];
		json_t *resp;

		/* a line without its newline is never answered */
		if (!nl)
			break;
		if (len && p[len - 1] == '\r')
			len--;
		snprintf(shown, sizeof(shown), "%.*s", (int)(len < 100 ? len : 100), p);
		if (len > 6 && !memcmp(p, "#fail ", 6)) {
			fake_fail_write(strtol(shown + 6, NULL, 10));
		} else if (len >= 5 && !memcmp(p, "#yaml", 5)) {
			yaml_line(p + (len > 5 ? 6 : 5), len - (len > 5 ? 6 : 5), !yaml_seen);
			yaml_seen = true;
		} else if (len) {
			if (yaml_dirty) {
				fuzz_file_set(&conf_file, yaml, yaml_len);
				yaml_dirty = false;
				conf_changed = true;
			}
			resp = ctl_answer(&a, p, len, "uid 0 pid 1 (fuzz)", 0, &job);
			if (job) {
				if (resp)
					fuzz_die("an answer and a job for '%s'", shown);
				while (!(resp = agent_job_step(&a, job)))
					;
				agent_job_free(job);
			}
			check_answer(&a, resp, shown);
		}
		p = nl + 1;
	}
	if (fake_writes())
		check_dump(&a);
	agent_stop(&a);
	return 0;
}
