#!/bin/sh
# Lifecycle: load order, unload/reload under calls, runtime unload.
# Pass criteria:
#  - a rerandomized module loaded before the runtime is refused cleanly by
#    the kernel (unknown symbol add_pause_list), and loads once it is there;
#  - 100 unload/reload cycles of test_driver while the host calls it every
#    millisecond and bodies move every millisecond: no wrong result, no oops;
#  - rerand.ko refuses to unload while a rerandomized module depends on it,
#    unloads once none does, and loads again.
X=/rerand/extra
D=/sys/kernel/debug/rerand
P=/sys/module/rerand_host/parameters
CYCLES=${LIFECYCLE_CYCLES:-100}
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }

insmod $X/rerand_host.ko || fail "insmod rerand_host"
if insmod $X/test_driver.ko 2>/dev/null; then
	fail "test_driver loaded without the runtime"
fi
dmesg | grep -q 'test_driver: Unknown symbol add_pause_list' ||
	fail "no 'Unknown symbol add_pause_list' refusal in the log"
insmod $X/rerand.ko period_ms=1 || fail "insmod rerand"
echo 1 > $P/period_ms
i=0
while [ $i -lt "$CYCLES" ]; do
	insmod $X/test_driver.ko || fail "insmod test_driver, cycle $i"
	usleep 20000
	rmmod test_driver || fail "rmmod test_driver, cycle $i"
	i=$((i + 1))
done
calls=$(cat $P/calls); errors=$(cat $P/errors)
echo "after $CYCLES cycles: calls=$calls errors=$errors"
cat $D/stats
[ "$errors" = 0 ] || fail "$errors wrong results"
[ "$calls" -gt "$CYCLES" ] || fail "only $calls calls in $CYCLES cycles"

insmod $X/test_driver.ko || fail "final insmod test_driver"
if rmmod rerand 2>/dev/null; then
	fail "rerand unloaded while test_driver depends on it"
fi
rmmod test_driver || fail "rmmod test_driver"
rmmod rerand || fail "rmmod rerand with no dependent module"
insmod $X/rerand.ko || fail "reload rerand"
insmod $X/test_driver.ko || fail "test_driver after runtime reload"
sleep 1
rmmod test_driver && rmmod rerand || fail "final unload"
echo "SUMMARY: refused-before-runtime=yes cycles=$CYCLES calls=$calls errors=0 runtime-unload-refused-while-used=yes"
