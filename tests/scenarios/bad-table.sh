#!/bin/sh
# Corrupted tables (made on the host from test_driver.ko, xtask/src/badtable.rs).
# Pass criteria:
#  - each corrupted module is refused at load with a "refusing test_driver"
#    message naming the problem, and nothing crashes;
#  - a table the runtime cannot even recognise (bad magic) is refused too,
#    with its own message: the module calls the hooks, and unmanaged its
#    bodies would stay where they were loaded;
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

before=$(dmesg | grep -c 'refusing test_driver: it calls rerand.s hooks but carries no table')
if insmod $X/bad_magic.ko 2>/dev/null; then
	fail "bad_magic.ko (no recognisable table) was accepted"
fi
after=$(dmesg | grep -c 'refusing test_driver: it calls rerand.s hooks but carries no table')
[ "$after" -gt "$before" ] || fail "bad_magic.ko refused without its message"
dmesg | grep 'refusing test_driver' | tail -1
refused=$((refused + 1))
! grep -q 'module=test_driver ' $D/stats || fail "a refused module is listed"

insmod $X/test_driver.ko || fail "intact test_driver"
sleep 1
moves=$(sed -n 's/.*module=test_driver .*moves=\([0-9]*\).*/\1/p' $D/stats)
[ "${moves:-0}" -gt 0 ] || fail "intact module does not move"
[ "$(cat $P/errors)" = 0 ] || fail "wrong results"
echo "SUMMARY: $refused corrupted or unrecognisable tables refused with a message; intact module moved ($moves moves)"
