#!/bin/bash
# rulesets_kernel: prove the committed goldens still describe this kernel and
# iptables-legacy.  Regenerates everything into a temporary directory with
# regen-golden.sh and diffs it against the committed .save, .save-nocounters
# and .kernel files.  Exit 77 (skip) when the kernel cannot be used here.
#
#   kernel-check.sh [CORPUS_DIR]
set -u
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
corpus=${1:-$here}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$here/regen-golden.sh" --out "$tmp" "$corpus"
rc=$?
if [ $rc -eq 77 ]; then
  echo "rulesets_kernel: SKIPPED (see reason above): goldens not re-verified against the kernel" >&2
  exit 77
fi
status=0
[ $rc -eq 0 ] || { echo "rulesets_kernel: regen-golden.sh reported a problem (exit $rc)"; status=1; }

n=0
for golden in "$corpus"/valid/*.save "$corpus"/valid/*.save-nocounters \
              "$corpus"/valid/*.save-c-plain "$corpus"/valid/*.save-plain-counters "$corpus"/invalid/*.kernel \
              "$corpus"/invalid-counters/*.kernel "$corpus"/invalid-counters/*.save-nocounters; do
  [ -f "$golden" ] || continue
  n=$((n + 1))
  rel=${golden#"$corpus"/}
  if [ ! -f "$tmp/$rel" ]; then
    echo "STALE $rel: no longer produced (its .rules was removed?)"; status=1; continue
  fi
  if ! diff -u --label "committed $rel" --label "kernel now $rel" "$golden" "$tmp/$rel" >"$tmp/diff"; then
    # The kernel log is global and rate-limited: a missing or extra dmesg
    # line is reported but only exit status and stderr must match exactly.
    if diff <(sed '/^dmesg:/,/^==/{/^  /d}' "$golden") \
            <(sed '/^dmesg:/,/^==/{/^  /d}' "$tmp/$rel") >/dev/null; then
      echo "WARNING $rel: only the kernel log lines differ (rate limiting or other kernel users?)"
    else
      status=1
    fi
    cat "$tmp/diff"
  fi
done
for fresh in "$tmp"/valid/* "$tmp"/invalid/* "$tmp"/invalid-counters/*; do
  rel=${fresh#"$tmp"/}
  [ -f "$corpus/$rel" ] || { echo "MISSING $rel: not committed, run regen-golden.sh"; status=1; }
done
if [ $status -eq 0 ]; then
  echo "rulesets_kernel: $n golden files match $(iptables-legacy --version 2>/dev/null) on $(uname -r)"
fi
exit $status
