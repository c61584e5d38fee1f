// SPDX-License-Identifier: GPL-2.0
/*
 * The other writers of a rerandomized module's text, as the runtime sees
 * them (docs/DESIGN.md, "Other writers of module text"):
 *
 *  - kprobes puts a BRK over an instruction, keeps the instruction in
 *    kprobe->opcode, emulates (a `bl`, an `adrp`...) or single-steps that
 *    saved copy on every hit, and writes it back when the probe is
 *    disarmed. A probe may be armed before the runtime sees the module
 *    (trace_kprobe's module notifier runs first at MODULE_STATE_COMING);
 *  - ftrace turns a traced function's entry NOPs into `mov x9, x30` and
 *    `bl <ftrace trampoline>`, and back.
 *
 * Known-good images and pristine snapshots are read through
 * rr_read_text(), so neither writer's words end up in them. A trampoline's
 * `bl` word under a kprobe belongs to kprobes: the mover leaves it alone
 * (rr_call_word_owner()) and keeps what kprobes saved there equal to the
 * `bl` it wrote last (rr_kprobe_sync_saved()).
 *
 * Also the runtime's own way of writing module text it does not run
 * through kprobes' or ftrace's path: a second, writable mapping of the
 * pages (rr_text_alias()), as the kernel's text patching maps a page at a
 * fixmap slot, but once for many words.
 *
 * Below the stages: used by main.c (snapshots), move.c (the mover),
 * guard.c (the integrity check) and poison.c (poisoned originals).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <asm/debug-monitors.h>
#include <asm/tlbflush.h>
#include "rerand.h"
#include "reloc.h"
#include "writers.h"

/*
 * The instruction kprobes keeps for @addr if a kprobe's BRK is there,
 * else the word itself. A BRK with no probe behind it may be a probe just
 * being removed: read once more.
 */
u32 rr_text_word(const void *addr)
{
	struct kprobe *p;
	u32 word;
	int tries;

	for (tries = 0; tries < 2; tries++) {
		word = le32_to_cpu(READ_ONCE(*(const __le32 *)addr));
		if (word != BRK64_OPCODE_KPROBES)
			return word;
		rcu_read_lock();
		p = rr_ksyms.get_kprobe((void *)addr);
		if (p)
			word = READ_ONCE(p->opcode);
		rcu_read_unlock();
		if (p)
			return word;
	}
	return word;
}

/*
 * Whether a kprobe is registered at @addr: a kprobe BRK anywhere else is
 * not kprobes' (kprobes publishes a probe before it arms it, and disarms
 * it before it unpublishes it).
 */
bool rr_kprobe_owns(const void *addr)
{
	bool owned;

	rcu_read_lock();
	owned = rr_ksyms.get_kprobe((void *)addr);
	rcu_read_unlock();
	return owned;
}

/* @len bytes of text at @addr into @buf, kprobe BRKs replaced by what they hide. */
void rr_read_text(u8 *buf, const void *addr, size_t len)
{
	size_t off;

	memcpy(buf, addr, len);
	for (off = 0; off + 4 <= len; off += 4) {
		__le32 *w = (__le32 *)(buf + off);

		if (le32_to_cpu(*w) == BRK64_OPCODE_KPROBES)
			*w = cpu_to_le32(rr_text_word(addr + off));
	}
}

/*
 * A trampoline as rerand-ld wrote it, once the module loader ran ftrace's
 * init: kprobe BRKs undone, and the second ftrace slot (+8) a NOP even if
 * the function tracer is on right now.
 */
void rr_read_trampoline(u8 *buf, const void *addr, size_t len)
{
	rr_read_text(buf, addr, len);
	if (len >= RR_FTRACE_SLOT1 + 4 &&
	    rr_is_bl(le32_to_cpu(*(__le32 *)(buf + RR_FTRACE_SLOT1))))
		*(__le32 *)(buf + RR_FTRACE_SLOT1) = cpu_to_le32(RR_INSN_NOP);
}

/*
 * Returns once every register_kprobe() that was in flight has published
 * its probe: kprobes saves the word under the BRK-to-be (prepare) before
 * the probe can be found, both under kprobe_mutex, which enable_kprobe()
 * takes too. The probe is never registered, so nothing is enabled.
 */
void rr_kprobes_settle(void)
{
	static struct kprobe never_registered;

	enable_kprobe(&never_registered);
}

/*
 * Brings up to date what kprobe @p on @f's `bl` word saved, if it saved
 * another `bl` than the one the runtime wrote last (the probe was prepared
 * before a retargeting and published after it): its hits emulate the
 * saved `bl`, and its disarm writes it back. @f's previous body restarts
 * its grace period: emulated calls went there, counted in either epoch
 * index. Returns whether it changed anything; the caller then waits for
 * kprobes (rr_kprobes_settle(): a disarm in flight may have read the older
 * copy) and synchronises every CPU (a hit in flight may hold it).
 */
static bool rr_kprobe_sync_saved(struct rr_module *m, struct rr_func *f,
				 struct kprobe *p)
{
	if (!p || READ_ONCE(p->opcode) == f->cur_bl)
		return false;
	WRITE_ONCE(p->opcode, f->cur_bl);
	pr_info_ratelimited("%s: %ps: a kprobe saved an older `bl` of its trampoline; brought up to date\n",
			    m->mod->name, rr_call_word(f));
	rr_restart_grace(f);
	return true;
}

/* Who owns @f's `bl` word, @probed telling whether a kprobe is on it. */
static __always_inline enum rr_word
rr_call_word_owner(const struct rr_func *f, bool probed)
{
	void *word = rr_call_word(f);
	u32 live = le32_to_cpu(READ_ONCE(*(__le32 *)word));
	unsigned int k;
	u64 target;

	/* Armed or not, a probe there restores what it saved: leave it be. */
	if (unlikely(probed))
		return live == BRK64_OPCODE_KPROBES || live == f->cur_bl ?
		       RR_WORD_KPROBE : RR_WORD_STALE;
	if (likely(live == f->cur_bl))
		return RR_WORD_OURS;
	/*
	 * An old body's `bl`: a probe disarmed with an older saved copy
	 * wrote it back (it read it before rr_kprobe_sync_saved()).
	 */
	if (rr_is_bl(live) &&
	    rerand_decode_branch(live, (u64)(unsigned long)word, &target))
		for (k = 0; k < RR_OLDS; k++)
			if (f->old[k].copy.body && target == f->old[k].copy.body)
				return RR_WORD_STALE;
	return RR_WORD_FOREIGN;
}

/*
 * Who owns each `bl` word of @m this period (f->word_owner; held unless
 * it is ours). The first survey of a period also brings what kprobes
 * saved up to date (rr_kprobe_sync_saved()); @again, after the settling
 * that follows a change, only looks. Returns RR_SURVEY_SYNCED if it
 * changed a saved copy, RR_SURVEY_STALE if an older `bl` of ours is
 * back in a word. Under rr_lock, after rr_kprobes_settle(): one lookup
 * per word tells both what a probe saved and who owns the word (a probe
 * registered after it is the same race as one registered after a second
 * lookup would be).
 */
unsigned int rr_writers_survey(struct rr_module *m, bool again)
{
	unsigned int i, found = 0;
	struct kprobe *p;

	/* kprobes frees a probe after a grace period. */
	rcu_read_lock();
	for (i = 0; i < m->nfuncs; i++) {
		struct rr_func *f = &m->funcs[i];

		p = rr_ksyms.get_kprobe(rr_call_word(f));
		if (!again && rr_kprobe_sync_saved(m, f, p))
			found |= RR_SURVEY_SYNCED;
		f->word_owner = rr_call_word_owner(f, p);
		if (f->word_owner == RR_WORD_STALE)
			found |= RR_SURVEY_STALE;
		/* A kprobe's, or foreign (the guard reports and repairs it). */
		f->held = f->word_owner != RR_WORD_OURS;
	}
	rcu_read_unlock();
	return found;
}

/*
 * The @npages pages of module text from @lo (page aligned), mapped
 * writable a second time; NULL if they are not vmalloc'ed text or there is
 * no memory (-EFAULT or -ENOMEM in @err).
 */
u8 *rr_text_alias(unsigned long lo, unsigned int npages, int *err)
{
	struct page **pages;
	unsigned int i;
	u8 *map;

	pages = kmalloc_array(npages, sizeof(*pages), GFP_KERNEL);
	if (!pages) {
		*err = -ENOMEM;
		return NULL;
	}
	for (i = 0; i < npages; i++) {
		pages[i] = vmalloc_to_page((void *)(lo + i * PAGE_SIZE));
		if (!pages[i]) {
			kfree(pages);
			*err = -EFAULT;
			return NULL;
		}
	}
	map = vmap(pages, npages, VM_MAP, PAGE_KERNEL);
	kfree(pages);
	*err = map ? 0 : -ENOMEM;
	return map;
}

/* Unmaps an rr_text_alias(), its TLB entries flushed at once. */
void rr_text_unalias(u8 *map, unsigned int npages)
{
	unsigned long start = (unsigned long)map;

	vunmap(map);
	/* vunmap() defers the TLB flush: no writable alias may linger. */
	flush_tlb_kernel_range(start, start + npages * PAGE_SIZE);
}
