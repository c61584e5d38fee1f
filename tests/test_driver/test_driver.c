// SPDX-License-Identifier: GPL-2.0
/*
 * The seed's test module (seed 002, block/test/test_driver.c): registers
 * init_entry and check_entry with the host, which calls them periodically.
 * Built with rerand-ld: every function here is rerandomized.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/string.h>
#include "../rerand-host/rerand_host.h"

static u32 init_count;

/* A bitwise CRC-32 (little-endian, poly 0xedb88320), as lib/crc32.c computes. */
static noinline u32 crc32_step(u32 crc, u8 byte)
{
	int i;

	crc ^= byte;
	for (i = 0; i < 8; i++)
		crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
	return crc;
}

static noinline u32 crc32_bytes(u32 crc, const char *p, size_t len)
{
	while (len--)
		crc = crc32_step(crc, *p++);
	return crc;
}

static void init_entry(void)
{
	init_count++;
}

static int check_entry(int a, char *c, time64_t time)
{
	return (int)(crc32_bytes(init_count ^ (u32)a, c, strlen(c)) ^ (u32)time);
}

static struct Rerandom_Driver rerandom_driver_struct = {
	.name = "rerandom_test",
	.init_entry = init_entry,
	.check_entry = check_entry,
};

static int __init random_test_driver_init(void)
{
	register_rerandom_driver(&rerandom_driver_struct);
	return 0;
}

static void __exit random_test_driver_exit(void)
{
	unregister_rerandom_driver(&rerandom_driver_struct);
}

module_init(random_test_driver_init);
module_exit(random_test_driver_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rerand: the seed's test driver, rerandomized");
