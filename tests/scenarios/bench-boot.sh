#!/bin/sh
# Pass criteria: the runtime and the hello module (both built in this run)
# are loaded, and hello printed its computed line.
fail() { echo "FAIL: $*"; echo "SUMMARY: failed: $*"; exit 1; }
lsmod | grep -q '^rerand ' || fail "rerand.ko is not loaded"
lsmod | grep -q '^hello ' || fail "hello.ko is not loaded"
dmesg | grep -q 'hello: loaded, 6 \* 7 = 42' || fail "hello did not print its result"
rmmod hello || fail "rmmod hello"
dmesg | grep -q 'hello: unloaded' || fail "hello did not unload"
echo "SUMMARY: kernel $(uname -r), 2 modules loaded, hello computed 42, unloaded cleanly"
