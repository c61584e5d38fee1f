#!/bin/sh
# In-tree modules of a whole kernel built with LD=rerand-ld (`cargo xtask
# kernel`): rerand.ko is loaded by init; this script loads the in-tree
# modules (/rerand/kmods/NN-name.ko, in dependency order), moves their
# bodies every 1 ms, and uses them: a zram disk written raw, then formatted
# ext2, filled and read back after every cache is dropped.
# Pass criteria:
#  - every in-tree module loads and appears in the runtime's stats with
#    randomized functions;
#  - raw zram: 8 MiB of random data read back (caches dropped) with the same
#    md5sum;
#  - ext2 on zram, KERNEL_ROUNDS rounds (default 4) of: write 3 files,
#    unmount, mount, check every md5sum;
#  - zram, zsmalloc and ext2 bodies moved during the workload;
#  - everything unmounts, resets and unloads; nothing is left pending; the
#    host fails the run on any oops, BUG or WARNING.
D=/sys/kernel/debug/rerand
ROUNDS=${KERNEL_ROUNDS:-4}
fail() { echo "FAIL: $*"; cat $D/stats 2>/dev/null; echo "SUMMARY: failed: $*"; exit 1; }
stat() { sed -n "s/.*module=$1 .*$2=\([0-9]*\).*/\1/p" $D/stats; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }

[ -r $D/stats ] || fail "no $D/stats (is rerand.ko loaded?)"
echo 1 > /sys/module/rerand/parameters/period_ms || fail "cannot set period_ms=1"
loaded=""
for m in /rerand/kmods/*.ko; do
	name=$(basename "$m" .ko)
	name=$(echo "${name#*-}" | tr - _)
	insmod "$m" || fail "insmod $name"
	loaded="$name $loaded"
	echo "kernel-test: loaded $name: $(grep "module=$name " $D/stats)"
done
for m in zram zsmalloc ext2; do
	f=$(stat $m randomized)
	[ "${f:-0}" -gt 0 ] || fail "$m has no randomized functions in $D/stats"
done
z0=$(stat zram moves); s0=$(stat zsmalloc moves); e0=$(stat ext2 moves)

# zram as a raw block device.
echo 64M > /sys/block/zram0/disksize || fail "cannot size zram0"
dd if=/dev/urandom of=/tmp/raw bs=1M count=8 2>/dev/null || fail "dd urandom"
want=$(md5sum < /tmp/raw)
dd if=/tmp/raw of=/dev/zram0 bs=1M 2>/dev/null || fail "dd to zram0"
drop
got=$(dd if=/dev/zram0 bs=1M count=8 2>/dev/null | md5sum)
[ "$got" = "$want" ] || fail "raw zram0 read back $got, wrote $want"
echo "kernel-test: raw zram0: 8 MiB read back, md5 ${want%% *}"

# ext2 on zram.
mke2fs -q -b 4096 /dev/zram0 >/dev/null 2>&1 || fail "mke2fs /dev/zram0"
mkdir -p /mnt
mount -t ext2 /dev/zram0 /mnt || fail "mount ext2"
r=1
while [ $r -le "$ROUNDS" ]; do
	for i in 1 2 3; do
		dd if=/dev/urandom of=/tmp/f$i bs=64k count=$((16 * i)) 2>/dev/null
		mkdir -p /mnt/r$r
		cp /tmp/f$i /mnt/r$r/f$i || fail "round $r: cp f$i"
		md5sum < /tmp/f$i > /tmp/f$i.md5
	done
	umount /mnt || fail "round $r: umount"
	drop
	mount -t ext2 /dev/zram0 /mnt || fail "round $r: mount"
	for i in 1 2 3; do
		got=$(md5sum < /mnt/r$r/f$i)
		[ "$got" = "$(cat /tmp/f$i.md5)" ] || fail "round $r: f$i read back wrong"
	done
	echo "kernel-test: round $r: 3 files checked; moves zram=$(stat zram moves) zsmalloc=$(stat zsmalloc moves) ext2=$(stat ext2 moves)"
	r=$((r + 1))
done
used=$(df /mnt | tail -1)
umount /mnt || fail "final umount"
z1=$(stat zram moves); s1=$(stat zsmalloc moves); e1=$(stat ext2 moves)
cat $D/stats
[ "$((z1 - z0))" -gt 0 ] || fail "zram bodies did not move"
[ "$((s1 - s0))" -gt 0 ] || fail "zsmalloc bodies did not move"
[ "$((e1 - e0))" -gt 0 ] || fail "ext2 bodies did not move"

echo 1 > /sys/block/zram0/reset || fail "zram0 reset"
for name in $loaded; do
	rmmod "$name" || fail "rmmod $name"
done
left=$(grep -c "module=" $D/stats)
n=$(echo $loaded | wc -w)
echo "SUMMARY: $n in-tree modules, raw zram + $ROUNDS ext2 rounds checked, moves zram=$((z1 - z0)) zsmalloc=$((s1 - s0)) ext2=$((e1 - e0)), unloaded (stats lines left: $left); ext2 usage: $used"
