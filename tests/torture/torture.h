/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ABI torture module: every calling-convention shape and calling context
 * a rerandomized body must survive. Every call's result is checked against a
 * closed form computed by the caller.
 */
#ifndef RERAND_TORTURE_H
#define RERAND_TORTURE_H

#include <linux/types.h>

struct t_pair {
	u64 lo;
	u64 hi;
};

struct t_big {
	u64 v[6];
};

struct t_ops {
	u64 (*combine)(u64 a, u64 b);
	const char *name;
};

/* torture_a.c */
u64 t_args0(void);
u64 t_args1(u64 a);
u64 t_args2(u64 a, u64 b);
u64 t_args3(u64 a, u64 b, u64 c);
u64 t_args4(u64 a, u64 b, u64 c, u64 d);
u64 t_args5(u64 a, u64 b, u64 c, u64 d, u64 e);
u64 t_args6(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f);
u64 t_args7(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g);
u64 t_args8(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h);
u64 t_args9(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h, u64 i);
u64 t_args10(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h, u64 i,
	     u64 j);
u64 t_variadic(int n, ...);
struct t_pair t_ret16(u64 x);
struct t_big t_retbig(u64 x);
u64 t_bigarg(struct t_big b);
u64 t_fact(u64 n);
bool t_is_even(u64 n);
u64 t_switch(u64 x);
u64 t_apply_ops(u64 a, u64 b);
u64 t_sleeper(u64 x);
u64 t_nap(u64 ms);
u64 t_forge(u64 x);
u64 t_warn_site(u64 x);
u64 t_exported(u64 x);

/* torture_b.c */
bool t_is_odd(u64 n);
extern const struct t_ops t_ops_table[3];

/* The closed forms the caller checks against. */
static inline u64 t_weighted(const u64 *v, int n)
{
	u64 s = 0;
	int i;

	for (i = 0; i < n; i++)
		s += (u64)(i + 1) * v[i];
	return s;
}

#endif /* RERAND_TORTURE_H */
