// SPDX-License-Identifier: GPL-2.0
/*
 * The grace-period side of the entry and exit hooks every trampoline calls
 * (add_pause_list() / remove_pause_list(), in hooks.S), and their exports.
 *
 * This is classic SRCU (kernel/rcu/srcutiny.c before 4.12's srcutree, as in
 * docs/DESIGN.md) applied to one function, with RR_ERAS counter pairs
 * rather than two: per CPU, lock[RR_ERAS] and unlock[RR_ERAS]. A caller
 * enters with idx = the era index in its CPU's copy of the epoch and
 * increments lock[idx] on that CPU; it leaves by incrementing unlock[idx]
 * on whatever CPU it runs on then (it may have slept and migrated). Only the sums over all CPUs
 * matter. No locks, no read-modify-write of a line shared by all CPUs:
 * each increment is an exclusive pair on the CPU's own counter (hooks.S
 * says why it must be atomic), so the hooks work in process, softirq and
 * hardirq context and across sleeps.
 *
 * Ordering. The hooks have no barrier: SRCU's B (after the lock
 * increment) and C (before the unlock increment) are paid by the mover,
 * asymmetrically, as membarrier() does: between summing the unlocks and
 * summing the locks of an index it sends an IPI to every other CPU and
 * waits for each (rr_fence(): kick_all_cpus_sync()). The argument is in
 * docs/DESIGN.md, "Ordering without barriers".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/percpu.h>
#include <linux/smp.h>
#include "rerand.h"

/*
 * In hooks.S: a register convention (rerand_abi.h), not C. Exported from
 * here so that genksyms versions them from their rerand.h declarations.
 */
EXPORT_SYMBOL_GPL(add_pause_list);
NOKPROBE_SYMBOL(add_pause_list);

/* In hooks.S, like add_pause_list(). */
EXPORT_SYMBOL_GPL(remove_pause_list);
NOKPROBE_SYMBOL(remove_pause_list);

/* Written by remove_pause_list() for a ticket it did not sign (hooks.S). */
atomic_long_t rr_forged_tickets = ATOMIC_LONG_INIT(0);
unsigned long rr_forged_slot;

unsigned long rr_cpu_offsets[NR_CPUS] __ro_after_init;
unsigned int rr_ncpus __ro_after_init;

/*
 * What the hooks run, read from their text as the kernel's alternatives
 * patched it when rerand.ko loaded (debugfs "mover": hooks=): counted, not
 * assumed from a CPU feature.
 */
struct rr_hooks_census rr_hooks_census;

static void rr_census_of(const void *fn)
{
	const __le32 *p = fn;
	unsigned int i;
	u32 w;

	for (i = 0; i < 64; i++) {
		w = le32_to_cpu(READ_ONCE(p[i]));
		rr_hooks_census.insns++;
		if ((w & 0xfffff0ffU) == 0xd50330bfU)		/* dmb */
			rr_hooks_census.dmb++;
		if ((w & 0xfffff0ffU) == 0xd503309fU)		/* dsb */
			rr_hooks_census.dsb++;
		if ((w & 0xfffffc00U) == 0xc85f7c00U)		/* ldxr x */
			rr_hooks_census.ldxr++;
		if ((w & 0xffe0fc1fU) == 0xf820001fU)		/* stadd x */
			rr_hooks_census.stadd++;
		if (w == 0xd65f03c0U)				/* ret */
			break;
	}
}

/* At load, before anything sums: the CPUs to sum, and what the hooks hold. */
void rr_hooks_init(void)
{
	unsigned int cpu;

	for_each_possible_cpu(cpu)
		rr_cpu_offsets[rr_ncpus++] = per_cpu_offset(cpu);
	rr_census_of(add_pause_list);
	rr_census_of(remove_pause_list);
	pr_info("hooks: counters by %s, %u instructions, %u barriers (as patched at load)\n",
		rr_hooks_census.stadd && !rr_hooks_census.ldxr ?
		"STADD (LSE atomics)" : "LDXR/STXR loops",
		rr_hooks_census.insns,
		rr_hooks_census.dmb + rr_hooks_census.dsb);
}

/*
 * Between the two halves of every quiet check (A in SRCU's terms, and B
 * and C, which the hooks do not execute): every other CPU takes an IPI
 * and acknowledges it with a release store, which orders everything it
 * executed before the interrupt before the acknowledgment; this CPU
 * waits for every acknowledgment with acquire loads. So an unlock the
 * first half saw was executed before that CPU's interrupt, and the
 * caller's lock increment and its whole run through the body before it:
 * the second half sees that lock, and the body is left. A caller that
 * migrated did its lock before the context switch (whose barriers order
 * it). Process context, sleeps; never under stop_machine().
 */
void rr_fence(void)
{
	kick_all_cpus_sync();
}

static unsigned long rr_sum_eras(struct rr_func *f, bool unlocks)
{
	unsigned long sum = 0;
	unsigned int idx;

	for (idx = 0; idx < RR_ERAS; idx++)
		sum += unlocks ? rr_unlocks(f, idx) : rr_locks(f, idx);
	return sum;
}

/* The unlocks of every era of @f (unload: a thread may be in any). */
unsigned long rr_unlocks_all(struct rr_func *f)
{
	return rr_sum_eras(f, true);
}

/* The locks of every era of @f, after rr_fence(). */
unsigned long rr_locks_all(struct rr_func *f)
{
	return rr_sum_eras(f, false);
}

/* Every era quiet: nobody is inside any body of @f (unload). */
bool rr_all_quiet(struct rr_func *f)
{
	unsigned long unlocks = rr_unlocks_all(f);

	rr_fence();
	return rr_locks_all(f) == unlocks;
}
