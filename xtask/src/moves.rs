//! What moves of real modules: per module, the functions and code bytes
//! its rerand tables say move (`rerand inspect`'s numbers), for the bfq
//! check, the in-tree kernel row, `cargo xtask shares` and the bench
//! report.

use crate::bfq;
use crate::env::{self, Bench};
use crate::kbuild::{self, Linker};
use crate::kernel;
use crate::util::{cache_dir, run, step, Error, Result};
use relocator::module::Module;
use std::fs;
use std::path::{Path, PathBuf};

/// Real modules built from the source package the way the README tells a
/// module author (the directory's own Makefile with `include $(RERAND_MK)`,
/// `LD=rerand-ld`) against the bench's headers: (source directory, make
/// variables). Every module a directory builds is counted (fs/fuse makes
/// fuse, cuse and virtiofs).
const OUT_OF_TREE: &[(&str, &[&str])] = &[
    ("drivers/block/zram", &[]),
    // Debian mounts ext2 with ext4 (CONFIG_EXT2_FS unset): asked for here.
    ("fs/ext2", &["CONFIG_EXT2_FS=m"]),
    ("fs/ext4", &[]),
    ("fs/jbd2", &[]),
    ("fs/fuse", &[]),
    ("fs/btrfs", &[]),
];

/// Copies the regular files under `from` into `to`, recursively.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| Error(format!("{}: {e}", to.display())))?;
    for e in fs::read_dir(from).map_err(|e| Error(format!("{}: {e}", from.display())))? {
        let e = e.map_err(|e| Error(format!("{}: {e}", from.display())))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else if src.is_file() {
            fs::copy(&src, &dst).map_err(|e| Error(format!("{}: {e}", src.display())))?;
        }
    }
    Ok(())
}

/// Builds [`OUT_OF_TREE`] (once per rerand-ld: a directory whose
/// `modules.order` and modules are all newer than rerand-ld is reused) and
/// returns each module as (name, .ko).
pub fn build_out_of_tree(bench: &Bench) -> Result<Vec<(String, PathBuf)>> {
    let tree = env::kernel_source(bench)?;
    let base = cache_dir().join("real").join(&bench.version);
    let ld_time = fs::metadata(crate::util::root().join("target/release/rerand-ld"))
        .and_then(|m| m.modified())
        .map_err(|e| Error(format!("rerand-ld is not built: {e}")))?;
    let mut kos = Vec::new();
    for (dir, vars) in OUT_OF_TREE {
        let out = base.join(dir.replace('/', "_"));
        let newer = |p: &Path| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > ld_time)
        };
        let fresh = newer(&out.join("modules.order"))
            && kernel::modules_in(&out).is_ok_and(|kos| kos.iter().all(|k| newer(k)));
        if !fresh {
            let _ = fs::remove_dir_all(&out);
            copy_tree(&tree.join(dir), &out)?;
            let makefile = fs::read_to_string(out.join("Makefile"))
                .map_err(|e| Error(format!("{dir}/Makefile: {e}")))?;
            let kbuild = format!("{makefile}\ninclude $(RERAND_MK)\n");
            fs::write(out.join("Kbuild"), kbuild).map_err(|e| Error(format!("{e}")))?;
            step(&format!("building {dir} from linux-source (rerand-ld)"));
            run(
                kbuild::kbuild_command(bench, &out, Linker::Rerand)
                    .args(*vars)
                    .arg(bfq::jobs())
                    .arg("modules"),
                &format!("building {dir} with rerand-ld (log above)"),
            )?;
        }
        for ko in kernel::modules_in(&out)? {
            kos.push((module_name(&ko), ko));
        }
    }
    Ok(kos)
}

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
        // Aliases (init_module, cleanup_module) are the same bytes: once.
        let staying = m.staying();
        let moving_bytes: u64 = m.functions.iter().map(|f| f.size as u64).sum();
        let staying_bytes: u64 = staying.iter().filter_map(|s| s.excluded.size).sum();
        let mut stays: Vec<(String, usize)> = Vec::new();
        for e in staying.iter().map(|s| s.excluded) {
            match stays.iter_mut().find(|(r, _)| *r == e.reason) {
                Some((_, n)) => *n += 1,
                None => stays.push((e.reason.clone(), 1)),
            }
        }
        stays.sort_by_key(|r| std::cmp::Reverse(r.1));
        Share {
            name: name.to_string(),
            functions: m.functions.len() + staying.len(),
            moving: m.functions.len(),
            init_exit: staying
                .iter()
                .map(|s| s.excluded)
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

    /// Below what bfq must move ([`bfq::MIN_RANDOMIZED`] of the functions
    /// not init/exit, [`bfq::MIN_BYTES`] of code bytes)?
    pub fn below_minimum(&self) -> bool {
        self.functions_pct() < 100.0 * bfq::MIN_RANDOMIZED
            || self.bytes_pct() < 100.0 * bfq::MIN_BYTES
    }

    /// Of all function code bytes, percent.
    pub fn bytes_pct(&self) -> f64 {
        100.0 * self.moving_bytes as f64 / self.bytes.max(1) as f64
    }
}

/// bfq.ko (the bench builds it), [`OUT_OF_TREE`]'s modules and, when the
/// in-tree kernel has been built (`cargo xtask kernel`, or its row of
/// `cargo xtask test`), its modules (named `zram (in-tree)`).
pub fn real_modules(bench: &Bench) -> Result<Vec<Share>> {
    let mut v = Vec::new();
    if let Ok(m) = Module::read(&bfq::dirs(bench).ko()) {
        v.push(Share::of("bfq", &m));
    }
    for (name, ko) in build_out_of_tree(bench)? {
        let m = Module::read(&ko).map_err(|e| Error(format!("{}: {e}", ko.display())))?;
        v.push(Share::of(&name, &m));
    }
    // The newest in-tree build only: each rerand-ld gets its own tree.
    let newest = std::fs::read_dir(cache_dir().join("kernel-build"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("rerand-ld"))
        .filter_map(|t| {
            let built = fs::metadata(t.join("modules.order"))
                .ok()?
                .modified()
                .ok()?;
            Some((built, t))
        })
        .max();
    if let Some((_, tree)) = newest {
        for ko in kernel::modules_in(&tree).unwrap_or_default() {
            if let Ok(m) = Module::read(&ko) {
                v.push(Share::of(&format!("{} (in-tree)", module_name(&ko)), &m));
            }
        }
    }
    Ok(v)
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
