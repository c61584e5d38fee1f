// SPDX-License-Identifier: GPL-2.0
/*
 * Runs runtime-kmod/reloc.c on the vectors relocator/tests/c_vectors.rs
 * writes, one command a line on stdin, numbers in hex, and prints one
 * answer a line in the format the Rust test expects:
 *
 *   T type                    -> T supported pc_relative
 *   B place target            -> B insn
 *   D insn place              -> D ok target            (target 0 if !ok)
 *   C addr cap size n body t0 o0 y0 ... (n triples: target offset type)
 *                             -> C max_size rc bad copy (bad, copy "-" if n/a)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reloc.h"

static char *next_tok(void)
{
	char *t = strtok(NULL, "\n ");

	if (!t) {
		fprintf(stderr, "harness: short line\n");
		exit(2);
	}
	return t;
}

static unsigned long long num(void)
{
	return strtoull(next_tok(), NULL, 16);
}

static void copy_case(void)
{
	u64 addr = num();
	size_t cap = num();
	u32 size = num();
	u32 n = num();
	const char *hex = next_tok();
	struct rerand_reloc *r = calloc(n + 1, sizeof(*r));
	u8 *body = malloc(size + 1);
	u8 *dst = malloc(cap + 1);
	u32 bad = 0;
	long rc;
	u32 i;

	if (!r || !body || !dst || strlen(hex) != 2 * (size_t)size) {
		fprintf(stderr, "harness: bad case\n");
		exit(2);
	}
	for (i = 0; i < size; i++) {
		char b[3] = { hex[2 * i], hex[2 * i + 1], 0 };

		body[i] = (u8)strtoul(b, NULL, 16);
	}
	for (i = 0; i < n; i++) {
		r[i].target = num();
		r[i].offset = num();
		r[i].type = num();
	}
	rc = rerand_build_copy(dst, cap, addr, body, size, r, n, &bad);
	printf("C %zx %ld ", rerand_copy_max_size(size, r, n),
	       rc);
	if (rc < 0) {
		printf("%x -\n", bad);
	} else {
		printf("- ");
		for (i = 0; i < (u32)rc; i++)
			printf("%02x", dst[i]);
		printf("\n");
	}
	free(r);
	free(body);
	free(dst);
}

int main(void)
{
	static char line[1 << 20];
	u64 target;

	while (fgets(line, sizeof(line), stdin)) {
		char *cmd = strtok(line, "\n ");

		if (!cmd)
			continue;
		if (!strcmp(cmd, "T")) {
			u32 t = num();

			printf("T %d %d\n", rerand_reloc_supported(t),
			       rerand_reloc_is_pc_relative(t));
		} else if (!strcmp(cmd, "B")) {
			u64 place = num();

			printf("B %x\n", rerand_encode_bl(place, num()));
		} else if (!strcmp(cmd, "D")) {
			u32 insn = num();
			int ok = rerand_decode_branch(insn, num(), &target);

			printf("D %d %llx\n", ok,
			       ok ? (unsigned long long)target : 0ULL);
		} else if (!strcmp(cmd, "C")) {
			copy_case();
		} else {
			fprintf(stderr, "harness: unknown command %s\n", cmd);
			return 2;
		}
	}
	return 0;
}
