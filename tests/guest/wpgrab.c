// SPDX-License-Identifier: GPL-2.0
/*
 * wpgrab: takes hardware watchpoints the way any unprivileged process can,
 * through ptrace of its own child (PTRACE_SETREGSET NT_ARM_HW_WATCH), and
 * holds them until killed. The hardening scenario runs it to exhaust the
 * debug registers before rerand.ko loads and while it runs.
 *
 *   wpgrab N    take up to N watchpoints; print "wpgrab: holding K" once
 *               the K it could get are set, then keep trying for more
 *               every 10 ms, printing the count each time it grows
 */
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NT_ARM_HW_WATCH
#define NT_ARM_HW_WATCH 0x403
#endif

struct hwdebug_state {
	uint32_t dbg_info;
	uint32_t pad;
	struct {
		uint64_t addr;
		uint32_t ctrl;
		uint32_t pad;
	} dbg_regs[16];
};

/* enable, EL0, store, all 8 bytes (arch/arm64/kernel/ptrace.c decode_ctrl_reg) */
#define WP_CTRL ((0xffu << 5) | (2u << 3) | (2u << 1) | 1u)

static uint64_t target[16];
static pid_t child;

/* The child holds the watchpoints: it goes with us. */
static void stop(int sig)
{
	kill(child, SIGKILL);
	_exit(0);
}

static int set_watch(pid_t child, unsigned int n)
{
	struct hwdebug_state st;
	struct iovec iov = { &st, sizeof(st) };
	unsigned int i;

	memset(&st, 0, sizeof(st));
	for (i = 0; i < n; i++) {
		st.dbg_regs[i].addr = (uint64_t)(uintptr_t)&target[i];
		st.dbg_regs[i].ctrl = WP_CTRL;
	}
	/* dbg_info and pad, then 16 bytes per register */
	iov.iov_len = 8 + 16 * n;
	return ptrace(PTRACE_SETREGSET, child, NT_ARM_HW_WATCH, &iov);
}

int main(int argc, char **argv)
{
	unsigned int want = argc > 1 ? atoi(argv[1]) : 16, got = 0;
	int status;

	if (want > 16)
		want = 16;
	child = fork();
	if (child < 0)
		return 1;
	if (!child) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		for (;;)
			pause();
	}
	if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status)) {
		fprintf(stderr, "wpgrab: child did not stop\n");
		return 1;
	}
	/* As many as the kernel grants: each one more until it refuses. */
	while (got < want && set_watch(child, got + 1) == 0)
		got++;
	if (got < want)
		set_watch(child, got);
	signal(SIGTERM, stop);
	signal(SIGINT, stop);
	printf("wpgrab: holding %u\n", got);
	fflush(stdout);
	for (;;) {
		usleep(10000);
		if (got < want && set_watch(child, got + 1) == 0) {
			got++;
			printf("wpgrab: holding %u\n", got);
			fflush(stdout);
		}
	}
}
