// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture for relocator/tests/oracle_ld.rs: compiled with
 * aarch64-linux-gnu-gcc -O2 -ffunction-sections -fno-pic -mcmodel=small,
 * linked by GNU ld at random section addresses, and compared with the
 * copies placement.rs builds from the unlinked bytes.
 *
 * The C functions give what the compiler emits for kernel code (calls,
 * tail calls, ADRP+ADD/LDR to globals, a jump table, a loop). asm_mix adds
 * the relocation types GCC rarely emits at -mcmodel=small; its short-range
 * references (TBZ, CBZ, B.cond, LDR literal, ADR, PREL16) go to near_target
 * and near_lit, which the test places within their range.
 */

extern int ext_func(int x);
extern int ext_data;

int counter;
static int table[64];
int scale = 3;

const unsigned long near_lit
	__attribute__((section(".rodata.near_lit"), aligned(16))) = 42;
unsigned char far_data[64]
	__attribute__((section(".data.far_data"), aligned(16)));

__attribute__((noinline)) int helper(int x)
{
	return x * scale + counter;
}

__attribute__((noinline)) int use_switch(int x)
{
	switch (x) {
	case 0:
		return helper(1);
	case 1:
		return ext_func(2);
	case 2:
		return table[3];
	case 3:
		return counter + 7;
	case 4:
		return helper(x) * 5;
	case 5:
		return far_data[x];
	case 6:
		return ext_data;
	case 7:
		return (int)near_lit;
	default:
		return -1;
	}
}

__attribute__((noinline)) int loop_sum(int n)
{
	int s = 0;
	int i;

	for (i = 0; i < n; i++) {
		s += table[i & 63] + ext_func(i);
		table[(i * 7) & 63] = s;
	}
	return s;
}

__attribute__((noinline)) int tail(int x)
{
	return ext_func(x + 1);
}

__attribute__((noinline)) int caller(int x)
{
	counter++;
	return helper(x) + use_switch(x) + loop_sum(x) + ext_data + tail(x);
}

__attribute__((noinline)) void near_target(void)
{
	counter += 2;
}

asm(".pushsection .text.asm_mix, \"ax\", %progbits\n"
    ".globl asm_mix\n"
    ".type asm_mix, %function\n"
    ".p2align 2\n"
    "asm_mix:\n"
    "	tbz	x0, #3, near_target\n"
    "	tbnz	w0, #31, near_target\n"
    "	cbz	x0, near_target\n"
    "	b.ne	near_target\n"
    "	ldr	x1, near_lit\n"
    "	ldr	w1, near_lit + 8\n"
    "	adr	x2, near_lit\n"
    "	adr	x2, near_lit + 3\n"
    "	adrp	x3, far_data\n"
    "	adrp	x3, ext_data\n"
    "	adrp	x3, :pg_hi21_nc:far_data\n"
    "	ldrb	w4, [x3, #:lo12:far_data + 1]\n"
    "	ldrh	w4, [x3, #:lo12:far_data + 2]\n"
    "	ldr	w4, [x3, #:lo12:far_data + 4]\n"
    "	ldr	x4, [x3, #:lo12:far_data + 8]\n"
    "	ldr	q4, [x3, #:lo12:far_data + 16]\n"
    "	add	x3, x3, #:lo12:far_data + 5\n"
    "	movz	x5, #:abs_g3:far_data\n"
    "	movk	x5, #:abs_g2_nc:far_data\n"
    "	movk	x5, #:abs_g1_nc:far_data\n"
    "	movk	x5, #:abs_g0_nc:far_data\n"
    "	movz	x6, #:abs_g2:small_sym\n"
    "	movk	x6, #:abs_g1:small_sym\n"
    "	movk	x6, #:abs_g0:small_sym\n"
    "	bl	ext_func\n"
    "	bl	helper\n"
    "	b	caller\n"
    "	.p2align 3\n"
    "	.quad	far_data + 8\n"
    "	.quad	ext_func - .\n"
    "	.word	small_sym\n"
    "	.word	near_target - .\n"
    "	.hword	small_sym\n"
    "	.hword	near_lit - .\n"
    ".size asm_mix, . - asm_mix\n"
    ".popsection\n");
