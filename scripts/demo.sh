#!/usr/bin/env bash
# The main job: what a new user sees after `make demo`.
set -euo pipefail
build=${1:-build/release}
nfemu=$build/src/cli/nfemu

echo "== nfemu check: is this ruleset one the kernel would accept?"
$nfemu check examples/rulesets/dmz-firewall.rules && echo "accepted"
echo
echo "== nfemu save -c: the ruleset as iptables-legacy-save -c prints it"
$nfemu save -c examples/rulesets/dmz-firewall.rules
echo
echo "== nfemu check on a broken ruleset (exit status 2 expected)"
$nfemu check examples/rulesets/broken.rules || echo "(exit status $?)"
