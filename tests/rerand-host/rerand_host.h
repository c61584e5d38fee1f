/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The registry the seed patched into mm/vmscan.c, as a module of its own:
 * a driver registers two entry points and the host's thread calls them.
 */
#ifndef RERAND_HOST_H
#define RERAND_HOST_H

#include <linux/types.h>

struct Rerandom_Driver {
	const char *name;
	void (*init_entry)(void);
	int (*check_entry)(int a, char *c, time64_t time);
};

void register_rerandom_driver(const struct Rerandom_Driver *driver);
void unregister_rerandom_driver(const struct Rerandom_Driver *driver);

/*
 * What check_entry must return after init_entry has been called `calls`
 * times: the host recomputes it to check every call.
 */
u32 rerandom_expected(u32 calls, int a, const char *c, time64_t time);

#endif /* RERAND_HOST_H */
