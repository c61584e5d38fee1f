//! Helpers shared by the integration tests.
#![allow(dead_code)]

use relocator::placement::SplitMix64;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A deterministic generator for test cases (the same splitmix64 as placement).
pub struct Gen(pub SplitMix64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen(SplitMix64::new(seed))
    }
    pub fn u64(&mut self) -> u64 {
        self.0.next()
    }
    /// Uniform in [0, n); n > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.u64() % n
    }
    pub fn range(&mut self, lo: u64, hi_incl: u64) -> u64 {
        lo + self.below(hi_incl - lo + 1)
    }
    /// True with probability pct / 100.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a command and returns its stdout, failing the test with its stderr.
pub fn run(cmd: &mut Command, what: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Fails, rather than skips, when a tool the test needs is missing.
pub fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not on PATH: install it (Debian: `cargo xtask env` installs the \
         cross toolchain; the host C compiler is the `gcc` package)"
    );
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
