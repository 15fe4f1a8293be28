#!/usr/bin/env bash
# Prints the iptables-restore block for one case: TABLE RULE.
# Shared by gen-expected.sh (kernel) and the documentation; the C++ runner
# (cases_test.cpp) builds the same block.
table=$1; rule=$2
echo "*$table"
echo ":reached - [0:0]"
echo ":uchain - [0:0]"
case $table in
  raw) chains="PREROUTING OUTPUT";;
  mangle) chains="PREROUTING INPUT FORWARD OUTPUT POSTROUTING";;
  nat) chains="PREROUTING INPUT OUTPUT POSTROUTING";;
  *) chains="INPUT FORWARD OUTPUT";;
esac
# A case may hold several rules, separated by " ;; " (rateest needs a
# RATEEST rule too); their saves are joined the same way.
printf '%s\n' "${rule// ;; /$'\n'}"
for c in $chains; do echo "-A $c -j reached"; done
echo "COMMIT"
