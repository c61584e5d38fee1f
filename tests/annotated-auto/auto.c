// SPDX-License-Identifier: GPL-2.0
/* The same source as tests/annotated, linked in rerand-ld's automatic mode. */
#include "../annotated/annotated.c"
