#!/bin/sh
# VHE: the kernel runs at EL2 (QEMU's -machine virtualization=on), where
# the per-CPU base is in TPIDR_EL2 and rerand.ko's hooks reach their
# counters through the kernel's alternative (runtime-kmod/hooks.S). Pass
# criteria: the kernel says it started at EL2 with VHE, then those of the
# stress scenario, for 20 s.
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
dmesg | grep -q "CPU: All CPU(s) started at EL2" || fail "the kernel did not start at EL2"
dmesg | grep -q "VHE mode initialized" || fail "no VHE"
echo "EL2 with VHE"
STRESS_SECONDS=20
. /rerand/stress.sh
