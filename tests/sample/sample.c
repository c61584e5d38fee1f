// SPDX-License-Identifier: GPL-2.0
/*
 * A module as a newcomer would write it, made rerandomizable only by the
 * Makefile change in the README: reading /dev/rerand_sample returns the
 * first Fibonacci numbers, computed by functions that move while you read.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

static u64 fib(unsigned int n)
{
	u64 a = 0, b = 1, t;

	while (n--) {
		t = a + b;
		a = b;
		b = t;
	}
	return a;
}

static int render(char *buf, size_t len)
{
	int n = 0;
	unsigned int i;

	for (i = 0; i < 20; i++)
		n += scnprintf(buf + n, len - n, "%llu%c", fib(i), i < 19 ? ' ' : '\n');
	return n;
}

static ssize_t sample_read(struct file *f, char __user *ubuf, size_t len,
			   loff_t *pos)
{
	char buf[256];
	int n = render(buf, sizeof(buf));

	return simple_read_from_buffer(ubuf, len, pos, buf, n);
}

static const struct file_operations sample_fops = {
	.owner = THIS_MODULE,
	.read = sample_read,
};

static struct miscdevice sample_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rerand_sample",
	.fops = &sample_fops,
};

static int __init sample_init(void)
{
	return misc_register(&sample_dev);
}

static void __exit sample_exit(void)
{
	misc_deregister(&sample_dev);
}

module_init(sample_init);
module_exit(sample_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand sample: the README's module-author walkthrough");
