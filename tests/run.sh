#!/bin/bash
# tests/run.sh - runs every test given on the command line and prints one
# summary line "N passed, N failed, N skipped".
#
# Protocol for a test (binary or script): print one line per case,
#   PASS <name>            FAIL <name>: <why>         SKIP <name>: <why>
#   NOTE <name>: <what>   (shown, not counted: a case this machine cannot
#                          have, e.g. a kernel feature it lacks)
# and exit non-zero if any case failed.  A test that exits non-zero without
# printing a FAIL line is counted as one failure.  Under CI=true a SKIP is
# a failure: CI has the privileges, so a skip there hides a broken test.
#
# A test must leave nothing behind.  It runs below $OUTPUT/tests/subreaper,
# which ends every process the test left running (an rlagent, rlgen,
# rlcount, nginx, redis-server, anything) and names it; and the runner
# compares, before and after the test, the network namespaces, the entries
# of /sys/fs/bpf (pin directories), the network interfaces and the qdiscs
# other than the kernel's defaults (handle 0:) of its own namespace.  What
# the test left counts as one more failure, "FAIL <test>/leaks: ...", and
# is removed so that the next test starts clean.  What existed before the
# test is never touched.  Another run on the same machine (a second
# checkout's tests, a demo) may create such things meanwhile: the rl tests
# and tools put their PID in every name they create, so a new name that
# carries the PID of a live process belongs to that process and is left
# alone.  TEST_LOGS overrides the log directory ($OUTPUT/test-logs).
set -u
pass=0 fail=0 skip=0
failed_names=()
OUT=${OUTPUT:-build}
logdir=${TEST_LOGS:-$OUT/test-logs}
mkdir -p "$logdir"
reaper=$OUT/tests/subreaper
if [[ ! -x $reaper ]]; then
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	make -s --no-print-directory -C "$here" OUTPUT="$(realpath -m "$OUT")" \
		"$(realpath -m "$reaper")" >/dev/null ||
		{ echo "tests/run.sh: cannot build $reaper (make $reaper)"; exit 2; }
fi

# resources: one line per thing a test could leave behind, sorted
resources() {
	ip netns list 2>/dev/null | awk '{print "netns " $1}'
	if [[ -d /sys/fs/bpf ]]; then
		find /sys/fs/bpf -mindepth 1 -maxdepth 1 -printf 'pin /sys/fs/bpf/%f\n' 2>/dev/null
	fi
	ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print "link " $2}'
	# "qdisc clsact ffff: dev eth0 parent ffff:fff1" -> "qdisc eth0 clsact ffff: parent ffff:fff1"
	tc qdisc show 2>/dev/null | awk '$1 == "qdisc" && $3 != "0:" {
		where = ""
		for (i = 4; i <= NF; i++) {
			if ($i == "dev") dev = $(i + 1)
			if ($i == "root") where = "root"
			if ($i == "parent") where = "parent " $(i + 1)
		}
		print "qdisc " dev " " $2 " " $3 " " where }'
}

# owned_by_live NAME: NAME carries the PID of a live user process
owned_by_live() {
	local n c
	for n in $(grep -oE '[0-9]{3,}' <<<"$1"); do
		c=$({ tr -d '\0' <"/proc/$n/cmdline"; } 2>/dev/null | head -c 1)
		[[ -n $c ]] && return 0
	done
	return 1
}

# remove LINE: undo one resource line
remove() {
	local kind a b c d
	read -r kind a b c d <<<"$1"
	case $kind in
	netns) ip netns del "$a" ;;
	pin) rm -rf "$a" ;;
	link) ip link del "$a" ;;
	qdisc)
		case $b/$d in
		clsact/* | ingress/*) tc qdisc del dev "$a" "$b" ;;
		*/root) tc qdisc del dev "$a" root ;;
		*) tc qdisc del dev "$a" ${d:+parent ${d#parent }} handle "$c" ;;
		esac ;;
	esac
} >/dev/null 2>&1

# leaks BEFORE_FILE: what appeared since BEFORE_FILE, minus what a live
# process owns; prints "kind name" lines
leaks() {
	local line kind a b
	resources | sort | comm -13 "$1" - | while read -r line; do
		read -r kind a b _ <<<"$line"
		owned_by_live "$a" && continue
		echo "$line"
	done
}

describe() {
	local kind a b c
	read -r kind a b c _ <<<"$1"
	case $kind in
	netns) echo "netns $a" ;;
	pin) echo "pin dir $a" ;;
	link) echo "interface $a" ;;
	qdisc) echo "qdisc $b $c on $a" ;;
	esac
}

for t in "$@"; do
	name=$(basename "$t")
	log="$logdir/$name.log"
	echo "== $name"
	if [[ $t == *.sh ]]; then cmd=(bash "$t"); else cmd=("$t"); fi
	resources | sort >"$log.before"
	"$reaper" -o "$log.procs" -- timeout --kill-after=10 600 "${cmd[@]}" >"$log" 2>&1
	rc=$?
	# what the test left: processes (the reaper has ended them), then the rest
	left=() leakf=0
	while read -r pid comm; do left+=("process $comm (pid $pid)"); done <"$log.procs"
	leaks "$log.before" >"$log.leaks"
	# a qdisc before its interface, an interface before its namespace
	for k in qdisc link netns pin; do
		grep "^$k " "$log.leaks" | while read -r line; do remove "$line"; done
	done
	while read -r line; do left+=("$(describe "$line")"); done <"$log.leaks"
	if [[ ${#left[@]} -gt 0 ]]; then
		msg=$(printf '%s, ' "${left[@]}")
		still=$(leaks "$log.before" | grep -Fx -f "$log.leaks" | while read -r line; do describe "$line"; done)
		if [[ -n $still ]]; then msg="${msg%, }; could NOT remove: $(echo $still)"; else msg="${msg%, } (removed)"; fi
		echo "FAIL $name/leaks: left behind $msg" >>"$log"
		leakf=1
	fi
	rm -f "$log.before" "$log.procs" "$log.leaks"
	grep -E '^(PASS|FAIL|SKIP|NOTE) ' "$log" | sed 's/^/   /'
	p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
	if [[ $rc -ne 0 && $f -eq $leakf ]]; then
		echo "   FAIL $name: exited $rc without a FAIL line; last output:"
		tail -n 15 "$log" | sed 's/^/      /'
		f=$((f + 1))
	fi
	if [[ ${CI:-} == true && $s -gt 0 ]]; then
		echo "   (CI=true: $s skip(s) in $name count as failures)"
		f=$((f + s)); s=0
	fi
	if [[ $f -gt 0 ]]; then
		failed_names+=("$name")
		grep -B2 -A8 '^FAIL ' "$log" | head -40 | sed 's/^/      /'
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
[[ ${#failed_names[@]} -gt 0 ]] && echo "failed: ${failed_names[*]} (logs in $logdir)"
echo "$pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 ]]
