#!/bin/sh
# Corrupted tables (made on the host from test_driver.ko, xtask/src/badtable.rs).
# Pass criteria:
#  - each corrupted module is refused at load with a "refusing test_driver"
#    message naming the problem, and nothing crashes;
#  - a table the runtime cannot even recognise (bad magic) leaves the module
#    unmanaged: it loads, is not listed in debugfs, and its calls through
#    the trampolines still return correct results;
#  - the intact module loads afterwards and moves.
X=/rerand/extra
D=/sys/kernel/debug/rerand
P=/sys/module/rerand_host/parameters
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }

insmod $X/rerand.ko period_ms=5 || fail "insmod rerand"
insmod $X/rerand_host.ko || fail "insmod rerand_host"
echo 5 > $P/period_ms
refused=0
for bad in bad_call_offset bad_reloc_type bad_version bad_nfuncs; do
	before=$(dmesg | grep -c 'refusing test_driver')
	if insmod $X/$bad.ko 2>/dev/null; then
		fail "$bad.ko was accepted"
	fi
	after=$(dmesg | grep -c 'refusing test_driver')
	[ "$after" -gt "$before" ] || fail "$bad.ko refused without a message"
	dmesg | grep 'refusing test_driver' | tail -1
	refused=$((refused + 1))
done

insmod $X/bad_magic.ko || fail "bad_magic.ko (unmanaged) did not load"
! grep -q 'module=test_driver ' $D/stats || fail "an unrecognised table was managed"
c0=$(cat $P/calls)
sleep 1
c1=$(cat $P/calls)
[ "$c1" -gt "$c0" ] || fail "no calls into the unmanaged module"
[ "$(cat $P/errors)" = 0 ] || fail "wrong results from the unmanaged module"
rmmod test_driver || fail "rmmod unmanaged test_driver"

insmod $X/test_driver.ko || fail "intact test_driver"
sleep 1
moves=$(sed -n 's/.*module=test_driver .*moves=\([0-9]*\).*/\1/p' $D/stats)
[ "${moves:-0}" -gt 0 ] || fail "intact module does not move"
[ "$(cat $P/errors)" = 0 ] || fail "wrong results"
echo "SUMMARY: $refused corrupted tables refused with a message; unrecognised table ran unmanaged ($((c1 - c0)) calls, 0 errors); intact module moved ($moves moves)"
