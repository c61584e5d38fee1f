// SPDX-License-Identifier: GPL-2.0
/* Placeholder: the runtime is being written. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/module.h>
#include "rerand_abi.h"

static int __init rerand_init(void)
{
	pr_info("runtime placeholder loaded (ABI v%d)\n", RERAND_ABI_VERSION);
	return 0;
}

static void __exit rerand_exit(void)
{
}

module_init(rerand_init);
module_exit(rerand_exit);
MODULE_LICENSE("GPL");
