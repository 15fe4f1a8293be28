#!/usr/bin/env bash
# Replays data/routes.transcript with the real `ip` in a fresh, anonymous
# network namespace (unshare -n: it vanishes with this process, the root
# namespace is never touched) and checks that the kernel still answers
# what the transcript says, so that routes_test.cpp tests nfemu against
# the truth. Exit 77 (skipped) without root or network namespaces.
set -uo pipefail
transcript=${1:-$(dirname "$0")/data/routes.transcript}
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: needs root for network namespaces" >&2; exit 77; }
command -v ip >/dev/null && command -v unshare >/dev/null || { echo "SKIPPED: needs ip and unshare" >&2; exit 77; }
unshare -n true 2>/dev/null || { echo "SKIPPED: cannot create a network namespace" >&2; exit 77; }
exec unshare -n bash -s "$transcript" <<'INNER'
set -uo pipefail
ip link set lo up
ip link add eth0 type veth peer name p0 && ip link add eth1 type veth peer name p1 || exit 1
for l in eth0 p0 eth1 p1; do ip link set "$l" up; done
ip addr add 192.0.2.1/24 dev eth0 && ip addr add 198.51.100.1/24 dev eth1 || exit 1
status=0 n=0
while IFS= read -r line; do
  case "$line" in '#'*|'') continue ;; esac
  args=${line%% | *}
  rest=${line#* | }
  expect=${rest%% | *}
  # shellcheck disable=SC2086  # ARGS are words, as ip receives them
  out=$(ip -4 route add $args 2>&1) && got=OK || got=$(printf '%s\n' "$out" | head -n 1)
  n=$((n + 1))
  if [ "$got" != "$expect" ]; then
    printf 'ip route add %s\n  transcript: %s\n  kernel:     %s\n' "$args" "$expect" "$got" >&2
    status=1
  fi
done < "$1"
echo "$n route commands replayed on the kernel"
exit $status
INNER
