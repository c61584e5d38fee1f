#!/bin/sh
# Read the device while its functions move; check the output and the moves.
want="0 1 1 2 3 5 8 13 21 34 55 89 144 233 377 610 987 1597 2584 4181"
echo 1 > /sys/module/rerand/parameters/period_ms
for i in $(seq 200); do
	got=$(cat /dev/rerand_sample)
	[ "$got" = "$want" ] || { echo "wrong output: $got"; exit 1; }
done
grep sample /sys/kernel/debug/rerand/stats
cat /sys/kernel/debug/rerand/sample
moves=$(sed -n 's/.*module=sample .*moves=\([0-9]*\).*/\1/p' /sys/kernel/debug/rerand/stats)
[ "${moves:-0}" -gt 0 ] || { echo "no moves"; exit 1; }
echo "sample: 200 reads correct while bodies moved ($moves moves)"
