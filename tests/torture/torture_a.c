// SPDX-License-Identifier: GPL-2.0
/* Functions of every shape, rerandomized by rerand-ld. */
#include <linux/bug.h>
#include <linux/delay.h>
#include <linux/export.h>
#include <linux/stdarg.h>
#include "torture.h"

noinline u64 t_args0(void)
{
	return 0x5eed;
}

noinline u64 t_args1(u64 a)
{
	return a;
}

noinline u64 t_args2(u64 a, u64 b)
{
	return a + 2 * b;
}

noinline u64 t_args3(u64 a, u64 b, u64 c)
{
	return a + 2 * b + 3 * c;
}

noinline u64 t_args4(u64 a, u64 b, u64 c, u64 d)
{
	return t_args3(a, b, c) + 4 * d;
}

noinline u64 t_args5(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return t_args4(a, b, c, d) + 5 * e;
}

noinline u64 t_args6(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f)
{
	return t_args5(a, b, c, d, e) + 6 * f;
}

noinline u64 t_args7(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g)
{
	return t_args6(a, b, c, d, e, f) + 7 * g;
}

noinline u64 t_args8(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h)
{
	return t_args7(a, b, c, d, e, f, g) + 8 * h;
}

/* The ninth argument and beyond travel on the stack: never wrapped. */
noinline u64 t_args9(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h,
		     u64 i)
{
	return t_args8(a, b, c, d, e, f, g, h) + 9 * i;
}

noinline u64 t_args10(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h,
		      u64 i, u64 j)
{
	return t_args9(a, b, c, d, e, f, g, h, i) + 10 * j;
}

noinline u64 t_variadic(int n, ...)
{
	va_list ap;
	u64 s = 0;
	int i;

	va_start(ap, n);
	for (i = 0; i < n; i++)
		s += (u64)(i + 1) * va_arg(ap, u64);
	va_end(ap);
	return s;
}

/* Returned in x0:x1: a trampoline must not lose x1. */
noinline struct t_pair t_ret16(u64 x)
{
	struct t_pair p = { .lo = x + 1, .hi = x * 3 };

	return p;
}

/* Returned through x8: a trampoline must pass x8 through. */
noinline struct t_big t_retbig(u64 x)
{
	struct t_big b;
	int i;

	for (i = 0; i < ARRAY_SIZE(b.v); i++)
		b.v[i] = x + i;
	return b;
}

/* Over 16 bytes by value: passed by reference to a caller-made copy. */
noinline u64 t_bigarg(struct t_big b)
{
	return t_weighted(b.v, ARRAY_SIZE(b.v));
}

noinline u64 t_fact(u64 n)
{
	return n <= 1 ? 1 : n * t_fact(n - 1);
}

/* Mutual recursion across two objects. */
noinline bool t_is_even(u64 n)
{
	return n == 0 ? true : t_is_odd(n - 1);
}

/* Dense enough for GCC to emit a jump table. */
noinline u64 t_switch(u64 x)
{
	switch (x % 12) {
	case 0: return 11;
	case 1: return 23;
	case 2: return 37;
	case 3: return 41;
	case 4: return 53;
	case 5: return 67;
	case 6: return 79;
	case 7: return 83;
	case 8: return 97;
	case 9: return 101;
	case 10: return 113;
	default: return 127;
	}
}

noinline u64 t_apply_ops(u64 a, u64 b)
{
	u64 s = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(t_ops_table); i++)
		s += t_ops_table[i].combine(a, b);
	return s;
}

/* Sleeps inside its body: the thread is tracked while asleep, across moves. */
noinline u64 t_sleeper(u64 x)
{
	usleep_range(100, 200);
	return x + 1;
}

/*
 * Sleeps @ms in its body, the debugfs "nap" file's caller parked in one
 * copy: the function must keep moving meanwhile (stress.sh).
 */
noinline u64 t_nap(u64 ms)
{
	msleep(ms);
	return ms + 1;
}

/*
 * Plays an attacker who writes a caller's stack: flips the era in the
 * ticket its trampoline's entry hook left in the trampoline's frame
 * (trampoline x29 + 16, rerand_abi.h; this body's frame record holds that
 * x29). Only through a trampoline: stress.sh checks that t_forge moves.
 */
noinline u64 t_forge(u64 x)
{
	u64 *tramp_frame = *(u64 **)__builtin_frame_address(0);

	WRITE_ONCE(tramp_frame[2], READ_ONCE(tramp_frame[2]) ^ 1);
	return x + 1;
}

/* A WARN site: its copies carry a BRK of their own (runtime-kmod/sites.c). */
noinline u64 t_warn_site(u64 x)
{
	WARN_ON_ONCE(x == 0xdeadbeefdeadbeefULL);
	return x ^ 0xff;
}

noinline u64 t_exported(u64 x)
{
	return x * 7;
}
EXPORT_SYMBOL_GPL(t_exported);
