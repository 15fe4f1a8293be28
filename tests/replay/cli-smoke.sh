#!/usr/bin/env bash
# `nfemu replay` from the command line: the captures of an `nfemu run` of
# tcp-port-forward replayed into gw give the same forwarding (7 frames out, the listener's SYN-ACK retransmission included;
# one dropped by FORWARD's policy); a candidate ruleset without NAT and
# with a DROP policy makes --diff list the 7 and exit 1; --own-output
# replays none of gw's own frames (forwards and answers); bad --in,
# --ifindex and --fixlen values exit 2.
set -euo pipefail
nfemu=$1
scenarios=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sc="$scenarios/tcp-port-forward/tcp-port-forward.toml"
fail() { echo "cli-smoke: FAIL: $*" >&2; exit 1; }

"$nfemu" run "$sc" --out "$work/run" > /dev/null
"$nfemu" replay "$sc" --host gw --in "wan=$work/run/gw/wan.pcap" --in "lan=$work/run/gw/lan.pcap" \
  --out "$work/replay" > "$work/summary.txt" || fail "replay exited $?"
grep -q "forwarded 7, dropped 1" "$work/summary.txt" || { cat "$work/summary.txt"; fail "summary"; }
grep -q "filter FORWARD policy" "$work/summary.txt" || fail "drop attribution"
cmp -s "$work/summary.txt" "$work/replay/gw/summary.txt" || fail "summary.txt differs from stdout"
for f in kern.log conntrack-events.txt conntrack.txt iptables-save.txt wan.pcap lan.pcap; do
  [ -f "$work/replay/gw/$f" ] || fail "missing $f"
done

# --own-output: gw's own frames in these captures are forwards (their
# copies that came in carry the same time stamp, from the other capture)
# and answers nfemu makes itself; none is replayed, nothing else changes.
"$nfemu" replay "$sc" --host gw --in "wan=$work/run/gw/wan.pcap" --in "lan=$work/run/gw/lan.pcap" --own-output \
  > "$work/summary-own.txt" || fail "replay --own-output exited $?"
grep -q "own frames (--own-output): 0 replayed as the host's output; not replayed: 5 forwards, 2 answers" \
  "$work/summary-own.txt" || { cat "$work/summary-own.txt"; fail "--own-output replayed forwards or answers"; }
diff <(grep -v "own" "$work/summary.txt") <(grep -v "own" "$work/summary-own.txt") || fail "--own-output changed fates"

printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' > "$work/drop-all.rules"
set +e
"$nfemu" replay "$sc" --host gw --in "wan=$work/run/gw/wan.pcap" --in "lan=$work/run/gw/lan.pcap" \
  --rules "$work/drop-all.rules" --diff > "$work/diff.txt"
rc=$?
set -e
[ "$rc" = 1 ] || fail "--diff with differences exited $rc, want 1"
grep -q "packets whose fate differs: 7" "$work/diff.txt" || { cat "$work/diff.txt"; fail "diff count"; }
# Without a nat table the requests are for gw itself; the answers die in FORWARD.
[ "$(grep -c '^  candidate: delivered locally 203.0.113.10:' "$work/diff.txt")" = 3 ] || fail "diff lines (local)"
[ "$(grep -c '^  candidate: DROP by filter FORWARD policy' "$work/diff.txt")" = 4 ] || fail "diff lines (drop)"

set +e
"$nfemu" replay "$sc" --host gw --in "wan" > /dev/null 2> "$work/err.txt"; rc1=$?
"$nfemu" replay "$sc" --host gw --in "eth9=$work/run/gw/wan.pcap" > /dev/null 2>> "$work/err.txt"; rc2=$?
"$nfemu" replay "$sc" --host nope --in "wan=$work/run/gw/wan.pcap" > /dev/null 2>> "$work/err.txt"; rc3=$?
"$nfemu" replay "$sc" --host gw --in "wan=$work/missing.pcap" > /dev/null 2>> "$work/err.txt"; rc4=$?
"$nfemu" replay "$sc" --host gw --in "any=$work/run/gw/wan.pcap" --ifindex wan > /dev/null 2>> "$work/err.txt"; rc5=$?
"$nfemu" replay "$sc" --host gw --in "any=$work/run/gw/wan.pcap" --ifindex wan=2 > /dev/null 2>> "$work/err.txt"; rc6=$?
"$nfemu" replay "$sc" --host gw --in "wan=$work/run/gw/wan.pcap" --fixlen trunc > /dev/null 2>> "$work/err.txt"; rc7=$?
set -e
[ "$rc7" = 2 ] || { cat "$work/err.txt"; fail "--fixlen trunc exited $rc7"; }
grep -q -- "--fixlen: trunc not in {del,pad}" "$work/err.txt" || fail "--fixlen message"
[ "$rc5$rc6" = 22 ] || { cat "$work/err.txt"; fail "--ifindex exit codes $rc5$rc6"; }
grep -q -- "--ifindex wan: expected IFNAME=INDEX, e.g. --ifindex wan=2" "$work/err.txt" || fail "--ifindex message"
grep -q -- "--in any=.*: a EN10MB (1) capture does not say which interface" "$work/err.txt" || fail "any message"
[ "$rc1$rc2$rc3$rc4" = 2222 ] || { cat "$work/err.txt"; fail "bad input exit codes $rc1$rc2$rc3$rc4"; }
grep -q "host gw has no interface eth9 (it has wan, lan)" "$work/err.txt" || fail "interface message"
grep -q "the scenario has no host nope" "$work/err.txt" || fail "host message"
echo "cli-smoke: ok"
