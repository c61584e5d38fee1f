#!/bin/sh
# Hardening: rerand's own state is read-only or checked (runtime-kmod/
# vault.c, docs/DESIGN.md "Threat model"). rerand_peek plays an attacker
# with a small kernel write primitive (one store of 1, 4 or 8 bytes, which
# fails on read-only memory), rerand_tamper one who can write module text.
# rerand.ko is loaded here with sealed=1.
# Pass criteria, while the host calls test_driver back to back and its
# bodies move every 2 ms:
#  - sealed: writing a parameter is refused; a store into the variable
#    behind period_ms or paused is reported and undone within a second,
#    and moving goes on;
#  - a store into a function's snapshot is refused (the vault is
#    read-only) and the snapshot is unchanged;
#  - a function record pointed at another function's record and a forged
#    `bl` for the guard to restore are each reported and restored
#    (state_tamper counts them), and the function keeps moving; a store
#    into the slot the hooks read (a zero, or another address) is refused:
#    it is read-only once the module's init has run;
#  - a `bl` planted in a trampoline's ftrace slot (+8) to somewhere that
#    is not ftrace is caught by the integrity check and repaired;
#  - debug registers taken through ptrace (wpgrab, no privilege needed)
#    before rerand.ko loads: the failed registration is reported and
#    shown in debugfs, and the guard takes its watchpoints once they are
#    free; taken while it runs: the guard keeps every watchpoint it has
#    across rotations (a new one is registered before an old one goes),
#    and wpgrab, trying for more every 10 ms, gets only the register the
#    guard leaves free;
#  - every call returned the right result; no oops.
X=/rerand/extra
D=/sys/kernel/debug/rerand
R=/sys/module/rerand/parameters
H=/sys/module/rerand_host/parameters
K=/sys/module/rerand_peek/parameters
T=/sys/module/rerand_tamper/parameters
FN=check_entry
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
fld() { echo " $2" | sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p"; }
st() { sed -n "s/.*module=test_driver .* $1=\([0-9]*\).*/\1/p" $D/stats; }
line() { grep "^$1 " "$2"; }
moves() { fld moves "$(line $FN $D/test_driver)"; }
# poke WIDTH ADDR VALUE: one store through the attacker's primitive.
poke() { echo "$1" > $K/width; echo 0 > $K/skip; echo "$2" > $K/addr; echo "$3" > $K/poke; }
# wait_log PATTERN: up to 2 s for a line in the kernel log.
wait_log() {
	n=0
	while ! dmesg | grep -q "$1"; do
		[ $n -ge 20 ] && return 1
		sleep 0.1; n=$((n + 1))
	done
}
# keeps_moving: the function moves again within 2 s.
keeps_moving() {
	m0=$(moves); n=0
	while [ "$(moves)" = "$m0" ]; do
		[ $n -ge 20 ] && fail "$FN stopped moving after $1 (moves=$m0)"
		sleep 0.1; n=$((n + 1))
	done
}

gd() { sed -n "1s/.* $1=\([0-9-]*\).*/\1/p" $D/guard; }
# grab N: wpgrab takes up to N watchpoints in the background (pid $wp);
# $held is how many it got.
grab() {
	$X/wpgrab "$1" > $X/wpgrab.out &
	wp=$!; n=0
	while ! grep -q holding $X/wpgrab.out; do
		[ $n -ge 50 ] && fail "wpgrab did not start"
		sleep 0.1; n=$((n + 1))
	done
	held=$(sed -n 's/wpgrab: holding //p' $X/wpgrab.out | tail -1)
}

# 0. Every debug register taken before rerand.ko loads.
grab 16
echo "wpgrab holds $held watchpoints before rerand.ko loads"
[ "$held" -ge 1 ] || fail "wpgrab got no watchpoint"
insmod $X/rerand.ko sealed=1 period_ms=2 || fail "insmod rerand sealed=1"
insmod $X/rerand_host.ko || fail "insmod rerand_host"
insmod $X/test_driver.ko || fail "insmod test_driver"
insmod $X/rerand_peek.ko || fail "insmod rerand_peek"
insmod $X/rerand_tamper.ko || fail "insmod rerand_tamper"
echo 0 > $H/period_ms
sleep 1
head -1 $D/state
g=$(head -1 $D/state)
[ "$(fld sealed "$g")" = 1 ] || fail "not sealed"
keeps_moving "loading"
wait_log 'rerand: guard: cannot watch .*the registers are taken' ||
	fail "the failed watchpoint registration was not reported"
cat $D/guard
[ "$(gd watched)" = 0 ] || fail "watched=$(gd watched) with every register taken"
[ "$(gd nospc)" -ge 1 ] && [ "$(gd last_error)" = -28 ] || fail "debugfs does not show the failure"
kill $wp; wait $wp 2>/dev/null
n=0
while [ "$(gd watched)" != "$(gd slots)" ]; do
	[ $n -ge 30 ] && fail "watched=$(gd watched) 3 s after the registers were freed"
	sleep 0.1; n=$((n + 1))
done
slots=$(gd slots); wrps=$(gd wrps)
echo "registers taken before load: reported (nospc=$(gd nospc)); $slots watched once freed"

# 1. Sealed parameters.
echo 1000 > $R/period_ms 2>/dev/null && fail "period_ms writable under sealed=1"
echo 1 > $R/paused 2>/dev/null && fail "paused writable under sealed=1"
echo 0 > $R/guard 2>/dev/null && fail "guard writable under sealed=1"
[ "$(cat $R/period_ms)" = 2 ] || fail "period_ms is $(cat $R/period_ms)"
poke 4 "$(fld period_ms_at "$g")" 100000 || fail "store to period_ms refused"
wait_log 'STATE: sealed period_ms changed to 100000' || fail "period_ms change not reported"
[ "$(cat $R/period_ms)" = 2 ] || fail "period_ms not restored: $(cat $R/period_ms)"
poke 1 "$(fld paused_at "$g")" 1 || fail "store to paused refused"
wait_log 'STATE: sealed paused changed to 1' || fail "paused change not reported"
[ "$(cat $R/paused)" = N ] || fail "paused not restored"
keeps_moving "the sealed variables were written"
viol=$(fld sealed_violations "$(head -1 $D/state)")
[ "$viol" = 2 ] || fail "sealed_violations=$viol, expected 2"
echo "sealed: parameters refused, 2 stores behind them reported and undone"

# 2. A store into a snapshot: the vault is read-only.
s=$(line $FN $D/state)
snap=$(fld snapshot "$s")
echo "$snap" > $K/addr; echo 0 > $K/skip; echo 16 > $K/len
before=$(cat $K/words)
poke 8 "$snap" 0xd4200000d4200000 2>/dev/null && fail "a snapshot was writable"
[ "$(cat $K/words)" = "$before" ] || fail "the snapshot changed: $(cat $K/words)"
keeps_moving "the snapshot write"
echo "snapshot at $snap: store refused, bytes unchanged ($before)"

# 3. Writable records, checked every period.
other=$(grep -v "^$FN " $D/state | grep ' fixed=' | head -1)
poke 8 "$(fld record_at "$s")" "$(fld fixed "$other")" || fail "store to the record pointer refused"
wait_log "STATE: $FN \[test_driver\]: record pointer changed" || fail "record pointer change not reported"
[ "$(fld fixed "$(line $FN $D/state)")" = "$(fld fixed "$s")" ] || fail "record pointer not restored"
keeps_moving "the record pointer write"
poke 4 "$(fld cur_bl_at "$s")" 0x94000000 || fail "store to cur_bl refused"
wait_log "STATE: $FN \[test_driver\]: .bl. the guard restores changed" || fail "cur_bl change not reported"
keeps_moving "the cur_bl write"
# The slot (the base of every counter the hooks write) is read-only.
poke 8 "$(fld slot_at "$s")" 0 2>/dev/null && fail "the slot was writable"
poke 8 "$(fld slot_at "$s")" "$(fld period_ms_at "$g")" 2>/dev/null && fail "the slot was writable"
keeps_moving "the slot writes"
tamper=$(fld state_tamper "$(line $FN $D/state)")
[ "$tamper" -ge 2 ] || fail "state_tamper=$tamper after 2 forged fields"
echo "records: 2 forged fields reported and restored (state_tamper=$tamper); stores into the slot refused"

# 4. A `bl` planted in the ftrace slot at +8, while nothing calls.
echo 1000000 > $H/period_ms
sleep 0.2
tramp=$(fld trampoline "$(line $FN $D/test_driver)")
slot=$(printf '0x%x' $((tramp + 8)))
t0=$(st tamper)
echo "$slot" > $T/addr; echo "$slot" > $T/call; echo "$tramp" > $T/target
echo 1 > $T/write_now || fail "rerand_tamper write"
wait_log "TAMPER: test_driver $FN+0x8/.*caught by integrity check.*repaired" ||
	fail "a bl planted in the ftrace slot was not repaired"
[ "$(st tamper)" = $((t0 + 1)) ] || fail "tamper=$(st tamper), expected $((t0 + 1))"
[ "$(fld intact "$(line $FN $D/test_driver)")" = 1 ] || fail "trampoline not intact"
echo "ftrace slot: planted bl repaired"
echo 0 > $H/period_ms
keeps_moving "the ftrace slot write"

# 5. The registers taken while the guard runs: it keeps what it has.
rot=$(gd rotations)
grab 16
[ "$held" = $((wrps - slots)) ] || fail "wpgrab got $held watchpoints beside the guard's $slots of $wrps"
n=0
while [ "$(gd rotations)" -lt $((rot + 3)) ]; do
	[ $n -ge 60 ] && fail "no rotations"
	sleep 0.1; n=$((n + 1))
done
[ "$(gd watched)" = "$slots" ] || fail "watched=$(gd watched) after 3 rotations beside wpgrab"
now=$(sed -n 's/wpgrab: holding //p' $X/wpgrab.out | tail -1)
[ "$now" = "$held" ] || fail "wpgrab, trying every 10 ms, took a register the guard let go ($held, then $now)"
kill $wp; wait $wp 2>/dev/null
echo "registers taken while running: wpgrab got $held, the guard kept $slots over $(( $(gd rotations) - rot )) rotations"

sleep 1
echo 1000000 > $H/period_ms
sleep 0.2
dmesg | grep 'rerand: STATE:'
cat $D/stats
calls=$(cat $H/calls); errors=$(cat $H/errors)
[ "$errors" = 0 ] || fail "$errors wrong results"
[ "$calls" -gt 1000 ] || fail "only $calls calls"
[ "$(st frozen)" = 0 ] || fail "test_driver frozen"
echo "SUMMARY: registers taken before load reported, kept while running; sealed parameters refused, 2 sealed stores undone; snapshot store refused; $tamper forged record fields restored, slot stores refused; planted ftrace-slot bl repaired; $calls calls, 0 wrong, moves=$(moves)"
