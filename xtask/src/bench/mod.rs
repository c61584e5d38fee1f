//! `cargo xtask bench`: link time, call overhead, move cost, workload
//! throughput and entropy, measured in one run and written to
//! `bench/results.json` and `bench/REPORT.md`.

use crate::bail;
use crate::env::{self, Bench};
use crate::kbuild::{self, Linker};
use crate::moves;
use crate::util::{cache_dir, root, step, Error, Result};
use relocator::module::Module;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod callpath;
mod crossings;
mod direct;
mod entropy;
mod json;
mod link;
mod mover;
mod svg;
mod vmrun;

use json::{jn, json_num, obj, s, J};
use link::{build_generated, time_links};
use mover::mover_breakdown;
use svg::{esc, Chart};
use vmrun::{per_call, run_vm, VmRun};

/// Periods of the direct-mode rows (section 4, "Direct mode").
const DIRECT_PERIODS: [&str; 3] = ["100", "10", "1"];

/// The bench as `cargo xtask env` left it (its `complete` stamp), for
/// callers that have no `Bench` at hand.
fn cached_bench() -> Option<Bench> {
    let dir = cache_dir().join("bench");
    let mut best: Option<(std::time::SystemTime, Bench)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let stamp = e.path().join("complete");
        let Ok(text) = std::fs::read_to_string(&stamp) else {
            continue;
        };
        let mut it = text.split_whitespace();
        let (Some(version), Some(release)) = (it.next(), it.next()) else {
            continue;
        };
        let t = std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
            best = Some((
                t,
                Bench {
                    version: version.into(),
                    release: release.into(),
                    sysroot: e.path().join("root"),
                },
            ));
        }
    }
    best.map(|(_, b)| b)
}

/// A stock module of the bench kernel (`kernel/<rel>`), e.g.
/// `drivers/block/null_blk/null_blk.ko`.
fn stock(bench: &Bench, rel: &str) -> PathBuf {
    let p = bench.modules_dir().join("kernel").join(rel);
    if p.exists() {
        p
    } else {
        PathBuf::from(format!("{}.xz", p.display()))
    }
}

/// configfs and null_blk (stock) for the guest's /rerand/extra/.
fn null_blk_files(bench: &Bench) -> Vec<(PathBuf, String)> {
    vec![
        (
            stock(bench, "fs/configfs/configfs.ko"),
            "/rerand/extra/configfs.ko".into(),
        ),
        (
            stock(bench, "drivers/block/null_blk/null_blk.ko"),
            "/rerand/extra/null_blk.ko".into(),
        ),
    ]
}

/// The bfq scenario's files: configfs, null_blk and bfq.ko built with
/// rerand-ld, at /rerand/extra/.
pub fn bfq_scenario_files() -> Vec<(PathBuf, String)> {
    let Some(bench) = cached_bench() else {
        // Reported by the VM as a missing file.
        return vec![(root().join(".cache/bench/(not set up)"), "/x".into())];
    };
    let mut v = null_blk_files(&bench);
    v.push((crate::bfq::dirs(&bench).ko(), "/rerand/extra/bfq.ko".into()));
    v
}

/// The two builds of `tests/bench-call/`: `bench_call_rr.ko` with
/// rerand-ld and `bench_call_plain.ko` with the plain linker and the same
/// `-ffunction-sections`, in `.cache/bench-call/{rerand,plain}/`.
pub struct CallDirs {
    pub rerand: PathBuf,
    pub plain: PathBuf,
}

impl CallDirs {
    pub fn rr_ko(&self) -> PathBuf {
        self.rerand.join("bench_call_rr.ko")
    }
    pub fn plain_ko(&self) -> PathBuf {
        self.plain.join("bench_call_plain.ko")
    }
}

pub fn call_dirs() -> CallDirs {
    let base = cache_dir().join("bench-call");
    CallDirs {
        rerand: base.join("rerand"),
        plain: base.join("plain"),
    }
}

/// Leaves files whose content is unchanged alone, so make does not rebuild.
fn write_if_changed(p: &Path, data: &[u8]) -> Result<()> {
    if fs::read(p).is_ok_and(|old| old == data) {
        return Ok(());
    }
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).map_err(|e| Error(format!("{}: {e}", d.display())))?;
    }
    fs::write(p, data).map_err(|e| Error(format!("{}: {e}", p.display())))
}

/// Builds bench_call_rr.ko and bench_call_plain.ko (from `cargo xtask build`).
pub fn build_call_modules(bench: &Bench) -> Result<CallDirs> {
    let d = call_dirs();
    let read = |name: &str| {
        let src = root().join("tests/bench-call").join(name);
        fs::read(&src).map_err(|e| Error(format!("{}: {e}", src.display())))
    };
    let (code, header) = (read("bench_call.c")?, read("bench_call.h")?);
    for (dir, name, tail, linker) in [
        (
            &d.rerand,
            "bench_call_rr",
            "include $(RERAND_MK)",
            Linker::Rerand,
        ),
        (
            &d.plain,
            "bench_call_plain",
            "ccflags-y += -ffunction-sections",
            Linker::Plain,
        ),
    ] {
        write_if_changed(&dir.join("bench_call.c"), &code)?;
        write_if_changed(&dir.join("bench_call.h"), &header)?;
        let kbuild = format!(
            "# Generated by xtask/src/bench.rs from tests/bench-call/.\n\
             obj-m := {name}.o\n{name}-y := bench_call.o\n{tail}\n"
        );
        write_if_changed(&dir.join("Kbuild"), kbuild.as_bytes())?;
        kbuild::build_module_dir(bench, dir, linker)?;
    }
    Ok(d)
}

// ---------------------------------------------------------------------
// `cargo xtask bench`
// ---------------------------------------------------------------------

/// Sizes of one bench run.
pub struct BenchOpts {
    /// Smaller runs (a few minutes): for checking the bench itself.
    pub quick: bool,
    /// Where results.json, REPORT.md and the SVGs go.
    pub out: PathBuf,
    /// Read the VM runs' results from the last run's logs (.cache/logs/
    /// bench-*.log) instead of booting: to iterate on the report.
    pub reuse_logs: bool,
}

/// Exposure windows of the copies dropped during one period's I/O
/// (debugfs `rerand/windows`): publication to the period that drops them.
struct Window {
    period: String,
    /// What ran besides the mover: `dd`, or `dd+sampler` (a shell reading
    /// debugfs 20 times a second).
    load: String,
    copies: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    ticks_per_s: f64,
}

struct Lines(Vec<(String, BTreeMap<String, String>, String)>);

impl Lines {
    fn parse(log: &[String]) -> Lines {
        let mut v = Vec::new();
        for l in log {
            let Some(rest) = l.split_once("BENCH ").map(|(_, r)| r) else {
                continue;
            };
            let mut it = rest.splitn(2, ' ');
            let kind = it.next().unwrap_or("").to_string();
            let body = it.next().unwrap_or("").to_string();
            let kv = body
                .split_whitespace()
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            v.push((kind, kv, body));
        }
        Lines(v)
    }
    fn of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a BTreeMap<String, String>> + 'a {
        self.0.iter().filter(move |l| l.0 == kind).map(|l| &l.1)
    }
    fn raw<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |l| l.0 == kind)
            .map(|l| l.2.as_str())
    }
}

fn num(m: &BTreeMap<String, String>, k: &str) -> f64 {
    m.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The cost of a move: the same dd work at each period differs in the
/// number of moves made meanwhile; the least-squares slope of
/// instructions against moves over the configs named `prefix<period>`
/// with `bs` KiB blocks, and how many runs it fits.
fn fit_moves(l: &Lines, prefix: &str, bs: &str) -> (f64, usize) {
    let pts: Vec<(f64, f64)> = l
        .of("work")
        .filter(|m| {
            m.get("config")
                .and_then(|c| c.strip_prefix(prefix))
                .is_some_and(|p| p.parse::<u32>().is_ok())
        })
        .filter(|m| m.get("bs_k").map(String::as_str) == Some(bs))
        .map(|m| {
            (
                num(m, "moves"),
                (num(m, "write_us") + num(m, "read_us")) * 1e3,
            )
        })
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    (sxy / sxx, pts.len())
}

/// Median write, read and overall MB/s of config `cfg` with `bs` KiB blocks.
fn throughput(l: &Lines, cfg: &str, bs: &str) -> (f64, f64, f64) {
    let rows: Vec<&BTreeMap<String, String>> = l
        .of("work")
        .filter(|m| m.get("config").map(String::as_str) == Some(cfg))
        .filter(|m| m.get("bs_k").map(String::as_str) == Some(bs))
        .collect();
    let mb = |m: &BTreeMap<String, String>, k: &str| num(m, "mib") / (num(m, k) / 1e6);
    (
        median(rows.iter().map(|m| mb(m, "write_us")).collect()),
        median(rows.iter().map(|m| mb(m, "read_us")).collect()),
        median(
            rows.iter()
                .map(|m| 2.0 * num(m, "mib") / ((num(m, "write_us") + num(m, "read_us")) / 1e6))
                .collect(),
        ),
    )
}

/// Median moves per guest second of config `cfg` at block size `bs`
/// (the work lines' moves over their write and read time).
fn moves_per_s(l: &Lines, cfg: &str, bs: &str) -> f64 {
    median(
        l.of("work")
            .filter(|m| m.get("config").map(String::as_str) == Some(cfg))
            .filter(|m| m.get("bs_k").map(String::as_str) == Some(bs))
            .map(|m| num(m, "moves") / ((num(m, "write_us") + num(m, "read_us")) / 1e6))
            .collect(),
    )
}

// ------------------------------- the run -----------------------------

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn cmd_bench(opts: BenchOpts) -> Result<()> {
    let started = Instant::now();
    let quick = opts.quick;
    let bench = env::ensure()?;
    kbuild::build_all(&bench)?;
    let load_before = sh("cut -d' ' -f1-3 /proc/loadavg");
    let machine = vec![
        ("nproc", s(sh("nproc"))),
        (
            "cpu",
            s(sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-")),
        ),
        ("qemu", s(sh("qemu-system-aarch64 --version | head -1"))),
        (
            "kernel",
            s(format!("Debian {} ({})", bench.release, bench.version)),
        ),
        ("loadavg_at_start", s(load_before.clone())),
    ];

    // 1. Link time.
    let reps = if quick { 3 } else { 7 };
    let bfqd = crate::bfq::dirs(&bench);
    let mut links = vec![time_links(&bench, "bfq", &bfqd.rerand, &bfqd.ko(), reps)?];
    let ngen = if quick { 2000 } else { 10000 };
    let gen_rr = build_generated(&bench, ngen)?;
    links.push(time_links(
        &bench,
        &format!("generated, {ngen} functions"),
        &gen_rr,
        &gen_rr.join("bench_gen.ko"),
        reps,
    )?);
    let inspect = crate::util::output(
        Command::new(root().join("target/release/rerand"))
            .args(["inspect", "--json"])
            .arg(bfqd.ko()),
        "rerand inspect --json bfq.ko",
    )?;
    let bfq_mod = Module::read(&bfqd.ko()).map_err(|e| Error(e.to_string()))?;
    let randomized = bfq_mod.functions.len() as f64;
    // What moves of the other real modules (section 7), built now so a
    // build failure stops the bench before the VM runs.
    moves::build_out_of_tree(&bench)?;

    // 2-5. The VM runs: three under -icount at once (instruction counts do
    // not depend on the host), then one in real time alone.
    let (reps_w, samples, call_reps) = if quick { (1, 15, 1) } else { (5, 40, 3) };
    let common = format!(
        "CALL_REPS={call_reps}\nITER=200000\nMOVE_ITER={}\nMIB=8\nBLOCKS=\"4 64\"\nPERIODS=\"100 10 5 2 1\"\nREPS={reps_w}\nENTROPY_PERIOD=10\nSAMPLES={samples}\nSAMPLE_GAP=0.05\nCROSS_MIB=2\n",
        if quick { 4000000 } else { 10000000 }
    );
    let runs = [
        VmRun {
            name: "icount-smp1".into(),
            smp: 1,
            icount: true,
            // The workload once at 1 ms: the mover's profile, exact with
            // one vCPU (section 3).
            env: format!(
                "{common}PARTS=\"call workload\"\nCALL_THREADS=\"0\"\nPERIODS=\"1\"\nBLOCKS=\"64\"\nREPS=1\n"
            ),
        },
        VmRun {
            name: "icount-smp2".into(),
            smp: 2,
            icount: true,
            env: format!(
                "{common}PARTS=\"call move workload pending crossings entropy\"\nCALL_THREADS=\"0\"\nDIRECT_PERIODS=\"{}\"\n",
                DIRECT_PERIODS.join(" ")
            ),
        },
        VmRun {
            name: "icount-smp4".into(),
            smp: 4,
            icount: true,
            env: format!("{common}PARTS=\"call\"\nCALL_THREADS=\"0\"\n"),
        },
    ];
    let vm_started = Instant::now();
    step("bench: three VM runs under -icount (in parallel)");
    let results: Vec<Result<Lines>> = std::thread::scope(|sc| {
        let hs: Vec<_> = runs
            .iter()
            .map(|r| sc.spawn(|| run_vm(&bench, r, 1500, opts.reuse_logs)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error("VM thread".into()))))
            .collect()
    });
    let mut ic = Vec::new();
    for r in results {
        ic.push(r?);
    }
    step("bench: one VM run in real time (multi-threaded TCG)");
    let wall = run_vm(
        &bench,
        &VmRun {
            name: "wall-smp2".into(),
            smp: 2,
            icount: false,
            env: format!(
                "{}PARTS=\"call workload\"\nCALL_THREADS=\"1 2\"\n",
                // 4 KiB blocks take minutes per configuration in real time.
                common.replace("BLOCKS=\"4 64\"", "BLOCKS=\"64\"")
            ),
        },
        1500,
        opts.reuse_logs,
    )?;
    let load_after = sh("cut -d' ' -f1-3 /proc/loadavg");
    let vm_seconds = vm_started.elapsed().as_secs_f64();

    // Call overhead.
    let mut call_rows = Vec::new();
    for (l, smp) in ic.iter().zip([1, 2, 4]) {
        let p = per_call(l, "bench_call_plain", None, "elapsed_ns");
        let r = per_call(l, "bench_call_rr", None, "elapsed_ns");
        call_rows.push((smp, p, r));
    }
    let added = call_rows[1].2 - call_rows[1].1;
    let mut wall_rows = Vec::new();
    for th in [1.0, 2.0] {
        let p = per_call(&wall, "bench_call_plain", Some(th), "thread_ns_avg");
        let r = per_call(&wall, "bench_call_rr", Some(th), "thread_ns_avg");
        wall_rows.push((th, p, r));
    }
    let wrong = ic
        .iter()
        .chain([&wall])
        .flat_map(|l| l.raw("call"))
        .filter(|b| b.contains("WRONG"))
        .count();

    // Move cost (icount smp2): the same call loop, mover paused vs 1 ms.
    let l2 = &ic[1];
    let mv = |paused: &str, k: &str| {
        median(
            l2.of("move")
                .filter(|m| m.get("paused").map(String::as_str) == Some(paused))
                .map(|m| num(m, k))
                .collect(),
        )
    };
    // A second estimate: the call loop on every CPU, mover paused vs at
    // 1 ms (the difference in instructions over the moves made).
    let loop_moves = mv("0", "moves");
    let loop_insn_per_move = (mv("0", "elapsed_ns") - mv("1", "elapsed_ns")) / loop_moves;
    // The cost: the same dd work at each period differs in the number of
    // moves made meanwhile; the slope of instructions against moves.
    let (fit4, n4) = fit_moves(l2, "rr", "4");
    let (fit64, n64) = fit_moves(l2, "rr", "64");
    let insn_per_move = median(vec![fit4, fit64]);

    // Pending over time, drain, memory.
    let mut pend_series = Vec::new();
    let mut pend_rows = Vec::new();
    let mut windows = Vec::new();
    let mut vmalloc_peak: f64 = 0.0;
    for p in ["10", "1"] {
        let pts: Vec<&BTreeMap<String, String>> = l2
            .of("pend")
            .filter(|m| m.get("period").map(String::as_str) == Some(p))
            .collect();
        let series: Vec<(f64, f64)> = pts
            .iter()
            .map(|m| (num(m, "t_us") / 1e3, num(m, "pending")))
            .collect();
        let (first, last) = (pts.first(), pts.last());
        let (dt, dm) = match (first, last) {
            (Some(a), Some(b)) => (
                (num(b, "t_us") - num(a, "t_us")) / 1e6,
                num(b, "moves") - num(a, "moves"),
            ),
            _ => (f64::NAN, f64::NAN),
        };
        let mean_pending = series.iter().map(|x| x.1).sum::<f64>() / series.len().max(1) as f64;
        let rate = dm / dt;
        for m in &pts {
            vmalloc_peak = vmalloc_peak.max(num(m, "vmalloc_kb"));
        }
        let drain = l2
            .of("drain")
            .find(|m| m.get("period").map(String::as_str) == Some(p));
        let drain_ms = drain.map_or(f64::NAN, |m| num(m, "drain_us") / 1e3);
        let vm_after = drain.map_or(f64::NAN, |m| num(m, "vmalloc_kb"));
        pend_rows.push((
            p.to_string(),
            rate,
            mean_pending,
            mean_pending / rate * 1e3,
            drain_ms,
            vm_after,
            rate / randomized,
        ));
        pend_series.push((format!("period {p} ms"), series));
        for w in l2
            .of("window")
            .filter(|m| m.get("period").map(String::as_str) == Some(p))
        {
            windows.push(Window {
                period: p.to_string(),
                load: w.get("load").cloned().unwrap_or_else(|| "dd".into()),
                copies: num(w, "copies"),
                p50_ms: num(w, "p50_us") / 1e3,
                p99_ms: num(w, "p99_us") / 1e3,
                max_ms: num(w, "max_us") / 1e3,
                ticks_per_s: num(w, "ticks") / (num(w, "t_us") / 1e6),
            });
        }
    }
    let vmalloc_base = pend_rows.iter().map(|r| r.5).fold(f64::INFINITY, f64::min);

    // Workload throughput.
    let periods = ["100", "10", "5", "2", "1"];
    // What the call path holds (callpath.rs).
    let tramp_census = callpath::trampolines(&call_dirs().rr_ko())?;
    let hooks_census = callpath::hooks(&ic[1]);
    // Crossings per 4 KiB request, and the model they feed (crossings.rs).
    let cross = crossings::Crossings::parse(&ic[1], "cross");
    match &cross {
        None => bail!("bench: the smp2 run printed no crossings line"),
        Some(c) if c.external + c.internal == 0.0 || c.requests < 1.0 => {
            bail!("bench: the function tracer counted no crossing of bfq's trampolines")
        }
        Some(c) if c.lost > 0.0 => bail!(
            "bench: the trace lost {} events: crossings undercounted",
            c.lost
        ),
        _ => {}
    }
    let plain_per_request_4k = {
        let n = 2.0 * 8.0 * 1024.0 / 4.0; // MIB=8 written, then read, in 4 KiB
        median(
            ic[1]
                .of("work")
                .filter(|m| m.get("config").map(String::as_str) == Some("plain"))
                .filter(|m| m.get("bs_k").map(String::as_str) == Some("4"))
                .map(|m| (num(m, "write_us") + num(m, "read_us")) * 1e3 / n)
                .collect(),
        )
    };
    let bad_data = ic
        .iter()
        .chain([&wall])
        .flat_map(|l| l.of("work"))
        .filter(|m| m.get("ok").map(String::as_str) != Some("1"))
        .count();
    let mut work_json = Vec::new();
    let mut work_md = String::new();
    let mut ratio_series = Vec::new();
    let mut shortest: Vec<(String, String, Option<String>)> = Vec::new();
    for (label, l) in [("icount", &ic[1]), ("real time", &wall)] {
        for bs in ["4", "64"] {
            let base = throughput(l, "plain", bs);
            if !base.2.is_finite() {
                continue;
            }
            work_md.push_str(&format!(
                "| {label} | {bs} KiB | plain bfq.ko | {:.1} | {:.1} | {:.1} | 1.000 |\n",
                base.0, base.1, base.2
            ));
            let mut rows = vec![obj(vec![
                ("config", s("plain")),
                ("write_mb_s", jn(base.0)),
                ("read_mb_s", jn(base.1)),
                ("mb_s", jn(base.2)),
                ("ratio", jn(1.0)),
            ])];
            let mut series = Vec::new();
            // The shortest period such that it and every longer one lose
            // under 5% (periods run from the longest down).
            let mut best: Option<String> = None;
            let mut all_ok = true;
            for p in periods {
                let t = throughput(l, &format!("rr{p}"), bs);
                let ratio = t.2 / base.2;
                all_ok &= ratio >= 0.95;
                if all_ok {
                    best = Some(p.to_string());
                }
                series.push(((p.parse::<f64>().unwrap()).log10(), ratio));
                work_md.push_str(&format!(
                    "| {label} | {bs} KiB | rerand, period {p} ms | {:.1} | {:.1} | {:.1} | {:.3} |\n",
                    t.0, t.1, t.2, ratio
                ));
                rows.push(obj(vec![
                    ("config", s(format!("rerand period_ms={p}"))),
                    ("write_mb_s", jn(t.0)),
                    ("read_mb_s", jn(t.1)),
                    ("mb_s", jn(t.2)),
                    ("ratio", jn(ratio)),
                ]));
            }
            work_json.push(obj(vec![
                ("clock", s(label)),
                ("block_kib", jn(bs.parse().unwrap())),
                ("rows", J::A(rows)),
            ]));
            ratio_series.push((format!("{bs} KiB blocks ({label})"), series));
            shortest.push((label.into(), bs.into(), best));
        }
    }

    // Direct mode (direct.rs).
    let direct = direct::Direct::measure(l2, &DIRECT_PERIODS);
    if direct.is_none() {
        bail!("bench: the smp2 run measured no direct mode");
    }

    // Entropy (entropy.rs).
    let ent = entropy::Entropy::measure(l2, &bfq_mod);

    // Memory.
    let tramp_b = json_num(&inspect, "trampoline_bytes");
    let table_b = json_num(&inspect, "table_bytes");
    let slot_b = json_num(&inspect, "slot_bytes");
    let peak_extra_kb = vmalloc_peak - vmalloc_base;

    // Plots.
    fs::create_dir_all(&opts.out).map_err(|e| Error(format!("{}: {e}", opts.out.display())))?;
    let xt: Vec<(f64, String)> = periods
        .iter()
        .map(|p| (p.parse::<f64>().unwrap().log10(), format!("{p} ms")))
        .collect();
    let charts = [
        (
            "throughput.svg",
            Chart {
                title: "bfq + null_blk under dd: throughput with rerand / plain bfq.ko",
                xlabel: "rerandomization period (log scale)",
                ylabel: "throughput ratio (1 = plain)",
                series: ratio_series,
                xticks: Some(xt),
                hline: Some((0.95, "5% loss".into())),
                points: false,
            },
        ),
        (
            "addresses.svg",
            Chart {
                title: "bfq bodies over time (period 10 ms): body - trampoline",
                xlabel: "sample (ms of sampling, one read every 50 ms)",
                ylabel: "MiB from the trampoline",
                series: ent.addr_series.clone(),
                xticks: None,
                hline: None,
                points: true,
            },
        ),
        (
            "pending.svg",
            Chart {
                title: "bfq old copies not yet freed, under dd I/O",
                xlabel: "guest ms (icount)",
                ylabel: "pending functions",
                series: pend_series,
                xticks: None,
                hline: Some((randomized, "all randomized".into())),
                points: false,
            },
        ),
    ];
    for (f, c) in &charts {
        let p = opts.out.join(f);
        fs::write(&p, c.svg()).map_err(|e| Error(format!("{}: {e}", p.display())))?;
    }

    // What moves of real modules: bfq.ko, the out-of-tree builds, and the
    // in-tree kernel's if built.
    let shares = moves::real_modules(&bench)?;
    let moves_json: Vec<J> = shares
        .iter()
        .map(|m| {
            obj(vec![
                ("module", s(m.name.clone())),
                ("functions", jn(m.functions as f64)),
                ("moving", jn(m.moving as f64)),
                ("init_exit", jn(m.init_exit as f64)),
                ("moving_pct_not_init_exit", jn(m.functions_pct())),
                ("code_bytes", jn(m.bytes as f64)),
                ("moving_code_bytes", jn(m.moving_bytes as f64)),
                ("moving_code_bytes_pct", jn(m.bytes_pct())),
            ])
        })
        .collect();

    // results.json
    let mut link_json = Vec::new();
    for lt in &links {
        link_json.push(obj(vec![
            ("module", s(lt.name.clone())),
            ("functions", jn(lt.functions as f64)),
            ("randomized", jn(lt.randomized as f64)),
            ("rerand_ld_ms", jn(lt.rerand_ms)),
            ("plain_ld_ms", jn(lt.plain_ms)),
            ("ratio", jn(lt.ratio())),
            ("us_per_function", jn(lt.us_per_function())),
        ]));
    }
    let call_json: Vec<J> = call_rows
        .iter()
        .map(|&(smp, p, r)| {
            obj(vec![
                ("smp", jn(smp as f64)),
                ("threads", jn(smp as f64)),
                ("plain_insn_per_call", jn(p)),
                ("rerand_insn_per_call", jn(r)),
                ("added_insn_per_call", jn(r - p)),
                ("ratio", jn(r / p)),
            ])
        })
        .collect();
    let wall_json: Vec<J> = wall_rows
        .iter()
        .map(|&(th, p, r)| {
            obj(vec![
                ("threads", jn(th)),
                ("plain_ns_per_call", jn(p)),
                ("rerand_ns_per_call", jn(r)),
                ("added_ns_per_call", jn(r - p)),
                ("ratio", jn(r / p)),
            ])
        })
        .collect();
    let pend_json: Vec<J> = pend_rows
        .iter()
        .map(|r| {
            obj(vec![
                ("period_ms", s(r.0.clone())),
                ("moves_per_s", jn(r.1)),
                ("moves_per_function_per_s", jn(r.6)),
                ("mean_pending", jn(r.2)),
                ("old_copy_lifetime_ms", jn(r.3)),
                ("drain_after_pause_ms", jn(r.4)),
            ])
        })
        .collect();
    let windows_json: Vec<J> = windows
        .iter()
        .map(|w| {
            obj(vec![
                ("period_ms", s(w.period.clone())),
                ("load", s(w.load.clone())),
                ("copies", jn(w.copies)),
                ("p50_ms", jn(w.p50_ms)),
                ("p99_ms", jn(w.p99_ms)),
                ("max_ms", jn(w.max_ms)),
                ("mover_ticks_per_s", jn(w.ticks_per_s)),
            ])
        })
        .collect();
    let json = obj(vec![
        ("machine", obj(machine)),
        ("loadavg_at_end", s(load_after.clone())),
        ("quick", s(if quick { "yes" } else { "no" })),
        ("seconds", jn(started.elapsed().as_secs_f64().round())),
        (
            "link",
            obj(vec![
                ("clock", s("host wall clock, median")),
                ("target_ratio", jn(1.3)),
                ("modules", J::A(link_json)),
            ]),
        ),
        (
            "call",
            obj(vec![
                (
                    "icount",
                    obj(vec![
                        (
                            "note",
                            s("-icount shift=0: 1 guest ns = 1 instruction, summed over CPUs; elapsed_ns / calls"),
                        ),
                        ("target_added_insn", jn(20.0)),
                        ("runs", J::A(call_json)),
                    ]),
                ),
                (
                    "real_time",
                    obj(vec![
                        ("note", s("multi-threaded TCG, emulated time, noisy host: per-thread ns per call")),
                        ("runs", J::A(wall_json)),
                    ]),
                ),
                ("wrong_results", jn(wrong as f64)),
                (
                    "call_path",
                    callpath::json(&tramp_census, hooks_census.as_ref()),
                ),
            ]),
        ),
        (
            "move",
            obj(vec![
                ("randomized_functions", jn(randomized)),
                ("insn_per_move", jn(insn_per_move)),
                ("insn_per_move_fit_4k", jn(fit4)),
                ("insn_per_move_fit_64k", jn(fit64)),
                ("insn_per_full_pass", jn(insn_per_move * randomized)),
                ("call_loop_moves", jn(loop_moves)),
                ("call_loop_insn_per_move", jn(loop_insn_per_move)),
                ("pending", J::A(pend_json)),
                ("exposure_windows", J::A(windows_json)),
            ]),
        ),
        (
            "workload",
            obj(vec![
                ("mib_per_direction", jn(8.0)),
                ("reps", jn(reps_w as f64)),
                ("data_errors", jn(bad_data as f64)),
                ("runs", J::A(work_json)),
                (
                    "shortest_period_under_5pct_loss",
                    J::A(
                        shortest
                            .iter()
                            .map(|(c, b, p)| {
                                obj(vec![
                                    ("clock", s(c.clone())),
                                    ("block_kib", s(b.clone())),
                                    ("period_ms", p.clone().map_or(J::N(f64::NAN), s)),
                                ])
                            })
                            .collect(),
                    ),
                ),
            ]),
        ),
        ("entropy", ent.json()),
        ("direct_mode", direct.as_ref().map_or(J::N(f64::NAN), |d| d.json())),
        ("moves", J::A(moves_json)),
        (
            "crossings_4k",
            cross
                .as_ref()
                .map_or(J::N(f64::NAN), |c| c.json(added, plain_per_request_4k)),
        ),
        (
            "memory",
            obj(vec![
                ("trampoline_bytes_per_function", jn(tramp_b / randomized)),
                ("table_bytes_per_function", jn(table_b / randomized)),
                ("slot_bytes_per_function", jn(slot_b / randomized)),
                ("vmalloc_peak_extra_kb", jn(peak_extra_kb)),
            ]),
        ),
    ]);
    let mut text = String::new();
    json.write(&mut text, 0);
    text.push('\n');
    let jp = opts.out.join("results.json");
    fs::write(&jp, text).map_err(|e| Error(format!("{}: {e}", jp.display())))?;

    // REPORT.md
    // The VM runs' duration, for a later --reuse-logs report.
    let vm_secs_file = cache_dir().join("bench-run/vm-seconds");
    if !opts.reuse_logs {
        let _ = fs::write(&vm_secs_file, format!("{:.0}\n", vm_seconds));
    }
    let reuse_note = format!(
        " (--reuse-logs: link times measured now, the VM results read from the logs of the last full run, whose VM runs took {} s)",
        fs::read_to_string(&vm_secs_file)
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    );
    let mut md = String::new();
    md.push_str("# rerand bench report\n\n");
    md.push_str(&format!(
        "Written by `cargo xtask bench` in {:.0} s{}; every number below comes from this one run (`results.json` has them all).\n\n",
        started.elapsed().as_secs_f64(),
        match (quick, opts.reuse_logs) {
            (true, _) => " (--quick: small sizes)",
            (false, true) => &reuse_note,
            _ => "",
        }
    ));
    md.push_str("## Machine\n\n");
    md.push_str(&format!(
        "- host: {} CPUs, {}; load average {} at the start, {} at the end (the machine is shared: wall-clock numbers are noisy)\n- {}\n- guest: {} under `qemu-system-aarch64 -M virt -cpu max`, 1 GiB\n\n",
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-"),
        load_before,
        load_after,
        sh("qemu-system-aarch64 --version | head -1"),
        format_args!("Debian {} ({})", bench.release, bench.version),
    ));
    md.push_str("Two clocks, labelled everywhere:\n\n- **icount**: `-icount shift=0`, one guest nanosecond per executed instruction, summed over all vCPUs (QEMU runs them in turn). These are instruction counts: they do not depend on the host's load. Only these and ratios are claims.\n- **real time**: multi-threaded TCG, emulated arm64 on x86 on a shared host: indicative only.\n\n");

    md.push_str("## 1. Link time (host, wall clock)\n\n");
    md.push_str("Kbuild's two links (`ld -r` of the objects, then the `.ko`) re-run from its `.cmd` files with rerand-ld and with the plain `aarch64-linux-gnu-ld` on the same inputs, alternating, median. Target: under 1.30x.\n\n| module | functions | randomized | rerand-ld ms | plain ms | ratio | rerand-ld's own cost per function |\n|---|---|---|---|---|---|---|\n");
    for lt in &links {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.2}x | {:.1} us |\n",
            lt.name,
            lt.functions,
            lt.randomized,
            lt.rerand_ms,
            lt.plain_ms,
            lt.ratio(),
            lt.us_per_function()
        ));
    }
    md.push_str(&format!(
        "\nrerand-ld's own time (rerand-ld minus plain) is {:.1} ms for {} functions and {:.1} ms for {}: {:.1} and {:.1} us per function, so it grows {}.\n\n",
        links[0].rerand_ms - links[0].plain_ms,
        links[0].functions,
        links[1].rerand_ms - links[1].plain_ms,
        links[1].functions,
        links[0].us_per_function(),
        links[1].us_per_function(),
        if links[1].rerand_ms - links[1].plain_ms <= 0.05 * links[1].plain_ms {
            "by less than the noise of this host for many functions (the difference is within 5% of the plain link)"
        } else if links[1].us_per_function() <= 1.5 * links[0].us_per_function() {
            "no faster than linearly with the number of functions (a fixed part dominates small modules)"
        } else {
            "faster than linearly with the number of functions"
        }
    ));

    md.push_str("## 2. Call overhead (tests/bench-call, icount)\n\n");
    md.push_str("`bench_call` built twice: `bench_call_plain.ko` (plain linker) and `bench_call_rr.ko` (rerand-ld: every call goes through the 64-byte trampoline and the hooks `add_pause_list` and `remove_pause_list`); mover paused. One thread per CPU calls two small noinline functions in a loop; instructions per call = guest ns / calls, summed over all CPUs (loop overhead included in both).\n\n| CPUs (threads) | plain insn/call | rerand insn/call | added | ratio |\n|---|---|---|---|---|\n");
    for &(smp, p, r) in &call_rows {
        md.push_str(&format!(
            "| {smp} | {p:.1} | {r:.1} | {:.1} | {:.2}x |\n",
            r - p,
            r / p
        ));
    }
    md.push_str(&format!(
        "\n**{added:.1} instructions added per call** (2 CPUs). Target: at most 20: **{}**. The added count does not grow with the number of CPUs calling at once (1, 2, 4 above): the pause list is per-CPU counters, no lock, so CPUs are not serialised. {} wrong results.\n\n",
        if added <= 20.0 { "met" } else { "not met" },
        wrong
    ));
    md.push_str(&callpath::markdown(&tramp_census, hooks_census.as_ref()));
    md.push_str("Real time (multi-threaded TCG, smp 2; emulated, noisy): per-thread ns per call.\n\n| threads | plain ns/call | rerand ns/call | added | ratio |\n|---|---|---|---|---|\n");
    for &(th, p, r) in &wall_rows {
        md.push_str(&format!(
            "| {th} | {p:.2} | {r:.2} | {:.2} | {:.2}x |\n",
            r - p,
            r / p
        ));
    }

    md.push_str("\n## 3. Moves\n\n");
    md.push_str(&format!(
        "Cost of a move (icount, smp 2): the workload runs of section 4 do the same dd work at every period and differ in how many bodies moved meanwhile; the least-squares slope of instructions against moves is {:.0} instructions per move with 4 KiB blocks ({} runs) and {:.0} with 64 KiB blocks ({} runs): **about {:.0} instructions per body moved** (allocation, copy and relocation, cache maintenance, permissions, the all-CPU synchronisations and the retargeting, shared by the functions moved in the same period), **{:.2} M instructions per full pass** over bfq's {} randomized functions.\n\n",
        fit4, n4, fit64, n64, insn_per_move, insn_per_move * randomized / 1e6, randomized
    ));
    md.push_str(&if loop_moves >= 10.0 * randomized {
        format!(
            "Second estimate, from the call loop on both CPUs with the mover paused and at `period_ms=1` (bfq idle): {loop_insn_per_move:.0} instructions per move over {loop_moves:.0} moves.\n\n"
        )
    } else {
        format!(
            "Open question: while both CPUs run bench_call's loop (kernel threads that yield with `cond_resched()` every 1,024 iterations), the mover at `period_ms=1` made only {loop_moves:.0} moves in {:.0} ms of guest time, about one pass: its work item barely ran. Under dd it keeps up (below).\n\n",
            mv("0", "elapsed_ns") / 1e6
        )
    });
    md.push_str(&mover_breakdown(&ic[0]));
    md.push_str("While dd writes through bfq (icount, smp 2). The period is kept by an hrtimer, so a period shorter than a jiffy (4 ms at HZ=250) means what it says, as far as the mover keeps up (mover ticks per second below); each old copy is kept while an era that may run it is open (grace periods, polled once per period). Old-copy lifetime = mean pending / moves per second (Little's law).\n\n| period | moves/s | moves per function per s | mean pending | old-copy lifetime | drain after pause |\n|---|---|---|---|---|---|\n");
    for r in &pend_rows {
        md.push_str(&format!(
            "| {} ms | {:.0} | {:.1} | {:.1} of {} | {:.1} ms | {:.1} ms |\n",
            r.0, r.1, r.6, r.2, randomized, r.3, r.4
        ));
    }
    md.push_str("\nExposure window: how long a body address stays executable once published, i.e. from the retargeting that makes a copy current to the period that drops it (its last era proved quiet; its bytes become traps, or its arena is unmapped, in that period). Per copy dropped during the I/O (debugfs `rerand/windows`, 250 us buckets; a percentile is its bucket's upper end), twice per period: under dd alone, and while a shell also samples `pending` 20 times a second (each sample forks and reads debugfs, whose files take the mover's mutex), so a busier machine's delays show.\n\n| period | load | mover ticks/s | copies | p50 | p99 | max |\n|---|---|---|---|---|---|---|\n");
    for w in &windows {
        md.push_str(&format!(
            "| {} ms | {} | {:.0} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms |\n",
            w.period, w.load, w.ticks_per_s, w.copies, w.p50_ms, w.p99_ms, w.max_ms
        ));
    }
    let p99_at_1 = |load: &str| {
        windows
            .iter()
            .find(|w| w.period == "1" && w.load == load)
            .map_or(f64::NAN, |w| w.p99_ms)
    };
    let (alone, sampled) = (p99_at_1("dd"), p99_at_1("dd+sampler"));
    md.push_str(&format!(
        "\nTarget: p99 under 5 ms at `period_ms=1` for bfq under dd: **{}** (dd alone: {alone:.2} ms; with the sampler: {sampled:.2} ms, {}).\n",
        if alone < 5.0 { "met" } else { "not met" },
        if sampled < 5.0 { "met too" } else { "not met" }
    ));
    md.push_str(&format!(
        "\n![pending](pending.svg)\n\nMemory: the copies of one module and period share one arena (its pages plus a guard page), unmapped with its last copy; its pages are kept for later arenas (up to 8 unused page sets, docs/DESIGN.md \"The arenas' pages\"); VmallocUsed peaked {:.0} KiB above its value once the mover was paused and drained ({:.0} KiB).\n\n",
        peak_extra_kb, vmalloc_base
    ));

    md.push_str("## 4. Workload: bfq + null_blk + dd\n\n");
    md.push_str(&format!(
        "null_blk (stock, `memory_backed=1`, 4 KiB sectors) with bfq as its scheduler; per configuration and repetition: write {} MiB of random data with `dd oflag=direct`, read it back with `iflag=direct`, md5 checked ({} mismatches). `plain bfq.ko` is the same sources and `-ffunction-sections` linked with the plain linker. Median of {} repetitions, configurations interleaved. Periods 100, 10, 5, 2 and 1 ms. Throughput in MB per guest second (under icount a guest second is 10^9 instructions, plus any time all vCPUs sleep, which passes in real time).\n\n| clock | block | bfq | write MB/s | read MB/s | MB/s | ratio |\n|---|---|---|---|---|---|---|\n",
        8, bad_data, reps_w
    ));
    md.push_str(&work_md);
    md.push_str("\n![throughput](throughput.svg)\n\nShortest period with under 5% loss, at it and at every longer period measured:\n\n");
    for (c, b, p) in &shortest {
        md.push_str(&format!(
            "- {c}, {b} KiB blocks: {}\n",
            p.as_ref()
                .map_or("none of the periods measured".into(), |p| format!(
                    "**{p} ms**"
                ))
        ));
    }
    md.push_str("\nWith 4 KiB blocks every request crosses bfq many times for little data, so the per-call cost of the trampolines shows even when nothing moves (period 100 ms); larger blocks amortise it. In real time, QEMU's TCG also pays on the host for code that moves: it translates every new copy before the copy first runs, and drops the translations of a page when the page is written. That is an emulator's cost, which hardware does not have and icount does not count; these rows are not a claim.\n\n");
    if let Some(c) = &cross {
        let ratio_100 = throughput(&ic[1], "rr100", "4").2 / throughput(&ic[1], "plain", "4").2;
        md.push_str("### Where a 4 KiB request pays\n\n");
        md.push_str(&c.markdown(added, plain_per_request_4k, ratio_100));
    }
    if let Some(d) = &direct {
        md.push_str("### Direct mode\n\n");
        md.push_str(&d.markdown(|bs, p| {
            throughput(&ic[1], &format!("rr{p}"), bs).2 / throughput(&ic[1], "plain", bs).2
        }));
    }

    md.push_str("## 5. Entropy and memory\n\n");
    md.push_str(&ent.markdown(randomized));
    md.push_str(&format!(
        "Memory per randomized function (from `rerand inspect --json bfq.ko`): trampoline {:.0} bytes, tables {:.0} bytes, slot (per-CPU counters' header) {:.0} bytes; at run time each function has one or two copies of its body, in the arenas of the periods that built them.\n",
        tramp_b / randomized,
        table_b / randomized,
        slot_b / randomized
    ));
    md.push_str(&format!(
        "\nWhat moves of real modules from linux-source-6.1, each built the README way against Debian's headers and configuration (`cargo xtask shares`; from their rerand tables, as `rerand inspect` reads them, `init_module`/`cleanup_module` aliases counted once; init and exit code never moves: it is freed after init, or runs once at unload; the in-tree kernel's modules, marked so, appear once `cargo xtask kernel` or `cargo xtask test` has built it):\n\n{}",
        moves::markdown(&shares)
    ));
    let mp = opts.out.join("REPORT.md");
    fs::write(&mp, md).map_err(|e| Error(format!("{}: {e}", mp.display())))?;
    step(&format!(
        "bench: wrote {} and {} in {:.0} s",
        jp.display(),
        mp.display(),
        started.elapsed().as_secs_f64()
    ));
    if wrong > 0 || bad_data > 0 {
        bail!("bench: {wrong} wrong call results, {bad_data} data mismatches");
    }
    Ok(())
}
