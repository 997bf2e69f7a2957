#!/usr/bin/env bash
# vifd HTTP serving benchmark.
#
#   bench/serve.sh [N K]      serve the scale fixture (default N=1000 domains x
#                             K=4 interfaces, built by `bench/scale.sh --setup-only`
#                             when missing) with `vifd serve` and load it with wrk
#                             over loopback
#
# What it does:
#   1. starts `vifd serve --listen 127.0.0.1:PORT --libvirt-uri test:///…/node.xml
#      --netns vifd-bench --refresh $REFRESH` (default 300, the daemon's own), waits for /readyz (60 s), checks
#      /v1/domains, /v1/interfaces and one os-virtual-interfaces answer;
#   2. (i)  wrk -t THREADS -c CONNS on GET /v2.1/servers/{uuid}/os-virtual-interfaces
#      (ii) wrk -t THREADS -c LIST_CONNS on GET /v1/interfaces (all N*K records,
#           2.6 MB at 1000x4). Few connections on purpose: the target is a latency,
#           and 64 clients each pulling 2.6 MB at once on a 2-core host measure the
#           queue in front of the request, not the request;
#      each after a WARMUP_S-second warm-up at the same settings;
#   3. reads VmRSS/VmHWM of the daemon (/proc/PID/status) after the load and
#      compares with (a), the peak RSS of `virsh -c URI list --name`, taken from
#      the scale results (nN-kK/results.json) or measured here with measure.py.
# Targets (N=1000 K=4): (i) >= 20000 req/s and p99 <= 5 ms; (ii) p50 <= 10 ms;
# daemon peak RSS (VmHWM) <= (a) + 60 MiB; no non-2xx or socket errors.
#
# Environment:
#   VIFD        vifd binary                        [<repo>/target/release/vifd,
#                                                   built with cargo when missing]
#   DURATION    seconds per measured wrk run       [15]
#   REFRESH     the daemon's --refresh, seconds     [300]
#   WARMUP_S    seconds of warm-up before each run [5]
#   THREADS     wrk threads                        [2]
#   CONNS       connections for (i)                [64]
#   LIST_CONNS  connections for (ii)               [4]
#   PORT        TCP port on 127.0.0.1              [a free one]
#   VIFD_BENCH_DIR  scratch directory              [/tmp/vifd-bench]
#
# Needs root (the netns), python3, iproute2, virsh; installs the Debian package
# `wrk` when it is missing. The daemon is stopped on exit. Results go to
# $VIFD_BENCH_DIR/serve-results.json, the daemon's log to serve-daemon.log.
# Exit status: 0 when the report was produced (PASS or FAIL), 2 on harness
# errors (no binary, setup failed, the daemon died or never became ready).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
NETNS=vifd-bench
WORKDIR=${VIFD_BENCH_DIR:-/tmp/vifd-bench}
DURATION=${DURATION:-15}
REFRESH=${REFRESH:-300}
WARMUP_S=${WARMUP_S:-5}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
LIST_CONNS=${LIST_CONNS:-4}
PORT=${PORT:-}
READY_TIMEOUT=60

die() { echo "serve.sh: ERROR: $*" >&2; exit 2; }
say() { echo "serve.sh: $*" >&2; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
esac
case $# in
    0) N=1000 K=4 ;;
    2) N=$1 K=$2 ;;
    *) usage >&2; exit 2 ;;
esac
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ "$K" =~ ^[1-9][0-9]*$ ]] || die "K must be a positive integer, got '$K'"
for v in DURATION THREADS CONNS LIST_CONNS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ "$WARMUP_S" =~ ^[0-9]+$ ]] || die "WARMUP_S must be a non-negative integer"
[ -z "$PORT" ] || [[ "$PORT" =~ ^[1-9][0-9]*$ ]] || die "PORT must be a port number"

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespace vifd-bench, tap devices)"
for t in ip virsh python3; do
    command -v "$t" >/dev/null || die "$t not found in PATH"
done
case "$WORKDIR" in /*) ;; *) WORKDIR="$PWD/$WORKDIR" ;; esac

# ---- wrk
if ! command -v wrk >/dev/null; then
    say "installing wrk (apt-get install -y --no-install-recommends wrk)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >&2; then
        say "install failed; running apt-get update and trying again"
        apt-get update >&2 || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >&2 \
            || die "could not install wrk"
    fi
    command -v wrk >/dev/null || die "wrk still not in PATH after installing it"
fi

# ---- the binary under test
vifd_under_test

# ---- the scale fixture: node file + netns with exactly its taps
ensure_fixture

# ---- start the daemon
if [ -z "$PORT" ]; then
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
BASE="http://127.0.0.1:$PORT"
LOG="$WORKDIR/serve-daemon.log"
OUT="$WORKDIR/serve-results.json"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/vifd-serve.XXXXXX")
PID=

cleanup() {
    stop_daemon "$PID"
    rm -rf -- "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
say "starting: $VIFD serve --listen 127.0.0.1:$PORT --libvirt-uri $URI --netns $NETNS --refresh $REFRESH"
# no VIFD_* variable (token file, TLS, log level, ...) of the caller's environment
# reaches the daemon; `env` execs it, so $! is the daemon's own pid
unset_vifd=()
for v in $(compgen -e); do
    case "$v" in VIFD_*) unset_vifd+=(-u "$v") ;; esac
done
env "${unset_vifd[@]}" "$VIFD" serve --listen "127.0.0.1:$PORT" --libvirt-uri "$URI" --netns "$NETNS" \
    --refresh "$REFRESH" >"$LOG" 2>&1 &
PID=$!

alive() {
    kill -0 "$PID" 2>/dev/null || die "vifd serve (pid $PID) exited; log $LOG:
$(tail -20 "$LOG")"
}

# GET PATH -> prints "STATUS BYTES" and writes the body to FILE
get() {
    python3 - "$BASE$1" "$2" <<'EOF'
import sys, urllib.request, urllib.error
url, out = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
try:
    with opener.open(url, timeout=30) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
except OSError:
    status, body = 0, b""
open(out, "wb").write(body)
print(status, len(body))
EOF
}

t0=$(date +%s.%N)
deadline=$((SECONDS + READY_TIMEOUT))
while :; do
    alive
    read -r status _ < <(get /readyz "$SCRATCH/readyz")
    [ "$status" = 200 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
        die "not ready after $READY_TIMEOUT s (last /readyz: HTTP $status $(head -c 300 "$SCRATCH/readyz")); log $LOG:
$(tail -20 "$LOG")"
    fi
    sleep 0.2
done
READY_S=$(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))")
say "ready after $READY_S s (pid $PID, port $PORT)"

# ---- sanity: the whole inventory is served, pick a server
read -r status _ < <(get /v1/domains "$SCRATCH/domains.json")
[ "$status" = 200 ] || die "GET /v1/domains answered HTTP $status"
UUID=$(python3 - "$SCRATCH/domains.json" "$N" "$K" <<'EOF'
import json, sys
doms = json.load(open(sys.argv[1]))["domains"]
n, k = int(sys.argv[2]), int(sys.argv[3])
if len(doms) != n:
    sys.exit("GET /v1/domains lists %d domains, expected %d" % (len(doms), n))
full = [d for d in doms if d.get("interface_count") == k]
if not full:
    sys.exit("no domain has interface_count %d" % k)
running = sorted((d for d in full if d.get("state") == "running"), key=lambda d: d["name"]) or full
print(running[len(running) // 2]["uuid"])   # the same one every run, from the middle
EOF
) || die "GET /v1/domains: unexpected content"
VIF_PATH="/v2.1/servers/$UUID/os-virtual-interfaces"
read -r status vif_bytes < <(get "$VIF_PATH" "$SCRATCH/vifs.json")
[ "$status" = 200 ] || die "GET $VIF_PATH answered HTTP $status: $(head -c 300 "$SCRATCH/vifs.json")"
python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))["virtual_interfaces"]
sys.exit(0 if len(v) == int(sys.argv[2]) else "os-virtual-interfaces lists %d, expected %s" % (len(v), sys.argv[2]))' \
    "$SCRATCH/vifs.json" "$K" || die "GET $VIF_PATH: unexpected content"
read -r status list_bytes < <(get /v1/interfaces "$SCRATCH/interfaces.json")
[ "$status" = 200 ] || die "GET /v1/interfaces answered HTTP $status"
python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))["interfaces"]
sys.exit(0 if len(v) == int(sys.argv[2]) else "/v1/interfaces lists %d records, expected %s" % (len(v), sys.argv[2]))' \
    "$SCRATCH/interfaces.json" $((N * K)) || die "GET /v1/interfaces: unexpected content"
say "server $UUID: os-virtual-interfaces $vif_bytes bytes; /v1/interfaces $((N * K)) records, $list_bytes bytes"
RSS_READY=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")

# ---- load
# wrk's done() hook writes the exact figures (latency in microseconds) as one JSON line.
cat >"$SCRATCH/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"lat_mean_us":%.1f,"lat_p50_us":%d,' ..
    '"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
EOF

# "utime+stime in clock ticks" of the daemon, and "busy total" jiffies of the machine
proc_cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
machine_cpu() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }

# run_wrk NAME CONNS PATH TIMEOUT: warm-up, then the measured run; writes
# $SCRATCH/NAME.{txt,json}
run_wrk() {
    local name=$1 conns=$2 path=$3 timeout=$4
    if [ "$WARMUP_S" -gt 0 ]; then
        say "$name: warm-up ${WARMUP_S}s, -t$THREADS -c$conns $path"
        wrk -t"$THREADS" -c"$conns" -d"${WARMUP_S}s" --timeout "$timeout" "$BASE$path" >/dev/null \
            || die "wrk warm-up failed"
        alive
    fi
    say "$name: measuring ${DURATION}s, -t$THREADS -c$conns --latency $path"
    local c0 c1 m0 m1
    c0=$(proc_cpu)
    m0=$(machine_cpu)
    # through python only to get wrk's own CPU time (RUSAGE_CHILDREN) into $name.wrkcpu
    python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[3:], stdout=open(sys.argv[1], "w"))
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[2], "w").write("%.3f\n" % (ru.ru_utime + ru.ru_stime))
sys.exit(rc)' "$SCRATCH/$name.txt" "$SCRATCH/$name.wrkcpu" \
        wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --timeout "$timeout" --latency \
        -s "$SCRATCH/report.lua" "$BASE$path" || die "wrk failed: $(cat "$SCRATCH/$name.txt")"
    c1=$(proc_cpu)
    m1=$(machine_cpu)
    alive
    sed 's/^/    /; /^    WRKJSON/d' "$SCRATCH/$name.txt" >&2
    python3 - "$SCRATCH/$name.txt" "$c0" "$c1" "$m0" "$m1" "$(getconf CLK_TCK)" "$conns" "$path" \
        "$(cat "$SCRATCH/$name.wrkcpu")" \
        >"$SCRATCH/$name.json" <<'EOF' || die "could not read wrk's figures for $name"
import json, os, sys
txt, c0, c1, m0, m1, hz, conns, path, wrkcpu = sys.argv[1:]
line = [l for l in open(txt) if l.startswith("WRKJSON ")]
if not line:
    sys.exit("no WRKJSON line in wrk's output")
r = json.loads(line[-1][len("WRKJSON "):])
secs = r["duration_us"] / 1e6
(b0, t0), (b1, t1) = (tuple(int(x) for x in m0.split()), tuple(int(x) for x in m1.split()))
r.update({
    "path": path, "connections": int(conns),
    "rps": r["requests"] / secs,
    "mib_per_s": r["bytes"] / secs / 2**20,
    "errors": r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"],
    "vifd_cpu_cores": (int(c1) - int(c0)) / int(hz) / secs,
    "machine_busy_pct": 100.0 * (b1 - b0) / max(1, t1 - t0),
    "wrk_cpu_cores": float(wrkcpu) / secs,
})
# what neither vifd nor wrk used: other work on the machine (noise)
r["other_cpu_cores"] = max(0.0, r["machine_busy_pct"] / 100.0 * os.cpu_count()
                           - r["vifd_cpu_cores"] - r["wrk_cpu_cores"])
print(json.dumps(r))
EOF
}

run_wrk vifs "$CONNS" "$VIF_PATH" 2s
run_wrk list "$LIST_CONNS" /v1/interfaces 10s

read -r RSS_KIB HWM_KIB THREADS_VIFD < <(awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} /^Threads:/ {t = $2} END {print r, h, t}' "/proc/$PID/status")

# ---- (a): peak RSS of `virsh list --name` on this URI
baseline_a_rss

# ---- report
REPRO="cd $ROOT && VIFD=$VIFD DURATION=$DURATION WARMUP_S=$WARMUP_S THREADS=$THREADS CONNS=$CONNS LIST_CONNS=$LIST_CONNS bench/serve.sh $N $K"
python3 - "$SCRATCH/vifs.json" "$SCRATCH/list.json" "$OUT" <<EOF
import json, os, platform, sys
vifs, lst = (json.load(open(p)) for p in sys.argv[1:3])
out = sys.argv[3]
mib = lambda kib: kib / 1024.0
rss, hwm, ready_rss = mib($RSS_KIB), mib($HWM_KIB), mib($RSS_READY)
a_rss = float("$A_RSS")
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
machine = {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
           "loadavg_at_start": "$LOADAVG0",
           "loadavg_at_end": " ".join(open("/proc/loadavg").read().split()[:3]),
           "wrk": "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"}
ms = lambda us: us / 1000.0
checks = [
    ("(i) os-virtual-interfaces req/s", "%.0f" % vifs["rps"], ">= 20000", vifs["rps"] >= 20000),
    ("(i) os-virtual-interfaces p99", "%.2f ms" % ms(vifs["lat_p99_us"]), "<= 5 ms", ms(vifs["lat_p99_us"]) <= 5),
    ("(ii) /v1/interfaces p50", "%.2f ms" % ms(lst["lat_p50_us"]), "<= 10 ms", ms(lst["lat_p50_us"]) <= 10),
    ("RSS: VmHWM - (a)", "%+.1f MiB" % (hwm - a_rss), "<= +60 MiB", hwm - a_rss <= 60),
    ("errors (non-2xx, socket)", "%d" % (vifs["errors"] + lst["errors"]), "0", vifs["errors"] + lst["errors"] == 0),
]
p = print
p()
p("vifd serve benchmark: N=$N domains x K=$K interfaces ($((N * K)) records), $URI")
p("machine: nproc=%s, kernel %s, %s" % (machine["nproc"], machine["kernel"], cpu))
p("         loadavg at start %s, at end %s; %s, client and server share the machine"
  % (machine["loadavg_at_start"], machine["loadavg_at_end"], machine["wrk"]))
p("method:  wrk -t$THREADS, ${WARMUP_S}s warm-up then ${DURATION}s measured per load, HTTP/1.1 keep-alive over loopback;")
p("         latency percentiles from wrk's done() hook (its --latency histogram)")
p("vifd:    $VIFD (pid $PID, ready after ${READY_S}s, $THREADS_VIFD threads)")
p()
hdr = "%-44s %5s %10s %9s %9s %9s %9s %6s %9s" % ("load", "conns", "req/s", "MiB/s", "p50 ms", "p90 ms",
                                                   "p99 ms", "errors", "vifd CPU")
p(hdr)
p("-" * len(hdr))
for name, r in (("(i) GET os-virtual-interfaces ($vif_bytes B)", vifs), ("(ii) GET /v1/interfaces ($list_bytes B)", lst)):
    p("%-44s %5d %10.0f %9.1f %9.3f %9.3f %9.3f %6d %6.2f co" % (
        name, r["connections"], r["rps"], r["mib_per_s"], ms(r["lat_p50_us"]), ms(r["lat_p90_us"]),
        ms(r["lat_p99_us"]), r["errors"], r["vifd_cpu_cores"]))
for name, r in (("(i)", vifs), ("(ii)", lst)):
    p("    CPU during %-4s vifd %.2f + wrk %.2f + other processes %.2f cores; machine %.0f%% busy"
      % (name, r["vifd_cpu_cores"], r["wrk_cpu_cores"], r["other_cpu_cores"], r["machine_busy_pct"]))
noisy = max(vifs["other_cpu_cores"], lst["other_cpu_cores"]) > 0.15
if noisy:
    p("    WARNING: other processes used CPU during the load: the figures are noisy")
p()
p("daemon RSS after the load: VmRSS %.1f MiB, VmHWM %.1f MiB (VmRSS once ready, before load: %.1f MiB)"
  % (rss, hwm, ready_rss))
p("(a) virsh list --name peak RSS: %.1f MiB, from $A_SRC" % a_rss)
p("    [info] VmRSS - (a): %+.1f MiB" % (rss - a_rss))
p()
p("%-34s %12s %12s  %s" % ("check", "measured", "target", "result"))
for name, val, tgt, ok in checks:
    p("%-34s %12s %12s  %s" % (name, val, tgt, "PASS" if ok else "FAIL"))
overall = all(ok for *_, ok in checks)
p()
p("overall: %s" % ("PASS" if overall else "FAIL"))
p("reproduce: $REPRO")
with open(out, "w") as f:
    json.dump({
        "title": "vifd serve: N=$N x K=$K, $URI", "machine": machine,
        "vifd": "$VIFD", "ready_s": float("$READY_S"), "threads": int("$THREADS_VIFD"),
        "wrk": {"threads": $THREADS, "warmup_s": $WARMUP_S, "duration_s": $DURATION},
        "server_uuid": "$UUID",
        "loads": {"os_virtual_interfaces": vifs, "interfaces": lst},
        "body_bytes": {"os_virtual_interfaces": $vif_bytes, "interfaces": $list_bytes},
        "rss_mib": {"vmrss": rss, "vmhwm": hwm, "vmrss_ready": ready_rss,
                    "a_virsh_list": a_rss, "a_source": "$A_SRC"},
        "checks": [{"check": n, "value": v, "target": t, "pass": ok} for n, v, t, ok in checks],
        "noisy": noisy, "pass": overall, "reproduce": "$REPRO"}, f, indent=1)
    f.write("\n")
p("json:      %s" % out)
p("daemon log: $LOG")
EOF
