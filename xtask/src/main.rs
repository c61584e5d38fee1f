//! `cargo xtask`: the project's orchestration. Each subcommand reads top to
//! bottom as the steps it takes.

mod badtable;
mod bench;
mod bfq;
mod demo;
mod dkms;
mod env;
mod kbuild;
mod kernel;
mod moves;
mod scenarios;
mod util;
mod vm;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use util::{root, run, step, Error, Result};

#[derive(Parser)]
#[command(about = "rerand's bench, builds and tests", long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set up the arm64 bench (host packages, Debian arm64 kernel, headers,
    /// busybox) under .cache/, build rerand-ld and rerand.ko, and print
    /// `export` lines: `eval "$(cargo xtask env)"`.
    Env,
    /// Boot the bench kernel under QEMU, load modules, run a script as root.
    ///
    /// Example: cargo xtask vm --module $RERAND_KO --module foo.ko --run test.sh
    Vm(VmArgs),
    /// Build rerand-ld, rerand.ko and the test modules.
    Build,
    /// Run every test: rustfmt, clippy, cargo tests, module builds, VM scenarios.
    Test {
        /// Run only the VM scenarios whose name contains this.
        #[arg(long)]
        only: Option<String>,
    },
    /// Show a module being loaded and run in the VM, as a newcomer's first look.
    Demo,
    /// Regenerate macros-c/rerand_abi.h from relocator/src/abi.rs.
    GenHeader,
    /// Assemble a DKMS source tree for rerand.ko and print how to use it.
    ///
    /// Example: dkms add $(cargo xtask dkms) && dkms build rerand/0.1.0
    Dkms,
    /// Measure link time, call overhead, move cost, bfq throughput and
    /// entropy in one run; write bench/results.json and bench/REPORT.md.
    ///
    /// Example: cargo xtask bench
    Bench {
        /// Small sizes (a few minutes): to check the bench itself.
        #[arg(long)]
        quick: bool,
        /// Output directory (relative to the repository).
        #[arg(long, default_value = "bench")]
        out: PathBuf,
        /// Re-read the VM runs from the last run's logs instead of booting
        /// (link times are measured again): to iterate on the report.
        #[arg(long)]
        reuse_logs: bool,
    },
    /// Time bfq's links (bfq.o and bfq.ko) with rerand-ld and the plain linker.
    ///
    /// Example: cargo xtask bench-link --reps 11
    BenchLink {
        /// Timed runs of each link with each linker; the median is reported.
        #[arg(long, default_value_t = 7)]
        reps: usize,
    },
    /// Build real modules from linux-source-6.1 with rerand-ld (bfq, zram,
    /// ext2, ext4, jbd2, fuse, btrfs) and print what share of each moves.
    Shares,
    /// Build a whole arm64 kernel (tinyconfig + tests/kernel/rerand.config)
    /// from Debian's linux-source-6.1 with LD=rerand-ld (and with
    /// --measure, with the plain linker too), check vmlinux passes through
    /// and the in-tree modules carry tables, and run them in the VM while
    /// their bodies move.
    Kernel(kernel::KernelArgs),
}

#[derive(clap::Args)]
struct VmArgs {
    /// CPU model: `max` (all features, fast cache maintenance) or
    /// `cortex-a57` (a real core's caches: catches missing maintenance).
    #[arg(long, default_value = "max", value_parser = ["max", "cortex-a57"])]
    cpu: String,
    /// Number of guest CPUs.
    #[arg(long, default_value_t = 2)]
    smp: u32,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1024)]
    memory: u32,
    /// Guest time counts executed instructions (`-icount shift=0`): stable
    /// figures for micro-benchmarks on a noisy host.
    #[arg(long)]
    icount: bool,
    /// A .ko (or stock .ko.xz) to insmod before the script; repeatable, in order.
    #[arg(long = "module", value_name = "PATH.ko")]
    modules: Vec<PathBuf>,
    /// Copy a host file into the guest: `--file host/path:/guest/path`; repeatable.
    #[arg(long = "file", value_name = "HOST:GUEST")]
    files: Vec<String>,
    /// Shell script run as root in the guest after the modules are loaded;
    /// its exit code becomes this command's.
    #[arg(long = "run", value_name = "SCRIPT.sh")]
    script: Option<PathBuf>,
    /// Seconds before the run is stopped and reported as a failure.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// An extra qemu-system-aarch64 argument, appended last; repeatable.
    /// Example: --qemu-arg=-accel --qemu-arg=tcg,thread=single
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    qemu_args: Vec<String>,
    /// Boot this kernel image instead of Debian's (e.g. the in-tree build's
    /// .cache/kernel-build/<key>/rerand-ld/arch/arm64/boot/Image).
    #[arg(long, value_name = "IMAGE")]
    kernel: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Env => cmd_env(),
        Cmd::Vm(args) => cmd_vm(args),
        Cmd::Build => env::ensure().and_then(|b| kbuild::build_all(&b)),
        Cmd::Test { only } => cmd_test(only),
        Cmd::Demo => demo::cmd_demo(),
        Cmd::GenHeader => cmd_gen_header(),
        Cmd::Dkms => dkms::source_tree().map(|d| println!("{}", d.display())),
        Cmd::Bench {
            quick,
            out,
            reuse_logs,
        } => bench::cmd_bench(bench::BenchOpts {
            quick,
            out: util::root().join(out),
            reuse_logs,
        }),
        Cmd::BenchLink { reps } => env::ensure().and_then(|b| bfq::bench_link(&b, reps.max(1))),
        Cmd::Shares => cmd_shares(),
        Cmd::Kernel(args) => kernel::cmd_kernel(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cmd_env() -> Result<()> {
    let bench = env::ensure()?;
    step(&format!(
        "bench: Debian kernel {} ({})",
        bench.release, bench.version
    ));
    kbuild::build_tools()?;
    kbuild::build_runtime(&bench)?;
    for (k, v) in env::exports(&bench) {
        println!("export {k}={}", env::shell_quote(&v));
    }
    Ok(())
}

fn cmd_vm(args: VmArgs) -> Result<()> {
    let bench = env::ensure()?;
    let mut files = Vec::new();
    for f in &args.files {
        let (host, guest) = f
            .split_once(':')
            .ok_or_else(|| Error(format!("--file {f}: expected HOST:GUEST")))?;
        files.push((PathBuf::from(host), guest.to_string()));
    }
    let opts = vm::VmOptions {
        cpu: args.cpu,
        smp: args.smp,
        memory_mib: args.memory,
        icount: args.icount,
        modules: args.modules,
        files,
        script: args.script,
        timeout: Duration::from_secs(args.timeout),
        // Per run, so that two `cargo xtask vm` at once keep apart.
        name: format!("vm-{}", std::process::id()),
        echo: true,
        qemu_args: args.qemu_args,
        kernel: args.kernel,
    };
    let outcome = vm::run(&bench, &opts);
    // The initramfs is rebuilt each run; only the serial log is kept.
    let _ = std::fs::remove_dir_all(util::cache_dir().join("vm").join(&opts.name));
    let outcome = outcome?;
    eprintln!("xtask: serial log: {}", outcome.log_path.display());
    if outcome.passed() {
        Ok(())
    } else {
        Err(Error(outcome.verdict()))
    }
}

fn cmd_gen_header() -> Result<()> {
    let path = root().join("macros-c/rerand_abi.h");
    std::fs::write(&path, relocator::abi::c_header())
        .map_err(|e| Error(format!("{}: {e}", path.display())))?;
    step(&format!("wrote {}", path.display()));
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(root());
    c
}

struct Row {
    name: String,
    passed: bool,
    summary: String,
    seconds: f64,
}

fn cmd_shares() -> Result<()> {
    let bench = env::ensure()?;
    kbuild::build_tools()?;
    bfq::build(&bench)?;
    print!("{}", moves::markdown(&moves::real_modules(&bench)?));
    Ok(())
}

fn cmd_test(only: Option<String>) -> Result<()> {
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut record = |name: &str, r: Result<()>, t: Instant| {
        let passed = r.is_ok();
        if let Err(e) = &r {
            eprintln!("xtask: {name} FAILED: {e}");
        }
        rows.push(Row {
            name: name.into(),
            passed,
            summary: r.err().map(|e| e.to_string()).unwrap_or_default(),
            seconds: t.elapsed().as_secs_f64(),
        });
    };

    // The bench first: the cargo tests need its cross toolchain, and on a
    // fresh machine it is what installs it.
    let t = Instant::now();
    let bench = match env::ensure() {
        Ok(b) => {
            record("bench setup", Ok(()), t);
            b
        }
        Err(e) => {
            record("bench setup", Err(e), t);
            return finish(rows, started);
        }
    };

    if only.is_none() {
        let t = Instant::now();
        record(
            "rustfmt",
            run(
                cargo().args(["fmt", "--all", "--", "--check"]),
                "cargo fmt --check",
            ),
            t,
        );
        let t = Instant::now();
        record(
            "clippy",
            run(
                cargo().args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
                "cargo clippy -D warnings",
            ),
            t,
        );
        let t = Instant::now();
        record(
            "cargo tests",
            // Issue-sized runs of the randomized oracles: 1,000 placements
            // checked against GNU ld, 4,000 C-versus-Rust copy vectors.
            run(
                cargo()
                    .env("RERAND_ORACLE_SEEDS", "1000")
                    .env("RERAND_C_VECTORS", "4000")
                    .args(["test", "--workspace"]),
                "cargo test",
            ),
            t,
        );
    }

    let t = Instant::now();
    let built = kbuild::build_all(&bench);
    let build_ok = built.is_ok();
    record("module builds", built, t);

    if only.is_none() {
        let t = Instant::now();
        record("checkpatch --strict", checkpatch(&bench), t);
    }

    if build_ok && only.is_none() {
        let t = Instant::now();
        record(
            "bfq moves >= 98% of functions, 95% of bytes",
            bfq::check_randomized(&bench),
            t,
        );
        // 1,000 random placements of every moving bfq body checked against
        // GNU ld (the fixture test adds 1,000 more of its own).
        let t = Instant::now();
        record(
            "oracle: bfq.ko, test_driver.ko vs GNU ld",
            bfq::check_oracle(&bench, 1000, 200),
            t,
        );
    }

    if build_ok && only.is_none() {
        let t = Instant::now();
        record("README guide", readme_guide(), t);
        let t = Instant::now();
        record("dkms build", dkms::check_build(&bench), t);
    }

    if build_ok {
        for s in scenarios::all() {
            if only.as_deref().is_some_and(|o| !s.name.contains(o)) {
                continue;
            }
            let r = scenarios::run_one(&bench, &s, false);
            eprintln!(
                "<== {}: {} ({:.0} s)\n    {}",
                r.name,
                if r.passed { "PASS" } else { "FAIL" },
                r.seconds,
                r.detail
            );
            rows.push(Row {
                name: format!("scenario {}", r.name),
                passed: r.passed,
                summary: r.summary,
                seconds: r.seconds,
            });
        }
    }

    // A whole kernel built with LD=rerand-ld (cargo xtask kernel): cold,
    // two kernel builds and a VM run; cached afterwards.
    if only
        .as_deref()
        .is_none_or(|o| "kernel-zram-ext2".contains(o))
    {
        let t = Instant::now();
        let r = kernel::test(&bench);
        if let Err(e) = &r {
            eprintln!("xtask: kernel FAILED: {e}");
        }
        rows.push(Row {
            name: "kernel (in-tree, LD=rerand-ld)".into(),
            passed: r.is_ok(),
            summary: r.unwrap_or_else(|e| e.to_string()),
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    finish(rows, started)
}

/// Runs the README's module-author walkthrough verbatim: the shell block
/// between `<!-- guide:start -->` and `<!-- guide:end -->`.
fn readme_guide() -> Result<()> {
    let readme = std::fs::read_to_string(root().join("README.md"))
        .map_err(|e| Error(format!("README.md: {e}")))?;
    let block = readme
        .split_once("<!-- guide:start -->")
        .and_then(|(_, rest)| rest.split_once("<!-- guide:end -->"))
        .map(|(block, _)| block)
        .ok_or_else(|| Error("README.md has no guide:start/guide:end block".into()))?;
    let script: String = block
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    step("running the README guide");
    run(
        Command::new("bash")
            .current_dir(root())
            .args(["-euo", "pipefail", "-x", "-c", &script]),
        "the README guide",
    )
}

/// The kernel's own style checker over every C file of the project.
fn checkpatch(bench: &env::Bench) -> Result<()> {
    let tree = env::kernel_source(bench)?;
    let mut files = Vec::new();
    for dir in ["runtime-kmod", "macros-c", "tests"] {
        collect_c_files(&root().join(dir), &mut files);
    }
    files.sort();
    // Run from the cache: checkpatch drops a camelcase cache file in its cwd.
    let out = Command::new("perl")
        .current_dir(util::cache_dir())
        .arg(tree.join("scripts/checkpatch.pl"))
        .args([
            "--strict",
            "--no-tree",
            "--terse",
            "--show-types",
            // The seed's `struct Rerandom_Driver` keeps its name on purpose.
            "--ignore",
            "CAMELCASE",
            "-f",
        ])
        .args(&files)
        .output()
        .map_err(|e| Error(format!("cannot run checkpatch.pl: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // SPECIAL_FUNCTION (macros-c/rerand.h) expands to a declarator, which
    // the COMPLEX_MACRO rule cannot accept; that rule alone is waived there.
    // tests/guest/ holds user-space programs (the guest's, against libc):
    // the kernel's u32/u64 do not exist there.
    // tests/sites/sites_fns.c calls BUG() on purpose: the sites scenario
    // checks how a BUG in a moved copy is reported.
    let waived = |l: &str| {
        (l.contains("macros-c/rerand.h:") && l.contains("COMPLEX_MACRO"))
            || (l.contains("tests/guest/") && l.contains("PREFER_KERNEL_TYPES"))
            || (l.contains("tests/sites/sites_fns.c:") && l.contains("AVOID_BUG"))
    };
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(": ERROR:") || l.contains(": WARNING:") || l.contains(": CHECK:"))
        .filter(|l| !waived(l))
        .collect();
    if problems.is_empty() {
        step(&format!("checkpatch --strict: {} files clean", files.len()));
        return Ok(());
    }
    for p in &problems {
        eprintln!("{p}");
    }
    Err(Error(format!(
        "checkpatch --strict: {} problems in {} files",
        problems.len(),
        files.len()
    )))
}

fn collect_c_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_c_files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "c" || x == "h" || x == "S")
            && !p.to_string_lossy().ends_with(".mod.c")
        {
            out.push(p);
        }
    }
}

fn finish(rows: Vec<Row>, started: Instant) -> Result<()> {
    println!();
    println!("{:<44} {:<6} {:>7}  summary", "test", "result", "seconds");
    for r in &rows {
        let summary: String = r
            .summary
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(90)
            .collect();
        println!(
            "{:<44} {:<6} {:>7.1}  {}",
            r.name,
            if r.passed { "PASS" } else { "FAIL" },
            r.seconds,
            summary
        );
    }
    let passed = rows.iter().filter(|r| r.passed).count();
    let failed = rows.len() - passed;
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        return Err(Error(format!("{failed} test step(s) failed")));
    }
    Ok(())
}
