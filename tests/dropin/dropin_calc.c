// SPDX-License-Identifier: GPL-2.0
/*
 * The composite drop-in module's arithmetic, in its own object so that
 * calls cross from one object's bodies to the other's trampolines.
 */
#include <linux/compiler.h>
#include "dropin.h"

/*
 * A default that dropin_main.c overrides: each object's record must keep
 * its own trampoline, or the runtime refuses the module.
 */
u32 __weak dropin_scale(u32 x)
{
	return x;
}

u32 dropin_adler32(const u8 *p, size_t n)
{
	u32 a = 1, b = 0;

	while (n--) {
		a = (a + *p++) % 65521;
		b = (b + a) % 65521;
	}
	return (b << 16) | a;
}

static u64 collatz_next(u64 n)
{
	return n & 1 ? 3 * n + 1 : n / 2;
}

u32 dropin_collatz_steps(u64 n)
{
	u32 steps = 0;

	while (n > 1) {
		n = collatz_next(n);
		steps++;
	}
	return steps;
}
