#!/bin/bash
# test_cluster.sh - scope cluster rules end to end (issue 11): a real
# redis-server on the loopback of a test namespace (a port chosen there),
# three rlagents on three veth pairs in that namespace, each with its own
# pin dir, control socket and metrics port, and one rule
#   udp rate 3000/s burst 300 per rule scope cluster
# flooded unevenly from a generator namespace (rlgen asked for 70% / 20% /
# 10%; on a loaded 2-core machine it sends less and more evenly, several
# times the limit in all: the checks use what the agents saw).  Checks:
#   cluster/accuracy     the three agents' admitted packets over 10 s are
#                        at most 5% above burst + rate*t and at most 5%
#                        below it (below: of what the flood offered, where
#                        a stalled generator offered less; see check(); a
#                        run short on the low side alone runs once more),
#                        and no interval between two samples (0.25 s
#                        apart) is above burst + rate*t + the documented
#                        bound (docs/ARCHITECTURE.md "Cluster-wide quotas")
#   cluster/redis-down   Redis stopped mid-flood: on-redis-down last-share
#                        keeps the limit (never above it by more than
#                        5% or the bound; what it admits less is shown);
#                        counted in status and /metrics
#   cluster/converge     Redis started again: every agent sets its shares
#                        from all three nodes' reports within two sync
#                        periods (+ Redis start-up) of the restart
#   cluster/local        on-redis-down local: each host enforces the whole
#                        limit while Redis is down
#   cluster/slow-redis   Redis stopped (SIGSTOP): rule changes still apply
#                        at once; the agent's loop never waits for Redis
#   cluster/bad-*        bad config and CLI input is refused with a clear
#                        message and the rules stay as they were
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUTPUT:-build}
P=$$
GNS=rlcg$P
DNS=rlcd$P
TMP=$(mktemp -d /tmp/rlcluster$P.XXXXXX)
PIN=/sys/fs/bpf/rlcl$P
RPORT=6379
MPORT=19470
REDIS_PID=""
AGENT=("" "" "" "")
BG=()
fails=0
# tools/bench_cluster.sh runs the accuracy phase alone at other sync
# periods: SYNC_MS, and CLUSTER_BENCH_OUT=FILE for its result (JSON)
SYNC_MS=${SYNC_MS:-100}
BENCH_OUT=${CLUSTER_BENCH_OUT:-}

cleanup() {
	local p
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${AGENT[@]}"; do [[ -n $p ]] && kill -9 "$p" 2>/dev/null; done
	if [[ -n $REDIS_PID ]]; then
		kill -CONT "$REDIS_PID" 2>/dev/null
		kill -9 "$REDIS_PID" 2>/dev/null
	fi
	wait 2>/dev/null
	ip netns del "$GNS" 2>/dev/null
	ip netns del "$DNS" 2>/dev/null
	rm -rf "$PIN"a "$PIN"b "$PIN"c "$TMP"
}
trap cleanup EXIT INT TERM

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
ctl() { local i=$1; shift; "$OUT/rlctl" -S "$TMP/a$i.sock" "$@"; }
indut() { nsenter --net="/run/netns/$DNS" -- "$@"; }
ingen() { nsenter --net="/run/netns/$GNS" -- "$@"; }
# background jobs run nsenter itself (it execs the program), never through
# these functions: $! must be the program's PID, not a subshell's
LET=(x a b c)

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP cluster: needs root (netns, XDP)"
	exit 0
fi
command -v redis-server >/dev/null || { echo "FAIL cluster/redis: redis-server is not installed (make deps)"; exit 1; }

# --- the lab: gen and dut namespaces joined by three veth pairs ----------
ip netns add "$GNS" && ip netns add "$DNS" || { echo "FAIL cluster/lab: ip netns add"; exit 1; }
q=$(nproc)
for i in 1 2 3; do
	g=rc${P}g$i d=rc${P}d$i
	ip link add "$g" numtxqueues "$q" numrxqueues "$q" netns "$GNS" type veth \
		peer name "$d" numtxqueues "$q" numrxqueues "$q" netns "$DNS" &&
	ingen ip link set "$g" address 02:81:0$i:00:00:01 &&
	indut ip link set "$d" address 02:81:0$i:00:00:02 &&
	ingen ip addr add 10.81.$i.1/24 dev "$g" &&
	indut ip addr add 10.81.$i.2/24 dev "$d" &&
	ingen ip link set "$g" up && indut ip link set "$d" up &&
	ingen ip neigh replace 10.81.$i.2 lladdr 02:81:0$i:00:00:02 dev "$g" nud permanent ||
		{ echo "FAIL cluster/lab: veth $i"; exit 1; }
done
ingen ip link set lo up && indut ip link set lo up || { echo "FAIL cluster/lab: lo"; exit 1; }

# --- Redis on the dut namespace's loopback --------------------------------
start_redis() {
	nsenter --net="/run/netns/$DNS" -- redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no \
		--protected-mode yes --loglevel warning >>"$TMP/redis.log" 2>&1 &
	REDIS_PID=$!
	for _ in $(seq 50); do
		indut redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	return 1
}
stop_redis() {
	kill -CONT "$REDIS_PID" 2>/dev/null
	kill "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	REDIS_PID=""
}
start_redis || { echo "FAIL cluster/redis: redis-server did not start: $(tail -3 "$TMP/redis.log")"; exit 1; }
pass cluster/redis-start

write_cfg() {   # write_cfg I ON_DOWN
	local i=$1
	cat >"$TMP/a$i.yaml" <<YAML
version: 1
interfaces: [rc${P}d$i]
rules:
  - name: web
    proto: udp
    rate: 3000/s
    burst: 300
    per: rule
    scope: cluster
cluster:
  name: t$P
  redis: 127.0.0.1:$RPORT
  node: n$i
  sync: ${SYNC_MS}ms
  on-redis-down: $2
YAML
}

start_agent() {
	local i=$1
	nsenter --net="/run/netns/$DNS" -- "$OUT/rlagent" -c "$TMP/a$i.yaml" --socket "$TMP/a$i.sock" \
		--pin-dir "$PIN${LET[$i]}" --metrics 127.0.0.1:$((MPORT + i)) \
		>>"$TMP/agent$i.log" 2>&1 &
	AGENT[$i]=$!
	for _ in $(seq 100); do
		ctl "$i" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$TMP/agent$i.log"
	return 1
}

# cl_json I: the agent's status.cluster
cl_json() { ctl "$1" -j status | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["cluster"]))'; }

# wait_synced SECONDS: all three connected, each seeing 3 nodes; prints ms waited
wait_synced() {
	local t0 now i ok
	t0=$(date +%s%N)
	while :; do
		ok=1
		for i in 1 2 3; do
			cl_json "$i" | python3 -c 'import json,sys
c = json.load(sys.stdin)
sys.exit(0 if c["connected"] and c["rules"] and c["rules"][0]["nodes"] == 3 else 1)' || ok=0
		done
		now=$(date +%s%N)
		[[ $ok == 1 ]] && { echo $(((now - t0) / 1000000)); return 0; }
		((now - t0 > $1 * 1000000000)) && return 1
		sleep 0.02
	done
}

for i in 1 2 3; do write_cfg $i last-share; done
for i in 1 2 3; do
	start_agent $i || { echo "FAIL cluster/agent-start: agent $i did not come up"; exit 1; }
done
pass cluster/agent-start
if ms=$(wait_synced 5); then
	pass cluster/synced
else
	fail cluster/synced "the agents did not all see three nodes: $(cl_json 1)"
fi

# The sampler: every 0.25 s, the three agents' counters of rule web read
# over their control sockets in one go (a few ms apart, not the seconds
# three rlctl runs can take on a loaded machine): "t_s pass1 pass2 pass3
# seen1 seen2 seen3" lines (seen = every verdict: what the host was offered).
cat >"$TMP/sampler.py" <<'PY'
import json, socket, sys, time
socks, out, secs = sys.argv[1:4], sys.argv[4], float(sys.argv[5])
def stats(path):
    s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(path)
    s.sendall(b'{"argv": ["stats"]}\n'); buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(65536)
        if not d: break
        buf += d
    s.close()
    r = next(r for r in json.loads(buf)["rules"] if r["name"] == "web")
    return r["pass"]["packets"], sum(r[v]["packets"] for v in ("pass", "drop", "monitor", "block", "mark"))
t0 = time.monotonic()
with open(out, "w") as f:
    while time.monotonic() - t0 < secs:
        try:
            v = [stats(p) for p in socks]
        except Exception as e:
            print(f"sampler: {e}", file=sys.stderr); time.sleep(0.25); continue
        t = time.monotonic() - t0
        f.write(f"{t:.4f} " + " ".join(str(p) for p, _ in v) + " " + " ".join(str(s) for _, s in v) + "\n")
        f.flush()
        time.sleep(0.25)
PY

# flood SECONDS LABEL [CMD_AT_SECOND...]: 70/20/10% of the load for
# SECONDS, sampled into $TMP/LABEL.samples; CMD i runs at second i.
flood() {
	local secs=$1 label=$2 i pids=() k=0 spid
	shift 2
	# Uneven, and far above the limit on every host: host 1 unpaced (as
	# fast as its CPU allows, bounded by the duration), hosts 2 and 3
	# paced.  rlgen paces in runs of 5 ms worth; a live-frames run takes
	# longer than that on a loaded VM, so a paced generator sends less
	# than asked (a few thousand packets/s here).  The checks use what the
	# agents saw.
	local rates=(0 0 1400000 400000)
	python3 "$TMP/sampler.py" "$TMP/a1.sock" "$TMP/a2.sock" "$TMP/a3.sock" \
		"$TMP/$label.samples" $((secs + 1)) 2>>"$TMP/sampler.log" &
	spid=$!
	BG+=($spid)
	for i in 1 2 3; do
		local ra=()
		[[ ${rates[$i]} != 0 ]] && ra=(--rate "${rates[$i]}")
		nsenter --net="/run/netns/$GNS" -- "$OUT/rlgen" -j -i rc${P}g$i --dst-mac 02:81:0$i:00:00:02 -4 --dst 10.81.$i.2 \
			--src-base 10.200.0.0/16 -n 256 --proto udp --dport 9 --count 100000000 \
			--duration "$secs" "${ra[@]}" --batch 64 --cpus $(((i - 1) % q)) \
			>"$TMP/$label.gen$i.json" 2>"$TMP/$label.gen$i.log" &
		pids+=($!)
		BG+=($!)
	done
	while ((k < secs)); do
		sleep 1
		k=$((k + 1))
		if ((k <= $#)); then
			eval "${!k}" >>"$TMP/$label.events" 2>&1
		fi
	done
	for i in "${pids[@]}"; do wait "$i"; done
	wait "$spid"
	BG=()
}

# check LABEL NAME TOLERANCE FROM TO: admissions between the samples
# nearest FROM and TO seconds (the generators all running) at most
# TOLERANCE above BURST + RATE*t, and at most LOW_TOL (5%) below it (below:
# against what the flood offered where it fell under the limit).  On a
# loaded 2-core machine the generators deliver in bursts, and a host whose
# burst lags leaves its share idle while the others are held to theirs
# (measured -3% to -9% at a load average of 7-11, -2% at 2): a run short on
# the low side alone is flooded once more (docs/ARCHITECTURE.md
# "Cluster-wide quotas").  And over every interval between two
# samples of the whole run, never above BURST + RATE*t + the documented
# bound (docs/ARCHITECTURE.md "Cluster-wide quotas": the credit the hosts'
# buckets can bank beyond the burst, plus one sync period of the whole
# rate for drift) plus what two reads of three agents' counters a few ms
# apart can add (2% of a second).
check() {
	python3 - "$TMP/$1.samples" "$2" "$3" "$4" "$5" "$SYNC_MS" "${6:-both}" <<'PY'
import sys
path, name, tol, t_from, t_to, sync_ms, sides = sys.argv[1:8]
tol, t_from, t_to, sync = float(tol), float(t_from), float(t_to), float(sync_ms) / 1000
rate, burst = 3000.0, 300.0
S = [list(map(float, l.split())) for l in open(path) if l.strip()]
S = [(s[0], sum(s[1:4]), s[1:4], s[4:7]) for s in S]
a = min(S, key=lambda s: abs(s[0] - t_from)); b = min(S, key=lambda s: abs(s[0] - t_to))
t = b[0] - a[0]; adm = b[1] - a[1]; allowed = burst + rate * t
hosts = [int(b[2][i] - a[2][i]) for i in range(3)]
seen = [int(b[3][i] - a[3][i]) for i in range(3)]
print(f"    {name}: {t:.2f} s: offered {seen} ({100 * seen[0] / max(1, sum(seen)):.0f}/{100 * seen[1] / max(1, sum(seen)):.0f}/{100 * seen[2] / max(1, sum(seen)):.0f}%), "
      f"admitted {hosts} = {int(adm)}, burst + rate*t = {allowed:.0f} ({100.0 * (adm - allowed) / allowed:+.2f}%)")
# offered and admitted per host and second: how even the flood was
rows = []
for k in range(int(S[-1][0])):
    x = min(S, key=lambda s: abs(s[0] - k)); y = min(S, key=lambda s: abs(s[0] - k - 1))
    if y[0] > x[0]:
        rows.append("/".join(f"{(y[3][i] - x[3][i]) / (y[0] - x[0]):.0f}:{(y[2][i] - x[2][i]) / (y[0] - x[0]):.0f}" for i in range(3)))
print("    per second, offered:admitted per host:", "  ".join(rows))
# What one exact bucket could have admitted at most, interval by interval
# (fluid model): min(offered, rate * dt).  With the flood above the limit
# throughout, that is rate * t and the check is the issue's "within 5% of
# burst + rate*t"; when a loaded machine stalls the generators (offered
# below the limit), those intervals count what was offered.
W = [s for s in S if a[0] <= s[0] <= b[0]]
ideal, sat = 0.0, 0.0
for x, y in zip(W, W[1:]):
    dt = y[0] - x[0]; o = sum(y[3]) - sum(x[3])
    ideal += min(o, rate * dt)
    if o >= rate * dt: sat += dt
print(f"    flood above the limit {100 * sat / max(t, 1e-9):.0f}% of the time; an exact single bucket: "
      f"at most {ideal:.0f} + burst ({100.0 * (adm - ideal - burst) / (ideal + burst):+.2f}%)")
bad = []
if t < 0.8 * (t_to - t_from): bad.append(f"only {t:.2f} s sampled")
if sides == "both" and sat < 0.5 * t:
    bad.append(f"the flood was above the limit only {sat:.1f} of {t:.1f} s (machine too loaded)")
if adm > allowed * (1 + tol): bad.append(f"admitted {adm:.0f} > {allowed:.0f} + {tol * 100:.0f}%")
low_tol = 0.05
if sides == "both" and adm < (ideal + burst) * (1 - low_tol):
    bad.append(f"admitted {adm:.0f} < {ideal + burst:.0f} - {low_tol * 100:.0f}%")
bank = max(2 * sync, min(4 * sync, 1.0))
bound = max(burst, rate * bank) - burst + rate * sync + 0.02 * rate
worst = max(((S[j][1] - S[i][1]) - (burst + rate * (S[j][0] - S[i][0])), S[i][0], S[j][0])
            for i in range(len(S)) for j in range(i + 1, len(S)))
print(f"    worst interval: {worst[0]:+.0f} over burst + rate*t ({worst[1]:.2f}..{worst[2]:.2f} s); bound +{bound:.0f}")
if worst[0] > bound: bad.append(f"{worst[0]:.0f} over burst + rate*t in {worst[1]:.2f}..{worst[2]:.2f} s > bound {bound:.0f}")
print(("FAIL " + name + ": " + "; ".join(bad)) if bad else ("PASS " + name))
sys.exit(1 if bad else 0)
PY
}

# 1. accuracy over 10 s
# 12 s of flood, 10 s measured from when all three generators run
tc0=$(date +%s%N)
cmds0=$(for i in 1 2 3; do cl_json $i; done | python3 -c 'import json,sys; print(sum(json.loads(l)["redis_commands"] for l in sys.stdin))')
flood 12 acc
check acc cluster/accuracy 0.05 1.5 11.5 >"$TMP/acc.check"; rc=$?
# One more flood only when the first fell short on the low side alone
# (a loaded machine's generators stalling: see check()); a run above the
# limit is never retried.
if ((rc)) && grep -q "^FAIL" "$TMP/acc.check" && ! grep -qE "^FAIL .*(> |bound)" "$TMP/acc.check"; then
	sed 's/^FAIL /first run: /' "$TMP/acc.check"
	flood 12 acc
	check acc cluster/accuracy 0.05 1.5 11.5 >"$TMP/acc.check"; rc=$?
fi
cat "$TMP/acc.check"
((rc)) && fails=$((fails + 1))
cmds1=$(for i in 1 2 3; do cl_json $i; done | python3 -c 'import json,sys; print(sum(json.loads(l)["redis_commands"] for l in sys.stdin))')
tc1=$(date +%s%N)
if [[ -n $BENCH_OUT ]]; then
	python3 - "$TMP/acc.check" "$(( (tc1 - tc0) / 1000000 ))" "$SYNC_MS" "$cmds0" "$cmds1" >"$BENCH_OUT" <<'PY'
import json, re, sys
txt = open(sys.argv[1]).read()
m = re.search(r"admitted \[.*?\] = (\d+), burst \+ rate\*t = (\d+) \(([-+0-9.]+)%\)", txt)
w = re.search(r"worst interval: ([-+0-9]+)", txt)
b = re.search(r"above the limit (\d+)% of the time; an exact single bucket: at most (\d+) \+ burst \(([-+0-9.]+)%\)", txt)
secs = int(sys.argv[2]) / 1000.0
print(json.dumps({"sync_ms": int(sys.argv[3]), "admitted": int(m.group(1)), "allowed": int(m.group(2)),
                  "error_pct": float(m.group(3)), "worst_interval_over": int(w.group(1)),
                  "flood_above_limit_pct": int(b.group(1)), "error_vs_offered_pct": float(b.group(3)),
                  "redis_commands_per_s_per_agent": (int(sys.argv[5]) - int(sys.argv[4])) / 3 / secs,
                  "pass": "PASS" in txt.splitlines()[-1]}))
PY
	exit 0
fi
for i in 1 2 3; do
	cl_json $i | python3 -c 'import json,sys
c = json.load(sys.stdin); r = c["rules"][0]
print("    agent n%s: share %.3f (node shares add up to %.3f on average), local %.0f/s, demand %d/s, cluster admitted %d/s, sync %.2f ms, %d commands" % (
      sys.argv[1], r["share"], r["cluster_share_sum"], r["local_rate_per_s"], r["demand_per_s"], r["cluster_admitted_per_s"],
      c["last_sync_latency_s"] * 1e3, c["redis_commands"]))' $i
done
keys=$(indut redis-cli -p "$RPORT" --scan --pattern "rl:t$P:*" | tr '\n' ' ')
fields=$(indut redis-cli -p "$RPORT" hkeys "rl:t$P:rule:web" | sort | tr '\n' ' ')
[[ $keys == "rl:t$P:rule:web " && $fields == "n1 n2 n3 " ]] && pass cluster/key-prefix ||
	fail cluster/key-prefix "keys '$keys' fields '$fields'"

# 2. Redis stops at 2 s and comes back at 5 s of an 8 s flood (last-share)
down_before=$(cl_json 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["down_syncs"])')
flood 9 down "" "stop_redis" "" "cl_json 1 >$TMP/down.status1" "date +%s%3N >$TMP/restart_ms; start_redis"
# the limit must hold (upper side); with the shares frozen while demand
# moves between hosts the cluster may admit less, which is shown
check down cluster/redis-down 0.05 1.5 8.5 upper || fails=$((fails + 1))
python3 - "$TMP/down.status1" "$down_before" <<'PY' && pass cluster/redis-down-visible || fail cluster/redis-down-visible "status during the outage: $(cat "$TMP/down.status1")"
import json, sys
c = json.load(open(sys.argv[1]))
print(f"    during the outage: connected {c['connected']}, down syncs {c['down_syncs']}, error '{c['last_error']}'")
sys.exit(0 if not c["connected"] and c["down_syncs"] > int(sys.argv[2]) and c["last_error"] else 1)
PY
m=$(indut curl -s "http://127.0.0.1:$((MPORT + 1))/metrics")
if [[ $m == *'rl_cluster_redis_down_syncs_total{policy="last-share"}'* && $m == *'rl_cluster_rule_share_ratio{rule="web"}'* &&
	$m == *rl_cluster_sync_latency_seconds* && $m == *'rl_cluster_rule_admitted_rate{rule="web"}'* ]]; then
	pass cluster/metrics
else
	fail cluster/metrics "missing cluster families in /metrics"
fi
if ! command -v promtool >/dev/null; then
	fail cluster/metrics-promtool "promtool missing (Debian package prometheus; make deps installs it)"
elif lint=$(promtool check metrics <<<"$m" 2>&1) && [[ -z $lint ]]; then
	pass cluster/metrics-promtool
else
	fail cluster/metrics-promtool "$lint"
fi
# convergence: the first sync after the restart only reports (warm-up), the
# second sets shares from all three nodes; measured from Redis answering
# PING to all three agents synced with three nodes (status polled)
# (the agents stamp the sync that first set shares after the outage: no
# polling delay in the figure)
wait_synced 5 >/dev/null
conv=$(for i in 1 2 3; do cl_json $i; done | python3 -c 'import json,sys
r = int(open(sys.argv[1]).read())
c = [json.loads(l) for l in sys.stdin]
print(max(x["settled_at_ms"] for x in c) - r, max(x["up_since_ms"] for x in c) - r)' "$TMP/restart_ms")
read -r conv up <<<"$conv"
echo "    Redis back: agents reached it ${up} ms, shares set from all nodes ${conv} ms after it was started (sync ${SYNC_MS} ms)"
if [[ -n $conv ]] && ((conv > 0 && conv <= 2 * SYNC_MS + 300)); then
	pass cluster/converge
else
	fail cluster/converge "shares set ${conv} ms after the restart (want <= 2 sync periods + Redis start-up, 300 ms)"
fi

# 3. slow Redis: SIGSTOP it; a rule change answers at once and applies
kill -STOP "$REDIS_PID"
t0=$(date +%s%N)
out=$(ctl 1 rule change web rate 2000/s burst 200 2>&1); rc=$?
t1=$(date +%s%N)
lst=$(ctl 1 rule list)
kill -CONT "$REDIS_PID"
echo "    rule change with Redis stopped: rc $rc in $(((t1 - t0) / 1000000)) ms"
if [[ $rc -eq 0 && $lst == *2000/s* ]] && ((t1 - t0 < 500000000)); then
	pass cluster/slow-redis
else
	fail cluster/slow-redis "rc=$rc out=$out list=$lst"
fi
ctl 1 rule change web rate 3000/s burst 300 >/dev/null

# 4. bad input: refused with the reason, rules unchanged
before=$(ctl 1 rule list)
expect_refused() {   # NAME WANT_IN_MESSAGE CMD...
	local name=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1); rc=$?
	if [[ $rc -ne 0 && $out == *"$want"* ]]; then pass "$name"; else fail "$name" "rc=$rc out=$out"; fi
}
expect_refused cluster/bad-scope-word "scope 'everywhere' is unknown" ctl 1 rule add x rate 10/s per rule scope everywhere
expect_refused cluster/bad-scope-per-source "needs per rule" ctl 1 rule add x rate 10/s per source scope cluster
expect_refused cluster/bad-scope-algo "token-bucket or leaky-bucket" ctl 1 rule add x rate 10/s per rule algo sliding-window scope cluster
expect_refused cluster/bad-scope-slow "too slow" ctl 1 rule add x rate 1/h per rule scope cluster
[[ $(ctl 1 rule list) == "$before" ]] && pass cluster/bad-rules-unchanged || fail cluster/bad-rules-unchanged "rule list changed"

badcfg() {   # NAME WANT YAML_CLUSTER_OR_RULE_LINES
	local name=$1 want=$2
	printf 'version: 1\ninterfaces: [lo]\n%s\n' "$3" >"$TMP/bad.yaml"
	expect_refused "$name" "$want" "$OUT/rlagent" --check-config "$TMP/bad.yaml"
}
badcfg cluster/bad-no-section "needs a top-level cluster" \
	$'rules:\n  - name: w\n    rate: 10/s\n    per: rule\n    scope: cluster'
badcfg cluster/bad-redis-addr "bad.yaml:4:10: cluster.redis: redis 'localhost' is not an address" \
	$'cluster:\n  redis: localhost'
badcfg cluster/bad-sync "sync '1ms' is out of range" $'cluster:\n  redis: 127.0.0.1:1\n  sync: 1ms'
badcfg cluster/bad-on-down "on-redis-down 'pray' is unknown" $'cluster:\n  redis: 127.0.0.1:1\n  on-redis-down: pray'
badcfg cluster/bad-key "unknown key 'port' in cluster" $'cluster:\n  redis: 127.0.0.1:1\n  port: 6379'
badcfg cluster/bad-password-file "No such file" $'cluster:\n  redis: 127.0.0.1:1\n  password-file: /nonexistent/rl.pass'
badcfg cluster/bad-node "node 'a b' is invalid" $'cluster:\n  redis: 127.0.0.1:1\n  node: "a b"'
# a report in the rule's hash that is not ours is ignored, never trusted
indut redis-cli -p "$RPORT" hset "rl:t$P:rule:web" evil "not a report" >/dev/null
sleep 0.5
c=$(cl_json 1)
python3 -c 'import json,sys
c = json.loads(sys.argv[1]); r = c["rules"][0]
sys.exit(0 if c["connected"] and r["nodes"] == 3 and 0 < r["share"] <= 1 else 1)' "$c" &&
	[[ -z $(indut redis-cli -p "$RPORT" hget "rl:t$P:rule:web" evil) ]] &&
	pass cluster/bad-report-ignored || fail cluster/bad-report-ignored "$c"

# 5. kill -9 and restart: the agent adopts the pinned rule, still scope
# cluster, with the same state version (its share read back from the
# catalog: nothing drained)
rv() { ctl 1 -j rule list | python3 -c 'import json,sys
r = next(r for r in json.load(sys.stdin)["rules"] if r["name"] == "web")
print(r["ver"], r.get("scope"), r.get("share"))'; }
before=$(rv)
kill -9 "${AGENT[1]}"; wait "${AGENT[1]}" 2>/dev/null; AGENT[1]=""
if start_agent 1; then
	after=$(rv)
	if [[ ${before%% *} == "${after%% *}" && $after == *" cluster "* ]] && grep -q "adopted" "$TMP/agent1.log"; then
		pass cluster/restart-adopts
	else
		fail cluster/restart-adopts "before '$before' after '$after'"
	fi
else
	fail cluster/restart-adopts "agent 1 did not restart"
fi

# 6. on-redis-down local: each host alone enforces the whole limit
for i in 1 2 3; do write_cfg $i local; ctl $i config reload >/dev/null || fail cluster/local "reload $i failed"; done
wait_synced 5 >/dev/null
stop_redis
sleep 0.3
flood 5 local
python3 - "$TMP/local.samples" <<'PY' && pass cluster/local || fail cluster/local "see the numbers above"
import sys
S = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
a = min(S, key=lambda s: abs(s[0] - 1.5)); b = min(S, key=lambda s: abs(s[0] - 4.5))
t = b[0] - a[0]
adm = [b[1 + i] - a[1 + i] for i in range(3)]
seen = [b[4 + i] - a[4 + i] for i in range(3)]
want = sum(min(s, 3000.0 * t) for s in seen)
print(f"    local: {t:.2f} s: offered {[int(x) for x in seen]}, admitted {[int(x) for x in adm]} = {int(sum(adm))}; "
      f"each host alone enforcing 3000/s: {want:.0f}")
sys.exit(0 if t > 2 and 0.9 * want <= sum(adm) <= want + 3 * 300 else 1)
PY

if ((fails)); then
	for i in 1 2 3; do grep -h "cluster" "$TMP/agent$i.log" | tail -8 | sed "s/^/    agent$i: /"; done
fi
echo "cluster: $fails failure(s)"
[[ $fails -eq 0 ]]
