// SPDX-License-Identifier: GPL-2.0
/*
 * agent_events.c - the drop events the datapath samples into the ring
 * buffer rl_events (include/rl_events.h), read in the agent's poll loop
 * and streamed to `rlctl events` clients (agent_ctl.c) as JSON lines:
 * time, source, rule, verdict, reason.  Events nobody listens to are read
 * and discarded, so the ring never fills for want of a reader.  What was
 * not reported (the datapath's RL_G_EV_LOST) is told to the listeners as
 * a {"kind": "lost"} line, at most once a second.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/libbpf.h>

#include "agent.h"

static struct ring_buffer *rb;
static int32_t by_id[RL_MAX_RULES];
static uint64_t lost_told, lost_at_ns;
static bool have_base;
static int64_t mono_to_real_ns;

static const char *const kind_names[__RL_EV_MAX] = {
	[RL_EV_OVER_LIMIT] = "over-limit",
	[RL_EV_PENALTY] = "penalty-box",
	[RL_EV_BLOCKLIST] = "blocklist",
};
static const char *const verdict_names[__RL_V_MAX] = {
	[RL_V_PASS] = "pass", [RL_V_DROP] = "drop", [RL_V_MONITOR] = "monitor",
	[RL_V_BLOCK] = "block", [RL_V_MARK] = "mark",
};

static const char *proto_str(uint8_t p)
{
	switch (p) {
	case 6: return "tcp";
	case 17: return "udp";
	case 1: return "icmp";
	case 58: return "icmpv6";
	default: return "other";
	}
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct agent *a = ctx;
	const struct rl_event *e = data;
	const struct agent_rule *r = NULL;
	char src[INET6_ADDRSTRLEN], when[64], reason[160], dur[32];
	uint64_t real;
	time_t secs;
	struct tm tm;
	json_t *o;
	char *s;

	if (size < sizeof(*e) || !ctl_events_wanted())
		return 0;
	if (!inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->src, src, sizeof(src)))
		snprintf(src, sizeof(src), "?");
	if (e->rule < RL_MAX_RULES && by_id[e->rule] >= 0 &&
	    a->model.rules[by_id[e->rule]].ver == e->ver)
		r = &a->model.rules[by_id[e->rule]];
	real = (uint64_t)((int64_t)e->time_ns + mono_to_real_ns);
	secs = (time_t)(real / 1000000000ull);
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03uZ",
		 (unsigned)(real / 1000000ull % 1000));
	switch (e->kind) {
	case RL_EV_OVER_LIMIT:
		snprintf(reason, sizeof(reason), "over the limit of rule %s (first this second)",
			 r ? r->spec.name : "(since changed)");
		break;
	case RL_EV_PENALTY:
		format_duration(r ? r->spec.block_ns : 0, dur, sizeof(dur));
		snprintf(reason, sizeof(reason), "over the limit of rule %s: penalty box for %s",
			 r ? r->spec.name : "(since changed)", r ? dur : "?");
		break;
	case RL_EV_BLOCKLIST:
		snprintf(reason, sizeof(reason), "on the blocklist (1 in %d reported)", RL_EV_SAMPLE);
		break;
	default:
		snprintf(reason, sizeof(reason), "unknown event kind %u", e->kind);
	}
	o = json_pack("{s:s, s:f, s:s, s:s, s:s?, s:s, s:s, s:s, s:s}",
		      "time", when, "ts", (double)real / 1e9,
		      "kind", e->kind < __RL_EV_MAX && kind_names[e->kind] ? kind_names[e->kind] : "?",
		      "source", src, "rule", r ? r->spec.name : NULL,
		      "verdict", e->verdict < __RL_V_MAX ? verdict_names[e->verdict] : "?",
		      "reason", reason, "proto", proto_str(e->proto),
		      "hook", e->hook ? "tc" : "xdp");
	if (!o)
		return 0;
	if (e->dport)
		json_object_set_new(o, "dport", json_integer(e->dport));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s)
		ctl_events_send(s);
	free(s);
	return 0;
}

int agent_events_open(struct agent *a)
{
	rb = ring_buffer__new(a->maps.events, on_event, a, NULL);
	if (!rb) {
		int err = -errno;

		log_err("opening the drop-event ring buffer rl_events: %s", strerror(errno));
		return err;
	}
	return 0;
}

void agent_events_close(void)
{
	ring_buffer__free(rb);
	rb = NULL;
}

int agent_events_fd(void)
{
	return rb ? ring_buffer__epoll_fd(rb) : -1;
}

void agent_events_run(struct agent *a)
{
	struct timespec m, r;
	struct rl_ctr c;
	uint64_t now;

	if (!rb)
		return;
	/* the datapath samples events only while someone listens */
	if (ctl_events_wanted() != a->events_on) {
		a->events_on = !a->events_on;
		if (agent_bpf_write_conf(a))
			a->events_on = !a->events_on;	/* tried again next turn */
		else
			log_info("drop events %s", a->events_on ? "on: a client listens" :
				 "off: no client listens");
	}
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	mono_to_real_ns = ((int64_t)r.tv_sec - m.tv_sec) * 1000000000ll + (r.tv_nsec - m.tv_nsec);
	if (ctl_events_wanted())
		agent_rule_index(a, by_id);
	/* at most what the ring holds (~26,000 records): bounded per turn */
	ring_buffer__consume(rb);
	now = agent_now_ns();
	if (!ctl_events_wanted() || now - lost_at_ns < 1000000000ull)
		return;
	lost_at_ns = now;
	if (agent_pcpu_sum(a, a->maps.gstats, RL_G_EV_LOST, &c))
		return;
	if (!have_base) {
		/* what was lost before anyone listened is not news */
		lost_told = c.packets;
		have_base = true;
		return;
	}
	if (c.packets > lost_told) {
		char line[200];

		snprintf(line, sizeof(line),
			 "{\"kind\":\"lost\",\"count\":%llu,\"reason\":\"not reported by the datapath: per-CPU budget (%d/s) spent or ring buffer full\"}",
			 (unsigned long long)(c.packets - lost_told), RL_EV_BUDGET);
		lost_told = c.packets;
		ctl_events_send(line);
	}
}
