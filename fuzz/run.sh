#!/usr/bin/env bash
# Runs every fuzz target (or those named after SECS) for SECS seconds each with cargo-fuzz,
# no sanitizer (`-s none`: the stable toolchain suffices), starting from fuzz/seeds/ and
# the corpus earlier runs grew in fuzz/corpus/. Prints executions and corpus size per
# target; exits 1 when any target crashed, hung or failed to build. A crash input lands in
# fuzz/artifacts/<target>/: fix it, minimise it (`cargo fuzz tmin -s none <target> FILE`)
# and commit it under fuzz/regressions/<target>/, which `cargo test` replays.
#
#   fuzz/run.sh SECS [TARGET...]     (FUZZ_TARGET_DIR: cargo's target directory for it)
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
target_dir=${FUZZ_TARGET_DIR:-../target/fuzz-engine}
opts=(--fuzz-dir . -s none --target-dir "$target_dir")

cargo fuzz build "${opts[@]}" || exit 1
mkdir -p logs
failed=()
printf '%-16s %12s %8s  %s\n' target executions corpus result >logs/summary
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    cp -n "seeds/$t"/* "corpus/$t/" 2>/dev/null
    # -timeout: an input taking this long is a hang, as much a bug as a crash.
    cargo fuzz run "${opts[@]}" "$t" "corpus/$t" -- -max_total_time="$secs" -timeout=20 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
    result=ok
    if [ $rc -ne 0 ]; then
        result="FAILED (logs/$t.log, $(ls "artifacts/$t" | head -1))"
        failed+=("$t")
    fi
    printf '%-16s %12s %8s  %s\n' "$t" "${execs:-?}" "$(ls "corpus/$t" | wc -l)" "$result" |
        tee -a logs/summary
done
[ ${#failed[@]} -eq 0 ] || {
    echo "fuzz: ${failed[*]} failed; see fuzz/logs/ and fuzz/artifacts/" >&2
    exit 1
}
