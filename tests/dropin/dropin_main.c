// SPDX-License-Identifier: GPL-2.0
/*
 * A composite module built with LD=rerand-ld alone: reading
 * /dev/rerand_dropin returns a checksum and a sum of Collatz step counts,
 * computed by functions of both objects while they move, through a weak
 * function this object overrides, a notrace and a NOKPROBE_SYMBOL one.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include "dropin.h"

static const char text[] = "rerand moves the bodies, the entry points stay";

/* Overrides dropin_calc.c's weak default. */
u32 dropin_scale(u32 x)
{
	return 3 * x;
}

/* The author keeps this one untraced: no ftrace site, body or trampoline. */
static noinline notrace u32 dropin_quiet(u32 x)
{
	return x ^ 0x5a5a;
}

/* And this one unprobeable: it stays in place, unwrapped. */
static noinline u32 dropin_in_probe(u32 x)
{
	return x + 1;
}

NOKPROBE_SYMBOL(dropin_in_probe);

static int render(char *buf, size_t len)
{
	u32 steps = 0;
	u64 i;

	for (i = 1; i <= 1000; i++)
		steps += dropin_collatz_steps(i);
	return scnprintf(buf, len, "adler32=%08x collatz=%u extra=%u\n",
			 dropin_adler32((const u8 *)text, sizeof(text) - 1),
			 dropin_scale(steps), dropin_in_probe(dropin_quiet(7)));
}

static ssize_t dropin_read(struct file *f, char __user *ubuf, size_t len,
			   loff_t *pos)
{
	char buf[64];
	int n = render(buf, sizeof(buf));

	return simple_read_from_buffer(ubuf, len, pos, buf, n);
}

static const struct file_operations dropin_fops = {
	.owner = THIS_MODULE,
	.read = dropin_read,
};

static struct miscdevice dropin_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rerand_dropin",
	.fops = &dropin_fops,
};

static int __init dropin_init(void)
{
	return misc_register(&dropin_dev);
}

static void __exit dropin_exit(void)
{
	misc_deregister(&dropin_dev);
}

module_init(dropin_init);
module_exit(dropin_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand test: a composite module built with LD=rerand-ld alone");
