#!/bin/bash
# Captures goldens from the running kernel into a temporary directory and
# runs the golden tests of log_test against them. Exit 77: cannot run here.
set -euo pipefail
test_bin=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/nfemu-log-check.XXXXXX)
trap 'rm -rf "$dir"' EXIT
rc=0
"$here/capture-golden.sh" "$dir" || rc=$?
[ $rc = 0 ] || exit $rc
NFEMU_LOG_GOLDEN_DIR="$dir" "$test_bin" --gtest_filter='LogGolden*'
