/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rerand table ABI, version 4.
 *
 * GENERATED from relocator/src/abi.rs by `cargo xtask gen-header`; a test
 * fails if this copy differs. Edit the Rust file, not this one.
 *
 * rerand-ld writes, per processed object, into section ".rerand.table": a
 * struct rerand_table_header, then nfuncs struct rerand_func, then nrelocs
 * struct rerand_reloc. Pointer fields carry R_AARCH64_ABS64 relocations, so
 * the module loader fills in run-time addresses; self_addr equals the
 * header's own address once relocated. ".data..ro_after_init" holds one struct
 * rerand_slot per function, zero at load, owned by the runtime.
 */
#ifndef RERAND_ABI_H
#define RERAND_ABI_H

#include <linux/types.h>

#define RERAND_ABI_VERSION 4
#define RERAND_TABLE_MAGIC 0x31424154444e5252ULL /* "RRNDTAB1" */
#define RERAND_TABLE_SECTION ".rerand.table"
#define RERAND_SLOTS_SECTION ".data..ro_after_init"
#define RERAND_TRAMPOLINE_SECTION ".text.rerand.tramp"
#define RERAND_EXCLUDED_SECTION ".note.rerand.excluded"

/* Pseudo relocation: write a NOP at offset (ftrace entry slot). */
#define RERAND_OP_NOP 0x8001
/*
 * Pseudo relocation: the word at offset is a WARN/BUG site (brk #0x800,
 * RERAND_BUG_BRK, with a __bug_table entry); the runtime gives copies a
 * brk of its own there.
 */
#define RERAND_OP_BUG 0x8002
#define RERAND_BUG_BRK 0xd4210000U

/*
 * The hooks the trampolines call, exported by rerand.ko. A register
 * convention, not C functions:
 *   add_pause_list:    x9 = struct rerand_slot * in; stores a ticket
 *                      at [x29, #16] (the trampoline's frame); called
 *                      from the word just before the `bl` to the body,
 *                      it enters that body itself (x30 = the word after
 *                      the `bl`);
 *   remove_pause_list: x9 = the same struct rerand_slot * in; reads the
 *                      ticket from [x29, #16];
 * both may clobber x9-x17 and the flags, and preserve x0-x8, x18-x29, sp
 * and the FP/SIMD registers.
 */
#define RERAND_ENTER_HOOK "add_pause_list"
#define RERAND_EXIT_HOOK "remove_pause_list"

#define RERAND_FUNC_FTRACE_SLOTS 0x1
#define RERAND_FUNC_ANNOTATED 0x2

struct rerand_table_header {
	__u64 magic;
	__u64 self_addr;
	__u32 version;
	__u32 header_size;
	__u32 func_size;
	__u32 reloc_size;
	__u32 nfuncs;
	__u32 nrelocs;
	__u32 nexcluded;
	__u32 flags;
	__u64 funcs;
	__u64 relocs;
	__u64 slots;
};

struct rerand_func {
	__u64 trampoline;
	__u64 body;
	__u32 size;
	__u32 align;
	__u32 call_offset;
	__u32 first_reloc;
	__u32 nrelocs;
	__u32 flags;
};

struct rerand_reloc {
	__u64 target;
	__u32 offset;
	__u32 type;
};

/*
 * Owned by the runtime; only its hooks read it; read-only after the
 * module's init. counters: per-CPU address of the function's counters,
 * zero in the file; the runtime fills every slot at MODULE_STATE_COMING
 * or refuses the module, so the hooks never see a zero.
 */
struct rerand_slot {
	__u64 counters;
	__u64 reserved;
};

#define RERAND_HEADER_SIZE 72
#define RERAND_FUNC_SIZE 40
#define RERAND_RELOC_SIZE 16
#define RERAND_SLOT_SIZE 16

#endif /* RERAND_ABI_H */
