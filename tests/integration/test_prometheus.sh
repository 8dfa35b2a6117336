#!/bin/bash
# tests/integration/test_prometheus.sh - deploy/prometheus.yml, its rules
# and deploy/grafana/rl.json against a real Prometheus (Debian's package):
# rlagent on a veth in a network namespace, Prometheus in the same
# namespace (loopback only, its own temporary storage) scraping it with
# the shipped config (target and intervals adjusted for a test), a bounded
# UDP flood from a second namespace, and queries: the drop rate of the
# flooded rule (against the rate `rlctl stats` shows), the recording
# rules, and every query of the Grafana dashboard, whose metric names must
# all exist in the agent's output.  Protocol: tests/run.sh (PASS/FAIL/SKIP
# lines, non-zero exit on failure).
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
TEST=prometheus
NS=rlprom$$
SRC_NS=rlpsrc$$
DUT_IF=rlpd$$
SRC_IF=rlps$$
PIN=/sys/fs/bpf/rlprom$$
SOCK=/tmp/rlprom$$.sock
MPORT=9471           # the agent's default, inside our own namespace
PPORT=9090           # Prometheus's default, likewise
TMP=$(mktemp -d /tmp/rlprom$$.XXXX)
PROM_PID=""
FLOOD_PID=""

cleanup_extra() {
	[[ -n $FLOOD_PID ]] && kill "$FLOOD_PID" 2>/dev/null && wait "$FLOOD_PID" 2>/dev/null
	[[ -n $PROM_PID ]] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
}
trap cleanup EXIT INT TERM

need_root
need_built rlagent rlctl
for b in prometheus promtool; do
	command -v $b >/dev/null || { echo "FAIL prometheus/$b: $b missing (Debian package prometheus; make deps installs it)"; exit 1; }
done
mount_bpffs

# ---- the shipped files, as they are
out=$(promtool check config deploy/prometheus.yml 2>&1) && pass check-config || fail check-config "$out"
out=$(promtool check rules deploy/rl-rules.yml 2>&1) && pass check-rules || fail check-rules "$out"
if python3 -c '
import json, sys
d = json.load(open("deploy/grafana/rl.json"))
assert d["panels"] and all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in d["panels"])
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids))
assert {v["name"] for v in d["templating"]["list"]} == {"datasource", "instance", "rule"}
' 2>"$TMP/gerr"; then
	pass grafana-json
else
	fail grafana-json "$(cat "$TMP/gerr")"
fi

netns_pair 10.235.0.1/24 10.235.0.2/24 || no_netns

cat >"$TMP/rl.yaml" <<YAML
version: 1
interfaces:
  - $DUT_IF
rules:
  - name: udp-flood
    proto: udp
    rate: 100/s
    burst: 20
  - name: quiet
    proto: icmp
    rate: 5/s
YAML
spawn_agent 100 "$TMP/rl.yaml" --xdp-mode generic --metrics "127.0.0.1:$MPORT" --foreground ||
	{ echo "FAIL prometheus/agent-start: rlagent did not come up"; cat "$TMP/agent.log"; exit 1; }
pass agent-start

# the shipped config, scraping every second for the test
mkdir -p "$TMP/etc" "$TMP/data"
sed -e 's/scrape_interval: 15s/scrape_interval: 1s/' -e 's/evaluation_interval: 15s/evaluation_interval: 1s/' \
	-e "s/127.0.0.1:9471/127.0.0.1:$MPORT/" deploy/prometheus.yml >"$TMP/etc/prometheus.yml"
cp deploy/rl-rules.yml "$TMP/etc/"
grep -q 'scrape_interval: 1s' "$TMP/etc/prometheus.yml" || fail test-config "could not adjust the interval"
nsenter --net="/run/netns/$NS" prometheus --config.file="$TMP/etc/prometheus.yml" \
	--storage.tsdb.path="$TMP/data" --web.listen-address="127.0.0.1:$PPORT" \
	--storage.tsdb.retention.time=1h >"$TMP/prom.log" 2>&1 &
PROM_PID=$!

# q EXPR: the query's JSON answer from the API (empty on no answer)
q() {
	nsenter --net="/run/netns/$NS" python3 -c '
import sys, urllib.parse, urllib.request
u = "http://127.0.0.1:%s/api/v1/query?%s" % (sys.argv[1], urllib.parse.urlencode({"query": sys.argv[2]}))
try:
    print(urllib.request.urlopen(u, timeout=5).read().decode())
except urllib.error.HTTPError as e:
    print(e.read().decode())
except Exception as e:
    print("")
' "$PPORT" "$1"
}
# val EXPR: the first sample's value, or "none"
val() {
	q "$1" | python3 -c '
import json, sys
try:
    j = json.load(sys.stdin)
    r = j["data"]["result"]
    print(r[0]["value"][1] if r else "none")
except Exception:
    print("none")'
}

up=none
for _ in $(seq 150); do
	up=$(val 'up{job="rlagent"}')
	[[ $up == 1 ]] && break
	kill -0 "$PROM_PID" 2>/dev/null || break
	sleep 0.2
done
[[ $up == 1 ]] && pass scrapes-agent || { fail scrapes-agent "up = $up"; tail -5 "$TMP/prom.log"; }

# ---- a bounded flood: about 3000 datagrams a second, at most 60000 or 25 s
nsenter --net="/run/netns/$SRC_NS" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.time()
for i in range(60000):
    s.sendto(b"x" * 64, ("10.235.0.2", 9))
    if i % 100 == 0:
        now = time.time()
        if now - start > 25:
            break
        ahead = i / 3000.0 - (now - start)
        if ahead > 0:
            time.sleep(ahead)
' &
FLOOD_PID=$!
drops() { ctl -j stats udp-flood | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"][0]["drop"]["packets"])'; }
sleep 2
d0=$(drops); t0=$(date +%s.%N)
sleep 6
d1=$(drops); t1=$(date +%s.%N)
want=$(python3 -c "print(($d1 - $d0) / ($t1 - $t0))")
got=$(val 'sum(rate(rl_packets_total{rule="udp-flood",verdict="drop"}[5s]))')
if python3 -c "import sys; sys.exit(0 if $want > 500 and 0.5 * $want <= float('$got') <= 1.5 * $want else 1)" 2>/dev/null; then
	pass drop-rate-query
else
	fail drop-rate-query "Prometheus says ${got}/s, rlctl stats ${want}/s"
fi
rec=$(val 'rule:rl_dropped_packets:rate1m{rule="udp-flood"}')
python3 -c "import sys; sys.exit(0 if float('$rec') > 100 else 1)" 2>/dev/null && pass recording-rule ||
	fail recording-rule "rule:rl_dropped_packets:rate1m = $rec"
ratio=$(val 'rule:rl_drop_ratio:rate1m{rule="udp-flood"}')
python3 -c "import sys; sys.exit(0 if 0.5 < float('$ratio') < 1 else 1)" 2>/dev/null && pass drop-ratio-rule ||
	fail drop-ratio-rule "rule:rl_drop_ratio:rate1m = $ratio"
wait "$FLOOD_PID" 2>/dev/null
FLOOD_PID=""

# ---- every Grafana query runs, and names only metrics the agent exports
nsenter --net="/run/netns/$NS" python3 -c '
import urllib.request, sys
open(sys.argv[2], "wb").write(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read())
' "$MPORT" "$TMP/metrics.txt"
python3 -c '
import json, re, sys
d = json.load(open("deploy/grafana/rl.json"))
for p in d["panels"]:
    for t in p["targets"]:
        e = t["expr"].replace("$__rate_interval", "10s").replace("$rule", ".*").replace("$instance", ".*")
        print(p["id"], e.replace("\n", " "))
' >"$TMP/exprs"
bad=""
have=$(grep -v '^#' "$TMP/metrics.txt" | sed -E 's/[{ ].*//' | sort -u)
while read -r id expr; do
	ans=$(q "$expr")
	python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["status"] == "success" else 1)' "$ans" 2>/dev/null ||
		bad="$bad panel $id: $ans;"
	for m in $(grep -oE '\brl_[a-z_]+' <<<"$expr" | sort -u); do
		grep -qx "$m" <<<"$have" || bad="$bad panel $id: no metric $m;"
	done
done <"$TMP/exprs"
[[ -z $bad ]] && pass grafana-queries || fail grafana-queries "$bad"
drop_panel=$(python3 -c '
import json
d = json.load(open("deploy/grafana/rl.json"))
print([p for p in d["panels"] if p["title"] == "Dropped packets/s by rule"][0]["targets"][0]["expr"]
      .replace("$__rate_interval", "30s").replace("$rule", ".*").replace("$instance", ".*"))')
v=$(q "$drop_panel" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print([x["value"][1] for x in r if x["metric"].get("rule") == "udp-flood"][0])' 2>/dev/null)
python3 -c "import sys; sys.exit(0 if float('${v:-0}') > 0 else 1)" 2>/dev/null && pass grafana-drop-panel ||
	fail grafana-drop-panel "the panel's query gave '${v:-nothing}' for udp-flood"
# rules-file metric names exist too
bad=""
# (metric names, not the recorded series: those are level:metric:operation)
for m in $(grep -oE '(^|[^:a-z_])rl_[a-z_]+' deploy/rl-rules.yml | grep -oE 'rl_[a-z_]+' | sort -u); do
	grep -qx "$m" <<<"$have" || bad="$bad $m"
done
[[ -z $bad ]] && pass rules-metrics-exist || fail rules-metrics-exist "not exported:$bad"
kill -0 "$AGENT_PID" 2>/dev/null && pass agent-alive || fail agent-alive "rlagent died"

exit $((fails > 0))
