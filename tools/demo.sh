#!/bin/bash
# tools/demo.sh - `make demo`: the main job on a lab built here.
#
# Builds two namespaces joined by a veth pair (tools/lab.sh), runs rlagent on
# the device-under-test side with a per-source limit, floods it from 1,000
# sources with the in-kernel generator (tools/rlgen), shows rl's live
# counters while the flood runs and what an independent counter behind rl
# (tools/rlcount, TC ingress) let through per source.  Tears it all down.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUTPUT:-build}
LAB=rld$$
PIN=/sys/fs/bpf/rldemo$$
SOCK=/tmp/rldemo$$.sock
TMP=$(mktemp -d /tmp/rldemo.XXXXXX)
AGENT_PID="" COUNT_PID="" GEN_PID=""
SECONDS_FLOOD=${DEMO_SECONDS:-6}

cleanup() {
	set +e
	# an interrupted demo must not leave the generator or the counter
	# running until their --duration
	[[ -n $GEN_PID ]] && kill "$GEN_PID" 2>/dev/null && wait "$GEN_PID" 2>/dev/null
	[[ -n $COUNT_PID ]] && kill "$COUNT_PID" 2>/dev/null && wait "$COUNT_PID" 2>/dev/null
	[[ -n $AGENT_PID ]] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	tools/lab.sh down "$LAB" >/dev/null 2>&1
	rm -rf "$PIN" "$SOCK" "$TMP"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building the lab: namespaces $LAB-gen and $LAB-dut joined by a veth pair"
eval "$(tools/lab.sh up "$LAB")"
DUT_NS=$LAB-dut
ctl() { "$OUT/rlctl" -S "$SOCK" "$@"; }

cat >"$TMP/rl.yaml" <<YAML
version: 1
interfaces:
  - $DUT_IF
defaults:
  algo: token-bucket
  action: drop
rules:
  - name: udp-flood
    proto: udp
    rate: 100/s
    burst: 10
    per: source
YAML

say "starting rlagent on $DUT_IF (namespace $DUT_NS) with rule: udp rate 100/s burst 10 per source"
nsenter --net="/run/netns/$DUT_NS" "$OUT/rlagent" -c "$TMP/rl.yaml" \
	--socket "$SOCK" --pin-dir "$PIN" >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 50); do [[ -S $SOCK ]] && break; sleep 0.1; done
[[ -S $SOCK ]] || { cat "$TMP/agent.log"; echo "rlagent did not start"; exit 1; }
ctl status
ctl rule list

say "independent counter behind rl: TC ingress on $DUT_IF counts what rl let through"
nsenter --net="/run/netns/$DUT_NS" "$OUT/rlcount" -i "$DUT_IF" --drop --summary \
	--prefix 10.200.0.0/16 --duration $((SECONDS_FLOOD + 3)) --ready-file "$TMP/count.ready" \
	>"$TMP/count.json" 2>"$TMP/count.log" &
COUNT_PID=$!
for _ in $(seq 50); do [[ -e $TMP/count.ready ]] && break; sleep 0.1; done

say "flooding: UDP from 1,000 sources for ${SECONDS_FLOOD}s (generator: BPF_PROG_TEST_RUN live frames)"
ip netns exec "$GEN_NS" "$OUT/rlgen" -i "$GEN_IF" --dst-mac "$DUT_MAC" \
	--src-mac "$GEN_MAC" -4 --dst "$DUT_IP4" --src-base 10.200.0.0/16 \
	-n 1000 --proto udp --dport 9 --count 200000000 \
	--duration "$SECONDS_FLOOD" --cpus 0 >"$TMP/gen.txt" 2>&1 &
GEN_PID=$!
printf '%6s %14s %14s %14s %8s\n' time "seen pps" "passed pps" "dropped pps" "dropped"
prev=$(ctl -j stats)
for i in $(seq "$SECONDS_FLOOD"); do
	sleep 1
	cur=$(ctl -j stats)
	python3 - "$prev" "$cur" "$i" <<'PY'
import json, sys
a, b, t = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
def tot(j, v): return sum(r[v]["packets"] for r in j["rules"])
seen = b["global"]["packets"]["packets"] - a["global"]["packets"]["packets"]
p, d = tot(b, "pass") - tot(a, "pass"), tot(b, "drop") - tot(a, "drop")
print(f"{t + 's':>6} {seen:>14,} {p:>14,} {d:>14,} {100.0 * d / max(seen, 1):7.2f}%")
PY
	prev=$cur
done
wait "$GEN_PID" || { cat "$TMP/gen.txt"; exit 1; }
wait "$COUNT_PID" || true

say "what the generator sent"
cat "$TMP/gen.txt"
say "what reached the host behind rl (per source; limit allows 10 + 100/s x t)"
python3 - "$TMP/count.json" "$TMP/gen.txt" <<'PY'
import json, sys, re
c = json.load(open(sys.argv[1]))
m = re.search(r'in ([0-9.]+) s =', open(sys.argv[2]).read())
t = float(m.group(1)) if m else float('nan')
s = c["per_source"]
print(f"sources seen behind rl: {c['sources']}, packets that reached the host: {c['packets']:,}")
print(f"per source: min {s['min']}  median {s['p50']}  max {s['max']}")
print(f"limit per source over the {t:.2f}s flood: 10 + 100/s x {t:.2f}s = {10 + 100 * t:.0f}")
PY
say "final rl counters"
ctl stats
say "done: tearing the lab down"
