#!/usr/bin/env bash
# Fuzzes gatehouse with cargo-fuzz (libFuzzer): builds every target of fuzz/
# once, runs each for SECONDS (default 60) from its seed corpus, and fails if
# any target finds a crash (a panic or a failed invariant), a timeout (one input
# taking over 10 s) or an out-of-memory (RSS over 2048 MB).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (default: every target)
#   CI runs `scripts/fuzz.sh 15`; a real hunt is `scripts/fuzz.sh 600` by hand.
#   FUZZ_SANITIZER=address  builds with AddressSanitizer (stable rustc only takes
#                           its -Z flag with RUSTC_BOOTSTRAP=1, which this sets);
#                           the default `none` needs nothing unstable, and the
#                           crate is #![forbid(unsafe_code)].
#   FUZZ_TARGET_DIR=DIR     build there instead of fuzz/target (e.g. a directory
#                           that outlives the checkout, so the next run reuses it).
#   FUZZ_PROFILE=dev        build unoptimized (about 60% of the release build's CPU
#                           time, slower executions); the test suite's smoke run
#                           uses it. Default `release`, for real hunts.
#
# Seeds: fuzz/corpus/<target>/ (committed; regenerate with
#   cargo run --manifest-path fuzz/Cargo.toml --example seed).
# New inputs go to fuzz/corpus-run/<target>/ (git-ignored, kept between runs).
# Findings: fuzz/artifacts/<target>/{crash,timeout,oom}-*, full log in
#   fuzz/artifacts/<target>.log. Reproduce one with
#   cargo fuzz run --sanitizer none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-60}"
shift || true
SANITIZER="${FUZZ_SANITIZER:-none}"
CARGO_FUZZ_VERSION=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
if [ "$SANITIZER" != none ]; then
  export RUSTC_BOOTSTRAP=1
fi

# Release build with debug assertions and overflow checks (cargo-fuzz's
# default), or a dev build; the same flags for build and run, so `run` does
# not rebuild.
BUILD_FLAGS=(--sanitizer "$SANITIZER")
case "${FUZZ_PROFILE:-release}" in
  release) ;;
  dev) BUILD_FLAGS+=(--dev) ;;
  *) echo "FUZZ_PROFILE must be dev or release" >&2; exit 2 ;;
esac
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
  BUILD_FLAGS+=(--target-dir "$FUZZ_TARGET_DIR")
fi

if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi

start=$(date +%s)
cargo fuzz build "${BUILD_FLAGS[@]}"
echo "fuzz build: $(($(date +%s) - start)) s"

failed=()
for target in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus-run/$target" "fuzz/corpus/$target" "fuzz/artifacts/$target"
  log="fuzz/artifacts/$target.log"
  echo "== fuzz $target for ${SECONDS_PER_TARGET}s (log: $log)"
  # The first corpus directory receives new inputs; the seeds stay as committed.
  if cargo fuzz run "${BUILD_FLAGS[@]}" "$target" "fuzz/corpus-run/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|^#[0-9]+[[:space:]]+DONE' "$log" \
      | sed 's/^/   /'
    echo "   corpus: $(find "fuzz/corpus-run/$target" "fuzz/corpus/$target" -type f | wc -l) inputs"
  else
    failed+=("$target")
    echo "!! $target FAILED; from its log:"
    # From the panic (or libFuzzer's error) on: message, stack, input, reproduce command.
    if grep -qE 'panicked at|ERROR: libFuzzer' "$log"; then
      awk '/panicked at|ERROR: libFuzzer/ { shown = 1 } shown' "$log" | head -n 200
    else
      tail -n 80 "$log"
    fi
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/)"
fi
echo "fuzzing: $((${#TARGETS[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
