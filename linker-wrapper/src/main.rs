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
//!    others (one thread per CPU) into a temporary directory next to the
//!    output (inputs are never modified), collecting every problem of
//!    every input and failing once;
//! 6. write the report;
//! 7. run the real linker with the same arguments, rewritten inputs
//!    substituted, and exit with its status; the temporary directory goes.
//!    When nothing was rewritten, exec the real linker as is (no temporary
//!    directory is ever made).
use object::write::StreamingBuffer;
use rerand_ld::diag::Problems;
use rerand_ld::ldargs::LdArgs;
use rerand_ld::options::Config;
use rerand_ld::report::{ObjectReport, Report};
use rerand_ld::rewrite::{self, Input, Outcome, Plan};
use std::collections::{HashMap, HashSet};
use std::io::BufWriter;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
    let tmp = LazyTempDir::next_to(ld.output.as_deref());
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
    let rewritten = parallel_map(to_rewrite.len(), |j| {
        let (i, data) = &to_rewrite[j];
        let (k, input) = &inputs[*i];
        process(*k, input, data, &cfg, &tmp)
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
    for ((_, input), d) in inputs.iter().zip(done) {
        match d? {
            Done::Unreadable => {} // ld reports missing inputs itself
            Done::Failed(p) => problems.extend(p),
            Done::Passed {
                reason,
                warn,
                report: r,
            } => {
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
            Done::Rewritten { report: r, path } => {
                if cfg.verbose {
                    eprintln!("rerand-ld: {}", r.summary());
                }
                report.add(r);
                substitutes.insert(input.clone(), path);
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems.to_string());
    }
    // 6.
    if let Some(path) = &cfg.report {
        report
            .merge_into(path)
            .map_err(|e| format!("rerand-ld: cannot write report {path}: {e}"))?;
    }
    // 7.
    let Some(dir) = tmp.created() else {
        // Nothing rewritten: the real linker takes over this process.
        let err = Command::new(&real_ld).args(args).exec();
        return Err(format!(
            "rerand-ld: cannot run {}: {err}",
            real_ld.display()
        ));
    };
    let new_args = ld
        .substituted(&|p| substitutes.get(p).cloned(), dir)
        .map_err(|e| format!("rerand-ld: cannot write response file: {e}"))?;
    let status = Command::new(&real_ld)
        .args(&new_args)
        .status()
        .map_err(|e| format!("rerand-ld: cannot run {}: {e}", real_ld.display()))?;
    drop(tmp);
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
    /// Rewritten into `path`, in the temporary directory.
    Rewritten {
        report: ObjectReport,
        path: PathBuf,
    },
}

/// Rewrites input number `k` and writes it out; `Err` only when the
/// rewritten object cannot be written.
fn process(
    k: usize,
    input: &str,
    data: &[u8],
    cfg: &Config,
    tmp: &LazyTempDir,
) -> Result<Done, String> {
    let r = match rewrite::plan(input, data, cfg) {
        Err(p) => return Ok(Done::Failed(p)),
        Ok(Plan::Pass(o)) => return Ok(passed(o)),
        Ok(Plan::Rewrite(r)) => r,
    };
    let base = Path::new(input)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input.o".into());
    let path = tmp.get()?.join(format!("{k}-{base}"));
    let cannot = |e: std::io::Error| format!("rerand-ld: cannot write {}: {e}", path.display());
    // Serialized straight into the file: no copy of the object in memory.
    let file = std::fs::File::create(&path).map_err(cannot)?;
    let mut out = StreamingBuffer::new(BufWriter::with_capacity(1 << 16, file));
    let report = match r.write(&mut out) {
        Ok(report) => report,
        Err(p) => return Ok(Done::Failed(p)),
    };
    out.flush().map_err(cannot)?;
    Ok(Done::Rewritten { report, path })
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
    // available_parallelism() reads cgroup files: not for a single item.
    let workers = if n <= 1 {
        n
    } else {
        std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .min(n)
    };
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

/// The temporary directory, created by the first input that needs it:
/// a link where nothing is rewritten creates none.
struct LazyTempDir {
    output: Option<String>,
    dir: OnceLock<Result<TempDir, String>>,
}

impl LazyTempDir {
    fn next_to(output: Option<&str>) -> Self {
        LazyTempDir {
            output: output.map(str::to_string),
            dir: OnceLock::new(),
        }
    }
    fn get(&self) -> Result<&Path, String> {
        match self
            .dir
            .get_or_init(|| TempDir::next_to(self.output.as_deref()))
        {
            Ok(t) => Ok(&t.path),
            Err(e) => Err(e.clone()),
        }
    }
    /// The directory, if it was created.
    fn created(&self) -> Option<&Path> {
        match self.dir.get() {
            Some(Ok(t)) => Some(&t.path),
            _ => None,
        }
    }
}

/// A directory next to the link output, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn next_to(output: Option<&str>) -> Result<Self, String> {
        let dir = output
            .and_then(|o| Path::new(o).parent())
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = dir.join(format!(".rerand-ld.{}.{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("rerand-ld: cannot create {}: {e}", path.display()))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("RERAND_KEEP_TEMPS").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
