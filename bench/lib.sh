# Shared by the bench scripts (sourced, not run). Expects the caller to define die, say
# and ROOT; the fixture functions also HERE, WORKDIR, NETNS, N, K, and set DATA and URI.

# The scale fixture (node file + netns holding exactly its taps), built by
# `bench/scale.sh --setup-only N K` (in netns $NETNS) when missing or made for another N x K.
ensure_fixture() {
    DATA="$WORKDIR/n$N-k$K"
    URI="test://$DATA/node.xml"
    if fixture_ok; then
        say "reusing $DATA/node.xml and netns $NETNS ($((N * K)) taps)"
    else
        say "fixture missing or stale; running bench/scale.sh --setup-only $N $K"
        VIFD_BENCH_DIR="$WORKDIR" VIFD_BENCH_NETNS="$NETNS" bash "$HERE/scale.sh" --setup-only "$N" "$K" || die "scale.sh --setup-only failed"
        fixture_ok || die "the fixture is still not right after scale.sh --setup-only"
    fi
}

fixture_ok() {
    [ -f "$DATA/node.xml" ] && [ -f "$DATA/taps.txt" ] || return 1
    ip netns list | awk '{print $1}' | grep -qx "$NETNS" || return 1
    # the netns must hold this fixture's taps, not those of another N x K
    cmp -s <(ip -n "$NETNS" -o link show type tun | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort) \
           <(sort "$DATA/taps.txt")
}

# (a): the peak RSS of `virsh list --name` on $URI, from the scale results when they
# exist, else measured here. Sets A_RSS (MiB) and A_SRC (where it came from).
baseline_a_rss() {
    local a_json="$DATA/results.json" spawn
    A_SRC=
    A_RSS=
    if [ -f "$a_json" ]; then
        A_RSS=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%.1f" % d["results"]["a"]["rss_mib_max"])' "$a_json" 2>/dev/null) || A_RSS=
        [ -n "$A_RSS" ] && A_SRC="scale results $a_json (max of $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["results"]["a"]["runs"])' "$a_json") runs)"
    fi
    if [ -z "$A_RSS" ]; then
        say "no scale results at $a_json; measuring (a) virsh -c URI list --name (3 runs)"
        spawn="$WORKDIR/spawn"
        [ -x "$spawn" ] || spawn=
        A_RSS=$(python3 "$HERE/measure.py" cmd -r 3 -w 1 ${spawn:+--spawn "$spawn"} --json -- \
            virsh -c "$URI" list --name | python3 -c 'import json, sys; print("%.1f" % json.load(sys.stdin)["rss_mib_max"])') \
            || die "measuring virsh list --name failed"
        A_SRC="measured here: measure.py cmd, max of 3 runs${spawn:+ (spawn helper)}"
    fi
}

# The binary under test: $VIFD (default the release build), made absolute or looked up in
# PATH. The default binary is built first when missing or older than the sources (a
# stale one would measure old code). Dies unless it is an executable file.
vifd_under_test() {
    # The release build, where cargo puts it (CARGO_TARGET_DIR honoured, relative to the repo).
    local RELEASE_VIFD
    RELEASE_VIFD=$(cd "$ROOT" && realpath -m "${CARGO_TARGET_DIR:-target}/release/vifd")
    VIFD=${VIFD:-$RELEASE_VIFD}
    case "$VIFD" in
        /*) ;;
        */*) VIFD="$PWD/$VIFD" ;;
        *) local found
           found=$(command -v "$VIFD") || die "VIFD=$VIFD not found in PATH"
           VIFD=$found ;;
    esac
    if [ "$VIFD" = "$RELEASE_VIFD" ]; then
        local stale=
        if [ ! -x "$VIFD" ]; then
            stale="missing"
        elif [ -n "$(cd "$ROOT" && find src Cargo.toml Cargo.lock -newer "$VIFD" -print -quit 2>/dev/null)" ]; then
            stale="older than the sources"
        fi
        if [ -n "$stale" ]; then
            command -v cargo >/dev/null || die "$VIFD is $stale and cargo is not in PATH to build it"
            say "building $VIFD ($stale; cargo build --release)"
            (cd "$ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
        fi
    fi
    [ -x "$VIFD" ] && [ -f "$VIFD" ] || die "vifd binary not found: $VIFD
  build it first:  (cd $ROOT && cargo build --release)
  or point VIFD at a binary:  VIFD=/path/to/vifd $0"
}

# ---- a `vifd serve` under test (callers define die and say; READY_TIMEOUT, default 60 s)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_daemon LOG ARG...: `$VIFD ARG...` in the background, stdout and stderr to LOG, its pid
# in DAEMON_PID. No VIFD_* variable (token file, TLS, log level, ...) of the caller's
# environment reaches it; `env` execs it, so the pid is the daemon's own.
start_daemon() {
    local log=$1 v unset_vifd=()
    shift
    for v in $(compgen -e); do
        case "$v" in VIFD_*) unset_vifd+=(-u "$v") ;; esac
    done
    say "starting: $VIFD $*"
    env "${unset_vifd[@]}" "$VIFD" "$@" >"$log" 2>&1 &
    DAEMON_PID=$!
}

# stop_daemon PID: SIGTERM, then SIGKILL after 10 s; reaps it. Nothing when PID is empty or gone.
stop_daemon() {
    local pid=$1 i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "daemon $pid still running 10 s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# readyz PORT: the HTTP status of GET /readyz on 127.0.0.1:PORT (0 when it does not answer)
readyz() {
    python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
try:
    with opener.open("http://127.0.0.1:%s/readyz" % sys.argv[1], timeout=10) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print(0)
PY
}

# wait_ready PID PORT LOG: until /readyz says 200; dies when the daemon exits or after
# READY_TIMEOUT s, with the end of LOG
wait_ready() {
    local pid=$1 port=$2 log=$3 t0 status
    t0=$(date +%s.%N)
    local deadline=$((SECONDS + ${READY_TIMEOUT:-60}))
    while :; do
        kill -0 "$pid" 2>/dev/null || die "vifd serve (pid $pid) exited; log $log:
$(tail -20 "$log")"
        status=$(readyz "$port")
        [ "$status" = 200 ] && break
        [ "$SECONDS" -lt "$deadline" ] || die "not ready after ${READY_TIMEOUT:-60} s (last /readyz: HTTP $status); log $log:
$(tail -20 "$log")"
        sleep 0.2
    done
    say "ready after $(python3 -c "print('%.2f' % ($(date +%s.%N) - $t0))") s (pid $pid, port $port)"
}
