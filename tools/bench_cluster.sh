#!/bin/bash
# tools/bench_cluster.sh - cluster quotas (scope cluster) against the sync
# period, run by `make bench` after tools/bench.sh: the accuracy phase of
# tests/integration/test_cluster.sh (three agents, a real redis-server,
# one rule `3000/s burst 300 per rule scope cluster`, 10 s of an uneven
# flood) at each sync period, and the Redis commands each agent sent per
# second.  Writes DIR/cluster.md and DIR/cluster.json (DIR: --out, default
# bench/).  BENCH_CLUSTER_SYNCS="50 100 1000" (ms) overrides the periods.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=bench
[[ ${1:-} == --out ]] && OUT_DIR=$2
TMP=$(mktemp -d /tmp/rlbcl$$.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
: >"$TMP/all.json"
for s in ${BENCH_CLUSTER_SYNCS:-50 100 1000}; do
	echo "[cluster] sync ${s} ms" >&2
	SYNC_MS=$s CLUSTER_BENCH_OUT="$TMP/r$s.json" tests/integration/test_cluster.sh >"$TMP/log$s" 2>&1
	if [[ -s $TMP/r$s.json ]]; then
		cat "$TMP/r$s.json" >>"$TMP/all.json"
	else
		echo "[cluster] sync ${s} ms failed: $(tail -3 "$TMP/log$s")" >&2
	fi
done
python3 - "$TMP/all.json" "$OUT_DIR" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump(rows, open(f"{sys.argv[2]}/cluster.json", "w"), indent=1)
with open(f"{sys.argv[2]}/cluster.md", "w") as f:
    f.write("| sync | admitted | burst + rate*t | error | flood above the limit | error against what was offered | worst interval over burst + rate*t | Redis commands/s per agent |\n")
    f.write("|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        f.write(f"| {r['sync_ms']} ms | {r['admitted']} | {r['allowed']} | {r['error_pct']:+.2f}% | "
                f"{r['flood_above_limit_pct']}% of the time | {r['error_vs_offered_pct']:+.2f}% | "
                f"{r['worst_interval_over']:+d} | {r['redis_commands_per_s_per_agent']:.1f} |\n")
print(open(f"{sys.argv[2]}/cluster.md").read())
PY
