// SPDX-License-Identifier: GPL-2.0
/*
 * Call-overhead micro-benchmark for `cargo xtask bench`: small noinline
 * functions and a loop that calls them, on one thread per CPU at once,
 * timed with ktime. xtask/src/bench.rs builds this file twice, with
 * rerand-ld (bench_call_rr.ko: every call goes through a trampoline and
 * the pause list) and with the plain linker (bench_call_plain.ko).
 *
 *   echo 2 > /sys/kernel/debug/<module>/threads   (0: one per online CPU)
 *   echo N > /sys/kernel/debug/<module>/run       (blocks until done)
 *   cat /sys/kernel/debug/<module>/run            (the last result)
 *
 * Each loop iteration makes two calls (bc_leaf, bc_add). Under QEMU with
 * -icount shift=0 one guest nanosecond is one instruction, summed over
 * all CPUs: elapsed_ns / calls is the instructions spent per call.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "bench_call.h"

#define BC_MAX_THREADS 64
#define BC_CALLS_PER_ITER 2
#define BC_CHUNK 1024UL

noinline u64 bc_leaf(u64 x)
{
	return x + 1;
}

noinline u64 bc_add(u64 a, u64 b)
{
	return a + (b & 7);
}

noinline u64 bc_loop(unsigned long n)
{
	unsigned long i;
	u64 acc = 0;

	for (i = 0; i < n; i++)
		acc = bc_add(bc_leaf(acc), i);
	return acc;
}

struct bc_thread {
	unsigned long n;
	u64 ns;
	u64 acc;
	struct completion *go;
	atomic_t *left;
	struct completion *done;
};

static DEFINE_MUTEX(bc_lock);
static struct dentry *bc_dir;
static u32 bc_threads;
static char bc_result[1024];

static int bc_thread_fn(void *arg)
{
	struct bc_thread *t = arg;
	unsigned long left = t->n, chunk;
	u64 t0;

	wait_for_completion(t->go);
	t0 = ktime_get_ns();
	/*
	 * In chunks, yielding in between: Debian's kernel preempts only
	 * voluntarily, and a loop that never yields starves RCU and the mover.
	 */
	t->acc = 0;
	while (left) {
		chunk = min(left, BC_CHUNK);
		t->acc += bc_loop(chunk);
		left -= chunk;
		cond_resched();
	}
	t->ns = ktime_get_ns() - t0;
	if (atomic_dec_and_test(t->left))
		complete(t->done);
	return 0;
}

/* Runs n iterations on each of the chosen CPUs at once; fills bc_result. */
static int bc_run(unsigned long n)
{
	DECLARE_COMPLETION_ONSTACK(go);
	DECLARE_COMPLETION_ONSTACK(done);
	struct bc_thread *t;
	atomic_t left;
	unsigned int cpu, nt = 0, want, i;
	u64 t0, elapsed, sum = 0, expect;
	size_t len;

	want = bc_threads ? bc_threads : num_online_cpus();
	want = min_t(unsigned int, want, BC_MAX_THREADS);
	t = kcalloc(want, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	atomic_set(&left, want);
	for_each_online_cpu(cpu) {
		struct task_struct *k;

		if (nt == want)
			break;
		t[nt].n = n;
		t[nt].go = &go;
		t[nt].left = &left;
		t[nt].done = &done;
		k = kthread_create(bc_thread_fn, &t[nt], "bench_call/%u", cpu);
		if (IS_ERR(k))
			break;
		kthread_bind(k, cpu);
		wake_up_process(k);
		nt++;
	}
	if (nt < want) {
		/* The started threads still run; let them finish. */
		atomic_sub(want - nt, &left);
		if (nt == 0) {
			kfree(t);
			return -ECHILD;
		}
	}
	t0 = ktime_get_ns();
	complete_all(&go);
	wait_for_completion(&done);
	elapsed = ktime_get_ns() - t0;
	expect = 0;
	for (i = 0; i < n; i++)
		expect += 1 + ((i % BC_CHUNK) & 7);
	len = scnprintf(bc_result, sizeof(bc_result),
			"threads=%u iterations=%lu calls=%llu elapsed_ns=%llu",
			nt, n, (u64)nt * n * BC_CALLS_PER_ITER, elapsed);
	for (i = 0; i < nt; i++) {
		sum += t[i].ns;
		if (t[i].acc != expect)
			len += scnprintf(bc_result + len, sizeof(bc_result) - len,
					 " WRONG=%u", i);
	}
	len += scnprintf(bc_result + len, sizeof(bc_result) - len,
			 " thread_ns_avg=%llu thread_ns=", sum / nt);
	for (i = 0; i < nt; i++)
		len += scnprintf(bc_result + len, sizeof(bc_result) - len,
				 "%s%llu", i ? "," : "", t[i].ns);
	scnprintf(bc_result + len, sizeof(bc_result) - len, "\n");
	kfree(t);
	return 0;
}

static ssize_t bc_run_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	unsigned long n;
	int ret;

	ret = kstrtoul_from_user(buf, count, 0, &n);
	if (ret)
		return ret;
	if (n == 0 || n > (1UL << 32))
		return -EINVAL;
	mutex_lock(&bc_lock);
	ret = bc_run(n);
	mutex_unlock(&bc_lock);
	return ret ? ret : count;
}

static ssize_t bc_run_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&bc_lock);
	ret = simple_read_from_buffer(buf, count, ppos, bc_result,
				      strlen(bc_result));
	mutex_unlock(&bc_lock);
	return ret;
}

static const struct file_operations bc_run_fops = {
	.owner = THIS_MODULE,
	.write = bc_run_write,
	.read = bc_run_read,
	.llseek = default_llseek,
};

static int __init bc_init(void)
{
	strscpy(bc_result, "none\n", sizeof(bc_result));
	bc_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_u32("threads", 0600, bc_dir, &bc_threads);
	debugfs_create_file("run", 0600, bc_dir, NULL, &bc_run_fops);
	return 0;
}

static void __exit bc_exit(void)
{
	debugfs_remove_recursive(bc_dir);
}

module_init(bc_init);
module_exit(bc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand bench: call overhead of trampolines and the pause list");
