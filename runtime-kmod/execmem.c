// SPDX-License-Identifier: GPL-2.0
/*
 * The arenas' executable memory (move.c), below the stages.
 *
 * An arena is read-only and executable at a random address of the module
 * region for a few periods, then goes. Allocating its pages with
 * vmalloc() each period, making them read-only and executable, and
 * vfree()ing them once drained cost about 3,000 instructions per page
 * (bfq at period_ms=1: 22 pages a period, a quarter of the mover's
 * instructions): with rodata=full every page's linear-map alias was made
 * read-only, then invalid and writable again, a page-table walk each, and
 * every set_memory_*() and vfree() purged the lazily unmapped areas.
 *
 * So the pages stay: a page set is vmalloc'ed once and made read-only
 * there, which makes its linear-map alias read-only too (as the kernel
 * does for module text), and serves arena after arena. Each period only
 * maps it, writable at a temporary alias while the copies are written,
 * then read-only and executable at the arena's address; and unmaps it
 * when the arena goes. The pages are never writable and executable at
 * once and never writable through the linear map, and every mapping of
 * them that goes is flushed from the TLB at once, not lazily.
 *
 * Under rr_lock, like the arenas.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <asm/pgtable.h>
#include <asm/tlbflush.h>
#include "rerand.h"
#include "writers.h"

/* Pages that serve one arena at a time, read-only in every other mapping. */
struct rr_pageset {
	struct list_head node;	/* on rr_pagesets_free while no arena has it */
	void *ro;		/* vmalloc()ed, then made read-only */
	unsigned int npages;
	struct page *pages[];
};

/*
 * Unused page sets, kept for the next arenas: about one per module is in
 * flight between building and retiring, so a few more are enough.
 */
#define RR_PAGESETS_KEPT 8
static LIST_HEAD(rr_pagesets_free);
static unsigned int rr_pagesets_nfree;
unsigned long rr_exec_pages;	/* in every page set, for debugfs */

/* How many random places to try before taking any free one. */
#define RR_RESERVE_TRIES 8

static void rr_pageset_destroy(struct rr_pageset *set)
{
	rr_exec_pages -= set->npages;
	/* VM_FLUSH_RESET_PERMS: the linear map becomes writable again. */
	vfree(set->ro);
	kfree(set);
}

/*
 * A new page set of @npages and some room to grow, since a module's next
 * arenas need about as much.
 */
static struct rr_pageset *rr_pageset_new(unsigned int npages)
{
	struct rr_pageset *set;
	unsigned int i;

	npages = ALIGN(npages + npages / 8, 4);
	set = kmalloc(struct_size(set, pages, npages), GFP_KERNEL);
	if (!set)
		return NULL;
	set->npages = npages;
	set->ro = rr_ksyms.vmalloc_node_range((unsigned long)npages << PAGE_SHIFT,
					      PAGE_SIZE, VMALLOC_START,
					      VMALLOC_END,
					      GFP_KERNEL | __GFP_NOWARN,
					      PAGE_KERNEL, VM_FLUSH_RESET_PERMS,
					      NUMA_NO_NODE,
					      __builtin_return_address(0));
	if (!set->ro) {
		kfree(set);
		return NULL;
	}
	for (i = 0; i < npages; i++)
		set->pages[i] = vmalloc_to_page(set->ro + i * PAGE_SIZE);
	rr_exec_pages += npages;
	/*
	 * Read-only here and (rodata=full) in the linear map; this also
	 * purges the lazily unmapped aliases the pages had before.
	 */
	if (rr_ksyms.set_memory_ro((unsigned long)set->ro, npages)) {
		rr_pageset_destroy(set);
		return NULL;
	}
	return set;
}

/* The smallest unused page set of at least @npages, or a new one. */
static struct rr_pageset *rr_pageset_get(unsigned int npages)
{
	struct rr_pageset *set, *best = NULL;

	list_for_each_entry(set, &rr_pagesets_free, node)
		if (set->npages >= npages &&
		    (!best || set->npages < best->npages))
			best = set;
	if (!best)
		return rr_pageset_new(npages);
	list_del(&best->node);
	rr_pagesets_nfree--;
	return best;
}

static void rr_pageset_put(struct rr_pageset *set)
{
	if (rr_pagesets_nfree >= RR_PAGESETS_KEPT) {
		rr_pageset_destroy(set);
		return;
	}
	list_add(&set->node, &rr_pagesets_free);
	rr_pagesets_nfree++;
}

/*
 * Reserves @size bytes at a random page of [@lo, @hi), followed by a guard
 * page, with pages to map there: the arena's address, or NULL. Nothing is
 * mapped at it until rr_exec_map().
 */
void *rr_exec_reserve(struct rr_exec *x, unsigned long size,
		      unsigned long lo, unsigned long hi)
{
	unsigned long pages, start;
	struct vm_struct *vm = NULL;
	int i;

	memset(x, 0, sizeof(*x));
	size = PAGE_ALIGN(size);
	if (hi <= lo || hi - lo < size + 2 * PAGE_SIZE)
		return NULL;
	/*
	 * The area's guard page follows it: [start, start + size + 1 page).
	 * A random place may be taken: quietly try another.
	 */
	pages = (hi - lo - size - PAGE_SIZE) >> PAGE_SHIFT;
	for (i = 0; i < RR_RESERVE_TRIES && !vm; i++) {
		start = lo + ((get_random_long() % pages) << PAGE_SHIFT);
		vm = rr_ksyms.get_vm_area(size, 1, PAGE_SHIFT, VM_MAP, start,
					  start + size + PAGE_SIZE, NUMA_NO_NODE,
					  GFP_KERNEL | __GFP_NOWARN,
					  __builtin_return_address(0));
	}
	if (!vm)
		vm = rr_ksyms.get_vm_area(size, 1, PAGE_SHIFT, VM_MAP, lo, hi,
					  NUMA_NO_NODE, GFP_KERNEL,
					  __builtin_return_address(0));
	if (!vm)
		return NULL;
	x->set = rr_pageset_get(size >> PAGE_SHIFT);
	if (!x->set) {
		free_vm_area(vm);
		return NULL;
	}
	x->vm = vm;
	x->size = size;
	return vm->addr;
}

/*
 * The arena's pages, writable at a temporary address (zeroed with @zero:
 * 0 is `udf #0`, so what no copy covers is a trap), or NULL. Undone by
 * rr_exec_unalias().
 */
u8 *rr_exec_alias(const struct rr_exec *x, bool zero)
{
	u8 *map = vmap(x->set->pages, x->size >> PAGE_SHIFT, VM_MAP,
		       PAGE_KERNEL);

	if (map && zero)
		memset(map, 0, x->size);
	return map;
}

void rr_exec_unalias(const struct rr_exec *x, u8 *map)
{
	rr_text_unalias(map, x->size >> PAGE_SHIFT);
}

/*
 * What was written at @map becomes the arena: @map goes, and the pages are
 * mapped read-only and executable at its reserved address (with the
 * guarded-page bit where the kernel uses BTI, as set_memory_x() sets it).
 * The caller then cleans the caches by that address.
 */
int rr_exec_map(struct rr_exec *x, u8 *map)
{
	unsigned long addr = (unsigned long)x->vm->addr;
	pgprot_t prot = __pgprot(pgprot_val(PAGE_KERNEL_ROX) | PTE_MAYBE_GP);
	int err;

	rr_exec_unalias(x, map);
	/* set_pte() orders each valid kernel entry before its first use. */
	err = rr_ksyms.vmap_pages_range_noflush(addr, addr + x->size, prot,
						x->set->pages, PAGE_SHIFT);
	x->mapped = true;	/* even in part: rr_exec_release() flushes it */
	return err;
}

/*
 * The arena goes: its mapping, flushed from every TLB before the pages can
 * serve another arena, and its reservation. Nobody may run it any more.
 */
void rr_exec_release(struct rr_exec *x)
{
	unsigned long addr;

	if (!x->vm)
		return;
	addr = (unsigned long)x->vm->addr;
	free_vm_area(x->vm);
	if (x->mapped)
		flush_tlb_kernel_range(addr, addr + x->size);
	/*
	 * The address goes back only once the lazily freed areas are
	 * purged; until then, with nothing else to purge them, they would
	 * fill the module region and narrow where the next arenas can go.
	 */
	vm_unmap_aliases();
	rr_pageset_put(x->set);
	memset(x, 0, sizeof(*x));
}

/* rerand.ko goes, every arena gone: the kept page sets go too. */
void rr_exec_exit(void)
{
	struct rr_pageset *set, *tmp;

	list_for_each_entry_safe(set, tmp, &rr_pagesets_free, node) {
		list_del(&set->node);
		rr_pageset_destroy(set);
	}
	rr_pagesets_nfree = 0;
}
