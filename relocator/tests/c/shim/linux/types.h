/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User-space stand-in for <linux/types.h>: what rerand_abi.h and
 * runtime-kmod/reloc.h need when the vector test builds reloc.c on the host.
 */
#ifndef RERAND_SHIM_LINUX_TYPES_H
#define RERAND_SHIM_LINUX_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
typedef int32_t __s32;
typedef int64_t __s64;

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

/* glibc's <sys/cdefs.h> has one; other C libraries may not. */
#ifndef __always_inline
#define __always_inline inline __attribute__((__always_inline__))
#endif

#endif
