// SPDX-License-Identifier: GPL-2.0
/*
 * Building a body copy: the C twin of relocator/src/placement.rs and
 * relocator/src/reloc.rs. See reloc.h for the copy's layout.
 *
 * The relocation types are one table, row for row the Rust table: how X
 * is computed, which bits of X go where, the overflow check and the
 * alignment X needs ("ELF for the Arm 64-bit Architecture", aaelf64,
 * 5.7.5 and 5.7.6). relocator/tests/c_vectors.rs compiles this file in
 * user space and requires the same bytes and errors as the Rust reference.
 */
#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/types.h>
#include <linux/string.h>
#else
#include <string.h>
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#include "reloc.h"

enum { CALC_ABS, CALC_PREL, CALC_PAGE };	/* S+A, S+A-P, Page(S+A)-Page(P) */
enum { FIELD_DATA, FIELD_INSN, FIELD_ADR };
enum {
	CHECK_NONE,
	CHECK_SIGNED,	/* -2^n <= X < 2^n */
	CHECK_UNSIGNED,	/* 0 <= X < 2^n */
	CHECK_EITHER,	/* -2^(n-1) <= X < 2^n */
};

struct rtype {
	u32 number;
	u8 calc;
	u8 field;
	u8 size;	/* bytes at the place: the datum, or 4 */
	u8 lsb;		/* FIELD_INSN: the immediate's position in the word */
	u8 fbits;	/* FIELD_INSN: the immediate's width, all rewritten */
	u8 msb;		/* the field receives X bits [msb:xlsb] */
	u8 xlsb;
	u8 check;
	u8 n;
	u8 align;	/* X must be a multiple of this */
	u8 veneer;	/* an out-of-range branch may go through a veneer */
};

#define DATA(num, calc, bytes, msb, check, n) \
	{ num, calc, FIELD_DATA, bytes, 0, 0, msb, 0, check, n, 1, 0 }
#define INSN(num, calc, lsb, fbits, msb, xlsb, check, n, align) \
	{ num, calc, FIELD_INSN, 4, lsb, fbits, msb, xlsb, check, n, align, 0 }
#define ADR(num, calc, msb, xlsb, check, n) \
	{ num, calc, FIELD_ADR, 4, 0, 0, msb, xlsb, check, n, 1, 0 }
#define BRANCH(num, lsb, fbits, msb, n) \
	{ num, CALC_PREL, FIELD_INSN, 4, lsb, fbits, msb, 2, CHECK_SIGNED, n, 4, 1 }
#define MOVW(num, msb, xlsb, check, n) \
	INSN(num, CALC_ABS, 5, 16, msb, xlsb, check, n, 1)
#define LO12(num, xlsb, align) \
	INSN(num, CALC_ABS, 10, 12, 11, xlsb, CHECK_NONE, 0, align)

static const struct rtype rtypes[] = {
	/* aaelf64 5.7.5, "Data relocations" */
	DATA(257, CALC_ABS, 8, 63, CHECK_NONE, 0),		/* ABS64 */
	DATA(258, CALC_ABS, 4, 31, CHECK_EITHER, 32),	/* ABS32 */
	DATA(259, CALC_ABS, 2, 15, CHECK_EITHER, 16),	/* ABS16 */
	DATA(260, CALC_PREL, 8, 63, CHECK_NONE, 0),		/* PREL64 */
	DATA(261, CALC_PREL, 4, 31, CHECK_SIGNED, 31),	/* PREL32 */
	DATA(262, CALC_PREL, 2, 15, CHECK_SIGNED, 15),	/* PREL16 */
	/* aaelf64 5.7.6, unsigned inline group relocations (MOVZ/MOVK) */
	MOVW(263, 15, 0, CHECK_UNSIGNED, 16),		/* MOVW_UABS_G0 */
	MOVW(264, 15, 0, CHECK_NONE, 0),		/* MOVW_UABS_G0_NC */
	MOVW(265, 31, 16, CHECK_UNSIGNED, 32),		/* MOVW_UABS_G1 */
	MOVW(266, 31, 16, CHECK_NONE, 0),		/* MOVW_UABS_G1_NC */
	MOVW(267, 47, 32, CHECK_UNSIGNED, 48),		/* MOVW_UABS_G2 */
	MOVW(268, 47, 32, CHECK_NONE, 0),		/* MOVW_UABS_G2_NC */
	MOVW(269, 63, 48, CHECK_NONE, 0),		/* MOVW_UABS_G3 */
	/* aaelf64 5.7.6, 19, 21 and 33 bit PC-relative addresses */
	INSN(273, CALC_PREL, 5, 19, 20, 2, CHECK_SIGNED, 20, 4), /* LD_PREL_LO19 */
	ADR(274, CALC_PREL, 20, 0, CHECK_SIGNED, 20),	/* ADR_PREL_LO21 */
	ADR(275, CALC_PAGE, 32, 12, CHECK_SIGNED, 32),	/* ADR_PREL_PG_HI21 */
	ADR(276, CALC_PAGE, 32, 12, CHECK_NONE, 0),	/* ADR_PREL_PG_HI21_NC */
	LO12(277, 0, 1),					/* ADD_ABS_LO12_NC */
	LO12(278, 0, 1),					/* LDST8_ABS_LO12_NC */
	/* aaelf64 5.7.6, control-flow instructions */
	BRANCH(279, 5, 14, 15, 15),				/* TSTBR14 */
	BRANCH(280, 5, 19, 20, 20),				/* CONDBR19 */
	BRANCH(RERAND_R_JUMP26, 0, 26, 27, 27),
	BRANCH(RERAND_R_CALL26, 0, 26, 27, 27),
	LO12(284, 1, 2),					/* LDST16_ABS_LO12_NC */
	LO12(285, 2, 4),					/* LDST32_ABS_LO12_NC */
	LO12(286, 3, 8),					/* LDST64_ABS_LO12_NC */
	LO12(299, 4, 16),					/* LDST128_ABS_LO12_NC */
};

/* ADR and ADRP share an encoding; bit 31 tells them apart. */
#define ADR_CLASS_MASK	0x1f000000U
#define ADR_CLASS	0x10000000U
#define ADRP_BIT	0x80000000U

#define VENEER_LDR_X16	0x58000050U	/* ldr x16, #8 */
#define VENEER_BR_X16	0xd61f0200U	/* br x16 */

/*
 * Binary search: rtypes[] is sorted by number (c_vectors.rs asks for every
 * type from 0 to 320, so a row out of order fails the test). Every copy
 * looks up each of its relocations: with a linear scan and out-of-line
 * field access that was a quarter of a move (bench/REPORT.md, 3).
 */
static __always_inline const struct rtype *lookup(u32 type)
{
	size_t lo = 0, hi = ARRAY_SIZE(rtypes), mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (rtypes[mid].number == type)
			return &rtypes[mid];
		if (rtypes[mid].number < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static __always_inline u64 low_mask(unsigned int width)
{
	return width >= 64 ? ~0ULL : (1ULL << width) - 1;
}

/*
 * Fields are 2, 4 or 8 bytes, little-endian, at any byte alignment (data
 * relocations). Fixed-size memcpy() compiles to one load or store.
 */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "reloc.c reads and writes fields as little-endian native words"
#endif

static __always_inline u64 get_le(const u8 *p, unsigned int n)
{
	u64 v8;
	u32 v4;
	u16 v2;

	switch (n) {
	case 8:
		memcpy(&v8, p, 8);
		return v8;
	case 4:
		memcpy(&v4, p, 4);
		return v4;
	default:
		memcpy(&v2, p, 2);
		return v2;
	}
}

static __always_inline void put_le(u8 *p, unsigned int n, u64 v)
{
	u32 v4 = (u32)v;
	u16 v2 = (u16)v;

	switch (n) {
	case 8:
		memcpy(p, &v, 8);
		break;
	case 4:
		memcpy(p, &v4, 4);
		break;
	default:
		memcpy(p, &v2, 2);
	}
}

static __always_inline s64 reloc_value(const struct rtype *t, u64 place, u64 target)
{
	switch (t->calc) {
	case CALC_PREL:
		return (s64)(target - place);
	case CALC_PAGE:
		return (s64)((target & ~0xfffULL) - (place & ~0xfffULL));
	default:
		return (s64)target;
	}
}

static __always_inline int fits(const struct rtype *t, s64 x)
{
	switch (t->check) {
	case CHECK_SIGNED:
		return x >= -(1LL << t->n) && x < (1LL << t->n);
	case CHECK_UNSIGNED:
		return (u64)x < (1ULL << t->n);
	case CHECK_EITHER:
		return x >= -(1LL << (t->n - 1)) && x < (1LL << t->n);
	default:
		return 1;
	}
}

/*
 * Writes X into the field at p (avail bytes left in the body). The checks
 * run in the Rust reference's order, so both report the same error.
 */
static __always_inline int put_field(const struct rtype *t, u8 *p,
				     size_t avail, u64 place, s64 x)
{
	u64 old, imm, val;

	if (avail < t->size)
		return -RERAND_EINVAL;
	if (t->field != FIELD_DATA && (place & 3))
		return -RERAND_EINVAL;
	old = get_le(p, t->size);
	/*
	 * The module loader replaces an ADRP at page offset 0xff8/0xffc with
	 * a branch to a veneer (erratum 843419): the register is lost.
	 */
	if (t->calc == CALC_PAGE && (old & ADR_CLASS_MASK) != ADR_CLASS)
		return -RERAND_EINVAL;
	if ((u64)x & (t->align - 1))
		return -RERAND_EINVAL;
	if (!fits(t, x))
		return -RERAND_ERANGE;
	imm = ((u64)x >> t->xlsb) & low_mask(t->msb - t->xlsb + 1);
	switch (t->field) {
	case FIELD_INSN:
		val = (old & ~(low_mask(t->fbits) << t->lsb)) | (imm << t->lsb);
		break;
	case FIELD_ADR:
		val = (old & ~((3ULL << 29) | (0x7ffffULL << 5))) |
		      ((imm & 3) << 29) | ((imm >> 2) << 5);
		/* ... or with an ADR, which a copy elsewhere turns back. */
		if (t->calc == CALC_PAGE)
			val |= ADRP_BIT;
		break;
	default:
		val = imm;
	}
	put_le(p, t->size, val);
	return 0;
}

int rerand_reloc_supported(u32 type)
{
	return type == RERAND_OP_NOP || type == RERAND_OP_BUG || lookup(type);
}

int rerand_reloc_is_pc_relative(u32 type)
{
	const struct rtype *t = lookup(type);

	return t && t->calc != CALC_ABS;
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

size_t rerand_copy_max_size(u32 size, const struct rerand_reloc *relocs,
			    u32 nrelocs)
{
	size_t branches = 0;
	const struct rtype *t;
	u32 i;

	for (i = 0; i < nrelocs; i++) {
		t = lookup(relocs[i].type);
		if (t && t->veneer)
			branches++;
	}
	if (!branches)
		return size;
	return pad8(size) + branches * RERAND_VENEER_SIZE;
}

/*
 * Offset of the veneer to target in dst, creating it; 0 if out of space
 * (never a real offset: a body holding a branch is not empty).
 */
static size_t veneer_for(u8 *dst, size_t cap, u32 size, size_t *nveneers,
			 u64 target)
{
	size_t off = pad8(size);
	size_t i;

	for (i = 0; i < *nveneers; i++, off += RERAND_VENEER_SIZE)
		if (get_le(dst + off + 8, 8) == target)
			return off;
	if (off + RERAND_VENEER_SIZE > cap)
		return 0;
	if (!*nveneers)
		memset(dst + size, 0, off - size);
	put_le(dst + off, 4, VENEER_LDR_X16);
	put_le(dst + off + 4, 4, VENEER_BR_X16);
	put_le(dst + off + 8, 8, target);
	(*nveneers)++;
	return off;
}

/*
 * The three kinds bodies are made of (bfq: 465 CALL26, 330 ftrace NOPs,
 * 140 ADRP in 165 functions), in line: a move applies every one of them
 * again. Anything unusual (misaligned, out of range, a veneer, an error)
 * returns 0 and takes the table's way below, which reports the error.
 * The vectors test both ways against the Rust reference alike.
 */
static __always_inline int apply_common(u32 type, u8 *p, u64 place, u64 target)
{
	s64 x = (s64)(target - place);
	u32 old;

	/*
	 * Three in four records a move applies (bfq): tested first, and in
	 * one test: x + 2^27 has bits 0-1 clear (aligned) and 28-63 clear
	 * (+-128 MB), and the place's bits 0-1, shifted to 62-63, are clear.
	 */
	if (type - RERAND_R_JUMP26 <= RERAND_R_CALL26 - RERAND_R_JUMP26) {
		if ((((u64)x + (1ULL << 27)) | (place << 62)) &
		    0xfffffffff0000003ULL)
			return 0;
		old = (u32)get_le(p, 4);
		put_le(p, 4, (old & 0xfc000000U) | (((u64)x >> 2) & 0x3ffffffU));
		return 1;
	}
	if (place & 3)
		return 0;
	switch (type) {
	case RERAND_OP_NOP:
		put_le(p, 4, RERAND_NOP);
		return 1;
	case RERAND_OP_BUG:	/* its immediate is the runtime's (sites.c) */
		return 1;
	case 275:	/* ADR_PREL_PG_HI21 */
		old = (u32)get_le(p, 4);
		x = (s64)((target & ~0xfffULL) - (place & ~0xfffULL));
		if ((old & ADR_CLASS_MASK) != ADR_CLASS ||
		    x < -(1LL << 32) || x >= (1LL << 32))
			return 0;
		x >>= 12;
		put_le(p, 4, (old & ~((3U << 29) | (0x7ffffU << 5))) |
			     ((u32)(x & 3) << 29) | ((u32)((x >> 2) & 0x7ffff) << 5) |
			     ADRP_BIT);
		return 1;
	}
	return 0;
}

/*
 * A CALL26 or JUMP26 that cannot reach its target from the copy (a call
 * into the kernel from a module region out of its reach: bfq, 1.4 per
 * copy), through a veneer, without the table: what the table's way below
 * does once apply_common() found the branch out of range. Anything else
 * (a misaligned target, no room, a veneer out of reach) returns 0 and
 * takes that way, which finds the veneer made here and reports the error.
 */
static __always_inline int branch_via_veneer(u8 *dst, size_t cap, u32 size,
					     u64 addr, u64 place,
					     size_t *nveneers, u64 target,
					     u8 *p)
{
	size_t off;
	s64 x;

	if (target & 3)
		return 0;
	off = veneer_for(dst, cap, size, nveneers, target);
	if (!off)
		return 0;
	x = (s64)(addr + off - place);
	if (x < -(1LL << 27) || x >= (1LL << 27))
		return 0;
	put_le(p, 4, ((u32)get_le(p, 4) & 0xfc000000U) |
		     (((u64)x >> 2) & 0x3ffffffU));
	return 1;
}

/*
 * The rest of a copy's relocations from @from on, the first one
 * apply_common() did not take: any type, veneers, errors.
 */
static long build_rest(u8 *dst, size_t cap, u64 addr, u32 size,
		       const struct rerand_reloc *relocs, u32 nrelocs,
		       u32 from, u32 *bad)
{
	const struct rtype *t;
	size_t nveneers = 0;
	size_t at, off;
	u64 place;
	u32 i;
	int rc;

	for (i = from; i < nrelocs; i++) {
		place = addr + relocs[i].offset;
		if ((u64)relocs[i].offset + 4 <= size &&
		    apply_common(relocs[i].type, dst + relocs[i].offset, place,
				 relocs[i].target))
			continue;
		*bad = i;
		if ((relocs[i].type == RERAND_R_CALL26 ||
		     relocs[i].type == RERAND_R_JUMP26) &&
		    (u64)relocs[i].offset + 4 <= size && !(place & 3) &&
		    branch_via_veneer(dst, cap, size, addr, place, &nveneers,
				      relocs[i].target, dst + relocs[i].offset))
			continue;
		at = relocs[i].offset < size ? relocs[i].offset : size;
		if (relocs[i].type == RERAND_OP_NOP ||
		    relocs[i].type == RERAND_OP_BUG) {
			if (size - at < 4 || (place & 3))
				return -RERAND_EINVAL;
			/* A WARN/BUG site's immediate is the runtime's (sites.c). */
			if (relocs[i].type == RERAND_OP_NOP)
				put_le(dst + at, 4, RERAND_NOP);
			continue;
		}
		t = lookup(relocs[i].type);
		if (!t)
			return -RERAND_EINVAL;
		rc = put_field(t, dst + at, size - at, place,
			       reloc_value(t, place, relocs[i].target));
		if (rc == -RERAND_ERANGE && t->veneer) {
			off = veneer_for(dst, cap, size, &nveneers,
					 relocs[i].target);
			if (!off)
				return -RERAND_ENOSPC;
			rc = put_field(t, dst + at, size - at, place,
				       reloc_value(t, place, addr + off));
		}
		if (rc)
			return rc;
	}
	return nveneers ? pad8(size) + nveneers * RERAND_VENEER_SIZE : size;
}

/*
 * The copy, and the common relocations in a loop with nothing on the
 * stack (no veneer count whose address is taken, so no stack canary): the
 * first record it does not take hands the rest to build_rest().
 */
long rerand_build_copy(u8 *dst, size_t cap, u64 addr, const u8 *pristine,
		       u32 size, const struct rerand_reloc *relocs,
		       u32 nrelocs, u32 *bad)
{
	u64 place;
	u32 i;

	if (size > cap) {
		*bad = nrelocs;
		return -RERAND_ENOSPC;
	}
	memcpy(dst, pristine, size);
	if (size < 4)
		return build_rest(dst, cap, addr, size, relocs, nrelocs, 0, bad);
	for (i = 0; i < nrelocs; i++) {
		const struct rerand_reloc *r = &relocs[i];

		place = addr + r->offset;
		if (r->offset > size - 4 ||
		    !apply_common(r->type, dst + r->offset, place, r->target))
			return build_rest(dst, cap, addr, size, relocs,
					  nrelocs, i, bad);
	}
	return size;
}

int rerand_decode_branch(u32 insn, u64 place, u64 *target)
{
	s64 imm = (s64)((u64)(insn & 0x03ffffffU) << 38) >> 36;

	if ((insn & 0x7c000000U) != 0x14000000U)
		return 0;
	*target = place + (u64)imm;
	return 1;
}
