#!/bin/sh
# tbprof's workload (run.sh copies it in): bfq under dd with the mover at
# period 1 ms, or paused all along (PAUSED=1 in /rerand/prof.env), then
# the mover's counters and the kernel's text symbols for tb_diff.py.
D=/sys/kernel/debug/rerand
R=/sys/module/rerand/parameters
X=/rerand/extra
. /rerand/prof.env
insmod $X/configfs.ko || exit 1
insmod $X/null_blk.ko memory_backed=1 gb=1 bs=4096 || exit 1
echo 1 > $R/paused
insmod $X/bfq.ko || exit 1
echo bfq > /sys/block/nullb0/queue/scheduler || exit 1
echo 1 > $R/period_ms
echo "$PAUSED" > $R/paused
dd if=/dev/zero of=/dev/nullb0 bs=64k count=1024 oflag=direct 2>/dev/null || exit 1
dd if=/dev/nullb0 of=/dev/null bs=64k count=1024 iflag=direct 2>/dev/null || exit 1
echo 1 > $R/paused
sleep 0.2
cat $D/mover
echo KSYMS-BEGIN
grep -E '^[0-9a-f]+ [tT] ' /proc/kallsyms
echo KSYMS-END
