#!/usr/bin/env bash
# Asks the real kernel what it makes of each rule of a .cases file and
# writes NAME.expected next to it: one line per case, `OK <rule as
# iptables-legacy-save prints it>` or `ERR <first line iptables-legacy-restore
# printed>`. Needs root and network namespaces; builds one fresh namespace
# and always deletes it.
#
# .cases format: one case per line, `TABLE RULE`, e.g.
#   nat -A POSTROUTING -o eth0 -j MASQUERADE
# or `TABLE RULE ;; RULE ...` for several rules (their saves joined alike).
# Every table also has a user chain `uchain` (unreachable) and `reached`
# (jumped to from every builtin chain of the table), to test hook checks.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "gen-expected: needs root" >&2; exit 77; }
command -v iptables-legacy-restore >/dev/null || { echo "gen-expected: iptables-legacy missing" >&2; exit 77; }
ns="nfemu-gen-$$-$RANDOM"
ip netns add "$ns" || { echo "gen-expected: no network namespaces" >&2; exit 77; }
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT INT TERM

for cases in "$@"; do
  out="${cases%.cases}.expected"
  : > "$out.tmp"
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) echo "$line" >> "$out.tmp"; continue;; esac
    table=${line%% *}
    rule=${line#* }
    block=$(bash "$(dirname "$0")/case-block.sh" "$table" "$rule")
    # Start every case from empty tables, so that a restore that exits 0
    # without committing (e.g. --help) cannot leave the previous case behind,
    # nor can another table's rules (a RATEEST estimator lives as long as a
    # rule of any table holds it).
    printf '*raw\nCOMMIT\n*mangle\nCOMMIT\n*nat\nCOMMIT\n*filter\nCOMMIT\n' |
      ip netns exec "$ns" iptables-legacy-restore 2>/dev/null || true
    if err=$(printf '%s\n' "$block" | ip netns exec "$ns" iptables-legacy-restore 2>&1 >/dev/null); then
      saved=$(ip netns exec "$ns" iptables-legacy-save -t "$table" | grep -E '^-A (uchain|reached|[A-Z]+) ' | grep -vE '^-A [A-Z]+ -j reached$' | sed ':a;N;$!ba;s/\n/ ;; /g' || true)
      if ! ip netns exec "$ns" iptables-legacy-save -t "$table" | grep -q '^-A [A-Z]* -j reached$'; then
        echo "ERR iptables-restore exited 0 without committing the table" >> "$out.tmp"
        continue
      fi
      echo "OK $saved" >> "$out.tmp"
    else
      first=$(printf '%s\n' "$err" | grep -v '^$' | head -1)
      echo "ERR $first" >> "$out.tmp"
    fi
  done < "$cases"
  mv "$out.tmp" "$out"
  echo "gen-expected: wrote $out"
done
