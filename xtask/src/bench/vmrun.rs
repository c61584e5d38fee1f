//! The VM runs of the bench: boot, run tests/bench-call/guest.sh, parse.

use super::{call_dirs, median, null_blk_files, num, Lines};
use crate::bail;
use crate::env::Bench;
use crate::kbuild;
use crate::util::{cache_dir, root, step, Error, Result};
use crate::vm::{self, VmOptions};
use std::fs;
use std::time::{Duration, Instant};

pub(super) struct VmRun {
    pub(super) name: String,
    pub(super) smp: u32,
    pub(super) icount: bool,
    pub(super) env: String,
}

/// Boots the VM with rerand.ko, copies bfq (both builds), null_blk and
/// bench_call (both builds) in, runs tests/bench-call/guest.sh.
pub(super) fn run_vm(bench: &Bench, r: &VmRun, timeout: u64, reuse: bool) -> Result<Lines> {
    if reuse {
        let p = cache_dir().join(format!("logs/bench-{}.log", r.name));
        let text = fs::read(&p).map_err(|e| Error(format!("{}: {e}", p.display())))?;
        let log: Vec<String> = String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_string)
            .collect();
        let lines = Lines::parse(&log);
        if let Some(f) = log.iter().find(|l| vm::is_failure_line(l)) {
            bail!("{}: the kernel reported a failure: {f}", p.display());
        }
        if lines.raw("done").next().is_none() {
            bail!("{}: not a complete bench run", p.display());
        }
        step(&format!("VM run {}: reusing {}", r.name, p.display()));
        return Ok(lines);
    }
    let work = cache_dir().join("bench-run");
    fs::create_dir_all(&work).map_err(|e| Error(format!("{}: {e}", work.display())))?;
    let env_file = work.join(format!("{}.env", r.name));
    fs::write(&env_file, &r.env).map_err(|e| Error(format!("{}: {e}", env_file.display())))?;
    let bfq = crate::bfq::dirs(bench);
    let calls = call_dirs();
    let mut files = null_blk_files(bench);
    files.extend([
        (env_file, "/rerand/bench.env".to_string()),
        (bfq.ko(), "/rerand/extra/rr/bfq.ko".into()),
        (
            bfq.plain.join("bfq.ko"),
            "/rerand/extra/plain/bfq.ko".into(),
        ),
        (calls.rr_ko(), "/rerand/extra/bench_call_rr.ko".into()),
        (calls.plain_ko(), "/rerand/extra/bench_call_plain.ko".into()),
    ]);
    let opts = VmOptions {
        cpu: "max".into(),
        smp: r.smp,
        icount: r.icount,
        modules: vec![kbuild::runtime_ko()],
        files,
        script: Some(root().join("tests/bench-call/guest.sh")),
        timeout: Duration::from_secs(timeout),
        name: format!("bench-{}", r.name),
        echo: false,
        ..Default::default()
    };
    let t = Instant::now();
    let o = vm::run(bench, &opts)?;
    let lines = Lines::parse(&o.log);
    if !o.passed() || lines.raw("done").next().is_none() {
        let why: Vec<&str> = lines.raw("fail").collect();
        bail!(
            "bench VM run {} failed: {} {} (log: {})",
            r.name,
            o.verdict(),
            why.join("; "),
            o.log_path.display()
        );
    }
    step(&format!(
        "VM run {} done in {:.0} s (log: {})",
        r.name,
        t.elapsed().as_secs_f64(),
        o.log_path.display()
    ));
    Ok(lines)
}

/// Instructions (icount) or ns per call: elapsed / calls, median of reps.
pub(super) fn per_call(l: &Lines, module: &str, threads: Option<f64>, field: &str) -> f64 {
    median(
        l.of("call")
            .filter(|m| m.get("module").map(String::as_str) == Some(module))
            .filter(|m| threads.is_none_or(|t| num(m, "threads") == t))
            .map(|m| {
                let per_thread_calls = num(m, "calls") / num(m, "threads");
                if field == "elapsed_ns" {
                    num(m, "elapsed_ns") / num(m, "calls")
                } else {
                    num(m, field) / per_thread_calls
                }
            })
            .collect(),
    )
}
