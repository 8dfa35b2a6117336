#!/bin/bash
# tools/demo_http.sh - `make demo-http`: an HTTP server under a flood, first
# without rl, then with it, measured by legitimate clients.
#
#   cli ns [10.78.0.1] --veth-- dut ns [nginx :80] --veth-- gen ns [attacker]
#
# nginx (Debian) serves a small static page in the dut namespace; wrk in the
# client namespace (its own veth and addresses) measures requests/s, success
# rate and p50/p95/p99 for DEMO_SECS per phase:
#   1. no attack
#   2. attack, no rl: the generator (UDP from 1,000 sources and a TCP SYN
#      flood to port 80 from a new random source per packet) plus hping3
#      --flood --rand-source SYNs, all into the dut's attack-facing veth
#   3. the same attack with rlagent on both dut interfaces, rules:
#        udp-per-source  udp 50/s burst 50 per source
#        syn-clients     src 10.78.0.0/16 tcp dport 80 syn 200/s burst 400 per source
#        syn-internet    tcp dport 80 syn 2000/s burst 2000 per rule
#      Per-source limits cannot stop a random-source SYN flood (every source
#      sends one packet), so the internet at large shares one SYN budget,
#      while the known client network keeps a generous per-source one (the
#      most specific rule wins).  The clients are not allowlisted: their
#      traffic crosses rl like everyone else's.
#
# CPU layout (2 CPUs): CPU 0 plays the wire and the NIC - the attackers run
# there, and so does the dut veth's NAPI, hence XDP, hence rl.  CPU 1 is the
# server: nginx, wrk, and, through RPS on the attack-facing veth, the
# kernel stack that packets passed by XDP go through - as RSS would put a
# NIC's traffic on the server's cores.  So without rl the flood's stack cost
# lands on the server's CPU; with rl it is dropped before an skb exists.
#
# Prints a table, writes bench/demo_http.md and bench/demo_http.png (gnuplot,
# percentiles per phase).  Bounded (every process has a count or a timeout)
# and self-cleaning (trap): namespaces, agent, pins, nginx, scratch files.
#   DEMO_SECS=10 DEMO_UDP_PPS=1000000 DEMO_SYN_PPS=300000 tools/demo_http.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
OUT=${OUTPUT:-build}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
export OUTPUT=$OUT
RESDIR=${DEMO_OUT:-$ROOT/bench}
SECS=${DEMO_SECS:-10}
UDP_PPS=${DEMO_UDP_PPS:-1000000}
SYN_PPS=${DEMO_SYN_PPS:-300000}
CONNS=${DEMO_CONNS:-32}

LAB=rh$$
PIN=/sys/fs/bpf/rlhttp$$
TMP=$(mktemp -d /tmp/rlhttp.XXXXXX)
AGENT_PID="" NGINX_PID=""
BG=()

say() { printf '\n== %s\n' "$*"; }
die() { echo "demo_http: $*" >&2; exit 1; }

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	[[ -n $AGENT_PID ]] && { kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; }
	[[ -n $NGINX_PID ]] && { kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; }
	"$ROOT/tools/lab.sh" down "$LAB" >/dev/null 2>&1
	rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID -eq 0 ]] || die "needs root (namespaces, XDP)"
for t in nginx wrk hping3 gnuplot python3; do
	command -v "$t" >/dev/null || die "$t is missing: 'make demo-http' installs it (or apt-get install nginx wrk hping3 gnuplot-nox)"
done
for b in rlagent rlctl rlgen xdp_pass.bpf.o; do
	[[ -e $OUT/$b ]] || die "$OUT/$b is missing: run 'make' first"
done
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || die "no bpffs"

say "lab: namespaces $LAB-cli, $LAB-dut, $LAB-gen"
eval "$("$ROOT/tools/lab.sh" up "$LAB" --cli)" || die "lab.sh up failed"
dut() { nsenter --net="/run/netns/$DUT_NS" -- "$@"; }
ctl() { "$OUT/rlctl" -S "$TMP/agent.sock" "$@"; }

# XDP_PASS on the attack-facing end so the generator's frames arrive at all
# (veth needs NAPI there); RPS moves the stack work to the server CPU.
dut ip link set dev "$DUT_IF" xdpdrv obj "$OUT/xdp_pass.bpf.o" sec xdp || die "xdp_pass on $DUT_IF"
ip netns exec "$DUT_NS" sh -c "for q in /sys/class/net/$DUT_IF/queues/rx-*; do echo 2 > \$q/rps_cpus; done" ||
	die "setting RPS on $DUT_IF"
dut sysctl -qw net.core.netdev_max_backlog=1000 net.ipv4.tcp_syncookies=1 >/dev/null

say "nginx in $DUT_NS (2 workers on CPU 1), static page on :80"
mkdir -p "$TMP/www" "$TMP/ngx"
python3 -c 'print("<html><body><h1>rl demo</h1>" + "<p>hello, legitimate client</p>" * 16 + "</body></html>")' >"$TMP/www/index.html"
cat >"$TMP/nginx.conf" <<EOF
worker_processes 2;
worker_cpu_affinity 10 10;
user root;
daemon off;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 8192; }
http {
	access_log off;
	keepalive_requests 10000000;
	keepalive_timeout 120s;
	client_body_temp_path $TMP/ngx/body;
	proxy_temp_path $TMP/ngx/proxy;
	fastcgi_temp_path $TMP/ngx/fastcgi;
	uwsgi_temp_path $TMP/ngx/uwsgi;
	scgi_temp_path $TMP/ngx/scgi;
	server {
		listen 80 backlog=4096;
		root $TMP/www;
		location / { index index.html; }
	}
}
EOF
taskset -c 1 nsenter --net="/run/netns/$DUT_NS" -- nginx -c "$TMP/nginx.conf" -p "$TMP/ngx" -e "$TMP/ngx/error.log" \
	>"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!
for _ in $(seq 50); do
	nsenter --net="/run/netns/$CLI_NS" -- python3 -c "
import socket, sys
s = socket.create_connection(('$DUT_CLI_IP4', 80), timeout=0.2); s.close()" 2>/dev/null && break
	sleep 0.1
done
kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx.out" "$TMP/ngx/error.log" 2>/dev/null; die "nginx did not start"; }

attack_start() {
	local dur=$(( SECS + 4 ))
	# UDP from 1,000 sources and SYNs from a new source every packet, paced
	taskset -c 0 nsenter --net="/run/netns/$GEN_NS" -- "$OUT/rlgen" -j -i "$GEN_IF" --dst-mac "$DUT_MAC" \
		--src-mac "$GEN_MAC" -4 --dst "$DUT_IP4" --src-base 100.0.0.0/8 -n 1000 --proto udp --dport 53 \
		--rate "$UDP_PPS" --count $(( UDP_PPS * dur )) --duration "$dur" --cpus 0 >"$TMP/udp.$1.json" 2>&1 &
	BG+=($!)
	taskset -c 0 nsenter --net="/run/netns/$GEN_NS" -- "$OUT/rlgen" -j -i "$GEN_IF" --dst-mac "$DUT_MAC" \
		--src-mac "$GEN_MAC" -4 --dst "$DUT_IP4" --src-base 100.0.0.0/8 --every-new --proto tcp-syn --dport 80 \
		--rate "$SYN_PPS" --count $(( SYN_PPS * dur )) --duration "$dur" --cpus 0 >"$TMP/syn.$1.json" 2>&1 &
	BG+=($!)
	# hping3: SYNs from random sources through the kernel's own stack
	timeout -s INT "$dur" taskset -c 0 nsenter --net="/run/netns/$GEN_NS" -- \
		hping3 -q -S -p 80 --flood --rand-source -I "$GEN_IF" "$DUT_IP4" >"$TMP/hping.$1.out" 2>&1 &
	BG+=($!)
	sleep 1
}
attack_stop() {
	local p
	for p in "${BG[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${BG[@]}"; do wait "$p" 2>/dev/null; done
	BG=()
}

# phase NAME: wrk from the client namespace, pinned to the server CPU
phase() {
	local name=$1
	say "phase: $name - wrk -t2 -c$CONNS -d${SECS}s --latency against http://$DUT_CLI_IP4/"
	taskset -c 1 nsenter --net="/run/netns/$CLI_NS" -- timeout $(( SECS + 20 )) \
		wrk -t 2 -c "$CONNS" -d "${SECS}s" --timeout 2s --latency "http://$DUT_CLI_IP4/" \
		>"$TMP/wrk.$name.txt" 2>&1
	cat "$TMP/wrk.$name.txt"
}

phase no-attack

say "attack without rl: rlgen UDP ${UDP_PPS} pps (1,000 sources) + rlgen SYN ${SYN_PPS} pps (every packet a new source) + hping3 --flood --rand-source"
attack_start no-rl
phase attack-no-rl
attack_stop

say "starting rlagent on $DUT_IF and $DUT_CLI_IF"
dut ip link set dev "$DUT_IF" xdpdrv off
cat >"$TMP/rl.yaml" <<EOF
version: 1
interfaces:
  - $DUT_IF
  - $DUT_CLI_IF
rules:
  - name: udp-per-source
    proto: udp
    rate: 50/s
    burst: 50
    per: source
  - name: syn-clients
    src: 10.78.0.0/16
    proto: tcp
    dport: 80
    tcp-flags: syn
    rate: 200/s
    burst: 400
    per: source
  - name: syn-internet
    proto: tcp
    dport: 80
    tcp-flags: syn
    rate: 2000/s
    burst: 2000
    per: rule
EOF
cat "$TMP/rl.yaml"
# nsenter directly, not through dut(): a backgrounded shell function is a
# subshell, and $! would be its PID, not the agent's (killing it leaked rlagent)
nsenter --net="/run/netns/$DUT_NS" -- "$OUT/rlagent" -c "$TMP/rl.yaml" --socket "$TMP/agent.sock" \
	--pin-dir "$PIN" --detach-on-exit >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 200); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done
ctl status >/dev/null 2>&1 || { cat "$TMP/agent.log"; die "rlagent did not start"; }

attack_start rl
phase attack-with-rl
attack_stop
ctl stats | tee "$TMP/rl.stats"

say "results"
python3 - "$TMP" "$RESDIR" "$SECS" "$UDP_PPS" "$SYN_PPS" "$CONNS" <<'PY'
import json, os, re, subprocess, sys
tmp, resdir, secs, udp, syn, conns = sys.argv[1:7]
def ms(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]
rows = []
for name in ("no-attack", "attack-no-rl", "attack-with-rl"):
    t = open(f"{tmp}/wrk.{name}.txt").read()
    r = {"phase": name}
    for p in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", t, re.M)
        r[f"p{p}"] = ms(*m.groups()) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", t)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", t); r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    conn_e, read_e, write_e, tmo = map(int, m.groups()) if m else (0, 0, 0, 0)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t); non2xx = int(m.group(1)) if m else 0
    r.update(timeouts=tmo, errors=conn_e + read_e + write_e, non2xx=non2xx)
    attempts = r["requests"] + tmo + conn_e + read_e + write_e
    r["success"] = (r["requests"] - non2xx) / attempts if attempts else 0.0
    # wrk prints 50/75/90/99; p95 is interpolated between 90 and 99 on a log scale
    if r["p90"] and r["p99"]:
        import math
        r["p95"] = math.exp(math.log(r["p90"]) + (math.log(r["p99"]) - math.log(r["p90"])) * 5 / 9)
    else:
        r["p95"] = None
    rows.append(r)
for name, key in (("attack-no-rl", "no-rl"), ("attack-with-rl", "rl")):
    for kind in ("udp", "syn"):
        try:
            g = json.load(open(f"{tmp}/{kind}.{key}.json"))
            next(r for r in rows if r["phase"] == name)[f"attack_{kind}_pps"] = g["pps"]
        except Exception:
            pass
fmt = lambda v: f"{v:.2f}" if v is not None else "n/a"
hdr = "| phase | req/s | success | timeouts | p50 ms | p95 ms* | p99 ms | attack UDP pps | attack SYN pps (rlgen) |"
lines = [hdr, "|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    lines.append(f"| {r['phase']} | {r['rps']:.0f} | {r['success'] * 100:.2f}% | {r['timeouts']} | {fmt(r['p50'])} | "
                 f"{fmt(r['p95'])} | {fmt(r['p99'])} | {r.get('attack_udp_pps', 0) / 1e3:.0f}k | {r.get('attack_syn_pps', 0) / 1e3:.0f}k |")
base, rl = rows[0], rows[2]
ok = base["p99"] and rl["p99"] and rl["p99"] <= 2 * base["p99"] and rl["success"] >= 0.999
verdict = (f"with rl, p99 is {rl['p99'] / base['p99']:.2f}x the no-attack p99 and success {rl['success'] * 100:.2f}%: "
           + ("the tail stays flat (within 2x)" if ok else "NOT within 2x of the no-attack p99"))
print("\n".join(lines))
print("\n" + verdict)
os.makedirs(resdir, exist_ok=True)
with open(f"{tmp}/plot.dat", "w") as f:
    for r in rows:
        f.write(f"{r['phase']} {r['p50'] or 0} {r['p95'] or 0} {r['p99'] or 0}\n")
gp = f"""set terminal pngcairo size 900,520 noenhanced font ',11'
set output '{resdir}/demo_http.png'
set title 'Legitimate clients (wrk, {conns} connections): latency per phase'
set ylabel 'latency, ms (log scale)'
set logscale y
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left
set grid ytics
plot '{tmp}/plot.dat' using 2:xtic(1) title 'p50', '' using 3 title 'p95 (interpolated)', '' using 4 title 'p99'
"""
subprocess.run(["gnuplot"], input=gp, text=True, check=False)
stats = open(f"{tmp}/rl.stats").read() if os.path.exists(f"{tmp}/rl.stats") else ""
md = ["# HTTP flood demo (`make demo-http`)\n",
      f"nginx in a namespace, wrk from its own namespace ({conns} keep-alive connections, 2 threads, {secs} s per phase, "
      f"`--latency`, 2 s timeout). Attack: rlgen UDP at {int(udp) / 1e6:.1f} Mpps from 1,000 sources, rlgen TCP SYN to "
      f"port 80 at {int(syn) / 1e3:.0f} kpps from a new source every packet, and `hping3 -S --flood --rand-source`. "
      "CPU 0 runs the attackers and the dut veth's NAPI/XDP (the wire and the NIC); CPU 1 runs nginx, wrk and, via RPS, "
      "the kernel stack for what XDP passes (the server). See tools/demo_http.sh for the rules and why.\n",
      "\n".join(lines), "",
      "*wrk prints p50/p75/p90/p99; p95 is interpolated (log scale) between p90 and p99. Latency percentiles cover "
      "completed requests; timeouts and socket errors count against the success rate.\n",
      f"**{verdict}.**\n", "![latency per phase](demo_http.png)\n",
      "rl's counters at the end of the rl phase:\n", "```", stats.strip(), "```", ""]
open(f"{resdir}/demo_http.md", "w").write("\n".join(md))
json.dump(rows, open(f"{tmp}/rows.json", "w"))
PY
echo
echo "wrote $RESDIR/demo_http.md and $RESDIR/demo_http.png"
