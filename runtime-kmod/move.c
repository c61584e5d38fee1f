// SPDX-License-Identifier: GPL-2.0
/*
 * The mover: every period_ms, under rr_lock, for every function
 *   - check its ended eras for callers left (one fenced round for all
 *     functions, polling, never blocking on callers); free the old copies
 *     of the eras found quiet;
 *   - if one of its RR_ERAS eras is free: build a copy at a random address
 *     from the pristine snapshot, make it RO+X, and (batched for all
 *     functions) synchronise every CPU, retarget the trampoline's `bl`,
 *     synchronise again, then begin a new era.
 *
 * Eras. Callers count in the era current when they enter, and run a body
 * the `bl` named during that era (hooks.S): the copy current when it began,
 * or the one published at its end. So an old copy is kept while an era
 * that may run it is open (struct rr_old), and a caller that sleeps in a
 * body keeps one era and two copies, no more: the function moves on in the
 * other eras (docs/DESIGN.md, "Sleepers").
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cacheflush.h>
#include <linux/cpu.h>
#include <linux/hrtimer.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/random.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/stop_machine.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/debug-monitors.h>
#include <asm/memory.h>
#include <asm/pgtable.h>
#include <asm/tlbflush.h>
#include <asm/unaligned.h>
#include "rerand.h"
#include "reloc.h"
#include "writers.h"

/*
 * The period is kept by an hrtimer that queues the mover's work: a
 * delayed work item waits for whole jiffies (4 ms at HZ=250), so that
 * period_ms=1 meant 4 ms, and a body stayed executable for several of
 * them (the exposure window, debugfs "windows").
 */
static void rr_tick(struct work_struct *work);
static DECLARE_WORK(rr_work, rr_tick);
static struct hrtimer rr_timer;
static bool rr_running;		/* under rr_lock */

/* Where the mover's time goes (debugfs "mover"), under rr_lock. */
struct rr_profile rr_profile;
struct rr_windows rr_windows;

static void rr_window_add(u64 ns)
{
	u64 bucket = div_u64(ns, RR_WIN_BUCKET_US * NSEC_PER_USEC);

	rr_windows.n++;
	rr_windows.sum_ns += ns;
	rr_windows.max_ns = max(rr_windows.max_ns, ns);
	rr_windows.hist[min_t(u64, bucket, RR_WIN_BUCKETS - 1)]++;
}

/* Keeps every copy within reach of its trampoline's `bl` (+-128 MB). */
#define RR_BL_REACH (SZ_128M - SZ_2M)

/* Hard-irq context: only queues the work, which does everything. */
static enum hrtimer_restart rr_timer_fn(struct hrtimer *t)
{
	queue_work(system_unbound_wq, &rr_work);
	return HRTIMER_NORESTART;
}

/* The next tick, one period from now. */
static void rr_arm(unsigned int period_ms)
{
	lockdep_assert_held(&rr_lock);
	if (rr_running)
		hrtimer_start(&rr_timer, ms_to_ktime(period_ms),
			      HRTIMER_MODE_REL);
}

static void rr_queue(void)
{
	rr_arm(rr_sealed_uint(&rr_period_ms));
}

void rr_mover_start(void)
{
	hrtimer_init(&rr_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	rr_timer.function = rr_timer_fn;
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
	/* Nothing re-arms it now: rr_arm() checks rr_running under rr_lock. */
	hrtimer_cancel(&rr_timer);
	cancel_work_sync(&rr_work);
}

/* period_ms changed: the next tick comes one new period from now. */
void rr_mover_reschedule(void)
{
	mutex_lock(&rr_lock);
	rr_arm(READ_ONCE(rr_period_ms));
	mutex_unlock(&rr_lock);
}

/*
 * Arenas with copies dropped this period while other copies in them still
 * run: rr_poison_dropped() makes those copies traps before the period
 * ends, rather than leaving them executable until the arena empties.
 */
static LIST_HEAD(rr_arenas_dropped);

/*
 * A direct arena's copies go with it (rr_link_direct()): their windows
 * end when its last copy is dropped.
 */
static void rr_direct_windows(const struct rr_arena *arena, u64 now)
{
	unsigned int k;

	for (k = 0; k < arena->ndropped; k++)
		if (arena->dropped[k].published_ns)
			rr_window_add(now - arena->dropped[k].published_ns);
}

/*
 * Drops @c at @now (its exposure window ends); returns its arena if @c was
 * the last copy in it.
 */
static __always_inline struct rr_arena *rr_drop_copy(struct rr_copy *c,
						     u64 now)
{
	struct rr_arena *arena = c->arena;
	unsigned long body = c->body, size = c->size;
	u64 published_ns = c->published_ns;
	bool leak = c->leak;

	memset(c, 0, sizeof(*c));
	/* A leaked copy keeps its arena (and its siblings) for good. */
	if (!arena || leak)
		return NULL;
	if (unlikely(arena->direct)) {
		/* Its siblings may still call it: executable until they go. */
		arena->dropped[arena->ndropped++] = (struct rr_dropped){
			.body = body, .size = size,
			.published_ns = published_ns,
		};
		if (--arena->users)
			return NULL;
		rr_direct_windows(arena, now);
		return arena;
	}
	if (published_ns)
		rr_window_add(now - published_ns);
	if (!--arena->users)
		return arena;
	arena->dropped[arena->ndropped].body = body;
	arena->dropped[arena->ndropped].size = size;
	if (!arena->ndropped++)
		list_add_tail(&arena->dropped_node, &rr_arenas_dropped);
	return NULL;
}

/*
 * Every arena whose copies may run, for rr_copy_of(): added under rr_lock
 * once its copies are built and executable, before any is published;
 * removed under rr_lock with its last copy, and freed a grace period
 * later (rr_arenas_retired), so a reader never sees it freed.
 */
static LIST_HEAD(rr_arenas_live);
static LIST_HEAD(rr_arenas_retired);	/* rr_lock; on their retired_node */

/*
 * The copy holding @addr, from any context (a kprobe or break handler, a
 * fault), or NULL. Under rcu_read_lock(), which must cover the use of what
 * it returns. A copy dropped in an arena that lives on is still found (it
 * is traps by then: nothing executes it).
 */
const struct rr_placed *notrace rr_copy_of(unsigned long addr)
{
	const struct rr_arena *a;
	unsigned int lo, hi, mid;

	list_for_each_entry_rcu(a, &rr_arenas_live, live_node) {
		if (addr - (unsigned long)a->area >= a->size)
			continue;
		/* The last copy starting at or below @addr. */
		lo = 0;
		hi = a->nplaced;
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (a->placed[mid].body <= addr)
				lo = mid;
			else
				hi = mid;
		}
		if (!a->nplaced || a->placed[lo].body > addr ||
		    addr - a->placed[lo].body >= a->placed[lo].room)
			return NULL;
		return &a->placed[lo];
	}
	return NULL;
}

NOKPROBE_SYMBOL(rr_copy_of);

/*
 * Calls @fn for every copy of the body holding @orig (an address in an
 * original body), with @orig's offset in it. Under rcu_read_lock().
 */
void notrace rr_copies_of(unsigned long orig,
			  void (*fn)(const struct rr_placed *c,
				     unsigned long off, void *arg),
			  void *arg)
{
	const struct rr_arena *a;
	unsigned int i;

	list_for_each_entry_rcu(a, &rr_arenas_live, live_node)
		for (i = 0; i < a->nplaced; i++)
			if (orig - a->placed[i].orig < a->placed[i].size)
				fn(&a->placed[i], orig - a->placed[i].orig, arg);
}

NOKPROBE_SYMBOL(rr_copies_of);

static void rr_destroy_arena(struct rr_arena *arena)
{
	rr_exec_release(&arena->exec);
	kfree(arena->dropped);
	kfree(arena);
}

static void rr_free_arena(struct rr_arena *arena)
{
	if (arena->ndropped && !arena->direct)
		list_del(&arena->dropped_node);
	list_del_rcu(&arena->live_node);
	/*
	 * start_, not get_state_: a grace period nobody asked for may not
	 * begin for a long time, and every arena waiting on it stays mapped
	 * (under dd at period_ms=1, hundreds of them).
	 */
	arena->gp_cookie = start_poll_synchronize_rcu();
	list_add_tail(&arena->retired_node, &rr_arenas_retired);
}

/*
 * Frees the retired arenas whose grace period has ended (every period;
 * never blocks), or, with @all, every one after waiting for it (a module
 * or the runtime going). Under rr_lock.
 */
void rr_free_retired(bool all)
{
	struct rr_arena *arena, *tmp;

	if (all && !list_empty(&rr_arenas_retired))
		synchronize_rcu();
	list_for_each_entry_safe(arena, tmp, &rr_arenas_retired, retired_node) {
		if (!all && !poll_state_synchronize_rcu(arena->gp_cookie))
			break;	/* in order: later ones are not due either */
		list_del(&arena->retired_node);
		rr_destroy_arena(arena);
	}
}

/*
 * Drops @c; its arena goes with the last copy in it. Under rr_lock, or
 * for a module no longer on rr_modules.
 */
void rr_free_copy(struct rr_copy *c)
{
	struct rr_arena *arena = rr_drop_copy(c, ktime_get_ns());

	if (arena)
		rr_free_arena(arena);
}

/*
 * Every period, after the grace periods: the copies dropped from arenas
 * that live on become traps, through one writable alias per arena. Nobody
 * runs them any more (their grace period ended), so no CPU is stopped.
 */
static void rr_poison_dropped(void)
{
	struct rr_arena *arena, *tmp;
	unsigned long base;
	unsigned int k;
	u8 *map;

	list_for_each_entry_safe(arena, tmp, &rr_arenas_dropped, dropped_node) {
		base = (unsigned long)arena->area;
		map = rr_exec_alias(&arena->exec, false);
		if (!map) {
			pr_warn_ratelimited("no memory to poison dropped copies\n");
			continue;	/* tried again next period */
		}
		for (k = 0; k < arena->ndropped; k++)
			memset32((u32 *)(map + arena->dropped[k].body - base),
				 RR_POISON_INSN, arena->dropped[k].size / 4);
		rr_exec_unalias(&arena->exec, map);
		for (k = 0; k < arena->ndropped; k++)
			caches_clean_inval_pou(arena->dropped[k].body,
					       arena->dropped[k].body +
					       arena->dropped[k].size);
		arena->ndropped = 0;
		list_del(&arena->dropped_node);
	}
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

/* A free era for @f's next move (the one after the current first), or -1. */
static int rr_free_era(const struct rr_func *f)
{
	unsigned int k, idx;

	for (k = 1; k < RR_ERAS; k++) {
		idx = (rr_era(f) + k) % RR_ERAS;
		if (!(f->eras_open & BIT(idx)))
			return idx;
	}
	return -1;
}

static struct rr_old *rr_free_old(struct rr_func *f)
{
	unsigned int k;

	for (k = 0; k < RR_OLDS; k++)
		if (!f->old[k].copy.body)
			return &f->old[k];
	return NULL;
}

/* Old copies of @f not yet freed (debugfs: pending, old_copies=). */
unsigned int rr_old_copies(const struct rr_func *f)
{
	unsigned int k, n = 0;

	for (k = 0; k < RR_OLDS; k++)
		n += !!f->old[k].copy.body;
	return n;
}

/* Every old copy of @f goes: its module is gone, or never ran (main.c). */
void rr_free_olds(struct rr_func *f)
{
	unsigned int k;

	for (k = 0; k < RR_OLDS; k++) {
		struct rr_copy *c = &f->old[k].copy;

		f->old[k].eras = 0;
		/* Empty (a module refused before its records were read, too). */
		if (!c->body && !c->arena)
			continue;
		/* Not where a forged pointer says (rr_copy_sane()). */
		if (rr_copy_sane(f->fx->rec->body, c))
			rr_free_copy(c);
		else
			pr_err_ratelimited("%ps: old body %#lx is none of its copies: kept\n",
					   (void *)(unsigned long)f->fx->rec->trampoline,
					   c->body);
	}
}

/*
 * @f may get a new copy this period: not left alone, and an era and an
 * old-copy entry are free for the move (they are not when sleeping callers
 * hold every era: then it is pinned until one of them leaves).
 */
static bool rr_can_move(struct rr_module *m, struct rr_func *f)
{
	bool pinned;

	f->held_periods += f->held;
	if (f->held || f->suspect)
		return false;
	pinned = rr_free_era(f) < 0 || !rr_free_old(f);
	if (pinned && !f->pinned)
		pr_warn_ratelimited("%s: %ps: callers left in every era (eras=%#x): not moved until one drains\n",
				    m->mod->name,
				    (void *)(unsigned long)f->fx->rec->trampoline,
				    f->eras_open);
	f->pinned = pinned;
	return !pinned;
}

/* Largest random gap before a body in an arena, in bytes. */
#define RR_ARENA_GAP	256

static void rr_skipped(struct rr_module *m, struct rr_func *f, int err)
{
	f->skipped++;
	m->skipped++;
	pr_debug("%s: %ps: move skipped (%d)\n", m->mod->name,
		 (void *)(unsigned long)f->fx->rec->trampoline, err);
}

/*
 * Direct mode, once @arena's copies are built and before they can run:
 * each copy's calls and tail calls to the trampoline of a function copied
 * into the same arena now go straight to that copy, so that only entries
 * from outside the module pay for a trampoline. A thread that entered
 * the arena through a trampoline stays in it until it returns there
 * (function pointers still name trampolines); the copy it entered is
 * kept for its era, and the arena with it, since rr_drop_copy() frees a
 * direct arena only with its last copy and never makes a dropped one
 * traps. The pristine snapshots are untouched: a copy built later for a
 * function not moved this period calls through trampolines again. @map:
 * the arena, still writable there.
 */
static void rr_link_direct(struct rr_module *m, struct rr_arena *arena,
			   u8 *map)
{
	const struct rerand_reloc *rel;
	struct rr_func *f, *g;
	unsigned long place;
	unsigned int i, k;
	u32 insn;

	for (i = 0; i < m->nfuncs; i++) {
		f = &m->funcs[i];
		if (f->next.arena != arena)
			continue;
		rel = f->fx->hot;
		for (k = 0; k < f->fx->nhot; k++) {
			if (!f->fx->hot_callee[k])
				continue;
			g = &m->funcs[f->fx->hot_callee[k] - 1];
			if (g->next.arena != arena)
				continue;
			place = f->next.body + rel[k].offset;
			insn = rel[k].type == RERAND_R_CALL26 ?
				rerand_encode_bl(place, g->next.body) :
				rerand_encode_b(place, g->next.body);
			if (!insn)
				continue;	/* beyond reach: the trampoline stays */
			*(__le32 *)(map + (place - (unsigned long)arena->area)) =
				cpu_to_le32(insn);
			m->direct_calls++;
		}
	}
}

/*
 * Builds f->next for every function of @m that may move: copies ready to run, not
 * yet called by anybody. They share one arena at a random page of the
 * region, the bodies in random order with random gaps, at their alignment
 * (at least 16 so veneers stay 8-aligned), written through a temporary
 * writable mapping, then mapped read-only and executable once
 * (execmem.c). Returns the number of copies built.
 *
 * One arena per module and period, rather than one per copy, because
 * mapping, protecting and unmapping executable pages dominate the cost of
 * a move (bench/REPORT.md, section 3). The price: copies built in
 * the same period are within one arena, so a leaked body address narrows
 * where its siblings are to that arena until they move again.
 */
static unsigned int rr_prepare_module(struct rr_module *m)
{
	struct { u32 func, off; } *order;	/* placement, in arena order */
	unsigned int i, j, n = 0, built = 0;
	unsigned long end, size, lo, hi;
	struct rr_arena *arena;
	u64 t0, t1, t2;
	u32 bad;
	u8 *rnd;
	long len;
	int err;
	u8 *map;

	/*
	 * Three random bytes per body, drawn at once (ChaCha20 output is
	 * most of the cost of placing): 16 bits pick its place in the order
	 * (the multiply-shift below is within i/65536 of uniform), 8 the gap
	 * before it.
	 */
	BUILD_BUG_ON(RR_ARENA_GAP != 1 << 8);
	order = kmalloc_array(m->nfuncs, sizeof(*order) + 3, GFP_KERNEL);
	if (!order)
		return 0;
	rnd = (u8 *)(order + m->nfuncs);
	for (i = 0; i < m->nfuncs; i++)
		if (rr_can_move(m, &m->funcs[i]))
			order[n++].func = i;
	get_random_bytes(rnd, n * 3);
	/* Random order (Fisher-Yates), random gaps. */
	for (i = n; i > 1; i--) {
		j = (get_unaligned_le16(rnd + 3 * (i - 1)) * i) >> 16;
		swap(order[i - 1], order[j]);
	}
	/*
	 * The first body starts anywhere in the first page, so that its offset
	 * within a page is as random as every other body's.
	 */
	end = get_random_u32() % PAGE_SIZE;
	for (i = 0; i < n; i++) {
		struct rr_func *f = &m->funcs[order[i].func];
		unsigned long a = max_t(unsigned long, f->fx->rec->align, 16);

		end = ALIGN(end + rnd[3 * i + 2], a);
		order[i].off = end;
		end += f->fx->max_size;
	}
	size = PAGE_ALIGN(end);
	t0 = ktime_get_ns();
	arena = n ? kzalloc(sizeof(*arena), GFP_KERNEL) : NULL;
	if (arena) {
		arena->dropped = kmalloc_array(n, sizeof(*arena->dropped) +
					       sizeof(*arena->placed),
					       GFP_KERNEL);
		arena->placed = (struct rr_placed *)(arena->dropped + n);
		rr_region(m, &lo, &hi);
		arena->area = arena->dropped ?
			rr_exec_reserve(&arena->exec, size, lo, hi) : NULL;
		arena->size = size;
		arena->direct = m->direct;
	}
	/*
	 * Where no copy goes is a trap once the arena is executable, not
	 * whatever the pages held before: the writable mapping comes zeroed,
	 * and 0 is `udf #0`, permanently undefined (zeroing costs a sixteenth
	 * of the stores a BRK pattern would). Dropped copies become BRKs
	 * (rr_poison_dropped()), which the runtime names when one is hit.
	 */
	map = arena && arena->area ? rr_exec_alias(&arena->exec, true) : NULL;
	if (!map) {
		if (arena)
			rr_destroy_arena(arena);	/* never on rr_arenas_live */
		for (i = 0; i < n; i++)
			rr_skipped(m, &m->funcs[order[i].func], -ENOMEM);
		goto out;
	}
	t1 = ktime_get_ns();
	/* No static-key toggle from reading a key's state to listing the arena. */
	rr_jumps_lock(m);
	for (i = 0; i < n; i++) {
		struct rr_func *f = &m->funcs[order[i].func];
		const struct rerand_func *r = f->fx->rec;
		unsigned long body = (unsigned long)arena->area + order[i].off;
		u8 *dst = map + order[i].off;

		f->next_bl = rerand_encode_bl(r->trampoline + r->call_offset,
					      body);
		if (!f->next_bl) {
			rr_skipped(m, f, -ERANGE);
			continue;
		}
		/* Only from the pristine snapshot: never from live text. */
		len = rerand_build_copy(dst, f->fx->max_size, body,
					f->fx->pristine, r->size, f->fx->hot,
					f->fx->nhot, &bad);
		if (len < 0) {
			pr_warn_ratelimited("%s: %ps: relocation %u of the %u a move applies failed at %p (%ld)\n",
					    m->mod->name, (void *)r->trampoline,
					    bad, f->fx->nhot, (void *)body, len);
			/* Half a copy is not code: traps again. */
			memset32((u32 *)dst, RR_POISON_INSN,
				 f->fx->max_size / 4);
			rr_skipped(m, f, -EINVAL);
			continue;
		}
		if (len > (long)ALIGN(r->size, 8))
			m->veneers += (len - ALIGN(r->size, 8)) /
				      RERAND_VENEER_SIZE;
		len = rr_sites_mark_copy(f->fx, dst, len);
		f->next.arena = arena;
		f->next.body = body;
		f->next.size = f->fx->max_size;
		arena->placed[arena->nplaced++] = (struct rr_placed) {
			.body = body, .orig = r->body, .size = r->size,
			.room = f->fx->max_size, .ex_at = f->fx->ex_at,
			.nex = f->fx->nex,
		};
		arena->users++;
		built++;
	}
	if (arena->direct)
		rr_link_direct(m, arena, map);
	t2 = ktime_get_ns();
	err = rr_exec_map(&arena->exec, map);
	/* Data cache to PoU, instruction cache invalidated (broadcast). */
	if (!err)
		caches_clean_inval_pou((unsigned long)arena->area,
				       (unsigned long)arena->area + size);
	if (!built || err) {
		for (i = 0; i < n; i++) {
			struct rr_func *f = &m->funcs[order[i].func];

			if (f->next.arena) {
				memset(&f->next, 0, sizeof(f->next));
				rr_skipped(m, f, err ?: -EPERM);
			}
		}
		rr_destroy_arena(arena);	/* never on rr_arenas_live */
		built = 0;
	} else {
		/* Built and executable: rr_copy_of() may find its copies. */
		list_add_rcu(&arena->live_node, &rr_arenas_live);
	}
	rr_jumps_unlock(m);
	rr_profile.ns_alloc += t1 - t0;
	rr_profile.ns_build += t2 - t1;
	rr_profile.ns_protect += ktime_get_ns() - t2;
out:
	kfree(order);
	return built;
}

static void rr_skip(struct rr_module *m, struct rr_func *f, const char *why)
{
	pr_warn_ratelimited("%s: %ps: %s\n", m->mod->name,
			    (void *)(unsigned long)f->fx->rec->trampoline, why);
	rr_free_copy(&f->next);
	f->skipped++;
	m->skipped++;
}

/* Another writer took the `bl` word before it could be retargeted. */
static void rr_hold(struct rr_module *m, struct rr_func *f)
{
	rr_free_copy(&f->next);
	f->held = true;
}

/*
 * The trampoline now calls f->next: make it current. The era that ends
 * may run either body; a new era begins after the fence that follows the
 * retargeting (rr_begin_era()).
 */
static void rr_published(struct rr_module *m, struct rr_func *f, u64 now)
{
	struct rr_old *o = rr_free_old(f);

	/* rr_can_move() saw a free entry; without one the copy stays for good. */
	if (!WARN_ON_ONCE(!o)) {
		o->copy = f->cur;
		o->eras = f->cur_eras;
	}
	f->cur = f->next;
	f->cur.published_ns = now;
	f->cur_eras = BIT(rr_era(f));
	f->cur_bl = f->next_bl;
	rr_guard_retargeted(m, f);
	memset(&f->next, 0, sizeof(f->next));
	f->era_due = true;
	f->moves++;
	m->moves++;
}

/*
 * @f's new era, once its `bl` was retargeted and every CPU synchronised
 * after that: callers that read the new epoch read the new `bl`
 * (docs/DESIGN.md, "Ordering without barriers"), so the new era runs the
 * new copy only. Under stop_machine() that is as soon as it returns;
 * with single-word stores, after the second kick_all_cpus_sync()
 * (rr_begin_eras()).
 */
static void rr_begin_era(struct rr_func *f)
{
	int idx;

	if (!f->era_due)
		return;
	f->era_due = false;
	idx = rr_free_era(f);	/* rr_can_move() saw one */
	if (WARN_ON_ONCE(idx < 0))
		return;
	f->waited[rr_era(f)] = 0;
	f->epoch = (f->epoch / RR_ERAS + 1) * RR_ERAS + idx;
	f->eras_open |= BIT(idx);
	f->cur_eras |= BIT(idx);
	rr_set_epoch(f);
}

static void rr_begin_eras(void)
{
	struct rr_module *m;
	unsigned int i;

	list_for_each_entry(m, &rr_modules, node)
		for (i = 0; i < m->nfuncs; i++)
			rr_begin_era(&m->funcs[i]);
}

/*
 * Callers may have gone to an older body of @f while counted in the
 * current era (kprobes emulated an older `bl`): every old copy is kept
 * until that era, too, is quiet.
 */
void rr_restart_grace(struct rr_func *f)
{
	unsigned int k;

	lockdep_assert_held(&rr_lock);
	for (k = 0; k < RR_OLDS; k++)
		if (f->old[k].copy.body)
			f->old[k].eras |= BIT(rr_era(f));
}

/*
 * One module's trampoline pages, mapped writable a second time for one
 * publish (as the kernel's own text patching maps a page at a fixmap slot,
 * but once for all the words rather than once per word). The alias lives
 * from just before stop_machine() to just after it, and its TLB entries
 * are flushed when it goes.
 */
struct rr_alias {
	struct rr_module *m;
	unsigned long lo;	/* first page */
	unsigned int npages;
	u8 *map;		/* vmap()ed PAGE_KERNEL, NULL if not mapped */
};

struct rr_publish {
	atomic_t cpus;		/* CPUs in rr_publish_cb(), +1 when written */
	unsigned int n;
	struct rr_alias a[];
};

/* Maps the pages of @m's trampolines that have a `bl` to retarget. */
static int rr_alias_map(struct rr_alias *a, struct rr_module *m)
{
	unsigned long lo = ULONG_MAX, hi = 0, w;
	unsigned int i;
	int err;

	a->m = m;
	a->map = NULL;
	for (i = 0; i < m->nfuncs; i++) {
		if (!m->funcs[i].next.arena)
			continue;
		w = (unsigned long)rr_call_word(&m->funcs[i]);
		lo = min(lo, w);
		hi = max(hi, w + 4);
	}
	if (!hi)
		return 0;
	a->lo = lo & PAGE_MASK;
	a->npages = (PAGE_ALIGN(hi) - a->lo) >> PAGE_SHIFT;
	a->map = rr_text_alias(a->lo, a->npages, &err);
	return err;
}

static void rr_alias_unmap(struct rr_alias *a)
{
	if (!a->map)
		return;
	rr_text_unalias(a->map, a->npages);
	a->map = NULL;
}

/*
 * Under stop_machine(), on every online CPU with interrupts off: the last
 * CPU in writes every `bl` through the aliases, so nobody runs a
 * trampoline meanwhile; the others wait for it, then isb() (as
 * aarch64_insn_patch_text_cb() does).
 */
static int notrace rr_publish_cb(void *arg)
{
	struct rr_publish *p = arg;
	unsigned long lo, hi, w;
	unsigned int i, k;

	if (atomic_inc_return(&p->cpus) != num_online_cpus()) {
		/* Pairs with the smp_mb__before_atomic() below. */
		while (atomic_read(&p->cpus) <= num_online_cpus())
			cpu_relax();
		isb();
		return 0;
	}
	for (k = 0; k < p->n; k++) {
		struct rr_alias *a = &p->a[k];
		struct rr_module *m = a->m;

		if (!a->map)
			continue;
		lo = ULONG_MAX;
		hi = 0;
		for (i = 0; i < m->nfuncs; i++) {
			struct rr_func *f = &m->funcs[i];

			if (!f->next.arena)
				continue;
			w = (unsigned long)rr_call_word(f);
			/*
			 * Only over the word written last: a kprobe armed
			 * since the period began owns it (writers.c).
			 */
			if (le32_to_cpu(READ_ONCE(*(__le32 *)w)) != f->cur_bl)
				continue;
			WRITE_ONCE(*(__le32 *)(a->map + (w - a->lo)),
				   cpu_to_le32(f->next_bl));
			/*
			 * Read back while nobody else runs (the alias and the
			 * text are one page): what the word holds when the
			 * machine restarts. After that, another writer (a
			 * kprobe armed right away) may change it, and that is
			 * not a failed retargeting: the probe saved the new
			 * `bl`.
			 */
			f->next_landed = le32_to_cpu(READ_ONCE(*(__le32 *)w)) ==
					 f->next_bl;
			lo = min(lo, w);
			hi = max(hi, w + 4);
		}
		/* By the executed address: D-cache to PoU, I-cache invalidated. */
		caches_clean_inval_pou(lo, hi);
	}
	/*
	 * The writes (and caches_clean_inval_pou()'s dsb) before the release
	 * of the waiting CPUs. Pairs with their atomic_read() loop above.
	 */
	smp_mb__before_atomic();
	atomic_inc(&p->cpus);
	return 0;
}

NOKPROBE_SYMBOL(rr_publish_cb);

/*
 * One stop_machine() for every module: every other CPU waits in the
 * stopper, then executes an isb().
 */
static void rr_publish_stopped(void)
{
	struct rr_publish *p;
	struct rr_module *m;
	unsigned int n = 0, i, k;
	u64 now;
	int err;

	list_for_each_entry(m, &rr_modules, node)
		n++;
	p = kzalloc(struct_size(p, a, n), GFP_KERNEL);
	k = 0;
	list_for_each_entry(m, &rr_modules, node) {
		err = p ? rr_alias_map(&p->a[k++], m) : -ENOMEM;
		for (i = 0; err && i < m->nfuncs; i++)
			if (m->funcs[i].next.arena)
				rr_skip(m, &m->funcs[i], err == -ENOMEM ?
					"no memory to map its trampoline" :
					"its trampoline is not in vmalloc'ed text");
	}
	if (!p)
		return;
	p->n = n;
	atomic_set(&p->cpus, 0);
	now = ktime_get_ns();
	stop_machine(rr_publish_cb, p, cpu_online_mask);
	for (k = 0; k < n; k++) {
		if (!p->a[k].map)
			continue;
		rr_alias_unmap(&p->a[k]);
		m = p->a[k].m;
		for (i = 0; i < m->nfuncs; i++) {
			struct rr_func *f = &m->funcs[i];

			if (!f->next.arena)
				continue;
			/*
			 * What the word held when stop_machine() ended. Not
			 * written (another writer had the word, seen again at
			 * the next period) is held; a copy the word may name
			 * is never dropped.
			 */
			if (f->next_landed ||
			    le32_to_cpu(*(__le32 *)rr_call_word(f)) == f->next_bl) {
				rr_published(m, f, now);
				/* stop_machine() synchronised every CPU after the writes. */
				rr_begin_era(f);
			} else {
				rr_hold(m, f);
			}
			f->next_landed = false;
		}
	}
	kfree(p);
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
 * writes (rr_publish_cb()). With single-word stores, two
 * kick_all_cpus_sync() provide them.
 */
static void rr_publish_all(void)
{
	struct rr_module *m;
	struct rr_func *f;
	unsigned int i;
	u64 now;
	int err;

	if (READ_ONCE(rr_stop_machine)) {
		/* Each new era begins as its function is published. */
		rr_publish_stopped();
		return;
	}
	kick_all_cpus_sync();
	now = ktime_get_ns();
	list_for_each_entry(m, &rr_modules, node) {
		for (i = 0; i < m->nfuncs; i++) {
			f = &m->funcs[i];
			if (!f->next.arena)
				continue;
			/*
			 * One aligned BL -> BL store, allowed while CPUs run
			 * it; only over the word written last (a kprobe may
			 * own it now). Preemption off: kprobes arms through
			 * stop_machine(), which cannot run between the check
			 * and the store.
			 */
			preempt_disable();
			if (le32_to_cpu(READ_ONCE(*(__le32 *)rr_call_word(f))) != f->cur_bl)
				err = 1;
			else
				err = rr_ksyms.patch_text_nosync(rr_call_word(f),
								 f->next_bl);
			preempt_enable();
			if (err > 0)
				rr_hold(m, f);
			else if (err)
				rr_skip(m, f, "patching the trampoline failed");
			else
				rr_published(m, f, now);
		}
	}
	kick_all_cpus_sync();
	rr_begin_eras();
}

/*
 * The grace periods, polled once per period in one fenced round for every
 * function (pause.c, rr_fence()): each ended era still open is checked;
 * one found quiet lets go of the old copies it kept.
 */
static unsigned long rr_ended_eras(const struct rr_module *m,
				   const struct rr_func *f)
{
	return m->frozen ? 0 : f->eras_open & ~BIT(rr_era(f));
}

/* Nobody is left in @f's era @idx: it is free, and so are its copies. */
static void rr_era_quiet(struct rr_module *m, struct rr_func *f,
			 unsigned int idx, u64 now)
{
	struct rr_arena *arena;
	unsigned int k;
	u64 t0;

	if (unlikely(f->waited[idx] >= READ_ONCE(rr_pin_after)))
		pr_info_ratelimited("%s: %ps drained after %u periods\n",
				    m->mod->name,
				    (void *)(unsigned long)f->fx->rec->trampoline,
				    f->waited[idx]);
	f->waited[idx] = 0;
	f->eras_open &= ~BIT(idx);
	f->cur_eras &= ~BIT(idx);
	for (k = 0; k < RR_OLDS; k++) {
		struct rr_old *o = &f->old[k];

		/* A free entry keeps no era. */
		if (!(o->eras & BIT(idx)))
			continue;
		o->eras &= ~BIT(idx);
		if (o->eras || !o->copy.body)
			continue;
		if (unlikely(!rr_copy_sane(f->fx->rec->body, &o->copy))) {
			rr_state_forged_old(m, f, &o->copy);
			continue;
		}
		/* The original body drained: nothing may run it from now on. */
		if (!o->copy.arena && !o->copy.leak && !f->poisoned) {
			f->poison_due = true;
			m->poison_due = true;
		}
		arena = rr_drop_copy(&o->copy, now);
		if (arena) {
			t0 = ktime_get_ns();
			rr_free_arena(arena);
			rr_profile.ns_free += ktime_get_ns() - t0;
		}
	}
}

static void rr_check_writers(void);

static void rr_report_lingering(struct rr_module *m, struct rr_func *f,
				unsigned int periods)
{
	pr_info_ratelimited("%s: %ps: a caller is still in an old body after %u periods: kept for it while the function moves on\n",
			    m->mod->name,
			    (void *)(unsigned long)f->fx->rec->trampoline, periods);
}

/* @f's era @idx ended and is not quiet yet: one more period waited. */
static void rr_era_waits(struct rr_module *m, struct rr_func *f,
			 unsigned int idx)
{
	unsigned int pin_after = READ_ONCE(rr_pin_after);

	if (++f->waited[idx] == pin_after)
		rr_report_lingering(m, f, f->waited[idx]);
	f->lingering |= f->waited[idx] >= pin_after;
}

/*
 * After rr_check_writers(), always: a kprobe prepared before a
 * retargeting saved the `bl` to a copy this round may drop, and its hits
 * run that copy (the coexist scenario crashed in a freed one when the
 * end-of-period round went without it). It also decides which functions
 * are held when the next period builds its copies: a probe registered in
 * between on a `bl` word either armed it (the publication finds its BRK
 * and holds the function) or saved the `bl` it replaces, which the next
 * round brings up to date before dropping anything (writers.c).
 *
 * Each pass reads a function's ended eras as a mask, lowest first: at
 * most one is set in the steady state, the era the last move ended.
 */
static void rr_grace_round(void)
{
	struct rr_module *m;
	unsigned long ended, left;
	bool any = false;
	unsigned int i, idx;
	u64 t0 = ktime_get_ns(), now;

	rr_check_writers();
	rr_profile.ns_writers += ktime_get_ns() - t0;
	list_for_each_entry(m, &rr_modules, node) {
		for (i = 0; i < m->nfuncs; i++) {
			struct rr_func *f = &m->funcs[i];

			ended = rr_ended_eras(m, f);
			if (!ended) {
				f->lingering = false;	/* nothing to wait for */
				continue;
			}
			any = true;
			for (left = ended; left; left &= left - 1) {
				idx = __ffs(left);
				f->grace_unlocks[idx] = rr_unlocks(f, idx);
			}
		}
	}
	if (!any)
		return;
	rr_fence();
	/* One clock read for every verdict of the round. */
	now = ktime_get_ns();
	list_for_each_entry(m, &rr_modules, node) {
		for (i = 0; i < m->nfuncs; i++) {
			struct rr_func *f = &m->funcs[i];

			ended = rr_ended_eras(m, f);
			if (!ended)
				continue;
			f->lingering = false;
			for (left = ended; left; left &= left - 1) {
				idx = __ffs(left);
				if (rr_locks(f, idx) == f->grace_unlocks[idx])
					rr_era_quiet(m, f, idx, now);
				else
					rr_era_waits(m, f, idx);
			}
		}
	}
}

/*
 * Writes @f's current `bl` back over an older one that another writer
 * (kprobes' disarm, with an older saved copy) put there, as the guard
 * repairs: through the text-patching alias, under stop_machine() unless
 * stop_machine=0 (then one store with preemption off, checked first, and
 * every CPU synchronised after it).
 */
static void rr_restore_call_word(struct rr_module *m, struct rr_func *f)
{
	void *addr[1] = { rr_call_word(f) };
	u32 insn[1] = { f->cur_bl };
	int ret;

	if (READ_ONCE(rr_stop_machine)) {
		cpus_read_lock();
		ret = rr_ksyms.patch_text(addr, insn, 1);
		cpus_read_unlock();
	} else {
		preempt_disable();
		ret = rr_ksyms.patch_text_nosync(addr[0], insn[0]);
		preempt_enable();
		kick_all_cpus_sync();
	}
	if (ret)
		pr_err_ratelimited("%s: %ps: restoring its `bl` failed (%d)\n",
				   m->mod->name, addr[0], ret);
	else
		pr_info_ratelimited("%s: %ps: an older `bl` was written back over its trampoline's; restored\n",
				    m->mod->name, addr[0]);
	rr_restart_grace(f);
}

/*
 * Which `bl` words another writer owns this period (writers.c), before any
 * grace period may end: a kprobe that saved an older `bl` sends calls to
 * a previous body, and so does that `bl` written back; that body must not
 * be freed under them.
 */
static void rr_check_writers(void)
{
	unsigned int found = 0;
	struct rr_module *m;

	/* Every register_kprobe() in flight has published its probe. */
	rr_kprobes_settle();
	list_for_each_entry(m, &rr_modules, node)
		if (!m->frozen)
			found |= rr_writers_survey(m, false);
	if (found & RR_SURVEY_SYNCED) {
		/* No disarm in flight still writes the older copy back... */
		rr_kprobes_settle();
		/* ...and no CPU still emulates it: who owns what, again. */
		kick_all_cpus_sync();
		found = 0;
		list_for_each_entry(m, &rr_modules, node)
			if (!m->frozen)
				found |= rr_writers_survey(m, true);
	}
	if (!(found & RR_SURVEY_STALE))
		return;
	list_for_each_entry(m, &rr_modules, node) {
		unsigned int i;

		for (i = 0; i < m->nfuncs && !m->frozen; i++)
			if (m->funcs[i].word_owner == RR_WORD_STALE)
				rr_restore_call_word(m, &m->funcs[i]);
	}
}

/* What drained this period becomes traps: dropped copies, originals. */
static void rr_poison_period(void)
{
	u64 t0 = ktime_get_ns();

	rr_poison_dropped();
	rr_poison_originals();
	rr_profile.ns_poison += ktime_get_ns() - t0;
}

static void rr_tick(struct work_struct *work)
{
	struct rr_module *m;
	unsigned int built = 0;
	u64 t0, tf, t1, t2, t3, t4;

	mutex_lock(&rr_lock);
	t0 = ktime_get_ns();
	/* Before anything acts on the state (vault.c); it may undo a pause. */
	rr_check_state();
	rr_profile.ns_state += ktime_get_ns() - t0;
	tf = ktime_get_ns();
	rr_free_retired(false);
	t1 = ktime_get_ns();
	rr_profile.ns_free += t1 - tf;
	/* The previous period's round freed eras and old-copy entries. */
	if (!READ_ONCE(rr_paused))
		list_for_each_entry(m, &rr_modules, node)
			if (!m->frozen)
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
	rr_profile.ns_prepare += t2 - t1;
	rr_profile.ns_guard += t3 - t2;
	if (built)
		rr_publish_all();
	t4 = ktime_get_ns();
	rr_profile.ns_publish += t4 - t3;
	/*
	 * One grace round per period, right after the publication: the eras
	 * that just ended are checked at once, so a function nobody was in
	 * drops its previous copy in the period that replaced it; an era
	 * still open is checked again one period later. Paused, the rounds
	 * go on and drain what is left.
	 */
	rr_grace_round();
	rr_poison_period();
	rr_profile.ns_advance += t1 - t0 + ktime_get_ns() - t4;
	rr_queue();
	mutex_unlock(&rr_lock);
}

const char *rr_state_name(const struct rr_func *f)
{
	if (f->suspect)
		return "suspect";
	if (f->pinned)
		return "pinned";
	if (f->held)
		return "held";
	if (f->lingering)
		return "lingering";
	return rr_old_copies(f) ? "draining" : "idle";
}
