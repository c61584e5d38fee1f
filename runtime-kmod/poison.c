// SPDX-License-Identifier: GPL-2.0
/*
 * Poisoned originals (docs/DESIGN.md, "Nothing executable stays where the
 * module was loaded"): once a function's original body has drained after
 * its first move (the grace period after which a copy would be freed),
 * every word of it but its ftrace entry slots becomes a BRK with the
 * runtime's own immediate. The originals sit at a fixed offset from every
 * pointer the module hands out (the trampolines are in the same text, and
 * the .ko is public): left executable, they would give a code-reuse
 * attacker everything the moving copies hide.
 *
 * Execution that reaches a poisoned word (a stale pointer, or an attack)
 * is reported with the function, the caller and the task, counted in
 * rr_poison_hits (debugfs "mover"), and oopses.
 *
 * The ftrace slots stay: ftrace checks the old instruction before it
 * patches a site, and a mismatch disables ftrace for the whole system.
 * A word under a kprobe stays until the probe goes (its disarm would
 * write the original back); new probes on a poisoned word are refused by
 * kprobes itself (a BRK cannot be probed).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cacheflush.h>
#include <linux/kprobes.h>
#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <linux/sched.h>
#include <asm/debug-monitors.h>
#include "rerand.h"
#include "writers.h"

bool rr_poison_on = true;
module_param_cb(poison, &rr_sealed_bool_ops, &rr_poison_on, 0644);
MODULE_PARM_DESC(poison, "Overwrite each original body with traps once it has drained after the first move (default on)");

atomic_long_t rr_poison_hits = ATOMIC_LONG_INIT(0);

static DEFINE_RATELIMIT_STATE(rr_poison_rs, 5 * HZ, 4);

/* Debug-exception context: no lock, no allocation. */
static int notrace rr_poison_hit(struct pt_regs *regs, unsigned long esr)
{
	atomic_long_inc(&rr_poison_hits);
	if (__ratelimit(&rr_poison_rs))
		pr_emerg("execution reached rerand's trap at %pS from %pS, task %s[%d]: a poisoned original body or the place of a freed copy, so a stale pointer, or code that knows where the module was loaded\n",
			 (void *)instruction_pointer(regs),
			 (void *)regs->regs[30], current->comm,
			 task_pid_nr(current));
	/* Never silent: the kernel reports the BRK and oopses. */
	return DBG_HOOK_ERROR;
}

NOKPROBE_SYMBOL(rr_poison_hit);

static struct break_hook rr_poison_hook = {
	.fn = rr_poison_hit,
	.imm = RR_POISON_BRK_IMM,
};

/*
 * Which words of @f's body are ftrace slots, which stay: one bit per word,
 * so that poisoning is one pass over the body and one over its records
 * (a search of the records for every word cost bfq 3 M instructions, in
 * the mover's first periods). NULL without memory.
 */
static unsigned long *rr_kept_words(const struct rr_func *f)
{
	u32 size = f->fx->rec->size, off, k;
	unsigned long *kept = bitmap_zalloc(DIV_ROUND_UP(size, 4), GFP_KERNEL);

	if (!kept)
		return NULL;
	for (k = 0; k < f->fx->rec->nrelocs; k++) {
		off = f->fx->relocs[k].offset;
		if (f->fx->relocs[k].type == RERAND_OP_NOP && !(off & 3) &&
		    off < size)
			__set_bit(off / 4, kept);
	}
	return kept;
}

/* Bytes of @f's body that poisoning leaves: its ftrace slots. */
unsigned int rr_kept_bytes(const struct rr_func *f)
{
	unsigned int n = 0;
	u32 k;

	for (k = 0; k < f->fx->rec->nrelocs; k++)
		n += f->fx->relocs[k].type == RERAND_OP_NOP ? 4 : 0;
	return n;
}

/*
 * Overwrites @f's original body through a writable alias of its pages (as
 * the kernel's text patching does, for a whole body at once). Nobody runs
 * it any more, so no CPU needs to be stopped. -EBUSY: a kprobe is on it;
 * -ENOMEM: no bitmap. Both are tried again the next period.
 */
static int rr_poison_func(struct rr_func *f)
{
	unsigned long body = f->fx->rec->body, lo = body & PAGE_MASK;
	unsigned int npages = (PAGE_ALIGN(body + f->fx->rec->size) - lo) >> PAGE_SHIFT;
	unsigned long *kept;
	int err;
	u32 off;
	u8 *map;

	for (off = 0; off < f->fx->rec->size; off += 4)
		if (rr_kprobe_owns((void *)(body + off)))
			return -EBUSY;
	kept = rr_kept_words(f);
	if (!kept)
		return -ENOMEM;
	map = rr_text_alias(lo, npages, &err);
	if (!map) {
		bitmap_free(kept);
		return err;
	}
	for (off = 0; off < f->fx->rec->size; off += 4)
		if (!test_bit(off / 4, kept))
			WRITE_ONCE(*(__le32 *)(map + (body - lo) + off),
				   cpu_to_le32(RR_POISON_INSN));
	rr_text_unalias(map, npages);
	bitmap_free(kept);
	/* By the executed address: D-cache to PoU, I-cache invalidated. */
	caches_clean_inval_pou(body, body + f->fx->rec->size);
	return 0;
}

/*
 * Bytes of @m's core text that can run at a fixed address: every word but
 * the traps poisoning wrote and the zero padding (UDF) of the text pages.
 * Trampolines, the functions that stay, PLTs, ftrace slots and originals
 * not poisoned yet. Under rr_lock (the text does not go meanwhile).
 */
unsigned long rr_fixed_exec_bytes(const struct rr_module *m)
{
	unsigned long a, n = 0;

	for (a = m->text_lo; a + 4 <= m->text_hi; a += 4) {
		u32 w = le32_to_cpu(READ_ONCE(*(__le32 *)a));

		n += w && w != RR_POISON_INSN;
	}
	return 4 * n;
}

/* The mover, every period, after the grace periods. Under rr_lock. */
void rr_poison_originals(void)
{
	struct rr_module *m;
	unsigned int i;
	int ret;

	lockdep_assert_held(&rr_lock);
	if (!READ_ONCE(rr_poison_on))
		return;
	list_for_each_entry(m, &rr_modules, node) {
		/* Only a module with an original drained since. */
		if (!m->poison_due)
			continue;
		m->poison_due = false;
		for (i = 0; i < m->nfuncs && !m->frozen; i++) {
			struct rr_func *f = &m->funcs[i];

			if (!f->poison_due)
				continue;
			ret = rr_poison_func(f);
			if (ret == -EBUSY || ret == -ENOMEM) {
				m->poison_due = true;	/* next period */
				continue;
			}
			f->poison_due = false;
			if (ret) {
				pr_warn_ratelimited("%s: %ps: its original body stays executable (%d)\n",
						    m->mod->name,
						    (void *)(unsigned long)f->fx->rec->trampoline,
						    ret);
				continue;
			}
			f->poisoned = true;
		}
	}
}

int rr_poison_init(void)
{
	rr_ksyms.register_break_hook(&rr_poison_hook);
	return 0;
}

/* Waits (synchronize_rcu()) until no CPU runs the hook. */
void rr_poison_exit(void)
{
	rr_ksyms.unregister_break_hook(&rr_poison_hook);
}
