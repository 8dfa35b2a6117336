#!/bin/bash
# tests/integration/test_dashboard.sh - the live dashboard on the metrics
# listener, in a real browser: rlagent on a veth in a network namespace, a
# bounded UDP flood from a second namespace, and headless Chromium (inside
# the agent's namespace, so it can reach nothing else) loading / while the
# flood runs.  It takes a screenshot, reads the page's numbers from the
# DOM and checks them against `rlctl stats` taken just before and after
# (during the flood) and exactly (after it); Chart.js comes from the agent
# (libjs-chart.js), and without it the page still shows its numbers.  The
# JSON endpoint: its shape, its bound on size with many rules, paths and
# methods.  Protocol: tests/run.sh (PASS/FAIL/SKIP lines, non-zero exit on
# failure).
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
TEST=dashboard
NS=rldash$$
SRC_NS=rldsrc$$
DUT_IF=rldd$$
SRC_IF=rlds$$
PIN=/sys/fs/bpf/rldash$$
SOCK=/tmp/rldash$$.sock
PORT=$((20000 + $$ % 1000))
URL=http://127.0.0.1:$PORT
TMP=$(mktemp -d /tmp/rldash$$.XXXX)
SHOT=${DASH_SHOT:-$TMP/dashboard.png}
FLOOD_PID=""

cleanup_extra() {
	[[ -n $FLOOD_PID ]] && kill "$FLOOD_PID" 2>/dev/null && wait "$FLOOD_PID" 2>/dev/null
}
trap cleanup EXIT INT TERM

need_root
need_built rlagent rlctl
CHROMIUM=$(command -v chromium || command -v chromium-browser)
[[ -n $CHROMIUM ]] || { echo "FAIL dashboard/chromium: chromium missing (Debian package chromium; make deps installs it)"; exit 1; }
CHARTJS=/usr/share/javascript/chart.js/chart.min.js
[[ -r $CHARTJS ]] || { echo "FAIL dashboard/chartjs: $CHARTJS missing (Debian package libjs-chart.js; make deps installs it)"; exit 1; }
mount_bpffs

netns_pair 10.234.0.1/24 10.234.0.2/24 || no_netns

CFG=$TMP/rl.yaml
cat >"$CFG" <<YAML
version: 1
interfaces:
  - $DUT_IF
rules:
  - name: udp-flood
    proto: udp
    rate: 200/s
    burst: 50
  - name: icmp-quiet
    proto: icmp
    rate: 5/s
  - name: udp-box
    proto: udp
    dport: 10
    rate: 5/s
    burst: 5
    block-for: 5s
YAML

start_agent() {
	spawn_agent 100 "$CFG" --xdp-mode generic --metrics "127.0.0.1:$PORT" --gc-interval 1 \
		--foreground "$@" || { show_agent_log; return 1; }
}
# chromium ARGS...: headless, in the agent's namespace, a new profile
# each time (nothing cached), bounded in time; the page polls for
# DASH_BUDGET ms of virtual time
chromium_run() {
	local prof
	prof=$(mktemp -d "$TMP/profile.XXXX")
	in_ns timeout -k 5 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
		--user-data-dir="$prof" --no-first-run --disable-extensions \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-crash-reporter --disable-breakpad --window-size=1400,1000 \
		--virtual-time-budget="${DASH_BUDGET:-4000}" "$@" 2>>"$TMP/chromium.log"
}
stats_json() { ctl -j stats >"$1"; }
# page DOM STATS_BEFORE STATS_AFTER MODE: compare the page's numbers
# (MODE between: before <= page <= after; exact: rules page == before ==
# after, no traffic meanwhile; global counters always between: stray
# packets such as IPv6 neighbour discovery may come meanwhile)
check_page() {
	python3 - "$@" <<'PY'
import json, sys
from html.parser import HTMLParser

dom, before, after, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rule = self.glob = None
        self.cell = None
        self.rules, self.globals, self.rates = {}, {}, {}
        self.polls = 0
        self.nochart = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-rule" in a:
            self.rule, self.glob = a["data-rule"], None
            self.rules[self.rule] = {}
        elif tag == "tr" and "data-global" in a:
            self.glob, self.rule = a["data-global"], None
        elif tag == "td" and self.rule and "data-verdict" in a:
            self.cell = ("v", a["data-verdict"])
        elif tag == "td" and self.rule and "data-rate" in a:
            self.cell = ("r", a["data-rate"])
        elif tag == "td" and self.glob and a.get("data-value") == "total":
            self.cell = ("g", self.glob)
        elif tag == "div" and a.get("id") == "status" and "data-polls" in a:
            self.polls = int(a["data-polls"])
        elif tag == "div" and a.get("id") == "nochart" and "block" in (a.get("style") or ""):
            self.nochart = True
    def handle_data(self, d):
        if not self.cell:
            return
        kind, key = self.cell
        if kind == "v":
            self.rules[self.rule][key] = int(d)
        elif kind == "r":
            self.rates.setdefault(self.rule, {})[key] = float(d)
        else:
            self.globals[key] = int(d)
        self.cell = None

p = P()
p.feed(open(dom).read())
b = json.load(open(before))
a = json.load(open(after))
errs = []
if p.polls < 2:
    errs.append("page made %d polls" % p.polls)
for r in a["rules"]:
    name = r["name"]
    got = p.rules.get(name)
    if got is None:
        errs.append("rule %s not on the page" % name)
        continue
    rb = [x for x in b["rules"] if x["name"] == name][0]
    for v in ("pass", "drop", "monitor", "block", "mark"):
        lo, hi = rb[v]["packets"], r[v]["packets"]
        if v not in got:
            errs.append("%s %s missing" % (name, v))
        elif mode == "exact" and not got[v] == lo == hi:
            errs.append("%s %s: page %d, rlctl stats %d" % (name, v, got[v], hi))
        elif mode == "between" and not lo <= got[v] <= hi:
            errs.append("%s %s: page %d not within rlctl stats %d..%d" % (name, v, got[v], lo, hi))
for g, c in a["global"].items():
    lo, hi = b["global"][g]["packets"], c["packets"]
    if g not in p.globals:
        errs.append("global %s missing" % g)
    elif not lo <= p.globals[g] <= hi:
        errs.append("global %s: page %d not within %d..%d" % (g, p.globals[g], lo, hi))
out = {"rules": p.rules, "rates": p.rates, "polls": p.polls, "nochart": p.nochart}
print(json.dumps(out))
if errs:
    print("; ".join(errs), file=sys.stderr)
    sys.exit(1)
PY
}

if ! start_agent; then
	echo "FAIL dashboard/agent-start: rlagent did not come up"
	exit 1
fi
pass agent-start

# ---- what the listener serves
got=$(http GET / "$TMP/index.html")
[[ $got == "200 text/html; charset=utf-8" ]] && grep -q 'src="chart.js"' "$TMP/index.html" &&
	pass page-served || fail page-served "$got"
[[ $(http GET /dashboard.js "$TMP/d.js") == "200 text/javascript"* ]] && grep -q dashboard.json "$TMP/d.js" &&
	pass script-served || fail script-served "$(http GET /dashboard.js)"
got=$(http GET /chart.js "$TMP/chart.js")
if [[ $got == "200 text/javascript"* ]] && cmp -s "$TMP/chart.js" "$CHARTJS"; then
	pass chartjs-from-package
else
	fail chartjs-from-package "$got; not the bytes of $CHARTJS"
fi
grep -q "https\?://" "$TMP/index.html" && fail page-no-internet "the page names a URL" || pass page-no-internet
got=$(http GET /dashboard.json "$TMP/d.json")
if [[ $got == "200 application/json" ]] && python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert {"time_ms", "started", "rules", "rules_total", "rules_truncated", "global", "top"} <= set(j)
assert j["rules_total"] == 3 and [r["name"] for r in j["rules"]] and not j["rules_truncated"]
assert all(set(r) >= {"name", "action", "pass", "drop", "monitor", "block", "mark"} for r in j["rules"])
assert "packets" in j["global"] and "blocklist" in j["global"]
' "$TMP/d.json"; then
	pass json-shape
else
	fail json-shape "$got $(head -c 400 "$TMP/d.json")"
fi
[[ $(http POST /dashboard.json) == 405* ]] && pass post-405 || fail post-405 "$(http POST /dashboard.json)"
[[ $(http HEAD /) == 200* ]] && pass head-200 || fail head-200 "$(http HEAD /)"
[[ $(http GET /index.htm) == 404* && $(http GET /chart.js/) == 404* ]] && pass other-404 || fail other-404 "$(http GET /index.htm)"
csp=$(in_ns python3 -c '
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("GET", "/")
print(c.getresponse().getheader("Content-Security-Policy"))' "$PORT")
[[ $csp == "default-src 'self'"* ]] && pass csp || fail csp "$csp"

# ---- the flood: bounded in packets (600k) and time (25 s), paced at
# about 30k packets a second so that it outlasts the browser's two visits;
# one datagram in three to port 10 (udp-box: in its penalty box, so its
# drops are mostly block verdicts)
nsenter --net="/run/netns/$SRC_NS" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.time()
for i in range(600000):
    s.sendto(b"x" * 64, ("10.234.0.2", 10 if i % 3 == 2 else 9))
    if i % 500 == 0:
        now = time.time()
        if now - start > 25:
            break
        ahead = i / 30000.0 - (now - start)
        if ahead > 0:
            time.sleep(ahead)
' &
FLOOD_PID=$!
sleep 1.5
stats_json "$TMP/s0.json"
chromium_run --screenshot="$SHOT" "$URL/" >/dev/null
stats_json "$TMP/s1.json"
chromium_run --dump-dom "$URL/" >"$TMP/dom1.html"
stats_json "$TMP/s2.json"
flooding=0
kill -0 "$FLOOD_PID" 2>/dev/null && flooding=1
if python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
sys.exit(0 if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) > 20000 else 1)' "$SHOT" 2>/dev/null; then
	pass screenshot
else
	fail screenshot "no PNG at $SHOT ($(tail -3 "$TMP/chromium.log"))"
fi
[[ $flooding == 1 ]] && pass during-flood || fail during-flood "the flood ended before the page was read"
if page=$(check_page "$TMP/dom1.html" "$TMP/s1.json" "$TMP/s2.json" between 2>"$TMP/err1"); then
	pass page-agrees-during-flood
else
	fail page-agrees-during-flood "$(cat "$TMP/err1") $(head -c 300 "$TMP/dom1.html")"
fi
python3 -c '
import json, sys
p = json.loads(sys.argv[1])
sys.exit(0 if p["rules"]["udp-flood"]["drop"] > 0 and p["rates"]["udp-flood"]["drop"] > 0 and not p["nochart"] else 1)' "$page" 2>/dev/null &&
	pass page-shows-drop-rate || fail page-shows-drop-rate "$page"
# a rule in its penalty box drops (block verdicts): the page's drop rate
# says so, as rl-rules.yml and Grafana count drop|block
python3 -c '
import json, sys
p = json.loads(sys.argv[1])
sys.exit(0 if p["rules"]["udp-box"]["block"] > 0 and p["rates"]["udp-box"]["drop"] > 50 else 1)' "$page" 2>/dev/null &&
	pass page-drop-rate-counts-penalty-box || fail page-drop-rate-counts-penalty-box "$page"
top=$(python3 -c '
import re, sys
d = open(sys.argv[1]).read()
m = re.search(r"<table id=\"top\">.*?</table>", d, re.S)
print(m.group(0) if m else "no top table")' "$TMP/dom1.html")
# the flooding source, with (nearly) no credit left: at most what 200/s
# refills between the scan and the page's read
grep -Eq '<tr><td>udp-flood</td><td>10\.234\.0\.1/32</td><td>-</td><td class="n">[0-9]/50</td></tr>' <<<"$top" &&
	pass top-source || fail top-source "$(tr -d '\n' <<<"$top")"

wait "$FLOOD_PID" 2>/dev/null
FLOOD_PID=""
sleep 0.5
stats_json "$TMP/s3.json"
DASH_BUDGET=2500 chromium_run --dump-dom "$URL/" >"$TMP/dom2.html"
stats_json "$TMP/s3b.json"
if check_page "$TMP/dom2.html" "$TMP/s3.json" "$TMP/s3b.json" exact >/dev/null 2>"$TMP/err2"; then
	pass page-equals-stats-after
else
	fail page-equals-stats-after "$(cat "$TMP/err2")"
fi

# ---- bounded answers: 200 rules, at most 50 in the JSON
for i in $(seq 200); do echo "rule add r$i src 10.77.$((i / 250)).$((i % 250))/32 rate 10/s"; done |
	while read -r line; do ctl $line >/dev/null || echo "could not: $line"; done >"$TMP/adds"
http GET /dashboard.json "$TMP/d2.json" >/dev/null
size=$(stat -c %s "$TMP/d2.json")
if python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if j["rules_total"] == 203 and len(j["rules"]) == 50 and j["rules_truncated"]
         and j["rules"][0]["name"] == "udp-flood" else 1)' "$TMP/d2.json" && ((size < 16384)) && [[ ! -s $TMP/adds ]]; then
	pass json-bounded
else
	fail json-bounded "$size bytes; $(head -c 300 "$TMP/d2.json") $(head -3 "$TMP/adds")"
fi

# many pollers at once (64, from 64 loopback addresses, connected first,
# then all asking together): they share renders instead of costing the
# agent's loop one each (time_ms tells renders apart)
renders=$(in_ns python3 -c '
import http.client, json, sys, threading
port, out = int(sys.argv[1]), []
go = threading.Barrier(64)
def get(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.%d" % (i + 2), 0))
    c.connect()
    go.wait()
    c.request("GET", "/dashboard.json")
    out.append(json.loads(c.getresponse().read())["time_ms"])
ts = [threading.Thread(target=get, args=(i,)) for i in range(64)]
for t in ts: t.start()
for t in ts: t.join()
print(len(out), len(set(out)))' "$PORT" 2>&1)
read -r got distinct <<<"$renders"
[[ $got == 64 ]] && ((distinct <= 16)) && pass json-shared-renders ||
	fail json-shared-renders "answers, distinct renders (16 at most): $renders"

for i in $(seq 200); do ctl rule del "r$i" >/dev/null || echo "could not delete r$i"; done >"$TMP/dels"
[[ ! -s $TMP/dels ]] || fail rule-del "$(head -3 "$TMP/dels")"

# ---- no Chart.js: the page says so and still shows its numbers
stop_agent
start_agent --chartjs "$TMP/none.js" || { echo "FAIL dashboard/agent-restart: no agent"; exit 1; }
[[ $(http GET /chart.js "$TMP/nc.txt") == 404* ]] && grep -q libjs-chart.js "$TMP/nc.txt" &&
	pass chartjs-missing-404 || fail chartjs-missing-404 "$(cat "$TMP/nc.txt")"
stats_json "$TMP/s4.json"
DASH_BUDGET=2500 chromium_run --dump-dom "$URL/" >"$TMP/dom3.html"
stats_json "$TMP/s4b.json"
if page=$(check_page "$TMP/dom3.html" "$TMP/s4.json" "$TMP/s4b.json" exact 2>"$TMP/err3") &&
	python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["nochart"] else 1)' "$page"; then
	pass page-without-chartjs
else
	fail page-without-chartjs "$(cat "$TMP/err3") $page"
fi
kill -0 "$AGENT_PID" 2>/dev/null && pass agent-alive || fail agent-alive "rlagent died"

exit $((fails > 0))
