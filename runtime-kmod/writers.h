/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The other writers of module text (writers.c): what kprobes and ftrace
 * may write into a trampoline or a body, and how the runtime reads past it.
 */
#ifndef RERAND_WRITERS_H
#define RERAND_WRITERS_H

#include <linux/types.h>
#include <asm/debug-monitors.h>

struct rr_module;
struct rr_func;

#define RR_INSN_NOP	0xd503201fU
#define RR_INSN_MOV_X9	0xaa1e03e9U	/* mov x9, x30: ftrace's first slot */

/* rerand-ld's trampolines: the ftrace entry slots (docs/DESIGN.md). */
/*
 * The trap rerand writes where no code of its own may run: poisoned
 * originals, arena gaps, dropped copies (poison.c reports reaching one).
 * Not one of asm/brk-imm.h's: ours alone, so our break hook is the one called.
 */
#define RR_POISON_BRK_IMM	0x0e0e
#define RR_POISON_INSN		(AARCH64_BREAK_MON | (RR_POISON_BRK_IMM << 5))

#define RR_FTRACE_SLOT0	4
#define RR_FTRACE_SLOT1	8

static inline bool rr_is_bl(u32 insn)
{
	return (insn & 0xfc000000U) == 0x94000000U;
}

u32 rr_text_word(const void *addr);
bool rr_kprobe_owns(const void *addr);
void rr_read_text(u8 *buf, const void *addr, size_t len);
void rr_read_trampoline(u8 *buf, const void *addr, size_t len);
void rr_kprobes_settle(void);
/* Who owns a trampoline's `bl` word this period (rr_call_word_owner()). */
enum rr_word {
	RR_WORD_OURS,		/* the `bl` the runtime wrote last */
	RR_WORD_KPROBE,		/* a kprobe is registered on it */
	RR_WORD_STALE,		/* an older `bl` of ours, written back */
	RR_WORD_FOREIGN,	/* anything else: the guard's business */
};

#define RR_SURVEY_SYNCED	1	/* a kprobe's saved `bl` brought up to date */
#define RR_SURVEY_STALE		2	/* an older `bl` of ours is back */
unsigned int rr_writers_survey(struct rr_module *m, bool again);
u8 *rr_text_alias(unsigned long lo, unsigned int npages, int *err);
void rr_text_unalias(u8 *map, unsigned int npages);

#endif /* RERAND_WRITERS_H */
