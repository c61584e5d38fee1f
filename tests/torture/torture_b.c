// SPDX-License-Identifier: GPL-2.0
/* The other half of the mutual recursion, and an ops table in data. */
#include "torture.h"

noinline bool t_is_odd(u64 n)
{
	return n == 0 ? false : t_is_even(n - 1);
}

static u64 t_add(u64 a, u64 b)
{
	return a + b;
}

static u64 t_mul(u64 a, u64 b)
{
	return a * b;
}

static u64 t_xor(u64 a, u64 b)
{
	return a ^ b;
}

/* Pointers to static functions in data: must hold trampolines. */
const struct t_ops t_ops_table[3] = {
	{ .combine = t_add, .name = "add" },
	{ .combine = t_mul, .name = "mul" },
	{ .combine = t_xor, .name = "xor" },
};
