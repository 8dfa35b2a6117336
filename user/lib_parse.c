// SPDX-License-Identifier: GPL-2.0
/*
 * lib_parse.c - words to values: rates, durations, prefixes, protocols,
 * ports, algorithms, actions and their mark labels, keying, the
 * `rule add|change` grammar and the
 * whole-rule checks.  Declared in rl_model.h; linked into rlagent, rlctl and
 * every unit test.  The CLI (via the agent) and the YAML loader
 * (lib_config.c) both go through these functions, so a value means the
 * same thing wherever it is written.
 *
 * Every number is parsed by hand into integers: strtoul accepts leading
 * blanks, signs and "0x", and strtod accepts "1e9", none of which belong in
 * a rate.  Rates are stored exactly (struct rl_limit: rate units per
 * period_ns); a value that is not exact, such as `1bit` (1/8 byte per
 * second), is refused rather than rounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netdb.h>
#include <sys/socket.h>

#include "rl_model.h"
#include "rl_algo.h"

#define NS_PER_S      1000000000ULL
#define NS_PER_MIN    (60 * NS_PER_S)
#define NS_PER_HOUR   (3600 * NS_PER_S)
#define NS_PER_DAY    (86400 * NS_PER_S)

/* Sanity bounds: ten times 100 Gbit/s, and 1 Tbit/s of 64-byte frames. */
#define RL_MAX_BYTES_PER_S  125000000000ULL
#define RL_MAX_PKTS_PER_S   2000000000ULL
#define RL_MAX_BLOCK_NS     (365 * NS_PER_DAY)
#define RL_MIN_BYTE_BURST   1514ULL   /* one full Ethernet frame */

/*
 * The length of a valid UTF-8 sequence at s (at most n bytes there), or 0
 * if it is not one: the rules jansson checks (no overlong forms, no
 * surrogates, nothing past U+10FFFF), since these strings end up in JSON.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0], cp, k, need;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	need = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < need)
		return 0;
	cp = c & (0x3f >> (need - 1));
	for (k = 1; k < need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

size_t rl_utf8_prefix(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n < max)
		return n;
	/* s[max] starts what is left out: back off to the start of the
	 * character it continues, if it continues one */
	while (n > 0 && max - n < 3 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

void rl_utf8_sanitize(char *s)
{
	size_t len = strlen(s), i = 0, k;

	while (i < len) {
		k = utf8_seq((const unsigned char *)s + i, len - i);
		if (k) {
			i += k;
			continue;
		}
		/* a character a cut split at the end goes; any other bad byte
		 * becomes '?' */
		if ((unsigned char)s[i] >= 0xc2 && (unsigned char)s[i] <= 0xf4) {
			size_t need = (unsigned char)s[i] < 0xe0 ? 2 : (unsigned char)s[i] < 0xf0 ? 3 : 4;

			for (k = 1; i + k < len && ((unsigned char)s[i + k] & 0xc0) == 0x80; k++)
				;
			if (i + k == len && k < need) {
				s[i] = 0;
				return;
			}
		}
		s[i++] = '?';
	}
}

void rl_errf(struct rl_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	rl_utf8_sanitize(err->msg);
}

/* Quote at most 40 bytes of user input so a hostile word cannot swamp the
 * message, never half a character. */
#define Q(s) RL_CUT(s, 40), (strlen(s) > 40 ? "..." : "")

typedef unsigned __int128 u128;

/*
 * A decimal "123" or "1.25": mantissa and the number of fraction digits.
 * Returns the length consumed, or -1 if there are no digits or the
 * mantissa overflows 64 bits.
 */
static int parse_decimal(const char *s, uint64_t *mant, int *frac, bool allow_frac)
{
	const char *p = s;
	uint64_t v = 0;
	int digits = 0, fd = -1;

	for (;; p++) {
		if (*p >= '0' && *p <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				return -1;
			v = v * 10 + (uint64_t)(*p - '0');
			digits++;
			if (fd >= 0)
				fd++;
		} else if (*p == '.' && allow_frac && fd < 0 && digits) {
			fd = 0;
		} else {
			break;
		}
	}
	if (!digits || fd == 0 || fd > 18)
		return -1;
	*mant = v;
	*frac = fd < 0 ? 0 : fd;
	return (int)(p - s);
}

static u128 pow10_u128(int n)
{
	u128 r = 1;

	while (n-- > 0)
		r *= 10;
	return r;
}

/* A whole, unsigned decimal number with no sign, blanks or base prefix. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int fd, n = parse_decimal(s, &v, &fd, false);

	if (n < 0 || s[n] || v > max)
		return -1;
	*out = v;
	return 0;
}

struct unit {
	const char *name;
	uint64_t mult;      /* bits: bits/s per unit; bytes: bytes/s per unit */
	bool bits;
};

/* tc(8) units: *bit are bits per second, *bps BYTES per second. */
static const struct unit byte_units[] = {
	{ "bit", 1, true }, { "kbit", 1000, true }, { "mbit", 1000000, true },
	{ "gbit", 1000000000ULL, true }, { "tbit", 1000000000000ULL, true },
	{ "kibit", 1024, true }, { "mibit", 1ULL << 20, true },
	{ "gibit", 1ULL << 30, true }, { "tibit", 1ULL << 40, true },
	{ "bps", 1, false }, { "kbps", 1000, false }, { "mbps", 1000000, false },
	{ "gbps", 1000000000ULL, false }, { "tbps", 1000000000000ULL, false },
	{ "kibps", 1024, false }, { "mibps", 1ULL << 20, false },
	{ "gibps", 1ULL << 30, false }, { "tibps", 1ULL << 40, false },
};

struct period {
	const char *name;
	uint64_t ns;
};

static const struct period periods[] = {
	{ "s", NS_PER_S }, { "sec", NS_PER_S }, { "second", NS_PER_S },
	{ "m", NS_PER_MIN }, { "min", NS_PER_MIN }, { "minute", NS_PER_MIN },
	{ "h", NS_PER_HOUR }, { "hour", NS_PER_HOUR },
	{ "d", NS_PER_DAY }, { "day", NS_PER_DAY },
};

#define RATE_HELP "expected e.g. 100/s, 6000/min, 10/h, 5/d, 100pps, 10mbit or 500kbps"

int rl_parse_rate(const char *s, struct rl_limit *l, bool *bytes, struct rl_err *err)
{
	uint64_t mant;
	int fd, n;
	const char *unit;
	size_t i;

	if (!s || !*s) {
		rl_errf(err, "rate is empty: %s", RATE_HELP);
		return -EINVAL;
	}
	n = parse_decimal(s, &mant, &fd, true);
	if (n < 0) {
		rl_errf(err, "rate '%.*s%s' does not start with a whole or decimal number: %s",
			Q(s), RATE_HELP);
		return -EINVAL;
	}
	unit = s + n;
	if (*unit == '/' || !strcasecmp(unit, "pps")) {
		uint64_t period = NS_PER_S;

		if (*unit == '/') {
			for (i = 0; i < sizeof(periods) / sizeof(periods[0]); i++)
				if (!strcasecmp(unit + 1, periods[i].name))
					break;
			if (i == sizeof(periods) / sizeof(periods[0])) {
				rl_errf(err, "rate '%.*s%s': unknown period '%.*s%s': expected /s, /min, /h or /d",
					Q(s), Q(unit));
				return -EINVAL;
			}
			period = periods[i].ns;
		}
		if (fd) {
			rl_errf(err, "rate '%.*s%s': a packet rate is a whole number per period (write 30/min, not 0.5/s)",
				Q(s));
			return -EINVAL;
		}
		if (!mant) {
			rl_errf(err, "rate '%.*s%s' is zero: a rate must be at least 1 (to drop everything, use a blocklist)",
				Q(s));
			return -EINVAL;
		}
		if (mant > RL_MAX_PKTS_PER_S * (period / NS_PER_S)) {
			rl_errf(err, "rate '%.*s%s' is above %llu packets per second, beyond any link (1 Tbit/s of 64-byte frames)",
				Q(s), (unsigned long long)RL_MAX_PKTS_PER_S);
			return -EINVAL;
		}
		l->rate = mant;
		l->period_ns = period;
		*bytes = false;
		return 0;
	}
	for (i = 0; i < sizeof(byte_units) / sizeof(byte_units[0]); i++)
		if (!strcasecmp(unit, byte_units[i].name))
			break;
	if (i == sizeof(byte_units) / sizeof(byte_units[0])) {
		if (!*unit)
			rl_errf(err, "rate '%.*s%s' has no unit: %s", Q(s), RATE_HELP);
		else
			rl_errf(err, "rate '%.*s%s': unknown unit '%.*s%s': %s", Q(s), Q(unit), RATE_HELP);
		return -EINVAL;
	}
	{
		/* bytes/s = mant * mult / (10^fd * (bits ? 8 : 1)), exactly */
		u128 num = (u128)mant * byte_units[i].mult;
		u128 den = pow10_u128(fd) * (byte_units[i].bits ? 8 : 1);
		u128 v = num / den;

		if (!num) {
			rl_errf(err, "rate '%.*s%s' is zero: a rate must be at least 8bit (1 byte per second)",
				Q(s));
			return -EINVAL;
		}
		if (num % den) {
			rl_errf(err, "rate '%.*s%s' is not a whole number of bytes per second: byte rates are kept exactly, use a multiple of 8bit (1 byte/s)",
				Q(s));
			return -EINVAL;
		}
		if (v > RL_MAX_BYTES_PER_S) {
			rl_errf(err, "rate '%.*s%s' is above 1tbit (%llu bytes per second), ten times the fastest supported link",
				Q(s), (unsigned long long)RL_MAX_BYTES_PER_S);
			return -EINVAL;
		}
		l->rate = (uint64_t)v;
		l->period_ns = NS_PER_S;
		*bytes = true;
	}
	return 0;
}

int rl_parse_duration(const char *s, uint64_t *ns, struct rl_err *err)
{
	static const struct period units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 },
		{ "s", NS_PER_S }, { "sec", NS_PER_S },
		{ "m", NS_PER_MIN }, { "min", NS_PER_MIN },
		{ "h", NS_PER_HOUR }, { "d", NS_PER_DAY },
	};
	uint64_t mant, mult = NS_PER_S;
	int fd, n;
	size_t i;
	u128 num, den;

	if (!s || !*s) {
		rl_errf(err, "duration is empty: expected e.g. 500ms, 60s, 10m, 1h, 1d (plain number = seconds)");
		return -EINVAL;
	}
	n = parse_decimal(s, &mant, &fd, true);
	if (n < 0) {
		rl_errf(err, "duration '%.*s%s' does not start with a number: expected e.g. 500ms, 60s, 10m, 1h, 1d",
			Q(s));
		return -EINVAL;
	}
	if (s[n]) {
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strcmp(s + n, units[i].name))
				break;
		if (i == sizeof(units) / sizeof(units[0])) {
			rl_errf(err, "duration '%.*s%s': unknown unit '%.*s%s': expected ms, s, m, h or d",
				Q(s), Q(s + n));
			return -EINVAL;
		}
		mult = units[i].ns;
	}
	num = (u128)mant * mult;
	den = pow10_u128(fd);
	if (num % den) {
		rl_errf(err, "duration '%.*s%s' is not a whole number of nanoseconds", Q(s));
		return -EINVAL;
	}
	if (num / den > RL_MAX_BLOCK_NS) {
		rl_errf(err, "duration '%.*s%s' is longer than the maximum of 365d", Q(s));
		return -EINVAL;
	}
	*ns = (uint64_t)(num / den);
	return 0;
}

/*
 * Burst sizes: a plain number counts the rate's own unit (packets, or bytes
 * for a byte rate); a unit names it.  Byte sizes are tc(8)'s: `b`, `kb`/`k`,
 * `mb`/`m`, `gb`/`g` are 1024-based bytes (64kb = 65536), `kbit`, `mbit`,
 * `gbit` 1024-based bits, as `tc ... burst 64kb` reads them.
 */
static const struct unit burst_units[] = {
	{ "b", 1, false }, { "byte", 1, false }, { "bytes", 1, false },
	{ "k", 1024, false }, { "kb", 1024, false }, { "kib", 1024, false },
	{ "m", 1ULL << 20, false }, { "mb", 1ULL << 20, false }, { "mib", 1ULL << 20, false },
	{ "g", 1ULL << 30, false }, { "gb", 1ULL << 30, false }, { "gib", 1ULL << 30, false },
	{ "kbit", 1024, true }, { "mbit", 1ULL << 20, true }, { "gbit", 1ULL << 30, true },
};

static const char *const packet_units[] = { "packet", "packets", "pkt", "pkts", "p" };

bool rl_burst_unit_word(const char *w)
{
	size_t i;

	for (i = 0; i < sizeof(packet_units) / sizeof(packet_units[0]); i++)
		if (!strcasecmp(w, packet_units[i]))
			return true;
	for (i = 0; i < sizeof(burst_units) / sizeof(burst_units[0]); i++)
		if (!strcasecmp(w, burst_units[i].name))
			return true;
	return false;
}

int rl_parse_burst(const char *s, bool bytes, uint64_t *burst, struct rl_err *err)
{
	const char *unit;
	uint64_t mant;
	int fd, n;
	size_t i;
	u128 num, den;

	if (!s || !*s) {
		rl_errf(err, "burst is empty: expected a whole number, e.g. 20, 20 packets or 64kb");
		return -EINVAL;
	}
	n = parse_decimal(s, &mant, &fd, true);
	if (n < 0) {
		rl_errf(err, "burst '%.*s%s' does not start with a whole number (packets, or bytes for a byte rate; e.g. 20, 20 packets, 64kb)",
			Q(s));
		return -EINVAL;
	}
	unit = s + n;
	while (*unit == ' ')
		unit++;
	if (!*unit) {
		if (fd) {
			rl_errf(err, "burst '%.*s%s' is not a whole number (packets, or bytes for a byte rate)",
				Q(s));
			return -EINVAL;
		}
		*burst = mant;
		return 0;
	}
	for (i = 0; i < sizeof(packet_units) / sizeof(packet_units[0]); i++)
		if (!strcasecmp(unit, packet_units[i]))
			break;
	if (i < sizeof(packet_units) / sizeof(packet_units[0])) {
		if (bytes) {
			rl_errf(err, "burst '%.*s%s' counts packets, but the rate is a byte rate: give bytes (e.g. burst 15000 or burst 64kb)",
				Q(s));
			return -EINVAL;
		}
		if (fd) {
			rl_errf(err, "burst '%.*s%s' is not a whole number of packets", Q(s));
			return -EINVAL;
		}
		*burst = mant;
		return 0;
	}
	for (i = 0; i < sizeof(burst_units) / sizeof(burst_units[0]); i++)
		if (!strcasecmp(unit, burst_units[i].name))
			break;
	if (i == sizeof(burst_units) / sizeof(burst_units[0])) {
		rl_errf(err, "burst '%.*s%s': unknown unit '%.*s%s': expected packets, or bytes as b, kb, mb, gb (1024-based, as in tc)",
			Q(s), Q(unit));
		return -EINVAL;
	}
	if (!bytes) {
		rl_errf(err, "burst '%.*s%s' is a size in bytes, but the rate counts packets: give packets (e.g. burst 20 or burst 20 packets)",
			Q(s));
		return -EINVAL;
	}
	num = (u128)mant * burst_units[i].mult;
	den = pow10_u128(fd) * (burst_units[i].bits ? 8 : 1);
	if (num % den) {
		rl_errf(err, "burst '%.*s%s' is not a whole number of bytes", Q(s));
		return -EINVAL;
	}
	if (num / den > UINT64_MAX) {
		rl_errf(err, "burst '%.*s%s' is too large", Q(s));
		return -EINVAL;
	}
	*burst = (uint64_t)(num / den);
	return 0;
}

void rl_prefix_mask(struct rl_prefix *p)
{
	int bytes = p->family == 4 ? 4 : 16, i;

	for (i = 0; i < bytes; i++) {
		int keep = (int)p->len - i * 8;

		if (keep <= 0)
			p->addr[i] = 0;
		else if (keep < 8)
			p->addr[i] &= (uint8_t)(0xff << (8 - keep));
	}
	for (i = bytes; i < 16; i++)
		p->addr[i] = 0;
}

int rl_parse_prefix(const char *s, struct rl_prefix *p, struct rl_err *err)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash;
	struct rl_prefix r = {};
	uint64_t len;
	size_t alen;

	if (!s || !*s) {
		rl_errf(err, "prefix is empty: expected an address or CIDR such as 192.0.2.0/24 or 2001:db8::/32");
		return -EINVAL;
	}
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (!alen || alen >= sizeof(addr)) {
		rl_errf(err, "prefix '%.*s%s' is not an IPv4 or IPv6 address: expected e.g. 192.0.2.0/24 or 2001:db8::/32",
			Q(s));
		return -EINVAL;
	}
	memcpy(addr, s, alen);
	addr[alen] = 0;
	r.family = memchr(addr, ':', alen) ? 6 : 4;
	if (inet_pton(r.family == 4 ? AF_INET : AF_INET6, addr, r.addr) != 1) {
		rl_errf(err, "prefix '%.*s%s': '%s' is not a valid IPv%d address",
			Q(s), addr, r.family);
		return -EINVAL;
	}
	len = r.family == 4 ? 32 : 128;
	if (slash && (!slash[1] || parse_uint(slash + 1, 255, &len) ||
		      len > (r.family == 4 ? 32u : 128u) || strlen(slash + 1) > 3)) {
		rl_errf(err, "prefix '%.*s%s': length '%.*s%s' is not 0..%d",
			Q(s), Q(slash + 1), r.family == 4 ? 32 : 128);
		return -EINVAL;
	}
	r.len = (uint8_t)len;
	/* 10.1.2.3/8 means 10.0.0.0/8, as in ip-route(8): mask, don't refuse */
	rl_prefix_mask(&r);
	*p = r;
	return 0;
}

int rl_parse_proto(const char *s, uint8_t *proto, struct rl_err *err)
{
	static const struct { const char *name; uint8_t num; } names[] = {
		{ "any", 0 }, { "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
		{ "icmp", IPPROTO_ICMP }, { "icmpv6", IPPROTO_ICMPV6 },
		{ "ipv6-icmp", IPPROTO_ICMPV6 },
	};
	uint64_t v;
	size_t i;

	for (i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name)) {
			*proto = names[i].num;
			return 0;
		}
	if (s && !parse_uint(s, 255, &v)) {
		*proto = (uint8_t)v;
		return 0;
	}
	rl_errf(err, "protocol '%.*s%s' is unknown: expected tcp, udp, icmp, icmpv6, any or a number 0..255",
		Q(s ? s : ""));
	return -EINVAL;
}

int rl_parse_ports(const char *s, uint16_t *lo, uint16_t *hi, struct rl_err *err)
{
	char a[8];
	const char *dash;
	uint64_t l, h;

	if (s && !strcmp(s, "any")) {
		*lo = 0;
		*hi = 65535;
		return 0;
	}
	if (!s || !*s)
		goto bad;
	dash = strchr(s, '-');
	if (dash) {
		if ((size_t)(dash - s) >= sizeof(a))
			goto bad;
		memcpy(a, s, (size_t)(dash - s));
		a[dash - s] = 0;
		if (parse_uint(a, 65535, &l) || parse_uint(dash + 1, 65535, &h))
			goto bad;
	} else {
		if (parse_uint(s, 65535, &l))
			goto bad;
		h = l;
	}
	if (!l || !h) {
		rl_errf(err, "port '%.*s%s': port 0 cannot be matched; ports are 1..65535", Q(s));
		return -EINVAL;
	}
	if (l > h) {
		rl_errf(err, "port range '%.*s%s' is backwards: write %llu-%llu",
			Q(s), (unsigned long long)h, (unsigned long long)l);
		return -EINVAL;
	}
	*lo = (uint16_t)l;
	*hi = (uint16_t)h;
	return 0;
bad:
	rl_errf(err, "port '%.*s%s' is not a port or range: expected N or N-M with 1 <= N <= M <= 65535",
		Q(s ? s : ""));
	return -EINVAL;
}

static const char *const algo_names[__RL_ALGO_MAX] = {
	[RL_ALGO_TOKEN_BUCKET]   = "token-bucket",
	[RL_ALGO_LEAKY_BUCKET]   = "leaky-bucket",
	[RL_ALGO_FIXED_WINDOW]   = "fixed-window",
	[RL_ALGO_SLIDING_WINDOW] = "sliding-window",
	[RL_ALGO_SLIDING_LOG]    = "sliding-log",
};

int rl_parse_algo(const char *s, uint32_t *algo, struct rl_err *err)
{
	uint32_t i;

	if (s && !strcmp(s, "tb")) {
		*algo = RL_ALGO_TOKEN_BUCKET;
		return 0;
	}
	if (s && !strcmp(s, "gcra")) {
		*algo = RL_ALGO_LEAKY_BUCKET;
		return 0;
	}
	for (i = 0; s && i < __RL_ALGO_MAX; i++)
		if (!strcmp(s, algo_names[i])) {
			*algo = i;
			return 0;
		}
	rl_errf(err, "algorithm '%.*s%s' is unknown: expected token-bucket (tb), leaky-bucket (gcra), fixed-window, sliding-window or sliding-log",
		Q(s ? s : ""));
	return -EINVAL;
}

int rl_parse_action(const char *s, uint8_t *action, struct rl_err *err)
{
	if (s && !strcmp(s, "drop")) {
		*action = RL_ACT_DROP;
		return 0;
	}
	if (s && !strcmp(s, "monitor")) {
		*action = RL_ACT_MONITOR;
		return 0;
	}
	if (s && !strcmp(s, "mark")) {
		*action = RL_ACT_MARK;
		return 0;
	}
	rl_errf(err, "action '%.*s%s' is unknown: expected drop, monitor or mark", Q(s ? s : ""));
	return -EINVAL;
}

/* skb mark: decimal, or hex with 0x as tc and iptables print marks. */
int rl_parse_mark(const char *s, uint32_t *mark, struct rl_err *err)
{
	uint64_t v = 0;
	const char *p;
	int d;

	if (s && (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) && s[2]) {
		for (p = s + 2; *p; p++) {
			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')
				d = (*p | 0x20) - 'a' + 10;
			else
				goto bad;
			v = v * 16 + (uint64_t)d;
			if (v > UINT32_MAX)
				goto bad;
		}
	} else if (!s || parse_uint(s, UINT32_MAX, &v)) {
		goto bad;
	}
	*mark = (uint32_t)v;
	return 0;
bad:
	rl_errf(err, "mark-value '%.*s%s' is not a 32-bit mark: expected 0..4294967295 or 0x0..0xffffffff",
		Q(s ? s : ""));
	return -EINVAL;
}

/* DSCP: 0..63, or a class name of RFC 2474/2597/3246/8622 (cs3, af41, ef, le). */
int rl_parse_dscp(const char *s, uint8_t *dscp, struct rl_err *err)
{
	uint64_t v;

	if (!s)
		goto bad;
	if (!parse_uint(s, 63, &v)) {
		*dscp = (uint8_t)v;
		return 0;
	}
	if (!strcasecmp(s, "ef")) {
		*dscp = 46;
		return 0;
	}
	if (!strcasecmp(s, "le")) {
		*dscp = 1;
		return 0;
	}
	if (!strncasecmp(s, "cs", 2) && s[2] >= '0' && s[2] <= '7' && !s[3]) {
		*dscp = (uint8_t)((s[2] - '0') << 3);
		return 0;
	}
	if (!strncasecmp(s, "af", 2) && s[2] >= '1' && s[2] <= '4' &&
	    s[3] >= '1' && s[3] <= '3' && !s[4]) {
		*dscp = (uint8_t)((s[2] - '0') * 8 + (s[3] - '0') * 2);
		return 0;
	}
bad:
	rl_errf(err, "dscp '%.*s%s' is not a DSCP: expected 0..63 or a class (cs0..cs7, af11..af43, ef, le)",
		Q(s ? s : ""));
	return -EINVAL;
}

int rl_parse_onoff(const char *s, bool *on, struct rl_err *err)
{
	static const char *const yes[] = { "on", "true", "yes" }, *const no[] = { "off", "false", "no" };
	size_t i;

	for (i = 0; s && i < 3; i++) {
		if (!strcmp(s, yes[i])) {
			*on = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*on = false;
			return 0;
		}
	}
	rl_errf(err, "'%.*s%s' is not on or off (true/false, yes/no)", Q(s ? s : ""));
	return -EINVAL;
}

int rl_parse_scope(const char *s, bool *cluster, struct rl_err *err)
{
	if (s && !strcmp(s, "local")) {
		*cluster = false;
		return 0;
	}
	if (s && !strcmp(s, "cluster")) {
		*cluster = true;
		return 0;
	}
	rl_errf(err, "scope '%.*s%s' is unknown: expected local or cluster", Q(s ? s : ""));
	return -EINVAL;
}

int rl_parse_redis_addr(const char *s, char *host, size_t len, int *port,
			struct rl_err *err)
{
	const char *colon, *h = s, *hend;
	uint64_t p;

	if (!s || !*s)
		goto bad;
	if (!strncmp(s, "unix:", 5)) {
		if (s[5] != '/' || strlen(s + 5) >= 108 || strlen(s + 5) >= len) {
			rl_errf(err, "redis '%.*s%s': a unix socket is unix:/absolute/path (under 108 bytes)",
				Q(s));
			return -EINVAL;
		}
		strcpy(host, s + 5);
		*port = 0;
		return 0;
	}
	if (*s == '[') {
		hend = strchr(s, ']');
		if (!hend || hend[1] != ':')
			goto bad;
		h = s + 1;
		colon = hend + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			goto bad;
		hend = colon;
	}
	if (hend == h || (size_t)(hend - h) >= len || hend - h > 253 ||
	    parse_uint(colon + 1, 65535, &p) || !p)
		goto bad;
	for (const char *c = h; c < hend; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == ':'))
			goto bad;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = 0;
	*port = (int)p;
	return 0;
bad:
	rl_errf(err, "redis '%.*s%s' is not an address: expected HOST:PORT (127.0.0.1:6379, [::1]:6379, redis.local:6379) or unix:/path",
		Q(s ? s : ""));
	return -EINVAL;
}

int rl_parse_per(const char *s, bool *per_rule, uint8_t *p4, uint8_t *p6, struct rl_err *err)
{
	const char *lens, *comma;
	uint64_t l4 = 32, l6 = 128;
	char a[8];

	if (s && !strcmp(s, "rule")) {
		*per_rule = true;
		*p4 = 32;
		*p6 = 128;
		return 0;
	}
	if (!s || strncmp(s, "source", 6) || (s[6] && s[6] != '/'))
		goto bad;
	if (s[6] == '/') {
		lens = s + 7;
		comma = strchr(lens, ',');
		if (comma) {
			/* "source/,64": IPv6 length only */
			if ((size_t)(comma - lens) >= sizeof(a))
				goto bad;
			memcpy(a, lens, (size_t)(comma - lens));
			a[comma - lens] = 0;
			if ((a[0] && parse_uint(a, 255, &l4)) || parse_uint(comma + 1, 255, &l6))
				goto bad;
		} else if (parse_uint(lens, 255, &l4)) {
			goto bad;
		}
		if (l4 > 32) {
			rl_errf(err, "per '%.*s%s': IPv4 key length %llu is not 0..32 (for an IPv6 length write source/,%llu or source/32,%llu)",
				Q(s), (unsigned long long)l4, (unsigned long long)l4,
				(unsigned long long)l4);
			return -EINVAL;
		}
		if (l6 > 128) {
			rl_errf(err, "per '%.*s%s': IPv6 key length %llu is not 0..128",
				Q(s), (unsigned long long)l6);
			return -EINVAL;
		}
	}
	*per_rule = false;
	*p4 = (uint8_t)l4;
	*p6 = (uint8_t)l6;
	return 0;
bad:
	rl_errf(err, "per '%.*s%s' is not valid: expected source, source/L4, source/L4,L6 (e.g. source/24,64) or rule",
		Q(s ? s : ""));
	return -EINVAL;
}

const char *rl_algo_name(uint32_t algo)
{
	return algo < __RL_ALGO_MAX ? algo_names[algo] : "unknown";
}

const char *rl_action_name(uint8_t action)
{
	switch (action) {
	case RL_ACT_DROP:
		return "drop";
	case RL_ACT_MONITOR:
		return "monitor";
	case RL_ACT_MARK:
		return "mark";
	default:
		return "unknown";
	}
}

const char *rl_proto_name(uint8_t proto)
{
	/* Every protocol number gets a stable string without a static
	 * buffer that a second call would overwrite. */
	static char nums[256][4];

	switch (proto) {
	case 0:
		return "any";
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		if (!nums[proto][0])
			snprintf(nums[proto], sizeof(nums[proto]), "%u", proto);
		return nums[proto];
	}
}

int rl_format_rate(const struct rl_limit *l, bool bytes, char *buf, size_t len)
{
	static const struct { const char *name; uint64_t bits; } bu[] = {
		{ "tbit", 1000000000000ULL }, { "gbit", 1000000000ULL },
		{ "mbit", 1000000ULL }, { "kbit", 1000ULL }, { "bit", 1 },
	};
	const char *unit = NULL;
	size_t i;
	int n;

	if (!l->rate || !l->period_ns)
		return -EINVAL;
	if (bytes) {
		/* Byte rates are per second; tc prints them in bits too. */
		uint64_t bits;

		if (l->period_ns != NS_PER_S || l->rate > UINT64_MAX / 8)
			return -EINVAL;
		bits = l->rate * 8;
		for (i = 0; i < sizeof(bu) / sizeof(bu[0]); i++)
			if (bits % bu[i].bits == 0)
				break;
		n = snprintf(buf, len, "%llu%s", (unsigned long long)(bits / bu[i].bits),
			     bu[i].name);
	} else {
		for (i = 0; i < sizeof(periods) / sizeof(periods[0]); i++)
			if (periods[i].ns == l->period_ns) {
				unit = periods[i].name;
				break;
			}
		if (l->period_ns == NS_PER_MIN)
			unit = "min";
		if (unit)
			n = snprintf(buf, len, "%llu/%s", (unsigned long long)l->rate, unit);
		else
			return -EINVAL;
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int rl_format_prefix(const struct rl_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if ((p->family != 4 && p->family != 6) || p->len > (p->family == 4 ? 32 : 128))
		return -EINVAL;
	if (!inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, a, sizeof(a)))
		return -errno;
	n = snprintf(buf, len, "%s/%u", a, p->len);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

bool rl_prefix_contains(const struct rl_prefix *outer, const struct rl_prefix *inner)
{
	int full, rem;

	if (outer->family != inner->family || outer->len > inner->len)
		return false;
	full = outer->len / 8;
	rem = outer->len % 8;
	if (memcmp(outer->addr, inner->addr, (size_t)full))
		return false;
	if (rem && ((outer->addr[full] ^ inner->addr[full]) & (uint8_t)(0xff << (8 - rem))))
		return false;
	return true;
}

/*
 * The burst the datapath gets.  Unset: one period's worth of the rate (so
 * `100/s` may send 100 back to back), at least one full frame for byte
 * rates, and never more than the exact arithmetic can hold (at 1tbit one
 * second's worth would overflow; the cap is then still over 9 GB).
 */
uint64_t rl_rule_burst(const struct rl_rule_spec *spec)
{
	uint64_t b, max;

	if (spec->burst_set)
		return spec->limit.burst;
	b = spec->limit.rate ? spec->limit.rate : 1;
	if (spec->bytes && b < RL_MIN_BYTE_BURST)
		b = RL_MIN_BYTE_BURST;
	max = spec->limit.period_ns ? (UINT64_MAX / 2) / spec->limit.period_ns : b;
	return b < max ? b : max;
}

void rl_rule_defaults(struct rl_rule_spec *spec, const struct rl_defaults *d)
{
	struct rl_defaults builtin = {
		.algo = RL_ALGO_TOKEN_BUCKET, .action = RL_ACT_DROP,
		.plen4 = 32, .plen6 = 128,
	};

	if (!d)
		d = &builtin;
	memset(spec, 0, sizeof(*spec));
	spec->dport_lo = 0;
	spec->dport_hi = 65535;
	spec->limit.algo = d->algo;
	spec->action = d->action;
	spec->per_rule = d->per_rule;
	spec->plen4 = d->plen4;
	spec->plen6 = d->plen6;
}

/* src value: "any", one prefix, or "v4,v6" (one of each family). */
static int parse_src_word(const char *s, struct rl_rule_spec *spec, struct rl_err *err)
{
	char buf[2 * INET6_ADDRSTRLEN + 16];
	char *tok, *save = NULL;
	bool h4 = false, h6 = false;
	struct rl_prefix p, p4 = {}, p6 = {};
	int ret;

	if (!strcmp(s, "any")) {
		/* cleared, not just unused: the same rule has one spec, and specs
		 * are compared whole (`rule change` with no change, apply) */
		spec->has_src4 = spec->has_src6 = false;
		memset(&spec->src4, 0, sizeof(spec->src4));
		memset(&spec->src6, 0, sizeof(spec->src6));
		return 0;
	}
	if (strlen(s) >= sizeof(buf) || !*s || s[strlen(s) - 1] == ',') {
		rl_errf(err, "src '%.*s%s' is not a prefix: expected PREFIX or V4PREFIX,V6PREFIX", Q(s));
		return -EINVAL;
	}
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		ret = rl_parse_prefix(tok, &p, err);
		if (ret)
			return ret;
		if ((p.family == 4 && h4) || (p.family == 6 && h6)) {
			rl_errf(err, "src '%.*s%s' has two IPv%d prefixes: a rule takes at most one IPv4 and one IPv6 source (write two rules)",
				Q(s), p.family);
			return -EINVAL;
		}
		if (p.family == 4) {
			h4 = true;
			p4 = p;
		} else {
			h6 = true;
			p6 = p;
		}
	}
	spec->has_src4 = h4;
	spec->has_src6 = h6;
	spec->src4 = p4;
	spec->src6 = p6;
	return 0;
}

enum { KW_SRC, KW_PROTO, KW_DPORT, KW_FLAGS, KW_RATE, KW_BURST, KW_ALGO,
       KW_PER, KW_ACTION, KW_BLOCK, KW_MARK, KW_DSCP, KW_ECN, KW_SCOPE, KW__MAX };

static const char *const keywords[KW__MAX] = {
	"src", "proto", "dport", "tcp-flags", "rate", "burst", "algo", "per",
	"action", "block-for", "mark-value", "dscp", "ecn", "scope",
};

int rl_parse_rule_words(int argc, char **argv, struct rl_rule_spec *spec,
			bool require_rate, struct rl_err *err)
{
	struct rl_rule_spec s = *spec;
	bool seen[KW__MAX] = {}, on;
	const char *burst_val = NULL, *burst_unit = NULL;
	int i, k, ret, step;

	for (i = 0; i < argc; i += step) {
		const char *w = argv[i], *val;

		for (k = 0; k < KW__MAX; k++)
			if (!strcmp(w, keywords[k]))
				break;
		if (k == KW__MAX) {
			rl_errf(err, "unknown keyword '%.*s%s': expected src, proto, dport, tcp-flags, rate, burst, algo, per, action, mark-value, dscp, ecn, block-for or scope",
				Q(w));
			return -EINVAL;
		}
		if (seen[k]) {
			rl_errf(err, "keyword '%s' given twice", w);
			return -EINVAL;
		}
		seen[k] = true;
		step = 2;
		/* `ecn` alone is a flag; `ecn on|off` also reads (and clears) */
		if (k == KW_ECN) {
			on = true;
			if (i + 1 < argc && !rl_parse_onoff(argv[i + 1], &on, NULL))
				step = 2;
			else
				step = 1;
			s.mark_flags = on ? s.mark_flags | RL_MK_ECN : s.mark_flags & ~RL_MK_ECN;
			continue;
		}
		if (i + 1 >= argc) {
			rl_errf(err, "keyword '%s' needs a value", w);
			return -EINVAL;
		}
		val = argv[i + 1];
		switch (k) {
		case KW_SRC:
			ret = parse_src_word(val, &s, err);
			break;
		case KW_PROTO:
			ret = rl_parse_proto(val, &s.proto, err);
			break;
		case KW_DPORT:
			ret = rl_parse_ports(val, &s.dport_lo, &s.dport_hi, err);
			break;
		case KW_FLAGS:
			ret = 0;
			if (!strcmp(val, "syn")) {
				s.syn_only = true;
			} else if (!strcmp(val, "any")) {
				s.syn_only = false;
			} else {
				rl_errf(err, "tcp-flags '%.*s%s' is not supported: expected syn (new connections) or any",
					Q(val));
				ret = -EINVAL;
			}
			break;
		case KW_RATE:
			ret = rl_parse_rate(val, &s.limit, &s.bytes, err);
			break;
		case KW_BURST:
			/* checked once the rate (maybe a later word) is known */
			burst_val = val;
			if (i + 2 < argc && rl_burst_unit_word(argv[i + 2])) {
				burst_unit = argv[i + 2];
				step = 3;
			}
			ret = 0;
			break;
		case KW_ALGO:
			ret = rl_parse_algo(val, &s.limit.algo, err);
			break;
		case KW_PER:
			ret = rl_parse_per(val, &s.per_rule, &s.plen4, &s.plen6, err);
			break;
		case KW_ACTION:
			ret = rl_parse_action(val, &s.action, err);
			break;
		case KW_SCOPE:
			ret = rl_parse_scope(val, &s.cluster, err);
			break;
		case KW_MARK:
			s.mark_flags &= ~RL_MK_MARK;
			s.mark = 0;
			ret = strcmp(val, "none") ? rl_parse_mark(val, &s.mark, err) : 0;
			if (!ret && strcmp(val, "none"))
				s.mark_flags |= RL_MK_MARK;
			break;
		case KW_DSCP:
			s.mark_flags &= ~RL_MK_DSCP;
			s.dscp = 0;
			ret = strcmp(val, "none") ? rl_parse_dscp(val, &s.dscp, err) : 0;
			if (!ret && strcmp(val, "none"))
				s.mark_flags |= RL_MK_DSCP;
			break;
		default:
			ret = strcmp(val, "none") ? rl_parse_duration(val, &s.block_ns, err)
						  : (s.block_ns = 0, 0);
			break;
		}
		if (ret)
			return ret;
	}
	if (burst_val) {
		/* value and unit whole: a word cut to fit a buffer could read
		 * as another number (85 zeros and a 5 would be burst 0) */
		size_t n = strlen(burst_val) + (burst_unit ? strlen(burst_unit) + 1 : 0) + 1;
		char *b = malloc(n);
		uint64_t v;

		if (!b) {
			rl_errf(err, "out of memory");
			return -ENOMEM;
		}
		snprintf(b, n, "%s%s%s", burst_val, burst_unit ? " " : "", burst_unit ? burst_unit : "");
		ret = rl_parse_burst(b, s.bytes, &v, err);
		free(b);
		if (ret)
			return ret;
		s.limit.burst = v;
		s.burst_set = true;
	}
	if (require_rate && !seen[KW_RATE]) {
		rl_errf(err, "missing 'rate RATE' (e.g. rate 100/s or rate 10mbit)");
		return -EINVAL;
	}
	if (s.action != RL_ACT_MARK) {
		/* labels given with another action are a mistake; labels left
		 * over from a mark rule changed to drop or monitor are not */
		for (k = KW_MARK; k <= KW_ECN; k++)
			if (seen[k]) {
				rl_errf(err, "%s needs action mark (the action is %s)",
					keywords[k], rl_action_name(s.action));
				return -EINVAL;
			}
		s.mark_flags = 0;
		s.mark = 0;
		s.dscp = 0;
	}
	if (!s.burst_set)
		s.limit.burst = rl_rule_burst(&s);
	if (!s.cluster)
		s.share_q = s.bank_ms = 0;
	*spec = s;
	return 0;
}

/* Rule names: 1..31 characters of [A-Za-z0-9_.-], so they are safe in
 * YAML, JSON, Prometheus labels and shell output without quoting. */
bool rl_name_valid(const char *n)
{
	size_t i, len = strnlen(n, RL_NAME_LEN);

	if (!len || len >= RL_NAME_LEN)
		return false;
	for (i = 0; i < len; i++) {
		char c = n[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static const char *period_name(uint64_t ns)
{
	switch (ns) {
	case NS_PER_S:
		return "second";
	case NS_PER_MIN:
		return "minute";
	case NS_PER_HOUR:
		return "hour";
	case NS_PER_DAY:
		return "day";
	default:
		return "period";
	}
}

int rl_rule_validate(const struct rl_rule_spec *spec, struct rl_err *err)
{
	struct rl_limit l = spec->limit;
	const char *why;
	uint64_t max;

	if (!rl_name_valid(spec->name)) {
		rl_errf(err, "rule name '%.*s' is invalid: use 1-%d characters of [A-Za-z0-9._-]",
			RL_NAME_LEN, spec->name, RL_NAME_LEN - 1);
		return -EINVAL;
	}
	if ((spec->has_src4 && (spec->src4.family != 4 || spec->src4.len > 32)) ||
	    (spec->has_src6 && (spec->src6.family != 6 || spec->src6.len > 128))) {
		rl_errf(err, "src: the IPv4 slot holds a non-IPv4 prefix or the IPv6 slot a non-IPv6 one");
		return -EINVAL;
	}
	if (spec->plen4 > 32 || spec->plen6 > 128) {
		rl_errf(err, "per source/%u,%u: key lengths must be 0..32 and 0..128",
			spec->plen4, spec->plen6);
		return -EINVAL;
	}
	if (spec->dport_lo > spec->dport_hi ||
	    (spec->dport_lo == 0 && spec->dport_hi != 65535)) {
		rl_errf(err, "dport %u-%u is not a range of ports 1..65535",
			spec->dport_lo, spec->dport_hi);
		return -EINVAL;
	}
	if (!(spec->dport_lo == 0 && spec->dport_hi == 65535) &&
	    spec->proto != 0 && spec->proto != IPPROTO_TCP && spec->proto != IPPROTO_UDP) {
		rl_errf(err, "dport needs proto tcp, udp or any: protocol %s has no ports",
			rl_proto_name(spec->proto));
		return -EINVAL;
	}
	if (spec->syn_only && spec->proto != IPPROTO_TCP) {
		rl_errf(err, "tcp-flags syn needs proto tcp (proto is %s)", rl_proto_name(spec->proto));
		return -EINVAL;
	}
	if (spec->action >= __RL_ACT_MAX) {
		rl_errf(err, "action %u is unknown: expected drop, monitor or mark", spec->action);
		return -EINVAL;
	}
	if (spec->action == RL_ACT_MARK &&
	    !(spec->mark_flags & (RL_MK_MARK | RL_MK_DSCP | RL_MK_ECN))) {
		rl_errf(err, "action mark needs at least one label: mark-value N, dscp N or ecn");
		return -EINVAL;
	}
	if (spec->action != RL_ACT_MARK && spec->mark_flags) {
		rl_errf(err, "%s needs action mark (the action is %s)",
			spec->mark_flags & RL_MK_MARK ? "mark-value" :
			spec->mark_flags & RL_MK_DSCP ? "dscp" : "ecn",
			rl_action_name(spec->action));
		return -EINVAL;
	}
	if (spec->mark_flags & ~(RL_MK_MARK | RL_MK_DSCP | RL_MK_ECN) || spec->dscp > 63) {
		rl_errf(err, "dscp %u is not 0..63 (or unknown label flags 0x%x)",
			spec->dscp, spec->mark_flags);
		return -EINVAL;
	}
	if (spec->block_ns > RL_MAX_BLOCK_NS) {
		rl_errf(err, "block-for is longer than the maximum of 365d");
		return -EINVAL;
	}
	if (l.algo >= __RL_ALGO_MAX) {
		rl_errf(err, "algorithm %u is unknown", l.algo);
		return -EINVAL;
	}
	if (!l.rate || !l.period_ns) {
		rl_errf(err, "rate is missing or zero: a rule needs a rate of at least 1 per period");
		return -EINVAL;
	}
	l.burst = rl_rule_burst(spec);
	if (l.algo == RL_ALGO_SLIDING_LOG && spec->bytes) {
		rl_errf(err, "algo sliding-log counts packets, not bytes: use a packet rate (e.g. 30/min) or another algorithm");
		return -EINVAL;
	}
	if (l.algo == RL_ALGO_SLIDING_LOG && l.rate > RL_SLOG_MAX) {
		rl_errf(err, "algo sliding-log keeps at most %d timestamps per key, so its rate must be <= %d per %s (got %llu): use sliding-window for larger limits",
			RL_SLOG_MAX, RL_SLOG_MAX, period_name(l.period_ns),
			(unsigned long long)l.rate);
		return -EINVAL;
	}
	max = l.algo == RL_ALGO_FIXED_WINDOW ? RL_FW_CNT_MASK - RL_MAX_COST :
	      l.algo == RL_ALGO_SLIDING_WINDOW ? RL_SW_CNT_MASK - RL_MAX_COST : UINT64_MAX;
	if (l.rate > max) {
		rl_errf(err, "algo %s counts at most %llu units per window (%s counts in one state word), got %llu per %s: use token-bucket",
			rl_algo_name(l.algo), (unsigned long long)max,
			l.algo == RL_ALGO_FIXED_WINDOW ? "32-bit" : "26-bit",
			(unsigned long long)l.rate, period_name(l.period_ns));
		return -EINVAL;
	}
	if (spec->bytes && l.burst < RL_MIN_BYTE_BURST) {
		rl_errf(err, "burst %llu is below one full frame: a byte-rate burst must be at least %llu bytes",
			(unsigned long long)l.burst, RL_MIN_BYTE_BURST);
		return -EINVAL;
	}
	if (rl_algo_is_gcra(l.algo)) {
		/* what a live key can owe must fit the 56-bit state word */
		struct rl_lconst k;

		rl_lconst_compile(&l, spec->bytes, &k);
		max = k.unit && k.unit <= RL_UNIT_MAX ? RL_DEBT_MAX / k.unit : 0;
		if (l.burst > max) {
			rl_errf(err, "burst %llu at %llu per %s is too large for the 56-bit state word; max is %llu",
				(unsigned long long)l.burst, (unsigned long long)l.rate,
				period_name(l.period_ns), (unsigned long long)max);
			return -EINVAL;
		}
	}
	why = rl_limit_check(&l, spec->bytes);
	if (why) {
		rl_errf(err, "limit: %s", why);
		return -EINVAL;
	}
	if (spec->cluster) {
		if (!spec->per_rule) {
			rl_errf(err, "scope cluster needs per rule: a cluster shares one bucket per rule (per-source cluster limits are not built)");
			return -EINVAL;
		}
		why = rl_share_check(&l, spec->bytes);
		if (why) {
			rl_errf(err, "%s", why);
			return -EINVAL;
		}
	}
	if (spec->share_q > RL_SHARE_ONE || spec->bank_ms > 60000 ||
	    (!spec->cluster && (spec->share_q || spec->bank_ms))) {
		rl_errf(err, "share %u is not 0..%u (or the rule is not scope cluster)",
			spec->share_q, RL_SHARE_ONE);
		return -EINVAL;
	}
	return 0;
}

/* ---- explain SRC [proto P] [dport N] [syn] ------------------------------ */

int rl_parse_explain_words(int argc, char **argv, struct rl_explain_req *q,
			   struct rl_err *err)
{
	struct rl_explain_req r = {};
	bool seen_proto = false;
	uint64_t v;
	int i;

	if (argc < 1 || !argv[0]) {
		rl_errf(err, "explain: missing SRC: an IPv4 or IPv6 address");
		return -EINVAL;
	}
	if (rl_parse_prefix(argv[0], &r.src, err))
		return -EINVAL;
	if (r.src.len != (r.src.family == 4 ? 32 : 128)) {
		rl_errf(err, "explain: SRC '%.*s%s' is a prefix: give one address (a packet's source)",
			Q(argv[0]));
		return -EINVAL;
	}
	for (i = 1; i < argc; i++) {
		const char *w = argv[i];

		if (!strcmp(w, "proto") || !strcmp(w, "dport")) {
			if (i + 1 >= argc) {
				rl_errf(err, "explain: '%s' needs a value", w);
				return -EINVAL;
			}
			if (!strcmp(w, "proto")) {
				if (seen_proto) {
					rl_errf(err, "explain: proto given twice");
					return -EINVAL;
				}
				if (rl_parse_proto(argv[++i], &r.proto, err))
					return -EINVAL;
				seen_proto = true;
			} else {
				if (r.has_dport) {
					rl_errf(err, "explain: dport given twice");
					return -EINVAL;
				}
				if (parse_uint(argv[++i], 65535, &v)) {
					rl_errf(err, "explain: dport '%.*s%s' is not a port 0..65535",
						Q(argv[i]));
					return -EINVAL;
				}
				r.dport = (uint16_t)v;
				r.has_dport = true;
			}
		} else if (!strcmp(w, "syn")) {
			if (r.syn) {
				rl_errf(err, "explain: syn given twice");
				return -EINVAL;
			}
			r.syn = true;
		} else {
			rl_errf(err, "explain: unexpected '%.*s%s': want proto P, dport N or syn", Q(w));
			return -EINVAL;
		}
	}
	if (r.syn && !r.proto)
		r.proto = IPPROTO_TCP;
	if (r.syn && r.proto != IPPROTO_TCP) {
		rl_errf(err, "explain: syn is a TCP flag, but proto is %s", rl_proto_name(r.proto));
		return -EINVAL;
	}
	if (r.has_dport && r.proto != IPPROTO_TCP && r.proto != IPPROTO_UDP) {
		rl_errf(err, "explain: dport needs proto tcp or udp");
		return -EINVAL;
	}
	*q = r;
	return 0;
}

/*
 * A TCP listen address, numeric: "127.0.0.1:9471", "[::1]:9471",
 * "0.0.0.0:9471" (what --metrics and the config's `metrics:` take).
 */
int rl_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	};
	struct addrinfo *res = NULL;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':'), *port;
	size_t hlen;
	char *end;
	long p;

	if (!colon || colon == s)
		return -EINVAL;
	port = colon + 1;
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hlen < 3 || s[hlen - 1] != ']')
			return -EINVAL;
		s++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = 0;
	p = strtol(port, &end, 10);
	if (!*port || *end || p < 1 || p > 65535)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &res) || !res)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}
