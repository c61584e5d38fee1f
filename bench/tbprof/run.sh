#!/bin/sh
# usage: bench/tbprof/run.sh TAG PAUSED RERAND_KO    (from the repository root,
# after a `cargo xtask test` or `bench` has filled .cache/)
# One vCPU under icount, QEMU with tb_count.c: writes /tmp/tbprof/TAG.log
# (console) and /tmp/tbprof/TAG.tb (counts).
set -eu
tag=$1 paused=$2 ko=$3
out=/tmp/tbprof
mkdir -p $out
[ $out/libtb_count.so -nt bench/tbprof/tb_count.c ] ||
	gcc -Wall -shared -fPIC -O2 -o $out/libtb_count.so bench/tbprof/tb_count.c
# A wrapper of its own per run, first in PATH, so that runs may go at once.
mkdir -p $out/$tag.bin
cat > $out/$tag.bin/qemu-system-aarch64 <<EOT
#!/bin/sh
exec /usr/bin/qemu-system-aarch64 -plugin $out/libtb_count.so,out=$out/$tag.tb "\$@"
EOT
chmod +x $out/$tag.bin/qemu-system-aarch64
echo "PAUSED=$paused" > $out/$tag.env
mods=$(ls -d .cache/bench/*/root/lib/modules/*/kernel | head -1)
bfq=$(ls .cache/bfq/*/rerand/bfq.ko | head -1)
nullblk=$mods/drivers/block/null_blk/null_blk.ko
[ -e "$nullblk" ] || { echo "run.sh: no $nullblk (cargo xtask test fills .cache/)" >&2; exit 1; }
PATH=$out/$tag.bin:$PATH cargo xtask vm --smp 1 --icount --timeout 900 --module "$ko" \
	--file "$mods/fs/configfs/configfs.ko:/rerand/extra/configfs.ko" \
	--file "$nullblk:/rerand/extra/null_blk.ko" \
	--file "$bfq:/rerand/extra/bfq.ko" \
	--file "$out/$tag.env:/rerand/prof.env" \
	--run bench/tbprof/guest.sh > $out/$tag.log 2>&1
grep -o 'ticks=[0-9]* built=[0-9]*' $out/$tag.log
