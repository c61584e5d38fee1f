//! rerand-ld: a drop-in `LD` for Kbuild (`make M=... LD=rerand-ld`).
//!
//! The pipeline, top to bottom:
//! 1. find the real linker (`RERAND_REAL_LD`, `${CROSS_COMPILE}ld`,
//!    `aarch64-linux-gnu-ld`, `ld`; never rerand-ld itself);
//! 2. read the command line as ld would (inputs, `@response` files, `-o`);
//! 3. anything but a relocatable (`-r`) link, and `-v`/`--version` probes:
//!    exec the real linker untouched;
//! 4. read rerand-ld's own options from `RERAND_LD_FLAGS`/`RERAND_VERBOSE`;
//! 5. map every input and decide from its headers whether it passes
//!    through (not aarch64 ELF, already processed, no code); rewrite the
//!    others (one thread per CPU) into in-memory files (`scratch.rs`;
//!    inputs are never modified), collecting every problem of every input
//!    and failing once;
//! 6. at a final module link (`foo.ko` from `foo.o` and `foo.mod.o`) of a
//!    module that calls the runtime, complete `foo.mod.o` with what
//!    modpost would have recorded for the hooks had it seen them
//!    (`modpost.rs`);
//! 7. write the report;
//! 8. exec the real linker with the same arguments, rewritten inputs
//!    substituted (as `/proc/self/fd/N`, which it inherits). When nothing
//!    was rewritten, exec it as is. Only where the rewritten inputs had to
//!    go to a temporary directory does rerand-ld wait for the linker,
//!    remove the directory and exit with the linker's status.
use object::write::StreamingBuffer;
use rerand_ld::diag::Problems;
use rerand_ld::ldargs::LdArgs;
use rerand_ld::modpost;
use rerand_ld::options::Config;
use rerand_ld::report::{ObjectReport, Report};
use rerand_ld::rewrite::{self, Input, Outcome, Plan};
use rerand_ld::scratch::Scratch;
use std::collections::{HashMap, HashSet};
use std::io::BufWriter;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

fn main() {
    let mut args = Vec::new();
    for (k, a) in std::env::args_os().skip(1).enumerate() {
        match a.into_string() {
            Ok(a) => args.push(a),
            Err(a) => {
                eprintln!(
                    "rerand-ld: argument {} ({}) is not valid UTF-8: rerand-ld reads its command line as text",
                    k + 1,
                    a.to_string_lossy()
                );
                std::process::exit(1);
            }
        }
    }
    let code = match run(&args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("{msg}");
            1
        }
    };
    std::process::exit(code);
}

fn run(args: &[String]) -> Result<i32, String> {
    // 1.
    let real_ld = find_real_ld()?;
    // 2.
    let ld = LdArgs::parse(args);
    // 3.
    if args.iter().any(|a| a == "--help" || a == "-help") {
        // rerand-ld's own options first, then the real linker's.
        use clap::CommandFactory;
        println!("rerand-ld: a drop-in LD for Kbuild that makes arm64 module functions");
        println!(
            "rerandomizable; every argument goes to {}.\n",
            real_ld.display()
        );
        println!("{}", rerand_ld::options::Options::command().render_help());
    }
    if ld.probe || !ld.relocatable {
        let err = Command::new(&real_ld).args(args).exec();
        return Err(format!(
            "rerand-ld: cannot run {}: {err}",
            real_ld.display()
        ));
    }
    if let Some(e) = ld.errors.first() {
        return Err(format!("rerand-ld: {e}"));
    }
    // 4.
    let cfg = Config::from_env().map_err(|e| format!("rerand-ld: {e}"))?;
    // 5.
    let mut inputs: Vec<(usize, String)> = Vec::new();
    let mut seen = HashSet::new();
    for (k, input) in ld.inputs().into_iter().enumerate() {
        if seen.insert(input.clone()) {
            inputs.push((k, input));
        }
    }
    let scratch = Scratch::new(ld.output.as_deref());
    // Deciding is cheap (a mapped file's headers) and settles every input
    // of a final `.ko` link, so it is done here; only the inputs left to
    // rewrite are shared among threads, and a single one gets none.
    let mut done: Vec<Option<Result<Done, String>>> = Vec::with_capacity(inputs.len());
    let mut to_rewrite = Vec::new();
    for (i, (_, input)) in inputs.iter().enumerate() {
        match rewrite::read_input(input, Path::new(input)) {
            Err(_) => done.push(Some(Ok(Done::Unreadable))),
            Ok(Input::Decided(o)) => done.push(Some(Ok(passed(o)))),
            Ok(Input::Data(data)) => {
                done.push(None);
                to_rewrite.push((i, data));
            }
        }
    }
    // Largest first, so that the longest rewrite starts at once.
    to_rewrite.sort_by_key(|(_, data)| std::cmp::Reverse(data.len()));
    let rewritten = parallel_map(to_rewrite.len(), |j| {
        let (i, data) = &to_rewrite[j];
        let (k, input) = &inputs[*i];
        process(*k, input, data, &cfg, &scratch)
    });
    for ((i, _), d) in to_rewrite.iter().zip(rewritten) {
        done[*i] = Some(d);
    }
    let done = done
        .into_iter()
        .map(|d| d.expect("every input decided or rewritten"));
    let mut problems = Problems::default();
    let mut report = Report::default();
    let mut substitutes: HashMap<String, PathBuf> = HashMap::new();
    // Open until the real linker runs: a memfd lives as long as its fd.
    let mut open = Vec::new();
    let mut calls_runtime = false;
    for ((_, input), d) in inputs.iter().zip(done) {
        match d? {
            Done::Unreadable => {} // ld reports missing inputs itself
            Done::Failed(p) => problems.extend(p),
            Done::Passed {
                reason,
                warn,
                report: r,
            } => {
                calls_runtime |= reason == rewrite::ALREADY_PROCESSED;
                if warn {
                    eprintln!("rerand-ld: warning: {input}: {reason}; passed through unmodified");
                }
                if cfg.verbose && reason != NOT_ELF {
                    eprintln!("rerand-ld: {}", r.summary());
                }
                if reason != NOT_ELF {
                    report.add(r);
                }
            }
            Done::Rewritten {
                report: r,
                path,
                file,
            } => {
                if cfg.verbose {
                    eprintln!("rerand-ld: {}", r.summary());
                }
                report.add(r);
                substitutes.insert(input.clone(), path);
                open.push(file);
                calls_runtime = true;
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems.to_string());
    }
    // 6.
    let names: Vec<String> = inputs.iter().map(|(_, i)| i.clone()).collect();
    if calls_runtime && modpost::is_final_module_link(ld.output.as_deref(), &names) {
        for input in names.iter().filter(|i| i.ends_with(".mod.o")) {
            let data = std::fs::read(input).map_err(|e| format!("rerand-ld: {input}: {e}"))?;
            let me = std::env::current_exe().ok();
            let runtime = || modpost::find_runtime(&|k| std::env::var(k).ok(), me.as_deref());
            let completed =
                modpost::complete(input, &data, &runtime).map_err(|e| format!("rerand-ld: {e}"))?;
            if let Some(bytes) = completed {
                let out = scratch.create(&format!("modpost-{}", base_name(input)))?;
                use std::io::Write;
                (&out.file)
                    .write_all(&bytes)
                    .map_err(|e| format!("rerand-ld: cannot write {}: {e}", out.path.display()))?;
                if cfg.verbose {
                    eprintln!("rerand-ld: {input}: added the runtime's hook versions and dependency (modpost did not see the hooks)");
                }
                substitutes.insert(input.clone(), out.path);
                open.push(out.file);
            }
        }
    }
    // 7.
    if let Some(path) = &cfg.report {
        report
            .merge_into(path)
            .map_err(|e| format!("rerand-ld: cannot write report {path}: {e}"))?;
    }
    // 8.
    if !scratch.used() {
        // Nothing rewritten: the real linker takes over this process.
        let err = Command::new(&real_ld).args(args).exec();
        return Err(format!(
            "rerand-ld: cannot run {}: {err}",
            real_ld.display()
        ));
    }
    let new_args = ld
        .substituted(&|p| substitutes.get(p).cloned(), &mut |text| {
            scratch.save_response(text, &mut open)
        })
        .map_err(|e| format!("rerand-ld: cannot write response file: {e}"))?;
    if scratch.can_exec() {
        let err = Command::new(&real_ld).args(&new_args).exec();
        return Err(format!(
            "rerand-ld: cannot run {}: {err}",
            real_ld.display()
        ));
    }
    let status = Command::new(&real_ld)
        .args(&new_args)
        .status()
        .map_err(|e| format!("rerand-ld: cannot run {}: {e}", real_ld.display()))?;
    drop(open);
    drop(scratch);
    Ok(status.code().unwrap_or(1))
}

const NOT_ELF: &str = "not an ELF file";

/// What became of one input.
enum Done {
    /// Cannot be read: left to the real linker to report.
    Unreadable,
    Failed(Problems),
    Passed {
        reason: String,
        warn: bool,
        report: ObjectReport,
    },
    /// Rewritten into `file`, which the real linker opens as `path`.
    Rewritten {
        report: ObjectReport,
        path: PathBuf,
        file: std::fs::File,
    },
}

/// Rewrites input number `k` and writes it out; `Err` only when the
/// rewritten object cannot be written.
fn process(
    k: usize,
    input: &str,
    data: &[u8],
    cfg: &Config,
    scratch: &Scratch,
) -> Result<Done, String> {
    let r = match rewrite::plan(input, data, cfg) {
        Err(p) => return Ok(Done::Failed(p)),
        Ok(Plan::Pass(o)) => return Ok(passed(o)),
        Ok(Plan::Rewrite(r)) => r,
    };
    let out = scratch.create(&format!("{k}-{}", base_name(input)))?;
    let cannot = |e: std::io::Error| format!("rerand-ld: cannot write {}: {e}", out.path.display());
    // Serialized straight into the file: no copy of the object in memory.
    let mut buf = StreamingBuffer::new(BufWriter::with_capacity(1 << 16, &out.file));
    let report = match r.write(&mut buf) {
        Ok(report) => report,
        Err(p) => return Ok(Done::Failed(p)),
    };
    buf.flush().map_err(cannot)?;
    drop(buf);
    Ok(Done::Rewritten {
        report,
        path: out.path,
        file: out.file,
    })
}

fn base_name(input: &str) -> String {
    Path::new(input)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input.o".into())
}

fn passed(o: Outcome) -> Done {
    match o {
        Outcome::PassThrough {
            reason,
            warn,
            report,
        } => Done::Passed {
            reason,
            warn,
            report,
        },
        // Neither read_input nor plan decides a rewrite without a plan.
        Outcome::Rewritten { report, .. } => {
            Done::Failed(Problems(vec![rerand_ld::diag::Problem::new(
                &report.file,
                "internal error: unexpected outcome",
            )]))
        }
    }
}

/// `f(0..n)`, on up to one thread per CPU, results in order.
fn parallel_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = if n <= 1 { n } else { cpus().min(n) };
    if workers <= 1 {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let v = f(i);
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every slot filled")
        })
        .collect()
}

/// CPUs this process may run on. Not available_parallelism(), which also
/// reads cgroup files: a tenth of a millisecond, per link.
fn cpus() -> usize {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a writable cpu_set_t of the size passed.
    let ok = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } == 0;
    if !ok {
        return 1;
    }
    // SAFETY: `set` was filled by sched_getaffinity().
    (unsafe { libc::CPU_COUNT(&set) } as usize).max(1)
}

/// The real linker; never this program.
fn find_real_ld() -> Result<PathBuf, String> {
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    let is_me = |p: &Path| p.canonicalize().ok().is_some_and(|c| Some(c) == me);
    if let Ok(v) = std::env::var("RERAND_REAL_LD") {
        if !v.is_empty() {
            let p = search_path(&v).unwrap_or_else(|| PathBuf::from(&v));
            if is_me(&p) {
                return Err(format!("rerand-ld: RERAND_REAL_LD={v} is rerand-ld itself"));
            }
            return Ok(p);
        }
    }
    let mut names = Vec::new();
    if let Ok(cc) = std::env::var("CROSS_COMPILE") {
        if !cc.is_empty() {
            names.push(format!("{cc}ld"));
        }
    }
    names.push("aarch64-linux-gnu-ld".into());
    names.push("ld".into());
    for n in &names {
        if let Some(p) = search_path(n) {
            if !is_me(&p) {
                return Ok(p);
            }
        }
    }
    Err("rerand-ld: no real linker found (set RERAND_REAL_LD)".into())
}

fn search_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
