#!/bin/sh
# Coexist: the kernel's other writers of module text on a rerandomized
# module while its bodies move every millisecond (docs/DESIGN.md, "Other
# writers of module text"). rerand and rerand_host are loaded; test_driver
# is loaded here, after probes and the function tracer are set on it.
# Pass criteria:
#  1. a kprobe and a kretprobe on check_entry and a kprobe on its body,
#     armed before the module loads, and the function tracer set on the
#     module before it loads: the module loads; kprobe = kretprobe =
#     calls made while armed; the tracer sees the calls; once the probes
#     are disabled and deleted and the tracer is off, calls stay right and
#     nothing is reported as tampering (the guard's known-good image holds
#     neither a BRK nor an ftrace call);
#  2. a kprobe on each word of check_entry's trampoline in turn, the
#     `bl` words included (kprobes itself refuses some words): armed, hit
#     and removed, each counts exactly the calls made while it was armed;
#     the function whose `bl` word is under a probe is held, not moved;
#  3. 30 s of churn, probes added, enabled, disabled and deleted on the
#     trampolines and the bodies (at least 3 a second), the host calling
#     back to back;
#  throughout: every call right, tamper=0, bodies keep moving, no oops,
#  lockup or WARN (the bench fails the run on those).
T=/sys/kernel/tracing
D=/sys/kernel/debug/rerand
P=/sys/module/rerand_host/parameters
R=/sys/module/rerand/parameters
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
st() { sed -n "s/.*module=test_driver .* $1=\([0-9]*\).*/\1/p" $D/stats; }
hits() { awk -v p="$1" '$1 == p { print $2 }' $T/kprobe_profile; }
calls() { cat $P/calls; }
# The host sleeps: a new period wakes it for one call, then it waits.
quiesce() { echo 1000000 > $P/period_ms; sleep 0.3; }
# Calls back to back for $1 seconds, then quiet again.
burst() { echo 0 > $P/period_ms; sleep "$1"; quiesce; }
clean() { [ "$(st tamper)" = 0 ] || fail "tamper=$(st tamper) after $1"; [ "$(cat $P/errors)" = 0 ] || fail "wrong results after $1"; }

echo 1 > $R/period_ms
quiesce

# 1. Armed before the module exists.
echo 'p:pre_entry test_driver:check_entry' >> $T/kprobe_events || fail "pending kprobe"
echo 'r:pre_ret test_driver:check_entry' >> $T/kprobe_events || fail "pending kretprobe"
echo 'p:pre_body test_driver:check_entry_real' >> $T/kprobe_events || fail "pending body kprobe"
echo 1 > $T/events/kprobes/enable || fail "enabling pending probes"
echo ':mod:test_driver' > $T/set_ftrace_filter || fail "ftrace filter for a module not loaded yet"
echo function > $T/current_tracer || fail "function tracer"
insmod /rerand/extra/test_driver.ko || fail "insmod test_driver with probes and the tracer armed"
sleep 0.5
c0=$(calls)
burst 2
c1=$(calls)
e=$(hits pre_entry); r=$(hits pre_ret); b=$(hits pre_body)
traced=$(grep -c 'check_entry <-' $T/trace)
echo "armed before load: calls=$((c1 - c0)) kprobe=$e kretprobe=$r body=$b traced=$traced moves=$(st moves)"
[ "$((c1 - c0))" -gt 0 ] || fail "no calls"
[ "$e" = "$((c1 - c0))" ] || fail "pending kprobe counted $e of $((c1 - c0)) calls"
[ "$r" = "$((c1 - c0))" ] || fail "pending kretprobe counted $r of $((c1 - c0)) calls"
[ "$traced" -gt 0 ] || fail "the tracer saw no call"
echo 0 > $T/events/kprobes/enable
echo nop > $T/current_tracer
echo > $T/set_ftrace_filter
echo > $T/kprobe_events || fail "deleting the probes"
m0=$(st moves)
burst 2
[ "$(st moves)" -gt "$m0" ] || fail "no moves after the probes went"
clean "the pending probes and the tracer were removed"

# 2. Each word of the trampoline in turn.
armed=""; refused=""
for off in $(seq 0 4 60); do
	if ! echo "p:w$off test_driver:check_entry+$off" >> $T/kprobe_events 2>/dev/null; then
		refused="$refused +$off"
		continue
	fi
	if ! echo 1 > $T/events/kprobes/w$off/enable 2>/dev/null; then
		refused="$refused +$off"
		echo "-:w$off" >> $T/kprobe_events
		continue
	fi
	c0=$(calls)
	burst 0.3
	c1=$(calls)
	echo 0 > $T/events/kprobes/w$off/enable
	h=$(hits w$off)
	[ "$((c1 - c0))" -gt 0 ] || fail "+$off: no calls"
	[ "$h" = "$((c1 - c0))" ] || fail "kprobe at check_entry+$off counted $h of $((c1 - c0)) calls"
	echo "-:w$off" >> $T/kprobe_events || fail "removing the kprobe at +$off"
	armed="$armed +$off"
done
echo "trampoline words probed:$armed; refused by kprobes:$refused"
case "$armed" in *" +36"*) ;; *) fail "the bl word (+36) was never probed" ;; esac
# While a kprobe owns the bl word, its function is held, not moved.
echo 'p:hold test_driver:check_entry+36' >> $T/kprobe_events || fail "kprobe on the bl word"
echo 1 > $T/events/kprobes/hold/enable
sleep 0.5
grep '^check_entry ' $D/test_driver | grep -q 'state=held' || fail "check_entry not held under a kprobe on its bl: $(grep '^check_entry ' $D/test_driver)"
mv0=$(sed -n 's/^check_entry .* moves=\([0-9]*\) .*/\1/p' $D/test_driver)
burst 0.5
mv1=$(sed -n 's/^check_entry .* moves=\([0-9]*\) .*/\1/p' $D/test_driver)
[ "$mv0" = "$mv1" ] || fail "check_entry moved under a kprobe on its bl ($mv0 -> $mv1)"
echo 0 > $T/events/kprobes/hold/enable
echo "-:hold" >> $T/kprobe_events
burst 0.5
mv2=$(sed -n 's/^check_entry .* moves=\([0-9]*\) .*/\1/p' $D/test_driver)
[ "$mv2" -gt "$mv1" ] || fail "check_entry did not move again once the kprobe went"
clean "probing each trampoline word"

# 3. Churn: many probes a second, on trampolines and bodies.
targets=""
for off in $armed; do targets="$targets check_entry$off"; done
targets="$targets check_entry_real init_entry init_entry+36 crc32_bytes+36 crc32_step"
echo 0 > $P/period_ms
m0=$(st moves); c0=$(calls); n=0
end=$(( $(cut -d. -f1 /proc/uptime) + 30 ))
while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
	for t in $targets; do
		echo "p:churn test_driver:$t" >> $T/kprobe_events 2>/dev/null || continue
		echo 1 > $T/events/kprobes/churn/enable
		echo 0 > $T/events/kprobes/churn/enable
		echo "-:churn" >> $T/kprobe_events
		n=$((n + 1))
	done
done
quiesce
m1=$(st moves); c1=$(calls)
echo "churn: $n probes added and removed in 30 s; calls=$((c1 - c0)) moves=$((m1 - m0))"
# Each probe is created, armed, disarmed and deleted through tracefs (a
# deletion waits for an RCU grace period): a few per second under TCG.
[ "$n" -ge 90 ] || fail "only $n probes in 30 s"
[ "$((m1 - m0))" -gt 0 ] || fail "no moves during the churn"
clean "30 s of probe churn"
sleep 0.5
[ "$(st held)" = 0 ] || fail "functions still held with no probe left: $(st held)"
rmmod test_driver || fail "rmmod test_driver"
echo "SUMMARY: armed before load kprobe=$e kretprobe=$r (calls) traced=$traced; trampoline words probed:$armed (refused:$refused); held under a bl probe; churn $n probes; tamper=0 errors=0"
