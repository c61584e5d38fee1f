/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rerand runtime: state shared by the files of rerand.ko.
 *
 * Locking: ONE mutex, rr_lock, protects rr_modules, every struct rr_module
 * and struct rr_func on it (move state, copies) and the mover's schedule.
 * The only lock-free paths are add_pause_list() / remove_pause_list()
 * (hooks.S), which run in any context on every call of a moved function
 * and read the slot, a CPU's epoch copy and the trampoline's `bl` word,
 * write the ticket in the trampoline's frame and increment per-CPU
 * counters, nothing else,
 * the guard's watchpoint handler (guard.c), which runs in
 * debug-exception context and touches nothing but its CPU's incident ring,
 * atomics and its CPU's watchpoint registers; and sites.c's break hook and
 * kprobe handlers (a WARN/BUG in a copy, a fault, a symbol lookup, a
 * static-key toggle, in any context), which read the site numbers and,
 * under rcu_read_lock(), the arenas on rr_arenas_live (move.c), and write
 * only static-key sites of copies, under jump_label_mutex (held by the
 * toggler).
 *
 * Lock order: rr_lock, then cpu_hotplug_lock (stop_machine() patching,
 * register_wide_hw_breakpoint()), then perf's own locks. Nothing that may
 * sleep runs with preemption disabled.
 */
#ifndef RERAND_RUNTIME_H
#define RERAND_RUNTIME_H

#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/types.h>
#include <linux/bug.h>
#include <linux/jump_label.h>
#include "rerand_abi.h"

/*
 * Counter pairs per function: the eras a caller can be counted in. The
 * current era is one; each era a sleeping caller keeps open is another;
 * moving needs one free (move.c). hooks.S masks the index with
 * RR_ERAS - 1 (ERA_BITS).
 */
#define RR_ERAS		4

/*
 * Per function, per CPU: the classic-SRCU counter pairs, one per era
 * (docs/DESIGN.md), and this CPU's copy of the function's epoch: the era
 * index in its low bits, above them the number of eras begun, so that
 * the entry hook's second read sees any new era, even at the same index.
 * Offsets are hooks.S's.
 */
struct rerand_counters {
	unsigned long lock[RR_ERAS];
	unsigned long unlock[RR_ERAS];
	unsigned long epoch;	/* eras begun << 2 | the current era's index */
};

/* A copy dropped from an arena other copies still run in (move.c). */
struct rr_dropped {
	unsigned long body, size;
	u64 published_ns;	/* direct arenas: its window ends with the arena */
};

/*
 * A copy built in an arena, for rr_copy_of(): self-contained, so that it
 * outlives its module's vault (a leaked copy's arena is never freed).
 */
struct rr_placed {
	unsigned long body;	/* the copy */
	unsigned long orig;	/* the original body it is a copy of */
	u32 size;		/* the body's bytes (rerand_func.size) */
	u32 room;		/* all it owns from body (rr_fixed.max_size) */
	u32 ex_at, nex;		/* its translated exception entries */
};

/* An arena's memory (execmem.c). */
struct rr_exec {
	struct vm_struct *vm;		/* its reserved address */
	struct rr_pageset *set;		/* the pages mapped there */
	unsigned long size;
	bool mapped;			/* read-only and executable at vm */
};

void *rr_exec_reserve(struct rr_exec *x, unsigned long size,
		      unsigned long lo, unsigned long hi);
u8 *rr_exec_alias(const struct rr_exec *x, bool zero);
void rr_exec_unalias(const struct rr_exec *x, u8 *map);
int rr_exec_map(struct rr_exec *x, u8 *map);
void rr_exec_release(struct rr_exec *x);
void rr_exec_exit(void);
extern unsigned long rr_exec_pages;

/*
 * The copies one module got in one period (move.c), under rr_lock but for
 * what rr_copy_of() reads: area, size, nplaced and placed[], written
 * before the arena is put on the RCU list rr_arenas_live, and freed only a
 * grace period after it left the list.
 */
struct rr_arena {
	void *area;		/* exec.vm's address, for lock-free readers */
	unsigned long size;
	struct rr_exec exec;
	unsigned int users;	/* copies in it not yet freed */
	/* Dropped copies, made traps at the end of the period that drops them. */
	struct list_head dropped_node;	/* on rr_arenas_dropped if ndropped */
	unsigned int ndropped;
	struct rr_dropped *dropped;	/* room for every copy built in it */
	struct list_head live_node;	/* on rr_arenas_live (RCU) */
	/*
	 * On rr_arenas_retired once off rr_arenas_live: a node of its own,
	 * since a reader may still be following live_node.next.
	 */
	struct list_head retired_node;
	unsigned int nplaced;
	struct rr_placed *placed;	/* in address order; after dropped[] */
	unsigned long gp_cookie;	/* left the list: free after this GP */
	/*
	 * Its copies call each other directly (rr_link_direct()): a dropped
	 * copy stays executable, not traps, until the arena goes.
	 */
	bool direct;
};

/* One body: the original in the module's text, or a copy. */
struct rr_copy {
	struct rr_arena *arena;	/* NULL for the original body */
	unsigned long body;	/* run-time address of the body */
	unsigned long size;	/* bytes it owns from body (max_size) */
	bool leak;		/* callers may be uncounted: never free it */
	u64 published_ns;	/* when the trampoline began to call it */
};

/* Room for old copies: each open era but the current holds at most two. */
#define RR_OLDS		(2 * (RR_ERAS - 1))

/* A copy no longer current, and the eras whose callers may run it. */
struct rr_old {
	struct rr_copy copy;	/* body 0: a free entry */
	u8 eras;		/* bit i: callers counted in era i */
};

/*
 * What the mover and the guard read to decide what to build or write, for
 * one function: in its module's vault (struct rr_vault), read-only once the
 * module is loaded. The pointers lead to read-only memory too (the table in
 * the module's rodata, the vault itself) but for slot and ctr, which the
 * hooks write, and which rr_check_state() checks every period.
 */
struct rr_fixed {
	const struct rerand_func *rec;
	__le32 *call_word;	/* rec's trampoline + call_offset */
	const struct rerand_reloc *relocs;
	struct rerand_slot *slot;
	struct rerand_counters __percpu *ctr;
	u8 *pristine;		/* snapshot taken at MODULE_STATE_COMING */
	u8 *tramp_good;		/* the trampoline at MODULE_STATE_COMING */
	size_t max_size;	/* rerand_copy_max_size() */
	unsigned int tramp_size;
	/* Its WARN/BUG sites' numbers, from site_first on (sites.c). */
	unsigned int site_first, nsites;
	/*
	 * Its entries of the module's (sorted) exception table, and where a
	 * copy holds them translated to itself: copy + ex_at (sites.c).
	 */
	const struct exception_table_entry *ex;
	unsigned int nex, ex_at;
	/* Its static-key sites: entries of the module's __jump_table. */
	const struct jump_entry *const *jumps;
	unsigned int njump;
	/*
	 * What a move applies (in the vault, rr_vault_seal()): the relocations
	 * whose value depends on where the copy is, in table order. The
	 * ftrace NOPs are in the snapshot already and the WARN/BUG sites are
	 * site_off[], so a copy's build walks neither.
	 */
	const struct rerand_reloc *hot;
	unsigned int nhot;
	/* Direct mode only: the function hot[k] calls, index + 1, or 0. */
	const u32 *hot_callee;
	const u32 *site_off;	/* nsites offsets in the body */
};

/*
 * One vmalloc area per module (vault.c): this header, one struct rr_fixed
 * per function, the moved bodies' jump entries (grouped by function), then
 * every trampoline image and every snapshot. Filled at
 * MODULE_STATE_COMING, then read-only (linear alias included) until the
 * module's state is freed; never written again.
 */
struct rr_vault {
	unsigned long self;		/* its own address */
	const struct module *mod;
	size_t size;			/* bytes, whole pages */
	unsigned int nfuncs;
	struct rr_fixed fx[];
};

struct rr_func {
	const struct rr_fixed *fx;	/* &vault->fx[index] (checked) */
	struct rr_copy cur;	/* what the trampoline calls */
	u8 cur_eras;		/* eras whose callers may run cur */
	u32 cur_bl;		/* the trampoline's `bl` to cur.body */
	struct rr_old old[RR_OLDS];	/* until their eras are quiet */
	struct rr_copy next;	/* built, not yet published (mover only) */
	u32 next_bl;
	bool next_landed;	/* next_bl read back under stop_machine() */
	bool era_due;		/* published: begin a new era after the fence */
	/* Mover only, under rr_lock; each CPU's counters copy the epoch. */
	unsigned long epoch;	/* eras begun << 2 | era (rr_era()) */
	u8 eras_open;		/* begun and not yet proved quiet, era included */
	unsigned int waited[RR_ERAS];	/* periods since each open era ended */
	unsigned long grace_unlocks[RR_ERAS];	/* first halves of the check */
	bool lingering;		/* an era open for pin_after periods */
	bool pinned;		/* no free era or old-copy entry: not moved */
	bool held;		/* another writer owns the `bl` word (writers.c) */
	u8 word_owner;		/* enum rr_word, within rr_check_writers() */
	bool suspect;		/* its body addresses were forged: left alone */
	bool slot_forged;	/* its slot no longer names its counters */
	bool poison_due;	/* the original drained: poison it (poison.c) */
	bool poisoned;		/* the original is traps but for its ftrace slots */
	unsigned long moves;
	unsigned long skipped;
	unsigned long held_periods;	/* periods not moved for that */
	unsigned long state_tamper;	/* rr_check_state() findings */
	/* guard.c */
	unsigned int pending;	/* periods a reported store may still land */
	bool watched;
	bool ever_watched;
	unsigned long tamper;
};

/*
 * Whether @c, in writable memory, is a body of the function whose
 * original is at @orig (read-only): the original, or inside its arena;
 * nothing at all is a free entry. Before the mover acts on a copy: a
 * forged arena or address would have it write elsewhere.
 */
static __always_inline bool rr_copy_sane(unsigned long orig,
					 const struct rr_copy *c)
{
	const struct rr_arena *a = c->arena;

	if (!a)
		return !c->body || c->body == orig;
	return c->body - (unsigned long)a->area < a->size && a->users;
}

/* A trampoline and its function's index in funcs[], sorted (direct mode). */
struct rr_tramp_index {
	unsigned long tramp;
	unsigned int func;
};

struct rr_module {
	struct list_head node;
	struct module *mod;
	struct dentry *dbg;
	unsigned long text_lo, text_hi;	/* core text */
	unsigned int ntables;
	unsigned int nfuncs;
	unsigned int nexcluded;
	struct rr_func *funcs;
	struct rr_vault *vault;		/* read-only; NULL while loading */
	struct rr_fixed *loading;	/* writable, until the vault is sealed */
	/* Every moved body's jump entries, grouped by function (sites.c). */
	const struct jump_entry **loading_jumps;	/* until sealed */
	unsigned int njumps;
	unsigned long state_tamper;	/* rr_check_state() findings */
	unsigned int site_base, nsites;	/* WARN/BUG site numbers (sites.c) */
	bool frozen;			/* its vault pointer was forged */
	bool poison_due;		/* a function's poison_due is set */
	/*
	 * Calls between copies go direct within an arena (the direct
	 * parameter when it loaded; move.c, rr_link_direct()).
	 */
	bool direct;
	struct rr_tramp_index *by_tramp;	/* direct only: nfuncs entries */
	unsigned long direct_calls;	/* calls and tail calls linked so */
	unsigned int plt_calls;	/* calls sent to the module's PLT entries (vault.c) */
	unsigned long veneers;	/* veneers built into copies */
	unsigned long moves;
	unsigned long skipped;
	unsigned long tamper;		/* incidents, guard.c */
	unsigned int watched;		/* trampolines watched now */
	/* guard.c: every trampoline as it must read now, [lo, hi) */
	unsigned long tramp_lo, tramp_hi;
	u8 *tramp_image;
	unsigned int distinct;		/* trampolines ever watched */
	/* Once gone (main.c): its name, and seconds waited for its threads. */
	char gone_name[MODULE_NAME_LEN];
	unsigned int gone_s;
};

/*
 * Trampoline size: the `bl` at call_offset and 28 bytes from it on (to
 * its `ret`), or 36 in the shape that copies stack arguments (its
 * epilogue has one more word, and a NOP pads it to 8 bytes).
 */
#define RR_TRAMP_TAIL		28
#define RR_TRAMP_TAIL_STACK	36
#define RR_RET			0xd65f03c0U	/* ret */

/* main.c */
extern struct mutex rr_lock;
extern struct list_head rr_modules;
extern unsigned int rr_period_ms;
extern bool rr_paused;
extern unsigned int rr_pin_after;
extern bool rr_stop_machine;
extern bool rr_direct;
int rr_parse_ms(const char *val, unsigned int *ms);

struct pt_regs;
struct kprobe;
struct break_hook;

/* ksyms.c: unexported kernel functions, resolved once at init. */
struct rr_ksyms {
	void *(*vmalloc_node_range)(unsigned long size, unsigned long align,
				    unsigned long start, unsigned long end,
				    gfp_t gfp_mask, pgprot_t prot,
				    unsigned long vm_flags, int node,
				    const void *caller);
	int (*set_memory_ro)(unsigned long addr, int numpages);
	struct vm_struct *(*get_vm_area)(unsigned long size,
					 unsigned long align,
					 unsigned long shift,
					 unsigned long flags,
					 unsigned long start,
					 unsigned long end, int node,
					 gfp_t gfp_mask, const void *caller);
	int (*vmap_pages_range_noflush)(unsigned long addr, unsigned long end,
					pgprot_t prot, struct page **pages,
					unsigned int page_shift);
	int (*patch_text_nosync)(void *addr, u32 insn);
	int (*patch_text)(void *addrs[], u32 insns[], int cnt);
	void *(*module_alloc)(unsigned long size);
	struct kprobe *(*get_kprobe)(void *addr);
	void (*register_break_hook)(struct break_hook *hook);
	void (*unregister_break_hook)(struct break_hook *hook);
	unsigned int (*stack_trace_save_regs)(struct pt_regs *regs,
					      unsigned long *store,
					      unsigned int size,
					      unsigned int skipnr);
	enum bug_trap_type (*report_bug)(unsigned long bugaddr,
					 struct pt_regs *regs);
	void (*die)(const char *str, struct pt_regs *regs, long err);
	void (*jump_label_lock)(void);
	void (*jump_label_unlock)(void);
	void *ftrace_caller, *ftrace_regs_caller;	/* addresses only */
	/* Not a symbol: decoded from module_alloc(), see ksyms.c. */
	unsigned long module_alloc_base;
};

extern struct rr_ksyms rr_ksyms;
int rr_ksyms_init(void);

/*
 * hooks.S: the trampolines' hooks. Not callable from C: they take and
 * return x9 (rerand_abi.h); declared for their exports in pause.c.
 */
void add_pause_list(void);
void remove_pause_list(void);

/* pause.c: the grace-period checks on those hooks. */
struct rr_hooks_census {
	unsigned int insns, dmb, dsb, ldxr, stadd;
};

extern struct rr_hooks_census rr_hooks_census;
extern atomic_long_t rr_forged_tickets;
extern unsigned long rr_forged_slot;
void rr_hooks_init(void);

/* What slot->counters holds: the per-CPU address of @f's counters. */
static inline u64 rr_counters_base(const struct rr_func *f)
{
	return (u64)(__force unsigned long)f->fx->ctr;
}

/*
 * Every possible CPU's per-CPU offset, in order (the possible CPUs never
 * change after boot): the grace-period sums and the epoch stores walk
 * this rather than the possible mask, three times per function and period
 * (bench/REPORT.md, 3). Read-only after load, like the counters' address
 * in each slot: a forged offset would sum, or set, another CPU's memory.
 */
extern unsigned long rr_cpu_offsets[NR_CPUS];
extern unsigned int rr_ncpus;

/* The sum over all CPUs of the counter at @field of @f's counters. */
static __always_inline unsigned long rr_sum(const struct rr_func *f,
					    size_t field)
{
	unsigned long base = (__force unsigned long)f->fx->ctr + field;
	unsigned long sum = 0;
	unsigned int k;

	for (k = 0; k < rr_ncpus; k++)
		sum += READ_ONCE(*(unsigned long *)(base + rr_cpu_offsets[k]));
	return sum;
}

/* The unlocks of index @idx of @f: the first half of a quiet check. */
static __always_inline unsigned long rr_unlocks(const struct rr_func *f,
						unsigned int idx)
{
	return rr_sum(f, offsetof(struct rerand_counters, unlock) +
			 idx % RR_ERAS * sizeof(unsigned long));
}

/* The locks of index @idx of @f: the second half, after rr_fence(). */
static __always_inline unsigned long rr_locks(const struct rr_func *f,
					      unsigned int idx)
{
	return rr_sum(f, offsetof(struct rerand_counters, lock) +
			 idx % RR_ERAS * sizeof(unsigned long));
}

/*
 * Every CPU's copy of f->epoch: new callers count in era rr_era(f). In
 * line: once per move.
 */
static inline void rr_set_epoch(const struct rr_func *f)
{
	unsigned long at = (__force unsigned long)f->fx->ctr +
			   offsetof(struct rerand_counters, epoch);
	unsigned int k;

	BUILD_BUG_ON(offsetof(struct rerand_counters, unlock) != 32 ||
		     offsetof(struct rerand_counters, epoch) != 64 ||
		     RR_ERAS != 4);	/* hooks.S: CTR_*, ERA_BITS */
	/*
	 * No barrier around it: a caller that still reads the previous
	 * epoch counts in the previous era, which stays open until a quiet
	 * check proves it empty; one that reads this one after counting in
	 * the previous takes its count back (hooks.S; docs/DESIGN.md,
	 * "Ordering without barriers"). Only the mover writes the epoch,
	 * under rr_lock.
	 */
	for (k = 0; k < rr_ncpus; k++)
		WRITE_ONCE(*(unsigned long *)(at + rr_cpu_offsets[k]), f->epoch);
}

void rr_fence(void);
unsigned long rr_unlocks_all(struct rr_func *f);
unsigned long rr_locks_all(struct rr_func *f);
bool rr_all_quiet(struct rr_func *f);

/*
 * Whether a move applies relocation @type again (struct rr_fixed, hot[]):
 * an ftrace NOP is in the snapshot already, a WARN/BUG site is site_off[].
 */
static inline bool rr_reloc_is_hot(u32 type)
{
	return type != RERAND_OP_NOP && type != RERAND_OP_BUG;
}

u32 rr_callee_index(const struct rr_module *m, u64 tramp);

/* The era new callers of @f count in: the epoch's low bits. */
static inline unsigned int rr_era(const struct rr_func *f)
{
	return f->epoch % RR_ERAS;
}

/* The word of @f's trampoline that decides where its calls go. */
static inline void *rr_call_word(const struct rr_func *f)
{
	return f->fx->call_word;
}

/* move.c */
struct rr_profile {
	u64 ticks;
	u64 built;		/* copies built (and, unless skipped, published) */
	u64 ns_advance;		/* grace periods, freeing old copies */
	u64 ns_state;		/*   of which: rr_check_state() */
	u64 ns_writers;		/*   of which: rr_check_writers() (kprobes) */
	u64 ns_poison;		/*   of which: dropped copies, originals: traps */
	u64 ns_prepare;		/* allocating, building, protecting copies */
	u64 ns_alloc;		/*   of which: the arena at a random address */
	u64 ns_build;		/*   of which: copying and relocating bodies */
	u64 ns_protect;		/*   of which: caches, read-only, executable */
	u64 ns_free;		/*   of which: freeing drained arenas */
	u64 ns_guard;		/* the trampoline integrity check */
	u64 ns_publish;		/* CPU synchronisation and retargeting */
};

extern struct rr_profile rr_profile;

/*
 * Exposure windows (move.c, debugfs "windows"), under rr_lock: for each
 * copy dropped, the time from its publication (the trampoline calls it,
 * so its address may leak) to the period that drops it (its last era
 * proved quiet), in which it becomes traps or is unmapped.
 */
#define RR_WIN_BUCKET_US	250
#define RR_WIN_BUCKETS		256	/* the last: 64 ms and more */
struct rr_windows {
	u64 n, sum_ns, max_ns;
	u32 hist[RR_WIN_BUCKETS];
};

extern struct rr_windows rr_windows;
void rr_mover_start(void);
void rr_mover_stop(void);
void rr_mover_reschedule(void);
void rr_free_copy(struct rr_copy *c);
const struct rr_placed *rr_copy_of(unsigned long addr);
void rr_copies_of(unsigned long orig,
		  void (*fn)(const struct rr_placed *c, unsigned long off,
			     void *arg),
		  void *arg);
void rr_free_retired(bool all);
void rr_restart_grace(struct rr_func *f);
unsigned int rr_old_copies(const struct rr_func *f);
void rr_free_olds(struct rr_func *f);
void rr_region(const struct rr_module *m, unsigned long *lo,
	       unsigned long *hi);
const char *rr_state_name(const struct rr_func *f);

/* guard.c */
struct seq_file;
extern bool rr_guard_on;
extern unsigned int rr_guard_slots;
extern unsigned int rr_guard_rotate_ms;
extern int rr_tamper_policy;
void rr_guard_init(void);
void rr_guard_exit(void);
void rr_guard_check(void);
void rr_guard_forget(struct rr_module *m);
void rr_guard_added(void);
int rr_guard_image(struct rr_module *m);

/*
 * @f's `bl` now calls f->cur: so must the guard's image. Under rr_lock; in
 * line, once per move.
 */
static inline void rr_guard_retargeted(struct rr_module *m,
				       const struct rr_func *f)
{
	unsigned long call = (unsigned long)f->fx->call_word;

	*(__le32 *)(m->tramp_image + (call - m->tramp_lo)) =
		cpu_to_le32(f->cur_bl);
}

bool rr_guard_intact(const struct rr_module *m, const struct rr_func *f);
void rr_guard_show(struct seq_file *sf);

/* poison.c */
extern atomic_long_t rr_poison_hits;
extern bool rr_poison_on;
int rr_poison_init(void);
void rr_poison_exit(void);
void rr_poison_originals(void);
unsigned int rr_kept_bytes(const struct rr_func *f);
unsigned long rr_fixed_exec_bytes(const struct rr_module *m);

/*
 * sites.c: WARN/BUG sites in copies. A copy's `brk #0x800` becomes
 * `brk #(RR_SITE_IMM_BASE + its number)`: a range of BRK immediates no
 * other hook of 6.1 uses (asm/brk-imm.h: 0x004-0x006, 0x100, 0x400,
 * 0x401, 0x800, 0x900-0x9ff, 0x8000-0x83ff; poison.c's 0x0e0e).
 */
#define RR_SITE_IMM_BASE	0xc000
#define RR_SITES		0x4000	/* a power of two: the hook's mask */
extern atomic_long_t rr_site_warns, rr_site_bugs, rr_site_unknown;
extern atomic_long_t rr_site_fixups, rr_site_names, rr_site_toggles;
int rr_sites_claim(struct rr_module *m);
void rr_sites_forget(struct rr_module *m);
void rr_sites_release(struct rr_module *m);
size_t rr_sites_mark_some(const struct rr_fixed *fx, u8 *copy, size_t len);

/*
 * What a copy built at @copy from @fx's snapshot (@len bytes so far, still
 * writable) needs of the sites the kernel finds by PC (sites.c,
 * rr_sites_mark_some()); returns the bytes the copy now uses. In line:
 * most functions have none.
 */
static inline size_t rr_sites_mark_copy(const struct rr_fixed *fx, u8 *copy,
					size_t len)
{
	if (!fx->nsites && !fx->njump && !fx->nex)
		return len;
	return rr_sites_mark_some(fx, copy, len);
}

void rr_jumps_lock(const struct rr_module *m);
void rr_jumps_unlock(const struct rr_module *m);
void rr_sites_init(void);
void rr_sites_exit(void);

/* vault.c */
extern bool rr_sealed;
int rr_vault_seal(struct rr_module *m);
void rr_vault_free(struct rr_module *m);
void rr_seal_config(void);
unsigned int rr_sealed_uint(const unsigned int *var);
void rr_check_state(void);
void rr_state_forged_old(struct rr_module *m, struct rr_func *f,
			 const struct rr_copy *c);
void rr_state_show(struct seq_file *sf);
bool rr_may_set(const struct kernel_param *kp);
extern const struct kernel_param_ops rr_sealed_bool_ops;
extern const struct kernel_param_ops rr_sealed_uint_ops;

/* debugfs.c */
void rr_debugfs_init(void);
void rr_debugfs_exit(void);
void rr_debugfs_add(struct rr_module *m);
void rr_debugfs_remove(struct rr_module *m);

#endif /* RERAND_RUNTIME_H */
