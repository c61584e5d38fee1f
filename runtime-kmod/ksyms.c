// SPDX-License-Identifier: GPL-2.0
/*
 * The ONE place rerand.ko resolves unexported kernel symbols.
 *
 * kallsyms_lookup_name() itself is unexported since 5.7; its address is
 * read from a kprobe registered on it (kp.addr), as LKRG and LTTng do.
 * CONFIG_KALLSYMS_ALL is off on Debian's arm64 kernel, so only text
 * symbols resolve: data such as module_alloc_base is found by decoding the
 * code of a function that reads it.
 *
 * Checked against Linux 6.1 (Debian 6.1.0-56-arm64 Module.symvers): none of
 * the functions below is exported; caches_clean_inval_pou(),
 * kick_all_cpus_sync(), stop_machine(), vmalloc_to_page(), vmap(), vunmap(),
 * vfree(), free_vm_area() and enable_kprobe() are, and are called directly.
 *
 * Three unexported functions are probed by name (register_kprobe()
 * resolves them), never called (sites.c): search_exception_tables(), so
 * that a fault in a copy finds the copy's fixup; module_address_lookup(),
 * so that an address in a copy is named as the original; and
 * arch_jump_label_transform_queue() (or arch_jump_label_transform()
 * without batching), so that a static-key toggle reaches the copies.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cache.h>
#include <linux/kprobes.h>
#include <linux/sizes.h>
#include <asm/memory.h>
#include "rerand.h"

/*
 * Function pointers the mover and the guard call every period: read-only
 * once rerand_init() is done, so that one stray write cannot redirect them.
 */
struct rr_ksyms rr_ksyms __ro_after_init;

static const struct {
	const char *name;
	void **addr;
	bool optional;		/* absent from some configurations: NULL then */
} rr_ksym_list[] = {
	/*
	 * The arenas' pages (execmem.c): vmalloc()ed once per page set, and
	 * made read-only there and in the linear map.
	 */
	{ "__vmalloc_node_range", (void **)&rr_ksyms.vmalloc_node_range },
	{ "set_memory_ro", (void **)&rr_ksyms.set_memory_ro },
	/*
	 * Each arena: an address reserved at a chosen random place of the
	 * module region, as module_alloc() does but with our own
	 * [start, end), and a page set mapped there read-only and
	 * executable (free_vm_area(), exported, undoes both). The static
	 * __get_vm_area_node() (its plain name: not a clone with another
	 * signature) rather than the global __get_vm_area_caller(), which
	 * has no gfp argument: a random place already taken is tried again
	 * quietly (__GFP_NOWARN), as __vmalloc_node_range() can be asked.
	 */
	{ "__get_vm_area_node", (void **)&rr_ksyms.get_vm_area },
	{ "vmap_pages_range_noflush",
	  (void **)&rr_ksyms.vmap_pages_range_noflush },
	/*
	 * Write one trampoline word through the text-patching alias: the
	 * mover's `bl` while other CPUs run (stop_machine=0; under
	 * stop_machine() the mover writes through its own alias, move.c),
	 * and the guard's repairs (the latter under stop_machine()).
	 */
	{ "aarch64_insn_patch_text_nosync",
	  (void **)&rr_ksyms.patch_text_nosync },
	{ "aarch64_insn_patch_text", (void **)&rr_ksyms.patch_text },
	/*
	 * The guard's watchpoint handler saves the writer's stack from its
	 * pt_regs (arch_stack_walk(), noinstr, what perf uses in NMI
	 * context); printing it waits for process context.
	 */
	{ "stack_trace_save_regs", (void **)&rr_ksyms.stack_trace_save_regs },
	/*
	 * Who else writes a word of module text (writers.c): a kprobe saved
	 * the instruction under its BRK, and emulates or restores that one.
	 * Called under rcu_read_lock(), as kprobes' own handlers do.
	 */
	{ "get_kprobe", (void **)&rr_ksyms.get_kprobe },
	/*
	 * A BRK immediate of our own for poisoned originals (poison.c):
	 * the break hooks are not exported in 6.1.
	 */
	{ "register_kernel_break_hook",
	  (void **)&rr_ksyms.register_break_hook },
	{ "unregister_kernel_break_hook",
	  (void **)&rr_ksyms.unregister_break_hook },
	/*
	 * A WARN/BUG site in a copy is reported from the original's address
	 * (sites.c), as the kernel's bug_handler() does for the original.
	 */
	{ "report_bug", (void **)&rr_ksyms.report_bug },
	{ "die", (void **)&rr_ksyms.die },
	/*
	 * Static-key sites in copies (sites.c): a copy is built with every
	 * site in its key's state under jump_label_mutex, so that no toggle
	 * runs between reading the state and the copy being found by the
	 * toggle's probe.
	 */
	{ "jump_label_lock", (void **)&rr_ksyms.jump_label_lock,
	  !IS_ENABLED(CONFIG_JUMP_LABEL) },
	{ "jump_label_unlock", (void **)&rr_ksyms.jump_label_unlock,
	  !IS_ENABLED(CONFIG_JUMP_LABEL) },
	/*
	 * Never called: the only targets the guard accepts for a `bl` in a
	 * trampoline's second ftrace slot (FTRACE_ADDR, FTRACE_REGS_ADDR,
	 * or their module PLTs: arch/arm64/kernel/ftrace.c). A kernel
	 * without ftrace has neither; then no `bl` is accepted there.
	 */
	{ "ftrace_caller", (void **)&rr_ksyms.ftrace_caller, true },
	{ "ftrace_regs_caller", (void **)&rr_ksyms.ftrace_regs_caller, true },
	/* Never called: its code is decoded to find module_alloc_base. */
	{ "module_alloc", (void **)&rr_ksyms.module_alloc },
};

static unsigned long (*rr_lookup_fn(void))(const char *name)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	unsigned long (*fn)(const char *name);

	if (register_kprobe(&kp) < 0)
		return NULL;
	fn = (unsigned long (*)(const char *))kp.addr;
	unregister_kprobe(&kp);
	return fn;
}

/*
 * module_alloc() starts with `module_alloc_end = module_alloc_base + ...`:
 * among its first instructions is `adrp xN, module_alloc_base` followed by
 * `ldr xT, [xN, #:lo12:module_alloc_base]` (Debian 6.1.0-56: at +0x2c and
 * +0x34, after an unrelated adrp/ldrb pair). Each adrp/ldr pair is tried in
 * order; the first value that is a plausible region base (page aligned, in
 * the module area, below our own text by less than 2 GB) is taken.
 */
static unsigned long rr_decode_module_alloc_base(void)
{
	const u32 *insn = (const u32 *)rr_ksyms.module_alloc;
	unsigned long self = (unsigned long)THIS_MODULE->core_layout.base;
	int i, j;

	for (i = 0; i < 32; i++) {
		u32 a = READ_ONCE(insn[i]);
		unsigned long page, var, val;
		s64 imm;

		if ((a & 0x9f000000U) != 0x90000000U)	/* ADRP */
			continue;
		imm = ((a >> 29) & 3) | (((a >> 5) & 0x7ffff) << 2);
		imm = (imm << 43) >> 43;		/* sign-extend 21 bits */
		page = ((unsigned long)&insn[i] & PAGE_MASK) + (imm << 12);
		for (j = i + 1; j < i + 8 && j < 32; j++) {
			u32 l = READ_ONCE(insn[j]);

			/* LDR Xt, [Xn, #imm12 * 8] with Xn = ADRP's Xd */
			if ((l & 0xffc00000U) != 0xf9400000U ||
			    ((l >> 5) & 31) != (a & 31))
				continue;
			var = page + (((l >> 10) & 0xfff) << 3);
			val = READ_ONCE(*(unsigned long *)var);
			if (PAGE_ALIGNED(val) && val >= MODULES_VADDR &&
			    self >= val && self - val < SZ_2G)
				return val;
			break;
		}
	}
	return 0;
}

int rr_ksyms_init(void)
{
	unsigned long (*lookup)(const char *name) = rr_lookup_fn();
	int i;

	if (!lookup) {
		pr_err("cannot find kallsyms_lookup_name (kprobes off?)\n");
		return -ENOENT;
	}
	for (i = 0; i < ARRAY_SIZE(rr_ksym_list); i++) {
		*rr_ksym_list[i].addr = (void *)lookup(rr_ksym_list[i].name);
		if (!*rr_ksym_list[i].addr && !rr_ksym_list[i].optional) {
			pr_err("cannot resolve %s\n", rr_ksym_list[i].name);
			return -ENOENT;
		}
	}
	rr_ksyms.module_alloc_base = rr_decode_module_alloc_base();
	if (!rr_ksyms.module_alloc_base)
		pr_warn("module_alloc_base not found; copies go near each module instead\n");
	return 0;
}
