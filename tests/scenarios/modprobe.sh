#!/bin/sh
# modprobe, depmod and /etc/modprobe.d, as users run them.
# Pass criteria:
#  - after depmod, `modprobe test_driver` loads its dependencies first
#    (rerand_host, and rerand: recorded by rerand.mk's reference header);
#  - `options rerand period_ms=7` in /etc/modprobe.d takes effect;
#  - an option on the modprobe command line overrides the file;
#  - the functions move and `modprobe -r` unloads the chain.
X=/rerand/extra
K=/lib/modules/$(uname -r)
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }

mkdir -p $K/extra /etc/modprobe.d
cp $X/rerand.ko $X/rerand_host.ko $X/test_driver.ko $K/extra/
depmod || fail "depmod"
grep test_driver $K/modules.dep
modinfo -F depends $K/extra/test_driver.ko | grep -q rerand || fail "test_driver does not record depends=rerand"
echo "options rerand period_ms=7" > /etc/modprobe.d/rerand.conf
modprobe test_driver || fail "modprobe test_driver"
lsmod
[ "$(cat /sys/module/rerand/parameters/period_ms)" = 7 ] ||
	fail "period_ms from /etc/modprobe.d not applied: $(cat /sys/module/rerand/parameters/period_ms)"
echo 5 > /sys/module/rerand_host/parameters/period_ms
sleep 1
moves=$(sed -n 's/.*module=test_driver .*moves=\([0-9]*\).*/\1/p' /sys/kernel/debug/rerand/stats)
[ "${moves:-0}" -gt 0 ] || fail "no moves"
[ "$(cat /sys/module/rerand_host/parameters/errors)" = 0 ] || fail "wrong results"
modprobe -r test_driver || fail "modprobe -r test_driver"
rmmod rerand_host
modprobe -r rerand || fail "modprobe -r rerand"
modprobe rerand period_ms=3 || fail "modprobe rerand period_ms=3"
[ "$(cat /sys/module/rerand/parameters/period_ms)" = 3 ] || fail "command-line option did not override the file"
modprobe -r rerand
echo "SUMMARY: depmod+modprobe loaded rerand, rerand_host, test_driver in order; modprobe.d period_ms=7 applied, command line overrides; $moves moves"
