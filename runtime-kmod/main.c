// SPDX-License-Identifier: GPL-2.0
/*
 * rerand.ko: moves the bodies of rerand-linked modules to fresh random
 * addresses at run time. This file: parameters, init/exit, the module
 * notifier, discovery and validation of the tables, unload.
 *
 * Modules loaded before rerand.ko cannot carry tables: their trampolines
 * call add_pause_list(), which rerand.ko exports (pause.c), so the loader
 * refuses them until rerand.ko is loaded. No late pickup is needed; every
 * table is seen at its module's MODULE_STATE_COMING.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bsearch.h>
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/notifier.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>
#include <asm/cpufeature.h>
#include <asm/unaligned.h>
#include "rerand.h"
#include "writers.h"
#include "reloc.h"

/* The one lock: module list and all move state (see rerand.h). */
DEFINE_MUTEX(rr_lock);
LIST_HEAD(rr_modules);

unsigned int rr_period_ms = 100;
bool rr_paused;
unsigned int rr_pin_after = 50;
bool rr_stop_machine = true;
bool rr_direct;

/* A millisecond parameter: 1 ms to one hour. */
int rr_parse_ms(const char *val, unsigned int *ms)
{
	unsigned int v;
	int ret = kstrtouint(val, 0, &v);

	if (ret)
		return ret;
	if (v < 1 || v > 3600 * MSEC_PER_SEC)
		return -EINVAL;
	*ms = v;
	return 0;
}

static int rr_set_period(const char *val, const struct kernel_param *kp)
{
	unsigned int v;
	int ret = rr_parse_ms(val, &v);

	if (!rr_may_set(kp))
		return -EPERM;
	if (ret)
		return ret;
	WRITE_ONCE(rr_period_ms, v);
	rr_mover_reschedule();
	return 0;
}

static const struct kernel_param_ops rr_period_ops = {
	.set = rr_set_period,
	.get = param_get_uint,
};

module_param_cb(period_ms, &rr_period_ops, &rr_period_ms, 0644);
MODULE_PARM_DESC(period_ms, "Milliseconds between two moves of a body (default 100)");
module_param_cb(paused, &rr_sealed_bool_ops, &rr_paused, 0644);
MODULE_PARM_DESC(paused, "Make no new moves (grace periods still complete)");
module_param_cb(pin_after, &rr_sealed_uint_ops, &rr_pin_after, 0644);
MODULE_PARM_DESC(pin_after, "Periods an old body may stay in use before it is reported (the function keeps moving)");
/*
 * The architecture allows the `bl` to be rewritten while other CPUs run it
 * (stop_machine=0: aarch64_insn_patch_text_nosync() + kick_all_cpus_sync()).
 * QEMU 7.2 TCG with several vCPUs was seen to keep running the old `bl`
 * after that, and to jump into a freed copy; patching under stop_machine()
 * does not have the problem, so it is the default.
 */
module_param_cb(stop_machine, &rr_sealed_bool_ops, &rr_stop_machine, 0644);
MODULE_PARM_DESC(stop_machine, "Retarget trampolines under stop_machine() (default) rather than with single-word writes while CPUs run");
/*
 * Read when a module loads, for that module (docs/DESIGN.md, "Direct
 * mode"): its copies then call each other without a trampoline, which
 * the tracer and kprobes on a trampoline no longer see.
 */
module_param_cb(direct, &rr_sealed_bool_ops, &rr_direct, 0644);
MODULE_PARM_DESC(direct, "Modules loaded from now on: calls between the copies of one module go direct, only entries from outside pass a trampoline (default 0)");

/* Upper bounds that keep every size computation below in 64 bits. */
#define RR_MAX_FUNCS	BIT(20)
#define RR_MAX_RELOCS	BIT(24)

#define rr_bad(mod, t, i, fmt, ...)					\
	pr_err_ratelimited("refusing %s: table %u function %d: " fmt "\n", \
			   (mod)->name, (t), (i), ##__VA_ARGS__)

static bool rr_within(u64 p, u64 len, u64 lo, u64 hi)
{
	return p >= lo && p <= hi && len <= hi - p;
}

struct rr_bounds {
	u64 text_lo, text_hi;	/* core text */
	u64 ro_lo, ro_hi;	/* core read-only data */
	u64 roa_lo, roa_hi;	/* core read-only after init */
};

static void rr_get_bounds(struct module *mod, struct rr_bounds *b)
{
	u64 base = (unsigned long)mod->core_layout.base;

	b->text_lo = base;
	b->text_hi = base + mod->core_layout.text_size;
	b->ro_lo = b->text_hi;
	b->ro_hi = base + mod->core_layout.ro_size;
	b->roa_lo = b->ro_hi;
	b->roa_hi = base + mod->core_layout.ro_after_init_size;
}

/* Checks a header found at its own address; 0 or -EINVAL. */
static int rr_check_header(struct module *mod, unsigned int t,
			   const struct rerand_table_header *h,
			   const struct rr_bounds *b)
{
	if (h->version != RERAND_ABI_VERSION) {
		rr_bad(mod, t, -1, "ABI version %u, runtime speaks %u",
		       h->version, RERAND_ABI_VERSION);
		return -EINVAL;
	}
	if (h->header_size != RERAND_HEADER_SIZE ||
	    h->func_size != RERAND_FUNC_SIZE ||
	    h->reloc_size != RERAND_RELOC_SIZE) {
		rr_bad(mod, t, -1, "record sizes %u/%u/%u, expected %u/%u/%u",
		       h->header_size, h->func_size, h->reloc_size,
		       RERAND_HEADER_SIZE, RERAND_FUNC_SIZE,
		       RERAND_RELOC_SIZE);
		return -EINVAL;
	}
	if (h->nfuncs > RR_MAX_FUNCS || h->nrelocs > RR_MAX_RELOCS) {
		rr_bad(mod, t, -1, "%u functions, %u relocations: too many",
		       h->nfuncs, h->nrelocs);
		return -EINVAL;
	}
	if (!IS_ALIGNED(h->funcs, 8) ||
	    !rr_within(h->funcs, (u64)h->nfuncs * RERAND_FUNC_SIZE,
		       b->ro_lo, b->ro_hi)) {
		rr_bad(mod, t, -1, "function records at %llx not in read-only data",
		       h->funcs);
		return -EINVAL;
	}
	if (!IS_ALIGNED(h->relocs, 8) ||
	    !rr_within(h->relocs, (u64)h->nrelocs * RERAND_RELOC_SIZE,
		       b->ro_lo, b->ro_hi)) {
		rr_bad(mod, t, -1, "relocation records at %llx not in read-only data",
		       h->relocs);
		return -EINVAL;
	}
	/* Read-only once the module's init has run (rerand_abi.h). */
	if (!IS_ALIGNED(h->slots, 8) ||
	    !rr_within(h->slots, (u64)h->nfuncs * RERAND_SLOT_SIZE,
		       b->roa_lo, b->roa_hi)) {
		rr_bad(mod, t, -1, "slots at %llx not in .data..ro_after_init",
		       h->slots);
		return -EINVAL;
	}
	return 0;
}

/*
 * The slot address an `adrp x9, slot` / `add x9, x9, :lo12:slot` pair at
 * @at passes to a hook; 0 if the pair is not there.
 */
static unsigned long rr_slot_pair(u64 at)
{
	u32 adrp = rr_text_word((void *)(unsigned long)at);
	u32 add = rr_text_word((void *)(unsigned long)(at + 4));
	s64 imm;

	if ((adrp & 0x9f00001fU) != 0x90000009U ||	/* adrp x9 */
	    (add & 0xffc003ffU) != 0x91000129U)		/* add x9, x9, #imm */
		return 0;
	imm = ((adrp >> 29) & 3) | (((adrp >> 5) & 0x7ffff) << 2);
	imm = (imm << 43) >> 43;			/* sign-extend 21 bits */
	return (at & ~0xfffULL) + (imm << 12) + ((add >> 10) & 0xfff);
}

/*
 * Whether both hooks get @slot: the pairs 12 bytes before the `bl` at
 * @call (entry) and 4 bytes after it (exit), rerand-ld's layout and the
 * hand-written one of tests/runtime-selftest. The entry hook is called
 * from the word just before @call: it reads the `bl` at its return
 * address and enters the body itself (hooks.S).
 */
static bool rr_tramp_passes(u64 call, unsigned long slot)
{
	return rr_slot_pair(call - 12) == slot &&
	       rr_is_bl(rr_text_word((void *)(unsigned long)(call - 4))) &&
	       rr_slot_pair(call + 4) == slot;
}

/*
 * Where the kernel enforces BTI in its own text (the arenas are guarded
 * pages too, execmem.c), add_pause_list()'s BR into a body needs a
 * BTI C or BTI JC there (PACIASP is none at EL1: the kernel sets
 * SCTLR_EL1.BT1). Debian's 6.1 does not enforce it.
 */
static bool rr_bti_lands(const u8 *body, u32 size)
{
	u32 w;

	if (!IS_ENABLED(CONFIG_ARM64_BTI_KERNEL) || !system_supports_bti())
		return true;
	if (size < 4)
		return false;
	w = le32_to_cpu(*(const __le32 *)body);
	return w == 0xd503245fU || w == 0xd50324dfU;	/* bti c, bti jc */
}

/*
 * Checks one function record and fills @f and @fx (its part of the vault,
 * still writable: rr_vault_seal() makes it read-only); 0 or an errno.
 */
static int rr_check_func(struct module *mod, unsigned int t, int i,
			 const struct rerand_table_header *h,
			 const struct rr_bounds *b, struct rr_func *f,
			 struct rr_fixed *fx)
{
	const struct rerand_func *r = &((const struct rerand_func *)
					(unsigned long)h->funcs)[i];
	const struct rerand_reloc *rel;
	u64 call, target;
	long built;
	u32 insn, k, tail, bad = 0;
	u8 *tmp;

	f->fx = fx;
	if (!IS_ALIGNED(r->trampoline, 4) || !IS_ALIGNED(r->call_offset, 4) ||
	    !rr_within(r->trampoline, (u64)r->call_offset + 4,
		       b->text_lo, b->text_hi)) {
		rr_bad(mod, t, i, "trampoline %llx+%u not in the module's text",
		       r->trampoline, r->call_offset);
		return -EINVAL;
	}
	if (r->align < 4 || r->align > PAGE_SIZE || !is_power_of_2(r->align) ||
	    !IS_ALIGNED(r->body, r->align)) {
		rr_bad(mod, t, i, "body %llx: bad alignment %u",
		       r->body, r->align);
		return -EINVAL;
	}
	if (!r->size || !IS_ALIGNED(r->size, 4) ||
	    !rr_within(r->body, r->size, b->text_lo, b->text_hi)) {
		rr_bad(mod, t, i, "body %llx size %u not in the module's text",
		       r->body, r->size);
		return -EINVAL;
	}
	if ((u64)r->first_reloc + r->nrelocs > h->nrelocs) {
		rr_bad(mod, t, i, "relocations %u+%u beyond the table's %u",
		       r->first_reloc, r->nrelocs, h->nrelocs);
		return -EINVAL;
	}
	rel = &((const struct rerand_reloc *)(unsigned long)h->relocs)
		[r->first_reloc];
	for (k = 0; k < r->nrelocs; k++) {
		if (!rerand_reloc_supported(rel[k].type)) {
			rr_bad(mod, t, i, "relocation %u: type %u not supported",
			       k, rel[k].type);
			return -EINVAL;
		}
		if (rel[k].offset >= r->size) {
			rr_bad(mod, t, i, "relocation %u: offset %u beyond size %u",
			       k, rel[k].offset, r->size);
			return -EINVAL;
		}
	}
	call = r->trampoline + r->call_offset;
	/* Through kprobes' saved copy: a probe may be armed there already. */
	insn = rr_text_word((void *)(unsigned long)call);
	if (!rr_is_bl(insn) ||
	    !rerand_decode_branch(insn, call, &target) || target != r->body) {
		rr_bad(mod, t, i, "word %08x at trampoline+%u is not `bl` to the body %llx",
		       insn, r->call_offset, r->body);
		return -EINVAL;
	}

	fx->rec = r;
	fx->call_word = (__le32 *)(unsigned long)call;
	fx->relocs = rel;
	fx->slot = &((struct rerand_slot *)(unsigned long)h->slots)[i];
	if (READ_ONCE(fx->slot->counters) || READ_ONCE(fx->slot->reserved)) {
		rr_bad(mod, t, i, "slot not zero at load (shared with another function?)");
		return -EINVAL;
	}
	/* The counters the mover waits on must be the ones the calls use. */
	if (!rr_tramp_passes(call, (unsigned long)fx->slot)) {
		rr_bad(mod, t, i, "trampoline does not pass its own slot (#%d) to the hooks",
		       i);
		return -EINVAL;
	}
	fx->max_size = rerand_copy_max_size(r->size, rel, r->nrelocs);

	/* The guard's known-good image of the trampoline (guard.c). */
	tail = RR_TRAMP_TAIL;
	if (rr_within(call, RR_TRAMP_TAIL_STACK, b->text_lo, b->text_hi) &&
	    rr_text_word((void *)(unsigned long)(call + 24)) != RR_RET &&
	    rr_text_word((void *)(unsigned long)(call + 28)) == RR_RET)
		tail = RR_TRAMP_TAIL_STACK;
	fx->tramp_size = min_t(u64, (u64)r->call_offset + tail,
			       b->text_hi - r->trampoline) & ~3ULL;
	fx->tramp_good = kmalloc(fx->tramp_size, GFP_KERNEL);
	if (!fx->tramp_good)
		return -ENOMEM;
	rr_read_trampoline(fx->tramp_good, (void *)(unsigned long)r->trampoline,
			   fx->tramp_size);
	f->cur.body = r->body;
	f->cur_bl = insn;
	/* Era 0 (the counters' epoch, zeroed) runs the original. */
	f->eras_open = BIT(0);
	f->cur_eras = BIT(0);

	/*
	 * The pristine snapshot: copies are built from it, never from text.
	 * A probe armed on the body before we saw it leaves no BRK in it.
	 */
	fx->pristine = kvmalloc(r->size, GFP_KERNEL);
	if (!fx->pristine)
		return -ENOMEM;
	rr_read_text(fx->pristine, (void *)(unsigned long)r->body, r->size);
	if (!rr_bti_lands(fx->pristine, r->size)) {
		rr_bad(mod, t, i, "the kernel enforces BTI, and the body has no landing pad");
		return -EINVAL;
	}

	/* Dry run at the body's own address: every relocation must apply. */
	tmp = kvmalloc(fx->max_size, GFP_KERNEL);
	if (!tmp)
		return -ENOMEM;
	built = rerand_build_copy(tmp, fx->max_size, r->body, fx->pristine,
				  r->size, rel, r->nrelocs, &bad);
	kvfree(tmp);
	if (built < 0) {
		rr_bad(mod, t, i, "relocation %u cannot be applied (%ld)",
		       bad, built);
		return -EINVAL;
	}
	/*
	 * The ftrace NOPs go into the snapshot once (the dry run checked
	 * every place): what no move changes, no move applies again.
	 */
	fx->nhot = 0;
	for (k = 0; k < r->nrelocs; k++) {
		if (rel[k].type == RERAND_OP_NOP)
			put_unaligned_le32(RERAND_NOP,
					   fx->pristine + rel[k].offset);
		fx->nhot += rr_reloc_is_hot(rel[k].type);
	}

	fx->ctr = alloc_percpu(struct rerand_counters);
	if (!fx->ctr)
		return -ENOMEM;
	/*
	 * Before any module code runs: the hooks read it. The slot is still
	 * writable (.data..ro_after_init becomes read-only after init).
	 */
	WRITE_ONCE(fx->slot->counters, rr_counters_base(f));
	return 0;
}

static void rr_free_funcs(struct rr_module *m)
{
	unsigned int i;

	for (i = 0; i < m->nfuncs; i++) {
		struct rr_func *f = &m->funcs[i];

		rr_free_copy(&f->cur);
		rr_free_olds(f);
		rr_free_copy(&f->next);
		free_percpu(f->fx->ctr);
	}
	rr_sites_release(m);
	rr_vault_free(m);
	kvfree(m->funcs);
	kvfree(m->by_tramp);
	kvfree(m->tramp_image);
	kfree(m);
}

static int rr_cmp_tramp(const void *a, const void *b)
{
	unsigned long x = ((const struct rr_tramp_index *)a)->tramp;
	unsigned long y = ((const struct rr_tramp_index *)b)->tramp;

	return x < y ? -1 : x > y;
}

/*
 * Direct mode, while the vault is sealed: the function whose trampoline
 * starts at @tramp, its index + 1, or 0.
 */
u32 rr_callee_index(const struct rr_module *m, u64 tramp)
{
	const struct rr_tramp_index key = { .tramp = tramp };
	const struct rr_tramp_index *ix;

	ix = bsearch(&key, m->by_tramp, m->nfuncs, sizeof(*ix), rr_cmp_tramp);
	return ix ? ix->func + 1 : 0;
}

/*
 * Refuses a module that lists a trampoline twice; in direct mode keeps
 * the sorted index, which rr_callee_index() searches when the vault is
 * sealed.
 */
static int rr_index_trampolines(struct rr_module *m)
{
	struct rr_tramp_index *ix;
	unsigned int i;
	int ret = 0;

	ix = kvmalloc_array(m->nfuncs ? m->nfuncs : 1, sizeof(*ix), GFP_KERNEL);
	if (!ix)
		return -ENOMEM;
	for (i = 0; i < m->nfuncs; i++)
		ix[i] = (struct rr_tramp_index){
			.tramp = m->funcs[i].fx->rec->trampoline, .func = i,
		};
	sort(ix, m->nfuncs, sizeof(*ix), rr_cmp_tramp, NULL);
	for (i = 1; i < m->nfuncs && !ret; i++) {
		if (ix[i].tramp == ix[i - 1].tramp) {
			pr_err_ratelimited("refusing %s: trampoline %ps listed twice\n",
					   m->mod->name, (void *)ix[i].tramp);
			ret = -EINVAL;
		}
	}
	if (!ret && m->direct)
		m->by_tramp = ix;
	else
		kvfree(ix);
	return ret;
}

/*
 * The next table of the module at or after *@pos: an 8-aligned header in
 * the core read-only data whose self_addr is its own address.
 */
static const struct rerand_table_header *
rr_next_table(const struct rr_bounds *b, u64 *pos)
{
	u64 p;

	for (p = ALIGN(*pos, 8); p + RERAND_HEADER_SIZE <= b->ro_hi; p += 8) {
		const struct rerand_table_header *h = (void *)(unsigned long)p;

		if (h->magic == RERAND_TABLE_MAGIC && h->self_addr == p) {
			*pos = p + 8;
			return h;
		}
	}
	return NULL;
}

struct rr_scan {
	const struct rr_bounds *b;
	struct rr_module *m;
	unsigned int next;
};

static int rr_count_table(struct module *mod, unsigned int t,
			  const struct rerand_table_header *h,
			  struct rr_scan *s)
{
	int ret = rr_check_header(mod, t, h, s->b);

	if (ret)
		return ret;
	if ((u64)s->m->nfuncs + h->nfuncs > RR_MAX_FUNCS) {
		rr_bad(mod, t, -1, "too many functions in the module");
		return -EINVAL;
	}
	s->m->ntables++;
	s->m->nfuncs += h->nfuncs;
	s->m->nexcluded += h->nexcluded;
	return 0;
}

static int rr_load_table(struct module *mod, unsigned int t,
			 const struct rerand_table_header *h, struct rr_scan *s)
{
	unsigned int i;
	int ret;

	for (i = 0; i < h->nfuncs; i++) {
		ret = rr_check_func(mod, t, i, h, s->b, &s->m->funcs[s->next],
				    &s->m->loading[s->next]);
		s->next++;	/* counted even on failure: rr_free_funcs() */
		if (ret)
			return ret;
	}
	return 0;
}

/* rr_calls_hooks() reads the loader's module-use list. */
#ifndef CONFIG_MODULE_UNLOAD
#error "rerand.ko needs CONFIG_MODULE_UNLOAD"
#endif

/*
 * @mod calls the hooks: the loader resolved one of rerand.ko's exports
 * (only the two hooks are exported) and recorded the use before COMING.
 */
static bool rr_calls_hooks(struct module *mod)
{
	struct module_use *use;

	/* @mod's uses change only while it loads or unloads: not now. */
	list_for_each_entry(use, &mod->target_list, target_list)
		if (use->target == THIS_MODULE)
			return true;
	return false;
}

static int rr_coming(struct module *mod)
{
	struct rr_bounds b;
	struct rr_module *m;
	struct rr_scan s = { .b = &b };
	const struct rerand_table_header *h;
	unsigned int t;
	int ret = 0;
	u64 pos;

	rr_get_bounds(mod, &b);
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->mod = mod;
	m->direct = READ_ONCE(rr_direct);
	m->text_lo = b.text_lo;
	m->text_hi = b.text_hi;
	s.m = m;
	pos = b.ro_lo;
	for (t = 0; !ret && (h = rr_next_table(&b, &pos)); t++)
		ret = rr_count_table(mod, t, h, &s);
	if (!ret && !m->ntables && rr_calls_hooks(mod)) {
		/*
		 * Its trampolines would count in slots nobody filled (the
		 * hooks take every slot as filled), and its bodies would stay
		 * where they were loaded: refused, never run unmanaged.
		 */
		pr_err_ratelimited("refusing %s: it calls rerand's hooks but carries no table of ABI v%u that rerand.ko recognises (relink it with this rerand-ld)\n",
				   mod->name, RERAND_ABI_VERSION);
		ret = -EINVAL;
	}
	if (ret || !m->ntables) {
		kfree(m);
		return ret;
	}
	m->funcs = kvcalloc(m->nfuncs ? m->nfuncs : 1, sizeof(*m->funcs),
			    GFP_KERNEL);
	m->loading = kvcalloc(m->nfuncs ? m->nfuncs : 1, sizeof(*m->loading),
			      GFP_KERNEL);
	if (!m->funcs || !m->loading) {
		kvfree(m->funcs);
		kvfree(m->loading);
		kfree(m);
		return -ENOMEM;
	}
	pos = b.ro_lo;
	for (t = 0; !ret && (h = rr_next_table(&b, &pos)); t++)
		ret = rr_load_table(mod, t, h, &s);
	if (!ret && s.next != m->nfuncs)
		ret = -EINVAL;	/* tables changed under us: impossible */
	if (!ret)
		ret = rr_index_trampolines(m);
	if (!ret)
		ret = rr_sites_claim(m);
	if (!ret)
		ret = rr_vault_seal(m);
	if (!ret)
		ret = rr_guard_image(m);
	if (ret) {
		m->nfuncs = s.next;
		mutex_lock(&rr_lock);	/* the site numbers are shared */
		rr_free_funcs(m);
		mutex_unlock(&rr_lock);
		return ret;
	}

	rr_debugfs_add(m);
	mutex_lock(&rr_lock);
	list_add_tail(&m->node, &rr_modules);
	mutex_unlock(&rr_lock);
	rr_guard_added();
	pr_info("%s: %u tables, %u functions movable, %u excluded%s\n",
		mod->name, m->ntables, m->nfuncs, m->nexcluded,
		m->direct ? "; calls between them direct" : "");
	return 0;
}

/* Nobody inside any body of @m: one fence for all its functions. */
static bool rr_module_quiet(struct rr_module *m)
{
	unsigned int i;

	for (i = 0; i < m->nfuncs; i++)
		m->funcs[i].grace_unlocks[0] = rr_unlocks_all(&m->funcs[i]);
	rr_fence();
	for (i = 0; i < m->nfuncs; i++)
		if (rr_locks_all(&m->funcs[i]) != m->funcs[i].grace_unlocks[0])
			return false;
	return true;
}

/*
 * Frees what @m's functions own but their copies and counters: a thread
 * may still be inside a copy, and it counts on the counters. Live code is
 * leaked rather than freed.
 */
static void rr_leak_module(struct rr_module *m)
{
	pr_err("%s: threads still inside moved bodies: their copies are leaked, not freed\n",
	       m->gone_name);
	rr_vault_free(m);
	kvfree(m->funcs);
	kvfree(m->by_tramp);
	kvfree(m->tramp_image);
	kfree(m);
}

/*
 * Modules gone (MODULE_STATE_GOING done) whose copies a thread may still
 * run: polled once a second by rr_reap_work, freed once quiet. Under
 * rr_lock. A thread that ends inside a body (kthread_complete_and_exit(),
 * module_put_and_kthread_exit()) never leaves it: its module stays here.
 */
static LIST_HEAD(rr_gone);
static void rr_reap_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(rr_reap_work, rr_reap_fn);
static bool rr_reaping = true;	/* rr_lock; false once rerand_exit() runs */

static void rr_reap_fn(struct work_struct *work)
{
	struct rr_module *m, *tmp;

	mutex_lock(&rr_lock);
	list_for_each_entry_safe(m, tmp, &rr_gone, node) {
		if (rr_module_quiet(m)) {
			pr_info("%s: the last thread left its moved bodies after %u s; copies freed\n",
				m->gone_name, ++m->gone_s);
			list_del(&m->node);
			rr_free_funcs(m);
		} else if (++m->gone_s % 600 == 0) {
			pr_warn_ratelimited("%s: threads still inside moved bodies after %u s\n",
					    m->gone_name, m->gone_s);
		}
	}
	if (rr_reaping && !list_empty(&rr_gone))
		queue_delayed_work(system_wq, &rr_reap_work, HZ);
	mutex_unlock(&rr_lock);
}

/* How long the GOING notifier waits for threads to leave @m's bodies. */
#define RR_GOING_WAIT_MS	1000

/*
 * Frees @m's copies once no thread is inside any of its bodies. Called
 * with @m off rr_modules (the mover no longer sees it), from the module
 * notifier, which it holds for at most RR_GOING_WAIT_MS: then it says
 * which functions are still entered and leaves @m to rr_reap_work.
 */
static void rr_drain_and_free(struct rr_module *m)
{
	unsigned int i, ms;

	strscpy(m->gone_name, m->mod->name, sizeof(m->gone_name));
	for (ms = 0; ms < RR_GOING_WAIT_MS; ms += 20) {
		if (rr_module_quiet(m)) {
			/* Arenas with dropped copies are on the mover's list. */
			mutex_lock(&rr_lock);
			rr_free_funcs(m);
			mutex_unlock(&rr_lock);
			return;
		}
		msleep(20);
	}
	/* @m's text is still there: the names resolve. */
	for (i = 0; i < m->nfuncs; i++)
		if (!rr_all_quiet(&m->funcs[i]))
			pr_warn("%s: %ps: a thread entered it and has not returned (one that exits inside it never will); its copies are freed when it does\n",
				m->gone_name,
				(void *)(unsigned long)m->funcs[i].fx->rec->trampoline);
	mutex_lock(&rr_lock);
	if (rr_reaping) {
		list_add_tail(&m->node, &rr_gone);
		queue_delayed_work(system_wq, &rr_reap_work, HZ);
		m = NULL;
	}
	mutex_unlock(&rr_lock);
	if (m)
		rr_leak_module(m);
}

static void rr_going(struct module *mod)
{
	struct rr_module *m = NULL, *it;

	mutex_lock(&rr_lock);
	list_for_each_entry(it, &rr_modules, node) {
		if (it->mod == mod) {
			m = it;
			break;
		}
	}
	mutex_unlock(&rr_lock);
	if (!m)
		return;
	/* Outside rr_lock: a reader of the file may be waiting for it. */
	rr_debugfs_remove(m);
	mutex_lock(&rr_lock);
	rr_guard_forget(m);
	list_del(&m->node);
	mutex_unlock(&rr_lock);
	rr_sites_forget(m);	/* its __bug_table goes with it */
	rr_drain_and_free(m);
}

static int rr_module_notify(struct notifier_block *nb, unsigned long action,
			    void *data)
{
	struct module *mod = data;

	switch (action) {
	case MODULE_STATE_COMING:
		/*
		 * Relocations, alternatives and ftrace init are done and the
		 * text is RO+X; no code of @mod has run yet.
		 */
		return notifier_from_errno(rr_coming(mod));
	case MODULE_STATE_GOING:
		/* After @mod's exit (or a failed init or COMING). */
		rr_going(mod);
		break;
	}
	return NOTIFY_OK;
}

static struct notifier_block rr_module_nb = {
	.notifier_call = rr_module_notify,
};

static int __init rerand_init(void)
{
	int ret = rr_ksyms_init();

	if (ret)
		return ret;
	/* Before the notifier: a module's load checks what it registered. */
	rr_sites_init();
	rr_debugfs_init();
	ret = register_module_notifier(&rr_module_nb);
	if (ret) {
		rr_debugfs_exit();
		rr_sites_exit();
		return ret;
	}
	rr_poison_init();
	rr_hooks_init();
	rr_mover_start();
	rr_guard_init();
	rr_seal_config();
	pr_info("ready (ABI v%d, period %u ms, module region %s%s)\n",
		RERAND_ABI_VERSION, rr_period_ms,
		rr_ksyms.module_alloc_base ? "found" : "unknown",
		rr_sealed ? ", sealed" : "");
	return 0;
}

static void __exit rerand_exit(void)
{
	struct rr_module *m, *tmp;
	LIST_HEAD(gone);

	unregister_module_notifier(&rr_module_nb);
	rr_mover_stop();
	rr_guard_exit();
	mutex_lock(&rr_lock);
	rr_reaping = false;
	mutex_unlock(&rr_lock);
	cancel_delayed_work_sync(&rr_reap_work);
	/* Dependent modules hold references on us: normally empty. */
	mutex_lock(&rr_lock);
	list_splice_init(&rr_modules, &gone);
	mutex_unlock(&rr_lock);
	list_for_each_entry_safe(m, tmp, &gone, node) {
		list_del(&m->node);
		rr_debugfs_remove(m);
		rr_drain_and_free(m);
	}
	/* Gone modules whose copies are still entered: the last look. */
	list_for_each_entry_safe(m, tmp, &rr_gone, node) {
		list_del(&m->node);
		mutex_lock(&rr_lock);
		if (rr_module_quiet(m))
			rr_free_funcs(m);
		else
			rr_leak_module(m);
		mutex_unlock(&rr_lock);
	}
	rr_sites_exit();
	mutex_lock(&rr_lock);
	rr_free_retired(true);
	rr_exec_exit();		/* the page sets no arena holds */
	mutex_unlock(&rr_lock);
	rr_poison_exit();
	rr_debugfs_exit();
}

module_init(rerand_init);
module_exit(rerand_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand runtime: continuous rerandomization of module function bodies");
