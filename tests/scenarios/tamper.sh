#!/bin/sh
# Tamper: the trampoline guard (docs/DESIGN.md, "The trampoline guard").
# rerand.ko, rerand_host and test_driver are loaded; the attacker,
# rerand_tamper, is loaded here. It overwrites a `bl` unit of one of
# test_driver's trampolines at its own address (one 64-bit STR).
# Pass criteria:
#  - the guard is on by default and watches guard_slots trampolines;
#  - thousands of moves with the guard on (period 1 ms, the watched set
#    drawn again every 50 ms): tamper stays 0, the runtime's own writes go
#    through the text-patching alias; moves/s with guard=1 and guard=0;
#  - a write to a watched unit is caught at once (the handler ran before
#    the write returned), reported once, tamper +1, the trampoline intact
#    again, the watchpoint re-armed (five writes in a row, all caught);
#  - a write to an unwatched unit is caught by the integrity check within
#    one period, reported once, tamper +1, intact again;
#  - tamper_policy=skip: the store never lands, reported once, tamper +1;
#  - in total: report lines == tamper == writes, handler hits == writes to
#    watched units (no handler loop), and every call the host made through
#    the trampolines returned the right result.
D=/sys/kernel/debug/rerand
R=/sys/module/rerand/parameters
H=/sys/module/rerand_host/parameters
T=/sys/module/rerand_tamper/parameters
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
st() { sed -n "s/.*module=test_driver .* $1=\([0-9]*\).*/\1/p" $D/stats; }
gd() { sed -n "1s/.* $1=\([0-9]*\).*/\1/p" $D/guard; }
fld() { echo "$2" | sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p"; }
reports() { dmesg | grep -c 'rerand: TAMPER:'; }
kms() { echo "$1" | sed -n 's/^\[ *\([0-9]*\)\.\([0-9][0-9][0-9]\).*/\1\2/p' | sed 's/^0*\([0-9]\)/\1/'; }

insmod /rerand/extra/rerand_tamper.ko || fail "insmod rerand_tamper"
echo 10 > $H/period_ms
[ "$(cat $R/guard)" = Y ] || fail "guard is not on by default"
sleep 1
cat $D/guard
cat $D/stats
slots=$(gd slots); wrps=$(gd wrps)
[ "$wrps" -gt 1 ] && [ "$slots" != "$((wrps - 1))" ] && fail "guard_slots=$slots with $wrps registers"
[ "$(st watched)" = "$slots" ] || fail "test_driver: watched=$(st watched), expected $slots"

# 1. Moves under the guard: period 1 ms, the watched set drawn again every
# 50 ms, until 2000 moves (at most 60 s). Then its cost at the default
# rotation (1000 ms): moves/s with guard on, off, on, off, 5 s each.
echo 1 > $R/period_ms
echo 50 > $R/guard_rotate_ms
sleep 1
r0=$(gd rotations); m0=$(st moves); s0=$(cut -d. -f1 /proc/uptime)
while [ $(( $(st moves) - m0 )) -lt 2000 ] && [ $(( $(cut -d. -f1 /proc/uptime) - s0 )) -lt 60 ]; do
	sleep 2
done
m1=$(st moves); r1=$(gd rotations); secs=$(( $(cut -d. -f1 /proc/uptime) - s0 ))
moves_on=$((m1 - m0))
[ "$(st tamper)" = 0 ] || fail "tamper=$(st tamper) after $moves_on moves with the guard on"
[ "$(gd hits)" = 0 ] || fail "the runtime's own writes hit a watchpoint ($(gd hits) hits)"
[ "$moves_on" -ge 2000 ] || fail "only $moves_on moves in $secs s with the guard on"
echo "guard on: $moves_on moves in $secs s, $((r1 - r0)) rotations of the watched set, tamper=0 hits=0"
echo 1000 > $R/guard_rotate_ms
# rate GUARD: moves per second over 5 s with guard=GUARD
rate() {
	echo $1 > $R/guard
	sleep 1
	m0=$(st moves); sleep 5; m1=$(st moves)
	echo $(( (m1 - m0) / 5 ))
}
on1=$(rate 1); off1=$(rate 0); on2=$(rate 1); off2=$(rate 0)
on=$(( (on1 + on2) / 2 )); off=$(( (off1 + off2) / 2 ))
echo "moves/s: guard=1 $on1, $on2; guard=0 $off1, $off2"
[ "$(gd watched)" = 0 ] || fail "guard=0 left $(gd watched) watchpoints"
[ "$(st tamper)" = 0 ] || fail "tamper=$(st tamper) after the cost runs"
[ "$(gd hits)" = 0 ] || fail "the runtime's own writes hit a watchpoint ($(gd hits) hits)"
cost=$(( off > 0 ? (off - on) * 100 / off : 0 ))

# 2. Freeze the watched set, back to a 100 ms period.
echo 100 > $R/period_ms
echo 600000 > $R/guard_rotate_ms
echo 1 > $R/guard
sleep 1
cat $D/guard
cat $D/test_driver
[ "$(st watched)" = "$slots" ] || fail "guard=1: watched=$(st watched)"
watched_fn=$(grep ' guarded=1 ' $D/test_driver | head -1 | cut -d' ' -f1)
free_fn=$(grep ' guarded=0 ' $D/test_driver | head -1 | cut -d' ' -f1)
[ -n "$watched_fn" ] || fail "no watched trampoline"
[ -n "$free_fn" ] || fail "no unwatched trampoline"

writes=0; wwrites=0; c0=$(cat $H/calls)
# attack FUNCTION HOW(watchpoint|integrity|skip)
# The forged `bl` goes to the function's original body, which the runtime
# has turned into traps by now (poison.c): a call made while the forgery
# is in place would trap there and oops (the poison-trap scenario shows
# it). The host is quiet from each write until its repair is checked.
attack() {
	echo 1000000 > $H/period_ms
	sleep 0.3
	l=$(grep "^$1 " $D/test_driver)
	[ "$(fld body "$l")" != "$(fld orig "$l")" ] || fail "$1 has not moved"
	h0=$(gd hits); t0=$(st tamper)
	fld watch "$l" > $T/addr; fld call "$l" > $T/call; fld orig "$l" > $T/target
	echo 1 > $T/write_now || fail "write_now failed"
	h1=$(gd hits)
	writes=$((writes + 1))
	if [ "$2" = integrity ]; then
		[ "$h1" = "$h0" ] || fail "unwatched $1: a watchpoint fired"
	else
		[ "$h1" = "$((h0 + 1))" ] || fail "$1: $((h1 - h0)) watchpoint hits during the write, expected 1"
		wwrites=$((wwrites + 1))
	fi
	sleep 0.5	# five periods: no second report, no loop
	[ "$(st tamper)" = "$((t0 + 1))" ] || fail "$1 ($2): tamper $t0 -> $(st tamper)"
	last=$(dmesg | grep 'rerand: TAMPER:' | tail -1)
	# Latency: kernel time of the report minus that of the attacker's
	# "write N" line, printed right after its store.
	w=$(dmesg | grep "rerand_tamper: write $writes:" | tail -1)
	ms=$(( $(kms "$last") - $(kms "$w") ))
	[ $ms -lt 0 ] && ms=0
	if [ "$2" = integrity ]; then
		[ $ms -le 200 ] || fail "unwatched $1: reported $ms ms after the write, period 100 ms"
	fi
	echo "$2 write $writes on $1: reported ${ms} ms after the write: $last"
	case "$2" in
	watchpoint) case "$last" in *"$1+"*"caught by watchpoint, repair"*) ;; *) fail "report: $last" ;; esac ;;
	integrity) case "$last" in *"$1+"*"caught by integrity check"*) ;; *) fail "report: $last" ;; esac ;;
	skip) case "$last" in *"$1+"*"store skipped"*) ;; *) fail "report: $last" ;; esac
		[ "$(cat $T/landed)" = 0 ] || fail "skip: the store landed" ;;
	esac
	[ "$(reports)" = "$writes" ] || fail "$(reports) reports for $writes writes"
	l=$(grep "^$1 " $D/test_driver)
	[ "$(fld intact "$l")" = 1 ] || fail "$1 not restored: $l"
	[ "$(fld poisoned "$l")" = 1 ] || fail "$1: the original the attack aimed at is not poisoned"
	echo 10 > $H/period_ms
	sleep 0.2
}

attack "$watched_fn" watchpoint
for i in 2 3 4 5; do attack "$watched_fn" watchpoint; done
grep "^$watched_fn " $D/test_driver | grep -q ' guarded=1 ' || fail "$watched_fn no longer watched"
attack "$free_fn" integrity
echo skip > $R/tamper_policy
attack "$watched_fn" skip
echo repair > $R/tamper_policy
attack "$watched_fn" watchpoint

sleep 1
cat $D/guard
cat $D/stats
dmesg | grep -A3 'rerand: TAMPER:' | head -12
tamper=$(st tamper); hits=$(gd hits); dups=$(gd dups); lost=$(gd lost)
calls=$(cat $H/calls); errors=$(cat $H/errors)
[ "$tamper" = "$writes" ] || fail "tamper=$tamper for $writes writes"
[ "$(reports)" = "$writes" ] || fail "$(reports) reports for $writes writes"
[ "$((hits - dups))" = "$wwrites" ] || fail "$hits handler hits ($dups duplicates) for $wwrites writes to watched units"
[ "$lost" = 0 ] || fail "$lost incidents lost"
[ "$errors" = 0 ] || fail "$errors wrong results"
[ "$calls" -gt "$c0" ] || fail "the host stopped calling"
grep -q ' intact=0 ' $D/test_driver && fail "a trampoline is not intact"
cov=$(sed -n 's/.*module=test_driver .*guard_coverage=\([0-9]*%\).*/\1/p' $D/stats)
distinct=$(st guard_distinct); nf=$(st randomized)
echo "SUMMARY: writes=$writes tamper=$tamper reports=$(reports) watchpoint_hits=$hits dups=$dups; moves/s guard=1 $on, guard=0 $off (cost ${cost}%), $moves_on moves with rotation every 50 ms and tamper=0; watched $slots of $wrps registers, coverage $cov, distinct $distinct/$nf; calls=$calls errors=$errors"
