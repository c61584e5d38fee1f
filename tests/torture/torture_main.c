// SPDX-License-Identifier: GPL-2.0
/*
 * Drives the torture functions from every context a module function is
 * called in: one caller thread per CPU, a timer (softirq), an hrtimer (hard
 * irq), a thread that never leaves its loop function, a debugfs write
 * (uaccess), a debugfs write that sleeps in a moved function (nap), and
 * one that forges the ticket of its own call (forge).
 * Counts calls and errors; the guest script reads them from
 * /sys/module/rerand_torture/parameters/.
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
#include "torture.h"

static unsigned int threads;
module_param(threads, uint, 0444);
MODULE_PARM_DESC(threads, "caller threads (default: one per online CPU)");

static atomic_long_t calls = ATOMIC_LONG_INIT(0);
static atomic_long_t errors = ATOMIC_LONG_INIT(0);
static atomic_long_t irq_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t softirq_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t uaccess_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t loop_rounds = ATOMIC_LONG_INIT(0);
static atomic_long_t naps = ATOMIC_LONG_INIT(0);
static atomic_long_t napping = ATOMIC_LONG_INIT(0);

static int get_counter(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(kp->arg));
}

static const struct kernel_param_ops counter_ops = { .get = get_counter };
module_param_cb(calls, &counter_ops, &calls, 0444);
MODULE_PARM_DESC(calls, "checked calls made");
module_param_cb(errors, &counter_ops, &errors, 0444);
MODULE_PARM_DESC(errors, "checked calls that returned a wrong result");
module_param_cb(irq_calls, &counter_ops, &irq_calls, 0444);
MODULE_PARM_DESC(irq_calls, "rounds made from hard interrupt context");
module_param_cb(softirq_calls, &counter_ops, &softirq_calls, 0444);
MODULE_PARM_DESC(softirq_calls, "rounds made from a timer (softirq)");
module_param_cb(uaccess_calls, &counter_ops, &uaccess_calls, 0444);
MODULE_PARM_DESC(uaccess_calls, "debugfs writes copied from user space");
module_param_cb(loop_rounds, &counter_ops, &loop_rounds, 0444);
MODULE_PARM_DESC(loop_rounds, "rounds of the never-returning loop function");
module_param_cb(naps, &counter_ops, &naps, 0444);
MODULE_PARM_DESC(naps, "naps (debugfs nap writes) completed");
module_param_cb(napping, &counter_ops, &napping, 0444);
MODULE_PARM_DESC(napping, "threads asleep in t_nap() now");

#define CHECK(expr)							\
	do {								\
		atomic_long_inc(&calls);				\
		if (unlikely(!(expr))) {				\
			atomic_long_inc(&errors);			\
			pr_err_ratelimited("check failed: %s\n", #expr);\
		}							\
	} while (0)

/* Calls that never sleep: safe from hard and soft interrupt context. */
static noinline void t_round_atomic(u64 r)
{
	u64 v[10];
	int i;

	for (i = 0; i < ARRAY_SIZE(v); i++)
		v[i] = (r >> i) + i;
	CHECK(t_args0() == 0x5eed);
	CHECK(t_args1(v[0]) == t_weighted(v, 1));
	CHECK(t_args2(v[0], v[1]) == t_weighted(v, 2));
	CHECK(t_args3(v[0], v[1], v[2]) == t_weighted(v, 3));
	CHECK(t_args4(v[0], v[1], v[2], v[3]) == t_weighted(v, 4));
	CHECK(t_args5(v[0], v[1], v[2], v[3], v[4]) == t_weighted(v, 5));
	CHECK(t_args6(v[0], v[1], v[2], v[3], v[4], v[5]) ==
	      t_weighted(v, 6));
	CHECK(t_args7(v[0], v[1], v[2], v[3], v[4], v[5], v[6]) ==
	      t_weighted(v, 7));
	CHECK(t_args8(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]) ==
	      t_weighted(v, 8));
	CHECK(t_switch(r) == t_switch(r % 12));
	CHECK(t_fact(10) == 3628800);
	CHECK(t_is_even(r & 63) == !(r & 1));
	CHECK(t_apply_ops(v[1], v[2]) ==
	      (v[1] + v[2]) + (v[1] * v[2]) + (v[1] ^ v[2]));
}

static noinline void t_round_all(u64 r)
{
	struct t_pair p;
	struct t_big b;
	u64 v[10];
	int i;

	for (i = 0; i < ARRAY_SIZE(v); i++)
		v[i] = (r >> i) + i;
	t_round_atomic(r);
	CHECK(t_args9(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]) ==
	      t_weighted(v, 9));
	CHECK(t_args10(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
		       v[9]) == t_weighted(v, 10));
	CHECK(t_variadic(3, v[0], v[1], v[2]) == t_weighted(v, 3));
	p = t_ret16(r);
	CHECK(p.lo == r + 1 && p.hi == r * 3);
	b = t_retbig(r);
	CHECK(b.v[0] == r && b.v[5] == r + 5);
	CHECK(t_bigarg(b) == t_weighted(b.v, 6));
	CHECK(t_warn_site(r) == (r ^ 0xff));
	CHECK(t_exported(r) == r * 7);
}

static struct task_struct **callers;
static struct task_struct *looper;
static struct timer_list soft_timer;
static struct hrtimer hard_timer;
static struct dentry *dir;
static bool stopping;

static int caller_main(void *arg)
{
	u64 r = get_random_u64();

	while (!kthread_should_stop()) {
		r = r * 6364136223846793005ULL + 1442695040888963407ULL;
		t_round_all(r);
		if ((r >> 60) == 0)
			CHECK(t_sleeper(r) == r + 1);
		cond_resched();
	}
	return 0;
}

/* Never returns while the module runs: pins whatever copy it entered. */
static noinline int looper_main(void *arg)
{
	while (!kthread_should_stop()) {
		atomic_long_inc(&loop_rounds);
		CHECK(t_args2(1, 2) == 5);
		usleep_range(5000, 6000);
	}
	return 0;
}

static void soft_timer_fn(struct timer_list *t)
{
	t_round_atomic(jiffies);
	atomic_long_inc(&softirq_calls);
	if (!READ_ONCE(stopping))
		mod_timer(&soft_timer, jiffies + 1);
}

static enum hrtimer_restart hard_timer_fn(struct hrtimer *t)
{
	t_round_atomic(ktime_get_ns());
	atomic_long_inc(&irq_calls);
	if (READ_ONCE(stopping))
		return HRTIMER_NORESTART;
	hrtimer_forward_now(t, ns_to_ktime(500 * NSEC_PER_USEC));
	return HRTIMER_RESTART;
}

/* Copies from user space: an __ex_table site, so this function stays put. */
static noinline ssize_t t_uaccess_write(struct file *f, const char __user *buf,
					size_t len, loff_t *pos)
{
	char tmp[32];
	size_t n = min(len, sizeof(tmp) - 1);

	if (copy_from_user(tmp, buf, n))
		return -EFAULT;
	tmp[n] = '\0';
	atomic_long_inc(&uaccess_calls);
	CHECK(t_args1(n) == n);
	return len;
}

static const struct file_operations uaccess_fops = {
	.owner = THIS_MODULE,
	.write = t_uaccess_write,
};

/* Writing N sleeps N ms inside t_nap(), whose result is checked. */
static noinline ssize_t t_nap_write(struct file *f, const char __user *buf,
				    size_t len, loff_t *pos)
{
	unsigned int ms;
	int err = kstrtouint_from_user(buf, len, 0, &ms);

	if (err)
		return err;
	if (ms > 60000)
		return -EINVAL;
	atomic_long_inc(&napping);
	CHECK(t_nap(ms) == ms + 1);
	atomic_long_dec(&napping);
	atomic_long_inc(&naps);
	return len;
}

static const struct file_operations nap_fops = {
	.owner = THIS_MODULE,
	.write = t_nap_write,
};

/* Any write: one call of t_forge(), which forges its own ticket. */
static noinline ssize_t t_forge_write(struct file *f, const char __user *buf,
				      size_t len, loff_t *pos)
{
	CHECK(t_forge(len) == len + 1);
	return len;
}

static const struct file_operations forge_fops = {
	.owner = THIS_MODULE,
	.write = t_forge_write,
};

static void stop_all(void)
{
	unsigned int i;

	WRITE_ONCE(stopping, true);
	hrtimer_cancel(&hard_timer);
	del_timer_sync(&soft_timer);
	for (i = 0; callers && i < threads; i++)
		if (!IS_ERR_OR_NULL(callers[i]))
			kthread_stop(callers[i]);
	if (!IS_ERR_OR_NULL(looper))
		kthread_stop(looper);
	kfree(callers);
	callers = NULL;
}

static int __init torture_init(void)
{
	unsigned int i;

	if (!threads)
		threads = num_online_cpus();
	callers = kcalloc(threads, sizeof(*callers), GFP_KERNEL);
	if (!callers)
		return -ENOMEM;
	dir = debugfs_create_dir("rerand_torture", NULL);
	debugfs_create_file("uaccess", 0200, dir, NULL, &uaccess_fops);
	debugfs_create_file("nap", 0200, dir, NULL, &nap_fops);
	debugfs_create_file("forge", 0200, dir, NULL, &forge_fops);
	timer_setup(&soft_timer, soft_timer_fn, 0);
	mod_timer(&soft_timer, jiffies + 1);
	hrtimer_init(&hard_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	hard_timer.function = hard_timer_fn;
	hrtimer_start(&hard_timer, ns_to_ktime(500 * NSEC_PER_USEC), HRTIMER_MODE_REL_HARD);
	looper = kthread_run(looper_main, NULL, "torture_loop");
	for (i = 0; i < threads; i++)
		callers[i] = kthread_run(caller_main, NULL, "torture/%u", i);
	pr_info("%u caller threads, a timer, an hrtimer and a looping thread started\n",
		threads);
	return 0;
}

static void __exit torture_exit(void)
{
	stop_all();
	debugfs_remove_recursive(dir);
	pr_info("stopped: calls=%ld errors=%ld irq=%ld softirq=%ld\n",
		atomic_long_read(&calls), atomic_long_read(&errors),
		atomic_long_read(&irq_calls), atomic_long_read(&softirq_calls));
}

module_init(torture_init);
module_exit(torture_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand ABI torture: every call shape and context, checked");
