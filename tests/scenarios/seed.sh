#!/bin/sh
# Seed scenario (seed 002): rerand.ko, rerand_host and test_driver are loaded;
# the host's thread calls test_driver's entries every 10 ms.
# Pass criteria:
#  - the host made calls and every check_entry result was correct;
#  - the bodies of init_entry and check_entry (debugfs) move between reads;
#  - the entry points the host holds (trampolines) never change;
#  - debugfs counts moves for test_driver;
#  - no "no symbol version" warning although rerand-ld added the hook calls
#    after modpost ran (rerand.mk's reference header versioned them).
D=/sys/kernel/debug/rerand
P=/sys/module/rerand_host/parameters
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
body_of() { grep "^$1 " "$D/test_driver" | sed -n 's/.*body=\([0-9a-fx]*\).*/\1/p'; }

[ -d "$D" ] || fail "no $D"
echo 10 > $P/period_ms
cat $D/stats
seen=""
for i in 1 2 3 4 5 6 7 8 9 10; do
	sleep 0.2
	b="$(body_of check_entry)/$(body_of init_entry)"
	echo "read $i: bodies $b"
	case " $seen " in *" $b "*) ;; *) seen="$seen $b" ;; esac
done
distinct=$(echo $seen | wc -w)
cat $D/stats
cat $D/test_driver
calls=$(cat $P/calls); errors=$(cat $P/errors)
moves=$(sed -n 's/.*module=test_driver .*moves=\([0-9]*\).*/\1/p' $D/stats)
tramps=$(dmesg | sed -n 's/.*rerand_host: .*init_entry=\([0-9a-f]*\) check_entry=\([0-9a-f]*\).*/\1 \2/p' | sort -u | wc -l)
[ "$calls" -gt 50 ] || fail "only $calls calls"
[ "$errors" = 0 ] || fail "$errors wrong results"
[ "${moves:-0}" -gt 0 ] || fail "no moves recorded"
[ "$distinct" -ge 6 ] || fail "bodies at only $distinct distinct address pairs in 10 reads"
[ "$tramps" = 1 ] || fail "entry points changed ($tramps distinct pairs printed)"
# Debian's kernel has MODVERSIONS: rerand.mk must have versioned the hooks.
! dmesg | grep -E 'no symbol version|disagrees about version' || fail "symbol version warnings"
echo "SUMMARY: calls=$calls errors=$errors moves=$moves distinct_body_pairs=$distinct/10 entry_points_stable=yes symbol_versions=ok"
