/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What module authors include to steer rerand.
 *
 * rerand-ld wraps every function of a -ffunction-sections object on its
 * own; these macros are for the two cases it cannot guess:
 *
 *   SPECIAL_FUNCTION(int, foo, int a, int b) { ... }
 *	Opt in explicitly (seed 002's spelling). The function lands in a
 *	section .text.rerand_random.<n>; rerand-ld gives it the same trampoline and
 *	table entry as any wrapped function, and with
 *	RERAND_LD_FLAGS=--only-annotated only such functions are wrapped.
 *	Unlike the seed's macro, the trampoline is not hand-written asm here:
 *	rerand-ld emits it, so it keeps x8, x0:x1, the frame record and PAC.
 *
 *   static int RERAND_EXCLUDE(bar) bar(int x) { ... }
 *	Opt out: bar stays where it is (section .text.rerand_pinned.bar).
 *	Use it for functions whose address must not change while they run in
 *	ways rerand cannot see, e.g. code that compares its own PC.
 */
#ifndef RERAND_H
#define RERAND_H

#include <linux/compiler.h>
#include <linux/stringify.h>
#include "rerand_abi.h"

/*
 * A declarator, so checkpatch's COMPLEX_MACRO rule cannot apply: xtask's
 * checkpatch step ignores that one rule for this file only. __COUNTER__
 * makes each opt-in function's section unique within its object, which is
 * all rerand-ld needs (it names the body after the symbol, not the section).
 */
#define SPECIAL_FUNCTION(ret, name, args...) \
	__section(".text.rerand_random." __stringify(__COUNTER__)) \
	noinline ret name(args)

#define RERAND_EXCLUDE(name) __section(".text.rerand_pinned." #name)

#endif /* RERAND_H */
