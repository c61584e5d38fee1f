// SPDX-License-Identifier: GPL-2.0
/*
 * WARN/BUG sites in moved bodies (docs/DESIGN.md, "Sites the kernel looks
 * up by PC").
 *
 * The kernel finds a WARN/BUG site by the PC of its `brk #0x800`
 * (lib/bug.c: find_bug(), then module_find_bug() over each module's
 * __bug_table). A copy's PC is in none of them, and the kernel's own break
 * hook wins for #0x800 (arm64 call_break_hook() runs the last match in a
 * list that registration prepends to: the boot-time hook). So each site
 * gets a number of its own when its module loads, and every copy carries
 * `brk #(RR_SITE_IMM_BASE + number)` in place of `brk #0x800`. The break
 * hook for that range maps the number back to the original site's address
 * and has the kernel report it from there: report_bug() with the original
 * address and pc, so the report, the ONCE flag (in the one bug_entry every
 * copy shares), the taint and the oops are exactly the original's.
 *
 * The numbers are rr_site_bug[]'s indices: claimed under rr_lock at
 * MODULE_STATE_COMING, before any copy exists, and given back when the
 * module's last copy is freed (rr_free_funcs()). The break hook reads the
 * array without a lock: an entry is written before any copy carrying its
 * number is built, and cleared when the module goes (rr_sites_forget()).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/bug.h>
#include <linux/kprobes.h>
#include <linux/ratelimit.h>
#include <asm/unaligned.h>
#include <asm/debug-monitors.h>
#include "rerand.h"

/* The original site's entry for each number, NULL while unclaimed. */
static const struct bug_entry *rr_site_bug[RR_SITES];
static DECLARE_BITMAP(rr_site_used, RR_SITES);	/* rr_lock */
/* A WARN_ON_ONCE site being reported now (rr_site_trap()). */
static DECLARE_BITMAP(rr_site_reporting, RR_SITES);
atomic_long_t rr_site_warns = ATOMIC_LONG_INIT(0);
atomic_long_t rr_site_bugs = ATOMIC_LONG_INIT(0);
atomic_long_t rr_site_unknown = ATOMIC_LONG_INIT(0);

static u32 rr_site_brk(unsigned int number)
{
	return AARCH64_BREAK_MON | ((RR_SITE_IMM_BASE + number) << 5);
}

/* Where @bug points (lib/bug.c's bug_addr(), static there). */
static unsigned long rr_bug_addr(const struct bug_entry *bug)
{
#ifdef CONFIG_GENERIC_BUG_RELATIVE_POINTERS
	return (unsigned long)&bug->bug_addr_disp + bug->bug_addr_disp;
#else
	return bug->bug_addr;
#endif
}

static const struct bug_entry *rr_find_bug(const struct module *mod,
					   unsigned long addr)
{
	unsigned int i;

	for (i = 0; i < mod->num_bugs; i++)
		if (rr_bug_addr(&mod->bug_table[i]) == addr)
			return &mod->bug_table[i];
	return NULL;
}

/* The function of @m whose body holds @addr, or NULL. */
static const struct rr_fixed *rr_body_at(const struct rr_module *m,
					 unsigned long addr)
{
	unsigned int i;

	for (i = 0; i < m->nfuncs; i++) {
		const struct rerand_func *r = m->loading[i].rec;

		if (addr >= r->body && addr - r->body < r->size)
			return &m->loading[i];
	}
	return NULL;
}

/*
 * Checks @m's WARN/BUG sites against the module's own __bug_table and
 * numbers them: every OP_BUG record is a `brk #0x800` the kernel knows, and
 * every site the kernel knows in a moved body has a record (a copy of a site
 * without one would oops on a WARN). Fills site_first in the loading
 * records, before the vault is sealed. Refuses the module otherwise.
 */
int rr_sites_claim(struct rr_module *m)
{
	const struct module *mod = m->mod;
	unsigned int i, k, n = 0, first;
	unsigned long at;

	for (i = 0; i < m->nfuncs; i++) {
		struct rr_fixed *fx = &m->loading[i];

		fx->site_first = n;
		fx->nsites = 0;
		for (k = 0; k < fx->rec->nrelocs; k++) {
			const struct rerand_reloc *rel = &fx->relocs[k];
			u32 word;

			if (rel->type != RERAND_OP_BUG)
				continue;
			at = fx->rec->body + rel->offset;
			word = get_unaligned_le32(fx->pristine + rel->offset);
			if (word != RERAND_BUG_BRK || !rr_find_bug(mod, at)) {
				pr_err_ratelimited("refusing %s: %ps: WARN/BUG site at +%#x (%08x) is not in the module's __bug_table\n",
						   mod->name, (void *)at, rel->offset,
						   word);
				return -EINVAL;
			}
			fx->nsites++;
			n++;
		}
	}
	for (i = 0; i < mod->num_bugs; i++) {
		const struct rr_fixed *fx;
		bool found = false;

		at = rr_bug_addr(&mod->bug_table[i]);
		fx = rr_body_at(m, at);
		if (!fx)
			continue;
		for (k = 0; k < fx->rec->nrelocs && !found; k++)
			found = fx->relocs[k].type == RERAND_OP_BUG &&
				fx->rec->body + fx->relocs[k].offset == at;
		if (!found) {
			pr_err_ratelimited("refusing %s: the WARN/BUG site %pS has no record in the table (built by an older rerand-ld?)\n",
					   mod->name, (void *)at);
			return -EINVAL;
		}
	}
	m->nsites = n;
	if (!n)
		return 0;
	mutex_lock(&rr_lock);
	first = bitmap_find_next_zero_area(rr_site_used, RR_SITES, 0, n, 0);
	if (first >= RR_SITES) {
		mutex_unlock(&rr_lock);
		pr_err_ratelimited("refusing %s: its %u WARN/BUG sites do not fit in the %u site numbers left\n",
				   mod->name, n,
				   RR_SITES - bitmap_weight(rr_site_used, RR_SITES));
		return -ENOSPC;
	}
	bitmap_set(rr_site_used, first, n);
	m->site_base = first;
	for (i = 0; i < m->nfuncs; i++) {
		struct rr_fixed *fx = &m->loading[i];
		unsigned int j = 0;

		fx->site_first += first;
		for (k = 0; k < fx->rec->nrelocs; k++)
			if (fx->relocs[k].type == RERAND_OP_BUG)
				WRITE_ONCE(rr_site_bug[fx->site_first + j++],
					   rr_find_bug(mod, fx->rec->body +
						       fx->relocs[k].offset));
	}
	mutex_unlock(&rr_lock);
	return 0;
}

/*
 * When @m goes (its __bug_table with it): a WARN in a copy still entered
 * then finds no site and oopses with a message, as a BRK the kernel does
 * not know would. The numbers stay taken until rr_sites_release().
 */
void rr_sites_forget(struct rr_module *m)
{
	unsigned int i;

	for (i = 0; i < m->nsites; i++)
		WRITE_ONCE(rr_site_bug[m->site_base + i], NULL);
}

/* Once no copy of @m can run any more (rr_free_funcs(), under rr_lock). */
void rr_sites_release(struct rr_module *m)
{
	lockdep_assert_held(&rr_lock);
	rr_sites_forget(m);
	if (m->nsites)
		bitmap_clear(rr_site_used, m->site_base, m->nsites);
	m->nsites = 0;
}

/* Gives the copy at @copy (still writable) its sites' own BRKs. */
void rr_sites_mark(const struct rr_fixed *fx, u8 *copy)
{
	unsigned int k, j = 0;

	for (k = 0; j < fx->nsites && k < fx->rec->nrelocs; k++)
		if (fx->relocs[k].type == RERAND_OP_BUG)
			put_unaligned_le32(rr_site_brk(fx->site_first + j++),
					   copy + fx->relocs[k].offset);
}

static DEFINE_RATELIMIT_STATE(rr_site_rs, 5 * HZ, 4);

/*
 * Debug-exception context, as the kernel's bug_handler(): no lock. The
 * kernel reports from the original's address and pc, then the copy goes
 * on past its BRK (WARN) or the task dies (BUG), as bug_handler() does.
 */
static int notrace rr_site_trap(struct pt_regs *regs, unsigned long esr)
{
	unsigned int number = (esr & ESR_ELx_BRK64_ISS_COMMENT_MASK) -
			      RR_SITE_IMM_BASE;
	const struct bug_entry *bug = NULL;
	unsigned long orig, pc = regs->pc;
	enum bug_trap_type type;
	bool once;

	if (number < RR_SITES)
		bug = READ_ONCE(rr_site_bug[number]);
	if (!bug) {
		atomic_long_inc(&rr_site_unknown);
		if (__ratelimit(&rr_site_rs))
			pr_emerg("unknown WARN/BUG site number %u at %p\n",
				 number, (void *)pc);
		return DBG_HOOK_ERROR;
	}
	orig = rr_bug_addr(bug);
	/*
	 * report_bug() sets BUGFLAG_DONE after its test, unlocked: two CPUs
	 * in copies of one WARN_ON_ONCE at once would both report. One
	 * reports; the others go on as after a reported one.
	 */
	once = (bug->flags & (BUGFLAG_WARNING | BUGFLAG_ONCE)) ==
	       (BUGFLAG_WARNING | BUGFLAG_ONCE);
	if (once && test_and_set_bit(number, rr_site_reporting)) {
		atomic_long_inc(&rr_site_warns);
		regs->pc = pc + AARCH64_INSN_SIZE;
		return DBG_HOOK_HANDLED;
	}
	regs->pc = orig;
	type = rr_ksyms.report_bug(orig, regs);
	if (once)
		clear_bit(number, rr_site_reporting);
	switch (type) {
	case BUG_TRAP_TYPE_BUG:
		atomic_long_inc(&rr_site_bugs);
		/* Names the original; returns only if a die notifier says so. */
		rr_ksyms.die("Oops - BUG", regs, esr);
		break;
	case BUG_TRAP_TYPE_WARN:
		atomic_long_inc(&rr_site_warns);
		break;
	default:
		regs->pc = pc;
		return DBG_HOOK_ERROR;
	}
	regs->pc = pc + AARCH64_INSN_SIZE;
	return DBG_HOOK_HANDLED;
}

NOKPROBE_SYMBOL(rr_site_trap);

static struct break_hook rr_site_hook = {
	.fn = rr_site_trap,
	.imm = RR_SITE_IMM_BASE,
	.mask = RR_SITES - 1,
};

void rr_sites_init(void)
{
	rr_ksyms.register_break_hook(&rr_site_hook);
}

void rr_sites_exit(void)
{
	rr_ksyms.unregister_break_hook(&rr_site_hook);
}
