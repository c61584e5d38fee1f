#!/bin/sh
# Stress: rerand.ko and rerand_torture are loaded; one caller thread per CPU,
# a softirq timer, a hard-irq hrtimer and a never-returning loop call every
# torture function with checked results while bodies move every 1 ms.
# Pass criteria, after STRESS_SECONDS (default 60) of guest time:
#  - calls made from threads, softirq and hardirq, zero wrong results;
#  - moves recorded for rerand_torture, and they keep happening;
#  - a thread asleep for 10 s inside t_nap() (the debugfs nap write) does
#    not stop t_nap from moving: it moves at least 10 times, and its body
#    address differs in at least 3 samples, while the thread sleeps; then
#    the thread returns the right result; the never-returning loop
#    function is reported lingering (an era kept open, with its copies)
#    and keeps moving too;
#  - the trampoline guard is on throughout (watched >= 1) and the mover's
#    own retargeting never counts as tampering (tamper=0);
#  - the hooks, as the kernel's alternatives patched them, hold no barrier
#    (dmb/dsb), and count with one STADD per update and no exclusive loop
#    where the CPU has LSE atomics (/proc/cpuinfo "atomics"), with
#    LDXR/STXR loops where it has not (three update sites: entry, the
#    entry's take-back when an era began meanwhile, exit);
#  - a forged ticket (t_forge flips the era in its own trampoline frame,
#    as a write into a sleeping caller's stack would): where the CPU has
#    pointer authentication (/proc/cpuinfo "paca") it is detected at exit,
#    counted (forged_tickets=) and reported (STATE:); without it, it can
#    only pick another era of t_forge's slot; either way the call returns
#    the right result and t_forge keeps moving (unless STRESS_NO_FORGE
#    says why not);
#  - t_args9 and t_args10 (8 and 16 bytes of stack-passed arguments) and
#    t_warn_site (a WARN site) are moved functions and move (their results
#    are among those checked); the variadic t_variadic stays;
#  - after the callers stop (rmmod), nothing is pending and nothing oopsed.
D=/sys/kernel/debug/rerand
P=/sys/module/rerand_torture/parameters
SECONDS_TO_RUN=${STRESS_SECONDS:-60}
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
stat() { sed -n "s/.*module=rerand_torture .* $1=\([0-9]*\).*/\1/p" $D/stats; }

echo 1 > /sys/module/rerand/parameters/period_ms || fail "cannot set period_ms=1"
echo hello > /sys/kernel/debug/rerand_torture/uaccess || fail "uaccess write failed"
start=$(cut -d. -f1 /proc/uptime)
m0=$(stat moves)
fn() { grep "^$1 " $D/rerand_torture; }
fld() { echo " $2" | sed -n "s/.* $1=\([0-9a-fx]*\).*/\1/p"; }
loop0=$(fld moves "$(fn looper_main)")

# A sleeper: 10 s inside t_nap(), sampled every 0.2 s meanwhile. The
# callers keep both CPUs busy, and at nice 0 this shell got 1 to 3 samples
# in the 10 s on -cpu max: it observes at nice -15 (renice), a sample is
# one grep parsed by shell builtins, and the wait between samples is a
# builtin read timing out on a FIFO nobody writes (no sleep process).
renice -n -15 -p $$ > /dev/null || fail "cannot renice the observing shell"
mkfifo /tmp/nap-tick && exec 3<> /tmp/nap-tick || fail "cannot make the sampling FIFO"
echo 10000 > /sys/kernel/debug/rerand_torture/nap &
nap_pid=$!
n=0
while [ "$(cat $P/napping)" != 1 ]; do
	n=$((n + 1)); [ $n -le 50 ] || fail "the nap did not start"; sleep 0.1
done
nap0=$(fld moves "$(fn t_nap)")
bodies=""; samples=0
read -r napping < $P/napping
while [ "$napping" = 1 ]; do
	line=$(fn t_nap); body=${line#* body=}; body=${body%% *}
	case " $bodies " in *" $body "*) ;; *) bodies="$bodies $body" ;; esac
	samples=$((samples + 1))
	[ $samples -le 150 ] || fail "the nap did not end in 30 s"
	read -r -t 0.2 -u 3 _
	read -r napping < $P/napping
done
nap1=$(fld moves "$(fn t_nap)")
exec 3<&-; rm -f /tmp/nap-tick; renice -n 15 -p $$ > /dev/null
wait $nap_pid || fail "the nap write failed"
distinct=$(echo $bodies | wc -w)
nap_moves=$((nap1 - nap0))
echo "nap: 10 s asleep in t_nap: $nap_moves moves, $distinct distinct bodies in $samples samples; $(fn t_nap | cut -d' ' -f3-6)"
[ "$(cat $P/naps)" = 1 ] || fail "the nap did not complete (naps=$(cat $P/naps))"
[ "$nap_moves" -ge 10 ] || fail "t_nap moved only $nap_moves times while a thread slept in it"
[ "$samples" -ge 3 ] || fail "the table was read only $samples times in the 10 s nap"
[ "$distinct" -ge 3 ] || fail "t_nap showed only $distinct bodies in $samples samples while a thread slept in it"

# A forged ticket, written into the caller's own trampoline frame.
mvr() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" $D/mover; }
# STRESS_NO_FORGE (direct.sh) says why not: t_forge writes the frame
# of whatever called it, which is no trampoline when the call is direct.
if [ -n "$STRESS_NO_FORGE" ]; then
	forge="forge skipped: $STRESS_NO_FORGE"
	echo "$forge"
else
	fn t_forge | grep -q . || fail "t_forge is not a moved function"
	forged0=$(mvr forged_tickets); fm0=$(fld moves "$(fn t_forge)")
	echo 1 > /sys/kernel/debug/rerand_torture/forge || fail "the forge write failed"
	if grep -q '^Features.* paca' /proc/cpuinfo; then
		n=0
		while ! dmesg | grep -q "STATE: t_forge .*forged ticket at exit"; do
			n=$((n + 1)); [ $n -le 20 ] || fail "the forged ticket was not reported"; sleep 0.1
		done
		[ "$(mvr forged_tickets)" = $((forged0 + 1)) ] ||
			fail "forged_tickets=$(mvr forged_tickets), expected $((forged0 + 1))"
		forge="forged ticket detected (PAC) and reported"
	else
		[ "$(mvr forged_tickets)" = "$forged0" ] || fail "a plain ticket was reported forged"
		forge="forged ticket undetected without PAC: bounded to t_forge's eras"
	fi
	n=0
	while [ "$(fld moves "$(fn t_forge)")" = "$fm0" ]; do
		n=$((n + 1)); [ $n -le 20 ] || fail "t_forge stopped moving after the forged ticket"; sleep 0.1
	done
	echo "forge: $forge; t_forge keeps moving ($(fn t_forge | cut -d' ' -f3-6))"
fi

while :; do
	now=$(cut -d. -f1 /proc/uptime)
	[ $((now - start)) -ge "$SECONDS_TO_RUN" ] && break
	sleep 10
	echo "t=$((now - start))s calls=$(cat $P/calls) errors=$(cat $P/errors) $(grep rerand_torture $D/stats)"
done
m1=$(stat moves)
calls=$(cat $P/calls); errors=$(cat $P/errors)
irq=$(cat $P/irq_calls); soft=$(cat $P/softirq_calls); ua=$(cat $P/uaccess_calls)
lingering=$(stat lingering)
loop1=$(fld moves "$(fn looper_main)")
[ "$(mvr hooks_dmb)" = 0 ] && [ "$(mvr hooks_dsb)" = 0 ] ||
	fail "barriers on the call path: dmb=$(mvr hooks_dmb) dsb=$(mvr hooks_dsb)"
if grep -q '^Features.* atomics' /proc/cpuinfo; then
	[ "$(mvr hooks_stadd)" = 3 ] && [ "$(mvr hooks_ldxr)" = 0 ] ||
		fail "LSE CPU, but the hooks run stadd=$(mvr hooks_stadd) ldxr=$(mvr hooks_ldxr)"
	atomics="3 STADD sites, no exclusive loop (LSE)"
else
	[ "$(mvr hooks_stadd)" = 0 ] && [ "$(mvr hooks_ldxr)" = 3 ] ||
		fail "no LSE, but the hooks run stadd=$(mvr hooks_stadd) ldxr=$(mvr hooks_ldxr)"
	atomics="3 LDXR/STXR loop sites (no LSE)"
fi
# Stack-passed arguments: t_args9 (8 bytes on the stack) and t_args10
# (16) move through the trampoline that copies them; the variadic
# t_variadic stays (its stack arguments have no size to copy).
for f in t_args9 t_args10 t_warn_site; do
	line=$(fn $f) || fail "$f is not a moved function"
	[ "$(fld moves "$line")" -gt 100 ] || fail "$f moved only $(fld moves "$line") times"
done
fn t_variadic | grep -q . && fail "t_variadic is in the table"
watched=$(stat watched); tamper=$(stat tamper)
cat $D/stats
[ "$errors" = 0 ] || fail "$errors wrong results out of $calls"
[ "$calls" -gt 10000 ] || fail "only $calls calls"
[ "$irq" -gt 0 ] || fail "no calls from hard irq"
[ "$soft" -gt 0 ] || fail "no calls from softirq"
[ "$ua" = 1 ] || fail "uaccess write not seen"
[ "$((m1 - m0))" -gt 1000 ] || fail "only $((m1 - m0)) moves in ${SECONDS_TO_RUN}s"
[ "${lingering:-0}" -ge 1 ] || fail "the never-returning loop was not reported lingering"
[ "$((loop1 - loop0))" -gt 100 ] || fail "looper_main moved only $((loop1 - loop0)) times while its caller never left"
[ "${watched:-0}" -ge 1 ] || fail "the guard watches no trampoline (watched=$watched)"
[ "$tamper" = 0 ] || fail "tamper=$tamper: the mover's own writes were reported"
state_tamper=$(stat state_tamper)
rmmod rerand_torture || fail "rmmod rerand_torture"
pending=$(sed -n 's/.*module=rerand_torture .*pending=\([0-9]*\).*/\1/p' $D/stats)
[ -z "$pending" ] || [ "$pending" = 0 ] || fail "$pending copies still pending after unload"
echo "SUMMARY: ${STRESS_TAG}${SECONDS_TO_RUN}s calls=$calls errors=0 irq_rounds=$irq softirq_rounds=$soft moves=$((m1 - m0)) nap_moves=$nap_moves nap_bodies=$distinct lingering=$lingering looper_moves=$((loop1 - loop0)) $forge (state_tamper=$state_tamper); watched=$watched tamper=0; hooks: $atomics, $(mvr hooks_insns) instructions, $(mvr hooks_dmb) dmb"
