/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Functions the kernel looks up by PC, which must move all the same: WARN
 * and BUG sites (__bug_table), uaccess fixups (__ex_table), static keys and
 * tracepoints (__jump_table). Each returns a closed form of its argument
 * that the caller checks, and takes the "fire" path only for S_FIRE.
 */
#ifndef RERAND_SITES_H
#define RERAND_SITES_H

#include <linux/jump_label.h>
#include <linux/types.h>

#define S_FIRE 0x5173f1eULL

/* sites_fns.c */
u64 s_warn_once(u64 x);	/* WARN_ON_ONCE(x == S_FIRE); x + 1 (x + 2 fired) */
u64 s_warn(u64 x);	/* WARN_ON(x == S_FIRE); x * 3 (x * 5 fired) */
u64 s_bug(u64 x);	/* BUG_ON(x == S_FIRE); x ^ 0xbad */
/* get_user()/put_user(): __ex_table sites, a fault returns -EFAULT. */
int s_peek(const u64 __user *p, u64 *v);
int s_poke(u64 __user *p, u64 v);
/* static_branch_unlikely(&s_key): x + 7 while enabled, x + 3 otherwise. */
DECLARE_STATIC_KEY_FALSE(s_key);
u64 s_keyed(u64 x);
/* trace_s_event(x) (tracepoint rerand_sites:s_event); x + 11. */
u64 s_traced(u64 x);

#endif /* RERAND_SITES_H */
