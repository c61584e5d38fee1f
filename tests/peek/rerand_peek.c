// SPDX-License-Identifier: GPL-2.0
/*
 * The poison and hardening scenarios' eyes and hands: reads kernel memory
 * (what an attacker with an arbitrary read would see at a module's load
 * address), writes it (one store of 1, 4 or 8 bytes: a small kernel write
 * primitive, which fails on read-only memory instead of oopsing) and calls
 * an address (what a stale pointer or a hijacked one does).
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

static unsigned int width = 8;
module_param(width, uint, 0600);
MODULE_PARM_DESC(width, "bytes stored by `poke` (1, 4 or 8)");

/*
 * Stores the value written, @width bytes, at addr + skip: one plain store,
 * through an exception-table entry so that a read-only page gives -EFAULT
 * (copy_to_kernel_nofault() is not exported in 6.1; this is its body).
 */
static int rr_peek_poke(const char *val, const struct kernel_param *kp)
{
	void *to = (void *)(addr + skip);
	u64 v;
	u32 v32;
	u8 v8;
	int ret = kstrtou64(val, 0, &v);

	if (ret)
		return ret;
	if ((width != 1 && width != 4 && width != 8) ||
	    !IS_ALIGNED((unsigned long)to, width))
		return -EINVAL;
	v32 = v;
	v8 = v;
	ret = -EFAULT;
	pagefault_disable();
	if (width == 8)
		__put_kernel_nofault(to, &v, u64, out);
	else if (width == 4)
		__put_kernel_nofault(to, &v32, u32, out);
	else
		__put_kernel_nofault(to, &v8, u8, out);
	ret = 0;
out:
	pagefault_enable();
	pr_info("poke %#llx (%u bytes) at %#lx: %s\n", v, width, addr + skip,
		ret ? "refused (read-only)" : "stored");
	return ret;
}

static const struct kernel_param_ops rr_peek_poke_ops = {
	.set = rr_peek_poke,
};

module_param_cb(poke, &rr_peek_poke_ops, NULL, 0200);
MODULE_PARM_DESC(poke, "write a value: store it at addr + skip, width bytes");

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
MODULE_DESCRIPTION("rerand test: read and write kernel memory, call an address (poison, hardening)");
