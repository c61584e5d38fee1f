// SPDX-License-Identifier: GPL-2.0
/*
 * Oopses on load, on purpose: the bench must report this as a failure with
 * the oops lines. Used only by the bench-oops scenario.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/module.h>

static int *nowhere;

static int __init bench_oops_init(void)
{
	/* READ_ONCE: the compiler may not assume the pointer is still NULL. */
	int *p = READ_ONCE(nowhere);

	pr_info("about to dereference NULL on purpose\n");
	return *p;
}

module_init(bench_oops_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand bench self-test: a deliberate oops");
