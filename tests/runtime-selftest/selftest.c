// SPDX-License-Identifier: GPL-2.0
/*
 * rerand runtime self-test: calls the functions of table.S (whose bodies
 * rerand.ko keeps moving) from two kernel threads, a timer (softirq) and an
 * hrtimer (hardirq), and checks every result.
 *
 * Parameters: run (0644) stops and restarts the callers; calls, errors
 * and naps (0444) are what the guest script checks.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/timer.h>
#include "selftest.h"

u64 st_global = 1000;
u64 st_global2 = 7;

noinline u64 st_helper(u64 x)
{
	return x * 3;
}

static bool run = true;
module_param(run, bool, 0644);
MODULE_PARM_DESC(run, "Callers keep calling (1) or stay out of the bodies (0)");

static atomic_long_t st_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t st_errors = ATOMIC_LONG_INIT(0);
static atomic_long_t st_naps = ATOMIC_LONG_INIT(0);

static int st_get_atomic(char *buf, const struct kernel_param *kp)
{
	return sprintf(buf, "%ld\n", atomic_long_read(kp->arg));
}

static const struct kernel_param_ops st_ro_ops = {
	.get = st_get_atomic,
};

module_param_cb(calls, &st_ro_ops, &st_calls, 0444);
module_param_cb(errors, &st_ro_ops, &st_errors, 0444);
module_param_cb(naps, &st_ro_ops, &st_naps, 0444);

static void st_fail(const char *what, u64 x, u64 got, u64 want)
{
	atomic_long_inc(&st_errors);
	pr_err_ratelimited("%s(%llu) = %llu, want %llu\n", what, x, got, want);
}

/* One round of every quick function; any context. */
static void st_round(u64 x)
{
	struct st_pair_ret p;
	struct st_big_ret b;
	u64 v;

	v = st_calc(x);
	if (v != x * 3 + 1)
		st_fail("st_calc", x, v, x * 3 + 1);
	v = st_read(x);
	if (v != x + 1007)
		st_fail("st_read", x, v, x + 1007);
	p = st_pair(x, 5);
	if (p.sum != x + 5 || p.diff != x - 5)
		st_fail("st_pair", x, p.sum ^ p.diff, (x + 5) ^ (x - 5));
	b = st_big(x);
	if (b.v[0] != x || b.v[1] != x + 1 || b.v[2] != x + 2)
		st_fail("st_big", x, b.v[0] + b.v[1] + b.v[2], 3 * x + 3);
	atomic_long_add(4, &st_calls);
}

static int st_thread(void *arg)
{
	u64 x = (unsigned long)arg;

	while (!kthread_should_stop()) {
		if (!READ_ONCE(run)) {
			usleep_range(5000, 10000);
			continue;
		}
		st_round(x++);
		if (!(x & 1023)) {
			/* Sleeps inside a moved body, maybe on another CPU after. */
			if (st_nap(3) != 3)
				st_fail("st_nap", 3, 0, 3);
			atomic_long_inc(&st_naps);
		}
		cond_resched();
	}
	return 0;
}

static struct task_struct *st_threads[2];
static struct timer_list st_timer;
static struct hrtimer st_hrtimer;
static u64 st_tx, st_hx;

static void st_timer_fn(struct timer_list *t)
{
	if (READ_ONCE(run))
		st_round(st_tx++);
	mod_timer(&st_timer, jiffies + 1);
}

static enum hrtimer_restart st_hrtimer_fn(struct hrtimer *t)
{
	if (READ_ONCE(run))
		st_round(st_hx++);
	hrtimer_forward_now(t, ms_to_ktime(1));
	return HRTIMER_RESTART;
}

static int __init st_init(void)
{
	int i;

	/* The functions work before any move, from init. */
	st_round(1);
	for (i = 0; i < ARRAY_SIZE(st_threads); i++) {
		st_threads[i] = kthread_run(st_thread, (void *)(i * 1000000UL),
					    "rerand_st/%d", i);
		if (IS_ERR(st_threads[i])) {
			int ret = PTR_ERR(st_threads[i]);

			while (--i >= 0)
				kthread_stop(st_threads[i]);
			return ret;
		}
	}
	timer_setup(&st_timer, st_timer_fn, 0);
	mod_timer(&st_timer, jiffies + 1);
	hrtimer_init(&st_hrtimer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	st_hrtimer.function = st_hrtimer_fn;
	hrtimer_start(&st_hrtimer, ms_to_ktime(1), HRTIMER_MODE_REL_HARD);
	pr_info("started\n");
	return 0;
}

static void __exit st_exit(void)
{
	int i;

	hrtimer_cancel(&st_hrtimer);
	del_timer_sync(&st_timer);
	for (i = 0; i < ARRAY_SIZE(st_threads); i++)
		kthread_stop(st_threads[i]);
	pr_info("stopped: %ld calls, %ld errors, %ld naps\n",
		atomic_long_read(&st_calls), atomic_long_read(&st_errors),
		atomic_long_read(&st_naps));
}

module_init(st_init);
module_exit(st_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand runtime self-test with a hand-written table");
