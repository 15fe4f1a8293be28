#!/bin/bash
# Developer tool: show how the kernel + iptables-legacy-save canonicalise
# individual rules.  Reads lines "TABLE CHAIN RULESPEC..." on stdin (a line
# starting with '#' is echoed, an empty line is skipped) and prints, for each,
#   in:  RULESPEC
#   out: saved -A line   (or  err: stderr + new dmesg lines)
# Each line is loaded with iptables-legacy-restore (so quoting follows
# restore's tokenizer, not the shell's) in its own fresh network namespace so that rules cannot
# influence each other.  Needs root, `ip netns` and iptables-legacy.
set -u
if [ "$(id -u)" != 0 ] || ! command -v iptables-legacy >/dev/null; then
  echo "probe.sh: needs root and iptables-legacy" >&2; exit 77
fi
ns="nfemu-probe-$$-$RANDOM"
cleanup() { ip netns del "$ns" 2>/dev/null; rm -f "$tmp"; }
tmp=$(mktemp)
trap cleanup EXIT
while IFS= read -r line; do
  [ -z "$line" ] && continue
  case "$line" in \#*) echo "$line"; continue;; esac
  read -r table chain rest <<<"$line"
  ip netns add "$ns" || exit 1
  before=$(dmesg | wc -l)
  # Declare user chains named by the rule (its own chain, -j/-g targets) so
  # that jumps can be probed; builtin chains need no declaration.
  {
    echo "*$table"
    for c in $(grep -oE -- '-[jg] [a-z_][a-z0-9_-]*' <<<"$rest" | awk '{print $2}') "$chain"; do
      case "$c" in PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ;; *) echo ":$c - [0:0]";; esac
    done | sort -u
    echo "-A $chain $rest"
    echo "COMMIT"
  } >"$tmp"
  printf 'in:  %s\n' "$rest"
  if err=$(ip netns exec "$ns" iptables-legacy-restore <"$tmp" 2>&1 >/dev/null); then
    ip netns exec "$ns" iptables-legacy-save -t "$table" | grep -E -- "^-A $chain( |\$)" | tail -1 | sed 's/^/out: /'
  else
    printf 'err: %s\n' "$err" | sed '2,$s/^/     /'
  fi
  dmesg | tail -n +"$((before + 1))" | sed 's/^\[[ 0-9.]*\] /dmesg: /'
  ip netns del "$ns"
done
