#!/bin/sh
# Runtime self-test: rerand.ko is loaded; the self-test module (a
# hand-written table, independent of rerand-ld) is loaded here three times
# at each of period_ms 1 and 100, with callers on every CPU, a timer and an
# hrtimer. Pass criteria: bodies move, every result is right, pending
# returns to 0 once callers stop, unload under moving bodies is clean.
D=/sys/kernel/debug/rerand
P=/sys/module/rerand/parameters
S=/sys/module/rerand_selftest/parameters
KO=/rerand/st.ko

fail() {
	echo "SELFTEST FAIL: $*"
	echo "SUMMARY: failed: $*"
	cat $D/stats
	cat $D/rerand_selftest 2>/dev/null
	exit 1
}

# field NAME: the value of NAME= in the self-test's stats line
field() {
	grep "^module=rerand_selftest " $D/stats | tr ' ' '\n' | sed -n "s/^$1=//p"
}

bodies() {
	sed 's/.* body=\([^ ]*\) .*/\1/' $D/rerand_selftest
}

drains=0
for period in 1 100; do
	echo "$period" > $P/period_ms || fail "set period_ms"
	for round in 1 2 3; do
		echo "SELFTEST: period_ms=$period round $round"
		insmod $KO || fail "insmod"
		sleep 1
		b1=$(bodies)
		cat $D/rerand_selftest
		sleep 1
		b2=$(bodies)
		cat $D/rerand_selftest
		cat $D/stats
		n=$(echo "$b1" | wc -l)
		[ "$n" = 5 ] || fail "expected 5 functions, got $n"
		same=0
		for i in 1 2 3 4 5; do
			x=$(echo "$b1" | sed -n "${i}p")
			y=$(echo "$b2" | sed -n "${i}p")
			[ "$x" = "$y" ] && same=$((same + 1))
		done
		# st_nap may legitimately be pinned by a sleeping caller.
		[ "$same" -le 1 ] || fail "$same bodies did not move in 1 s"
		moves=$(field moves)
		[ "$moves" -gt 0 ] || fail "moves=$moves"
		calls=$(cat $S/calls)
		errors=$(cat $S/errors)
		echo "SELFTEST: calls=$calls errors=$errors naps=$(cat $S/naps) moves=$moves"
		[ "$calls" -gt 1000 ] || fail "only $calls calls"
		[ "$errors" = 0 ] || fail "$errors wrong results"

		# Stop the callers and the mover: every old body must drain.
		echo 0 > $S/run
		echo 1 > $P/paused
		i=0
		while [ "$(field pending)" != 0 ]; do
			i=$((i + 1))
			[ $i -le 50 ] || fail "pending did not return to 0"
			sleep 0.2
		done
		echo "SELFTEST: drained: $(grep rerand_selftest $D/stats)"
		drains=$((drains + 1))
		echo 0 > $P/paused
		# Callers again, then unload while bodies move under them.
		echo 1 > $S/run
		sleep 0.5
		[ "$(cat $S/errors)" = 0 ] || fail "wrong results after resume"
		rmmod rerand_selftest || fail "rmmod"
		[ ! -e $D/rerand_selftest ] || fail "debugfs file left behind"
	done
done
dmesg | grep -E "rerand" | tail -20
echo "SELFTEST PASS"
echo "SUMMARY: 6 load cycles at period_ms 1 and 100, $drains drains to pending=0, 0 wrong results"
exit 0
