#!/bin/sh
# The newcomer's demo: test_driver's functions move every 100 ms while the
# host keeps calling them through their fixed entry points. The guest prints
# raw reads between DEMO- markers; `cargo xtask demo` renders them as tables
# (xtask/src/demo.rs).
# Pass criteria: every call returned the right result, and the bodies moved.
D=/sys/kernel/debug/rerand
echo 100 > /sys/module/rerand/parameters/period_ms
echo 50 > /sys/module/rerand_host/parameters/period_ms
for i in 1 2 3 4 5; do
	sleep 0.5
	echo "DEMO-READ $i"
	cat $D/test_driver
done
echo "DEMO-END"
stats=$(grep 'module=test_driver ' $D/stats)
echo "DEMO-STATS $stats"
calls=$(cat /sys/module/rerand_host/parameters/calls)
errors=$(cat /sys/module/rerand_host/parameters/errors)
moves=$(echo "$stats" | sed -n 's/.* moves=\([0-9]*\).*/\1/p')
echo "DEMO-CALLS calls=$calls errors=$errors moves=$moves"
[ "$errors" = 0 ] || { echo "SUMMARY: failed: $errors of $calls calls wrong"; exit 1; }
[ "${moves:-0}" -gt 0 ] || { echo "SUMMARY: failed: no moves"; exit 1; }
echo "SUMMARY: $calls checked calls while bodies moved $moves times, 0 wrong results"
