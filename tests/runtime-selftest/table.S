/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hand-written rerand table, trampolines and bodies, standing in for what
 * rerand-ld will emit (docs/DESIGN.md, macros-c/rerand_abi.h), so the
 * runtime can be tested before the linker wrapper exists.
 *
 *   st_calc(x)      = st_helper(x) + 1    CALL26 to a module function
 *   st_read(x)      = x + st_global       ADRP/ADD and ADRP/LDR lo12
 *   st_pair(a, b)   = { a + b, a - b }    16-byte result in x0:x1
 *   st_big(&r, x)   = { x, x + 1, x + 2 } 24-byte result through x8
 *   st_nap(ms)      = msleep(ms), ms      CALL26 to the kernel (veneer),
 *                                         a caller that sleeps inside
 */
#include <linux/linkage.h>

#define R_ABS64			257
#define R_ADR_PREL_PG_HI21	275
#define R_ADD_ABS_LO12_NC	277
#define R_LDST64_ABS_LO12_NC	286
#define R_CALL26		283

/*
 * The trampoline of docs/DESIGN.md (linker-wrapper/src/trampoline.rs) less
 * its ftrace NOPs; the hooks' register convention is in rerand_abi.h.
 */
.macro TRAMP name, slot
	.pushsection .text.rerand.tramp, "ax"
	.balign 8
	.globl \name
	.type \name, %function
\name:
	hint	#34			/* bti c */
	hint	#25			/* paciasp */
	stp	x29, x30, [sp, #-32]!
	mov	x29, sp
	adrp	x9, \slot
	add	x9, x9, :lo12:\slot
	bl	add_pause_list		/* ticket to [x29, #16] */
.Lcall_\name:
	bl	\name\()_real
	adrp	x9, \slot
	add	x9, x9, :lo12:\slot
	bl	remove_pause_list	/* ticket from [x29, #16] */
	ldp	x29, x30, [sp], #32
	hint	#29			/* autiasp */
	ret
	.size \name, . - \name
	.popsection
.endm

/* struct rerand_func */
.macro FUNC name, first, n
	.quad	\name
	.quad	\name\()_real
	.long	\name\()_real_end - \name\()_real	/* size */
	.long	16					/* align */
	.long	.Lcall_\name - \name			/* call_offset */
	.long	\first, \n, 0
.endm

/* struct rerand_reloc */
.macro RELOC target, offset, type
	.quad	\target
	.long	\offset, \type
.endm

	.text
	.balign 16
st_calc_real:
	hint	#25			/* paciasp: signs against sp, not pc */
	stp	x29, x30, [sp, #-16]!
	mov	x29, sp
.Lcalc_bl:
	bl	st_helper
	add	x0, x0, #1
	ldp	x29, x30, [sp], #16
	hint	#29
	ret
st_calc_real_end:

	.balign 16
st_read_real:
.Lread_adrp1:
	adrp	x1, st_global
.Lread_add:
	add	x1, x1, :lo12:st_global
	ldr	x1, [x1]
	add	x0, x0, x1
.Lread_adrp2:
	adrp	x2, st_global2
.Lread_ldr:
	ldr	x2, [x2, :lo12:st_global2]
	add	x0, x0, x2
	ret
st_read_real_end:

	.balign 16
st_pair_real:
	add	x2, x0, x1
	sub	x1, x0, x1
	mov	x0, x2
	ret
st_pair_real_end:

	.balign 16
st_big_real:
	str	x0, [x8]
	add	x1, x0, #1
	str	x1, [x8, #8]
	add	x1, x0, #2
	str	x1, [x8, #16]
	ret
st_big_real_end:

	.balign 16
st_nap_real:
	stp	x29, x30, [sp, #-32]!
	mov	x29, sp
	str	x19, [sp, #16]
	mov	x19, x0
.Lnap_bl:
	bl	msleep
	mov	x0, x19
	ldr	x19, [sp, #16]
	ldp	x29, x30, [sp], #32
	ret
st_nap_real_end:

	TRAMP	st_calc, st_slots + 0
	TRAMP	st_read, st_slots + 16
	TRAMP	st_pair, st_slots + 32
	TRAMP	st_big, st_slots + 48
	TRAMP	st_nap, st_slots + 64

	.section .rerand.table, "a"
	.balign 8
st_table:
	.quad	0x31424154444e5252	/* RERAND_TABLE_MAGIC */
	.quad	st_table		/* self_addr */
	.long	4, 72, 40, 16		/* version (RERAND_ABI_VERSION), header/func/reloc sizes */
	.long	5, 6, 0, 0		/* nfuncs, nrelocs, nexcluded, flags */
	.quad	st_funcs, st_relocs, st_slots
st_funcs:
	FUNC	st_calc, 0, 1
	FUNC	st_read, 1, 4
	FUNC	st_pair, 5, 0
	FUNC	st_big, 5, 0
	FUNC	st_nap, 5, 1
st_relocs:
	RELOC	st_helper, .Lcalc_bl - st_calc_real, R_CALL26
	RELOC	st_global, .Lread_adrp1 - st_read_real, R_ADR_PREL_PG_HI21
	RELOC	st_global, .Lread_add - st_read_real, R_ADD_ABS_LO12_NC
	RELOC	st_global2, .Lread_adrp2 - st_read_real, R_ADR_PREL_PG_HI21
	RELOC	st_global2, .Lread_ldr - st_read_real, R_LDST64_ABS_LO12_NC
	RELOC	msleep, .Lnap_bl - st_nap_real, R_CALL26

	/* Read-only after init, as rerand-ld places them (rerand_abi.h). */
	.section .data..ro_after_init, "aw"
	.balign 8
st_slots:
	.zero	5 * 16
