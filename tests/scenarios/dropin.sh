#!/bin/sh
# LD=rerand-ld as a drop-in: a single-object module (tests/sample) and a
# composite one (tests/dropin) built with only the make command line
# (`make -C $KDIR M=$PWD LD=rerand-ld KCFLAGS=... KBUILD_EXTRA_SYMBOLS=...`,
# no rerand.mk), loaded as users load modules.
# Pass criteria:
#  - depmod records rerand as a dependency of both (`depends=` in .modinfo,
#    which rerand-ld added for the single-object one after modpost);
#  - `modprobe` of each loads rerand first, with no "no symbol version" or
#    "disagrees about version" line (the hooks' CRCs are right);
#  - 200 reads of each device return the right text while bodies move
#    every millisecond, and both modules' bodies move;
#  - what the composite module's author said holds (issue 20): its weak
#    dropin_scale, overridden by the other object, loads and the override
#    is what runs (collatz=3x); the notrace dropin_quiet moves but has no
#    ftrace site; the NOKPROBE_SYMBOL dropin_in_probe stays in place and
#    in the kprobe blacklist.
X=/rerand/extra
K=/lib/modules/$(uname -r)
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }

mkdir -p $K/extra
cp $X/rerand.ko $X/sample.ko $X/rerand_dropin.ko $K/extra/
depmod || fail "depmod"
for m in sample rerand_dropin; do
	d=$(modinfo -F depends $K/extra/$m.ko)
	echo "$m: depends=$d"
	echo ",$d," | grep -q ',rerand,' || fail "$m.ko does not record depends=rerand"
done
grep -E '^(.*/)?(sample|rerand_dropin)\.ko:' $K/modules.dep
modprobe sample || fail "modprobe sample"
lsmod | grep -q '^rerand ' || fail "modprobe sample did not load rerand first"
modprobe rerand_dropin || fail "modprobe rerand_dropin"
if dmesg | grep -E 'no symbol version|disagrees about version|Unknown symbol'; then
	fail "the kernel refused a symbol (lines above)"
fi
echo 1 > /sys/module/rerand/parameters/period_ms
fib="0 1 1 2 3 5 8 13 21 34 55 89 144 233 377 610 987 1597 2584 4181"
calc="adler32=9246113b collatz=178626 extra=23134"
for i in $(seq 200); do
	got=$(cat /dev/rerand_sample)
	[ "$got" = "$fib" ] || fail "sample read $i: $got"
	got=$(cat /dev/rerand_dropin)
	[ "$got" = "$calc" ] || fail "rerand_dropin read $i: $got"
done
grep -E 'module=(sample|rerand_dropin) ' /sys/kernel/debug/rerand/stats
L=/sys/kernel/debug/rerand/rerand_dropin
T=/sys/kernel/tracing
grep -q '^dropin_quiet' $L || fail "notrace dropin_quiet should move"
grep -q '^dropin_in_probe ' $L && fail "NOKPROBE_SYMBOL dropin_in_probe was wrapped"
grep -q '^dropin_read ' $T/available_filter_functions || fail "the tracer does not list dropin_read"
grep -E '^dropin_quiet' $T/available_filter_functions && fail "notrace dropin_quiet became traceable"
grep -q 'dropin_in_probe' /sys/kernel/debug/kprobes/blacklist || fail "dropin_in_probe is not in the kprobe blacklist"
moves() { sed -n "s/.*module=$1 .*moves=\([0-9]*\).*/\1/p" /sys/kernel/debug/rerand/stats; }
ms=$(moves sample)
md=$(moves rerand_dropin)
[ "${ms:-0}" -gt 0 ] || fail "sample's bodies did not move"
[ "${md:-0}" -gt 0 ] || fail "rerand_dropin's bodies did not move"
# rerand serves both: the first removal leaves it, the second takes it too.
rmmod rerand_dropin || fail "rmmod rerand_dropin"
modprobe -r sample || fail "modprobe -r sample"
lsmod | grep -q '^rerand ' && fail "modprobe -r sample left rerand loaded"
echo "SUMMARY: single-object and composite modules built with LD=rerand-ld alone: depends=rerand, modprobe loaded rerand first, no symbol-version refusal; 400 reads correct (weak override, notrace untraced, NOKPROBE in place); moves sample=$ms rerand_dropin=$md"
