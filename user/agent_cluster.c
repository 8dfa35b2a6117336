// SPDX-License-Identifier: GPL-2.0
/*
 * agent_cluster.c - scope cluster rules: one limit shared by every rl host
 * behind a load balancer, settled through Redis.  Declared in agent.h.
 *
 * Every `sync` period the poll loop reads each cluster rule's counters
 * (what this host was offered and admitted since the last sync) and hands
 * them to a thread that owns the Redis connection (hiredis, blocking, with
 * timeouts).  The thread runs one Lua script per rule, pipelined, that
 * records this node's report in a hash under the cluster's key prefix and
 * returns the sum over the nodes that reported within three periods.  The
 * loop takes the result back through an eventfd and sets this host's
 * share of the rule (demand-weighted, water-filled: rl_cluster_share) by
 * changing the rule's `unit` only, which keeps the rule's state word
 * meaningful (rl_lconst_share in rl_algo.h): no epoch, nothing drained.
 * The poll loop never waits for Redis: while the thread is busy, a sync
 * that falls due is skipped and counted.  See docs/ARCHITECTURE.md
 * "Cluster-wide quotas".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <hiredis/hiredis.h>
#include "agent.h"
#include "rl_algo.h"

/*
 * KEYS[1] the rule's hash; ARGV node, demand/s, admitted/s, ttl ms, the
 * node's share in 1/65536.  The server's clock ages the reports, so the
 * nodes' clocks need not agree.  Returns the sums of demand, admitted and
 * shares over the live reports, and their number.
 */
static const char cluster_lua[] =
	"local t = redis.call('TIME')\n"
	"local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local ttl = tonumber(ARGV[4])\n"
	"redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[5] .. ' ' .. ms)\n"
	"redis.call('PEXPIRE', KEYS[1], ttl * 4)\n"
	"local all = redis.call('HGETALL', KEYS[1])\n"
	"local d, a, q, n = 0, 0, 0, 0\n"
	"for i = 1, #all, 2 do\n"
	"  local dd, aa, qq, ts = string.match(all[i + 1], '^(%d+) (%d+) (%d+) (%d+)$')\n"
	"  if dd and ms - tonumber(ts) <= ttl and #dd < 16 and #aa < 16 and #qq < 7 then\n"
	"    d = d + tonumber(dd); a = a + tonumber(aa); q = q + tonumber(qq); n = n + 1\n"
	"  else\n"
	"    redis.call('HDEL', KEYS[1], all[i])\n"
	"  end\n"
	"end\n"
	"return {d, a, n, q}\n";

struct creq {
	char name[RL_NAME_LEN];
	uint64_t demand_ps, admitted_ps;
	uint32_t share_q;
};

struct cres {
	uint64_t demand_ps, admitted_ps, share_sum;
	uint32_t nodes;
	bool ok;
};

struct agent_cluster_shared {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;
	/* under mu */
	struct rl_cluster cfg;
	uint32_t cfg_gen;
	bool stop;
	bool have_req, have_res;
	int n;
	struct creq *req;             /* RL_MAX_RULES                          */
	struct cres *res;
	bool res_ok;
	uint64_t res_latency_ns, res_cmds;
	char res_err[1024];
};

/* ---- the Redis thread ------------------------------------------------- */

struct conn {
	redisContext *c;
	uint32_t gen;
	char sha[48];
};

static void conn_drop(struct conn *k)
{
	if (k->c)
		redisFree(k->c);
	k->c = NULL;
}

static int read_password(const char *path, char *out, size_t len, char *err, size_t elen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, elen, "password-file %s: %s", path,
			 fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, elen, "password-file %s: %s", path, strerror(errno));
		return -1;
	}
	out[n] = 0;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = 0;
	return 0;
}

/* 0 with k->c ready (authenticated, script loaded), else -1 and err. */
static int conn_open(struct conn *k, const struct rl_cluster *cfg, char *err, size_t elen)
{
	/* two periods, at least 500 ms, at most 5 s: a loaded host's Redis
	 * answering late is not an outage (the loop skips the syncs meanwhile
	 * and keeps the shares), a dead one is found within a few periods */
	uint64_t to_ns = 2 * cfg->sync_ns;

	if (to_ns < 500000000ULL)
		to_ns = 500000000ULL;
	if (to_ns > 5000000000ULL)
		to_ns = 5000000000ULL;
	struct timeval tv = { .tv_sec = (time_t)(to_ns / 1000000000ULL),
			      .tv_usec = (suseconds_t)(to_ns % 1000000000ULL / 1000) };
	struct rl_err e = {};
	char host[256], pw[520];
	redisReply *r;
	int port;

	conn_drop(k);
	if (rl_parse_redis_addr(cfg->redis, host, sizeof(host), &port, &e)) {
		snprintf(err, elen, "%s", e.msg);
		return -1;
	}
	k->c = port ? redisConnectWithTimeout(host, port, tv)
		    : redisConnectUnixWithTimeout(host, tv);
	if (!k->c || k->c->err) {
		snprintf(err, elen, "connecting to %s: %s", cfg->redis,
			 k->c ? k->c->errstr : "out of memory");
		conn_drop(k);
		return -1;
	}
	redisSetTimeout(k->c, tv);
	if (cfg->password_file[0]) {
		if (read_password(cfg->password_file, pw, sizeof(pw), err, elen)) {
			conn_drop(k);
			return -1;
		}
		r = redisCommand(k->c, "AUTH %s", pw);
		memset(pw, 0, sizeof(pw));
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, elen, "AUTH at %s: %s", cfg->redis,
				 r ? r->str : k->c->errstr);
			if (r)
				freeReplyObject(r);
			conn_drop(k);
			return -1;
		}
		freeReplyObject(r);
	}
	r = redisCommand(k->c, "SCRIPT LOAD %s", cluster_lua);
	if (!r || r->type != REDIS_REPLY_STRING || r->len >= (int)sizeof(k->sha)) {
		snprintf(err, elen, "SCRIPT LOAD at %s: %s", cfg->redis,
			 r && r->type == REDIS_REPLY_ERROR ? r->str : k->c->errstr);
		if (r)
			freeReplyObject(r);
		conn_drop(k);
		return -1;
	}
	memcpy(k->sha, r->str, (size_t)r->len);
	k->sha[r->len] = 0;
	freeReplyObject(r);
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* One sync: every rule's script, pipelined in one round trip. */
static int sync_once(struct conn *k, const struct rl_cluster *cfg, int n,
		     const struct creq *req, struct cres *res, uint64_t *cmds,
		     char *err, size_t elen)
{
	char key[128];
	uint64_t ttl_ms = cfg->sync_ns * 3 / 1000000ULL;
	int i, bad = 0;

	if (ttl_ms < 30)
		ttl_ms = 30;
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "rl:%s:rule:%s", cfg->name, req[i].name);
		if (redisAppendCommand(k->c, "EVALSHA %s 1 %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %u",
				       k->sha, key, cfg->node, req[i].demand_ps,
				       req[i].admitted_ps, ttl_ms, req[i].share_q) != REDIS_OK) {
			snprintf(err, elen, "queueing a command: out of memory");
			return -1;
		}
	}
	*cmds += (uint64_t)n;
	for (i = 0; i < n; i++) {
		redisReply *r = NULL;

		if (redisGetReply(k->c, (void **)&r) != REDIS_OK || !r) {
			snprintf(err, elen, "Redis at %s: %s", cfg->redis,
				 k->c->errstr[0] ? k->c->errstr : "no reply");
			return -1;
		}
		memset(&res[i], 0, sizeof(res[i]));
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
		    r->element[0]->type == REDIS_REPLY_INTEGER &&
		    r->element[1]->type == REDIS_REPLY_INTEGER &&
		    r->element[2]->type == REDIS_REPLY_INTEGER &&
		    r->element[3]->type == REDIS_REPLY_INTEGER &&
		    r->element[0]->integer >= 0 && r->element[1]->integer >= 0 &&
		    r->element[2]->integer >= 0 && r->element[2]->integer <= 1000000 &&
		    r->element[3]->integer >= 0) {
			res[i].demand_ps = (uint64_t)r->element[0]->integer;
			res[i].admitted_ps = (uint64_t)r->element[1]->integer;
			res[i].nodes = (uint32_t)r->element[2]->integer;
			res[i].share_sum = (uint64_t)r->element[3]->integer;
			res[i].ok = true;
		} else if (!bad++) {
			snprintf(err, elen, "Redis at %s answered the script with %s", cfg->redis,
				 r->type == REDIS_REPLY_ERROR ? r->str : "an unexpected reply");
		}
		freeReplyObject(r);
	}
	/* NOSCRIPT (a restarted Redis forgot it), or worse: start afresh */
	return bad ? -1 : 0;
}

static void *cluster_thread(void *arg)
{
	struct agent_cluster_shared *sh = arg;
	struct conn k = {};
	struct rl_cluster cfg;
	struct creq *req = calloc(RL_MAX_RULES, sizeof(*req));
	struct cres *res = calloc(RL_MAX_RULES, sizeof(*res));
	char err[1024];
	uint64_t one = 1, t0, cmds;
	uint32_t gen;
	int n, ret;

	for (;;) {
		pthread_mutex_lock(&sh->mu);
		while (!sh->stop && !sh->have_req)
			pthread_cond_wait(&sh->cv, &sh->mu);
		if (sh->stop) {
			pthread_mutex_unlock(&sh->mu);
			break;
		}
		sh->have_req = false;
		n = sh->n;
		if (req && res)
			memcpy(req, sh->req, (size_t)n * sizeof(*req));
		cfg = sh->cfg;
		gen = sh->cfg_gen;
		pthread_mutex_unlock(&sh->mu);

		err[0] = 0;
		cmds = 0;
		t0 = mono_ns();
		if (!req || !res) {
			snprintf(err, sizeof(err), "out of memory");
			ret = -1;
		} else {
			if (k.c && (k.gen != gen || k.c->err))
				conn_drop(&k);
			ret = 0;
			if (!k.c) {
				ret = conn_open(&k, &cfg, err, sizeof(err));
				k.gen = gen;
			}
			if (!ret)
				ret = sync_once(&k, &cfg, n, req, res, &cmds, err, sizeof(err));
			if (ret)
				conn_drop(&k);
		}

		pthread_mutex_lock(&sh->mu);
		sh->have_res = true;
		sh->res_ok = !ret;
		sh->res_latency_ns = mono_ns() - t0;
		sh->res_cmds = cmds;
		snprintf(sh->res_err, sizeof(sh->res_err), "%s", err);
		if (!ret)
			memcpy(sh->res, res, (size_t)n * sizeof(*res));
		pthread_mutex_unlock(&sh->mu);
		if (write(sh->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
	}
	conn_drop(&k);
	free(req);
	free(res);
	return NULL;
}

/* ---- the poll loop's side ---------------------------------------------- */

static uint64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ULL + (uint64_t)ts.tv_nsec / 1000000ULL;
}

static double rule_rate_ps(const struct rl_rule_spec *s)
{
	return s->limit.period_ns ? (double)s->limit.rate * 1e9 / (double)s->limit.period_ns : 0;
}

uint32_t agent_cluster_initial_share(const struct agent *a)
{
	if (!a->cl.ever_up || a->cl.last_nodes <= 1 ||
	    (!a->cl.up && a->cl.cfg.on_down == RL_CLUSTER_DOWN_LOCAL))
		return RL_SHARE_ONE;
	return RL_SHARE_ONE / a->cl.last_nodes;
}

uint32_t agent_cluster_bank_ms(const struct agent *a)
{
	uint64_t ms = a->cl.cfg.sync_ns / 1000000ULL, b = 4 * ms;

	if (b > 1000)
		b = 1000;
	if (b < 2 * ms)
		b = 2 * ms;
	return (uint32_t)b;
}

int agent_cluster_fd(const struct agent *a)
{
	return a->cl.sh ? a->cl.efd : -1;
}

uint64_t agent_cluster_next(const struct agent *a)
{
	return a->cl.sh ? a->cl.next_ns : 0;
}

int agent_cluster_configure(struct agent *a, const struct rl_cluster *c)
{
	struct agent_cluster *cl = &a->cl;
	struct agent_cluster_shared *sh = cl->sh;
	int ret;

	if (!c->enabled) {
		if (sh)
			log_warn("the config has no cluster: section any more; the Redis sync stops");
		agent_cluster_stop(a);
		cl->cfg = *c;
		return 0;
	}
	if (!sh && !cl->can_start) {
		cl->cfg = *c;
		return 0;
	}
	if (sh) {
		pthread_mutex_lock(&sh->mu);
		if (memcmp(&sh->cfg, c, sizeof(*c))) {
			sh->cfg = *c;
			sh->cfg_gen++;
			log_info("cluster: now %s as node %s, sync every %" PRIu64 " ms", c->redis,
				 c->node, (uint64_t)(c->sync_ns / 1000000));
		}
		pthread_mutex_unlock(&sh->mu);
		cl->cfg = *c;
		return 0;
	}
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	sh->req = calloc(RL_MAX_RULES, sizeof(*sh->req));
	sh->res = calloc(RL_MAX_RULES, sizeof(*sh->res));
	sh->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!sh->req || !sh->res || sh->efd < 0) {
		ret = sh->efd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	sh->cfg = *c;
	pthread_mutex_init(&sh->mu, NULL);
	pthread_cond_init(&sh->cv, NULL);
	ret = -pthread_create(&sh->th, NULL, cluster_thread, sh);
	if (ret) {
		pthread_mutex_destroy(&sh->mu);
		pthread_cond_destroy(&sh->cv);
		goto fail;
	}
	cl->sh = sh;
	cl->efd = sh->efd;
	cl->cfg = *c;
	cl->next_ns = agent_now_ns();
	log_info("cluster '%s': node %s, Redis %s, sync every %" PRIu64 " ms, on-redis-down %s",
		 c->name, c->node, c->redis, (uint64_t)(c->sync_ns / 1000000),
		 c->on_down == RL_CLUSTER_DOWN_LOCAL ? "local" : "last-share");
	return 0;
fail:
	log_err("cluster: starting the Redis thread: %s", strerror(-ret));
	if (sh->efd >= 0)
		close(sh->efd);
	free(sh->req);
	free(sh->res);
	free(sh);
	return ret;
}

int agent_cluster_start(struct agent *a)
{
	a->cl.can_start = true;
	return a->cl.cfg.enabled ? agent_cluster_configure(a, &a->cl.cfg) : 0;
}

void agent_cluster_stop(struct agent *a)
{
	struct agent_cluster_shared *sh = a->cl.sh;

	if (!sh)
		return;
	pthread_mutex_lock(&sh->mu);
	sh->stop = true;
	pthread_cond_signal(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	/* the thread finishes at most one sync: its timeouts bound the wait */
	pthread_join(sh->th, NULL);
	pthread_mutex_destroy(&sh->mu);
	pthread_cond_destroy(&sh->cv);
	close(sh->efd);
	free(sh->req);
	free(sh->res);
	free(sh);
	a->cl.sh = NULL;
	a->cl.efd = -1;
	a->cl.next_ns = 0;
	a->cl.busy = false;
}

const struct agent_crule *agent_cluster_rule(const struct agent *a, const char *name)
{
	int i;

	for (i = 0; i < a->cl.n_rules; i++)
		if (!strcmp(a->cl.rules[i].name, name))
			return &a->cl.rules[i];
	return NULL;
}

/* The cluster rules of the model, their counters read now (units/s). */
static void measure(struct agent *a, uint64_t now)
{
	struct agent_cluster *cl = &a->cl;
	struct agent_crule *old = malloc(sizeof(cl->rules[0]) * (size_t)(cl->n_rules + 1));
	int i, j, n = 0, n_old = cl->n_rules;

	if (!old)
		return;
	memcpy(old, cl->rules, sizeof(cl->rules[0]) * (size_t)n_old);
	for (i = 0; i < a->model.n_rules; i++) {
		const struct agent_rule *r = &a->model.rules[i];
		struct agent_crule *c = &cl->rules[n];
		uint64_t seen = 0, pass = 0, dt, d;
		struct rl_ctr ctr;
		int v;

		if (!r->spec.cluster || r->id >= RL_MAX_RULES)
			continue;
		memset(c, 0, sizeof(*c));
		for (j = 0; j < n_old; j++)
			if (!strcmp(old[j].name, r->spec.name) && old[j].id == r->id &&
			    (old[j].ver >> 16) == (r->ver >> 16)) {
				*c = old[j];
				break;
			}
		memcpy(c->name, r->spec.name, RL_NAME_LEN);
		c->id = r->id;
		c->ver = r->ver;
		for (v = 0; v < __RL_V_MAX; v++) {
			if (agent_pcpu_sum(a, a->maps.stats, r->id * __RL_V_MAX + v, &ctr))
				continue;
			seen += r->spec.bytes ? ctr.bytes : ctr.packets;
			if (v == RL_V_PASS)
				pass += r->spec.bytes ? ctr.bytes : ctr.packets;
		}
		dt = now - c->prev_ns;
		if (c->have_prev && dt && seen >= c->prev_seen && pass >= c->prev_pass) {
			/* demand averaged with a time constant of 300 ms (an
			 * EWMA of dt / (dt + 300 ms): 1/4 at a 100 ms sync, 3/4
			 * at 1 s): senders come in bursts, and a share cut to one
			 * period's lull is wasted while the others are held to
			 * theirs; measured locally, so it survives an outage */
			double w = (double)dt / ((double)dt + 3e8);

			d = (uint64_t)((double)(seen - c->prev_seen) * 1e9 / (double)dt);
			c->demand_ps = c->demand_ps ?
				(uint64_t)((1 - w) * (double)c->demand_ps + w * (double)d + 0.5) : d;
			c->admitted_ps = (uint64_t)((double)(pass - c->prev_pass) * 1e9 / (double)dt);
		} else {
			c->demand_ps = c->admitted_ps = 0;
		}
		c->have_prev = true;
		c->prev_ns = now;
		c->prev_seen = seen;
		c->prev_pass = pass;
		n++;
	}
	cl->n_rules = n;
	free(old);
}

/* Sets the shares in one apply; rules named NULL get q_all. */
static void set_shares(struct agent *a, const uint32_t *q, uint32_t q_all)
{
	struct agent_model next;
	struct rl_err err = {};
	bool change = false;
	int i, j;

	if (agent_model_dup(&a->model, &next)) {
		log_err("cluster: out of memory setting shares");
		return;
	}
	for (i = 0; i < next.n_rules; i++) {
		struct rl_rule_spec *s = &next.rules[i].spec;
		uint32_t want = q_all, d;

		if (!s->cluster)
			continue;
		if (q) {
			for (j = 0; j < a->cl.n_rules && strcmp(a->cl.rules[j].name, s->name); j++)
				;
			if (j == a->cl.n_rules || !q[j])
				continue;
			want = q[j];
		}
		/* ~1% steps are noise: no rewrite for them */
		d = want > s->share_q ? want - s->share_q : s->share_q - want;
		if (!s->share_q || d > s->share_q / 128 || (want == RL_SHARE_ONE && d)) {
			log_debug("cluster: t=%llu ms rule %s share %.4f -> %.4f", (unsigned long long)(agent_now_ns() / 1000000), s->name,
				  (double)s->share_q / RL_SHARE_ONE, (double)want / RL_SHARE_ONE);
			s->share_q = want;
			change = true;
		}
	}
	if (change) {
		if (agent_apply(a, &next, &err))
			log_warn("cluster: setting this host's shares: %s", err.msg);
		else
			a->cl.share_updates++;
	}
	agent_model_free(&next);
}

static void take_result(struct agent *a, uint64_t now)
{
	struct agent_cluster *cl = &a->cl;
	struct agent_cluster_shared *sh = cl->sh;
	uint32_t *q = calloc((size_t)cl->n_rules + 1, sizeof(*q));
	bool ok;
	int i;

	pthread_mutex_lock(&sh->mu);
	if (!sh->have_res) {
		pthread_mutex_unlock(&sh->mu);
		free(q);
		return;
	}
	sh->have_res = false;
	ok = sh->res_ok && sh->n == cl->n_rules;
	cl->last_latency_ns = sh->res_latency_ns;
	cl->redis_cmds += sh->res_cmds;
	if (!ok) {
		/* Redis' error replies go into JSON: valid UTF-8 only */
		snprintf(cl->last_error, sizeof(cl->last_error), "%s", sh->res_err);
		rl_utf8_sanitize(cl->last_error);
	}
	for (i = 0; ok && i < cl->n_rules; i++) {
		cl->rules[i].cl_demand_ps = sh->res[i].demand_ps;
		cl->rules[i].cl_admitted_ps = sh->res[i].admitted_ps;
		cl->rules[i].cl_share_sum = sh->res[i].share_sum;
		cl->rules[i].share_sum_avg = cl->rules[i].share_sum_avg ?
			0.9 * cl->rules[i].share_sum_avg + 0.1 * sh->res[i].share_sum :
			(double)sh->res[i].share_sum;
		cl->rules[i].nodes = sh->res[i].nodes;
	}
	pthread_mutex_unlock(&sh->mu);
	cl->busy = false;

	log_debug("cluster: t=%llu ms sync %s", (unsigned long long)(now / 1000000), ok ? "ok" : "failed");
	if (!ok) {
		cl->syncs_failed++;
		cl->down_syncs++;
		if (cl->up || cl->syncs_failed == 1)
			log_warn("cluster: %s; on-redis-down %s", cl->last_error,
				 cl->cfg.on_down == RL_CLUSTER_DOWN_LOCAL ?
				 "local: each host enforces the whole limit" :
				 "last-share: the last shares stay");
		cl->up = false;
		cl->warm = 0;
		if (cl->cfg.on_down == RL_CLUSTER_DOWN_LOCAL)
			set_shares(a, NULL, RL_SHARE_ONE);
		free(q);
		return;
	}
	if (!cl->up && cl->ever_up)
		log_info("cluster: Redis %s is back (sync %" PRIu64 " us)", cl->cfg.redis,
			 cl->last_latency_ns / 1000);
	cl->up = cl->ever_up = true;
	cl->syncs_ok++;
	cl->last_ok_ns = now;
	cl->last_error[0] = 0;
	/* The first good sync after Redis came (back) only reports: the other
	 * nodes' reports are not in yet, and a node alone would take it all. */
	if (cl->warm == 0)
		cl->up_real_ms = real_ms();
	if (cl->warm++ == 0) {
		if (cl->cfg.on_down == RL_CLUSTER_DOWN_LOCAL)
			cl->down_syncs++;
		free(q);
		return;
	}
	cl->last_nodes = 0;
	for (i = 0; q && i < cl->n_rules; i++) {
		const struct agent_crule *c = &cl->rules[i];
		const struct agent_rule *r = agent_model_find(&a->model, c->name);

		if (!r || !r->spec.cluster || r->id != c->id)
			continue;
		q[i] = rl_cluster_share(rule_rate_ps(&r->spec),
					(double)c->demand_ps, (double)c->cl_demand_ps, c->nodes);
		if (c->nodes > cl->last_nodes)
			cl->last_nodes = c->nodes;
	}
	if (q)
		set_shares(a, q, 0);
	if (cl->warm == 2)
		cl->settled_real_ms = real_ms();
	free(q);
}

void agent_cluster_step(struct agent *a, uint64_t now)
{
	struct agent_cluster *cl = &a->cl;
	struct agent_cluster_shared *sh = cl->sh;
	uint64_t v;
	int i;

	if (!sh)
		return;
	if (read(cl->efd, &v, sizeof(v)) == sizeof(v) || cl->busy)
		take_result(a, now);
	if (now < cl->next_ns)
		return;
	cl->next_ns += cl->cfg.sync_ns;
	if (cl->next_ns <= now)
		cl->next_ns = now + cl->cfg.sync_ns;
	if (cl->busy) {
		/* Redis is slow: this period's sync is skipped, the loop goes on */
		cl->syncs_skipped++;
		return;
	}
	measure(a, now);
	pthread_mutex_lock(&sh->mu);
	sh->n = cl->n_rules;
	for (i = 0; i < cl->n_rules; i++) {
		memcpy(sh->req[i].name, cl->rules[i].name, RL_NAME_LEN);
		sh->req[i].demand_ps = cl->rules[i].demand_ps;
		sh->req[i].admitted_ps = cl->rules[i].admitted_ps;
		{
			const struct agent_rule *r = agent_model_find(&a->model, cl->rules[i].name);

			sh->req[i].share_q = r && r->spec.share_q ? r->spec.share_q : RL_SHARE_ONE;
		}
	}
	sh->have_req = true;
	pthread_cond_signal(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	cl->busy = true;
}

json_t *agent_cluster_json(const struct agent *a)
{
	const struct agent_cluster *cl = &a->cl;
	json_t *o, *rules;
	int i;

	if (!cl->cfg.enabled)
		return json_null();
	rules = json_array();
	for (i = 0; i < cl->n_rules; i++) {
		const struct agent_crule *c = &cl->rules[i];
		const struct agent_rule *r = agent_model_find((struct agent_model *)&a->model, c->name);
		double rate = r ? rule_rate_ps(&r->spec) : 0;
		uint32_t q = r && r->spec.share_q ? r->spec.share_q : RL_SHARE_ONE;

		json_array_append_new(rules, json_pack(
			"{s:s, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:i, s:s}",
			"name", c->name, "share", (double)q / RL_SHARE_ONE,
			"cluster_share_sum", c->share_sum_avg / RL_SHARE_ONE,
			"rate_per_s", rate, "local_rate_per_s", rate * q / RL_SHARE_ONE,
			"demand_per_s", (json_int_t)c->demand_ps,
			"admitted_per_s", (json_int_t)c->admitted_ps,
			"cluster_demand_per_s", (json_int_t)c->cl_demand_ps,
			"cluster_admitted_per_s", (json_int_t)c->cl_admitted_ps,
			"nodes", (int)c->nodes,
			"unit", r && r->spec.bytes ? "bytes" : "packets"));
	}
	o = json_pack("{s:s, s:s, s:s, s:f, s:s, s:b, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o}",
		      "name", cl->cfg.name, "node", cl->cfg.node, "redis", cl->cfg.redis,
		      "sync_s", (double)cl->cfg.sync_ns / 1e9,
		      "on_redis_down", cl->cfg.on_down == RL_CLUSTER_DOWN_LOCAL ? "local" : "last-share",
		      "connected", cl->up,
		      "last_sync_latency_s", (double)cl->last_latency_ns / 1e9,
		      "syncs_ok", (json_int_t)cl->syncs_ok,
		      "syncs_failed", (json_int_t)cl->syncs_failed,
		      "syncs_skipped", (json_int_t)cl->syncs_skipped,
		      "down_syncs", (json_int_t)cl->down_syncs,
		      "share_updates", (json_int_t)cl->share_updates,
		      "redis_commands", (json_int_t)cl->redis_cmds,
		      "last_error", cl->last_error, "rules", rules);
	/* when Redis was last reached after an outage (or first), and when the
	 * shares were first set from every node's report after that */
	json_object_set_new(o, "up_since_ms", json_integer((json_int_t)cl->up_real_ms));
	json_object_set_new(o, "settled_at_ms", json_integer((json_int_t)cl->settled_real_ms));
	return o;
}
