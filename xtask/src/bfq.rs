//! The kernel's BFQ I/O scheduler, built out of tree from the bench's
//! kernel source: a real, large module to measure rerand on.
//!
//! Two builds under `.cache/bfq/<version>/`, from the same sources:
//! `rerand/` through `macros-c/rerand.mk` and rerand-ld, and `plain/` with
//! the plain linker and the same `-ffunction-sections` (the baseline for
//! benchmarks). The Kbuild file is `tests/bfq/Kbuild`.

use crate::bail;
use crate::env::{self, Bench};
use crate::kbuild::{self, Linker};
use crate::moves;
use crate::util::{cache_dir, root, run, step, Error, Result};
use relocator::module::Module;
use relocator::oracle::{self, VerifyConfig};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The translation units of block/Makefile's `bfq-y`.
const SOURCES: &[&str] = &["bfq-iosched.c", "bfq-wf2q.c", "bfq-cgroup.c"];
/// The shares that must move (`bfq moves >= 98% of functions, 95% of
/// bytes`): of the functions that run after load (init and exit code
/// never moves: freed after init, or run once at unload), and of all
/// function code bytes.
pub const MIN_RANDOMIZED: f64 = 0.98;
pub const MIN_BYTES: f64 = 0.95;

pub struct Dirs {
    pub rerand: PathBuf,
    pub plain: PathBuf,
}

impl Dirs {
    pub fn ko(&self) -> PathBuf {
        self.rerand.join("bfq.ko")
    }
    /// rerand-ld's `--report` of the last rerand build.
    pub fn report(&self) -> PathBuf {
        self.rerand.join("rerand-report.json")
    }
}

pub fn dirs(bench: &Bench) -> Dirs {
    let base = cache_dir().join("bfq").join(&bench.version);
    Dirs {
        rerand: base.join("rerand"),
        plain: base.join("plain"),
    }
}

fn read(p: &Path) -> Result<String> {
    fs::read_to_string(p).map_err(|e| Error(format!("{}: {e}", p.display())))
}

/// Leaves files whose content is unchanged alone, so make does not rebuild.
fn write_if_changed(p: &Path, data: &[u8]) -> Result<()> {
    if fs::read(p).is_ok_and(|old| old == data) {
        return Ok(());
    }
    fs::write(p, data).map_err(|e| Error(format!("{}: {e}", p.display())))
}

fn config_value(config: &str, key: &str) -> Option<String> {
    config.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .map(str::to_string)
    })
}

/// Debian's configuration decides what is built: BFQ must be a module;
/// cgroup support is compiled in or not as the headers' autoconf says.
fn check_config(bench: &Bench) -> Result<()> {
    let config = read(&bench.kdir().join(".config"))?;
    let bfq = config_value(&config, "CONFIG_IOSCHED_BFQ");
    if bfq.as_deref() != Some("m") {
        bail!(
            "the bench kernel's .config has CONFIG_IOSCHED_BFQ={}: bfq cannot be built as a module",
            bfq.unwrap_or_else(|| "(unset)".into())
        );
    }
    let group = config_value(&config, "CONFIG_BFQ_GROUP_IOSCHED");
    step(&format!(
        "bfq: CONFIG_IOSCHED_BFQ=m, CONFIG_BFQ_GROUP_IOSCHED={}",
        group.as_deref().unwrap_or("(unset)")
    ));
    Ok(())
}

/// The sources and every `#include "..."` they pull from block/, transitively.
fn source_files(block: &Path) -> Result<Vec<String>> {
    let mut todo: Vec<String> = SOURCES.iter().map(|s| s.to_string()).collect();
    todo.push("bfq-iosched.h".into());
    let mut seen: Vec<String> = Vec::new();
    while let Some(f) = todo.pop() {
        if seen.contains(&f) || !block.join(&f).is_file() {
            continue;
        }
        for line in read(&block.join(&f))?.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("#include \"") {
                if let Some(name) = rest.split('"').next() {
                    todo.push(name.to_string());
                }
            }
        }
        seen.push(f);
    }
    seen.sort();
    Ok(seen)
}

fn prepare(bench: &Bench, d: &Dirs) -> Result<()> {
    check_config(bench)?;
    let tree = env::kernel_source(bench)?;
    let block = tree.join("block");
    let makefile = read(&block.join("Makefile"))?;
    let listed = makefile
        .lines()
        .find(|l| l.starts_with("bfq-y"))
        .and_then(|l| l.split(":=").nth(1))
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "));
    let ours = SOURCES.join(" ").replace(".c", ".o");
    if listed.as_deref() != Some(ours.as_str()) {
        bail!(
            "block/Makefile lists bfq-y := {} but tests/bfq/Kbuild builds {ours}: update both",
            listed.unwrap_or_default()
        );
    }
    let kbuild = read(&root().join("tests/bfq/Kbuild"))?;
    // The baseline: the same objects and -ffunction-sections, no rerand.
    let plain_kbuild = kbuild.replace("include $(RERAND_MK)", "ccflags-y += -ffunction-sections");
    if plain_kbuild == kbuild {
        bail!("tests/bfq/Kbuild no longer has `include $(RERAND_MK)`");
    }
    let files = source_files(&block)?;
    for (dir, text) in [(&d.rerand, &kbuild), (&d.plain, &plain_kbuild)] {
        fs::create_dir_all(dir).map_err(|e| Error(format!("{}: {e}", dir.display())))?;
        for f in &files {
            let data = fs::read(block.join(f)).map_err(|e| Error(format!("block/{f}: {e}")))?;
            write_if_changed(&dir.join(f), &data)?;
        }
        write_if_changed(&dir.join("Kbuild"), text.as_bytes())?;
    }
    Ok(())
}

/// `-jN` for make: one job per host CPU.
pub fn jobs() -> String {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("-j{n}")
}

/// Builds both copies of bfq.ko.
pub fn build(bench: &Bench) -> Result<Dirs> {
    let d = dirs(bench);
    prepare(bench, &d)?;
    // Relink every time so the report describes the bfq.ko on disk.
    let report = d.report();
    for f in [
        report.clone(),
        d.rerand.join("bfq.o"),
        d.rerand.join("bfq.ko"),
    ] {
        let _ = fs::remove_file(f);
    }
    step("building bfq (rerand-ld)");
    run(
        kbuild::kbuild_command(bench, &d.rerand, Linker::Rerand)
            .env("RERAND_LD_FLAGS", format!("--report {}", report.display()))
            .arg(jobs())
            .arg("modules"),
        "building bfq with rerand-ld",
    )?;
    step("building bfq (plain ld, the baseline)");
    run(
        kbuild::kbuild_command(bench, &d.plain, Linker::Plain)
            .arg(jobs())
            .arg("modules"),
        "building bfq with the plain linker",
    )?;
    Ok(d)
}

/// `bfq moves >= 98% of functions, 95% of bytes`: counts from the tables
/// in bfq.ko.
pub fn check_randomized(bench: &Bench) -> Result<()> {
    let d = dirs(bench);
    let m = Module::read(&d.ko()).map_err(|e| Error(e.to_string()))?;
    let sh = moves::Share::of("bfq", &m);
    step(&format!(
        "bfq.ko: {} of {} functions randomized ({:.1}% of the {} that are not init/exit code), {} of {} code bytes ({:.1}%)",
        sh.moving,
        sh.functions,
        sh.functions_pct(),
        sh.functions - sh.init_exit,
        sh.moving_bytes,
        sh.bytes,
        sh.bytes_pct()
    ));
    for (r, n) in &sh.stays {
        step(&format!("  excluded {n:>3}: {r}"));
    }
    let declared: u32 = m.tables.iter().map(|t| t.nexcluded).sum();
    if declared as usize != m.excluded.len() {
        bail!(
            "bfq.ko: the tables count {declared} excluded functions but {} are listed with a reason",
            m.excluded.len()
        );
    }
    if let Some(e) = m.excluded.iter().find(|e| e.reason.trim().is_empty()) {
        bail!("bfq.ko: {} is excluded without a reason", e.name);
    }
    if sh.below_minimum() {
        bail!(
            "bfq.ko: {:.1}% of functions (not init/exit) and {:.1}% of code bytes randomized, below {:.0}% and {:.0}% (see `rerand inspect {}`)",
            sh.functions_pct(),
            sh.bytes_pct(),
            100.0 * MIN_RANDOMIZED,
            100.0 * MIN_BYTES,
            d.ko().display()
        );
    }
    Ok(())
}

/// GNU ld as the oracle over the real modules: every moving body of
/// bfq.ko at `bfq_seeds` random placements, and test_driver.ko.
pub fn check_oracle(bench: &Bench, bfq_seeds: u64, driver_seeds: u64) -> Result<()> {
    let modules = [
        (dirs(bench).ko(), bfq_seeds),
        (
            root().join("tests/test_driver/test_driver.ko"),
            driver_seeds,
        ),
    ];
    let mut failures = Vec::new();
    for (ko, seeds) in modules {
        let t = Instant::now();
        let m = Module::read(&ko).map_err(|e| Error(e.to_string()))?;
        let cfg = VerifyConfig {
            seeds,
            first_seed: 0,
            window: (oracle::WINDOW_LO, oracle::WINDOW_HI),
            workdir: cache_dir().join("oracle").join(
                ko.file_stem()
                    .map_or("module".into(), |s| s.to_string_lossy().into_owned()),
            ),
            // ld waits on I/O part of the time: more links than CPUs help.
            jobs: 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let r = oracle::verify_module(&m, &ko, &cfg).map_err(Error)?;
        let _ = fs::remove_dir_all(&cfg.workdir);
        step(&format!(
            "oracle: {}: {seeds} placements, {} bodies compared with {}, {} fields equal, \
             {} branches through veneers, {} differences ({:.1} s)",
            ko.file_name().unwrap_or_default().to_string_lossy(),
            r.tally.bodies,
            oracle::LD,
            r.tally.compared.values().sum::<usize>(),
            r.tally.veneered,
            r.differences.len(),
            t.elapsed().as_secs_f64()
        ));
        for (seed, d) in r.differences.iter().take(10) {
            eprintln!("  seed {seed}: {d}");
        }
        if !r.differences.is_empty() {
            failures.push(format!(
                "{}: {} differences",
                ko.display(),
                r.differences.len()
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error(failures.join("; ")))
    }
}

/// The link command Kbuild last ran for `target` (from its `.cmd` file),
/// without the `; true` (or post-link) that follows it.
pub(crate) fn link_command(dir: &Path, target: &str) -> Result<Vec<String>> {
    let cmd_file = dir.join(format!(".{target}.cmd"));
    let text = read(&cmd_file)?;
    let line = text
        .lines()
        .find(|l| l.starts_with("cmd_") || l.starts_with("savedcmd_"))
        .and_then(|l| l.split_once(":="))
        .map(|(_, c)| c.split(';').next().unwrap_or("").trim().to_string())
        .ok_or_else(|| Error(format!("{}: no command line", cmd_file.display())))?;
    Ok(line.split_whitespace().map(str::to_string).collect())
}

/// One run of a link command from the kernel tree, rerand-ld on PATH, timed.
pub(crate) fn time_once(bench: &Bench, args: &[String]) -> Result<Duration> {
    let path = format!(
        "{}:{}",
        root().join("target/release").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let t = Instant::now();
    let out = Command::new(&args[0])
        .args(&args[1..])
        .current_dir(bench.kdir())
        .env("PATH", path)
        .env_remove("RERAND_LD_FLAGS")
        .output()
        .map_err(|e| Error(format!("cannot run {}: {e}", args[0])))?;
    let dt = t.elapsed();
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(dt)
}

/// One of Kbuild's links of the module in `dir` (`target`: `foo.o` or
/// `foo.ko`), re-run from its `.cmd` file with rerand-ld and with the
/// plain linker on the same inputs, output to `scratch`: `reps` timings
/// of each, alternating, after one untimed run each (page cache).
pub(crate) fn time_link(
    bench: &Bench,
    dir: &Path,
    target: &str,
    scratch: &Path,
    reps: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let mut args = link_command(dir, target)?;
    if args.first().map(String::as_str) != Some("rerand-ld") {
        bail!(
            "{}/.{target}.cmd does not link with rerand-ld: {}",
            dir.display(),
            args.join(" ")
        );
    }
    let o = args
        .iter()
        .position(|a| a == "-o")
        .ok_or_else(|| Error(format!(".{target}.cmd: no -o")))?;
    args[o + 1] = scratch.join(target).display().to_string();
    let mut plain = args.clone();
    plain[0] = oracle::LD.to_string();
    time_once(bench, &args)?;
    time_once(bench, &plain)?;
    let (mut r, mut p) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        r.push(time_once(bench, &args)?);
        p.push(time_once(bench, &plain)?);
    }
    Ok((r, p))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `cargo xtask bench-link`: bfq's two links (`ld -r -o bfq.o @bfq.mod`
/// and the .ko link) re-run from Kbuild's `.cmd` files with rerand-ld and
/// with the plain linker on the same inputs, alternating, `reps` times.
pub fn bench_link(bench: &Bench, reps: usize) -> Result<()> {
    let d = build(bench)?;
    let scratch = cache_dir().join("bfq").join(&bench.version).join("bench");
    fs::create_dir_all(&scratch).map_err(|e| Error(format!("{}: {e}", scratch.display())))?;
    let m = Module::read(&d.ko()).map_err(|e| Error(e.to_string()))?;
    let nfuncs = m.functions.len() + m.staying().len();
    println!(
        "bfq link time, rerand-ld vs {} on the same inputs, median of {reps}:",
        oracle::LD
    );
    println!(
        "{:<8} {:>12} {:>12} {:>7}",
        "link", "rerand-ld ms", "plain ms", "ratio"
    );
    let (mut tr, mut tp) = (Duration::ZERO, Duration::ZERO);
    for target in ["bfq.o", "bfq.ko"] {
        let (r, p) = time_link(bench, &d.rerand, target, &scratch, reps)?;
        let (mr, mp) = (median(r), median(p));
        tr += mr;
        tp += mp;
        println!(
            "{target:<8} {:>12.1} {:>12.1} {:>6.2}x",
            mr.as_secs_f64() * 1e3,
            mp.as_secs_f64() * 1e3,
            mr.as_secs_f64() / mp.as_secs_f64()
        );
    }
    let ratio = tr.as_secs_f64() / tp.as_secs_f64();
    println!(
        "{:<8} {:>12.1} {:>12.1} {:>6.2}x",
        "both",
        tr.as_secs_f64() * 1e3,
        tp.as_secs_f64() * 1e3,
        ratio
    );
    println!(
        "rerand-ld's own cost: {:.1} ms for {nfuncs} functions ({} randomized) = {:.1} us per function",
        (tr.as_secs_f64() - tp.as_secs_f64()) * 1e3,
        m.functions.len(),
        (tr.as_secs_f64() - tp.as_secs_f64()) * 1e6 / nfuncs.max(1) as f64
    );
    println!(
        "target: under 1.30x: {}",
        if ratio < 1.3 { "met" } else { "NOT met" }
    );
    Ok(())
}
