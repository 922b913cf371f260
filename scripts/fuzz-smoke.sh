#!/usr/bin/env bash
# Runs each fuzz target for a short time: scripts/fuzz-smoke.sh SECONDS TARGET...
#
# Every target starts from its seed corpus (fuzz/corpus/<target>) and saved crash inputs
# (fuzz/regressions/<target>), uses the SIP dictionary, and fails on a panic, on an input
# slower than 5 s, or on more than 2 GiB of memory. Targets run one after the other.
# Inputs libFuzzer finds interesting go to a scratch corpus under fuzz/target, never into
# the committed seeds; crash inputs are written to fuzz/artifacts/<target>/.
#
# Environment:
#   FUZZ_SANITIZER  sanitizer for cargo fuzz (default: none; the Palisade crates forbid
#                   unsafe code, so the fuzzer is after panics, hangs and wrong results).
#   FUZZ_WORK_DIR   scratch corpus directory (default: fuzz/target/smoke-corpus).
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 SECONDS TARGET..." >&2
    exit 2
fi
seconds=$1
shift

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# cargo fuzz passes -Z flags to rustc; the only toolchain here is stable.
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-none}
work=${FUZZ_WORK_DIR:-fuzz/target/smoke-corpus}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

failed=()
skipped=()
summary=()
for target in "$@"; do
    if [[ ! -f "fuzz/fuzz_targets/$target.rs" ]]; then
        echo "==> $target: SKIPPED, fuzz/fuzz_targets/$target.rs does not exist"
        skipped+=("$target")
        continue
    fi
    mkdir -p "$work/$target" fuzz/artifacts
    seeds=("fuzz/corpus/$target")
    if [[ -d "fuzz/regressions/$target" ]]; then
        seeds+=("fuzz/regressions/$target")
    fi
    log="$work/$target.log"
    echo "==> $target: fuzzing for ${seconds}s (log: $log)"
    status=0
    cargo fuzz run --fuzz-dir fuzz --sanitizer "$sanitizer" "$target" \
        "$work/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" \
        -rss_limit_mb=2048 \
        -timeout=5 \
        -dict=fuzz/sip.dict \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    runs=$(grep -oE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n1 || true)
    if [[ $status -ne 0 ]]; then
        echo "!!! $target FAILED (exit $status); the end of its log:" >&2
        tail -n 40 "$log" >&2
        grep -E 'Test unit written to' "$log" >&2 || true
        failed+=("$target")
        summary+=("$target: FAILED")
    else
        summary+=("$target: ok, ${runs:-?} runs in ${seconds}s")
    fi
done

echo
echo "==> fuzz-smoke summary"
for line in "${summary[@]}"; do
    echo "    $line"
done
for target in "${skipped[@]}"; do
    echo "    $target: skipped (no fuzz target yet)"
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "!!! fuzz-smoke FAILED: ${failed[*]}" >&2
    exit 1
fi
