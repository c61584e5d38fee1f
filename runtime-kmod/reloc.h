/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Building a body copy: the C twin of relocator/src/placement.rs.
 *
 * Pure functions, no kernel state: the same file compiles in rerand.ko and
 * in the user-space test that checks it against the Rust reference's test
 * vectors (relocator exports them; see docs/DESIGN.md).
 *
 * A copy's layout at run-time address `addr`:
 *
 *   [ body bytes (size) ][ pad to 8 ][ veneer 0 ][ veneer 1 ] ...
 *
 * A veneer is 16 bytes: `ldr x16, #8; br x16; .quad target`, emitted once per
 * distinct target, in order of first use, for CALL26/JUMP26/CONDBR19/TSTBR14
 * relocations whose target is out of the instruction's range from the copy.
 * x16 (IP0) may be clobbered across a call or tail call by the AAPCS64.
 */
#ifndef RERAND_RELOC_H
#define RERAND_RELOC_H

/* In user space (the vector test), a shim directory provides this header. */
#include <linux/types.h>

#include "rerand_abi.h"

/* ELF for the Arm 64-bit Architecture (AAELF64), 5.7.9: B and BL. */
#define RERAND_R_JUMP26 282
#define RERAND_R_CALL26 283

#define RERAND_VENEER_SIZE 16
#define RERAND_NOP 0xd503201fU

/* Errors, returned negated (as -errno values in the kernel). */
#define RERAND_EINVAL 22	/* unknown type, misaligned place, bad offset */
#define RERAND_ERANGE 34	/* out of range and no veneer possible */
#define RERAND_ENOSPC 28	/* copy buffer too small for the veneers */

/* Is this relocation type one a copy can re-apply? */
int rerand_reloc_supported(u32 type);

/* Does the type's value depend on the place (so it changes when the body moves)? */
int rerand_reloc_is_pc_relative(u32 type);

/*
 * Upper bound of a copy's size: body, padding, and a veneer for every branch
 * relocation. Allocate this much.
 */
size_t rerand_copy_max_size(u32 size, const struct rerand_reloc *relocs,
			    u32 nrelocs);

/*
 * Writes into `dst` (capacity `cap`) the copy of `pristine` (the body as
 * snapshotted at load, `size` bytes) that is correct at run-time address
 * `addr`: every place-dependent relocation re-applied, OP_NOP slots written,
 * veneers appended where branches fall out of range. Returns the copy's size
 * in bytes, or a negative RERAND_E* value; `*bad` receives the index of the
 * offending relocation on error.
 */
long rerand_build_copy(u8 *dst, size_t cap, u64 addr, const u8 *pristine,
		       u32 size, const struct rerand_reloc *relocs,
		       u32 nrelocs, u32 *bad);

/*
 * A B or BL word (`op`) from `place` to `target`; 0 if either is misaligned
 * or out of reach. In line: the mover encodes two per function and period.
 */
static inline u32 rerand_encode_branch(u32 op, u64 place, u64 target)
{
	u64 x = target - place;

	if (((place | x) & 3) || x + (1ULL << 27) >= (1ULL << 28))
		return 0;
	return op | (u32)((x >> 2) & 0x3ffffffU);
}

/* The `bl` word that calls `target` from `place`; 0 if out of range. */
static inline u32 rerand_encode_bl(u64 place, u64 target)
{
	return rerand_encode_branch(0x94000000U, place, target);
}

/* `b target` at place (JUMP26), or 0 if out of reach. */
static inline u32 rerand_encode_b(u64 place, u64 target)
{
	return rerand_encode_branch(0x14000000U, place, target);
}

/* Decodes a B or BL word's target; returns 0 if `insn` is neither. */
int rerand_decode_branch(u32 insn, u64 place, u64 *target);

#endif /* RERAND_RELOC_H */
