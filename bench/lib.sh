# Shared by the bench scripts (sourced, not run). Expects the caller to define die, say
# and ROOT; the fixture functions also HERE, WORKDIR, NETNS, N, K, and set DATA and URI.

# The scale fixture (node file + netns holding exactly its taps), built by
# `bench/scale.sh --setup-only N K` when missing or made for another N x K.
ensure_fixture() {
    DATA="$WORKDIR/n$N-k$K"
    URI="test://$DATA/node.xml"
    if fixture_ok; then
        say "reusing $DATA/node.xml and netns $NETNS ($((N * K)) taps)"
    else
        say "fixture missing or stale; running bench/scale.sh --setup-only $N $K"
        VIFD_BENCH_DIR="$WORKDIR" bash "$HERE/scale.sh" --setup-only "$N" "$K" || die "scale.sh --setup-only failed"
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
    VIFD=${VIFD:-$ROOT/target/release/vifd}
    case "$VIFD" in
        /*) ;;
        */*) VIFD="$PWD/$VIFD" ;;
        *) local found
           found=$(command -v "$VIFD") || die "VIFD=$VIFD not found in PATH"
           VIFD=$found ;;
    esac
    if [ "$VIFD" = "$ROOT/target/release/vifd" ]; then
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
