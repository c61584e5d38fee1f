/* SPDX-License-Identifier: GPL-2.0 */
/*
 * add_pause_list() / remove_pause_list(): the entry and exit hooks every
 * trampoline calls (linker-wrapper/src/trampoline.rs), in assembly because
 * they use a register convention, not the C one (macros-c/rerand_abi.h):
 *
 *   add_pause_list:    x9 = struct rerand_slot * in, x9 = ticket out
 *   remove_pause_list: x9 = ticket in
 *   both may clobber x9-x17 (but for add_pause_list's result) and the
 *   flags; x0-x8, x18-x29, sp and the FP/SIMD registers are preserved.
 *
 * So a trampoline passes x0-x8 to the body and x0-x7 back without saving
 * them. The algorithm is pause.c's classic SRCU: the caller bumps
 * lock[idx] of its CPU on entry and unlock[idx] of whatever CPU it runs on
 * at exit. slot->enter is the per-CPU address of lock[idx] for the current
 * epoch (rr_flip_epoch() moves it); the ticket is the per-CPU address of
 * the matching unlock[idx], 16 bytes further (struct rerand_counters), or
 * 0 for a slot the runtime never set up.
 *
 * Why LDXR/STXR and not this_cpu_inc(): the increment may land on another
 * CPU's counter if the caller migrates between reading TPIDR and the
 * store (no preempt_disable() here: it would cost as much as the rest).
 * An atomic increment keeps that correct, because only the sums over all
 * CPUs matter; it is an exclusive pair on a line the CPU owns in the
 * common case, never a line shared by all CPUs. An interrupt between
 * LDXR and STXR that bumps the same counter clears the exclusive monitor
 * on return, so the interrupted STXR fails and retries.
 *
 * get_this_cpu_offset reads TPIDR_EL1, or TPIDR_EL2 when the kernel runs
 * at EL2 with VHE (an alternative applied when rerand.ko loads); the "vhe"
 * scenario of cargo xtask test runs the stress callers that way.
 *
 * Both are reached by BL from module text, possibly through a module PLT
 * (BR x16): SYM_FUNC_START places the BTI landing pad. Neither is
 * traceable (no patchable entry) and both are NOKPROBE (pause.c).
 */
#include <linux/linkage.h>
#include <asm/alternative.h>
#include <asm/assembler.h>

/* struct rerand_slot and struct rerand_counters offsets. */
#define SLOT_ENTER	8
#define EXIT_FROM_ENTER	16	/* unlock[idx] - lock[idx] */

/*
 * Atomically increments this CPU's instance of the per-CPU counter at
 * \pcpu (a __percpu address); x10-x12 are scratch.
 */
.macro	inc_this_cpu pcpu
	get_this_cpu_offset x10
	add	x10, \pcpu, x10
.Lretry\@:
	ldxr	x11, [x10]
	add	x11, x11, #1
	stxr	w12, x11, [x10]
	cbnz	w12, .Lretry\@
.endm

SYM_FUNC_START(add_pause_list)
	ldr	x9, [x9, #SLOT_ENTER]	/* per-CPU &lock[idx] */
	cbz	x9, 2f
	inc_this_cpu x9
	add	x9, x9, #EXIT_FROM_ENTER
	/*
	 * B: order the lock increment before the body's memory accesses and
	 * the matching unlock. Pairs with A in rr_idx_quiet(): a checker
	 * that sees this caller's unlock also sees its lock. (That a caller
	 * headed for an old body has counted itself by the time the mover's
	 * retargeting and CPU synchronisation complete follows from program
	 * order and that synchronisation, not from B: see rr_publish_all().)
	 */
	dmb	ish
2:	ret
SYM_FUNC_END(add_pause_list)

SYM_FUNC_START(remove_pause_list)
	cbz	x9, 2f
	/*
	 * C: order every access of the body before the unlock increment.
	 * Pairs with A in rr_idx_quiet(): once the checker counts this
	 * unlock, the caller is out of the old body.
	 */
	dmb	ish
	inc_this_cpu x9
2:	ret
SYM_FUNC_END(remove_pause_list)
