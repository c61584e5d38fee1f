// SPDX-License-Identifier: GPL-2.0
/*
 * The poison scenarios' eyes and hands: reads kernel memory (what an
 * attacker with an arbitrary read would see at a module's load address)
 * and calls an address (what a stale pointer or a hijacked one does).
 * Linked with the plain linker: it is the observer, not the code under
 * test. Root only (module parameters under /sys/module/rerand_peek/).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/uaccess.h>

static unsigned long addr;
module_param(addr, ulong, 0600);
MODULE_PARM_DESC(addr, "first byte read by `words` (4-aligned)");

static unsigned int skip;
module_param(skip, uint, 0600);
MODULE_PARM_DESC(skip, "bytes after addr where `words` starts (4-aligned)");

static unsigned int len = 64;
module_param(len, uint, 0600);
MODULE_PARM_DESC(len, "bytes read by `words` (at most 400)");

/* The words at [addr + skip, + len), in hex, or "fault" where unreadable. */
static int rr_peek_words(char *buf, const struct kernel_param *kp)
{
	unsigned long from = addr + skip;
	unsigned int off, n = 0;
	u32 w;

	if (!IS_ALIGNED(from, 4) || len > 400)
		return -EINVAL;
	for (off = 0; off + 4 <= len; off += 4) {
		if (copy_from_kernel_nofault(&w, (void *)(from + off), 4))
			n += sysfs_emit_at(buf, n, "fault ");
		else
			n += sysfs_emit_at(buf, n, "%08x ", w);
	}
	n += sysfs_emit_at(buf, n, "\n");
	return n;
}

static const struct kernel_param_ops rr_peek_words_ops = {
	.get = rr_peek_words,
};

module_param_cb(words, &rr_peek_words_ops, NULL, 0400);
MODULE_PARM_DESC(words, "read: the words at addr, len bytes");

/* Calls the address written, as a function without arguments. */
static int rr_peek_call(const char *val, const struct kernel_param *kp)
{
	unsigned long target;
	int ret = kstrtoul(val, 0, &target);

	if (ret)
		return ret;
	pr_info("calling %pS\n", (void *)target);
	((void (*)(void))target)();
	return 0;
}

static const struct kernel_param_ops rr_peek_call_ops = {
	.set = rr_peek_call,
};

module_param_cb(call, &rr_peek_call_ops, NULL, 0200);
MODULE_PARM_DESC(call, "write an address: call it");

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand test: read kernel memory and call an address (poison scenarios)");
