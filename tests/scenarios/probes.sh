#!/bin/sh
# Probes: kprobe and kretprobe on a trampoline, ftrace on the module.
# Pass criteria:
#  - a kprobe and a kretprobe on test_driver's check_entry (its trampoline)
#    count exactly the calls the host made, across at least 1,000 moves;
#  - the function tracer filtered on the module traces the trampolines
#    during moves (they carry ftrace entries, like any kernel function);
#  - a kprobe on a body (check_entry_real) never crashes: it sits in the
#    pristine body, which stops running after the first move (README).
T=/sys/kernel/tracing
D=/sys/kernel/debug/rerand
P=/sys/module/rerand_host/parameters
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
moves() { sed -n 's/.*module=test_driver .*moves=\([0-9]*\).*/\1/p' $D/stats; }
hits() { awk -v p="$1" '$1 == p { print $2 }' $T/kprobe_profile; }

echo 1 > /sys/module/rerand/parameters/period_ms
# Quiesce the host (a new period wakes it for one call, then it sleeps), so
# that every call between the two reads happens with the probes enabled.
echo 1000000 > $P/period_ms
sleep 0.5
echo 'p:rr_entry test_driver:check_entry' >> $T/kprobe_events || fail "kprobe on the trampoline"
echo 'r:rr_ret test_driver:check_entry $retval' >> $T/kprobe_events || fail "kretprobe on the trampoline"
c0=$(cat $P/calls); m0=$(moves)
echo 1 > $T/events/kprobes/enable
echo 0 > $P/period_ms
# The host calls back to back while bodies move, until 1,000 moves.
while [ $(( $(moves) - m0 )) -lt 1000 ]; do sleep 1; done
echo 1000000 > $P/period_ms
sleep 0.5
c1=$(cat $P/calls); m1=$(moves)
echo 0 > $T/events/kprobes/enable
e=$(hits rr_entry); r=$(hits rr_ret)
echo "calls=$((c1 - c0)) entry_hits=$e return_hits=$r moves=$((m1 - m0))"
[ "$((c1 - c0))" -gt 0 ] || fail "no calls"
[ "$e" = "$((c1 - c0))" ] || fail "kprobe counted $e for $((c1 - c0)) calls"
[ "$r" = "$((c1 - c0))" ] || fail "kretprobe counted $r for $((c1 - c0)) calls"
echo > $T/kprobe_events

echo 'p:rr_body test_driver:check_entry_real' >> $T/kprobe_events || fail "kprobe on a body"
echo 1 > $T/events/kprobes/enable
echo 'test_driver:*' > $T/set_ftrace_filter 2>/dev/null || echo ':mod:test_driver' > $T/set_ftrace_filter
echo function > $T/current_tracer || fail "function tracer"
echo 1 > $P/period_ms
sleep 3
traced=$(grep -c 'check_entry <-' $T/trace)
echo nop > $T/current_tracer
echo 0 > $T/events/kprobes/enable
bodyhits=$(hits rr_body)
echo "function tracer: $traced check_entry entries; kprobe on the body: $bodyhits hits"
[ "$traced" -gt 0 ] || fail "the function tracer saw no call of the check_entry trampoline"
echo > $T/kprobe_events
errors=$(cat $P/errors)
[ "$errors" = 0 ] || fail "$errors wrong results"
echo "SUMMARY: kprobe=$e kretprobe=$r calls=$((c1 - c0)) moves=$((m1 - m0)) body-probe-hits=$bodyhits ftrace-entries=$traced errors=0"
