// SPDX-License-Identifier: GPL-2.0
/*
 * Calls the functions of sites_fns.c from every context a module function
 * is called in: one caller thread per CPU, a timer (softirq) and an hrtimer
 * (hard irq), with checked results, while their bodies move.
 *
 * debugfs rerand_sites/fire, "once N" or "warn N": each of the three
 * contexts passes S_FIRE to s_warn_once() or s_warn() in its next N
 * rounds, so WARN_ON_ONCE and WARN_ON fire in copies, from each context.
 * debugfs rerand_sites/bug, any write: a kthread calls s_bug(S_FIRE), a
 * BUG() in a copy; the kthread dies in the oops.
 * debugfs rerand_sites/uaccess, a write of at least 8 bytes: 1000 times,
 * s_peek() reads them back from the writer's buffer, and s_peek() and
 * s_poke() at an unmapped user address must return -EFAULT (a fault in a
 * copy that the copy's own fixup handles).
 * debugfs rerand_sites/toggle, "N": a kthread toggles s_key N times (about
 * every millisecond) while every context checks that s_keyed() follows
 * it: a call that starts and ends in one settled state of the key must
 * see that state.
 * debugfs rerand_sites/trace, "N": N calls of s_traced(0 .. N-1), each an
 * event when the tracepoint is enabled.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/timer.h>
#include <linux/uaccess.h>
#include "sites.h"

enum { CTX_THREAD, CTX_SOFTIRQ, CTX_HARDIRQ, NCTX };

static atomic_long_t calls = ATOMIC_LONG_INIT(0);
static atomic_long_t errors = ATOMIC_LONG_INIT(0);
static atomic_long_t fired_once = ATOMIC_LONG_INIT(0);
static atomic_long_t fired_warn = ATOMIC_LONG_INIT(0);
static atomic_long_t rounds[NCTX];
static atomic_long_t uaccess_faults = ATOMIC_LONG_INIT(0);
static atomic_long_t key_checked = ATOMIC_LONG_INIT(0);
static atomic_long_t key_toggles = ATOMIC_LONG_INIT(0);
static atomic_long_t traced = ATOMIC_LONG_INIT(0);
/*
 * The key's story: 4k settled off, 4k + 1 turning on, 4k + 2 settled on,
 * 4k + 3 turning off. Written by the toggler only.
 */
static unsigned long key_gen;
static atomic_t pending_once[NCTX], pending_warn[NCTX];

static int get_counter(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(kp->arg));
}

static const struct kernel_param_ops counter_ops = { .get = get_counter };
module_param_cb(calls, &counter_ops, &calls, 0444);
MODULE_PARM_DESC(calls, "checked calls made");
module_param_cb(errors, &counter_ops, &errors, 0444);
MODULE_PARM_DESC(errors, "checked calls that returned a wrong result");
module_param_cb(fired_once, &counter_ops, &fired_once, 0444);
MODULE_PARM_DESC(fired_once, "calls that took s_warn_once()'s WARN_ON_ONCE");
module_param_cb(fired_warn, &counter_ops, &fired_warn, 0444);
MODULE_PARM_DESC(fired_warn, "calls that took s_warn()'s WARN_ON");
module_param_cb(uaccess_faults, &counter_ops, &uaccess_faults, 0444);
MODULE_PARM_DESC(uaccess_faults, "user accesses that faulted and returned -EFAULT");
module_param_cb(key_checked, &counter_ops, &key_checked, 0444);
MODULE_PARM_DESC(key_checked, "calls of s_keyed() made in a settled state of s_key, checked");
module_param_cb(key_toggles, &counter_ops, &key_toggles, 0444);
MODULE_PARM_DESC(key_toggles, "toggles of s_key done");
module_param_cb(traced, &counter_ops, &traced, 0444);
MODULE_PARM_DESC(traced, "calls of s_traced() made");
module_param_cb(thread_rounds, &counter_ops, &rounds[CTX_THREAD], 0444);
MODULE_PARM_DESC(thread_rounds, "rounds made from the caller threads");
module_param_cb(softirq_rounds, &counter_ops, &rounds[CTX_SOFTIRQ], 0444);
MODULE_PARM_DESC(softirq_rounds, "rounds made from a timer (softirq)");
module_param_cb(hardirq_rounds, &counter_ops, &rounds[CTX_HARDIRQ], 0444);
MODULE_PARM_DESC(hardirq_rounds, "rounds made from an hrtimer (hard irq)");

#define CHECK(expr)							\
	do {								\
		atomic_long_inc(&calls);				\
		if (unlikely(!(expr))) {				\
			atomic_long_inc(&errors);			\
			pr_err_ratelimited("check failed: %s\n", #expr);\
		}							\
	} while (0)

static bool take(atomic_t *pending)
{
	return atomic_dec_if_positive(pending) >= 0;
}

static void check_key(u64 x)
{
	unsigned long g1, g2;
	u64 got;

	/* Pairs with the toggler's smp_store_release()s of key_gen. */
	g1 = smp_load_acquire(&key_gen);
	got = s_keyed(x);
	/* The call before the second read; pairs with the same releases. */
	smp_rmb();
	g2 = READ_ONCE(key_gen);
	if (g1 != g2 || (g1 & 1))
		return;		/* a toggle in flight: either answer is right */
	atomic_long_inc(&key_checked);
	CHECK(got == x + ((g1 & 3) == 2 ? 7 : 3));
}

/* Never sleeps: safe from every context. */
static void round_of(int ctx, u64 r)
{
	u64 x = r == S_FIRE ? r + 1 : r;

	if (take(&pending_once[ctx])) {
		atomic_long_inc(&fired_once);
		CHECK(s_warn_once(S_FIRE) == S_FIRE + 2);
	} else {
		CHECK(s_warn_once(x) == x + 1);
	}
	if (take(&pending_warn[ctx])) {
		atomic_long_inc(&fired_warn);
		CHECK(s_warn(S_FIRE) == S_FIRE * 5);
	} else {
		CHECK(s_warn(x) == x * 3);
	}
	CHECK(s_bug(x) == (x ^ 0xbad));
	check_key(x);
	atomic_long_inc(&rounds[ctx]);
}

static struct task_struct **callers;
static unsigned int nthreads;
static struct timer_list soft_timer;
static struct hrtimer hard_timer;
static struct dentry *dir;
static bool stopping;

static int caller_main(void *arg)
{
	u64 r = get_random_u64();

	while (!kthread_should_stop()) {
		r = r * 6364136223846793005ULL + 1442695040888963407ULL;
		round_of(CTX_THREAD, r);
		cond_resched();
	}
	return 0;
}

static void soft_timer_fn(struct timer_list *t)
{
	round_of(CTX_SOFTIRQ, jiffies);
	if (!READ_ONCE(stopping))
		mod_timer(&soft_timer, jiffies + 1);
}

static enum hrtimer_restart hard_timer_fn(struct hrtimer *t)
{
	round_of(CTX_HARDIRQ, ktime_get_ns());
	if (READ_ONCE(stopping))
		return HRTIMER_NORESTART;
	hrtimer_forward_now(t, ns_to_ktime(500 * NSEC_PER_USEC));
	return HRTIMER_RESTART;
}

static ssize_t fire_write(struct file *f, const char __user *buf, size_t len,
			  loff_t *pos)
{
	char tmp[32], what[8];
	unsigned int n, ctx;
	atomic_t *pending;

	if (len >= sizeof(tmp))
		return -EINVAL;
	if (copy_from_user(tmp, buf, len))
		return -EFAULT;
	tmp[len] = '\0';
	if (sscanf(tmp, "%7s %u", what, &n) != 2 || n > 1000)
		return -EINVAL;
	if (!strcmp(what, "once"))
		pending = pending_once;
	else if (!strcmp(what, "warn"))
		pending = pending_warn;
	else
		return -EINVAL;
	for (ctx = 0; ctx < NCTX; ctx++)
		atomic_add(n, &pending[ctx]);
	return len;
}

static const struct file_operations fire_fops = {
	.owner = THIS_MODULE,
	.write = fire_write,
};

/* Dies in the oops: nothing waits for it. */
static int bug_main(void *arg)
{
	pr_info("calling s_bug(S_FIRE)\n");
	CHECK(s_bug(S_FIRE) == (S_FIRE ^ 0xbad));
	pr_err("s_bug(S_FIRE) returned: its BUG() did not fire\n");
	return 0;
}

static ssize_t bug_write(struct file *f, const char __user *buf, size_t len,
			 loff_t *pos)
{
	struct task_struct *t = kthread_run(bug_main, NULL, "sites_bug");

	return IS_ERR(t) ? PTR_ERR(t) : len;
}

static const struct file_operations bug_fops = {
	.owner = THIS_MODULE,
	.write = bug_write,
};

/* Mapped in no process: above the first page, below TASK_SIZE. */
#define S_UNMAPPED ((u64 __user *)0x10000)

static ssize_t uaccess_write(struct file *f, const char __user *buf,
			     size_t len, loff_t *pos)
{
	u64 want, got;
	int i;

	if (len < sizeof(want))
		return -EINVAL;
	if (copy_from_user(&want, buf, sizeof(want)))
		return -EFAULT;
	for (i = 0; i < 1000; i++) {
		got = ~want;
		CHECK(s_peek((const u64 __user *)buf, &got) == 0 && got == want);
		got = 1;
		CHECK(s_peek(S_UNMAPPED, &got) == -EFAULT && got == 0);
		CHECK(s_poke(S_UNMAPPED, want) == -EFAULT);
		atomic_long_add(2, &uaccess_faults);
		cond_resched();
	}
	return len;
}

static const struct file_operations uaccess_fops = {
	.owner = THIS_MODULE,
	.write = uaccess_write,
};

static struct task_struct *toggler;
static atomic_t toggles_wanted = ATOMIC_INIT(0);

static int toggler_main(void *arg)
{
	while (!kthread_should_stop()) {
		if (!take(&toggles_wanted)) {
			msleep(20);
			continue;
		}
		/* Turning: the release orders it before the toggle's patching. */
		smp_store_release(&key_gen, key_gen + 1);
		if (key_gen & 2)
			static_branch_disable(&s_key);
		else
			static_branch_enable(&s_key);
		/* Settled: every copy's site is patched (sites.c). */
		smp_store_release(&key_gen, key_gen + 1);
		atomic_long_inc(&key_toggles);
		usleep_range(500, 1500);
	}
	return 0;
}

static ssize_t toggle_write(struct file *f, const char __user *buf,
			    size_t len, loff_t *pos)
{
	unsigned int n;
	int err = kstrtouint_from_user(buf, len, 0, &n);

	if (err)
		return err;
	atomic_add(n, &toggles_wanted);
	return len;
}

static const struct file_operations toggle_fops = {
	.owner = THIS_MODULE,
	.write = toggle_write,
};

static ssize_t trace_write(struct file *f, const char __user *buf,
			   size_t len, loff_t *pos)
{
	unsigned int i, n;
	int err = kstrtouint_from_user(buf, len, 0, &n);

	if (err)
		return err;
	for (i = 0; i < n; i++) {
		CHECK(s_traced(i) == i + 11);
		atomic_long_inc(&traced);
		if (!(i % 64))
			cond_resched();
	}
	return len;
}

static const struct file_operations trace_fops = {
	.owner = THIS_MODULE,
	.write = trace_write,
};

static void stop_all(void)
{
	unsigned int i;

	WRITE_ONCE(stopping, true);
	hrtimer_cancel(&hard_timer);
	del_timer_sync(&soft_timer);
	for (i = 0; callers && i < nthreads; i++)
		if (!IS_ERR_OR_NULL(callers[i]))
			kthread_stop(callers[i]);
	if (!IS_ERR_OR_NULL(toggler))
		kthread_stop(toggler);
	kfree(callers);
	callers = NULL;
}

static int __init sites_init(void)
{
	unsigned int i;

	nthreads = num_online_cpus();
	callers = kcalloc(nthreads, sizeof(*callers), GFP_KERNEL);
	if (!callers)
		return -ENOMEM;
	dir = debugfs_create_dir("rerand_sites", NULL);
	debugfs_create_file("fire", 0200, dir, NULL, &fire_fops);
	debugfs_create_file("bug", 0200, dir, NULL, &bug_fops);
	debugfs_create_file("uaccess", 0200, dir, NULL, &uaccess_fops);
	debugfs_create_file("toggle", 0200, dir, NULL, &toggle_fops);
	debugfs_create_file("trace", 0200, dir, NULL, &trace_fops);
	toggler = kthread_run(toggler_main, NULL, "sites_toggle");
	timer_setup(&soft_timer, soft_timer_fn, 0);
	mod_timer(&soft_timer, jiffies + 1);
	hrtimer_init(&hard_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	hard_timer.function = hard_timer_fn;
	hrtimer_start(&hard_timer, ns_to_ktime(500 * NSEC_PER_USEC),
		      HRTIMER_MODE_REL_HARD);
	for (i = 0; i < nthreads; i++)
		callers[i] = kthread_run(caller_main, NULL, "sites/%u", i);
	pr_info("%u caller threads, a timer and an hrtimer started\n",
		nthreads);
	return 0;
}

static void __exit sites_exit(void)
{
	stop_all();
	debugfs_remove_recursive(dir);
	pr_info("stopped: calls=%ld errors=%ld\n", atomic_long_read(&calls),
		atomic_long_read(&errors));
}

module_init(sites_init);
module_exit(sites_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand: moved functions with WARN/BUG sites, uaccess fixups, static keys and a tracepoint, checked");
