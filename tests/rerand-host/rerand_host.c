// SPDX-License-Identifier: GPL-2.0
/*
 * Host for the seed's test_driver: a kernel thread that calls the registered
 * entries every period_ms, checks every result, and counts calls and errors.
 * Linked with the plain linker: it is the caller, not the code under test.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/crc32.h>
#include <linux/sched.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include "rerand_host.h"

static unsigned int period_ms = 5000;
static struct task_struct *caller;

/* A new period takes effect at once: the caller may be in a 5 s sleep. */
static int set_period(const char *val, const struct kernel_param *kp)
{
	int ret = param_set_uint(val, kp);

	if (!ret && caller)
		wake_up_process(caller);
	return ret;
}

static const struct kernel_param_ops period_ops = {
	.set = set_period,
	.get = param_get_uint,
};
module_param_cb(period_ms, &period_ops, &period_ms, 0644);
MODULE_PARM_DESC(period_ms, "milliseconds between two rounds of calls (seed: 5000)");

static unsigned long calls;
module_param(calls, ulong, 0444);
MODULE_PARM_DESC(calls, "check_entry calls made so far");

static unsigned long errors;
module_param(errors, ulong, 0444);
MODULE_PARM_DESC(errors, "check_entry results that were wrong");

/* Protects the registration against the caller thread. */
static DEFINE_MUTEX(driver_lock);
static struct Rerandom_Driver driver;
static u32 init_calls;

u32 rerandom_expected(u32 calls, int a, const char *c, time64_t time)
{
	return crc32_le(calls ^ (u32)a, c, strlen(c)) ^ (u32)time;
}
EXPORT_SYMBOL_GPL(rerandom_expected);

void register_rerandom_driver(const struct Rerandom_Driver *d)
{
	mutex_lock(&driver_lock);
	driver = *d;
	init_calls = 0;
	mutex_unlock(&driver_lock);
	pr_info("registered %s: init_entry=%p check_entry=%p\n",
		d->name, d->init_entry, d->check_entry);
}
EXPORT_SYMBOL_GPL(register_rerandom_driver);

void unregister_rerandom_driver(const struct Rerandom_Driver *d)
{
	mutex_lock(&driver_lock);
	if (driver.check_entry == d->check_entry)
		memset(&driver, 0, sizeof(driver));
	mutex_unlock(&driver_lock);
	pr_info("unregistered %s\n", d->name);
}
EXPORT_SYMBOL_GPL(unregister_rerandom_driver);

static void call_once(void)
{
	char word[] = "chifan";
	time64_t now = ktime_get_seconds();
	u32 got, want;

	mutex_lock(&driver_lock);
	if (!driver.check_entry) {
		mutex_unlock(&driver_lock);
		return;
	}
	driver.init_entry();
	init_calls++;
	got = (u32)driver.check_entry(11, word, now);
	want = rerandom_expected(init_calls, 11, word, now);
	calls++;
	if (got != want) {
		errors++;
		pr_err_ratelimited("check_entry returned %08x, expected %08x\n",
				   got, want);
	}
	if (calls % 100 == 1)
		pr_info("round %lu: init_entry=%p check_entry=%p errors=%lu\n",
			calls, driver.init_entry, driver.check_entry, errors);
	mutex_unlock(&driver_lock);
}

static int caller_main(void *unused)
{
	while (!kthread_should_stop()) {
		call_once();
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule_timeout(msecs_to_jiffies(READ_ONCE(period_ms)));
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

static int __init host_init(void)
{
	caller = kthread_run(caller_main, NULL, "rerand_host");
	if (IS_ERR(caller))
		return PTR_ERR(caller);
	pr_info("calling registered drivers every %u ms\n", period_ms);
	return 0;
}

static void __exit host_exit(void)
{
	kthread_stop(caller);
	pr_info("stopped after %lu calls, %lu errors\n", calls, errors);
}

module_init(host_init);
module_exit(host_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand test host: calls test_driver's entries (seed 002's vmscan thread)");
