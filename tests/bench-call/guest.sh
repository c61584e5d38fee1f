#!/bin/sh
# The guest half of `cargo xtask bench` (xtask/src/bench.rs). rerand.ko is
# loaded; /rerand/bench.env says which parts to run (PARTS) and how big.
# Every result is one line starting with "BENCH " for the host to parse.
#   call      bench_call_plain vs bench_call_rr, mover paused, ITER loop
#             iterations (2 calls each) on THREADS threads (0: all CPUs)
#   move      the call loop again with bfq loaded: paused vs period 1 ms
#             (under -icount the difference is the mover's instructions)
#   workload  bfq (plain) vs bfq (rerand-ld) at each of PERIODS, dd O_DIRECT
#             to a memory-backed null_blk, BLOCKS block sizes, REPS rounds
#   entropy   body addresses of every bfq function, SAMPLES reads apart
#   pending   pending old copies over time while bfq is in use, and the
#             exposure windows of the copies dropped meanwhile
#   crossings trampoline crossings per 4 KiB request (the function tracer
#             on bfq's trampolines, mover paused), split by caller: one of
#             bfq's own functions, or the kernel outside bfq
# DIRECT_PERIODS (default none): the workload, the exposure windows at
# 1 ms and the crossings again with bfq loaded under direct=1 (calls
# between its copies go copy to copy), configs "direct<period>".
. /rerand/bench.env
D=/sys/kernel/debug/rerand
R=/sys/module/rerand/parameters
X=/rerand/extra
Q=/sys/block/nullb0/queue
fail() { echo "BENCH fail $*"; exit 1; }
has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
# Guest time in microseconds (the kernel's clock, via a log record).
now() {
	echo "<7>rerand-bench-clock" > /dev/kmsg
	dmesg | grep rerand-bench-clock | tail -1 |
		sed -n 's/^\[ *\([0-9]*\)\.\([0-9]*\)\].*/\1\2/p'
}
st() { sed -n "s/.*module=$1 .* $2=\([0-9]*\).*/\1/p" $D/stats; }
vmalloc() { sed -n 's/^VmallocUsed: *\([0-9]*\).*/\1/p' /proc/meminfo; }
call() {
	echo "$THREADS" > /sys/kernel/debug/$1/threads
	echo "$2" > /sys/kernel/debug/$1/run || fail "run $1"
	cat /sys/kernel/debug/$1/run
}

echo "BENCH cpus $(nproc)"
insmod $X/bench_call_rr.ko || fail "insmod bench_call_rr"
insmod $X/bench_call_plain.ko || fail "insmod bench_call_plain"
echo 1 > $R/paused
if has call; then
	# Warm up once, then alternate; CALL_THREADS: threads per run (0: all CPUs).
	call bench_call_plain 1000 > /dev/null
	call bench_call_rr 1000 > /dev/null
	for th in $CALL_THREADS; do
		THREADS=$th
		for r in $(seq "$CALL_REPS"); do
			for m in bench_call_plain bench_call_rr; do
				echo "BENCH call module=$m rep=$r $(call $m "$ITER")"
			done
		done
	done
	THREADS=0
fi

insmod $X/configfs.ko || fail "insmod configfs"
insmod $X/null_blk.ko memory_backed=1 gb=1 bs=4096 || fail "insmod null_blk"
[ -b /dev/nullb0 ] || fail "no /dev/nullb0"
use() {
	if [ -d /sys/module/bfq ]; then
		echo none > $Q/scheduler
		rmmod bfq || fail "rmmod bfq"
	fi
	# direct=1 (set by the caller) is read when bfq loads.
	insmod $X/$1/bfq.ko || fail "insmod $1 bfq"
	echo bfq > $Q/scheduler || fail "select bfq ($1)"
}
# bfq (rerand-ld) loaded again under direct=1, which it keeps.
use_direct() {
	echo 1 > $R/direct
	use rr
	echo 0 > $R/direct
}

if has move; then
	use rr
	echo 1 > $R/paused
	sleep 1
	for r in $(seq "$CALL_REPS"); do
		echo 1 > $R/paused
		echo "BENCH move paused=1 rep=$r moves=0 $(call bench_call_plain "$MOVE_ITER")"
		echo 1 > $R/period_ms
		echo 0 > $R/paused
		m0=$(st bfq moves); c0=$(st bench_call_rr moves)
		out=$(call bench_call_plain "$MOVE_ITER")
		m1=$(st bfq moves); c1=$(st bench_call_rr moves)
		echo "BENCH move paused=0 rep=$r moves=$((m1 - m0 + c1 - c0)) $out"
	done
	echo 1 > $R/paused
fi

dd if=/dev/urandom of=/tmp/pat bs=1M count="$MIB" 2>/dev/null || fail "pattern"
want=$(md5sum < /tmp/pat | cut -d' ' -f1)
# One measured write and read of the pattern at block size $2; label $1.
work() {
	n=$(($MIB * 1024 / $2))
	m0=$(st bfq moves)
	t0=$(now)
	dd if=/tmp/pat of=/dev/nullb0 bs=$(($2 * 1024)) count=$n oflag=direct \
		conv=notrunc 2>/dev/null || fail "write $1"
	t1=$(now)
	dd if=/dev/nullb0 of=/tmp/back bs=$(($2 * 1024)) count=$n iflag=direct \
		2>/dev/null || fail "read $1"
	t2=$(now)
	m1=$(st bfq moves)
	ok=0
	[ "$(md5sum < /tmp/back | cut -d' ' -f1)" = "$want" ] && ok=1
	echo "BENCH work config=$1 bs_k=$2 rep=$3 mib=$MIB write_us=$((t1 - t0)) read_us=$((t2 - t1)) moves=$((${m1:-0} - ${m0:-0})) ok=$ok"
}
# The work at each period of $3 (configs $1<period>, repetition $2).
at_periods() {
	for p in $3; do
		echo "$p" > $R/period_ms
		echo 0 > $R/paused
		sleep 0.2
		for b in $BLOCKS; do work "$1$p" "$b" "$2"; done
	done
	echo 1 > $R/paused
}
if has workload; then
	for r in $(seq "$REPS"); do
		use plain
		for b in $BLOCKS; do work plain "$b" "$r"; done
		use rr
		at_periods rr "$r" "$PERIODS"
		[ -n "$DIRECT_PERIODS" ] || continue
		use_direct
		at_periods direct "$r" "$DIRECT_PERIODS"
	done
fi

ticks() { sed -n 's/^ticks=\([0-9]*\).*/\1/p' $D/mover; }
# Pending and the exposure windows at period $2 while 4 KiB writes run;
# label $1. The windows twice: under dd alone, then while a shell samples
# pending 20 times a second (each sample forks sed and reads debugfs,
# whose files take the mover's mutex): load=dd, load=dd+sampler.
pend_at() {
	echo "$2" > $R/period_ms
	echo 0 > $R/paused
	# The copies published while the mover was paused go first: their
	# windows measure the pause, not the period.
	sleep 0.2
	echo 0 > $D/windows
	k0=$(ticks)
	t0=$(now)
	for i in 1 2 3 4 5 6 7 8; do
		dd if=/tmp/pat of=/dev/nullb0 bs=4k oflag=direct conv=notrunc 2>/dev/null
	done
	tio=$(($(now) - t0))
	k1=$(ticks)
	if [ "${1#direct}" != "$1" ]; then
		# Direct arenas count their copies' windows when they go.
		echo 1 > $R/paused
		while [ "$(st bfq pending)" != 0 ]; do sleep 0.01; done
		echo 0 > $R/paused
	fi
	echo "BENCH window period=$1 load=dd t_us=$tio ticks=$((k1 - k0)) $(head -1 $D/windows)"
	# I/O in the background while pending is sampled.
	( for i in 1 2 3 4 5 6 7 8; do
		dd if=/tmp/pat of=/dev/nullb0 bs=4k oflag=direct conv=notrunc 2>/dev/null
	done ) &
	io=$!
	echo 0 > $D/windows
	k0=$(ticks)
	t0=$(now)
	for i in $(seq 25); do
		echo "BENCH pend period=$1 t_us=$(($(now) - t0)) pending=$(st bfq pending) moves=$(st bfq moves) vmalloc_kb=$(vmalloc)"
		sleep 0.05
	done
	wait $io
	k1=$(ticks)
	tio=$(($(now) - t0))
	# Direct arenas count their copies' windows when they go: after the
	# drain below, not here.
	[ "${1#direct}" = "$1" ] &&
		echo "BENCH window period=$1 load=dd+sampler t_us=$tio ticks=$((k1 - k0)) $(head -1 $D/windows)"
	echo 1 > $R/paused
	t0=$(now)
	while [ "$(st bfq pending)" != 0 ]; do sleep 0.01; done
	echo "BENCH drain period=$1 drain_us=$(($(now) - t0)) vmalloc_kb=$(vmalloc)"
	[ "${1#direct}" = "$1" ] ||
		echo "BENCH window period=$1 load=dd+sampler t_us=$tio ticks=$((k1 - k0)) $(head -1 $D/windows)"
}
if has pending; then
	use rr
	for p in 10 1; do pend_at "$p" "$p"; done
	if [ -n "$DIRECT_PERIODS" ]; then
		use_direct
		pend_at direct1 1
	fi
fi

# Crossings of bfq's trampolines per 4 KiB request, printed as "BENCH
# $1"; bfq is loaded, the mover as the caller left it.
crossings() {
	T=/sys/kernel/tracing
	[ -d $T/events ] || mount -t tracefs nodev $T || fail "cannot mount tracefs"
	# bfq's own symbols, bodies (foo_real) included: a caller among them
	# is a call between bfq's functions.
	grep '\[bfq\]$' /proc/kallsyms | awk '{ print $3 }' | sort -u > /tmp/bfqsyms
	echo nop > $T/current_tracer
	echo 16384 > $T/buffer_size_kb || fail "trace buffer"
	echo ':mod:bfq' > $T/set_ftrace_filter || fail "ftrace filter"
	echo > $T/trace
	n=$((CROSS_MIB * 256))
	# Requests: reads and writes completed (fields 1 and 5 of the stat).
	r0=$(awk '{ print $1 + $5 }' /sys/block/nullb0/stat)
	echo function > $T/current_tracer || fail "function tracer"
	dd if=/tmp/pat of=/dev/nullb0 bs=4k count=$n oflag=direct conv=notrunc 2>/dev/null || fail "cross write"
	dd if=/dev/nullb0 of=/dev/null bs=4k count=$n iflag=direct 2>/dev/null || fail "cross read"
	# Stopped, not switched to nop: a new tracer empties the buffer.
	echo 0 > $T/tracing_on
	reqs=$(($(awk '{ print $1 + $5 }' /sys/block/nullb0/stat) - r0))
	lost=$(sed -n 's/^overrun: *//p' $T/per_cpu/cpu*/stats | awk '{ s += $1 } END { print s + 0 }')
	# "dd-1 [000] ..... 1.2: foo <-caller": a trampoline entered from
	# caller. Bodies' own ftrace slots (foo_real) would count a call
	# twice where a body still runs at its original address: skipped. A
	# caller with no symbol (an address) is one of bfq's copies.
	grep -v '^#' $T/trace | sed -n 's/.*: \([^ ]*\) <-\([^ +]*\).*/\1 \2/p' |
		grep -v '_real ' |
		awk -v syms=/tmp/bfqsyms -v reqs="$reqs" -v lost="$lost" -v kind="$1" '
		BEGIN { while ((getline s < syms) > 0) own[s] = 1 }
		{ if ($2 in own || $2 ~ /^0x/) { i++; fi[$1]++ } else { e++; fe[$1]++ } }
		END {
			printf "BENCH %s requests=%d external=%d internal=%d lost=%d\n", kind, reqs, e, i, lost
			for (f in fe) printf "BENCH %sfn kind=external fn=%s calls=%d\n", kind, f, fe[f]
			for (f in fi) printf "BENCH %sfn kind=internal fn=%s calls=%d\n", kind, f, fi[f]
		}'
	echo nop > $T/current_tracer
	echo 1 > $T/tracing_on
	echo > $T/set_ftrace_filter
	echo > $T/trace
	echo 1408 > $T/buffer_size_kb
}
if has crossings; then
	use rr
	echo 1 > $R/paused
	crossings cross
	if [ -n "$DIRECT_PERIODS" ]; then
		# The mover runs (originals call through trampolines): every
		# function moved once before the trace starts.
		use_direct
		echo 100 > $R/period_ms
		echo 0 > $R/paused
		sleep 0.5
		[ "$(st bfq moves)" -ge "$(st bfq randomized)" ] || fail "bfq did not move before the direct crossings"
		crossings crossdirect
		echo 1 > $R/paused
	fi
fi

if has entropy; then
	use rr
	echo "BENCH region text=$(cat /sys/module/bfq/sections/.text 2>/dev/null) tramp=$(cat /sys/module/bfq/sections/.text.rerand.tramp 2>/dev/null)"
	echo "BENCH funcs $(sed -n 's/^\([^ ]*\) .*trampoline=0x\([0-9a-f]*\) .*/\1:\2/p' $D/bfq | tr '\n' ' ')"
	echo "$ENTROPY_PERIOD" > $R/period_ms
	echo 0 > $R/paused
	for i in $(seq "$SAMPLES"); do
		sleep "$SAMPLE_GAP"
		echo "BENCH addrs $i $(sed -n 's/.* body=0x\([0-9a-f]*\) .*/\1/p' $D/bfq | tr '\n' ' ')"
	done
	echo 1 > $R/paused
fi
echo "BENCH mover $(cat $D/mover)"
echo "BENCH stats $(grep 'module=bfq ' $D/stats)"
echo "BENCH done"
