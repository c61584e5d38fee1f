//! Building the project's kernel modules with Kbuild against the bench's
//! headers, and the Rust binaries they need.

use crate::env::Bench;
use crate::util::{root, run, step, timed, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a module directory is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linker {
    /// The plain cross linker: the runtime and baseline modules.
    Plain,
    /// Through `macros-c/rerand.mk`, as the README tells module authors.
    Rerand,
    /// The same, with `RERAND_LD_FLAGS=--only-annotated`: only functions
    /// declared with SPECIAL_FUNCTION move.
    RerandOnlyAnnotated,
    /// `LD=rerand-ld` as a drop-in, with nothing but the make command line
    /// of the README ("Drop-in LD"): no rerand.mk.
    DropIn,
}

/// The make command line of a drop-in build, after `make -C $KDIR M=$PWD`
/// (the README quotes it).
pub fn drop_in_args() -> Vec<String> {
    vec![
        "LD=rerand-ld".into(),
        "KCFLAGS=-ffunction-sections -fno-ipa-ra".into(),
        format!(
            "KBUILD_EXTRA_SYMBOLS={}",
            runtime_dir().join("Module.symvers").display()
        ),
    ]
}

/// Builds `cargo build --release` of rerand-ld and the rerand tool.
pub fn build_tools() -> Result<()> {
    timed("building rerand-ld and rerand (release)", || {
        run(
            Command::new(env!("CARGO")).current_dir(root()).args([
                "build",
                "--release",
                "--quiet",
                "-p",
                "rerand-ld",
                "-p",
                "relocator",
            ]),
            "cargo build --release",
        )
    })
}

/// The environment a Kbuild call gets: the bench's cross tools, and
/// rerand-ld on PATH.
pub fn kbuild_command(bench: &Bench, dir: &Path, linker: Linker) -> Command {
    let mut cmd = Command::new("make");
    let path = format!(
        "{}:{}",
        root().join("target/release").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
        .arg("-s")
        .arg("-C")
        .arg(bench.kdir())
        .arg(format!("M={}", dir.display()))
        .arg("ARCH=arm64")
        .arg("CROSS_COMPILE=aarch64-linux-gnu-");
    if linker == Linker::DropIn {
        cmd.env("RERAND_LD_FLAGS", "").args(drop_in_args());
    } else if linker != Linker::Plain {
        let flags = if linker == Linker::RerandOnlyAnnotated {
            "--only-annotated"
        } else {
            ""
        };
        cmd.env("RERAND_LD_FLAGS", flags);
        cmd.arg("LD=rerand-ld").arg(format!(
            "RERAND_MK={}",
            root().join("macros-c/rerand.mk").display()
        ));
    }
    cmd
}

/// Kbuild relinks when a command line changes, not when the linker binary
/// does: a module linked by an older rerand-ld is cleaned first. The stamp
/// records which rerand-ld (size and mtime) linked the directory last.
fn clean_if_linker_changed(bench: &Bench, dir: &Path) -> Result<()> {
    let ld = root().join("target/release/rerand-ld");
    let id = std::fs::metadata(&ld)
        .and_then(|m| Ok(format!("{} {:?}", m.len(), m.modified()?)))
        .unwrap_or_default();
    let stamp = dir.join(".rerand-ld.stamp");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(id.as_str()) {
        return Ok(());
    }
    run(
        kbuild_command(bench, dir, Linker::Rerand).arg("clean"),
        &format!("cleaning {}", dir.display()),
    )?;
    std::fs::write(&stamp, id).map_err(|e| crate::util::Error(format!("{}: {e}", stamp.display())))
}

/// `make modules` in `dir`.
pub fn build_module_dir(bench: &Bench, dir: &Path, linker: Linker) -> Result<()> {
    if linker != Linker::Plain {
        clean_if_linker_changed(bench, dir)?;
    }
    step(&format!(
        "building {} ({})",
        dir.strip_prefix(root()).unwrap_or(dir).display(),
        match linker {
            Linker::Plain => "plain ld",
            Linker::Rerand => "rerand-ld",
            Linker::RerandOnlyAnnotated => "rerand-ld --only-annotated",
            Linker::DropIn => "LD=rerand-ld alone, no rerand.mk",
        }
    ));
    // The project's own C code must build without a warning at W=1 (extra
    // warnings such as -Wmissing-prototypes); modpost's "WARNING:" lines
    // count too, since each is a symbol the module will miss at load time.
    let what = format!("building the module in {}", dir.display());
    let out = kbuild_command(bench, dir, linker)
        .arg("W=1")
        .arg("modules")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| crate::util::Error(format!("{what}: cannot start make: {e}")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Without a vmlinux, Kbuild says for every module that it skips BTF:
    // expected for external modules, so not repeated here.
    for line in text
        .lines()
        .filter(|l| !l.starts_with("Skipping BTF generation"))
    {
        println!("{line}");
    }
    if !out.status.success() {
        return Err(crate::util::Error(format!(
            "{what} failed ({})",
            out.status
        )));
    }
    let warnings = text
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("warning:"))
        .count();
    if warnings > 0 {
        return Err(crate::util::Error(format!(
            "{what}: {warnings} warning(s) at W=1 (shown above); the project's C code builds warning-free"
        )));
    }
    Ok(())
}

pub fn runtime_dir() -> PathBuf {
    root().join("runtime-kmod")
}

/// Whether a file of `runtime-kmod/` is part of rerand.ko's source (what a
/// copy of the runtime needs: dkms, the in-tree kernel test).
pub fn is_runtime_source(name: &str) -> bool {
    let kbuild_output = name.ends_with(".mod.c");
    name == "Kbuild" || (!kbuild_output && [".c", ".h", ".S"].iter().any(|x| name.ends_with(x)))
}

pub fn runtime_ko() -> PathBuf {
    runtime_dir().join("rerand.ko")
}

/// The runtime module; it is linked with the plain linker (it is the one
/// module that must not be rewritten: it implements the pause list).
pub fn build_runtime(bench: &Bench) -> Result<()> {
    build_module_dir(bench, &runtime_dir(), Linker::Plain)
}

/// Test modules under `tests/`, with the linker each is built with.
pub fn test_modules() -> Vec<(PathBuf, Linker)> {
    let t = root().join("tests");
    vec![
        (t.join("bench-oops"), Linker::Plain),
        (t.join("hello"), Linker::Plain),
        (t.join("rerand-host"), Linker::Plain),
        (t.join("test_driver"), Linker::Rerand),
        (t.join("torture"), Linker::Rerand),
        (t.join("sites"), Linker::Rerand),
        (t.join("runtime-selftest"), Linker::Plain),
        (t.join("annotated"), Linker::RerandOnlyAnnotated),
        (t.join("annotated-auto"), Linker::Rerand),
        (t.join("tamper"), Linker::Plain),
        (t.join("peek"), Linker::Plain),
    ]
}

/// Where the drop-in builds of `tests/sample` (a single-object module) and
/// `tests/dropin` (a composite one) are made: copies, so that the README
/// guide's copy of `tests/sample` starts from clean sources.
pub fn drop_in_dirs() -> [(PathBuf, PathBuf, &'static str); 2] {
    let (t, c) = (
        root().join("tests"),
        crate::util::cache_dir().join("dropin"),
    );
    [
        (t.join("sample"), c.join("sample"), "sample.ko"),
        (t.join("dropin"), c.join("composite"), "rerand_dropin.ko"),
    ]
}

/// Copies the sources of `from` into `to`, leaving files whose contents
/// did not change alone (Kbuild rebuilds what is newer).
fn sync_sources(from: &Path, to: &Path) -> Result<()> {
    let err = |e: std::io::Error| crate::util::Error(format!("{}: {e}", to.display()));
    std::fs::create_dir_all(to).map_err(err)?;
    for e in std::fs::read_dir(from).map_err(err)? {
        let p = e.map_err(err)?.path();
        let name = p.file_name().unwrap_or_default();
        let is_source = ["c", "h", "S"]
            .iter()
            .any(|x| p.extension().is_some_and(|e| e == *x))
            || name == "Makefile"
            || name == "Kbuild";
        if !is_source || name.to_string_lossy().ends_with(".mod.c") {
            continue;
        }
        let new = std::fs::read(&p).map_err(err)?;
        let dst = to.join(name);
        if std::fs::read(&dst).ok().as_deref() != Some(&new[..]) {
            std::fs::write(&dst, new).map_err(err)?;
        }
    }
    Ok(())
}

pub fn build_drop_in(bench: &Bench) -> Result<()> {
    for (src, dir, _) in drop_in_dirs() {
        sync_sources(&src, &dir)?;
        build_module_dir(bench, &dir, Linker::DropIn)?;
    }
    Ok(())
}

/// Where the poison scenario finds `rerand inspect`'s prediction of
/// test_driver.ko's fixed executable bytes, to compare with the runtime's.
pub fn fixed_exec_prediction() -> PathBuf {
    crate::util::cache_dir().join("poison/test_driver.fixed_exec_bytes")
}

fn write_fixed_exec_prediction() -> Result<()> {
    let ko = root().join("tests/test_driver/test_driver.ko");
    let m = relocator::module::Module::read(&ko)
        .map_err(|e| crate::util::Error(format!("{}: {e}", ko.display())))?;
    let (tramp, staying, kept) = m.fixed_exec();
    let path = fixed_exec_prediction();
    let err = |e: std::io::Error| crate::util::Error(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(path.parent().unwrap()).map_err(err)?;
    std::fs::write(&path, format!("{}\n", tramp + staying + kept)).map_err(err)
}

/// Guest programs (static arm64 binaries) the scenarios run, built from
/// `tests/guest/<name>.c` into `tests/guest/<name>`.
pub const GUEST_PROGRAMS: &[&str] = &["wpgrab"];

pub fn guest_program(name: &str) -> PathBuf {
    root().join("tests/guest").join(name)
}

fn build_guest_programs() -> Result<()> {
    for name in GUEST_PROGRAMS {
        let out = guest_program(name);
        run(
            Command::new("aarch64-linux-gnu-gcc")
                .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
                .arg(&out)
                .arg(out.with_extension("c")),
            &format!("building the guest program {name}"),
        )?;
    }
    Ok(())
}

pub fn build_all(bench: &Bench) -> Result<()> {
    build_tools()?;
    build_guest_programs()?;
    build_runtime(bench)?;
    for (dir, linker) in test_modules() {
        build_module_dir(bench, &dir, linker)?;
    }
    build_drop_in(bench)?;
    write_fixed_exec_prediction()?;
    crate::bfq::build(bench)?;
    crate::bench::build_call_modules(bench)?;
    // Corrupted copies of test_driver.ko for the bad-table scenario.
    crate::badtable::make()?;
    Ok(())
}
