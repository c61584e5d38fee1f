//! Where the mover's instructions go (section 3 of the report).

use super::{num, Lines};

/// The mover's own account of its time (debugfs `rerand/mover`,
/// cumulative over the one-vCPU icount run, bfq under dd at
/// `period_ms=1`), per copy built: under -icount shift=0 with one vCPU a
/// phase's guest ns are its own instructions (and the interrupts it took).
pub(super) fn mover_breakdown(l: &Lines) -> String {
    let Some(m) = l.of("mover").last() else {
        return "The run printed no `mover` line (debugfs `rerand/mover`).\n\n".into();
    };
    let built = num(m, "built");
    if built.is_nan() || built < 1.0 {
        return "The mover built no copy in the one-vCPU run.\n\n".into();
    }
    let v = |k: &str| num(m, k);
    let phases = [
        (
            "state check",
            v("ns_state"),
            "rr_check_state(): rerand's own writable state against the vault",
        ),
        (
            "other writers",
            v("ns_writers"),
            "rr_check_writers(): kprobes on the `bl` words, one lookup per word and period",
        ),
        (
            "grace periods",
            v("ns_advance") - v("ns_free") - v("ns_state") - v("ns_writers") - v("ns_poison"),
            "polling each function's per-CPU counters, flipping epochs",
        ),
        (
            "poison",
            v("ns_poison"),
            "dropped copies and drained originals made traps",
        ),
        (
            "free",
            v("ns_free"),
            "retiring drained arenas: unmapped once their RCU grace period ended, pages kept (execmem.c)",
        ),
        (
            "allocate",
            v("ns_alloc"),
            "one arena per module and period: an address at a random page of the region, a zeroed writable alias of kept pages",
        ),
        (
            "build",
            v("ns_build"),
            "copying each body from its snapshot and re-applying its relocations",
        ),
        (
            "protect",
            v("ns_protect"),
            "mapping the pages read-only and executable at the arena's address, cleaning the caches",
        ),
        (
            "place",
            v("ns_prepare") - v("ns_alloc") - v("ns_build") - v("ns_protect"),
            "random order and gaps",
        ),
        ("guard", v("ns_guard"), "the trampoline integrity check"),
        (
            "publish",
            v("ns_publish"),
            "one stop_machine(): the `bl`s written through a temporary alias",
        ),
    ];
    let total: f64 = phases.iter().map(|p| p.1).sum();
    let mut s = format!(
        "Where the mover's instructions go (debugfs `rerand/mover`, ktime around each phase; icount with **one vCPU**, so a phase's guest ns are its own instructions; bfq under dd at `period_ms=1`: {built:.0} copies in {:.0} periods): **{:.0} instructions per copy** in all.\n\n| phase | instructions per copy | share | what |\n|---|---|---|---|\n",
        v("ticks"),
        total / built
    );
    for (name, val, what) in phases {
        s.push_str(&format!(
            "| {name} | {:.0} | {:.0}% | {what} |\n",
            val / built,
            100.0 * val / total.max(1.0)
        ));
    }
    s.push('\n');
    s
}
