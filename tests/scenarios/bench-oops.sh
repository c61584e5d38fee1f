#!/bin/sh
# Pass criteria (inverted by the harness): loading this module oopses, and
# the bench must report the run as a kernel failure with the oops lines.
echo "SUMMARY: loading a module that dereferences NULL"
insmod /rerand/extra/bench_oops.ko
echo "SUMMARY: the oops did not happen"
exit 0
