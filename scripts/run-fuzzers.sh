#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each briefly on its seed
# corpus. A crash, leak or sanitizer report fails the run. The seed is fixed
# (FUZZ_SEED overrides it) so that CI explores what a local run explored.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)" --target fuzzers
status=0
for target in build/fuzz/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus=fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  echo "fuzz: $name for ${seconds}s"
  if ! "$target" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -max_len=4096 -print_final_stats=0 -artifact_prefix="$work.crash-" "$work" >"$work.log" 2>&1; then
    tail -40 "$work.log"; ls "$work".crash-* 2>/dev/null
    echo "fuzz: $name FAILED" >&2
    status=1
  fi
  rm -rf "$work" "$work.log"
done
exit $status
