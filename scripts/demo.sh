#!/usr/bin/env bash
# The main job: what a new user sees after `make demo`. Outputs go to out/.
set -euo pipefail
build=${1:-build/release}
nfemu=$build/src/cli/nfemu
upviz=$build/src/upviz/upviz
mkdir -p out

echo "== nfemu check: would the kernel accept this ruleset?"
$nfemu check examples/rulesets/dmz-firewall.rules && echo "accepted"
echo
echo "== nfemu save -c: the ruleset exactly as iptables-legacy-save -c prints it"
$nfemu save -c examples/rulesets/dmz-firewall.rules
echo
echo "== nfemu check on a broken ruleset (exit status 2 expected)"
$nfemu check examples/rulesets/broken.rules || echo "(exit status $?)"
echo
echo "== nfemu run: the motivating case (examples/icmp-nat-dmz/README.md explains it)"
examples/icmp-nat-dmz/run.sh "$nfemu" out/icmp-nat-dmz
echo
echo "== nfemu run: a router fed from the wire (timeline head; artifacts in out/wire-edge/)"
$nfemu run tests/scenarios/wire-edge/wire-edge.toml --out out/wire-edge > out/wire-edge.timeline
head -n 25 out/wire-edge.timeline
echo "... ($(wc -l < out/wire-edge.timeline) timeline lines; kern.log, conntrack events/table, iptables-save -c, pcaps per interface:)"
ls out/wire-edge/edge/
echo
echo "== upviz: the uploads recorded in this machine's Debian changelogs, as a video"
$upviz log --changelogs /usr/share/doc --last 300 -o out/uploads.log
$upviz render out/uploads.log -1280x720 -s 0.02 -r 25 --title "Debian uploads found on this machine" -o out/uploads.webm
ls -la out/uploads.log out/uploads.webm
