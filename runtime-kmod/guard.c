// SPDX-License-Identifier: GPL-2.0
/*
 * The trampoline guard: hardware watchpoints on the trampolines of every
 * rerandomized module, an integrity check of all of them every period, and
 * repair of whatever was written.
 *
 * Coverage policy. A trampoline never moves and its `bl` at call_offset is
 * the one word that decides where calls go, so it is the word worth
 * watching. arm64 watchpoints cover at most 8 bytes on a stock kernel (no
 * address-mask support) and there are only a few of them (2 to 16; 4 on
 * QEMU's cortex-a57 and max), so:
 *   - each watchpoint covers the 8-byte aligned unit holding one `bl`
 *     (ALIGN_DOWN(trampoline + call_offset, 8)): with rerand-ld's 8-aligned
 *     64-byte trampolines that is exactly [+32, +40), the `bl` to the
 *     entry hook and the `bl` to the body;
 *   - guard_slots watchpoints (default: the number of watchpoint registers
 *     minus one, so a debugger keeps one; all of them on hardware with
 *     only one) are spread over all trampolines of all modules, and every
 *     guard_rotate_ms the set is drawn again at random: an attacker cannot
 *     know which `bl`s are watched right now, and over time every one is;
 *   - every period, the mover compares every trampoline (all of its
 *     words, not only the `bl`) with its known-good image: the bytes seen
 *     at MODULE_STATE_COMING with the `bl` the runtime last wrote. A write
 *     to a watched unit is caught when it happens, any other write within
 *     one period. Only what the kernel's own patchers write is allowed:
 *     a kprobe BRK where a kprobe is registered, NOP or `mov x9, x30` in
 *     the first ftrace slot (+4), NOP or a `bl` to ftrace_caller,
 *     ftrace_regs_caller or the module's ftrace PLT in the second (+8).
 *
 * Registers are a shared resource: any process can take them through
 * ptrace. The guard never lets one go before its replacement is
 * registered (without a spare register, the watched set stays as it is),
 * and a registration that fails is reported and counted (arm_failed=,
 * nospc=, last_error= in debugfs); the per-period check goes on covering
 * every trampoline.
 *
 * The runtime's own writes never trigger a watchpoint: retargeting (and
 * repair) goes through the text-patching alias, a fixmap address, and
 * watchpoints match virtual addresses. ftrace and kprobes write the same
 * way.
 *
 * Handling a hit. A watchpoint exception is taken before the store
 * completes; the kernel single-steps over it only for perf's default
 * overflow handler, so with ours the store re-executes on return and
 * would hit again forever (seed 002's second bug). rr_guard_hit() runs in
 * debug-exception context (all of DAIF masked, not in_nmi() on 6.1, so no
 * printk: the console path takes locks the interrupted code may hold). It
 * takes no lock and allocates nothing:
 *   - tamper_policy=skip, and the instruction is one STR/STUR/STP (no
 *     writeback) entirely inside the watched unit: regs->pc += 4, the
 *     store never happens and the watchpoint stays armed;
 *   - otherwise (repair): it clears the enable bit of the matching
 *     DBGWCR<n>_EL1 on this CPU, so the store lands on return.
 *     perf_event_disable_inatomic() would only disable the event from an
 *     irq_work, which cannot run before the store re-executes and never
 *     runs while the writer has interrupts off: NOTES.md saw four hits
 *     before it took effect.
 * Either way it saves the incident (address, pc, lr, comm, pid, decoded
 * value, a stack trace from the writer's regs) in this CPU's ring and
 * queues an irq_work, which queues the work item that, in process context
 * under rr_lock, reports it (rate-limited), counts it in tamper=, restores
 * the trampoline from its known-good image through the alias and re-arms
 * the watchpoint (unregister + register: the only way to re-enable a wide
 * kernel watchpoint in 6.1; modify_user_hw_breakpoint() is for ptrace's).
 *
 * Seed 002's "scheduling while atomic": its writer thread called get_cpu()
 * (preempt_disable()) once and never put_cpu(), then msleep()s in its loop:
 * it was a plain kthread, the preempt count it leaked made every sleep a
 * sleep in atomic context. Here the only code that runs with preemption
 * off is the handler and the irq_work, and neither sleeps; everything that
 * may sleep (register/unregister_wide_hw_breakpoint(), patching under
 * stop_machine()) runs from work items under rr_lock.
 *
 * Hotplug: a wide watchpoint covers the CPUs online when it is registered;
 * a CPU that comes up later is covered from the next rotation.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpu.h>
#include <linux/hw_breakpoint.h>
#include <linux/irq_work.h>
#include <linux/kprobes.h>
#include <linux/moduleparam.h>
#include <linux/perf_event.h>
#include <linux/random.h>
#include <linux/ratelimit.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <asm/debug-monitors.h>
#include <asm/hw_breakpoint.h>
#include <asm/sysreg.h>
#include "rerand.h"
#include "reloc.h"
#include "writers.h"

#define RR_GUARD_MAX	16	/* ARM_MAX_WRP */
#define RR_RING		8	/* incidents per CPU between two drains */
#define RR_TRACE_DEPTH	12
#define RR_PENDING_MAX	10	/* periods to wait for a reported store */

enum { RR_POLICY_REPAIR, RR_POLICY_SKIP };

/* One watchpoint: wide (all CPUs), on one 8-byte unit. */
struct rr_watch {
	struct perf_event * __percpu *bp;	/* NULL: free */
	unsigned long addr;
	struct rr_module *m;			/* rr_lock */
	struct rr_func *f;			/* rr_lock */
	atomic_t tripped;	/* a CPU switched its copy off (repair) */
	unsigned long trip_pc;			/* handler only */
	struct task_struct *trip_task;		/* handler only */
};

struct rr_incident {
	unsigned long addr;		/* the watched unit */
	unsigned long pc, lr;
	u64 val[2];
	unsigned long st_addr;		/* the store's footprint */
	u32 insn;
	u8 st_len, nval;
	bool decoded, skipped;
	int cpu;
	pid_t pid;
	char comm[TASK_COMM_LEN];
	unsigned int nr_trace;
	unsigned long trace[RR_TRACE_DEPTH];
};

/*
 * One per CPU, one producer (that CPU's watchpoint handler: debug
 * exceptions do not nest) and one consumer (rr_guard_drain(), rr_lock).
 */
struct rr_ring {
	unsigned long head;	/* written by the producer */
	unsigned long tail;	/* written by the consumer */
	struct rr_incident e[RR_RING];
};

static DEFINE_PER_CPU(struct rr_ring, rr_rings);
static struct rr_watch rr_watch[RR_GUARD_MAX];	/* slots: rr_lock */
static unsigned int rr_nwrps;		/* watchpoint registers */
static unsigned int rr_slots_max;	/* rr_nwrps, minus one if > 1 */
static bool rr_guard_running;		/* rr_lock */
static unsigned long rr_rotations;	/* rr_lock */
static unsigned long rr_nospc;		/* rr_lock */
static unsigned long rr_arm_failed;	/* rr_lock */
static int rr_arm_errno;		/* rr_lock: the last failure */
static bool rr_arm_failing;		/* rr_lock: reported, not yet over */
static atomic_long_t rr_hits = ATOMIC_LONG_INIT(0);
static atomic_long_t rr_dups = ATOMIC_LONG_INIT(0);
static atomic_long_t rr_lost = ATOMIC_LONG_INIT(0);

bool rr_guard_on = true;
unsigned int rr_guard_slots = UINT_MAX;	/* UINT_MAX: default */
unsigned int rr_guard_rotate_ms = 1000;
int rr_tamper_policy = RR_POLICY_REPAIR;

static void rr_rotate_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(rr_rotate_work, rr_rotate_fn);
static void rr_incident_fn(struct work_struct *work);
static DECLARE_WORK(rr_incident_work, rr_incident_fn);

/*
 * Queues a rotation now. Under rr_lock, so that nothing is queued after
 * rr_guard_exit() cancelled the work (a parameter written during
 * `rmmod rerand` would otherwise run it after the module's text is gone).
 * Called without rr_lock.
 */
static void rr_guard_kick(void)
{
	mutex_lock(&rr_lock);
	/* Before rerand_init() (parameters given to insmod): nothing yet. */
	if (rr_guard_running)
		mod_delayed_work(system_wq, &rr_rotate_work, 0);
	mutex_unlock(&rr_lock);
}

static int rr_set_guard(const char *val, const struct kernel_param *kp)
{
	int ret;

	if (!rr_may_set(kp))
		return -EPERM;
	ret = param_set_bool(val, kp);
	if (!ret)
		rr_guard_kick();
	return ret;
}

static const struct kernel_param_ops rr_guard_ops = {
	.set = rr_set_guard,
	.get = param_get_bool,
};

module_param_cb(guard, &rr_guard_ops, &rr_guard_on, 0644);
MODULE_PARM_DESC(guard, "Watch the trampolines and check them every period (default on)");

static int rr_set_slots(const char *val, const struct kernel_param *kp)
{
	unsigned int v;
	int ret = kstrtouint(val, 0, &v);

	if (!rr_may_set(kp))
		return -EPERM;
	if (ret)
		return ret;
	mutex_lock(&rr_lock);
	if (rr_guard_running)
		v = min(v, rr_slots_max);
	WRITE_ONCE(rr_guard_slots, v);
	mutex_unlock(&rr_lock);
	rr_guard_kick();
	return 0;
}

static const struct kernel_param_ops rr_slots_ops = {
	.set = rr_set_slots,
	.get = param_get_uint,
};

module_param_cb(guard_slots, &rr_slots_ops, &rr_guard_slots, 0644);
MODULE_PARM_DESC(guard_slots, "Watchpoints used by the guard (default: registers - 1, leaving one to debuggers)");

static int rr_set_rotate(const char *val, const struct kernel_param *kp)
{
	unsigned int v;
	int ret = rr_parse_ms(val, &v);

	if (!rr_may_set(kp))
		return -EPERM;
	if (ret)
		return ret;
	WRITE_ONCE(rr_guard_rotate_ms, v);
	/* The next rotation comes one new period from now (see rr_guard_kick()). */
	mutex_lock(&rr_lock);
	if (rr_guard_running)
		mod_delayed_work(system_wq, &rr_rotate_work,
				 msecs_to_jiffies(v));
	mutex_unlock(&rr_lock);
	return 0;
}

static const struct kernel_param_ops rr_rotate_ops = {
	.set = rr_set_rotate,
	.get = param_get_uint,
};

module_param_cb(guard_rotate_ms, &rr_rotate_ops, &rr_guard_rotate_ms, 0644);
MODULE_PARM_DESC(guard_rotate_ms, "Milliseconds between two random draws of the watched trampolines (default 1000)");

static const char * const rr_policy_names[] = { "repair", "skip" };

static int rr_set_policy(const char *val, const struct kernel_param *kp)
{
	int i = sysfs_match_string(rr_policy_names, val);

	if (!rr_may_set(kp))
		return -EPERM;
	if (i < 0)
		return i;
	WRITE_ONCE(rr_tamper_policy, i);
	return 0;
}

static int rr_get_policy(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  rr_policy_names[READ_ONCE(rr_tamper_policy)]);
}

static const struct kernel_param_ops rr_policy_ops = {
	.set = rr_set_policy,
	.get = rr_get_policy,
};

module_param_cb(tamper_policy, &rr_policy_ops, NULL, 0644);
MODULE_PARM_DESC(tamper_policy, "repair: let a write to a watched trampoline land, then restore it; skip: step over the store (default repair)");

/* The 8-byte unit a watchpoint covers for @f. */
static unsigned long rr_unit(const struct rr_func *f)
{
	return ALIGN_DOWN((unsigned long)(f->fx->rec->trampoline +
					  f->fx->rec->call_offset), 8);
}

/* ---- debug-exception context: no locks, no allocation, no printk ---- */

/*
 * Clears the enable bit of watchpoint register @n if it exists and
 * watches @addr (a register beyond rr_nwrps would be UNDEFINED to read).
 */
#define RR_WP_OFF(n) do {						\
		if ((n) < rr_nwrps &&					\
		    !((read_sysreg(dbgwvr##n##_el1) ^ addr) &		\
		      GENMASK(48, 2))) {				\
			ctrl = read_sysreg(dbgwcr##n##_el1);		\
			if (ctrl & 1) {					\
				write_sysreg(ctrl & ~1UL,		\
					     dbgwcr##n##_el1);		\
				off = true;				\
			}						\
		}							\
	} while (0)

/* This CPU's registers watching @addr stop watching it. */
static notrace bool rr_wp_off_local(unsigned long addr)
{
	bool off = false;
	u64 ctrl;

	RR_WP_OFF(0);
	RR_WP_OFF(1);
	RR_WP_OFF(2);
	RR_WP_OFF(3);
	RR_WP_OFF(4);
	RR_WP_OFF(5);
	RR_WP_OFF(6);
	RR_WP_OFF(7);
	RR_WP_OFF(8);
	RR_WP_OFF(9);
	RR_WP_OFF(10);
	RR_WP_OFF(11);
	RR_WP_OFF(12);
	RR_WP_OFF(13);
	RR_WP_OFF(14);
	RR_WP_OFF(15);
	if (off)
		isb();	/* the store re-executes after the new WCR is seen */
	return off;
}

NOKPROBE_SYMBOL(rr_wp_off_local);

static notrace u64 rr_src(const struct pt_regs *regs, unsigned int r)
{
	return r == 31 ? 0 : regs->regs[r];	/* xzr */
}

NOKPROBE_SYMBOL(rr_src);

/*
 * STR/STUR (immediate, no writeback) and STP (signed offset) of general
 * registers: their footprint and the value(s) about to be written.
 */
static notrace bool rr_decode_store(u32 insn, const struct pt_regs *regs,
				    struct rr_incident *e)
{
	unsigned int rn = (insn >> 5) & 31, size;
	u64 base = rn == 31 ? regs->sp : regs->regs[rn];
	u64 mask;

	if ((insn & 0x3fc00000U) == 0x39000000U) {		/* STR imm */
		size = insn >> 30;
		e->st_addr = base + (((insn >> 10) & 0xfff) << size);
		e->nval = 1;
	} else if ((insn & 0x3fe00c00U) == 0x38000000U) {	/* STUR */
		size = insn >> 30;
		e->st_addr = base + sign_extend64((insn >> 12) & 0x1ff, 8);
		e->nval = 1;
	} else if ((insn & 0x7fc00000U) == 0x29000000U) {	/* STP */
		size = insn >> 31 ? 3 : 2;
		e->st_addr = base +
			(sign_extend64((insn >> 15) & 0x7f, 6) << size);
		e->nval = 2;
	} else {
		return false;
	}
	mask = size == 3 ? ~0ULL : BIT_ULL(8 << size) - 1;
	e->st_len = e->nval << size;
	e->val[0] = rr_src(regs, insn & 31) & mask;
	if (e->nval == 2)
		e->val[1] = rr_src(regs, (insn >> 10) & 31) & mask;
	return true;
}

NOKPROBE_SYMBOL(rr_decode_store);

static void rr_incident_irq(struct irq_work *w)
{
	schedule_work(&rr_incident_work);
}

static DEFINE_IRQ_WORK(rr_guard_irq, rr_incident_irq);

/* The overflow handler of every guard watchpoint; see the top comment. */
static notrace void rr_guard_hit(struct perf_event *bp,
				 struct perf_sample_data *data,
				 struct pt_regs *regs)
{
	struct rr_watch *w = bp->overflow_handler_context;
	struct rr_ring *r = this_cpu_ptr(&rr_rings);
	unsigned long unit = bp->attr.bp_addr;
	unsigned long pc = instruction_pointer(regs);
	struct rr_incident *e, tmp;
	unsigned long head = r->head;
	bool skip = false;
	__le32 raw;

	atomic_long_inc(&rr_hits);
	/*
	 * Pairs with the smp_store_release() of tail in rr_guard_drain():
	 * the consumer has finished copying an entry before it is reused.
	 */
	if (head - smp_load_acquire(&r->tail) < RR_RING)
		e = &r->e[head % RR_RING];
	else
		e = &tmp;	/* ring full: still decide, count it lost */
	memset(e, 0, sizeof(*e));
	if (!copy_from_kernel_nofault(&raw, (void *)pc, sizeof(raw))) {
		e->insn = le32_to_cpu(raw);
		e->decoded = rr_decode_store(e->insn, regs, e);
	}
	if (e->decoded && READ_ONCE(rr_tamper_policy) == RR_POLICY_SKIP &&
	    e->st_addr >= unit && e->st_addr + e->st_len <= unit + 8)
		skip = true;
	if (!skip) {
		/* The store re-executes on return: let it through here. */
		rr_wp_off_local(unit);
		/*
		 * The same store again (its task moved to a CPU whose copy
		 * is still armed): one incident, already recorded.
		 */
		if (atomic_xchg(&w->tripped, 1) && READ_ONCE(w->trip_pc) == pc &&
		    READ_ONCE(w->trip_task) == current) {
			atomic_long_inc(&rr_dups);
			return;
		}
		WRITE_ONCE(w->trip_pc, pc);
		WRITE_ONCE(w->trip_task, current);
	}
	e->addr = unit;
	e->pc = pc;
	e->lr = regs->regs[30];
	e->skipped = skip;
	e->cpu = smp_processor_id();
	e->pid = task_pid_nr(current);
	memcpy(e->comm, current->comm, sizeof(e->comm));
	e->nr_trace = rr_ksyms.stack_trace_save_regs(regs, e->trace,
						      RR_TRACE_DEPTH, 0);
	if (e == &tmp) {
		atomic_long_inc(&rr_lost);
	} else {
		/*
		 * Pairs with smp_load_acquire() of head in rr_guard_drain():
		 * the entry is complete before the consumer can see it.
		 */
		smp_store_release(&r->head, head + 1);
		/*
		 * Pairs with smp_rmb() in rr_guard_check(): the entry is
		 * published before the store that trapped can land, so a
		 * check that sees the new word finds its incident too.
		 */
		smp_mb();
	}
	if (skip)
		instruction_pointer_set(regs, pc + 4);
	irq_work_queue(&rr_guard_irq);
}

NOKPROBE_SYMBOL(rr_guard_hit);

/* ---- process context, rr_lock held ---- */

static unsigned int rr_watches(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < RR_GUARD_MAX; i++)
		n += !!rr_watch[i].bp;
	return n;
}

static void rr_watch_disarm(struct rr_watch *w)
{
	lockdep_assert_held(&rr_lock);
	if (!w->bp)
		return;
	/*
	 * Removing each CPU's event runs on that CPU with interrupts off,
	 * so when this returns no rr_guard_hit() is running on @w.
	 */
	unregister_wide_hw_breakpoint(w->bp);
	w->bp = NULL;
	if (w->f) {
		w->f->watched = false;
		w->m->watched--;
	}
	w->f = NULL;
	w->m = NULL;
}

/* A wide watchpoint on w->addr, reporting to rr_guard_hit() with @w. */
static struct perf_event * __percpu *rr_watch_register(struct rr_watch *w)
{
	struct perf_event_attr attr;

	hw_breakpoint_init(&attr);
	attr.bp_addr = w->addr;
	attr.bp_len = HW_BREAKPOINT_LEN_8;
	attr.bp_type = HW_BREAKPOINT_W;
	/* Published to the handler by the registration's IPIs. */
	atomic_set(&w->tripped, 0);
	w->trip_pc = 0;
	w->trip_task = NULL;
	return register_wide_hw_breakpoint(&attr, rr_guard_hit, w);
}

/*
 * A registration failed: said once, counted, shown in debugfs.
 * -ENOSPC means something else (ptrace, a debugger, perf) holds the
 * registers: any unprivileged process can take them through ptrace.
 */
static void rr_watch_failed(const struct rr_func *f, int err)
{
	rr_arm_failed++;
	rr_arm_errno = err;
	if (err == -ENOSPC)
		rr_nospc++;
	/* Once per episode: until a registration succeeds again. */
	if (rr_arm_failing)
		return;
	rr_arm_failing = true;
	/* Rate-limited too: a user who takes and frees them could flap it. */
	pr_warn_ratelimited("guard: cannot watch %ps (%d%s); %u of %u watchpoints kept, the per-period check still covers every trampoline\n",
			    (void *)(unsigned long)f->fx->rec->trampoline, err,
			    err == -ENOSPC ? ": the registers are taken" : "",
			    rr_watches(),
			    min(READ_ONCE(rr_guard_slots), rr_slots_max));
}

static int rr_watch_arm(struct rr_watch *w, struct rr_module *m,
			struct rr_func *f)
{
	struct perf_event * __percpu *bp;

	lockdep_assert_held(&rr_lock);
	w->addr = rr_unit(f);
	bp = rr_watch_register(w);
	if (IS_ERR((void __force *)bp))
		return PTR_ERR((void __force *)bp);
	w->bp = bp;
	w->m = m;
	w->f = f;
	if (rr_arm_failing)
		pr_info_ratelimited("guard: watchpoints can be registered again\n");
	rr_arm_failing = false;
	f->watched = true;
	m->watched++;
	if (!f->ever_watched) {
		f->ever_watched = true;
		m->distinct++;
	}
	return 0;
}

/*
 * A tripped watchpoint is off on some CPU: register it afresh, the new
 * event before the old one goes, so that no one (a ptrace user) can take
 * the register in between. Without a spare register the old event stays
 * (still armed on every other CPU) and the next period tries again.
 */
static void rr_watch_rearm(struct rr_watch *w)
{
	struct perf_event * __percpu *bp = rr_watch_register(w);

	if (IS_ERR((void __force *)bp)) {
		atomic_set(&w->tripped, 1);
		rr_watch_failed(w->f, PTR_ERR((void __force *)bp));
		return;
	}
	unregister_wide_hw_breakpoint(w->bp);
	w->bp = bp;
}

/*
 * Whether @word, a `bl` at @pc in @m's text, is one ftrace writes: to
 * ftrace_caller or ftrace_regs_caller, directly or through the module's
 * ftrace PLT entry for it (arch/arm64/kernel/ftrace.c,
 * ftrace_find_callable_addr()). A `bl` anywhere else in an ftrace slot is
 * a hijack of every call, not tracing.
 */
static bool rr_ftrace_call(const struct module *mod, unsigned long pc,
			   u32 word)
{
	u64 target;
	unsigned int k;

	if (!rr_is_bl(word) || !rerand_decode_branch(word, pc, &target))
		return false;
	if (target && (target == (unsigned long)rr_ksyms.ftrace_caller ||
		       target == (unsigned long)rr_ksyms.ftrace_regs_caller))
		return true;
#if defined(CONFIG_ARM64_MODULE_PLTS) && defined(CONFIG_DYNAMIC_FTRACE)
	for (k = 0; k < NR_FTRACE_PLTS && mod->arch.ftrace_trampolines; k++)
		if (target == (unsigned long)&mod->arch.ftrace_trampolines[k])
			return true;
#endif
	return false;
}

/*
 * Whether @word at offset @off of @f's trampoline is acceptable although
 * it differs from the known-good @good: written by the kernel's own text
 * patchers, and only what they write: a kprobe BRK where a kprobe is
 * registered; in ftrace's first slot (+4) a NOP or `mov x9, x30`, in its
 * second (+8) a NOP or a `bl` to ftrace's own trampolines.
 */
static bool rr_allowed(const struct rr_module *m, const struct rr_func *f,
		       unsigned int off, u32 word, u32 good)
{
	unsigned long pc = f->fx->rec->trampoline + off;

	if (word == BRK64_OPCODE_KPROBES)
		return rr_kprobe_owns((void *)pc);
	if (good != RR_INSN_NOP && good != RR_INSN_MOV_X9)
		return false;
	if (off == RR_FTRACE_SLOT0)
		return word == RR_INSN_NOP || word == RR_INSN_MOV_X9;
	if (off == RR_FTRACE_SLOT1)
		return word == RR_INSN_NOP || rr_ftrace_call(m->mod, pc, word);
	return false;
}

static u32 rr_good_word(const struct rr_func *f, unsigned int off)
{
	if (off == f->fx->rec->call_offset)
		return f->cur_bl;
	return le32_to_cpu(*(__le32 *)(f->fx->tramp_good + off));
}

/*
 * The common case, every period for every trampoline: nothing changed.
 * Two memcmp()s and the `bl`; a racing store only sends it to the
 * word-by-word comparison below.
 */
static bool rr_unchanged(const struct rr_func *f)
{
	const u8 *live = (const u8 *)(unsigned long)f->fx->rec->trampoline;
	unsigned int c = f->fx->rec->call_offset;

	return !memcmp(live, f->fx->tramp_good, c) &&
	       le32_to_cpu(READ_ONCE(*(__le32 *)(live + c))) == f->cur_bl &&
	       !memcmp(live + c + 4, f->fx->tramp_good + c + 4,
		       f->fx->tramp_size - c - 4);
}

struct rr_diff {
	unsigned int n;
	unsigned int off;	/* first bad word */
	u32 found, want;
};

/* Compares @f's trampoline with its known-good image. */
static void rr_compare(const struct rr_module *m, const struct rr_func *f,
		       struct rr_diff *d)
{
	const __le32 *live = (const __le32 *)(unsigned long)f->fx->rec->trampoline;
	unsigned int off;

	d->n = 0;
	if (rr_unchanged(f))
		return;
	for (off = 0; off + 4 <= f->fx->tramp_size; off += 4) {
		u32 word = le32_to_cpu(READ_ONCE(live[off / 4]));
		u32 good = rr_good_word(f, off);

		if (word == good || rr_allowed(m, f, off, word, good))
			continue;
		if (!d->n++) {
			d->off = off;
			d->found = word;
			d->want = good;
		}
	}
}

bool rr_guard_intact(const struct rr_module *m, const struct rr_func *f)
{
	struct rr_diff d;

	rr_compare(m, f, &d);
	return !d.n;
}

/* Restores every bad word through the alias; how many were bad. */
static unsigned int rr_repair(struct rr_module *m, struct rr_func *f,
			      struct rr_diff *d)
{
	const __le32 *live = (const __le32 *)(unsigned long)f->fx->rec->trampoline;
	void *addr[1];
	u32 insn[1];
	unsigned int off;
	int ret;

	rr_compare(m, f, d);
	if (!d->n)
		return 0;
	for (off = 0; off + 4 <= f->fx->tramp_size; off += 4) {
		u32 word = le32_to_cpu(READ_ONCE(live[off / 4]));
		u32 good = rr_good_word(f, off);

		if (word == good || rr_allowed(m, f, off, word, good))
			continue;
		addr[0] = (void *)&live[off / 4];
		insn[0] = good;
		/* As the mover writes the `bl`: see move.c. */
		if (READ_ONCE(rr_stop_machine)) {
			cpus_read_lock();
			ret = rr_ksyms.patch_text(addr, insn, 1);
			cpus_read_unlock();
		} else {
			ret = rr_ksyms.patch_text_nosync(addr[0], good);
		}
		if (ret)
			pr_err_ratelimited("%s: %ps+%#x: repair failed (%d)\n",
					   m->mod->name, (void *)live, off,
					   ret);
	}
	return d->n;
}

static DEFINE_RATELIMIT_STATE(rr_report_rs, 5 * HZ, 20);

static void rr_report_hit(const struct rr_incident *e, struct rr_module *m,
			  struct rr_func *f, const char *outcome)
{
	char val[64] = "undecoded store";
	unsigned int i;

	if (!__ratelimit(&rr_report_rs))
		return;
	if (e->decoded && e->nval == 2)
		snprintf(val, sizeof(val), "%08x: %#llx,%#llx (%u bytes at %#lx)",
			 e->insn, e->val[0], e->val[1], e->st_len,
			 e->st_addr);
	else if (e->decoded)
		snprintf(val, sizeof(val), "%08x: %#llx (%u bytes at %#lx)",
			 e->insn, e->val[0], e->st_len, e->st_addr);
	pr_warn("TAMPER: %s %pS written by %s[%d] on cpu %d at %pS (lr %pS): %s; caught by watchpoint, %s\n",
		m ? m->mod->name : "(unloaded)", (void *)e->addr, e->comm,
		e->pid, e->cpu, (void *)e->pc, (void *)e->lr, val, outcome);
	for (i = 0; i < e->nr_trace; i++)
		pr_warn("  writer's stack: %pS\n", (void *)e->trace[i]);
}

static bool rr_find_unit(unsigned long unit, struct rr_module **mp,
			 struct rr_func **fp)
{
	struct rr_module *m;
	unsigned int i;

	list_for_each_entry(m, &rr_modules, node) {
		for (i = 0; i < m->nfuncs; i++) {
			if (rr_unit(&m->funcs[i]) == unit) {
				*mp = m;
				*fp = &m->funcs[i];
				return true;
			}
		}
	}
	return false;
}

static void rr_handle(const struct rr_incident *e)
{
	struct rr_module *m;
	struct rr_func *f;
	struct rr_diff d;

	if (!rr_find_unit(e->addr, &m, &f)) {
		rr_report_hit(e, NULL, NULL, "module gone");
		return;
	}
	m->tamper++;
	f->tamper++;
	if (e->skipped) {
		rr_report_hit(e, m, f, "store skipped");
		return;
	}
	/* The store lands after the handler returns: maybe not yet. */
	f->pending = 1;
	if (rr_repair(m, f, &d))
		f->pending = 0;
	rr_report_hit(e, m, f, f->pending ? "repair pending" : "repaired");
}

/* Watchpoints switched off for a store that has landed and been undone. */
static void rr_rearm_tripped(void)
{
	unsigned int i;

	for (i = 0; i < RR_GUARD_MAX; i++) {
		struct rr_watch *w = &rr_watch[i];

		if (w->bp && atomic_read(&w->tripped) && !w->f->pending)
			rr_watch_rearm(w);
	}
}

/* Reports, counts and repairs every recorded incident. */
static void rr_guard_drain(void)
{
	struct rr_incident e;
	unsigned long h, t;
	unsigned int cpu;

	lockdep_assert_held(&rr_lock);
	for_each_possible_cpu(cpu) {
		struct rr_ring *r = per_cpu_ptr(&rr_rings, cpu);

		/* Pairs with smp_store_release() of head in rr_guard_hit(). */
		h = smp_load_acquire(&r->head);
		for (t = r->tail; t != h; t++) {
			e = r->e[t % RR_RING];
			/*
			 * Pairs with smp_load_acquire() of tail in
			 * rr_guard_hit(): the copy is done before the slot
			 * may be reused.
			 */
			smp_store_release(&r->tail, t + 1);
			rr_handle(&e);
		}
	}
	rr_rearm_tripped();
}

static void rr_incident_fn(struct work_struct *work)
{
	mutex_lock(&rr_lock);
	rr_guard_drain();
	mutex_unlock(&rr_lock);
}

/* The mover, every period, before it retargets anything. */
void rr_guard_check(void)
{
	struct rr_module *m;
	struct rr_diff d;
	unsigned int i;

	lockdep_assert_held(&rr_lock);
	if (!READ_ONCE(rr_guard_on))
		return;
	rr_guard_drain();
	list_for_each_entry(m, &rr_modules, node) {
		/* Its known-good images cannot be trusted (vault.c). */
		if (m->frozen)
			continue;
		/* The common case in one comparison: nothing changed. */
		if (m->tramp_image &&
		    !memcmp((void *)m->tramp_lo, m->tramp_image,
			    m->tramp_hi - m->tramp_lo)) {
			for (i = 0; i < m->nfuncs; i++)
				if (m->funcs[i].pending &&
				    ++m->funcs[i].pending > RR_PENDING_MAX)
					m->funcs[i].pending = 0;
			continue;
		}
		/*
		 * A watched store may have landed after the drain above: its
		 * incident is in a ring by now (pairs with smp_mb() in
		 * rr_guard_hit()), and is reported by its writer, not as
		 * unknown.
		 */
		smp_rmb();
		rr_guard_drain();
		for (i = 0; i < m->nfuncs; i++) {
			struct rr_func *f = &m->funcs[i];
			void *tramp = (void *)(unsigned long)f->fx->rec->trampoline;

			if (!rr_repair(m, f, &d)) {
				/* A reported store that never changed a thing. */
				if (f->pending && ++f->pending > RR_PENDING_MAX)
					f->pending = 0;
				continue;
			}
			if (f->pending) {
				/* The reported store has landed: undone, not new. */
				f->pending = 0;
				continue;
			}
			m->tamper++;
			f->tamper++;
			if (__ratelimit(&rr_report_rs))
				pr_warn("TAMPER: %s %pS: %u word(s) changed, first %08x instead of %08x; caught by integrity check (writer unknown), repaired\n",
					m->mod->name, tramp + d.off, d.n,
					d.found, d.want);
		}
	}
	rr_rearm_tripped();
}

/* Draws the watched set again. */
static void rr_guard_rotate(void)
{
	struct rr_module *pm[RR_GUARD_MAX];
	struct rr_func *pf[RR_GUARD_MAX];
	unsigned int total = 0, want, n = 0, i, j, tries;
	struct rr_watch *drop[RR_GUARD_MAX];
	unsigned int ndrop = 0;
	struct rr_module *m;
	bool keep[RR_GUARD_MAX] = { };
	int ret;

	lockdep_assert_held(&rr_lock);
	list_for_each_entry(m, &rr_modules, node)
		total += m->nfuncs;
	want = min3(READ_ONCE(rr_guard_slots), rr_slots_max, total);
	if (!READ_ONCE(rr_guard_on))
		want = 0;
	/* @want distinct functions, uniformly at random. */
	while (n < want) {
		for (tries = 0; tries < 16; tries++) {
			u32 k = ((u64)get_random_u32() * total) >> 32;
			struct rr_func *f = NULL;

			list_for_each_entry(m, &rr_modules, node) {
				if (k < m->nfuncs) {
					f = &m->funcs[k];
					break;
				}
				k -= m->nfuncs;
			}
			for (j = 0; j < n && pf[j] != f; j++)
				;
			if (j == n) {
				pm[n] = m;
				pf[n++] = f;
				break;
			}
		}
		if (tries == 16)
			break;
	}
	/* Watchpoints already on a drawn function stay; the others go... */
	for (i = 0; i < RR_GUARD_MAX; i++) {
		struct rr_watch *w = &rr_watch[i];

		for (j = 0; w->bp && j < n; j++) {
			if (pf[j] == w->f) {
				keep[j] = true;
				break;
			}
		}
		if (w->bp && j == n)
			drop[ndrop++] = w;
	}
	/*
	 * ...but only once their replacement holds a register: dropping
	 * first would let anyone waiting for one (ptrace) take it.
	 */
	for (j = 0; j < n; j++) {
		if (keep[j])
			continue;
		for (i = 0; i < RR_GUARD_MAX && rr_watch[i].bp; i++)
			;
		if (i == RR_GUARD_MAX)
			break;
		/*
		 * No spare register: the old watchpoints stay where they are
		 * (the draw is not followed this time) rather than risk one.
		 */
		ret = rr_watch_arm(&rr_watch[i], pm[j], pf[j]);
		if (ret) {
			rr_watch_failed(pf[j], ret);
			break;
		}
		if (ndrop)
			rr_watch_disarm(drop[--ndrop]);
	}
	/* Fewer wanted (guard off, fewer slots): the rest goes too. */
	while (ndrop && (j == n || rr_watches() > want))
		rr_watch_disarm(drop[--ndrop]);
	rr_rotations++;
}

static void rr_rotate_fn(struct work_struct *work)
{
	mutex_lock(&rr_lock);
	rr_guard_rotate();
	if (rr_guard_running)
		queue_delayed_work(system_wq, &rr_rotate_work,
				   msecs_to_jiffies(rr_sealed_uint(&rr_guard_rotate_ms)));
	mutex_unlock(&rr_lock);
}

/* @m is leaving (MODULE_STATE_GOING): stop watching its trampolines. */
void rr_guard_forget(struct rr_module *m)
{
	unsigned int i;

	lockdep_assert_held(&rr_lock);
	for (i = 0; i < RR_GUARD_MAX; i++)
		if (rr_watch[i].bp && rr_watch[i].m == m)
			rr_watch_disarm(&rr_watch[i]);
}

/*
 * The image the integrity check compares a module's trampolines with in
 * one memcmp(), taken at load like each function's tramp_good. When it
 * differs (a store, or ftrace's allowed words), the per-function
 * comparison decides.
 */
int rr_guard_image(struct rr_module *m)
{
	unsigned long lo = ULONG_MAX, hi = 0;
	unsigned int i;

	for (i = 0; i < m->nfuncs; i++) {
		lo = min_t(unsigned long, lo, m->funcs[i].fx->rec->trampoline);
		hi = max_t(unsigned long, hi, m->funcs[i].fx->rec->trampoline +
					      m->funcs[i].fx->tramp_size);
	}
	if (!hi)
		return 0;
	m->tramp_image = kvmalloc(hi - lo, GFP_KERNEL);
	if (!m->tramp_image)
		return -ENOMEM;
	/* Between trampolines (padding): as it is. */
	memcpy(m->tramp_image, (void *)lo, hi - lo);
	/* Each trampoline: its known-good image, without kprobes or ftrace. */
	for (i = 0; i < m->nfuncs; i++) {
		const struct rr_func *f = &m->funcs[i];

		memcpy(m->tramp_image + (f->fx->rec->trampoline - lo),
		       f->fx->tramp_good, f->fx->tramp_size);
	}
	m->tramp_lo = lo;
	m->tramp_hi = hi;
	return 0;
}

/* A module arrived: cover it now rather than at the next rotation. */
void rr_guard_added(void)
{
	rr_guard_kick();
}

void rr_guard_show(struct seq_file *sf)
{
	unsigned int i;

	mutex_lock(&rr_lock);
	seq_printf(sf, "guard=%d policy=%s wrps=%u slots=%u watched=%u rotate_ms=%u rotations=%lu hits=%ld dups=%ld lost=%ld nospc=%lu arm_failed=%lu last_error=%d\n",
		   READ_ONCE(rr_guard_on),
		   rr_policy_names[READ_ONCE(rr_tamper_policy)], rr_nwrps,
		   min(READ_ONCE(rr_guard_slots), rr_slots_max), rr_watches(),
		   READ_ONCE(rr_guard_rotate_ms), rr_rotations,
		   atomic_long_read(&rr_hits), atomic_long_read(&rr_dups),
		   atomic_long_read(&rr_lost), rr_nospc, rr_arm_failed,
		   rr_arm_errno);
	for (i = 0; i < RR_GUARD_MAX; i++) {
		struct rr_watch *w = &rr_watch[i];

		if (w->bp)
			seq_printf(sf, "slot=%u addr=0x%016lx %s:%ps tripped=%d\n",
				   i, w->addr, w->m->mod->name,
				   (void *)(unsigned long)w->f->fx->rec->trampoline,
				   atomic_read(&w->tripped));
	}
	mutex_unlock(&rr_lock);
}

void rr_guard_init(void)
{
	rr_nwrps = min(get_num_wrps(), RR_GUARD_MAX);
	rr_slots_max = rr_nwrps > 1 ? rr_nwrps - 1 : rr_nwrps;
	mutex_lock(&rr_lock);
	if (rr_guard_slots > rr_slots_max)
		rr_guard_slots = rr_slots_max;
	WRITE_ONCE(rr_guard_running, true);
	queue_delayed_work(system_wq, &rr_rotate_work, 0);
	mutex_unlock(&rr_lock);
	pr_info("guard: %u watchpoint registers, %u for the trampolines, policy %s\n",
		rr_nwrps, rr_guard_slots, rr_policy_names[rr_tamper_policy]);
}

void rr_guard_exit(void)
{
	unsigned int i;

	mutex_lock(&rr_lock);
	WRITE_ONCE(rr_guard_running, false);
	mutex_unlock(&rr_lock);
	cancel_delayed_work_sync(&rr_rotate_work);
	mutex_lock(&rr_lock);
	for (i = 0; i < RR_GUARD_MAX; i++)
		rr_watch_disarm(&rr_watch[i]);
	mutex_unlock(&rr_lock);
	/* No handler can run now; then nothing it queued is left. */
	irq_work_sync(&rr_guard_irq);
	cancel_work_sync(&rr_incident_work);
}
