#!/bin/bash
# tests/integration/test_crashloop.sh - kill -9 the real agent at random
# points of a config reload, again and again.  Two configs of 1,200 rules
# and 2,000 allowlist entries alternate (the second renames `ssh` to
# `ssh-syn` with the same match and every filler rule, and has other
# allowlist entries, so one reload is thousands of map writes); each round
# starts the agent on the pins the last one left, sends `config reload`,
# and kills the agent at a random point of it (odd rounds: 0-110 % of a
# reload's time after sending it; even rounds: 0-9 ms after the journal
# head says the apply is committed).  Every restart must come up and list
# exactly the old or the new rules and allowlist (main before the journal
# failed this at the first kill: "rule 'ssh-syn' overlaps rule 'ssh'");
# some restarts must have finished a half-done apply; pins without
# rl_journal (an older rl) are adopted; kills during a block import or
# flush of 50,000 entries (bulk: outside the journal) leave the rules as
# they were and part of the feed; and at the end the agent must
# still cut a bounded UDP flood to its rate.  Runs inside a network
# namespace and veth it creates.  Protocol: tests/run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
TEST=crashloop
NS=rlcl$$
HOST_IF=rlch$$
DUT_IF=rlcn$$
PIN=/sys/fs/bpf/rlcrash$$
NET=10.232.$(($$ % 250))
SOCK=/tmp/rlcrash$$.sock
TMP=$(mktemp -d /tmp/rlcrash$$.XXXX)
KILLS=${CRASHLOOP_KILLS:-24}
DEADLINE=$((SECONDS + 240))
# KEEP_TMP=1 keeps $TMP (the agent's log, the configs) for a look
trap cleanup EXIT INT TERM

need_root
need_built rlagent rlctl
mount_bpffs

netns_veth "$NET" || no_netns

# conf NAME SSH FILLER LIST: ssh rule name, filler rule prefix, second
# octet of 2,000 allowlist /32s (cheap to parse, four map writes each to
# change: most of a reload's time is then its apply)
conf() {
	{
		printf 'version: 1\ninterfaces: [%s]\nallowlist:\n' "$DUT_IF"
		for i in $(seq 0 1999); do
			printf '  - 10.%d.%d.%d/32\n' "$4" $((i / 256)) $((i % 256))
		done
		printf 'rules:\n'
		printf '  - {name: %s, proto: tcp, dport: 22, rate: 10/s}\n' "$2"
		printf '  - {name: udp-all, proto: udp, rate: 100/s, burst: 10}\n'
		for i in $(seq 0 1197); do
			printf '  - {name: %s%d, src: 10.200.%d.%d/32, proto: tcp, dport: 80, rate: 50/s}\n' \
				"$3" "$i" $((i / 256)) $((i % 256))
		done
	} >"$TMP/$1.yaml"
	# the rule names of the set, sorted
	grep -o 'name: [^,]*' "$TMP/$1.yaml" | cut -d' ' -f2 | sort >"$TMP/$1.names"
	grep -o '^  - 10\.[0-9.]*/32' "$TMP/$1.yaml" | cut -c5- >>"$TMP/$1.names"
	sort -o "$TMP/$1.names" "$TMP/$1.names"
}
conf a ssh f 100
conf b ssh-syn g 101
cp "$TMP/a.yaml" "$TMP/rl.yaml"

start_agent() { spawn_agent 150 "$TMP/rl.yaml" --xdp-mode generic --metrics off --foreground; }

# the journal head says an apply is committed and not yet done
committed() {
	bpftool -j map lookup pinned "$PIN/rl_journal" key 0 0 0 0 2>/dev/null |
		grep -q '"op": *1[,}]'
}

# which set the agent lists (rule names and allowlist): a, b, or
# something else
listed_set() {
	{ ctl -j rule list && ctl -j allow list; } | python3 -c '
import json, sys
d = json.JSONDecoder()
s = sys.stdin.read().strip()
rules, i = d.raw_decode(s)
allow, _ = d.raw_decode(s[i:].strip())
for r in sorted([x["name"] for x in rules["rules"]] + [x["prefix"] for x in allow["allow"]]):
    print(r)' | sort >"$TMP/listed.names" 2>/dev/null || { echo none; return; }
	if cmp -s "$TMP/listed.names" "$TMP/a.names"; then echo a
	elif cmp -s "$TMP/listed.names" "$TMP/b.names"; then echo b
	else echo "another set ($(wc -l <"$TMP/listed.names") rules and allow entries)"; fi
}

start_agent || { fail start "the first start failed: $(tail -5 "$TMP/agent.log")"; exit 1; }
[[ $(listed_set) == a ]] && pass first-start || fail first-start "the config's rules are not listed"

# how long one reload takes here (b, then back to a), so the kills below
# land inside one
t0=$(date +%s%N)
cp "$TMP/b.yaml" "$TMP/rl.yaml"; ctl -t 20 config reload >/dev/null
cp "$TMP/a.yaml" "$TMP/rl.yaml"; ctl -t 20 config reload >/dev/null
reload_us=$((($(date +%s%N) - t0) / 2000))
echo "   one reload of 1,200 renamed rules: $((reload_us / 1000)) ms"

kills=0 bad=0 mid=0 seen_a=0 seen_b=0
next=b
for round in $(seq "$KILLS"); do
	if ((SECONDS > DEADLINE)); then
		fail time "only $kills kills before the time limit"
		break
	fi
	cp "$TMP/$next.yaml" "$TMP/rl.yaml"
	ctl -t 10 config reload >/dev/null 2>&1 &
	rl_pid=$!
	if ((round % 2)); then
		# a random point of the reload: 0-110 % of its duration after
		# it was sent
		us=$((RANDOM * reload_us * 11 / 10 / 32768))
		sleep "$((us / 1000000)).$(printf '%06d' $((us % 1000000)))"
	else
		# a random point after its commit: as soon as the journal head
		# says so (bounded: 400 looks), then 0-9 ms
		for _ in $(seq 400); do
			committed && break
			kill -0 "$rl_pid" 2>/dev/null || break
		done
		sleep "0.00$((RANDOM % 10))"
	fi
	kill -9 "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	wait "$rl_pid" 2>/dev/null
	AGENT_PID=""
	kills=$((kills + 1))
	if ! start_agent; then
		fail "restart-$round" "the agent does not start after kill $kills: $(tail -3 "$TMP/agent.log")"
		bad=$((bad + 1))
		break
	fi
	set_now=$(listed_set)
	case $set_now in
	a) seen_a=$((seen_a + 1)); next=b ;;
	b) seen_b=$((seen_b + 1)); next=a ;;
	*) fail "set-$round" "after kill $kills the agent lists $set_now"; bad=$((bad + 1)); next=a ;;
	esac
done
mid=$(grep -c "finished the apply an agent left half done" "$TMP/agent.log")
# the random points must have hit some applies in the middle, or this
# tested nothing
if ((kills >= 20 && bad == 0 && mid > 0)); then
	pass "kills: $kills kills, every restart came up with the old or the new set (a $seen_a, b $seen_b; $mid finished a half-done apply)"
else
	fail kills "$kills kills, $bad bad restarts, $mid killed in the middle of an apply"
fi

# Bulk list changes: an import or flush of 50,000 entries (more than the
# 8,192 list writes an apply journals) is written in batches outside the
# journal.  Killed at a random point of one, the next agent must start,
# list the same rules and allowlist, and a blocklist of entries of the
# feed (the import starts from an empty list, the flush from the full
# feed: anything else would be an entry from nowhere); some kills must
# have left part of it.
python3 -c '
for i in range(50000):
    print("172.%d.%d.%d" % (16 + i // 65536, (i // 256) % 256, i % 256))' >"$TMP/feed.netset"
t0=$(date +%s%N)
ctl -t 60 block import "$TMP/feed.netset" >/dev/null
ctl -t 60 block flush >/dev/null
bulk_us=$((($(date +%s%N) - t0) / 2000))
echo "   one import or flush of 50,000 entries: $((bulk_us / 1000)) ms"
# the blocklist: "n" entries, or "bad" if one is not from the feed
blocked() {
	ctl -t 20 -j block list | python3 -c '
import json, sys
feed = set(l.strip() for l in open(sys.argv[1]))
got = [e["prefix"].removesuffix("/32") for e in json.load(sys.stdin)["block"]]
print(len(got) if all(g in feed for g in got) else "bad")' "$TMP/feed.netset" 2>/dev/null || echo none
}
partial=0 bulk_bad=0 bulk_kills=0
# at least 6 kills, and up to 12 until one has landed inside the writes
for round in $(seq 12); do
	((round > 6 && partial > 0)) && break
	before=$(listed_set)
	if ((round % 2)); then
		op=import
		ctl -t 60 block flush >/dev/null 2>&1
		ctl -t 60 block import "$TMP/feed.netset" >/dev/null 2>&1 &
	else
		op=flush
		ctl -t 60 block import "$TMP/feed.netset" >/dev/null 2>&1
		ctl -t 60 block flush >/dev/null 2>&1 &
	fi
	rl_pid=$!
	# 10-100 % of its time: the file is read and checked first
	us=$((bulk_us / 10 + RANDOM * bulk_us * 9 / 10 / 32768))
	sleep "$((us / 1000000)).$(printf '%06d' $((us % 1000000)))"
	kill -9 "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	wait "$rl_pid" 2>/dev/null
	AGENT_PID=""
	bulk_kills=$((bulk_kills + 1))
	if ! start_agent; then
		fail "bulk-restart-$round" "the agent does not start after a kill during a block $op: $(tail -3 "$TMP/agent.log")"
		bulk_bad=$((bulk_bad + 1))
		break
	fi
	n=$(blocked)
	if [[ $(listed_set) != "$before" || ! $n =~ ^[0-9]+$ ]] || ((n > 50000)); then
		fail "bulk-$round" "after a kill during a block $op: rules/allowlist $(listed_set) (was $before), blocklist $n"
		bulk_bad=$((bulk_bad + 1))
		continue
	fi
	((n > 0 && n < 50000)) && partial=$((partial + 1))
done
if ((bulk_bad == 0 && partial > 0)); then
	pass "bulk: $bulk_kills kills during block import/flush, each restart with the same rules and part of the feed ($partial of them partial)"
elif ((bulk_bad == 0)); then
	fail bulk "no kill landed inside an import or flush (import/flush ${bulk_us}us)"
fi
ctl -t 60 block flush >/dev/null 2>&1

# Pins left by an rl from before rl_journal: the map is created, the
# rules adopted.
kill -9 "$AGENT_PID" 2>/dev/null
wait "$AGENT_PID" 2>/dev/null
AGENT_PID=""
rm -f "$PIN/rl_journal"
if start_agent && [[ -e $PIN/rl_journal ]]; then
	set_now=$(listed_set)
	[[ $set_now == a || $set_now == b ]] && pass "upgrade: pins without rl_journal adopted ($set_now)" ||
		fail upgrade "after a start on pins without rl_journal the agent lists $set_now"
else
	fail upgrade "no start on pins without rl_journal: $(tail -3 "$TMP/agent.log")"
fi

# Still enforcing: 3,000 datagrams as fast as one socket goes, against
# udp-all's 100/s burst 10 per source.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + 10
for i in range(3000):
    s.sendto(b"x" * 64, (sys.argv[1], 9))
    if time.time() > end:
        break
' "$NET.2"
sleep 0.5
read -r pk dr < <(ctl -j stats | python3 -c '
import json, sys
r = [r for r in json.load(sys.stdin)["rules"] if r["name"] == "udp-all"][0]
print(r["pass"]["packets"], r["drop"]["packets"])')
if [[ -n ${dr:-} ]] && ((dr >= 1500)); then
	pass "flood: udp-all passed ${pk} and dropped ${dr} of 3000 datagrams"
else
	fail flood "udp-all passed ${pk:-?} and dropped ${dr:-?} of 3000 datagrams"
fi
exit $((fails > 0))
