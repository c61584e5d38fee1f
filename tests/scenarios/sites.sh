#!/bin/sh
# Sites (under single-threaded TCG: multi-threaded TCG keeps running stale
# translations of patched code, the kernel's own static-key sites
# included; docs/DESIGN.md, "Static keys"): functions the kernel looks up
# by PC move: WARN/BUG sites
# (__bug_table), whose report from a copy is the original's, and uaccess
# fixups (__ex_table), which a fault in a copy finds. rerand.ko and rerand_sites are
# loaded; one caller thread per CPU, a softirq timer and a hard-irq hrtimer
# call s_warn_once(), s_warn() and s_bug() with checked results while
# bodies move every 1 ms. Pass criteria:
#  - the three are in the table, each with its site (sites=1), and move;
#  - WARN_ON_ONCE fired 3 times from each context (9 calls): reported once,
#    as the kernel reports the original ("WARNING: CPU: ... at
#    <file>:<line> s_warn_once_real+off [rerand_sites]", "pc :" the same),
#    and every call returned the fired result;
#  - WARN_ON fired 3 times from each context: 9 reports, each naming
#    s_warn_real; the functions keep moving afterwards;
#  - the runtime's break hook saw exactly those 18 traps (site_warns=18)
#    and no unknown site number;
#  - every backtrace frame in a copy is named as the original
#    ("round_of_real+off [rerand_sites]"): no raw address in any report;
#  - s_peek() and s_poke() (get_user/put_user) are in the table with their
#    fixups (fixups=1) and move; 10 debugfs writes make 1000 rounds each of
#    a good read (the right value) and two accesses to an unmapped user
#    address (-EFAULT, value zeroed, no oops): 20000 faults in copies,
#    found by the copies' own entries (site_fixups=), zero wrong results;
#  - s_keyed() (a static key) and s_traced() (a tracepoint) are in the
#    table with their sites (jumps=1) and move; 1000 toggles of s_key
#    (about one a millisecond) while every context calls s_keyed(): every
#    call made in a settled state of the key sees that state (thousands
#    checked, zero wrong), and the toggles reached the copies
#    (site_toggles=);
#  - the tracepoint enabled through tracefs, 5000 calls of s_traced():
#    exactly 5000 events, values 0..4999; disabled, 1000 more calls: no
#    event;
#  - BUG() in a copy (s_bug from a kthread): one "kernel BUG at" with the
#    original's file and line, one "Internal error: Oops - BUG" with
#    "pc : s_bug_real+"; the kthread dies, everything else goes on: the
#    callers keep making rounds with zero wrong results, s_bug keeps
#    moving.
# The harness accepts those WARNING and Oops lines (and no others) for
# this scenario: every console line it treats as a failure must name
# rerand_sites or be the one "Oops - BUG", or be the kernel's own aftermath
# of any BUG() on arm64 6.1: the task dies inside the debug exception
# (el1_dbg() -> ct_nmi_enter() -> brk handler -> die(), for the kernel's
# bug_handler() as for ours), so its CPU's NMI nesting count is never
# undone and ct_kernel_exit() warns once when that CPU next goes idle.
D=/sys/kernel/debug/rerand
P=/sys/module/rerand_sites/parameters
F=/sys/kernel/debug/rerand_sites
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
fn() { grep "^$1 " $D/rerand_sites; }
fld() { echo " $2" | sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p"; }
mvr() { fld "$1" "$(cat $D/mover)"; }
count() { dmesg | grep -c "$1"; }
wait_moves() { # function count: it moves that often within 30 s
	n=0
	while [ "$(fld moves "$(fn $1)")" -lt "$2" ]; do
		n=$((n + 1)); [ $n -le 300 ] || fail "$1 moved only $(fld moves "$(fn $1)") times in 30 s"
		sleep 0.1
	done
}
wait_for() { # param value
	n=0
	while [ "$(cat $P/$1)" -lt "$2" ]; do
		n=$((n + 1)); [ $n -le 300 ] || fail "$1 stayed at $(cat $P/$1), not $2"
		sleep 0.1
	done
}

echo 1 > /sys/module/rerand/parameters/period_ms || fail "cannot set period_ms=1"
sleep 3
for f in s_warn_once s_warn s_bug; do
	line=$(fn $f) || fail "$f is not in the table (it stays put)"
	[ "$(fld sites "$line")" = 1 ] || fail "$f: sites=$(fld sites "$line"), not 1"
	wait_moves $f 20
	echo "$f: $(fld moves "$(fn $f)") moves, body $(fld body "$(fn $f)")"
done

for f in s_peek s_poke; do
	line=$(fn $f) || fail "$f is not in the table (it stays put)"
	[ "$(fld fixups "$line")" = 1 ] || fail "$f: fixups=$(fld fixups "$line"), not 1"
	wait_moves $f 20
done
p0=$(fld moves "$(fn s_peek)")
for i in 1 2 3 4 5 6 7 8 9 10; do
	echo 0123456789abcdef > $F/uaccess || fail "uaccess write $i failed"
	sleep 0.1
done
p1=$(fld moves "$(fn s_peek)")
faults=$(cat $P/uaccess_faults); fixups=$(mvr site_fixups)
echo "uaccess: $faults faults returned -EFAULT, $fixups found in copies' entries; s_peek moved $p0 -> $p1 meanwhile"
[ "$faults" = 20000 ] || fail "uaccess_faults=$faults, not 20000"
[ "$fixups" -ge 19000 ] || fail "only $fixups of 20000 faults were fixed up from a copy"
[ "$p1" -gt "$p0" ] || fail "s_peek did not move during the uaccess rounds"
[ "$(cat $P/errors)" = 0 ] || fail "$(cat $P/errors) wrong results in the uaccess rounds"

for f in s_keyed s_traced; do
	line=$(fn $f) || fail "$f is not in the table (it stays put)"
	[ "$(fld jumps "$line")" = 1 ] || fail "$f: jumps=$(fld jumps "$line"), not 1"
	wait_moves $f 20
done
c0=$(cat $P/key_checked); t0=$(mvr site_toggles); k0=$(fld moves "$(fn s_keyed)")
echo 1000 > $F/toggle || fail "cannot start the toggles"
n=0
while [ "$(cat $P/key_toggles)" -lt 1000 ]; do
	n=$((n + 1)); [ $n -le 240 ] || fail "only $(cat $P/key_toggles) of 1000 toggles in 120 s"
	sleep 0.5
done
checked=$(( $(cat $P/key_checked) - c0 )); toggled=$(( $(mvr site_toggles) - t0 ))
k1=$(fld moves "$(fn s_keyed)")
echo "static key: 1000 toggles, $checked calls checked in a settled state, $toggled sites in copies rewritten, s_keyed moved $k0 -> $k1"
[ "$(cat $P/errors)" = 0 ] || fail "$(cat $P/errors) wrong results while s_key toggled"
[ "$checked" -ge 1000 ] || fail "only $checked calls of s_keyed checked"
[ "$toggled" -ge 1000 ] || fail "the toggles rewrote only $toggled sites in copies"
[ "$k1" -gt "$k0" ] || fail "s_keyed did not move while its key toggled"

T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T || fail "cannot mount tracefs"
E=$T/events/rerand_sites/s_event
[ -d $E ] || fail "no tracepoint rerand_sites:s_event"
echo > $T/trace
echo 1 > $E/enable || fail "cannot enable the tracepoint"
echo 5000 > $F/trace || fail "the traced calls failed"
echo 0 > $E/enable
echo 1000 > $F/trace || fail "the untraced calls failed"
events=$(grep -c "s_event: x=" $T/trace)
first=$(grep -m1 -o "s_event: x=[0-9]*" $T/trace); last=$(grep -o "s_event: x=[0-9]*" $T/trace | tail -1)
echo "tracepoint: $events events ($first .. $last) for 5000 traced and 1000 untraced calls; s_traced moves $(fld moves "$(fn s_traced)")"
[ "$events" = 5000 ] || fail "$events events, not 5000"
[ "$first" = "s_event: x=0" ] && [ "$last" = "s_event: x=4999" ] || fail "events $first .. $last, not 0 .. 4999"

echo "once 3" > $F/fire || fail "cannot fire WARN_ON_ONCE"
wait_for fired_once 9
echo "warn 3" > $F/fire || fail "cannot fire WARN_ON"
wait_for fired_warn 9
sleep 1
once=$(count "WARNING: CPU: .* at .*sites_fns.c:[0-9]* s_warn_once_real+0x[0-9a-f]*/0x[0-9a-f]* \[rerand_sites\]")
warn=$(count "WARNING: CPU: .* at .*sites_fns.c:[0-9]* s_warn_real+0x[0-9a-f]*/0x[0-9a-f]* \[rerand_sites\]")
pcs=$(count "pc : s_warn_\(once_\)\?real+0x[0-9a-f]*/0x[0-9a-f]* \[rerand_sites\]")
echo "WARN_ON_ONCE: 9 fired, $once reported; WARN_ON: 9 fired, $warn reported; $pcs pc lines name the function"
[ "$once" = 1 ] || fail "WARN_ON_ONCE reported $once times, not once"
[ "$warn" = 9 ] || fail "WARN_ON reported $warn times, not 9"
[ "$pcs" = 10 ] || fail "$pcs register dumps name the function, not 10"
[ "$(mvr site_warns)" = 18 ] || fail "the break hook saw site_warns=$(mvr site_warns), not 18"
[ "$(mvr site_unknown)" = 0 ] || fail "unknown site numbers: $(mvr site_unknown)"
raw=$(dmesg | grep -c "^\[ *[0-9.]*\]  0x[0-9a-f]*$")
copyframes=$(count "^\[ *[0-9.]*\]  round_of_real+0x[0-9a-f]*/0x[0-9a-f]* \[rerand_sites\]")
echo "backtraces: $copyframes frames of round_of named, $raw raw addresses, site_names=$(mvr site_names)"
[ "$raw" = 0 ] || fail "$raw backtrace frames print a raw address"
[ "$copyframes" -ge 10 ] || fail "only $copyframes frames name round_of_real"
[ "$(cat $P/errors)" = 0 ] || fail "$(cat $P/errors) wrong results"

m0=$(fld moves "$(fn s_warn)")
sleep 2
m1=$(fld moves "$(fn s_warn)")
[ "$m1" -gt "$m0" ] || fail "s_warn stopped moving after its WARNs ($m0 -> $m1)"

r0=$(cat $P/thread_rounds); h0=$(cat $P/hardirq_rounds); s0=$(cat $P/softirq_rounds)
b0=$(fld moves "$(fn s_bug)")
# The bench boots with oops=panic; this oops is the one expected.
echo 0 > /proc/sys/kernel/panic_on_oops || fail "cannot clear panic_on_oops"
echo 1 > $F/bug || fail "cannot start the BUG kthread"
sleep 2
bugs=$(count "kernel BUG at .*sites_fns.c:[0-9]*!")
oops=$(count "Internal error: Oops - BUG: ")
bugpc=$(count "pc : s_bug_real+0x[0-9a-f]*/0x[0-9a-f]* \[rerand_sites\]")
echo "BUG(): $bugs reported, $oops oops, $bugpc pc lines name s_bug_real"
[ "$bugs" = 1 ] || fail "BUG reported $bugs times, not once"
[ "$oops" = 1 ] || fail "$oops oopses, not 1"
[ "$bugpc" = 1 ] || fail "the oops does not name s_bug_real"
# The Code: line shows the words that ran: the copy's own site BRK
# (brk #0xc000 + n) at pc, not the traps the original holds by now.
code=$(dmesg | grep -a -m1 "Code: " | sed -n 's/.*(\([0-9a-f]*\)).*/\1/p')
echo "BUG(): the oops's Code: line shows $code at pc"
case "$code" in
d43[89a-f]????) ;;
*) fail "the Code: line shows $code at pc, not the copy's site BRK" ;;
esac
[ "$(mvr site_bugs)" = 1 ] || fail "site_bugs=$(mvr site_bugs), not 1"
dmesg | grep -q "s_bug(S_FIRE) returned" && fail "BUG() returned"
sleep 2
r1=$(cat $P/thread_rounds); h1=$(cat $P/hardirq_rounds); s1=$(cat $P/softirq_rounds)
b1=$(fld moves "$(fn s_bug)")
echo "after the oops: rounds thread $r0 -> $r1, softirq $s0 -> $s1, hardirq $h0 -> $h1; s_bug moves $b0 -> $b1"
[ "$r1" -gt "$r0" ] && [ "$s1" -gt "$s0" ] && [ "$h1" -gt "$h0" ] ||
	fail "the callers stopped after the oops"
[ "$b1" -gt "$b0" ] || fail "s_bug stopped moving after the oops"
[ "$(cat $P/errors)" = 0 ] || fail "$(cat $P/errors) wrong results"
echo "SUMMARY: passed: WARN_ON_ONCE once, WARN_ON 9 of 9, BUG oopses naming s_bug_real, frames in copies named, 20000 uaccess faults fixed up in copies, 1000 key toggles followed, 5000 of 5000 trace events, $(cat $P/calls) checked calls right, all moving"
