/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DROPIN_H
#define DROPIN_H

#include <linux/types.h>

u32 dropin_adler32(const u8 *p, size_t n);
u32 dropin_collatz_steps(u64 n);
u32 dropin_scale(u32 x);

#endif /* DROPIN_H */
