// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/rerand/stats: one line per module.
 * /sys/kernel/debug/rerand/<module>: one line per movable function.
 * /sys/kernel/debug/rerand/guard: the watchpoints (guard.c).
 * /sys/kernel/debug/rerand/state: where rerand's own state lives, and what
 * rr_check_state() found (vault.c).
 * /sys/kernel/debug/rerand/mover: where the mover's time went, cumulative
 * (ktime; under QEMU's -icount that counts instructions).
 * /sys/kernel/debug/rerand/windows: how long bodies stayed executable once
 * published (rr_windows); a write starts it again.
 * All read under rr_lock. debugfs is root-only: raw addresses are shown.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include "rerand.h"

static struct dentry *rr_dir;

static int rr_stats_show(struct seq_file *sf, void *unused)
{
	struct rr_module *m;
	unsigned int i, pending, pinned, held, lingering;

	mutex_lock(&rr_lock);
	list_for_each_entry(m, &rr_modules, node) {
		pending = 0;
		pinned = 0;
		held = 0;
		lingering = 0;
		for (i = 0; i < m->nfuncs; i++) {
			pending += !!rr_old_copies(&m->funcs[i]);
			pinned += m->funcs[i].pinned;
			held += m->funcs[i].held;
			lingering += m->funcs[i].lingering;
		}
		seq_printf(sf, "module=%s functions=%u randomized=%u excluded=%u moves=%lu pending=%u pinned=%u held=%u lingering=%u tamper=%lu period_ms=%u skipped=%lu watched=%u guard_coverage=%u%% guard_distinct=%u fixed_exec_bytes=%lu state_tamper=%lu frozen=%d sites=%u direct=%d direct_calls=%lu plt_calls=%u veneers=%lu\n",
			   m->mod->name, m->nfuncs + m->nexcluded, m->nfuncs,
			   m->nexcluded, m->moves, pending, pinned, held, lingering,
			   m->tamper,
			   READ_ONCE(rr_period_ms), m->skipped, m->watched,
			   m->nfuncs ? m->watched * 100 / m->nfuncs : 0,
			   m->distinct, rr_fixed_exec_bytes(m), m->state_tamper,
			   m->frozen, m->nsites, m->direct, m->direct_calls,
			   m->plt_calls, m->veneers);
	}
	mutex_unlock(&rr_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rr_stats);

static int rr_mover_show(struct seq_file *sf, void *unused)
{
	mutex_lock(&rr_lock);
	seq_printf(sf, "ticks=%llu built=%llu ns_advance=%llu ns_prepare=%llu ns_guard=%llu ns_publish=%llu ns_alloc=%llu ns_build=%llu ns_protect=%llu ns_free=%llu ns_state=%llu ns_writers=%llu ns_poison=%llu poison_hits=%ld forged_tickets=%ld site_warns=%ld site_bugs=%ld site_unknown=%ld site_fixups=%ld site_names=%ld site_toggles=%ld hooks_insns=%u hooks_dmb=%u hooks_dsb=%u hooks_ldxr=%u hooks_stadd=%u exec_pages=%lu\n",
		   rr_profile.ticks, rr_profile.built, rr_profile.ns_advance,
		   rr_profile.ns_prepare, rr_profile.ns_guard,
		   rr_profile.ns_publish, rr_profile.ns_alloc,
		   rr_profile.ns_build, rr_profile.ns_protect,
		   rr_profile.ns_free, rr_profile.ns_state,
		   rr_profile.ns_writers, rr_profile.ns_poison,
		   atomic_long_read(&rr_poison_hits),
		   atomic_long_read(&rr_forged_tickets),
		   atomic_long_read(&rr_site_warns),
		   atomic_long_read(&rr_site_bugs),
		   atomic_long_read(&rr_site_unknown),
		   atomic_long_read(&rr_site_fixups),
		   atomic_long_read(&rr_site_names),
		   atomic_long_read(&rr_site_toggles),
		   rr_hooks_census.insns, rr_hooks_census.dmb,
		   rr_hooks_census.dsb, rr_hooks_census.ldxr,
		   rr_hooks_census.stadd, rr_exec_pages);
	mutex_unlock(&rr_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rr_mover);

/* The windows' percentile @pct, in microseconds (a bucket's upper end). */
static u64 rr_window_pct(unsigned int pct)
{
	u64 want = div_u64(rr_windows.n * pct + 99, 100), seen = 0;
	unsigned int b;

	for (b = 0; b < RR_WIN_BUCKETS; b++) {
		seen += rr_windows.hist[b];
		if (want && seen >= want)
			return (u64)(b + 1) * RR_WIN_BUCKET_US;
	}
	return 0;
}

static int rr_windows_show(struct seq_file *sf, void *unused)
{
	unsigned int b;

	mutex_lock(&rr_lock);
	seq_printf(sf, "copies=%llu mean_us=%llu p50_us=%llu p90_us=%llu p99_us=%llu max_us=%llu bucket_us=%u\n",
		   rr_windows.n,
		   rr_windows.n ? div_u64(rr_windows.sum_ns, rr_windows.n * NSEC_PER_USEC) : 0,
		   rr_window_pct(50), rr_window_pct(90), rr_window_pct(99),
		   div_u64(rr_windows.max_ns, NSEC_PER_USEC), RR_WIN_BUCKET_US);
	for (b = 0; b < RR_WIN_BUCKETS; b++)
		if (rr_windows.hist[b])
			seq_printf(sf, "%u %u\n", b * RR_WIN_BUCKET_US,
				   rr_windows.hist[b]);
	mutex_unlock(&rr_lock);
	return 0;
}

static int rr_windows_open(struct inode *inode, struct file *file)
{
	return single_open(file, rr_windows_show, NULL);
}

/* Any write starts the count again. */
static ssize_t rr_windows_write(struct file *file, const char __user *buf,
				size_t len, loff_t *pos)
{
	mutex_lock(&rr_lock);
	memset(&rr_windows, 0, sizeof(rr_windows));
	mutex_unlock(&rr_lock);
	return len;
}

static const struct file_operations rr_windows_fops = {
	.owner = THIS_MODULE,
	.open = rr_windows_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
	.write = rr_windows_write,
};

static int rr_module_show(struct seq_file *sf, void *unused)
{
	struct rr_module *m = sf->private;
	unsigned int i;

	mutex_lock(&rr_lock);
	for (i = 0; i < m->nfuncs; i++) {
		struct rr_func *f = &m->funcs[i];
		void *tramp = (void *)(unsigned long)f->fx->rec->trampoline;

		/* Raw addresses: the point of the file; root-only. */
		seq_printf(sf, "%ps trampoline=0x%016lx body=0x%016lx state=%s moves=%lu skipped=%lu held_periods=%lu poisoned=%d size=%u copy_size=%zu kept=%u orig=0x%016llx call=0x%016llx watch=0x%016llx guarded=%d intact=%d tamper=%lu state_tamper=%lu era=%u eras=%#x old_copies=%u sites=%u fixups=%u jumps=%u\n",
			   tramp, (unsigned long)tramp, f->cur.body,
			   rr_state_name(f), f->moves, f->skipped,
			   f->held_periods, f->poisoned, f->fx->rec->size,
			   f->fx->max_size, rr_kept_bytes(f),
			   f->fx->rec->body,
			   f->fx->rec->trampoline + f->fx->rec->call_offset,
			   ALIGN_DOWN(f->fx->rec->trampoline + f->fx->rec->call_offset,
				      8),
			   f->watched, rr_guard_intact(m, f), f->tamper,
			   f->state_tamper, rr_era(f), f->eras_open, rr_old_copies(f),
			   f->fx->nsites, f->fx->nex, f->fx->njump);
	}
	mutex_unlock(&rr_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rr_module);

static int rr_guard_dbg_show(struct seq_file *sf, void *unused)
{
	rr_guard_show(sf);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rr_guard_dbg);

static int rr_state_dbg_show(struct seq_file *sf, void *unused)
{
	rr_state_show(sf);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(rr_state_dbg);

void rr_debugfs_init(void)
{
	rr_dir = debugfs_create_dir("rerand", NULL);
	debugfs_create_file("stats", 0400, rr_dir, NULL, &rr_stats_fops);
	debugfs_create_file("guard", 0400, rr_dir, NULL, &rr_guard_dbg_fops);
	debugfs_create_file("mover", 0400, rr_dir, NULL, &rr_mover_fops);
	debugfs_create_file("state", 0400, rr_dir, NULL, &rr_state_dbg_fops);
	debugfs_create_file("windows", 0600, rr_dir, NULL, &rr_windows_fops);
}

void rr_debugfs_exit(void)
{
	debugfs_remove_recursive(rr_dir);
}

void rr_debugfs_add(struct rr_module *m)
{
	m->dbg = debugfs_create_file(m->mod->name, 0400, rr_dir, m,
				     &rr_module_fops);
}

/* Waits for running readers of the file; call without rr_lock. */
void rr_debugfs_remove(struct rr_module *m)
{
	debugfs_remove(m->dbg);
	m->dbg = NULL;
}
