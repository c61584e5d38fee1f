#!/bin/sh
# SPECIAL_FUNCTION (built --only-annotated) and automatic wrapping (the same
# source, built without the flag) side by side while bodies move.
# Pass criteria: the annotated build moves exactly its two SPECIAL_FUNCTIONs,
# the automatic one moves them too (and more); both make checked calls with
# zero wrong results; ann_mix moves in both.
D=/sys/kernel/debug/rerand
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
field() { sed -n "s/.*module=$1 .*$2=\([0-9]*\).*/\1/p" $D/stats; }
fmoves() { grep "^$2 " $D/$1 | sed -n 's/.*moves=\([0-9]*\).*/\1/p'; }

echo 5 > /sys/module/rerand/parameters/period_ms
sleep 2
cat $D/stats
cat $D/rerand_annotated $D/rerand_annotated_auto
for m in rerand_annotated rerand_annotated_auto; do
	c=$(cat /sys/module/$m/parameters/calls)
	e=$(cat /sys/module/$m/parameters/errors)
	echo "$m: calls=$c errors=$e"
	[ "$c" -gt 1000 ] || fail "$m made only $c calls"
	[ "$e" = 0 ] || fail "$m: $e wrong results"
	[ "$(fmoves $m ann_mix)" -gt 0 ] || fail "$m: ann_mix did not move"
done
[ "$(field rerand_annotated randomized)" = 2 ] || fail "annotated build: randomized=$(field rerand_annotated randomized), want 2"
auto=$(field rerand_annotated_auto randomized)
[ "$auto" -gt 2 ] || fail "automatic build moves only $auto functions"
echo "SUMMARY: --only-annotated moves 2 SPECIAL_FUNCTIONs, automatic mode $auto; both 0 wrong results"
