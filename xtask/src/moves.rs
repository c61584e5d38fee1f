//! What moves of real modules: per module, the functions and code bytes
//! its rerand tables say move (`rerand inspect`'s numbers), for the bfq
//! check, the in-tree kernel row and the bench report.

use crate::bfq;
use crate::env::Bench;
use crate::kernel;
use crate::util::cache_dir;
use relocator::module::Module;
use std::path::Path;

/// One module's share.
pub struct Share {
    pub name: String,
    pub functions: usize,
    pub moving: usize,
    /// Functions in `.init.*`/`.exit.*` text: freed after init or run
    /// once at unload, they never move.
    pub init_exit: usize,
    pub bytes: u64,
    pub moving_bytes: u64,
    /// Why the others stay, most common first: (reason, count).
    pub stays: Vec<(String, usize)>,
}

impl Share {
    pub fn of(name: &str, m: &Module) -> Share {
        let moving_bytes: u64 = m.functions.iter().map(|f| f.size as u64).sum();
        let staying_bytes: u64 = m.excluded.iter().filter_map(|e| e.size).sum();
        let mut stays: Vec<(String, usize)> = Vec::new();
        for e in &m.excluded {
            match stays.iter_mut().find(|(r, _)| *r == e.reason) {
                Some((_, n)) => *n += 1,
                None => stays.push((e.reason.clone(), 1)),
            }
        }
        stays.sort_by_key(|r| std::cmp::Reverse(r.1));
        Share {
            name: name.to_string(),
            functions: m.functions.len() + m.excluded.len(),
            moving: m.functions.len(),
            init_exit: m
                .excluded
                .iter()
                .filter(|e| e.reason.starts_with("in .init.") || e.reason.starts_with("in .exit."))
                .count(),
            bytes: moving_bytes + staying_bytes,
            moving_bytes,
            stays,
        }
    }

    /// Of the functions that run after load (not init/exit code), percent.
    pub fn functions_pct(&self) -> f64 {
        100.0 * self.moving as f64 / (self.functions - self.init_exit).max(1) as f64
    }

    /// Of all function code bytes, percent.
    pub fn bytes_pct(&self) -> f64 {
        100.0 * self.moving_bytes as f64 / self.bytes.max(1) as f64
    }
}

/// bfq.ko (the bench builds it) and, when the in-tree kernel has been built
/// (`cargo xtask kernel`, or its row of `cargo xtask test`), its modules.
pub fn real_modules(bench: &Bench) -> Vec<Share> {
    let mut v = Vec::new();
    if let Ok(m) = Module::read(&bfq::dirs(bench).ko()) {
        v.push(Share::of("bfq", &m));
    }
    let trees = std::fs::read_dir(cache_dir().join("kernel-build"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("rerand-ld"))
        .filter(|t| t.join("modules.order").is_file());
    for tree in trees {
        for ko in kernel::modules_in(&tree).unwrap_or_default() {
            if let Ok(m) = Module::read(&ko) {
                v.push(Share::of(&module_name(&ko), &m));
            }
        }
    }
    v
}

fn module_name(ko: &Path) -> String {
    ko.file_stem()
        .map(|s| s.to_string_lossy().replace('-', "_"))
        .unwrap_or_default()
}

/// The report's table.
pub fn markdown(shares: &[Share]) -> String {
    let mut md = String::from(
        "| module | functions that move | of those not init/exit | code bytes that move | what stays |\n|---|---|---|---|---|\n",
    );
    for s in shares {
        let stays: Vec<String> = s.stays.iter().map(|(r, n)| format!("{n}: {r}")).collect();
        md.push_str(&format!(
            "| {} | {} of {} | {:.1}% | {:.1}% | {} |\n",
            s.name,
            s.moving,
            s.functions,
            s.functions_pct(),
            s.bytes_pct(),
            if stays.is_empty() {
                "nothing".to_string()
            } else {
                stays.join("; ")
            }
        ));
    }
    md
}
