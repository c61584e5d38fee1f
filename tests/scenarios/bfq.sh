#!/bin/sh
# bfq: a real module. The kernel's BFQ I/O scheduler, built out of tree
# with rerand-ld (cargo xtask build: .cache/bfq/<version>/rerand/bfq.ko),
# is the scheduler of a memory-backed null_blk device (Debian's stock
# module) while its bodies move every 10 ms. rerand.ko is loaded; the
# script loads configfs, null_blk and bfq from /rerand/extra/.
# Pass criteria:
#  - bfq registers and is selected as nullb0's scheduler;
#  - dd writes of a random 16 MiB pattern (O_DIRECT, 1 MiB and 16 KiB
#    blocks) read back identical (md5sum), four rounds;
#  - 4 concurrent writers, then 4 concurrent readers, then 2 writers and
#    2 readers at once, on disjoint offsets: every piece identical;
#  - every dd exits 0; bfq's moves increase during the I/O;
#  - after the I/O stops and the mover is paused, pending returns to 0,
#    and every copy dropped was counted in the exposure windows (debugfs
#    windows: publication to drop), whose distribution is printed (the
#    bench reports it; timings are not asserted);
#  - the scheduler is still bfq at the end.
D=/sys/kernel/debug/rerand
R=/sys/module/rerand/parameters
X=/rerand/extra
Q=/sys/block/nullb0/queue
DEV=/dev/nullb0
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
st() { sed -n "s/.*module=bfq .* $1=\([0-9]*\).*/\1/p" $D/stats; }

insmod $X/configfs.ko || fail "insmod configfs"
insmod $X/null_blk.ko memory_backed=1 gb=1 bs=4096 nr_devices=1 ||
	fail "insmod null_blk"
insmod $X/bfq.ko || fail "insmod bfq (rerand-ld)"
[ -b $DEV ] || fail "no $DEV"
grep -q bfq $Q/scheduler || fail "bfq not offered: $(cat $Q/scheduler)"
echo bfq > $Q/scheduler || fail "cannot select bfq"
grep -q '\[bfq\]' $Q/scheduler || fail "scheduler is $(cat $Q/scheduler)"
grep -q 'module=bfq ' $D/stats || fail "rerand does not list bfq"
# bfq-direct.sh sets BFQ_DIRECT=1 (and direct=1 before bfq loads).
mode="period 10 ms"
[ "$(st direct)" = "${BFQ_DIRECT:-0}" ] || fail "bfq is listed direct=$(st direct), expected ${BFQ_DIRECT:-0}"
echo 10 > $R/period_ms || fail "cannot set period_ms=10"
echo "bfq: $(grep 'module=bfq ' $D/stats)"

dd if=/dev/urandom of=/tmp/pat bs=1M count=16 2>/dev/null || fail "pattern"
want=$(md5sum < /tmp/pat | cut -d' ' -f1)
m0=$(st moves)
echo 0 > $D/windows || fail "cannot reset the exposure windows"
errors=0
written=0
read=0
bad() { echo "ERROR: $*"; errors=$((errors + 1)); }

# Sequential rounds: the whole pattern at a different offset each time,
# alternately in 1 MiB and 16 KiB blocks (1,024 requests through bfq).
for r in 0 1 2 3; do
	if [ $((r % 2)) = 0 ]; then bs=1M; n=16; else bs=16k; n=1024; fi
	seek=$((r * 16))
	dd if=/tmp/pat of=$DEV bs=$bs count=$n seek=$((seek * n / 16)) \
		oflag=direct conv=notrunc 2>/dev/null || bad "write round $r"
	dd if=$DEV of=/tmp/back bs=$bs count=$n skip=$((seek * n / 16)) \
		iflag=direct 2>/dev/null || bad "read round $r"
	got=$(md5sum < /tmp/back | cut -d' ' -f1)
	[ "$got" = "$want" ] || bad "round $r ($bs): md5 $got, want $want"
	written=$((written + 16)); read=$((read + 16))
	echo "t=$(cut -d' ' -f1 /proc/uptime)s round $r bs=$bs: ok=$([ "$got" = "$want" ] && echo 1 || echo 0) moves=$(($(st moves) - m0)) pending=$(st pending)"
done
rm -f /tmp/back

# Piece i of the pattern (4 MiB) and where it goes on the device (MiB).
piece() { dd if=/tmp/pat bs=64k count=64 skip=$(($1 * 64)) 2>/dev/null; }
off() { echo $((128 + $2 * 32 + $1 * 4)); }
for i in 0 1 2 3; do piece $i > /tmp/p$i; done
sum() { md5sum < "$1" | cut -d' ' -f1; }
# A dd in the background: a failure is recorded in /tmp/errs.
bgdd() { tag=$1; shift; dd "$@" 2>/dev/null || echo "$tag" >> /tmp/errs; }
bgerrs() {
	[ -s /tmp/errs ] && while read -r e; do bad "$e failed"; done < /tmp/errs
	rm -f /tmp/errs
}

# 4 writers at once (area 0), then 4 readers at once.
for i in 0 1 2 3; do
	bgdd "writer $i" if=/tmp/p$i of=$DEV bs=64k seek=$(($(off $i 0) * 16)) \
		oflag=direct conv=notrunc &
done
wait
bgerrs
written=$((written + 16))
for i in 0 1 2 3; do
	bgdd "reader $i" if=$DEV of=/tmp/r$i bs=64k count=64 \
		skip=$(($(off $i 0) * 16)) iflag=direct &
done
wait
bgerrs
read=$((read + 16))
for i in 0 1 2 3; do
	[ "$(sum /tmp/r$i)" = "$(sum /tmp/p$i)" ] || bad "concurrent piece $i differs"
done

# 2 writers (area 1) and 2 readers (area 0) at once, three times.
for k in 1 2 3; do
	for i in 0 1; do
		bgdd "writer $i pass $k" if=/tmp/p$i of=$DEV bs=16k \
			seek=$(($(off $i $k) * 64)) oflag=direct conv=notrunc &
	done
	for i in 2 3; do
		bgdd "reader $i pass $k" if=$DEV of=/tmp/r$i bs=16k count=256 \
			skip=$(($(off $i 0) * 64)) iflag=direct &
	done
	wait
	bgerrs
	written=$((written + 8)); read=$((read + 8))
	for i in 0 1; do
		dd if=$DEV of=/tmp/r$i bs=64k count=64 skip=$(($(off $i $k) * 16)) \
			iflag=direct 2>/dev/null || bad "read back writer $i pass $k"
		read=$((read + 4))
		[ "$(sum /tmp/r$i)" = "$(sum /tmp/p$i)" ] || bad "mixed pass $k: piece $i differs"
	done
	for i in 2 3; do
		[ "$(sum /tmp/r$i)" = "$(sum /tmp/p$i)" ] || bad "mixed pass $k: reader $i read wrong data"
	done
	echo "t=$(cut -d' ' -f1 /proc/uptime)s mixed pass $k: moves=$(($(st moves) - m0)) pending=$(st pending) errors=$errors"
done
m1=$(st moves)
moves=$((m1 - m0))

# I/O has stopped: pause the mover; every old copy must drain.
echo 1 > $R/paused
i=0
while [ "$(st pending)" != 0 ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
pending=$(st pending)
grep 'module=bfq ' $D/stats
win=$(head -1 $D/windows)
echo "exposure windows: $win"
wf() { echo " $win" | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
echo 0 > $R/paused
sched=$(cat $Q/scheduler)
dmesg | grep -iE 'I/O error|blk_update_request|buffer i/o' && bad "block layer errors in dmesg"

[ "$errors" = 0 ] || fail "$errors errors"
[ "$moves" -gt 100 ] || fail "only $moves moves of bfq"
[ "$pending" = 0 ] || fail "$pending copies still pending 5 s after the I/O stopped"
# Every move drops one copy once drained (the originals are not copies).
[ "$(wf copies)" -ge $((moves - $(st randomized))) ] ||
	fail "exposure windows counted $(wf copies) copies for $moves moves"
[ "$(wf p99_us)" -gt 0 ] && [ "$(wf max_us)" -ge "$(wf p50_us)" ] ||
	fail "exposure windows inconsistent: $win"
echo "$sched" | grep -q '\[bfq\]' || fail "scheduler is now $sched"
fixed=$(st fixed_exec_bytes)
if [ "${BFQ_DIRECT:-0}" = 1 ]; then
	[ "$(st direct_calls)" -gt 0 ] || fail "direct mode, but no call between bfq's copies was linked"
	mode="$mode, direct mode ($(st direct_calls) calls linked copy to copy)"
fi
echo "SUMMARY: bfq (rerand-ld) on null_blk, $mode: ${written} MiB written, ${read} MiB read and verified, moves=$moves, errors=0, pending=0 after I/O, scheduler bfq, fixed_exec_bytes=$fixed, calls through bfq's PLT entries=$(st plt_calls), veneers built=$(st veneers), exposure p50=$(wf p50_us) us p99=$(wf p99_us) us over $(wf copies) copies"
