//! Small helpers shared by the xtask stages: running commands with one-line
//! errors, and the project's paths.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// An error meant for a person: one sentence saying what failed and what to do.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[macro_export]
macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::util::Error(format!($($t)*))) };
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The one ignored folder where downloads, extracted packages and logs live.
pub fn cache_dir() -> PathBuf {
    root().join(".cache")
}

/// Runs `cmd`, inheriting stdout/stderr; fails with `what` on a non-zero exit.
pub fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| Error(format!("{what}: cannot start {:?}: {e}", cmd.get_program())))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout; on failure the error carries
/// the command's last stderr lines, so the user sees the cause, not noise.
pub fn output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error(format!("{what}: cannot start {:?}: {e}", cmd.get_program())))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} failed: {}", tail.join(" / ").trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn have_command(name: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn step(msg: &str) {
    eprintln!("xtask: {msg}");
}

/// Runs one step of a setup, saying when it starts and how long it took, so
/// that a first run has no silent minutes.
pub fn timed<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    step(&format!("{what} ..."));
    let start = Instant::now();
    let r = f();
    let secs = start.elapsed().as_secs_f64();
    match &r {
        Ok(_) => step(&format!("{what}: done in {secs:.1} s")),
        Err(_) => step(&format!("{what}: failed after {secs:.1} s")),
    }
    r
}
