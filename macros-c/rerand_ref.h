/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Force-included into every C object of a rerandomized module by rerand.mk.
 *
 * rerand-ld adds calls to the runtime's entry and exit hooks, but for a
 * single-object module Kbuild runs LD only after modpost, so modpost would
 * never see those symbols: no CRC in __versions ("no symbol version" on a
 * MODVERSIONS kernel) and no depends=rerand for modprobe. These references
 * make modpost see them; the section is discarded by the final link.
 */
#ifndef RERAND_REF_H
#define RERAND_REF_H

#include <linux/compiler.h>
#include "rerand_abi.h"

/* Not C functions: see the register convention in rerand_abi.h. */
void add_pause_list(void);
void remove_pause_list(void);

static void *const __rerand_runtime_refs[] __used
	__section(".discard.rerand_refs") = {
	add_pause_list,
	remove_pause_list,
};

#endif /* RERAND_REF_H */
