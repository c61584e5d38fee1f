/* SPDX-License-Identifier: GPL-2.0 */
/*
 * add_pause_list() / remove_pause_list(): the entry and exit hooks every
 * trampoline calls (linker-wrapper/src/trampoline.rs), in assembly because
 * they use a register convention, not the C one (macros-c/rerand_abi.h):
 *
 *   add_pause_list:    x9 = struct rerand_slot *; stores the ticket at
 *                      [sp, #16], in the trampoline's frame
 *   remove_pause_list: x9 = the same struct rerand_slot *; reads the
 *                      ticket from [sp, #16]
 *   both may clobber x9-x17 and the flags; x0-x8, x18-x29, sp and the
 *   FP/SIMD registers are preserved.
 *
 * So a trampoline passes x0-x8 to the body and x0-x7 back without saving
 * them. The algorithm is pause.c's classic SRCU: the caller bumps
 * lock[idx] of its CPU on entry and unlock[idx] of whatever CPU it runs on
 * at exit. idx is the low bit of the epoch copy in the entering CPU's
 * counters (rr_flip_epoch() moves every copy); the ticket is idx * 8.
 *
 * What an attacker with a write primitive can reach here: the slot is in
 * the module's .data..ro_after_init, read-only once its init has run, and
 * both hooks take it from the trampoline's own adrp/add, never from
 * writable memory; the epoch copy and the ticket are writable, and only
 * one bit of each is used. A forged value picks the slot's other counter,
 * never another address.
 *
 * Why an atomic increment and not this_cpu_inc(): the increment may land
 * on another CPU's counter if the caller migrates between reading TPIDR
 * and the store (no preempt_disable() here: it would cost as much as the
 * rest). An atomic increment keeps that correct, because only the sums
 * over all CPUs matter, and it touches a line the CPU owns in the common
 * case, never a line shared by all CPUs. Where the CPU has LSE atomics it
 * is one STADD (chosen when rerand.ko loads, through the kernel's
 * alternatives, as the kernel's own atomics are: QEMU's max has them);
 * elsewhere (cortex-a57) an LDXR/STXR loop: an interrupt between LDXR and
 * STXR that bumps the same counter clears the exclusive monitor on
 * return, so the interrupted STXR fails and retries.
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

/* struct rerand_slot, struct rerand_counters and trampoline frame offsets. */
#define SLOT_COUNTERS	0
#define CTR_UNLOCK	16	/* unlock[0] - lock[0] */
#define CTR_EPOCH	32
#define FRAME_TICKET	16	/* [sp, #16]: the trampoline's frame */

	.arch_extension lse

/* Atomically increments the counter at \addr; x11-x12 are scratch. */
.macro	inc_counter addr
alternative_if_not ARM64_HAS_LSE_ATOMICS
.Lretry\@:
	ldxr	x11, [\addr]
	add	x11, x11, #1
	stxr	w12, x11, [\addr]
	cbnz	w12, .Lretry\@
alternative_else
	mov	x11, #1
	stadd	x11, [\addr]
	b	.Ldone\@		/* over the loop's last word, never run */
	nop
alternative_endif
.Ldone\@:
.endm

SYM_FUNC_START(add_pause_list)
	ldr	x9, [x9, #SLOT_COUNTERS]	/* __percpu counters */
	cbz	x9, 2f
	get_this_cpu_offset x10
	add	x10, x9, x10			/* this CPU's counters */
	ldr	x13, [x10, #CTR_EPOCH]
	ubfiz	x13, x13, #3, #1		/* ticket: idx * 8 */
	str	x13, [sp, #FRAME_TICKET]
	add	x10, x10, x13			/* &lock[idx] */
	/*
	 * No barrier after it: the mover pays for the ordering, with an IPI
	 * to every CPU between summing unlocks and summing locks
	 * (rr_grace_round(), docs/DESIGN.md "Ordering without barriers").
	 */
	inc_counter x10
2:	ret
SYM_FUNC_END(add_pause_list)

SYM_FUNC_START(remove_pause_list)
	ldr	x9, [x9, #SLOT_COUNTERS]
	cbz	x9, 2f
	ldr	x13, [sp, #FRAME_TICKET]
	and	x13, x13, #8			/* whatever the frame holds */
	add	x9, x9, x13
	add	x9, x9, #CTR_UNLOCK		/* __percpu &unlock[idx] */
	/* No barrier before it either: as in add_pause_list. */
	get_this_cpu_offset x10
	add	x10, x9, x10
	inc_counter x10
2:	ret
SYM_FUNC_END(remove_pause_list)
