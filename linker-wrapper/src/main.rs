//! rerand-ld: a drop-in `LD` for Kbuild (`make M=... LD=rerand-ld`).
//!
//! The pipeline, top to bottom:
//! 1. find the real linker (`RERAND_REAL_LD`, `${CROSS_COMPILE}ld`,
//!    `aarch64-linux-gnu-ld`, `ld`; never rerand-ld itself);
//! 2. read the command line as ld would (inputs, `@response` files, `-o`);
//! 3. anything but a relocatable (`-r`) link, and `-v`/`--version` probes:
//!    exec the real linker untouched;
//! 4. read rerand-ld's own options from `RERAND_LD_FLAGS`/`RERAND_VERBOSE`;
//! 5. rewrite every aarch64 relocatable input into a temporary directory
//!    next to the output (inputs are never modified), collecting every
//!    problem of every input and failing once;
//! 6. write the report;
//! 7. run the real linker with the same arguments, rewritten inputs
//!    substituted, and exit with its status; the temporary directory goes.
use rerand_ld::diag::Problems;
use rerand_ld::ldargs::LdArgs;
use rerand_ld::options::Config;
use rerand_ld::report::Report;
use rerand_ld::rewrite::{self, Outcome};
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    let tmp = TempDir::next_to(ld.output.as_deref())?;
    let mut problems = Problems::default();
    let mut report = Report::default();
    let mut substitutes: HashMap<String, PathBuf> = HashMap::new();
    for (k, input) in ld.inputs().iter().enumerate() {
        if substitutes.contains_key(input) {
            continue;
        }
        let Ok(data) = std::fs::read(input) else {
            continue; // ld reports missing inputs itself
        };
        match rewrite::rewrite(input, &data, &cfg) {
            Err(p) => problems.extend(p),
            Ok(Outcome::PassThrough {
                reason,
                warn,
                report: r,
            }) => {
                if warn {
                    eprintln!("rerand-ld: warning: {input}: {reason}; passed through unmodified");
                }
                if cfg.verbose && reason != "not an ELF file" {
                    eprintln!("rerand-ld: {}", r.summary());
                }
                if reason != "not an ELF file" {
                    report.add(r);
                }
            }
            Ok(Outcome::Rewritten {
                data: out,
                report: r,
            }) => {
                if cfg.verbose {
                    eprintln!("rerand-ld: {}", r.summary());
                }
                report.add(r);
                let base = Path::new(input)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "input.o".into());
                let path = tmp.path.join(format!("{k}-{base}"));
                write_atomically(&path, &out)
                    .map_err(|e| format!("rerand-ld: cannot write {}: {e}", path.display()))?;
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
    let new_args = ld
        .substituted(&|p| substitutes.get(p).cloned(), &tmp.path)
        .map_err(|e| format!("rerand-ld: cannot write response file: {e}"))?;
    let status = Command::new(&real_ld)
        .args(&new_args)
        .status()
        .map_err(|e| format!("rerand-ld: cannot run {}: {e}", real_ld.display()))?;
    drop(tmp);
    Ok(status.code().unwrap_or(1))
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

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
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
