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
 * Exception-table entries (uaccess fixups) are found by PC as well
 * (search_exception_tables(), from the fault handler). arm64's entries are
 * PC-relative and 6.1's fixups lie in the function itself, so each copy
 * carries its function's entries translated to itself, after its code
 * (read-only with it), and a kprobe on search_exception_tables() returns
 * the copy's entry for a PC in a copy: the kernel's own fixup handler
 * then runs it. A kprobe on module_address_lookup() names an address in a
 * copy as the same offset in the original (`foo_real+off [module]`), so
 * every symbolized address in a report, a backtrace frame in a copy
 * included, reads as it would without rerand, and no copy address is
 * printed.
 *
 * Static-key sites (__jump_table, tracepoints among them) are patched by
 * the kernel in the original only (arch_jump_label_transform_queue(),
 * under jump_label_mutex). A copy is built, and put where the probe below
 * finds it, under jump_label_mutex too, with every site in its key's state
 * then; a kprobe on the transform writes each later toggle into every copy
 * before the kernel's own patch of the original, so a toggle has reached
 * every copy when static_key_enable() or _disable() returns (the kernel's
 * kick_all_cpus_sync() after its batch covers our words too).
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
#include <linux/extable.h>
#include <linux/kprobes.h>
#include <linux/ratelimit.h>
#include <asm/unaligned.h>
#include <asm/debug-monitors.h>
#include "rerand.h"
#include "reloc.h"
#include "writers.h"

/* The original site's entry for each number, NULL while unclaimed. */
static const struct bug_entry *rr_site_bug[RR_SITES];
static DECLARE_BITMAP(rr_site_used, RR_SITES);	/* rr_lock */
/* A WARN_ON_ONCE site being reported now (rr_site_trap()). */
static DECLARE_BITMAP(rr_site_reporting, RR_SITES);
atomic_long_t rr_site_warns = ATOMIC_LONG_INIT(0);
atomic_long_t rr_site_bugs = ATOMIC_LONG_INIT(0);
atomic_long_t rr_site_unknown = ATOMIC_LONG_INIT(0);
atomic_long_t rr_site_fixups = ATOMIC_LONG_INIT(0);
atomic_long_t rr_site_names = ATOMIC_LONG_INIT(0);
atomic_long_t rr_site_toggles = ATOMIC_LONG_INIT(0);
static bool rr_fixups_on;	/* the search_exception_tables() kprobe */

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

static unsigned long rr_ex_insn(const struct exception_table_entry *e)
{
	return (unsigned long)&e->insn + e->insn;
}

static unsigned long rr_ex_fixup(const struct exception_table_entry *e)
{
	return (unsigned long)&e->fixup + e->fixup;
}

/*
 * Each moved body's entries of the module's exception table (sorted by
 * the loader: a body's are contiguous), checked to have their fixup in the
 * body too, and room after each copy's code for them, translated.
 */
static int rr_claim_extable(struct rr_module *m)
{
	const struct module *mod = m->mod;
	unsigned int i, k;

	for (i = 0; i < m->nfuncs; i++) {
		struct rr_fixed *fx = &m->loading[i];
		unsigned long lo = fx->rec->body, size = fx->rec->size;

		fx->ex = NULL;
		fx->nex = 0;
		for (k = 0; k < mod->num_exentries; k++) {
			const struct exception_table_entry *e = &mod->extable[k];

			if (rr_ex_insn(e) - lo >= size)
				continue;
			if (rr_ex_fixup(e) - lo >= size) {
				pr_err_ratelimited("refusing %s: the fixup of %pS is outside its function (built by an older rerand-ld?)\n",
						   mod->name, (void *)rr_ex_insn(e));
				return -EINVAL;
			}
			if (fx->ex && e != fx->ex + fx->nex) {
				pr_err_ratelimited("refusing %s: its exception table is not sorted\n",
						   mod->name);
				return -EINVAL;
			}
			if (!fx->ex)
				fx->ex = e;
			fx->nex++;
		}
		if (!fx->nex)
			continue;
		if (!rr_fixups_on) {
			pr_err_ratelimited("refusing %s: %ps has uaccess fixups, and the probe that finds them in copies is not registered\n",
					   mod->name, (void *)(unsigned long)fx->rec->trampoline);
			return -EOPNOTSUPP;
		}
		fx->ex_at = ALIGN(fx->max_size, sizeof(u32));
		fx->max_size = fx->ex_at + fx->nex * sizeof(*fx->ex);
	}
	return 0;
}

#ifdef CONFIG_JUMP_LABEL
static bool rr_toggles_on;	/* the jump-label transform kprobe */

/*
 * Each moved body's static-key sites: the module's jump entries whose
 * code lies in it (their targets too: rerand-ld excludes a function whose
 * branch leaves it), grouped by function for the vault.
 */
static int rr_claim_jumps(struct rr_module *m)
{
	const struct module *mod = m->mod;
	const struct jump_entry *e;
	unsigned int i, k, n = 0;

	m->njumps = 0;
	for (k = 0; k < mod->num_jump_entries; k++) {
		e = &mod->jump_entries[k];
		for (i = 0; i < m->nfuncs; i++) {
			const struct rerand_func *r = m->loading[i].rec;

			if (jump_entry_code(e) - r->body >= r->size)
				continue;
			if (jump_entry_target(e) - r->body >= r->size) {
				pr_err_ratelimited("refusing %s: the static-key branch at %pS leaves its function (built by an older rerand-ld?)\n",
						   mod->name, (void *)jump_entry_code(e));
				return -EINVAL;
			}
			n++;
		}
	}
	if (!n)
		return 0;
	if (!rr_toggles_on) {
		pr_err_ratelimited("refusing %s: it has static-key sites in moved functions, and the probe that follows toggles into copies is not registered\n",
				   mod->name);
		return -EOPNOTSUPP;
	}
	m->loading_jumps = kvmalloc_array(n, sizeof(*m->loading_jumps),
					  GFP_KERNEL);
	if (!m->loading_jumps)
		return -ENOMEM;
	for (i = 0; i < m->nfuncs; i++) {
		struct rr_fixed *fx = &m->loading[i];

		fx->jumps = m->loading_jumps + m->njumps;
		fx->njump = 0;
		for (k = 0; k < mod->num_jump_entries; k++) {
			e = &mod->jump_entries[k];
			if (jump_entry_code(e) - fx->rec->body < fx->rec->size) {
				m->loading_jumps[m->njumps++] = e;
				fx->njump++;
			}
		}
	}
	return 0;
}

#else
/* Without jump labels a static key is a plain load: no sites to follow. */
static int rr_claim_jumps(struct rr_module *m)
{
	m->njumps = 0;
	return 0;
}
#endif

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
	int ret;

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
	ret = rr_claim_extable(m);
	if (!ret)
		ret = rr_claim_jumps(m);
	if (ret)
		return ret;
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
static void rr_sites_mark_bugs(const struct rr_fixed *fx, u8 *copy)
{
	unsigned int j;

	for (j = 0; j < fx->nsites; j++)
		put_unaligned_le32(rr_site_brk(fx->site_first + j),
				   copy + fx->site_off[j]);
}

/*
 * Writes @fx's exception entries after the copy at @copy (still
 * writable), each pointing at the same instruction and fixup in the copy
 * as the module's entry does in the original.
 */
static void rr_sites_mark_ex(const struct rr_fixed *fx, u8 *copy)
{
	struct exception_table_entry *e = (void *)(copy + fx->ex_at);
	unsigned long delta = (unsigned long)copy - fx->rec->body;
	unsigned int k;

	for (k = 0; k < fx->nex; k++) {
		const struct exception_table_entry *o = &fx->ex[k];

		e[k].insn = rr_ex_insn(o) + delta - (unsigned long)&e[k].insn;
		e[k].fixup = rr_ex_fixup(o) + delta - (unsigned long)&e[k].fixup;
		e[k].type = o->type;
		e[k].data = o->data;
	}
}

#ifdef CONFIG_JUMP_LABEL
/* The word a static-key site at @pc holds for @type (arm64 jump_label.c). */
static u32 rr_jump_insn(unsigned long pc, unsigned long target,
			enum jump_label_type type)
{
	/* In reach: rerand-ld keeps a site's target in its own body. */
	return type == JUMP_LABEL_JMP ? rerand_encode_b(pc, target) : RERAND_NOP;
}

/*
 * Gives the copy at @copy (still writable) each static-key site in its
 * key's state now; the caller holds jump_label_mutex (rr_jumps_lock()).
 */
static void rr_sites_mark_jumps(const struct rr_fixed *fx, u8 *copy)
{
	unsigned long delta = (unsigned long)copy - fx->rec->body;
	unsigned int k;

	for (k = 0; k < fx->njump; k++) {
		const struct jump_entry *e = fx->jumps[k];
		enum jump_label_type type =
			static_key_enabled(jump_entry_key(e)) ^
			jump_entry_is_branch(e);
		unsigned long pc = jump_entry_code(e) + delta;

		put_unaligned_le32(rr_jump_insn(pc, jump_entry_target(e) + delta,
						type),
				   copy + (jump_entry_code(e) - fx->rec->body));
	}
}

/* Around building @m's copies and listing them (move.c), if it has sites. */
void rr_jumps_lock(const struct rr_module *m)
{
	if (m->njumps)
		rr_ksyms.jump_label_lock();
}

void rr_jumps_unlock(const struct rr_module *m)
{
	if (m->njumps)
		rr_ksyms.jump_label_unlock();
}

struct rr_toggle {
	const struct jump_entry *e;
	enum jump_label_type type;
};

static void notrace rr_toggle_copy(const struct rr_placed *c,
				   unsigned long off, void *arg)
{
	const struct rr_toggle *t = arg;
	unsigned long pc = c->body + off;
	u32 insn = rr_jump_insn(pc, jump_entry_target(t->e) -
				jump_entry_code(t->e) + pc, t->type);
	u32 now = le32_to_cpu(READ_ONCE(*(__le32 *)pc));

	/* A copy dropped and made traps keeps its trap. */
	if (now == RR_POISON_INSN || now == insn)
		return;
	rr_ksyms.patch_text_nosync((void *)pc, insn);
	atomic_long_inc(&rr_site_toggles);
}

NOKPROBE_SYMBOL(rr_toggle_copy);

/*
 * arch_jump_label_transform_queue(entry, type), at its entry, under
 * jump_label_mutex: the same site in every copy of its body gets the same
 * state, before the kernel patches the original.
 */
static int notrace rr_jump_toggle(struct kprobe *p, struct pt_regs *regs)
{
	struct rr_toggle t = {
		.e = (const void *)regs->regs[0],
		.type = regs->regs[1],
	};

	rcu_read_lock();
	rr_copies_of(jump_entry_code(t.e), rr_toggle_copy, &t);
	rcu_read_unlock();
	return 0;
}

NOKPROBE_SYMBOL(rr_jump_toggle);
#else
static void rr_sites_mark_jumps(const struct rr_fixed *fx, u8 *copy)
{
}

void rr_jumps_lock(const struct rr_module *m)
{
}

void rr_jumps_unlock(const struct rr_module *m)
{
}
#endif

/*
 * What a copy built at @copy from @fx's snapshot (@len bytes so far, still
 * writable) needs of the sites the kernel finds by PC: its WARN/BUG BRKs,
 * its static-key sites (under rr_jumps_lock()), its exception entries
 * after traps up to them. Returns the bytes the copy now uses.
 */
size_t rr_sites_mark_some(const struct rr_fixed *fx, u8 *copy, size_t len)
{
	if (fx->nsites)
		rr_sites_mark_bugs(fx, copy);
	if (fx->njump)
		rr_sites_mark_jumps(fx, copy);
	if (!fx->nex)
		return len;
	memset32((u32 *)(copy + len), RR_POISON_INSN, (fx->ex_at - len) / 4);
	rr_sites_mark_ex(fx, copy);
	return fx->max_size;
}

/*
 * search_exception_tables(addr), at its entry: for @addr in a copy, the
 * copy's own entry is the answer, and the function returns it at once
 * (the pre-handler skips the body: pc = lr, x0 = the entry). The entry is
 * in the copy's arena, which lives while the faulting caller is counted
 * in the copy. Otherwise the kernel searches as always.
 */
static int notrace rr_fixup_lookup(struct kprobe *p, struct pt_regs *regs)
{
	unsigned long addr = regs->regs[0];
	const struct exception_table_entry *e, *hit = NULL;
	const struct rr_placed *c;
	unsigned int k;

	rcu_read_lock();
	c = rr_copy_of(addr);
	if (c && c->nex) {
		e = (const void *)(c->body + c->ex_at);
		for (k = 0; k < c->nex && !hit; k++)
			if (rr_ex_insn(&e[k]) == addr)
				hit = &e[k];
	}
	rcu_read_unlock();
	if (!hit)
		return 0;
	atomic_long_inc(&rr_site_fixups);
	regs->regs[0] = (unsigned long)hit;
	instruction_pointer_set(regs, procedure_link_pointer(regs));
	return 1;
}

NOKPROBE_SYMBOL(rr_fixup_lookup);

/*
 * module_address_lookup(addr, ...), at its entry: an address in a copy's
 * body is looked up as the same offset in the original. A copy's veneers
 * and entries have no name; they stay as they are.
 */
static int notrace rr_name_lookup(struct kprobe *p, struct pt_regs *regs)
{
	unsigned long addr = regs->regs[0];
	const struct rr_placed *c;

	rcu_read_lock();
	c = rr_copy_of(addr);
	if (c && addr - c->body < c->size) {
		regs->regs[0] = c->orig + (addr - c->body);
		atomic_long_inc(&rr_site_names);
	}
	rcu_read_unlock();
	return 0;
}

NOKPROBE_SYMBOL(rr_name_lookup);

/* Probed, never called: see ksyms.c's list. */
static struct kprobe rr_fixup_kp = {
	.symbol_name = "search_exception_tables",
	.pre_handler = rr_fixup_lookup,
};

static struct kprobe rr_name_kp = {
	.symbol_name = "module_address_lookup",
	.pre_handler = rr_name_lookup,
};

#ifdef CONFIG_JUMP_LABEL
/* The batched transform where the kernel has it (Debian 6.1 does). */
static struct kprobe rr_jump_kp = {
	.symbol_name = "arch_jump_label_transform_queue",
	.pre_handler = rr_jump_toggle,
};
#endif

static bool rr_names_on;

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
	/*
	 * The site is found by the original's address; regs keep the copy's
	 * pc, which the module_address_lookup() probe names as the original
	 * (pc : foo_real+off), so the oops's Code: line shows the bytes that
	 * ran, not the traps the original holds by now. Without that probe
	 * the original's pc is what names the function.
	 */
	if (!rr_names_on)
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
	int err;

	rr_ksyms.register_break_hook(&rr_site_hook);
	err = register_kprobe(&rr_fixup_kp);
	rr_fixups_on = !err;
	if (err)
		pr_warn("cannot probe search_exception_tables (%d): modules with uaccess fixups in moved functions are refused\n",
			err);
#ifdef CONFIG_JUMP_LABEL
	err = register_kprobe(&rr_jump_kp);
	if (err) {
		memset(&rr_jump_kp, 0, sizeof(rr_jump_kp));
		rr_jump_kp.symbol_name = "arch_jump_label_transform";
		rr_jump_kp.pre_handler = rr_jump_toggle;
		err = register_kprobe(&rr_jump_kp);
	}
	rr_toggles_on = !err;
	if (err)
		pr_warn("cannot probe the jump-label transform (%d): modules with static-key sites in moved functions are refused\n",
			err);
#endif
	err = register_kprobe(&rr_name_kp);
	rr_names_on = !err;
	if (err)
		pr_warn("cannot probe module_address_lookup (%d): addresses in copies print raw\n",
			err);
}

void rr_sites_exit(void)
{
	if (rr_names_on)
		unregister_kprobe(&rr_name_kp);
	if (rr_fixups_on)
		unregister_kprobe(&rr_fixup_kp);
#ifdef CONFIG_JUMP_LABEL
	if (rr_toggles_on)
		unregister_kprobe(&rr_jump_kp);
#endif
	rr_ksyms.unregister_break_hook(&rr_site_hook);
}
