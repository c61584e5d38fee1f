// SPDX-License-Identifier: GPL-2.0
/*
 * rerand's own state, kept read-only or checked (docs/DESIGN.md, "Threat
 * model"), so that rerand does not turn a small kernel write into more:
 *
 *   - the vault: per module, one vmalloc area holding everything the mover
 *     builds copies from and the guard repairs from (snapshots, trampoline
 *     images, the per-function struct rr_fixed). Filled at
 *     MODULE_STATE_COMING, read-only from then on, linear alias included
 *     (set_memory_ro() applies to it with rodata=full), never written again.
 *     A write into a snapshot faults instead of becoming code;
 *   - the slots the hooks read are in the module's .data..ro_after_init,
 *     read-only once its init has run (ABI 3);
 *   - rr_check_state(): every period, before the mover or the guard acts,
 *     the writable state that decides where they write is checked against
 *     what is read-only (the vault, the module's table) and restored, or
 *     the function is left alone; each finding is reported and counted;
 *   - sealed=1: the parameters refuse writes once rerand.ko is loaded, and
 *     a change of the variables behind them (a stray write) is reported
 *     and undone at the next period, from a copy kept __ro_after_init.
 *
 * All of it runs under rr_lock, in process context.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bsearch.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <linux/seq_file.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>
#include "rerand.h"
#include "reloc.h"

bool rr_sealed __ro_after_init;
module_param_named(sealed, rr_sealed, bool, 0444);
MODULE_PARM_DESC(sealed, "Parameters are read-only once loaded; a later change of the state behind them is reported and undone (default off)");

/* rerand_init() has finished: from here on, sealed means sealed. */
static bool rr_live __ro_after_init;

bool rr_may_set(const struct kernel_param *kp)
{
	if (rr_sealed && READ_ONCE(rr_live)) {
		pr_warn_ratelimited("sealed: parameter %s is read-only\n",
				    kp->name);
		return false;
	}
	return true;
}

static int rr_set_sealed_bool(const char *val, const struct kernel_param *kp)
{
	return rr_may_set(kp) ? param_set_bool(val, kp) : -EPERM;
}

static int rr_set_sealed_uint(const char *val, const struct kernel_param *kp)
{
	return rr_may_set(kp) ? param_set_uint(val, kp) : -EPERM;
}

const struct kernel_param_ops rr_sealed_bool_ops = {
	.set = rr_set_sealed_bool,
	.get = param_get_bool,
};

const struct kernel_param_ops rr_sealed_uint_ops = {
	.set = rr_set_sealed_uint,
	.get = param_get_uint,
};

/* The variables behind the parameters that control moving and guarding. */
static const struct {
	const char *name;
	void *addr;
	unsigned int size;
} rr_sealed_vars[] = {
#define RR_SEALED(name, var) { name, &(var), sizeof(var) }
	RR_SEALED("period_ms", rr_period_ms),
	RR_SEALED("paused", rr_paused),
	RR_SEALED("pin_after", rr_pin_after),
	RR_SEALED("stop_machine", rr_stop_machine),
	RR_SEALED("guard", rr_guard_on),
	RR_SEALED("guard_slots", rr_guard_slots),
	RR_SEALED("guard_rotate_ms", rr_guard_rotate_ms),
	RR_SEALED("tamper_policy", rr_tamper_policy),
	RR_SEALED("poison", rr_poison_on),
#undef RR_SEALED
};

static u32 rr_sealed_copy[ARRAY_SIZE(rr_sealed_vars)] __ro_after_init;
static unsigned long rr_sealed_violations;	/* rr_lock */

static u32 rr_sealed_get(unsigned int i)
{
	if (rr_sealed_vars[i].size == 1)
		return READ_ONCE(*(u8 *)rr_sealed_vars[i].addr);
	return READ_ONCE(*(u32 *)rr_sealed_vars[i].addr);
}

static void rr_sealed_put(unsigned int i, u32 v)
{
	if (rr_sealed_vars[i].size == 1)
		WRITE_ONCE(*(u8 *)rr_sealed_vars[i].addr, v);
	else
		WRITE_ONCE(*(u32 *)rr_sealed_vars[i].addr, v);
}

/*
 * What the mover and the guard schedule themselves by: under sealed=1 the
 * copy kept read-only, so that a stray write to the variable cannot delay
 * the very check that undoes it (a period_ms of an hour would).
 */
unsigned int rr_sealed_uint(const unsigned int *var)
{
	unsigned int i;

	if (rr_sealed && READ_ONCE(rr_live))
		for (i = 0; i < ARRAY_SIZE(rr_sealed_vars); i++)
			if (rr_sealed_vars[i].addr == var)
				return rr_sealed_copy[i];
	return READ_ONCE(*var);
}

/* End of rerand_init(): the values a sealed runtime keeps. */
void rr_seal_config(void)
{
	unsigned int i;

	BUILD_BUG_ON(sizeof(bool) != 1 || sizeof(unsigned int) != 4);
	mutex_lock(&rr_lock);
	for (i = 0; i < ARRAY_SIZE(rr_sealed_vars); i++)
		rr_sealed_copy[i] = rr_sealed_get(i);
	WRITE_ONCE(rr_live, true);
	mutex_unlock(&rr_lock);
}

static void rr_check_sealed(void)
{
	unsigned int i;
	u32 v;

	if (!rr_sealed || !rr_live)
		return;
	for (i = 0; i < ARRAY_SIZE(rr_sealed_vars); i++) {
		v = rr_sealed_get(i);
		if (v == rr_sealed_copy[i])
			continue;
		rr_sealed_violations++;
		pr_err_ratelimited("STATE: sealed %s changed to %u behind the parameter interface; restored to %u\n",
				   rr_sealed_vars[i].name, v, rr_sealed_copy[i]);
		/* A restored period_ms takes effect at this tick's rr_queue(). */
		rr_sealed_put(i, rr_sealed_copy[i]);
	}
}

/*
 * The addresses of the state an attacker would aim at, for the hardening
 * scenario and for review: debugfs is root-only.
 */
void rr_state_show(struct seq_file *sf)
{
	struct rr_module *m;
	unsigned int i;

	mutex_lock(&rr_lock);
	seq_printf(sf, "sealed=%d sealed_violations=%lu period_ms_at=0x%016lx paused_at=0x%016lx guard_at=0x%016lx\n",
		   rr_sealed, rr_sealed_violations, (unsigned long)&rr_period_ms,
		   (unsigned long)&rr_paused, (unsigned long)&rr_guard_on);
	list_for_each_entry(m, &rr_modules, node) {
		seq_printf(sf, "module=%s vault=0x%016lx vault_size=%zu vault_at=0x%016lx state_tamper=%lu frozen=%d\n",
			   m->mod->name, (unsigned long)m->vault,
			   m->vault ? m->vault->size : 0,
			   (unsigned long)&m->vault, m->state_tamper, m->frozen);
		for (i = 0; i < m->nfuncs; i++) {
			const struct rr_func *f = &m->funcs[i];

			seq_printf(sf, "%ps snapshot=0x%016lx fixed=0x%016lx record_at=0x%016lx cur_bl_at=0x%016lx slot_at=0x%016lx state_tamper=%lu\n",
				   (void *)(unsigned long)f->fx->rec->trampoline,
				   (unsigned long)f->fx->pristine,
				   (unsigned long)f->fx, (unsigned long)&f->fx,
				   (unsigned long)&f->cur_bl,
				   (unsigned long)&f->fx->slot->counters,
				   f->state_tamper);
		}
	}
	mutex_unlock(&rr_lock);
}

/* The writable records of a module being loaded, and what they own. */
static void rr_free_loading(struct rr_module *m)
{
	unsigned int i;

	if (!m->loading)
		return;
	for (i = 0; i < m->nfuncs; i++) {
		kvfree(m->loading[i].pristine);
		kfree(m->loading[i].tramp_good);
	}
	kvfree(m->loading);
	m->loading = NULL;
	kvfree(m->loading_jumps);
	m->loading_jumps = NULL;
}

/* Frees whichever of the vault and the loading records @m has. */
void rr_vault_free(struct rr_module *m)
{
	rr_free_loading(m);
	/* Process context: VM_FLUSH_RESET_PERMS makes vfree() sleep. */
	vfree(m->vault);
	m->vault = NULL;
}

/*
 * The module's PLT entries (arch/arm64/kernel/module-plts.c: `adrp x16;
 * add x16, x16; br x16`, 12 bytes), which the loader emitted for calls its
 * code could not reach: a copy always reaches them (it is placed within
 * reach of the module's text, rr_region()), so its calls into the kernel
 * go there rather than through a veneer of its own, as the original's do.
 * Found by their shape in the core text, outside every moved body (those
 * become traps); sorted by target.
 */
struct rr_plt {
	u64 target;
	u64 entry;
};

#define RR_ADRP_X16_MASK	0x9f00001fU
#define RR_ADRP_X16		0x90000010U
#define RR_ADD_X16_X16_MASK	0xffc003ffU
#define RR_ADD_X16_X16		0x91000210U
#define RR_BR_X16		0xd61f0200U

static bool rr_in_moved_body(const struct rr_module *m, u64 addr)
{
	unsigned int i;

	for (i = 0; i < m->nfuncs; i++)
		if (addr - m->loading[i].rec->body < m->loading[i].rec->size)
			return true;
	return false;
}

static int rr_cmp_plt(const void *a, const void *b)
{
	u64 x = ((const struct rr_plt *)a)->target;
	u64 y = ((const struct rr_plt *)b)->target;

	return x < y ? -1 : x > y;
}

/* The PLT entries of @m (kvfree() them), or NULL (then copies use veneers). */
static struct rr_plt *rr_find_plts(const struct rr_module *m, unsigned int *n)
{
	const __le32 *w = (const __le32 *)m->text_lo;
	unsigned int nwords = (m->text_hi - m->text_lo) / 4, i, k = 0, max = 0;
	struct rr_plt *plt;
	u32 adrp, add;
	u64 page;

	for (i = 0; i + 2 < nwords; i++)
		max += le32_to_cpu(READ_ONCE(w[i + 2])) == RR_BR_X16;
	*n = 0;
	if (!max)
		return NULL;
	plt = kvmalloc_array(max, sizeof(*plt), GFP_KERNEL);
	if (!plt)
		return NULL;
	for (i = 0; i + 2 < nwords && k < max; i++) {
		if (le32_to_cpu(READ_ONCE(w[i + 2])) != RR_BR_X16)
			continue;
		adrp = le32_to_cpu(READ_ONCE(w[i]));
		add = le32_to_cpu(READ_ONCE(w[i + 1]));
		if ((adrp & RR_ADRP_X16_MASK) != RR_ADRP_X16 ||
		    (add & RR_ADD_X16_X16_MASK) != RR_ADD_X16_X16 ||
		    rr_in_moved_body(m, (unsigned long)&w[i]))
			continue;
		page = ((unsigned long)&w[i] & ~0xfffUL) +
		       ((u64)sign_extend64(((adrp >> 29) & 3) |
					   (((adrp >> 5) & 0x7ffff) << 2), 20) << 12);
		plt[k++] = (struct rr_plt){
			.target = page + ((add >> 10) & 0xfff),
			.entry = (unsigned long)&w[i],
		};
	}
	sort(plt, k, sizeof(*plt), rr_cmp_plt, NULL);
	*n = k;
	return plt;
}

static u64 rr_plt_for(const struct rr_plt *plt, unsigned int n, u64 target)
{
	const struct rr_plt key = { .target = target };
	const struct rr_plt *e;

	e = bsearch(&key, plt, n, sizeof(*plt), rr_cmp_plt);
	return e ? e->entry : 0;
}

/* A call or a tail call: what a PLT entry or a direct link may serve. */
static bool rr_is_branch26(u32 type)
{
	return type == RERAND_R_CALL26 || type == RERAND_R_JUMP26;
}

/*
 * Writes at @p what a move of @fx applies (struct rr_fixed: hot[],
 * hot_callee[], site_off[]), from the module's read-only table; returns
 * the next free byte. A call or tail call to a target outside the module
 * for which the loader emitted a PLT entry (@plt, @nplt) is sent there.
 */
static u8 *rr_seal_hot(struct rr_module *m, struct rr_fixed *fx, u8 *p,
		       const struct rr_plt *plt, unsigned int nplt)
{
	struct rerand_reloc *hot = (void *)p;
	u32 *callee, *site;
	unsigned int k, n = 0, nsites = 0;
	u64 entry;

	for (k = 0; k < fx->rec->nrelocs; k++) {
		if (!rr_reloc_is_hot(fx->relocs[k].type))
			continue;
		hot[n] = fx->relocs[k];
		if (rr_is_branch26(hot[n].type) &&
		    hot[n].target - m->text_lo >= m->text_hi - m->text_lo) {
			entry = rr_plt_for(plt, nplt, hot[n].target);
			if (entry) {
				hot[n].target = entry;
				m->plt_calls++;
			}
		}
		n++;
	}
	callee = (u32 *)(hot + n);
	fx->hot = hot;
	fx->hot_callee = m->direct ? callee : NULL;
	if (m->direct)
		for (k = 0; k < n; k++)
			callee[k] = rr_is_branch26(hot[k].type) ?
				    rr_callee_index(m, hot[k].target) : 0;
	site = m->direct ? callee + n : callee;
	fx->site_off = site;
	for (k = 0; k < fx->rec->nrelocs && nsites < fx->nsites; k++)
		if (fx->relocs[k].type == RERAND_OP_BUG)
			site[nsites++] = fx->relocs[k].offset;
	return (u8 *)ALIGN((unsigned long)(site + fx->nsites), 8);
}

/*
 * Moves @m's loading records, snapshots and trampoline images into one
 * new vmalloc area and makes it read-only. On failure, m->vault or
 * m->loading (whichever holds the records) is left for rr_vault_free().
 */
int rr_vault_seal(struct rr_module *m)
{
	size_t size = struct_size(m->vault, fx, m->nfuncs);
	struct rr_vault *v;
	unsigned int i;
	u8 *p;

	const struct jump_entry **jumps;
	struct rr_plt *plt;
	unsigned int nplt;

	size += m->njumps * sizeof(*jumps);
	for (i = 0; i < m->nfuncs; i++) {
		const struct rr_fixed *ld = &m->loading[i];

		size += ALIGN(ld->tramp_size, 8) + ALIGN(ld->rec->size, 8) +
			ld->nhot * sizeof(*ld->hot) +
			ALIGN((m->direct ? ld->nhot : 0) * sizeof(u32) +
			      ld->nsites * sizeof(u32), 8);
	}
	size = PAGE_ALIGN(size);
	v = rr_ksyms.vmalloc_node_range(size, PAGE_SIZE, VMALLOC_START,
					VMALLOC_END, GFP_KERNEL, PAGE_KERNEL,
					VM_FLUSH_RESET_PERMS, NUMA_NO_NODE,
					__builtin_return_address(0));
	if (!v)
		return -ENOMEM;
	plt = rr_find_plts(m, &nplt);
	memset(v, 0, size);
	v->self = (unsigned long)v;
	v->mod = m->mod;
	v->size = size;
	v->nfuncs = m->nfuncs;
	jumps = (const struct jump_entry **)&v->fx[m->nfuncs];
	if (m->njumps)
		memcpy(jumps, m->loading_jumps, m->njumps * sizeof(*jumps));
	p = (u8 *)(jumps + m->njumps);
	for (i = 0; i < m->nfuncs; i++) {
		const struct rr_fixed *ld = &m->loading[i];
		struct rr_fixed *fx = &v->fx[i];

		*fx = *ld;
		if (ld->njump)
			fx->jumps = jumps + (ld->jumps - m->loading_jumps);
		fx->tramp_good = p;
		memcpy(p, ld->tramp_good, ld->tramp_size);
		p += ALIGN(ld->tramp_size, 8);
		fx->pristine = p;
		memcpy(p, ld->pristine, ld->rec->size);
		p += ALIGN(ld->rec->size, 8);
		p = rr_seal_hot(m, fx, p, plt, nplt);
		m->funcs[i].fx = fx;
	}
	kvfree(plt);
	m->vault = v;
	/* Direct mode needed the index for hot_callee[] only. */
	kvfree(m->by_tramp);
	m->by_tramp = NULL;
	/* The records now live in the vault; the loading copies go. */
	rr_free_loading(m);
	if (rr_ksyms.set_memory_ro((unsigned long)v, size >> PAGE_SHIFT)) {
		pr_err("%s: cannot make its vault read-only\n", m->mod->name);
		return -EPERM;
	}
	return 0;
}

static DEFINE_RATELIMIT_STATE(rr_state_rs, 5 * HZ, 10);

static void rr_state_bad(struct rr_module *m, struct rr_func *f,
			 const char *what, unsigned long found,
			 const char *outcome)
{
	m->state_tamper++;
	if (f)
		f->state_tamper++;
	if (!__ratelimit(&rr_state_rs))
		return;
	if (f)	/* %ps names the module too */
		pr_err("STATE: %ps: %s (found %#lx); %s\n",
		       (void *)(unsigned long)f->fx->rec->trampoline, what,
		       found, outcome);
	else
		pr_err("STATE: %s: %s (found %#lx); %s\n", m->mod->name, what,
		       found, outcome);
}

/* Callers may be uncounted: none of @f's bodies is ever freed. */
static void rr_leak_all(struct rr_func *f)
{
	unsigned int k;

	f->cur.leak = true;
	for (k = 0; k < RR_OLDS; k++)
		f->old[k].copy.leak = true;
}

static void rr_check_func_state(struct rr_module *m, struct rr_func *f,
				const struct rr_fixed *fx)
{
	struct rerand_slot *slot = fx->slot;
	unsigned long counters;
	u32 bl;

	if (f->fx != fx) {
		unsigned long found = (unsigned long)f->fx;

		f->fx = fx;
		rr_state_bad(m, f, "record pointer changed", found, "restored");
	}
	/* Old copies are checked where they act: when dropped (move.c). */
	if (!rr_copy_sane(fx->rec->body, &f->cur)) {
		if (!f->suspect)
			rr_state_bad(m, f, "body address outside its copies",
				     f->cur.body, "no longer moved");
		f->suspect = true;
	} else {
		bl = rerand_encode_bl((unsigned long)fx->call_word, f->cur.body);
		if (f->cur_bl != bl) {
			rr_state_bad(m, f, "`bl` the guard restores changed",
				     f->cur_bl, "restored");
			f->cur_bl = bl;
		}
	}
	/*
	 * The hooks count in the counters slot->counters points to. The slot
	 * is read-only once the module's init has run; before, or through a
	 * mapping that is not, a forged value counts calls elsewhere (or
	 * not at all): those callers are invisible to the grace periods, so
	 * the bodies they may be running are never freed.
	 */
	counters = READ_ONCE(slot->counters);
	if (counters != rr_counters_base(f) && !f->slot_forged) {
		f->slot_forged = true;
		rr_leak_all(f);
		if (m->mod->state == MODULE_STATE_COMING) {
			WRITE_ONCE(slot->counters, rr_counters_base(f));
			f->slot_forged = false;
			rr_state_bad(m, f, "slot's counter address changed",
				     counters,
				     "restored; its current and old bodies are never freed");
		} else {
			f->suspect = true;
			rr_state_bad(m, f, "read-only slot's counter address changed",
				     counters,
				     "no longer moved; its current and old bodies are never freed");
		}
	}
}

/*
 * An old copy of @f about to be dropped is not one of its bodies: it is
 * kept (dropping it would write where the forged pointer says), and @f is
 * no longer moved.
 */
void rr_state_forged_old(struct rr_module *m, struct rr_func *f,
			 const struct rr_copy *c)
{
	if (!f->suspect)
		rr_state_bad(m, f, "old body address outside its copies",
			     c->body, "kept; no longer moved");
	f->suspect = true;
}

/*
 * Every period, first thing, under rr_lock. A module whose vault is not
 * where its records say cannot be trusted at all: the mover and the guard
 * leave it alone from then on (m->frozen).
 */
/*
 * Exits whose ticket was not the entry hook's (hooks.S): counted nowhere,
 * so the era they entered in stays open and its copies are kept. Which
 * function: the slot the last one named.
 */
static void rr_check_tickets(void)
{
	static long seen;
	long forged = atomic_long_read(&rr_forged_tickets);
	unsigned long slot = READ_ONCE(rr_forged_slot);
	struct rr_module *m;
	unsigned int i;

	if (forged == seen)
		return;
	seen = forged;
	list_for_each_entry(m, &rr_modules, node)
		for (i = 0; i < m->nfuncs; i++)
			if ((unsigned long)m->funcs[i].fx->slot == slot)
				rr_state_bad(m, &m->funcs[i], "forged ticket at exit",
					     forged,
					     "that call was counted nowhere; its copies are kept");
}

void rr_check_state(void)
{
	struct rr_module *m;
	unsigned int i;

	lockdep_assert_held(&rr_lock);
	rr_check_sealed();
	rr_check_tickets();
	list_for_each_entry(m, &rr_modules, node) {
		const struct rr_vault *v = m->vault;

		if (m->frozen)
			continue;
		if (!v || v->self != (unsigned long)v || v->mod != m->mod ||
		    v->nfuncs != m->nfuncs) {
			m->frozen = true;
			rr_state_bad(m, NULL, "vault pointer changed",
				     (unsigned long)v,
				     "the module is no longer moved or guarded");
			continue;
		}
		for (i = 0; i < m->nfuncs; i++)
			rr_check_func_state(m, &m->funcs[i], &v->fx[i]);
	}
}
