// SPDX-License-Identifier: GPL-2.0
/*
 * add_pause_list() / remove_pause_list(): the entry and exit hooks every
 * trampoline calls, and the grace-period checks the mover uses on them.
 *
 * This is classic SRCU (kernel/rcu/srcutiny.c before 4.12's srcutree, as in
 * docs/DESIGN.md) applied to one function: per CPU, lock[2] and unlock[2].
 * A caller enters with idx = epoch & 1 and increments lock[idx] on the CPU
 * it runs on; it leaves by incrementing unlock[idx] on whatever CPU it runs
 * on then (it may have slept and migrated). Only the sums over all CPUs
 * matter. No locks, no shared read-modify-write: this_cpu_inc() is a
 * single-CPU operation that is safe against preemption and interrupts, so
 * the hooks work in process, softirq and hardirq context and across sleeps.
 *
 * Memory-barrier pairing (labels as in the SRCU implementation):
 *   B: add_pause_list(), after the lock increment;
 *   C: remove_pause_list(), before the unlock increment;
 *   A: rr_idx_quiet(), between summing unlocks and summing locks;
 *   D, E: rr_flip_epoch(), around the epoch update.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/percpu.h>
#include "rerand.h"

static inline struct rerand_counters __percpu *rr_slot_ctr(struct rerand_slot *slot)
{
	/* Written once at MODULE_STATE_COMING, before any module code ran. */
	return (struct rerand_counters __percpu *)(unsigned long)READ_ONCE(slot->counters);
}

/**
 * add_pause_list() - a thread enters a movable body
 * @slot: the function's slot
 *
 * Return: the epoch index the caller must hand to remove_pause_list().
 */
unsigned long notrace add_pause_list(struct rerand_slot *slot)
{
	struct rerand_counters __percpu *ctr = rr_slot_ctr(slot);
	unsigned long idx = READ_ONCE(slot->epoch) & 1;

	/*
	 * A slot the runtime never set up (a table it did not recognise, so
	 * it never moves this function): count nothing rather than write
	 * through a NULL per-CPU pointer.
	 */
	if (unlikely(!ctr))
		return 0;
	this_cpu_inc(ctr->lock[idx]);
	/*
	 * B: order the lock increment before the body's memory accesses and
	 * the matching unlock. Pairs with A in rr_idx_quiet(): a checker
	 * that sees this caller's unlock also sees its lock. (That a caller
	 * headed for an old body has counted itself by the time the mover's
	 * patch + CPU synchronisation completes follows from program order
	 * and the synchronising IPI or stop_machine(), not from B.)
	 */
	smp_mb();
	return idx;
}
EXPORT_SYMBOL_GPL(add_pause_list);
NOKPROBE_SYMBOL(add_pause_list);

/**
 * remove_pause_list() - a thread left a movable body
 * @slot: the function's slot
 * @idx: what add_pause_list() returned
 */
void notrace remove_pause_list(struct rerand_slot *slot, unsigned long idx)
{
	struct rerand_counters __percpu *ctr = rr_slot_ctr(slot);

	if (unlikely(!ctr))
		return;
	/*
	 * C: order every access of the body before the unlock increment.
	 * Pairs with A in rr_idx_quiet(): once the checker counts this
	 * unlock, the caller is out of the old body.
	 */
	smp_mb();
	this_cpu_inc(ctr->unlock[idx & 1]);
}
EXPORT_SYMBOL_GPL(remove_pause_list);
NOKPROBE_SYMBOL(remove_pause_list);

static unsigned long rr_sum_unlocks(struct rr_func *f, unsigned int idx)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr(f->ctr, cpu)->unlock[idx]);
	return sum;
}

static unsigned long rr_sum_locks(struct rr_func *f, unsigned int idx)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr(f->ctr, cpu)->lock[idx]);
	return sum;
}

/* Is no caller that entered with index @idx still inside the body? */
bool rr_idx_quiet(struct rr_func *f, unsigned int idx)
{
	unsigned long unlocks = rr_sum_unlocks(f, idx & 1);

	/*
	 * A: sum the unlocks before the locks. Pairs with B and C: every
	 * unlock counted here has its lock counted below, so equal sums
	 * mean no caller of this index is between the two.
	 */
	smp_mb();
	return rr_sum_locks(f, idx & 1) == unlocks;
}

/* Both indices quiet: nobody is inside any body of @f (unload). */
bool rr_all_quiet(struct rr_func *f)
{
	unsigned long unlocks = rr_sum_unlocks(f, 0) + rr_sum_unlocks(f, 1);

	smp_mb(); /* A, as in rr_idx_quiet() */
	return rr_sum_locks(f, 0) + rr_sum_locks(f, 1) == unlocks;
}

void rr_flip_epoch(struct rr_func *f)
{
	/*
	 * E: order the preceding quiet check of idx ^ 1 before the flip, so
	 * callers that see the new epoch are not missed by it. Pairs with B.
	 */
	smp_mb();
	WRITE_ONCE(f->slot->epoch, f->slot->epoch + 1);
	/*
	 * D: order the flip before the coming quiet checks of the old index:
	 * a caller that still read the old epoch and is counted after this
	 * point entered the new body. Pairs with B.
	 */
	smp_mb();
}
