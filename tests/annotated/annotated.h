/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The opt-in functions are global, as in seed 002's test module, so they
 * get prototypes: a W=1 build (-Wmissing-prototypes) wants one for every
 * global function.
 */
#ifndef ANNOTATED_H
#define ANNOTATED_H

#include <linux/types.h>
#include <rerand.h>

u64 ann_mix(u64 x, u64 y);
struct rerand_slot ann_pair(u64 x);

#endif /* ANNOTATED_H */
