// SPDX-License-Identifier: GPL-2.0
/*
 * The mover: every period_ms, under rr_lock, for every function
 *   - advance its grace period (RR_WAIT_INACTIVE -> flip -> RR_WAIT_OLD ->
 *     free the old body -> RR_IDLE), polling, never blocking on callers;
 *   - if it is RR_IDLE: build a copy at a random address from the pristine
 *     snapshot, make it RO+X, and (batched for all functions) synchronise
 *     every CPU, retarget the trampoline's `bl`, synchronise again.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cacheflush.h>
#include <linux/cpu.h>
#include <linux/ktime.h>
#include <linux/random.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/memory.h>
#include <asm/pgtable.h>
#include "rerand.h"
#include "reloc.h"

static void rr_tick(struct work_struct *work);
static DECLARE_DELAYED_WORK(rr_work, rr_tick);
static bool rr_running;		/* under rr_lock */

/* How many random places to try before taking any free one. */
#define RR_ALLOC_TRIES 8

/* Keeps every copy within reach of its trampoline's `bl` (+-128 MB). */
#define RR_BL_REACH (SZ_128M - SZ_2M)

static void rr_queue(void)
{
	lockdep_assert_held(&rr_lock);
	if (rr_running)
		queue_delayed_work(system_unbound_wq, &rr_work,
				   msecs_to_jiffies(READ_ONCE(rr_period_ms)));
}

void rr_mover_start(void)
{
	mutex_lock(&rr_lock);
	rr_running = true;
	rr_queue();
	mutex_unlock(&rr_lock);
}

void rr_mover_stop(void)
{
	mutex_lock(&rr_lock);
	rr_running = false;
	mutex_unlock(&rr_lock);
	cancel_delayed_work_sync(&rr_work);
}

/* period_ms changed: the next tick comes one new period from now. */
void rr_mover_reschedule(void)
{
	mutex_lock(&rr_lock);
	if (rr_running)
		mod_delayed_work(system_unbound_wq, &rr_work,
				 msecs_to_jiffies(READ_ONCE(rr_period_ms)));
	mutex_unlock(&rr_lock);
}

/* Drops @c; its arena goes with the last copy in it. Under rr_lock. */
void rr_free_copy(struct rr_copy *c)
{
	struct rr_arena *arena = c->arena;

	memset(c, 0, sizeof(*c));
	if (!arena || --arena->users)
		return;
	/* Process context: VM_FLUSH_RESET_PERMS makes vfree() sleep. */
	vfree(arena->area);
	kfree(arena);
}

/*
 * Where copies of @m's bodies may go: the module region
 * [module_alloc_base, + MODULES_VSIZE), cut to the reach of @m's `bl`s. If
 * module_alloc_base is unknown or @m lives in the 2 GB fallback window,
 * the part of the module/vmalloc area within reach.
 */
void rr_region(const struct rr_module *m, unsigned long *lo,
	       unsigned long *hi)
{
	unsigned long reach_lo = m->text_hi - RR_BL_REACH;
	unsigned long reach_hi = m->text_lo + RR_BL_REACH;
	unsigned long base = rr_ksyms.module_alloc_base;

	if (base) {
		*lo = max(base, reach_lo);
		*hi = min(base + MODULES_VSIZE, reach_hi);
		if (*lo < *hi)
			return;
	}
	*lo = max_t(unsigned long, reach_lo, MODULES_VADDR);
	*hi = min_t(unsigned long, reach_hi, VMALLOC_END);
}

static void *rr_vmalloc_at(unsigned long size, unsigned long start,
			   unsigned long end)
{
	return rr_ksyms.vmalloc_node_range(size, PAGE_SIZE, start, end,
					   GFP_KERNEL | __GFP_NOWARN,
					   PAGE_KERNEL, VM_FLUSH_RESET_PERMS,
					   NUMA_NO_NODE,
					   __builtin_return_address(0));
}

/*
 * Pages at a random page of the region, followed by a guard page; NULL if
 * the region has no room.
 */
static void *rr_alloc_at_random(struct rr_module *m, unsigned long size)
{
	unsigned long lo, hi, pages, start;
	void *p = NULL;
	int i;

	rr_region(m, &lo, &hi);
	if (hi <= lo || hi - lo < size + 2 * PAGE_SIZE)
		return NULL;
	/* The area's guard page follows it: [start, start + size + 1 page). */
	pages = (hi - lo - size - PAGE_SIZE) >> PAGE_SHIFT;
	for (i = 0; i < RR_ALLOC_TRIES && !p; i++) {
		start = lo + ((get_random_long() % pages) << PAGE_SHIFT);
		p = rr_vmalloc_at(size, start, start + size + PAGE_SIZE);
	}
	if (!p)
		p = rr_vmalloc_at(size, lo, hi);
	return p;
}

/* Largest random gap before a body in an arena, in bytes. */
#define RR_ARENA_GAP	256

static void rr_skipped(struct rr_module *m, struct rr_func *f, int err)
{
	f->skipped++;
	m->skipped++;
	pr_debug("%s: %ps: move skipped (%d)\n", m->mod->name,
		 (void *)(unsigned long)f->rec->trampoline, err);
}

/*
 * Builds f->next for every idle function of @m: copies ready to run, not
 * yet called by anybody. They share one arena: one allocation at a random
 * page of the region, the bodies in random order with random gaps, at
 * their alignment (at least 16 so veneers stay 8-aligned), then made
 * read-only and executable once. Returns the number of copies built.
 *
 * One arena per module and period, rather than an allocation per copy,
 * because allocating, protecting and freeing executable pages dominate the
 * cost of a move (bench/REPORT.md, section 3). The price: copies built in
 * the same period are within one arena, so a leaked body address narrows
 * where its siblings are to that arena until they move again.
 */
static unsigned int rr_prepare_module(struct rr_module *m)
{
	struct { u32 func, off; } *order;	/* placement, in arena order */
	unsigned int i, j, n = 0, built = 0, npages;
	struct rr_arena *arena;
	unsigned long end, size;
	u32 bad;
	long len;

	order = kmalloc_array(m->nfuncs, sizeof(*order), GFP_KERNEL);
	if (!order)
		return 0;
	for (i = 0; i < m->nfuncs; i++)
		if (m->funcs[i].state == RR_IDLE)
			order[n++].func = i;
	/* Random order (Fisher-Yates), random gaps. */
	for (i = n; i > 1; i--) {
		j = get_random_u32() % i;
		swap(order[i - 1], order[j]);
	}
	/*
	 * The first body starts anywhere in the first page, so that its offset
	 * within a page is as random as every other body's.
	 */
	end = get_random_u32() % PAGE_SIZE;
	for (i = 0; i < n; i++) {
		struct rr_func *f = &m->funcs[order[i].func];
		unsigned long a = max_t(unsigned long, f->rec->align, 16);

		end = ALIGN(end + get_random_u32() % RR_ARENA_GAP, a);
		order[i].off = end;
		end += f->max_size;
	}
	size = PAGE_ALIGN(end);
	arena = n ? kzalloc(sizeof(*arena), GFP_KERNEL) : NULL;
	if (arena)
		arena->area = rr_alloc_at_random(m, size);
	if (!arena || !arena->area) {
		kfree(arena);
		for (i = 0; i < n; i++)
			rr_skipped(m, &m->funcs[order[i].func], -ENOMEM);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct rr_func *f = &m->funcs[order[i].func];
		const struct rerand_func *r = f->rec;
		unsigned long body = (unsigned long)arena->area + order[i].off;

		f->next_bl = rerand_encode_bl(r->trampoline + r->call_offset,
					      body);
		if (!f->next_bl) {
			rr_skipped(m, f, -ERANGE);
			continue;
		}
		/* Only from the pristine snapshot: never from live text. */
		len = rerand_build_copy((u8 *)body, f->max_size, body,
					f->pristine, r->size, f->relocs,
					r->nrelocs, &bad);
		if (len < 0) {
			pr_warn_ratelimited("%s: %ps: relocation %u failed at %p (%ld)\n",
					    m->mod->name, (void *)r->trampoline,
					    bad, (void *)body, len);
			rr_skipped(m, f, -EINVAL);
			continue;
		}
		f->next.arena = arena;
		f->next.body = body;
		arena->users++;
		built++;
	}
	/* Data cache to PoU, instruction cache invalidated (broadcast). */
	caches_clean_inval_pou((unsigned long)arena->area,
			       (unsigned long)arena->area + end);
	npages = size >> PAGE_SHIFT;
	if (!built || rr_ksyms.set_memory_ro((unsigned long)arena->area, npages) ||
	    rr_ksyms.set_memory_x((unsigned long)arena->area, npages)) {
		for (i = 0; i < n; i++) {
			struct rr_func *f = &m->funcs[order[i].func];

			if (f->next.arena) {
				memset(&f->next, 0, sizeof(f->next));
				rr_skipped(m, f, -EPERM);
			}
		}
		/* Process context: VM_FLUSH_RESET_PERMS makes vfree() sleep. */
		vfree(arena->area);
		kfree(arena);
		built = 0;
	}
out:
	kfree(order);
	return built;
}

static void rr_skip(struct rr_module *m, struct rr_func *f, const char *why)
{
	pr_warn_ratelimited("%s: %ps: %s\n", m->mod->name,
			    (void *)(unsigned long)f->rec->trampoline, why);
	rr_free_copy(&f->next);
	f->skipped++;
	m->skipped++;
}

/* The trampoline now calls f->next: make it current, start its grace period. */
static void rr_published(struct rr_module *m, struct rr_func *f)
{
	f->old = f->cur;
	f->cur = f->next;
	memset(&f->next, 0, sizeof(f->next));
	/* Only the mover writes the epoch, under rr_lock. */
	f->old_idx = f->slot->epoch & 1;
	f->state = RR_WAIT_INACTIVE;
	f->waited = 0;
	f->moves++;
	m->moves++;
}

static void *rr_call_word(const struct rr_func *f)
{
	return (void *)(unsigned long)(f->rec->trampoline + f->rec->call_offset);
}

/* Trampolines retargeted under one stop_machine(). */
#define RR_PATCH_BATCH 64

struct rr_batch {
	unsigned int n;
	struct rr_module *mod[RR_PATCH_BATCH];
	struct rr_func *func[RR_PATCH_BATCH];
	void *addr[RR_PATCH_BATCH];
	u32 insn[RR_PATCH_BATCH];
};

/*
 * One stop_machine() for the whole batch: every other CPU waits in the
 * stopper, then executes an isb(). On error the patcher stops at the first
 * failing word, so each word is read back to see which landed.
 */
static void rr_patch_batch(struct rr_batch *b)
{
	unsigned int i;
	int ret;

	if (!b->n)
		return;
	cpus_read_lock();
	ret = rr_ksyms.patch_text(b->addr, b->insn, b->n);
	cpus_read_unlock();
	for (i = 0; i < b->n; i++) {
		if (!ret || le32_to_cpu(*(__le32 *)b->addr[i]) == b->insn[i])
			rr_published(b->mod[i], b->func[i]);
		else
			rr_skip(b->mod[i], b->func[i], "patching the trampoline failed");
	}
	b->n = 0;
}

/*
 * Retargets every trampoline whose f->next is ready, the copies having
 * been written and their caches cleaned.
 *
 * Every CPU must context-synchronise after the copies were written and
 * before it can branch to one, and again after the retargeting before the
 * mover may assume that no CPU can start executing an old body (a caller
 * still headed there has already counted itself in add_pause_list()).
 * With stop_machine() both come with the patching: every other CPU enters
 * the stopper (IPI, context switch) and leaves it with an isb() after the
 * writes (aarch64_insn_patch_text_cb()). With single-word stores, two
 * kick_all_cpus_sync() provide them.
 */
static void rr_publish_all(void)
{
	struct rr_batch *b = NULL;
	struct rr_module *m;
	struct rr_func *f;
	unsigned int i;

	if (READ_ONCE(rr_stop_machine))
		b = kmalloc(sizeof(*b), GFP_KERNEL);
	if (b)
		b->n = 0;
	else
		kick_all_cpus_sync();
	list_for_each_entry(m, &rr_modules, node) {
		for (i = 0; i < m->nfuncs; i++) {
			f = &m->funcs[i];
			if (!f->next.arena)
				continue;
			if (b) {
				b->mod[b->n] = m;
				b->func[b->n] = f;
				b->addr[b->n] = rr_call_word(f);
				b->insn[b->n] = f->next_bl;
				if (++b->n == RR_PATCH_BATCH)
					rr_patch_batch(b);
				continue;
			}
			/* One aligned BL -> BL store, allowed while CPUs run it. */
			if (rr_ksyms.patch_text_nosync(rr_call_word(f), f->next_bl))
				rr_skip(m, f, "patching the trampoline failed");
			else
				rr_published(m, f);
		}
	}
	if (b) {
		rr_patch_batch(b);
		kfree(b);
	} else {
		kick_all_cpus_sync();
	}
}

/* One polling step of @f's grace period. */
static void rr_advance(struct rr_module *m, struct rr_func *f)
{
	switch (f->state) {
	case RR_IDLE:
		return;
	case RR_WAIT_INACTIVE:
		/* Stragglers of the previous epoch. */
		if (!rr_idx_quiet(f, f->old_idx ^ 1))
			break;
		/* New callers count on the other index from now on. */
		rr_flip_epoch(f);
		f->state = RR_WAIT_OLD;
		fallthrough;
	case RR_WAIT_OLD:
		if (!rr_idx_quiet(f, f->old_idx))
			break;
		rr_free_copy(&f->old);
		if (f->pinned)
			pr_info_ratelimited("%s: %ps drained after %u periods\n",
					    m->mod->name,
					    (void *)(unsigned long)f->rec->trampoline,
					    f->waited);
		f->pinned = false;
		f->waited = 0;
		f->state = RR_IDLE;
		return;
	}
	if (++f->waited == READ_ONCE(rr_pin_after)) {
		/* Not moved again until the old body drains: no leak. */
		f->pinned = true;
		pr_warn_ratelimited("%s: %ps: old body still in use after %u periods: pinned until it drains\n",
				    m->mod->name,
				    (void *)(unsigned long)f->rec->trampoline,
				    f->waited);
	}
}

/* Where the mover's time goes (debugfs "mover"), under rr_lock. */
struct rr_profile rr_profile;

static void rr_tick(struct work_struct *work)
{
	bool moving = !READ_ONCE(rr_paused);
	struct rr_module *m;
	unsigned int i, built = 0;
	u64 t0, t1, t2, t3;

	mutex_lock(&rr_lock);
	t0 = ktime_get_ns();
	/* Grace periods first (they free old copies), then the new copies. */
	list_for_each_entry(m, &rr_modules, node)
		for (i = 0; i < m->nfuncs; i++)
			rr_advance(m, &m->funcs[i]);
	t1 = ktime_get_ns();
	if (moving)
		list_for_each_entry(m, &rr_modules, node)
			built += rr_prepare_module(m);
	t2 = ktime_get_ns();
	/*
	 * The guard's integrity check, as late as possible before the
	 * trampolines are written (guard.c): a store that lands between
	 * the check and the retargeting of its `bl` is undone unseen.
	 */
	rr_guard_check();
	t3 = ktime_get_ns();
	rr_profile.ticks++;
	rr_profile.built += built;
	rr_profile.ns_advance += t1 - t0;
	rr_profile.ns_prepare += t2 - t1;
	rr_profile.ns_guard += t3 - t2;
	if (built) {
		rr_publish_all();
		rr_profile.ns_publish += ktime_get_ns() - t3;
	}
	rr_queue();
	mutex_unlock(&rr_lock);
}

const char *rr_state_name(const struct rr_func *f)
{
	if (f->pinned)
		return "pinned";
	switch (f->state) {
	case RR_IDLE:
		return "idle";
	case RR_WAIT_INACTIVE:
		return "wait-inactive";
	case RR_WAIT_OLD:
		return "wait-old";
	}
	return "?";
}
