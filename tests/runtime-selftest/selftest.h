/* SPDX-License-Identifier: GPL-2.0 */
/* The functions of table.S: trampolines whose bodies rerand.ko moves. */
#ifndef RERAND_SELFTEST_H
#define RERAND_SELFTEST_H

#include <linux/types.h>

struct st_pair_ret {
	u64 sum;
	u64 diff;
};

struct st_big_ret {
	u64 v[3];
};

u64 st_calc(u64 x);
u64 st_read(u64 x);
struct st_pair_ret st_pair(u64 a, u64 b);
struct st_big_ret st_big(u64 x);
u64 st_nap(u64 ms);

/* Called from st_calc's body; st_global and st_global2 read by st_read's. */
u64 st_helper(u64 x);
extern u64 st_global;
extern u64 st_global2;

#endif /* RERAND_SELFTEST_H */
