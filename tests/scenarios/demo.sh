#!/bin/sh
# The newcomer's demo: test_driver's functions move every 100 ms while the
# host keeps calling them through their fixed entry points.
D=/sys/kernel/debug/rerand
echo 100 > /sys/module/rerand/parameters/period_ms
echo 50 > /sys/module/rerand_host/parameters/period_ms
echo
echo "== rerand demo: test_driver is rerandomized every 100 ms =="
echo "   (trampoline = the entry point callers hold, never moves;"
echo "    body = where the code runs now)"
for i in 1 2 3 4 5; do
	sleep 0.5
	echo "-- read $i:"
	sed 's/^/   /' $D/test_driver
done
echo
echo "-- runtime statistics:"
sed 's/^/   /' $D/stats
calls=$(cat /sys/module/rerand_host/parameters/calls)
errors=$(cat /sys/module/rerand_host/parameters/errors)
echo "-- the host called check_entry $calls times, $errors wrong results"
[ "$errors" = 0 ] || exit 1
echo "SUMMARY: $calls checked calls while bodies moved, 0 wrong results"
