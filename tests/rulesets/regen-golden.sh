#!/bin/bash
# Regenerate the kernel's golden outputs for the ruleset corpus.
#
#   regen-golden.sh [--out OUTDIR] [CORPUS_DIR]
#
# CORPUS_DIR (default: the directory of this script) holds valid/*.rules and
# invalid/*.rules.  For every valid/NAME.rules it writes
#   NAME.save             iptables-legacy-save -c  after  iptables-legacy-restore --counters
#   NAME.save-nocounters  iptables-legacy-save     after  iptables-legacy-restore
# plus, when the file has a line "# corpus: all-counter-modes", the two mixed modes
#   NAME.save-c-plain     iptables-legacy-save -c  after  iptables-legacy-restore
#   NAME.save-plain-counters iptables-legacy-save  after  iptables-legacy-restore --counters
# and for every invalid/NAME.rules
#   NAME.kernel           restore's exit status and stderr (with and without
#                         --counters) plus the lines the kernel logged when
#                         restore exited 1 (--counters run; only lines seen in
#                         two loads, so that other users' log lines drop out).
# and for every invalid-counters/NAME.rules (refused only with --counters)
#   NAME.kernel           restore --counters: exit status and stderr
#   NAME.save-nocounters  iptables-legacy-save after plain restore (accepted)
# '#' lines are dropped from saves: they carry timestamps.  Output goes next to
# the inputs, or under OUTDIR/{valid,invalid,invalid-counters} with --out (used by the
# rulesets_kernel test to compare against the committed goldens).
#
# Each load happens in its own freshly created network namespace with a unique
# name, so nothing touches the root namespace and results cannot leak from one
# file into the next.  Exit status: 0 ok, 1 a valid file was refused or an
# invalid one accepted, 77 the environment cannot run the kernel (not root, no
# netns, no iptables-legacy).
set -u
export LC_ALL=C

outdir=""
if [ "${1:-}" = "--out" ]; then outdir=$2; shift 2; fi
corpus=${1:-$(cd "$(dirname "$0")" && pwd)}

skip() { echo "regen-golden.sh: SKIPPED: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, iptables-legacy)"
for tool in ip iptables-legacy-restore iptables-legacy-save dmesg; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

ns_prefix="nfemu-golden-$$-$RANDOM"
ns_count=0
current_ns=""
tmp=$(mktemp -d)
cleanup() {
  [ -n "$current_ns" ] && ip netns del "$current_ns" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

new_ns() {
  ns_count=$((ns_count + 1))
  current_ns="$ns_prefix-$ns_count"
  ip netns add "$current_ns" || skip "cannot create network namespace $current_ns"
}
del_ns() {
  ip netns del "$current_ns"
  current_ns=""
}
in_ns() { ip netns exec "$current_ns" "$@"; }

# Probe once so that a missing netns/iptables feature is a loud skip rather
# than a thousand failures.
new_ns
in_ns iptables-legacy-save >/dev/null 2>&1 || skip "iptables-legacy-save does not run in a network namespace"
del_ns

# The kernel log is global: remember the newest timestamp before a load and
# keep only later netfilter lines after it.  Timestamps are stripped so the
# result is stable.
last_stamp() { dmesg 2>/dev/null | tail -1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'; }
dmesg_since() {
  dmesg 2>/dev/null | awk -v t="${1:-0}" '
    match($0, /^\[ *[0-9.]+\] /) {
      s = substr($0, 2, RLENGTH - 3) + 0
      if (s > t + 0) print substr($0, RLENGTH + 1)
    }' || true
}

strip_comments() { grep -v '^#' || true; }

status=0
shopt -s nullglob

valid_out=${outdir:+$outdir/valid}
valid_out=${valid_out:-$corpus/valid}
invalid_out=${outdir:+$outdir/invalid}
invalid_out=${invalid_out:-$corpus/invalid}
ic_out=${outdir:+$outdir/invalid-counters}
ic_out=${ic_out:-$corpus/invalid-counters}
mkdir -p "$valid_out" "$invalid_out" "$ic_out"

nvalid=0
for rules in "$corpus"/valid/*.rules; do
  name=$(basename "$rules" .rules)
  nvalid=$((nvalid + 1))
  new_ns
  if ! in_ns iptables-legacy-restore --counters <"$rules" 2>"$tmp/err"; then
    echo "regen-golden.sh: valid/$name.rules REFUSED by the kernel (--counters):" >&2
    sed 's/^/  /' "$tmp/err" >&2
    status=1
  fi
  in_ns iptables-legacy-save -c | strip_comments >"$valid_out/$name.save"
  all_modes=""
  grep -qx '# corpus: all-counter-modes' "$rules" && all_modes=1
  [ -n "$all_modes" ] && in_ns iptables-legacy-save | strip_comments >"$valid_out/$name.save-plain-counters"
  del_ns

  new_ns
  if ! in_ns iptables-legacy-restore <"$rules" 2>"$tmp/err"; then
    echo "regen-golden.sh: valid/$name.rules REFUSED by the kernel (no --counters):" >&2
    sed 's/^/  /' "$tmp/err" >&2
    status=1
  fi
  in_ns iptables-legacy-save | strip_comments >"$valid_out/$name.save-nocounters"
  [ -n "$all_modes" ] && in_ns iptables-legacy-save -c | strip_comments >"$valid_out/$name.save-c-plain"
  del_ns
done

# load_invalid FILE MODE [capture]: restore FILE in a fresh namespace; leaves
# the exit status in $rc, stderr in $tmp/err and, with "capture", the kernel
# lines logged meanwhile in $tmp/dmesg.
load_invalid() {
  new_ns
  local stamp=""
  [ -n "${3:-}" ] && stamp=$(last_stamp)
  # shellcheck disable=SC2086  # $2 is deliberately empty or one word
  in_ns iptables-legacy-restore $2 <"$1" >/dev/null 2>"$tmp/err"
  rc=$?
  if [ -n "${3:-}" ]; then
    # Give printk a moment to land before reading the ring buffer.
    sleep 0.02
    dmesg_since "$stamp" | grep -v 'callbacks suppressed' >"$tmp/dmesg"
  fi
  del_ns
}

ninvalid=0
for rules in "$corpus"/invalid/*.rules; do
  name=$(basename "$rules" .rules)
  ninvalid=$((ninvalid + 1))
  out="$invalid_out/$name.kernel"
  # The kernel log is shared with everything else on the machine: load the
  # file twice and keep only the lines both loads produced, in order.
  # The kernel log is shared with everything else on the machine and
  # rate-limited (10 lines per call site per 5 s).  Only exit status 1 means
  # the kernel (or libiptc) was asked, so only then is the log read: around two
  # loads, keeping the lines both produced (drops other users' lines).  If that
  # leaves nothing although the committed golden had lines, the rate limit
  # probably ate them: wait for the window to pass and try once more.
  : >"$tmp/dmesg.both"
  load_invalid "$rules" --counters capture
  if [ "$rc" = 1 ]; then
    for attempt in 1 2; do
      cp "$tmp/dmesg" "$tmp/dmesg.first"
      load_invalid "$rules" --counters capture
      grep -Fxf "$tmp/dmesg" "$tmp/dmesg.first" >"$tmp/dmesg.both" || true
      committed="$corpus/invalid/$name.kernel"
      if [ "$attempt" = 1 ] && [ ! -s "$tmp/dmesg.both" ] && [ -f "$committed" ] &&
         sed -n '/^dmesg:/,/^==/p' "$committed" | grep -q '^  '; then
        sleep 5.5
        load_invalid "$rules" --counters capture
        continue
      fi
      break
    done
  fi
  {
    echo "== iptables-legacy-restore --counters"
    echo "exit: $rc"
    echo "stderr:"
    sed 's/^/  /' "$tmp/err"
    echo "dmesg:"
    sed 's/^/  /' "$tmp/dmesg.both"
  } >"$out"
  [ "$rc" = 0 ] && { echo "regen-golden.sh: invalid/$name.rules ACCEPTED by the kernel (--counters)" >&2; status=1; }
  load_invalid "$rules" ""
  {
    echo "== iptables-legacy-restore (no --counters)"
    echo "exit: $rc"
    echo "stderr:"
    sed 's/^/  /' "$tmp/err"
  } >>"$out"
  [ "$rc" = 0 ] && { echo "regen-golden.sh: invalid/$name.rules ACCEPTED by the kernel (no --counters)" >&2; status=1; }
done

nic=0
for rules in "$corpus"/invalid-counters/*.rules; do
  name=$(basename "$rules" .rules)
  nic=$((nic + 1))
  load_invalid "$rules" --counters
  {
    echo "== iptables-legacy-restore --counters"
    echo "exit: $rc"
    echo "stderr:"
    sed 's/^/  /' "$tmp/err"
  } >"$ic_out/$name.kernel"
  [ "$rc" = 0 ] && { echo "regen-golden.sh: invalid-counters/$name.rules ACCEPTED with --counters" >&2; status=1; }
  new_ns
  if ! in_ns iptables-legacy-restore <"$rules" 2>"$tmp/err"; then
    echo "regen-golden.sh: invalid-counters/$name.rules REFUSED without --counters:" >&2
    sed 's/^/  /' "$tmp/err" >&2
    status=1
  fi
  in_ns iptables-legacy-save | strip_comments >"$ic_out/$name.save-nocounters"
  del_ns
done

echo "regen-golden.sh: $nvalid valid, $ninvalid invalid, $nic invalid-counters rulesets processed into ${outdir:-$corpus}" >&2
exit $status
