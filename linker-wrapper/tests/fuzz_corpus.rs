//! The fuzz corpora and crash reproducers (`fuzz/corpus/*`,
//! `fuzz/regressions/*`) replayed through the rewriter on stable Rust,
//! without the fuzz engine: CI's share of the fuzzing. Every input must
//! satisfy `fuzz/src/check.rs` (never panic; the driver's cheap read
//! decides as the full rewrite does; rewritten output is recognized).
use std::path::{Path, PathBuf};

#[path = "../fuzz/src/check.rs"]
mod check;
#[path = "../fuzz/src/mutate.rs"]
mod mutate;

fn files(sub: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for top in ["corpus", "regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(top)
            .join(sub);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        out.extend(
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    out.sort();
    out
}

fn replay(sub: &str, f: fn(&[u8])) {
    let inputs = files(sub);
    assert!(!inputs.is_empty(), "no corpus for {sub}");
    // The fuzz targets' own panics are what this reports: keep stderr quiet.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = Vec::new();
    for p in &inputs {
        let data = std::fs::read(p).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| f(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {msg}", p.display()));
        }
    }
    std::panic::set_hook(hook);
    assert!(
        failed.is_empty(),
        "{} of {} inputs failed:\n{}",
        failed.len(),
        inputs.len(),
        failed.join("\n")
    );
}

#[test]
fn rewrite_corpus() {
    replay("rewrite", check::check);
}

#[test]
fn rewrite_structured_corpus() {
    replay("rewrite_structured", |d| check::check(&mutate::mutate(d)));
}
