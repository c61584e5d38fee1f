#!/bin/sh
# Poison trap: a call into a poisoned original (a stale or forged pointer
# to where the module was loaded) is reported, naming the function, and
# oopses; never silent. The bench expects the oops and the report.
D=/sys/kernel/debug/rerand
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
fld() { echo "$2" | sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p"; }
insmod /rerand/extra/rerand_peek.ko || fail "insmod rerand_peek"
echo 1 > /sys/module/rerand/parameters/period_ms
n=0
while ! grep -q '^check_entry .*poisoned=1' $D/test_driver && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
line=$(grep '^check_entry ' $D/test_driver)
echo "$line"
orig=$(fld orig "$line")
echo "SUMMARY: calling check_entry's poisoned original at $orig"
echo "$orig" > /sys/module/rerand_peek/parameters/call
fail "the call into the poisoned original returned"
