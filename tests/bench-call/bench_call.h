/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The measured functions are global and noinline so that GCC neither
 * inlines nor clones them (a static function may become a .constprop
 * copy): each call in the loop is a real call through its trampoline.
 * W=1 (-Wmissing-prototypes) wants a prototype for each.
 */
#ifndef BENCH_CALL_H
#define BENCH_CALL_H

#include <linux/types.h>

u64 bc_leaf(u64 x);
u64 bc_add(u64 a, u64 b);
u64 bc_loop(unsigned long n);

#endif /* BENCH_CALL_H */
