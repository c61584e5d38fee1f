// SPDX-License-Identifier: GPL-2.0
/*
 * rerand_tamper: the attacker of the guard scenario (tests/scenarios/
 * tamper.sh). It overwrites one 8-byte unit of a rerandomized module's
 * trampoline at its own virtual address, as an attacker with a kernel
 * write primitive would: the page is made writable with set_memory_rw()
 * and one 64-bit STR replaces the `bl` in it with a `bl` to @target.
 *
 *   echo <unit> > addr; echo <bl word> > call; echo <new target> > target
 *   echo 1 > write_now
 *
 * The scenario passes the original body as @target: a correct function
 * that is never freed, so calls stay right whether or not the write lands.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sizes.h>

static unsigned long addr;
module_param(addr, ulong, 0644);
MODULE_PARM_DESC(addr, "8-byte aligned unit to overwrite");
static unsigned long call;
module_param(call, ulong, 0644);
MODULE_PARM_DESC(call, "address of the `bl` inside the unit");
static unsigned long target;
module_param(target, ulong, 0644);
MODULE_PARM_DESC(target, "where the written `bl` goes");
static unsigned long writes;
module_param(writes, ulong, 0444);
MODULE_PARM_DESC(writes, "writes made");
static int landed;
module_param(landed, int, 0444);
MODULE_PARM_DESC(landed, "whether the last write was in memory right after the store");

static int (*set_rw)(unsigned long addr, int numpages);
static int (*set_ro)(unsigned long addr, int numpages);

static noinline int rr_tamper_write(void)
{
	unsigned long page = addr & PAGE_MASK;
	unsigned int shift;
	u64 old, new;
	long off;
	int ret;

	if (!IS_ALIGNED(addr, 8) || !IS_ALIGNED(call, 4) || call < addr ||
	    call + 4 > addr + 8 || !IS_ALIGNED(target, 4))
		return -EINVAL;
	off = (long)(target - call);
	if (off < -(long)SZ_128M || off >= (long)SZ_128M)
		return -ERANGE;
	shift = (call - addr) * 8;
	old = READ_ONCE(*(u64 *)addr);
	new = (old & ~(0xffffffffULL << shift)) |
	      ((u64)(0x94000000U | ((off >> 2) & 0x03ffffff)) << shift);
	ret = set_rw(page, 1);
	if (ret)
		return ret;
	/* The attack: one 64-bit store to the trampoline's own address. */
	WRITE_ONCE(*(u64 *)addr, new);
	landed = READ_ONCE(*(u64 *)addr) == new;
	set_ro(page, 1);
	writes++;
	pr_info("write %lu: %016llx over %016llx at %pS: %s\n", writes, new,
		old, (void *)addr, landed ? "landed" : "did not land");
	return 0;
}

static int rr_set_write_now(const char *val, const struct kernel_param *kp)
{
	return rr_tamper_write();
}

static const struct kernel_param_ops rr_write_ops = {
	.set = rr_set_write_now,
};

module_param_cb(write_now, &rr_write_ops, NULL, 0200);
MODULE_PARM_DESC(write_now, "write 1: overwrite the unit now");

static int __init rr_tamper_init(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	unsigned long (*lookup)(const char *name);

	/* set_memory_rw/ro are not exported: kallsyms, as rerand.ko does. */
	if (register_kprobe(&kp) < 0)
		return -ENOENT;
	lookup = (unsigned long (*)(const char *))kp.addr;
	unregister_kprobe(&kp);
	set_rw = (void *)lookup("set_memory_rw");
	set_ro = (void *)lookup("set_memory_ro");
	if (!set_rw || !set_ro)
		return -ENOENT;
	return 0;
}

static void __exit rr_tamper_exit(void)
{
}

module_init(rr_tamper_init);
module_exit(rr_tamper_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand test: writes to a guarded trampoline");
