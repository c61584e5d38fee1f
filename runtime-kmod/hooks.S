/* SPDX-License-Identifier: GPL-2.0 */
/*
 * add_pause_list() / remove_pause_list(): the entry and exit hooks every
 * trampoline calls (linker-wrapper/src/trampoline.rs), in assembly because
 * they use a register convention, not the C one (macros-c/rerand_abi.h):
 *
 *   add_pause_list:    x9 = struct rerand_slot *; stores the ticket at
 *                      [x29, #16], in the trampoline's frame (x29 is its
 *                      frame record: sp itself in the plain shape, above
 *                      the copied stack arguments in the other); enters
 *                      the body itself (below)
 *   remove_pause_list: x9 = the same struct rerand_slot *; reads the
 *                      ticket from [x29, #16]
 *   both may clobber x9-x17 and the flags; x0-x8, x18-x29, sp and the
 *   FP/SIMD registers are preserved.
 *
 * So a trampoline passes x0-x8 to the body and x0-x7 back without saving
 * them. The algorithm is pause.c's classic SRCU with RR_ERAS counter
 * pairs: the caller bumps lock[era] of its CPU on entry and unlock[era] of
 * whatever CPU it runs on at exit. era is the low ERA_BITS of the epoch
 * copy in the entering CPU's counters (rr_set_epoch() writes every copy).
 *
 * The ticket is the epoch the caller counted in, signed with the kernel's
 * instruction key and sp as the modifier (PACIA; the task's own key, kept
 * across sleeps and migration) where the CPU has pointer authentication.
 * The exit hook signs the epoch the frame claims again and compares: a
 * ticket written by anyone else fails, and is counted nowhere (its era
 * stays open and keeps its copies: safe) and recorded in
 * rr_forged_tickets for the mover to report (vault.c). It re-signs rather
 * than AUTIA, which faults under FPAC. Without pointer authentication the
 * ticket is the plain epoch: a forged one can still pick another era of
 * the same slot (ERA_BITS), never another address. A signed value that
 * is replayed from an earlier call at the same stack depth passes; that
 * needs an arbitrary read of dead stack as well as the write.
 *
 * Which body a counted caller runs. add_pause_list() is called from
 * trampoline+32 (x30 = trampoline+36, the `bl` word the mover retargets).
 * After its increment it reads that word and the epoch again: if the
 * epoch is the one it counted in, it enters the body the word names
 * itself (BR, with x30 = trampoline+40, where the body returns as if the
 * word's `bl` had called it); if not, a new era began meanwhile, and it
 * takes the count back (an unlock of the same pair) and counts again. So
 * a caller counted in an era runs a body the `bl` named during that era,
 * however long it is delayed before the branch (preempted, interrupted):
 * the target is in a register, not read again. Each era has at most two
 * such bodies, and an era that does not drain (a caller sleeps) keeps
 * those two and nothing else, while the function moves on in the other
 * eras (move.c; docs/DESIGN.md, "Sleepers"). A word that is no `bl` (bit
 * 30 set: a kprobe's BRK) is executed instead: the hook returns to it.
 *
 * What an attacker with a write primitive can reach here: the slot is in
 * the module's .data..ro_after_init, read-only once its init has run, and
 * both hooks take it from the trampoline's own adrp/add, never from
 * writable memory; the epoch copy and the ticket are writable, and only
 * ERA_BITS of each are used. A forged value picks another of the slot's
 * counters, never another address.
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
 * (BR x16): that needs a BTI landing pad where the kernel enforces BTI,
 * and nowhere else, so HOOK_START places one only there (SYM_FUNC_START
 * would place one always, an instruction per hook and call). The body is
 * entered by BR x16 too: where the kernel enforces BTI, main.c moves only
 * functions whose body starts with a landing pad. Neither hook is
 * traceable (no patchable entry) and both are NOKPROBE (pause.c).
 */
#include <linux/linkage.h>
#include <asm/alternative.h>
#include <asm/assembler.h>

/* struct rerand_slot, struct rerand_counters and trampoline frame offsets. */
#define SLOT_COUNTERS	0
#define ERA_BITS	2	/* RR_ERAS == 1 << ERA_BITS (pause.c checks) */
#define CTR_UNLOCK	32	/* unlock[0] - lock[0] */
#define CTR_EPOCH	64
#define FRAME_TICKET	16	/* [x29, #16]: the trampoline's frame */
#define EPOCH_MASK	0xffffffffffff	/* the epoch below a PAC (< 2^48) */

	.arch_extension lse

#ifdef CONFIG_ARM64_BTI_KERNEL
#define HOOK_START(name)	SYM_FUNC_START(name)
#else
#define HOOK_START(name)	SYM_START(name, SYM_L_GLOBAL, SYM_A_ALIGN)
#endif

/* Atomically increments the counter at \addr; \tmp and \status are scratch. */
.macro	inc_counter addr, tmp, status
alternative_if_not ARM64_HAS_LSE_ATOMICS
.Lretry\@:
	ldxr	\tmp, [\addr]
	add	\tmp, \tmp, #1
	stxr	\status, \tmp, [\addr]
	cbnz	\status, .Lretry\@
alternative_else
	mov	\tmp, #1
	stadd	\tmp, [\addr]
	b	.Ldone\@		/* over the loop's last word, never run */
	nop
alternative_endif
.Ldone\@:
.endm

/* PACIA \reg, sp where the CPU has address authentication, else nothing. */
.macro	sign_ticket reg
alternative_if ARM64_HAS_ADDRESS_AUTH
	.inst	0xdac103e0 | \reg	/* pacia x\reg, sp (no -march=armv8.3-a) */
alternative_else_nop_endif
.endm

HOOK_START(add_pause_list)
	/*
	 * Never 0: a module that calls the hooks loads only with every
	 * slot filled (main.c refuses one whose table it cannot take).
	 */
	ldr	x15, [x9, #SLOT_COUNTERS]	/* __percpu counters */
	get_this_cpu_offset x10
	add	x10, x15, x10			/* this CPU's counters */
1:	ldr	x13, [x10, #CTR_EPOCH]
	ubfiz	x12, x13, #3, #ERA_BITS		/* era * 8 */
	add	x17, x10, x12			/* &lock[era] */
	/*
	 * No barrier after it: the mover pays for the ordering, with an IPI
	 * to every CPU between summing unlocks and summing locks
	 * (rr_grace_round(), docs/DESIGN.md "Ordering without barriers").
	 */
	inc_counter x17, x11, w14
	/*
	 * After the increment in program order, not in time: an IPI the
	 * mover's quiet check sends either lands after the increment (the
	 * check sees it) or before both reads (they see the new era).
	 */
	ldr	w14, [x30]			/* the trampoline's `bl` */
	ldr	x16, [x10, #CTR_EPOCH]
	cmp	x16, x13
	b.ne	2f
	sign_ticket 13
	str	x13, [x29, #FRAME_TICKET]
	tbnz	w14, #30, 3f			/* not a `bl`: run the word */
	sbfiz	x16, x14, #2, #26
	add	x16, x30, x16			/* the body it names */
	add	x30, x30, #4			/* returns past the word */
	br	x16
2:	add	x17, x17, #CTR_UNLOCK		/* a new era: take it back */
	inc_counter x17, x11, w14
	b	1b
3:	ret
SYM_FUNC_END(add_pause_list)

HOOK_START(remove_pause_list)
	ldr	x15, [x9, #SLOT_COUNTERS]	/* never 0, as above */
	ldr	x14, [x29, #FRAME_TICKET]
	and	x17, x14, #EPOCH_MASK		/* the epoch it claims */
	sign_ticket 17
	cmp	x17, x14
	b.ne	3f				/* not the entry hook's */
	ubfiz	x13, x14, #3, #ERA_BITS
	add	x15, x15, x13
	add	x15, x15, #CTR_UNLOCK		/* __percpu &unlock[era] */
	/* No barrier before it either: as in add_pause_list. */
	get_this_cpu_offset x10
	add	x10, x15, x10
	inc_counter x10, x11, w12
	ret
3:	adr_l	x10, rr_forged_tickets
	inc_counter x10, x11, w12
	adr_l	x10, rr_forged_slot
	str	x9, [x10]
	ret
SYM_FUNC_END(remove_pause_list)
