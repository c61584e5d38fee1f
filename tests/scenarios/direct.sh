#!/bin/sh
# Direct mode (docs/DESIGN.md, "Direct mode"): rerand.ko is loaded with
# direct=0; direct=1 is set, then rerand_torture is loaded, so calls
# between its copies go straight to the callee's copy in the same arena
# and only entries from outside pass a trampoline. Pass criteria:
#  - the module is listed direct=1, and direct_calls (calls and tail calls
#    linked copy to copy) grows while it moves;
#  - the calls are direct: t_fact(10) recurses 9 times per checked call,
#    and every caller of t_fact is a function of the module, so the
#    function tracer on t_fact's trampoline sees almost nothing (at most
#    one hit per 100 checked calls; through trampolines it would be
#    about one per three);
#  - then every criterion of the stress scenario, for 30 s: zero wrong
#    results from threads, softirq and hardirq, a sleeper in t_nap does
#    not stop it moving, the never-returning loop keeps moving, the guard
#    on and silent, nothing pending after rmmod; all but the forged
#    ticket, which needs a trampoline's frame under t_forge.
T=/sys/kernel/tracing
D=/sys/kernel/debug/rerand
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
dstat() { sed -n "s/.*module=rerand_torture .* $1=\([0-9]*\).*/\1/p" $D/stats; }

echo 1 > /sys/module/rerand/parameters/period_ms || fail "cannot set period_ms=1"
echo 1 > /sys/module/rerand/parameters/direct || fail "cannot set direct=1"
insmod /rerand/extra/rerand_torture.ko || fail "insmod rerand_torture"
dmesg | grep -q "rerand_torture: .*calls between them direct" || fail "the runtime did not take rerand_torture in direct mode"
[ "$(dstat direct)" = 1 ] || fail "rerand_torture is listed direct=$(dstat direct)"
sleep 1
dc0=$(dstat direct_calls); sleep 1; dc1=$(dstat direct_calls)
[ "$dc1" -gt "$dc0" ] || fail "direct_calls did not grow ($dc0 -> $dc1)"
echo "direct: $((dc1 - dc0)) calls linked copy to copy in 1 s"

P=/sys/module/rerand_torture/parameters
echo t_fact > $T/set_ftrace_filter || fail "cannot filter the tracer on t_fact"
echo > $T/trace
c0=$(cat $P/calls)
echo function > $T/current_tracer || fail "function tracer"
sleep 2
echo nop > $T/current_tracer
c1=$(cat $P/calls)
hits=$(grep -c ' t_fact <-' $T/trace)
echo > $T/set_ftrace_filter
checked=$((c1 - c0))
echo "tracer on t_fact's trampoline: $hits hits in $checked checked calls"
[ "$checked" -gt 1000 ] || fail "only $checked checked calls while tracing"
[ $((hits * 100)) -le "$checked" ] || fail "t_fact's trampoline saw $hits calls in $checked: its internal calls are not direct"

STRESS_SECONDS=30
STRESS_NO_FORGE="a direct call leaves t_forge no trampoline frame to forge"
STRESS_TAG="direct: $((dc1 - dc0)) links/s, t_fact traced $hits in $checked; "
. /rerand/stress.sh
