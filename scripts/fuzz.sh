#!/usr/bin/env bash
# Runs every cargo-fuzz target of crates/fcs for FUZZ_SECONDS (default 60) each, starting from the
# committed corpus (crates/fcs/fuzz/corpus/<target>) and the seeds; fails on any crash, hang or
# overflow. New inputs go to a temporary directory, so the checkout stays clean; to grow the
# committed corpus, run `cargo fuzz run <target> corpus/<target> seeds/<target>` in
# crates/fcs/fuzz, then `cargo fuzz cmin <target> corpus/<target>`.
#
# cargo-fuzz is installed into .tools/ when missing. The machine's Rust is stable; the sanitizer
# flags cargo-fuzz passes need nightly features, which RUSTC_BOOTSTRAP=1 unlocks.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${FUZZ_SECONDS:-60}"
CARGO_FUZZ_VERSION=0.13.2
TOOLS="$PWD/.tools"
export PATH="$TOOLS/bin:$PATH"
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools"
  cargo install --quiet --locked --root "$TOOLS" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

cd crates/fcs/fuzz
export RUSTC_BOOTSTRAP=1
status=0
passed=0
failed=0
for source in fuzz_targets/*.rs; do
  target="$(basename "$source" .rs)"
  scratch="$(mktemp -d)"
  echo "== fuzzing $target for ${SECONDS_EACH}s"
  if cargo fuzz run "$target" "$scratch" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -print_final_stats=1 2>"$scratch.log"; then
    passed=$((passed + 1))
    grep -E '^stat::number_of_executed_units|^Done' "$scratch.log" || true
  else
    failed=$((failed + 1))
    status=1
    tail -n 60 "$scratch.log" >&2
  fi
  rm -rf "$scratch" "$scratch.log"
done
echo "fuzz targets: $passed passed, $failed failed"
exit "$status"
