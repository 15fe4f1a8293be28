#!/usr/bin/env bash
# Proves the committed .expected files still say what this machine's kernel
# says: regenerates them in a scratch copy and diffs. Exit 77 (skipped) when
# not root, without network namespaces or without iptables-legacy.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: kernel oracle needs root" >&2; exit 77; }
command -v iptables-legacy-restore >/dev/null || { echo "SKIPPED: iptables-legacy not installed" >&2; exit 77; }
probe="nfemu-probe-$$"
ip netns add "$probe" 2>/dev/null || { echo "SKIPPED: cannot create network namespaces" >&2; exit 77; }
ip netns del "$probe"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cp "$here"/cases/*.cases "$work"/
cp "$here"/case-block.sh "$here"/gen-expected.sh "$work"/
mkdir -p "$work/cases" && mv "$work"/*.cases "$work/cases/"
bash "$work/gen-expected.sh" "$work"/cases/*.cases >/dev/null || exit 1
status=0
total=0
for f in "$work"/cases/*.expected; do
  total=$((total + 1))
  if ! diff -u "$here/cases/$(basename "$f")" "$f"; then
    echo "kernel disagrees with committed $(basename "$f")" >&2
    status=1
  fi
done
echo "$total case files checked against the kernel"
exit $status
