#!/bin/sh
# bfq in direct mode (docs/DESIGN.md, "Direct mode"): direct=1 is set
# before bfq loads, so calls between bfq's copies go copy to copy and
# only the block layer's entries pass a trampoline. Pass criteria: bfq is
# listed direct=1 and its copies' calls were linked (direct_calls > 0),
# then every criterion of the bfq scenario (verified dd, concurrent
# readers and writers, moves, drain, exposure windows).
echo 1 > /sys/module/rerand/parameters/direct ||
	{ echo "FAIL: cannot set direct=1"; echo "SUMMARY: failed: cannot set direct=1"; exit 1; }
BFQ_DIRECT=1
. /rerand/bfq.sh
