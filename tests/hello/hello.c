// SPDX-License-Identifier: GPL-2.0
/* The smallest module the bench builds and loads: proves the toolchain. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/module.h>

static int __init hello_init(void)
{
	pr_info("loaded, 6 * 7 = %d\n", 6 * 7);
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("unloaded\n");
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand bench self-test: a module built in the run");
