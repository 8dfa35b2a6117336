// SPDX-License-Identifier: GPL-2.0
/*
 * agent_metrics.c - rlagent's Prometheus endpoint: GET /metrics in the
 * text exposition format (version 0.0.4), served by libmicrohttpd.
 *
 * MHD runs in "external" epoll mode on the agent's one thread: its epoll
 * fd sits in the agent's poll loop (metrics_pollfd, metrics_timeout_ms)
 * and metrics_run() lets it accept, read and write without blocking.  A
 * scrape is therefore answered between two control commands, never during
 * one, so the model and the counters it reads are never half-changed and
 * nothing needs a lock.  What bounds a hostile or stuck client:
 *
 *   - sockets are non-blocking; a client silent for METRICS_TIMEOUT_S
 *     (2 s: a scrape's request arrives at once) is closed, so one byte now
 *     and then cannot hold a slot for long;
 *   - at most METRICS_PER_IP connections from one address: one source's
 *     stalled or churning connections never take the slots a Prometheus
 *     elsewhere (or on another loopback address) scrapes with;
 *   - at most METRICS_MAX_CONN connections in all (the next are closed at
 *     once), plenty for many scrapers;
 *   - METRICS_CONN_MEM bytes of request memory per connection;
 *   - libmicrohttpd's own messages (one per refused connection, say) are
 *     logged at most METRICS_LOG_BURST per METRICS_LOG_WINDOW_S, then
 *     counted and summed up.
 *
 * Cardinality is bounded by design: the only labels are the rule name,
 * the verdict, the address family and the list kind.  Sources are never
 * labels (per-source views are `rlctl top`'s job).  Counters are read
 * straight from the per-CPU maps at scrape time and summed over CPUs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <microhttpd.h>
#include "agent.h"
#include "rl_algo.h"
#include "rl_version.h"

#define METRICS_MAX_CONN   256
#define METRICS_PER_IP     8
#define METRICS_TIMEOUT_S  2
#define METRICS_CONN_MEM   (64 * 1024)
#define METRICS_BACKLOG    128
#define METRICS_LOG_BURST  5
#define METRICS_LOG_WINDOW_S 60
#define METRICS_CTYPE      "text/plain; version=0.0.4; charset=utf-8"

#define DASH_MAX_RULES     50          /* rules in one dashboard answer */
#define DASH_TOP_N         10          /* top sources in it             */
#define DASH_TOP_EVERY_NS  1000000000ull /* one top scan a second, at most */
#define CHARTJS_MAX        (4 << 20)   /* bytes of Chart.js served, at most */
#define DASH_CTYPE_JSON    "application/json"
/* dashboard.json answers within 9 times a render's own duration after it
 * (at most a second) are that render: however many pages, or a client in
 * a loop, poll, rendering takes at most a tenth of the agent's loop */
#define DASH_CACHE_FACTOR  9
#define DASH_CACHE_MAX_NS  1000000000ull

static struct MHD_Daemon *mhd;
static int mhd_epoll_fd = -1;

/*
 * The dashboard's top sources: a `top` scan (agent_cmd.c) run as a job a
 * slice a poll turn, started by a dashboard poll when the last result is
 * a second old, so the tables are scanned at most once a second and only
 * while someone watches; every answer carries the last complete result.
 */
static struct {
	struct agent_job *job;
	json_t *last;              /* agent_job_step's answer, or NULL     */
	uint64_t done_ns;          /* when `last` completed                */
	uint64_t polled_ns;        /* the last dashboard poll              */
} dtop;

/* The last dashboard.json rendered, served again until ttl_ns after it. */
static struct {
	char *body;
	size_t len;
	uint64_t at_ns, ttl_ns;
} dcache;

/* The page and its script, built in (user/dashboard.html, .js). */
__asm__(".section .rodata\n"
	".global rl_dash_html\n.type rl_dash_html, @object\n"
	"rl_dash_html:\n.incbin \"user/dashboard.html\"\n"
	".global rl_dash_html_end\nrl_dash_html_end:\n.byte 0\n"
	".global rl_dash_js\n.type rl_dash_js, @object\n"
	"rl_dash_js:\n.incbin \"user/dashboard.js\"\n"
	".global rl_dash_js_end\nrl_dash_js_end:\n.byte 0\n"
	".previous\n");
extern const char rl_dash_html[], rl_dash_html_end[], rl_dash_js[], rl_dash_js_end[];

/* ---- text builder ---------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) bput(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap * 2 + (size_t)n + 1;
		char *np = realloc(b->p, ncap);

		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	bput(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped as the format wants.  Rule
 * names are [A-Za-z0-9._-] already; this keeps the output valid anyway. */
static const char *esc(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = 0;
	return out;
}

/* ---- the metrics ------------------------------------------------------ */

static const char *const verdict_label[__RL_V_MAX] = {
	[RL_V_PASS] = "pass", [RL_V_DROP] = "drop", [RL_V_MONITOR] = "monitor",
	[RL_V_BLOCK] = "block", [RL_V_MARK] = "mark",
};

/*
 * The global counters, one metric each: they overlap (every packet is in
 * RL_G_PACKETS and one terminal counter; map_full is split again into
 * full_*), so one metric with a label would have a meaningless sum.
 * `bytes` says whether a _bytes_total twin makes sense; `help` is the
 * packets metric's HELP.
 */
static const struct {
	enum rl_gstat g;
	const char *name;
	bool bytes;
	const char *help;
} gmetrics[] = {
	{ RL_G_PACKETS, "rl_seen", true, "Packets the XDP program saw (all of them)." },
	{ RL_G_NON_IP, "rl_non_ip", true, "Packets that were not IPv4 or IPv6, passed untouched." },
	{ RL_G_PARSE_ERR, "rl_malformed", true,
	  "Truncated or malformed IP packets, dropped or passed by the malformed policy." },
	{ RL_G_UNMATCHED, "rl_unmatched", true,
	  "IP packets that no rule, allowlist or blocklist entry applied to, passed." },
	{ RL_G_ALLOW, "rl_allowlisted", true, "Packets from allowlisted sources, passed." },
	{ RL_G_BLOCKLIST, "rl_blocklisted", true, "Packets from blocklisted sources, dropped." },
	{ RL_G_FRAGMENT, "rl_fragment", true, "Non-first IP fragments, matched without ports." },
	{ RL_G_TC_DEFER, "rl_tc_deferred", true,
	  "Packets XDP passed on to the TC hook for a rule with action mark." },
	{ RL_G_MAP_FULL, "rl_state_full", false,
	  "Packets whose new per-source key found no empty or idle slot in its two state buckets." },
	{ RL_G_FULL_PASS, "rl_state_full_passed", true,
	  "Packets passed because the state map was full (on-full fail-open)." },
	{ RL_G_FULL_DROP, "rl_state_full_dropped", true,
	  "Packets dropped because the state map was full (on-full fail-closed)." },
	{ RL_G_FULL_AGG, "rl_state_full_aggregated", false,
	  "Packets charged to the rule's shared bucket because the state map was full (on-full aggregate)." },
	{ RL_G_LOCK_BUSY, "rl_lock_busy_dropped", true,
	  "Packets dropped as contended: compare-and-swap retries ran out, or another CPU was "
	  "inserting the key (fail closed; monitor and mark rules pass them)." },
	{ RL_G_EVICT, "rl_evict", false,
	  "New per-source keys that replaced a live key because both buckets were full (on-full evict)." },
	{ RL_G_TC_UNPARSED, "rl_tc_unparsed", true,
	  "Packets XDP deferred to TC that TC could not parse (header past its linear pull), passed unlabelled." },
	{ RL_G_EV_LOST, "rl_events_lost", false,
	  "Drop events the datapath did not report: its per-CPU budget for the second was spent or the ring buffer was full." },
};

static void rule_counters(struct buf *b, struct agent *a, bool bytes)
{
	const char *name = bytes ? "rl_bytes_total" : "rl_packets_total";
	char e[2 * RL_NAME_LEN + 1];
	struct rl_ctr c;
	int i, v;

	family(b, name, "counter", bytes ?
	       "Bytes (L2 frame length) that met a rule's limit, by rule and verdict." :
	       "Packets that met a rule's limit, by rule and verdict (monitor: over the limit but passed).");
	for (i = 0; i < a->model.n_rules; i++) {
		const struct agent_rule *r = &a->model.rules[i];

		if (r->id == AGENT_NO_SLOT)
			continue;
		esc(r->spec.name, e, sizeof(e));
		for (v = 0; v < __RL_V_MAX; v++) {
			/* a failed read is left out: 0 would look like a reset */
			if (agent_pcpu_sum(a, a->maps.stats, r->id * __RL_V_MAX + (uint32_t)v, &c))
				continue;
			bput(b, "%s{rule=\"%s\",verdict=\"%s\"} %" PRIu64 "\n", name, e,
			     verdict_label[v], (uint64_t)(bytes ? c.bytes : c.packets));
		}
	}
}

static void global_counters(struct buf *b, struct agent *a)
{
	char name[96], help[256];
	struct rl_ctr c;
	size_t i;

	for (i = 0; i < sizeof(gmetrics) / sizeof(gmetrics[0]); i++) {
		if (agent_pcpu_sum(a, a->maps.gstats, gmetrics[i].g, &c))
			continue;
		snprintf(name, sizeof(name), "%s_packets_total", gmetrics[i].name);
		family(b, name, "counter", gmetrics[i].help);
		bput(b, "%s %" PRIu64 "\n", name, (uint64_t)c.packets);
		if (!gmetrics[i].bytes)
			continue;
		snprintf(help, sizeof(help), "Bytes (L2 frame length) of the packets in %s.", name);
		snprintf(name, sizeof(name), "%s_bytes_total", gmetrics[i].name);
		family(b, name, "counter", help);
		bput(b, "%s %" PRIu64 "\n", name, (uint64_t)c.bytes);
	}
	if (!agent_pcpu_sum(a, a->maps.gstats, RL_G_STATE_NEW, &c)) {
		family(b, "rl_state_entries_created_total", "counter",
		       "Per-source state entries created by the datapath.");
		bput(b, "rl_state_entries_created_total %" PRIu64 "\n", (uint64_t)c.packets);
	}
}

static void state_maps(struct buf *b, struct agent *a)
{
	const struct { const struct agent_sweep *sw; const char *fam; } m[] = {
		{ &a->sweep4, "ipv4" },
		{ &a->sweep6, "ipv6" },
	};
	uint64_t now = agent_now_ns();
	size_t i;

	family(b, "rl_state_capacity", "gauge",
	       "Sources the per-source state table is sized for (defaults.state-entries).");
	for (i = 0; i < 2; i++)
		bput(b, "rl_state_capacity{family=\"%s\"} %" PRIu32 "\n", m[i].fam, a->st_capacity);
	family(b, "rl_state_entries", "gauge",
	       "Live per-source keys in the state table, as of the last completed sweep "
	       "(rl_state_sweep_age_seconds old).");
	for (i = 0; i < 2; i++)
		if (m[i].sw->live >= 0)
			bput(b, "rl_state_entries{family=\"%s\"} %" PRId64 "\n", m[i].fam,
			     m[i].sw->live);
	family(b, "rl_state_sweep_age_seconds", "gauge",
	       "Seconds since the sweep that counted rl_state_entries completed.");
	for (i = 0; i < 2; i++)
		if (m[i].sw->live >= 0)
			bput(b, "rl_state_sweep_age_seconds{family=\"%s\"} %.3f\n", m[i].fam,
			     now > m[i].sw->at_ns ? (double)(now - m[i].sw->at_ns) / 1e9 : 0.0);
	family(b, "rl_gc_passes_total", "counter",
	       "Completed GC passes over the state tables and sliding logs.");
	bput(b, "rl_gc_passes_total %" PRIu64 "\n", a->gc_passes);
	family(b, "rl_gc_deleted_entries_total", "counter",
	       "State slots and sliding logs freed by GC (rule gone, or idle).");
	bput(b, "rl_gc_deleted_entries_total %" PRIu64 "\n", a->gc_deleted);
}

static void agent_gauges(struct buf *b, struct agent *a)
{
	char e[128];

	family(b, "rl_build_info", "gauge", "Always 1; the label says which rlagent build runs.");
	bput(b, "rl_build_info{version=\"%s\"} 1\n", esc(RL_VERSION, e, sizeof(e)));
	family(b, "rl_agent_start_time_seconds", "gauge",
	       "When rlagent started, in seconds since the Unix epoch.");
	bput(b, "rl_agent_start_time_seconds %lld\n", (long long)a->started);
	family(b, "rl_agent_degraded", "gauge",
	       "1 while the agent cannot vouch that the maps hold its rule set (a rollback failed; `rlctl status` says why).");
	bput(b, "rl_agent_degraded %d\n", a->degraded ? 1 : 0);
	family(b, "rl_rules", "gauge", "Rules in the running rule set.");
	bput(b, "rl_rules %d\n", a->model.n_rules);
	family(b, "rl_list_entries", "gauge", "Allowlist and blocklist entries, by list.");
	bput(b, "rl_list_entries{list=\"allow\"} %d\n", a->model.n_allow);
	bput(b, "rl_list_entries{list=\"block\"} %d\n", a->model.n_block);
	family(b, "rl_match_entries", "gauge", "Prefix entries in the match tries (compiled rule set).");
	bput(b, "rl_match_entries %d\n", a->applied.n);
	family(b, "rl_interfaces", "gauge", "Interfaces the datapath is attached to.");
	bput(b, "rl_interfaces %d\n", a->n_ifaces);
	family(b, "rl_xdp_attach_info", "gauge",
	       "Always 1, per interface: how rl_xdp is on its XDP hook (attach: dispatcher = in "
	       "libxdp's multi-program dispatcher at run priority `priority`, link = rl's own "
	       "bpf_link) and in which XDP mode.");
	for (int i = 0; i < a->n_ifaces; i++) {
		char n[64];

		if (a->ifaces[i].dispatcher)
			bput(b, "rl_xdp_attach_info{interface=\"%s\",attach=\"dispatcher\",priority=\"%u\",mode=\"%s\"} 1\n",
			     esc(a->ifaces[i].name, n, sizeof(n)), a->ifaces[i].prio, a->ifaces[i].mode);
		else
			bput(b, "rl_xdp_attach_info{interface=\"%s\",attach=\"link\",priority=\"\",mode=\"%s\"} 1\n",
			     esc(a->ifaces[i].name, n, sizeof(n)), a->ifaces[i].mode);
	}
	family(b, "rl_config_reload_success", "gauge",
	       "1 if the last config reload succeeded (or none was tried since start), 0 if it failed.");
	bput(b, "rl_config_reload_success %d\n", a->have_last_reload ? (int)a->last_reload_ok : 1);
	family(b, "rl_config_last_reload_timestamp_seconds", "gauge",
	       "When the config was last (re)loaded or a reload was tried; the start time until then.");
	bput(b, "rl_config_last_reload_timestamp_seconds %lld\n",
	     (long long)(a->have_last_reload ? a->last_reload_time : a->started));
	family(b, "rl_config_reloads_total", "counter", "Config reloads tried (SIGHUP, rlctl config reload).");
	bput(b, "rl_config_reloads_total %d\n", a->reloads);
}

static void cluster_metrics(struct buf *b, struct agent *a)
{
	const struct agent_cluster *cl = &a->cl;
	char e[128];
	int i;

	if (!cl->cfg.enabled)
		return;
	family(b, "rl_cluster_redis_up", "gauge",
	       "1 if the last cluster sync reached Redis, 0 if not (on-redis-down applies).");
	bput(b, "rl_cluster_redis_up %d\n", cl->up ? 1 : 0);
	family(b, "rl_cluster_sync_latency_seconds", "gauge",
	       "How long the last cluster sync with Redis took (one pipelined round trip).");
	bput(b, "rl_cluster_sync_latency_seconds %.6f\n", (double)cl->last_latency_ns / 1e9);
	family(b, "rl_cluster_syncs_total", "counter",
	       "Cluster syncs by result: ok, failed (Redis down or refusing), skipped (the previous one still running).");
	bput(b, "rl_cluster_syncs_total{result=\"ok\"} %" PRIu64 "\n", cl->syncs_ok);
	bput(b, "rl_cluster_syncs_total{result=\"failed\"} %" PRIu64 "\n", cl->syncs_failed);
	bput(b, "rl_cluster_syncs_total{result=\"skipped\"} %" PRIu64 "\n", cl->syncs_skipped);
	family(b, "rl_cluster_redis_down_syncs_total", "counter",
	       "Sync periods spent on the on-redis-down policy (the policy is the label).");
	bput(b, "rl_cluster_redis_down_syncs_total{policy=\"%s\"} %" PRIu64 "\n",
	     cl->cfg.on_down == RL_CLUSTER_DOWN_LOCAL ? "local" : "last-share", cl->down_syncs);
	family(b, "rl_cluster_redis_commands_total", "counter", "Commands this agent sent to Redis.");
	bput(b, "rl_cluster_redis_commands_total %" PRIu64 "\n", cl->redis_cmds);
	family(b, "rl_cluster_share_updates_total", "counter",
	       "Times this agent changed its local shares of cluster rules.");
	bput(b, "rl_cluster_share_updates_total %" PRIu64 "\n", cl->share_updates);
	family(b, "rl_cluster_rule_share_ratio", "gauge",
	       "This host's share of a scope cluster rule's rate and burst (0..1).");
	for (i = 0; i < a->model.n_rules; i++) {
		const struct rl_rule_spec *s = &a->model.rules[i].spec;

		if (s->cluster)
			bput(b, "rl_cluster_rule_share_ratio{rule=\"%s\"} %.6f\n", esc(s->name, e, sizeof(e)),
			     (double)(s->share_q ? s->share_q : RL_SHARE_ONE) / RL_SHARE_ONE);
	}
	family(b, "rl_cluster_rule_admitted_rate", "gauge",
	       "Units (packets, or bytes for a byte rate) per second a scope cluster rule admitted on all nodes, as of the last sync.");
	for (i = 0; i < cl->n_rules; i++)
		bput(b, "rl_cluster_rule_admitted_rate{rule=\"%s\"} %" PRIu64 "\n",
		     esc(cl->rules[i].name, e, sizeof(e)), cl->rules[i].cl_admitted_ps);
	family(b, "rl_cluster_rule_demand_rate", "gauge",
	       "Units per second offered to a scope cluster rule on all nodes, as of the last sync.");
	for (i = 0; i < cl->n_rules; i++)
		bput(b, "rl_cluster_rule_demand_rate{rule=\"%s\"} %" PRIu64 "\n",
		     esc(cl->rules[i].name, e, sizeof(e)), cl->rules[i].cl_demand_ps);
	family(b, "rl_cluster_rule_nodes", "gauge",
	       "Nodes that reported a scope cluster rule within the last three sync periods.");
	for (i = 0; i < cl->n_rules; i++)
		bput(b, "rl_cluster_rule_nodes{rule=\"%s\"} %u\n",
		     esc(cl->rules[i].name, e, sizeof(e)), cl->rules[i].nodes);
}

/* ---- the dashboard's JSON --------------------------------------------- */

/*
 * Every rule slot's counters below `nkeys` (rule id x verdict), summed
 * over CPUs, with batched reads (BPF_MAP_LOOKUP_BATCH: one system call for
 * thousands of keys; 10,000 rules cost 60 ms so, 140 ms key by key); NULL if the
 * kernel cannot batch, and the caller reads key by key.
 */
static struct rl_ctr *stats_batch(struct agent *a, uint32_t nkeys)
{
	int ncpu = libbpf_num_possible_cpus();
	uint32_t chunk, done = 0, *keys = NULL, i;
	struct rl_ctr *vals = NULL, *sums;
	__u32 out_batch = 0;
	int c;

	if (ncpu <= 0 || !nkeys)
		return NULL;
	chunk = (uint32_t)(1048576 / ((size_t)ncpu * sizeof(struct rl_ctr)));
	if (chunk < 64)
		chunk = 64;
	sums = calloc(nkeys, sizeof(*sums));
	keys = calloc(chunk, sizeof(*keys));
	vals = calloc((size_t)chunk * (size_t)ncpu, sizeof(*vals));
	if (!sums || !keys || !vals)
		goto fail;
	while (done < nkeys) {
		__u32 count = nkeys - done < chunk ? nkeys - done : chunk;
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		/* in_batch NULL starts at the first key, then the last out_batch */
		if (bpf_map_lookup_batch(a->maps.stats, done ? &out_batch : NULL, &out_batch,
					 keys, vals, &count, &opts) && errno != ENOENT)
			goto fail;
		if (!count)
			break;
		for (i = 0; i < count; i++) {
			if (keys[i] >= nkeys)
				continue;
			for (c = 0; c < ncpu; c++) {
				sums[keys[i]].packets += vals[(size_t)i * ncpu + c].packets;
				sums[keys[i]].bytes += vals[(size_t)i * ncpu + c].bytes;
			}
		}
		done += count;
		if (keys[count - 1] + 1 >= nkeys)
			break;
	}
	free(keys);
	free(vals);
	return sums;
fail:
	free(sums);
	free(keys);
	free(vals);
	return NULL;
}

struct dash_rule {
	const struct agent_rule *r;
	uint64_t pkts[__RL_V_MAX];
	uint64_t total;
};

static int dash_rule_cmp(const void *x, const void *y)
{
	const struct dash_rule *a = x, *b = y;

	if (a->total != b->total)
		return a->total > b->total ? -1 : 1;
	return strcmp(a->r->spec.name, b->r->spec.name);
}

/*
 * One answer a poll, bounded whatever the rule set: the DASH_MAX_RULES
 * rules with the most packets (rules_total says how many there are), the
 * global counters, the last top scan's DASH_TOP_N rows.  Counters are
 * cumulative, as `rlctl stats` gives them; the page turns them into rates.
 */
static char *render_dash(struct agent *a, size_t *len)
{
	json_t *o, *rules, *glob, *top;
	struct dash_rule *dr;
	struct timeval tv;
	struct rl_ctr c;
	int i, v, n = 0;
	char *out;

	uint32_t max_id = 0;
	struct rl_ctr *all;

	dr = calloc((size_t)a->model.n_rules + 1, sizeof(*dr));
	if (!dr)
		return NULL;
	for (i = 0; i < a->model.n_rules; i++)
		if (a->model.rules[i].id != AGENT_NO_SLOT && a->model.rules[i].id + 1 > max_id)
			max_id = a->model.rules[i].id + 1;
	all = stats_batch(a, max_id * __RL_V_MAX);
	for (i = 0; i < a->model.n_rules; i++) {
		const struct agent_rule *r = &a->model.rules[i];

		if (r->id == AGENT_NO_SLOT)
			continue;
		dr[n].r = r;
		for (v = 0; v < __RL_V_MAX; v++) {
			uint32_t key = r->id * __RL_V_MAX + (uint32_t)v;

			if (all)
				c = all[key];
			else if (agent_pcpu_sum(a, a->maps.stats, key, &c))
				memset(&c, 0, sizeof(c));
			dr[n].pkts[v] = c.packets;
			dr[n].total += c.packets;
		}
		n++;
	}
	free(all);
	qsort(dr, (size_t)n, sizeof(*dr), dash_rule_cmp);
	rules = json_array();
	for (i = 0; i < n && i < DASH_MAX_RULES; i++) {
		json_t *ro = json_pack("{s:s, s:s}", "name", dr[i].r->spec.name,
				       "action", rl_action_name(dr[i].r->spec.action));

		for (v = 0; v < __RL_V_MAX; v++)
			json_object_set_new(ro, verdict_label[v], json_integer((json_int_t)dr[i].pkts[v]));
		json_array_append_new(rules, ro);
	}
	free(dr);
	glob = json_object();
	for (i = 0; i < __RL_G_MAX; i++) {
		const char *name = agent_gstat_name(i);

		if (!name || agent_pcpu_sum(a, a->maps.gstats, (uint32_t)i, &c))
			continue;
		json_object_set_new(glob, name, json_integer((json_int_t)c.packets));
	}
	gettimeofday(&tv, NULL);
	o = json_pack("{s:I, s:I, s:i, s:o, s:b, s:o, s:i, s:i}",
		      "time_ms", (json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000,
		      "started", (json_int_t)a->started, "rules_total", n, "rules", rules,
		      "rules_truncated", n > DASH_MAX_RULES, "global", glob,
		      "allow_entries", a->model.n_allow, "block_entries", a->model.n_block);
	if (dtop.last) {
		uint64_t now = agent_now_ns();

		top = json_pack("{s:O, s:O, s:I}", "rows", json_object_get(dtop.last, "top"),
				"tracked", json_object_get(dtop.last, "tracked"),
				"age_ms", (json_int_t)((now - dtop.done_ns) / 1000000));
	} else {
		top = json_null();
	}
	json_object_set_new(o, "top", top);
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (out)
		*len = strlen(out);
	return out;
}

/* One dashboard.json answer, a copy of the last render if it is recent. */
static char *dash_answer(struct agent *a, size_t *len)
{
	uint64_t now = agent_now_ns();
	char *out;

	if (!dcache.body || now - dcache.at_ns >= dcache.ttl_ns) {
		free(dcache.body);
		dcache.body = render_dash(a, &dcache.len);
		dcache.at_ns = now;
		dcache.ttl_ns = (agent_now_ns() - now) * DASH_CACHE_FACTOR;
		if (dcache.ttl_ns > DASH_CACHE_MAX_NS)
			dcache.ttl_ns = DASH_CACHE_MAX_NS;
		if (!dcache.body)
			return NULL;
	}
	out = malloc(dcache.len + 1);
	if (!out)
		return NULL;
	memcpy(out, dcache.body, dcache.len + 1);
	*len = dcache.len;
	return out;
}

/* A dashboard poll: start a top scan if the last one is a second old. */
static void dash_polled(void)
{
	uint64_t now = agent_now_ns();

	dtop.polled_ns = now;
	if (dtop.job || (dtop.last && now - dtop.done_ns < DASH_TOP_EVERY_NS))
		return;
	dtop.job = agent_top_job(DASH_TOP_N);
}

void metrics_step(struct agent *a)
{
	json_t *resp;

	if (!dtop.job)
		return;
	resp = agent_job_step(a, dtop.job);
	if (!resp)
		return;
	agent_job_free(dtop.job);
	dtop.job = NULL;
	json_decref(dtop.last);
	dtop.last = resp;
	dtop.done_ns = agent_now_ns();
}

static char *render(struct agent *a, size_t *len)
{
	struct buf b = { .cap = 16384 };

	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	agent_gauges(&b, a);
	rule_counters(&b, a, false);
	rule_counters(&b, a, true);
	global_counters(&b, a);
	state_maps(&b, a);
	cluster_metrics(&b, a);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ---- HTTP --------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *ctype, char *body, size_t len, enum MHD_ResponseMemoryMode mm)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mm);
	enum MHD_Result ret;

	if (!resp) {
		if (mm == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_static(struct MHD_Connection *conn, const char *ctype,
				   const char *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body,
								   MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	/* the page loads only what this listener serves */
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'self'; style-src 'self' 'unsafe-inline'; "
				"img-src 'self' data:; frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Chart.js from the installed file (libjs-chart.js), opened per request
 * and sent by the kernel (sendfile): a regular file, at most CHARTJS_MAX. */
static enum MHD_Result reply_chartjs(struct agent *a, struct MHD_Connection *conn)
{
	static char missing[] = "Chart.js is not installed here (Debian: apt-get install libjs-chart.js, "
				"or rlagent --chartjs FILE); the dashboard shows its numbers without charts\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;
	struct stat st;
	int fd;

	fd = a->chartjs_path ? open(a->chartjs_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > CHARTJS_MAX)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", missing, sizeof(missing) - 1,
			     MHD_RESPMEM_PERSISTENT);
	resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);	/* owns fd */
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/javascript; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=3600");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	static char not_found[] = "not found: the paths are / (dashboard), /metrics, "
				  "/dashboard.json, /dashboard.js, /chart.js\n";
	static char not_allowed[] = "method not allowed: use GET\n";
	static char no_mem[] = "out of memory\n";
	struct agent *a = cls;
	size_t len;
	char *body;
	bool dash = false;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(url, "/metrics") && strcmp(url, "/") && strcmp(url, "/dashboard.json") &&
	    strcmp(url, "/dashboard.js") && strcmp(url, "/chart.js"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
			     sizeof(not_found) - 1, MHD_RESPMEM_PERSISTENT);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
			     sizeof(not_allowed) - 1, MHD_RESPMEM_PERSISTENT);
	if (!strcmp(url, "/"))
		return reply_static(conn, "text/html; charset=utf-8", rl_dash_html,
				    (size_t)(rl_dash_html_end - rl_dash_html));
	if (!strcmp(url, "/dashboard.js"))
		return reply_static(conn, "text/javascript; charset=utf-8", rl_dash_js,
				    (size_t)(rl_dash_js_end - rl_dash_js));
	if (!strcmp(url, "/chart.js"))
		return reply_chartjs(a, conn);
	if (!strcmp(url, "/dashboard.json")) {
		dash = true;
		dash_polled();
		body = dash_answer(a, &len);
	} else {
		body = render(a, &len);
	}
	if (!body)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", no_mem,
			     sizeof(no_mem) - 1, MHD_RESPMEM_PERSISTENT);
	return reply(conn, MHD_HTTP_OK, dash ? DASH_CTYPE_JSON : METRICS_CTYPE, body, len,
		     MHD_RESPMEM_MUST_FREE);
}

/* libmicrohttpd logs every connection it refuses: a flood of them must not
 * become a flood of log lines.  METRICS_LOG_BURST a window, then a count. */
static struct {
	uint64_t window_ns;
	unsigned logged, dropped;
} mlog;

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	uint64_t now = agent_now_ns();
	char msg[512];
	size_t n;

	(void)cls;
	if (now - mlog.window_ns >= METRICS_LOG_WINDOW_S * 1000000000ull) {
		if (mlog.dropped)
			log_warn("metrics: %u more libmicrohttpd messages in the last %d s not logged",
				 mlog.dropped, METRICS_LOG_WINDOW_S);
		mlog.window_ns = now;
		mlog.logged = mlog.dropped = 0;
	}
	if (mlog.logged >= METRICS_LOG_BURST) {
		mlog.dropped++;
		return;
	}
	mlog.logged++;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	log_warn("metrics: %s%s", msg, mlog.logged == METRICS_LOG_BURST ?
		 " (more such messages are counted, not logged, for a while)" : "");
}

/* Loopback only (127/8, ::1, ::ffff:127/104): anything else is reachable
 * from elsewhere. */
static bool loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* ---- listen address and lifecycle -------------------------------------- */

int metrics_start(struct agent *a, const char *listen_addr)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	const union MHD_DaemonInfo *info;
	int fd, one = 1, err;

	if (!listen_addr || !strcmp(listen_addr, "off"))
		return 0;
	if (rl_parse_listen(listen_addr, &ss, &sslen)) {
		log_err("--metrics %s: want ADDR:PORT (127.0.0.1:9471, [::1]:9471) or off", listen_addr);
		return -EINVAL;
	}
	/* Our own socket: a bind error can then say exactly what failed. */
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		log_err("metrics: socket: %s", strerror(errno));
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) || listen(fd, METRICS_BACKLOG)) {
		err = -errno;
		log_err("metrics: listening on %s: %s; pick another with --metrics ADDR:PORT "
			"(or `metrics: ADDR:PORT` in the config) or turn it off with --metrics off",
			listen_addr, strerror(errno));
		close(fd);
		return err;
	}
	mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, a,
			       MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
			       MHD_OPTION_LISTEN_SOCKET, fd,
			       MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_MAX_CONN,
			       MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)METRICS_PER_IP,
			       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
			       MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_CONN_MEM,
			       MHD_OPTION_END);
	if (!mhd) {
		log_err("metrics: libmicrohttpd could not start on %s", listen_addr);
		close(fd);
		return -EIO;
	}
	info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		log_err("metrics: libmicrohttpd has no epoll fd (built without epoll?)");
		metrics_stop();
		return -EOPNOTSUPP;
	}
	mhd_epoll_fd = info->epoll_fd;
	log_info("metrics on http://%s/metrics, dashboard on http://%s/", listen_addr, listen_addr);
	if (!loopback(&ss))
		log_warn("metrics on %s: the endpoint has no authentication and no TLS: anyone who can reach the port reads the counters and rule names; listen on 127.0.0.1 or [::1] (the default) or firewall the port",
			 listen_addr);
	return 0;
}

void metrics_stop(void)
{
	if (mhd)
		MHD_stop_daemon(mhd);	/* closes the listen socket too */
	mhd = NULL;
	mhd_epoll_fd = -1;
	agent_job_free(dtop.job);
	json_decref(dtop.last);
	memset(&dtop, 0, sizeof(dtop));
	free(dcache.body);
	memset(&dcache, 0, sizeof(dcache));
}

bool metrics_pollfd(struct pollfd *pfd)
{
	if (!mhd)
		return false;
	pfd->fd = mhd_epoll_fd;
	pfd->events = POLLIN;
	pfd->revents = 0;
	return true;
}

int metrics_timeout_ms(void)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (mhd && dtop.job)
		return 0;	/* the dashboard's top scan goes on next turn */
	if (!mhd || MHD_get_timeout(mhd, &ms) != MHD_YES)
		return -1;
	return ms > 3600000 ? 3600000 : (int)ms;
}

void metrics_run(void)
{
	if (mhd)
		MHD_run(mhd);
}
