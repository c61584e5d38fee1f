// SPDX-License-Identifier: GPL-2.0
/*
 * The explicit opt-in form: SPECIAL_FUNCTION marks what moves. Built twice
 * from this one file: with RERAND_LD_FLAGS=--only-annotated (only the
 * marked functions get trampolines) and in rerand-ld's automatic mode (every
 * function does), to show that both forms behave the same at run time.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/random.h>
#include <rerand.h>
#include "annotated.h"

static unsigned long calls;
module_param(calls, ulong, 0444);
MODULE_PARM_DESC(calls, "checked calls made");

static unsigned long errors;
module_param(errors, ulong, 0444);
MODULE_PARM_DESC(errors, "checked calls that returned a wrong result");

static struct task_struct *caller;

SPECIAL_FUNCTION(u64, ann_mix, u64 x, u64 y)
{
	return (x * 31) ^ (y + 7);
}

SPECIAL_FUNCTION(struct rerand_slot, ann_pair, u64 x)
{
	struct rerand_slot p = { .counters = x + 1, .reserved = x * 3 };

	return p;
}

static noinline u64 plain_sum(u64 x, u64 y)
{
	return x + y;
}

static void check(bool ok)
{
	calls++;
	if (!ok)
		errors++;
}

static int caller_main(void *unused)
{
	u64 r = get_random_u64();
	struct rerand_slot p;

	while (!kthread_should_stop()) {
		r = r * 6364136223846793005ULL + 1;
		check(ann_mix(r, r >> 7) == ((r * 31) ^ ((r >> 7) + 7)));
		p = ann_pair(r);
		check(p.counters == r + 1 && p.reserved == r * 3);
		check(plain_sum(r, 5) == r + 5);
		cond_resched();
	}
	return 0;
}

static int __init annotated_init(void)
{
	caller = kthread_run(caller_main, NULL, "rerand_ann");
	return PTR_ERR_OR_ZERO(caller);
}

static void __exit annotated_exit(void)
{
	kthread_stop(caller);
}

module_init(annotated_init);
module_exit(annotated_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand: SPECIAL_FUNCTION opt-in, built --only-annotated");
