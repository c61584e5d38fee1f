//! `cargo xtask kernel`: a whole arm64 kernel built with `LD=rerand-ld`
//! (issue 10), from Debian's linux-source-6.1 tree, out of tree under
//! `.cache/kernel-build/<key>/`.
//!
//! The steps, top to bottom:
//! 1. configure: `make tinyconfig`, merge `tests/kernel/rerand.config`
//!    (`scripts/kconfig/merge_config.sh`), `make olddefconfig`, and check
//!    that every line of the fragment survived;
//! 2. build `Image modules` from scratch with `LD=rerand-ld`, timed; with
//!    `--measure`, build the same again with the plain cross linker in a
//!    second tree: the build-time overhead of rerand-ld (the README quotes
//!    it; `cargo xtask test` skips this second build to stay in budget);
//! 3. vmlinux passes through untouched: relink vmlinux (`vmlinux.o`, then
//!    `scripts/link-vmlinux.sh`) from the rerand-ld tree's own objects with
//!    the plain linker, in a copy of the tree, and compare byte for byte
//!    (and with `--measure`, the independently built plain vmlinux too);
//! 4. every in-tree module (`modules.order`) carries a `.rerand.table`
//!    (read with `relocator::module`), and none of the plain build's do;
//! 5. build rerand.ko against this tree, as an external module, from a copy
//!    of `runtime-kmod/` (the bench's own build there is left alone);
//! 6. boot `arch/arm64/boot/Image` under QEMU, load rerand.ko and the
//!    in-tree modules, and run `tests/kernel/zram-ext2.sh` while the bodies
//!    move every 1 ms.
//!
//! How the flags are chosen:
//! - Module objects only get `-ffunction-sections`, `-g` (rerand-ld reads
//!   argument passing from DWARF; tinyconfig has no debug info),
//!   `-fno-ipa-ra` (see [`module_cflags`]) and the force-included
//!   `macros-c/rerand_ref.h`, through `CFLAGS_MODULE`, which
//!   Kbuild applies to objects that are part of a module and never to
//!   vmlinux. `KCFLAGS=-ffunction-sections` would reach vmlinux too, where
//!   the arm64 linker script (without LD_DEAD_CODE_DATA_ELIMINATION) has no
//!   rule for `.text.<name>`: thousands of orphan sections and a different
//!   vmlinux layout. vmlinux is built exactly as without rerand.
//! - modpost: an in-tree modpost reads vmlinux and the tree's modules only;
//!   unlike an external build it takes no `KBUILD_EXTRA_SYMBOLS`, and the
//!   runtime cannot be part of the tree (it is built against the tree
//!   afterwards). So `add_pause_list`/`remove_pause_list` are unresolved for
//!   modpost, which is an error by default. The build runs with
//!   `KBUILD_MODPOST_WARN=1` and this file then fails the build if any
//!   "undefined!" warning names another symbol: the warning mode is granted
//!   to the two hooks only. The config has no MODVERSIONS, so no version is
//!   missing at load time; modprobe's `depends=rerand` is missing, and the
//!   guest loads rerand.ko first with insmod.
//! - The build is reproducible (fixed `KBUILD_BUILD_*`), so two links of the
//!   same objects give the same bytes.
//!
//! The two trees are cached, keyed by a hash of the recipe (fragment, flags,
//! rerand-ld's bytes, the force-included headers, the source version):
//! a second run with nothing changed skips step 2 and reports the build
//! times measured when the trees were built.

use crate::bail;
use crate::env::{self, Bench};
use crate::kbuild;
use crate::util::{cache_dir, output, root, step, Error, Result};
use crate::vm::{self, VmOptions};
use relocator::abi;
use relocator::module::Module;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Default)]
pub struct KernelArgs {
    /// Rebuild the kernel(s) even if the cache holds them.
    #[arg(long)]
    pub rebuild: bool,
    /// Also build the same tree with the plain linker, from scratch, and
    /// report the build-time overhead of rerand-ld (the README's number).
    #[arg(long)]
    pub measure: bool,
    /// Stop after the builds and the checks: do not boot the kernel.
    #[arg(long)]
    pub no_vm: bool,
}

const PLAIN_LD: &str = "aarch64-linux-gnu-ld";
const RERAND_LD: &str = "rerand-ld";
/// Part of the cache key: bump when this recipe changes in a way the key
/// cannot see (the make arguments are hashed already).
const RECIPE: &str = "rerand kernel recipe 2";
/// The in-tree modules held to bfq's shares (issue 19: bfq, zram, ext2).
const MUST_MOVE: &[&str] = &["zram", "ext2"];
/// The only symbols modpost may report undefined (see the module doc).
const HOOKS: [&str; 2] = [abi::ENTER_HOOK, abi::EXIT_HOOK];
/// Reproducible builds: the same objects link to the same bytes.
const BUILD_ENV: &[(&str, &str)] = &[
    ("KBUILD_BUILD_TIMESTAMP", "Thu Jan  1 00:00:00 UTC 2026"),
    ("KBUILD_BUILD_USER", "rerand"),
    ("KBUILD_BUILD_HOST", "rerand"),
    ("KBUILD_BUILD_VERSION", "1"),
];

fn fragment() -> PathBuf {
    root().join("tests/kernel/rerand.config")
}

fn guest_script() -> PathBuf {
    root().join("tests/kernel/zram-ext2.sh")
}

/// `CFLAGS_MODULE`: flags for module objects only.
///
/// `-fno-ipa-ra`: with interprocedural register allocation (on at -O2 and
/// -Os), GCC lets a caller keep values in x2-x18 across a call to a function
/// of the same object whose body it knows does not touch them. The caller
/// then reaches the trampoline, whose hooks clobber those registers: on this
/// tinyconfig kernel (no ftrace) zs_malloc passed a corrupt page pointer to
/// get_next_page (an oops under zram writes). GCC already turns IPA-RA off
/// for functions with patchable entries, which is why Debian's kernel
/// (DYNAMIC_FTRACE_WITH_REGS) never showed it.
fn module_cflags() -> String {
    format!(
        "-g -ffunction-sections -fno-ipa-ra -include {}",
        root().join("macros-c/rerand_ref.h").display()
    )
}

/// What one run found; printed at the end and summarised for `xtask test`.
#[derive(Default)]
struct Findings {
    lines: Vec<String>,
}

impl Findings {
    fn note(&mut self, line: String) {
        step(&line);
        self.lines.push(line);
    }
}

/// `cargo xtask kernel`.
pub fn cmd_kernel(args: KernelArgs) -> Result<()> {
    let bench = env::ensure()?;
    let mut f = Findings::default();
    let r = run_all(&bench, &args, true, &mut f);
    println!();
    println!("cargo xtask kernel:");
    for l in &f.lines {
        println!("  {l}");
    }
    r.map(|summary| println!("  PASS: {summary}"))
}

/// The row of `cargo xtask test`: everything, the VM included, quietly.
pub fn test(bench: &Bench) -> Result<String> {
    let mut f = Findings::default();
    run_all(bench, &KernelArgs::default(), false, &mut f)
}

fn run_all(bench: &Bench, args: &KernelArgs, echo: bool, f: &mut Findings) -> Result<String> {
    kbuild::build_tools()?;
    let src = env::kernel_source(bench)?;
    let base = ensure_built(bench, &src, args, f)?;
    let rerand_tree = base.join(RERAND_LD);
    let plain_tree = args.measure.then(|| base.join("plain"));

    relink_check(&src, &base, f)?;
    if let Some(plain_tree) = &plain_tree {
        let same = compare(&rerand_tree.join("vmlinux"), &plain_tree.join("vmlinux"))?;
        f.note(format!(
            "vmlinux of the rerand-ld build vs the plain-ld build (separate trees): {}",
            same.unwrap_or("DIFFERENT (reported only: the relink above is the proof)")
        ));
    }

    let mods = check_modules(&rerand_tree, plain_tree.as_deref(), f)?;
    let rt = build_runtime(&src, &rerand_tree, &base)?;
    f.note(format!(
        "rerand.ko built against this tree: {}",
        rt.display()
    ));
    if args.no_vm {
        return Ok("built and checked; VM skipped (--no-vm)".into());
    }
    run_vm(bench, &rerand_tree, &rt, &mods, echo, f)
}

// ---------------------------------------------------------------------------
// 1-2. configure and build, cached

/// `make -C <src> O=<out> ARCH=arm64 CROSS_COMPILE=... LD=<ld>` with the
/// reproducible-build environment and rerand-ld on PATH.
fn make(src: &Path, out: &Path, ld: &str) -> Command {
    let mut cmd = Command::new("make");
    let path = format!(
        "{}:{}",
        root().join("target/release").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path);
    for (k, v) in BUILD_ENV {
        cmd.env(k, v);
    }
    // Nothing from the caller's environment changes the recipe.
    for k in [
        "RERAND_LD_FLAGS",
        "RERAND_VERBOSE",
        "RERAND_KEEP_TEMPS",
        "KCFLAGS",
        "KCPPFLAGS",
        "KAFLAGS",
        "KBUILD_OUTPUT",
        "ARCH",
        "CROSS_COMPILE",
    ] {
        cmd.env_remove(k);
    }
    cmd.arg("-C")
        .arg(src)
        .arg(format!("O={}", out.display()))
        .args(["ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"])
        .arg(format!("LD={ld}"));
    cmd
}

/// The arguments of the build proper (also hashed into the cache key).
fn build_args() -> Vec<String> {
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    vec![
        format!("-j{jobs}"),
        format!("CFLAGS_MODULE={}", module_cflags()),
        "KBUILD_MODPOST_WARN=1".into(),
    ]
}

/// Runs `cmd` with stdout and stderr into `log`; returns the log's text.
/// On failure the error carries the log's last lines.
fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<String> {
    let file = fs::File::create(log).map_err(|e| Error(format!("{}: {e}", log.display())))?;
    let file2 = file
        .try_clone()
        .map_err(|e| Error(format!("{}: {e}", log.display())))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file2)
        .status()
        .map_err(|e| Error(format!("{what}: cannot start {:?}: {e}", cmd.get_program())))?;
    let text = fs::read_to_string(log).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{what} failed ({status}); log {}:\n{}",
            log.display(),
            tail.join("\n")
        );
    }
    Ok(text)
}

fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x100_0000_01b3);
    }
    // A separator, so that ("ab", "c") and ("a", "bc") differ.
    *h ^= 0xff;
    *h = h.wrapping_mul(0x100_0000_01b3);
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error(format!("{}: {e}", path.display())))
}

/// What decides the trees' contents.
fn cache_key(bench: &Bench) -> Result<String> {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    fnv1a(&mut h, RECIPE.as_bytes());
    fnv1a(&mut h, bench.version.as_bytes());
    // The make arguments, less -jN (parallelism does not change the output).
    let args: Vec<String> = build_args()
        .into_iter()
        .filter(|a| !a.starts_with("-j"))
        .collect();
    fnv1a(&mut h, args.join("\n").as_bytes());
    fnv1a(&mut h, &read(&fragment())?);
    fnv1a(&mut h, &read(&root().join("target/release/rerand-ld"))?);
    for hdr in ["rerand_ref.h", "rerand_abi.h"] {
        fnv1a(&mut h, &read(&root().join("macros-c").join(hdr))?);
    }
    Ok(format!("{h:016x}"))
}

/// Every `CONFIG_X=y|m` and `# CONFIG_X is not set` line of the fragment
/// must be in the final .config: a missing dependency otherwise drops an
/// option silently.
fn check_config(out: &Path) -> Result<()> {
    let frag = String::from_utf8_lossy(&read(&fragment())?).into_owned();
    let config = String::from_utf8_lossy(&read(&out.join(".config"))?).into_owned();
    let have: std::collections::HashSet<&str> = config.lines().collect();
    let mut missing = Vec::new();
    for l in frag.lines() {
        let l = l.trim();
        let wanted =
            l.starts_with("CONFIG_") || (l.starts_with("# CONFIG_") && l.ends_with(" is not set"));
        if wanted && !have.contains(l) {
            let name = l
                .trim_start_matches("# ")
                .split([' ', '='])
                .next()
                .unwrap_or(l);
            let now = config
                .lines()
                .find(|c| {
                    c.starts_with(&format!("{name}=")) || c.contains(&format!("{name} is not set"))
                })
                .unwrap_or("absent");
            missing.push(format!("{l} (now: {now})"));
        }
    }
    if !missing.is_empty() {
        bail!(
            "{}: olddefconfig dropped: {}",
            fragment().display(),
            missing.join("; ")
        );
    }
    Ok(())
}

fn configure(src: &Path, out: &Path, ld: &str) -> Result<()> {
    let _ = fs::remove_dir_all(out);
    fs::create_dir_all(out).map_err(|e| Error(format!("mkdir {}: {e}", out.display())))?;
    let log = out.with_extension("config.log");
    run_logged(
        make(src, out, ld).arg("tinyconfig"),
        &log,
        "make tinyconfig",
    )?;
    let mut merge = Command::new(src.join("scripts/kconfig/merge_config.sh"));
    merge
        .current_dir(out)
        .args(["-m", "-O"])
        .arg(out)
        .arg(out.join(".config"))
        .arg(fragment());
    output(&mut merge, "scripts/kconfig/merge_config.sh")?;
    run_logged(
        make(src, out, ld).arg("olddefconfig"),
        &log,
        "make olddefconfig",
    )?;
    check_config(out)
}

/// Fails unless every modpost "undefined!" line names one of the hooks;
/// returns how many lines named them.
fn check_undefined(log: &str, what: &str) -> Result<usize> {
    let mut hooks = 0;
    let mut other = Vec::new();
    for l in log.lines().filter(|l| l.contains("undefined!")) {
        let sym = l.split('"').nth(1).unwrap_or("");
        if HOOKS.contains(&sym) {
            hooks += 1;
        } else {
            other.push(l.trim().to_string());
        }
    }
    if !other.is_empty() {
        bail!(
            "{what}: modpost reports undefined symbols other than the rerand hooks:\n  {}",
            other.join("\n  ")
        );
    }
    Ok(hooks)
}

/// Configures and builds `Image modules` in `out`; returns the build's
/// seconds (configuration excluded) and the hook warnings seen.
fn build_tree(src: &Path, out: &Path, ld: &str) -> Result<(f64, usize)> {
    // From scratch: a tree left by an interrupted build would make the
    // timing an incremental one.
    let _ = fs::remove_dir_all(out);
    configure(src, out, ld)?;
    let log = out.with_extension("build.log");
    step(&format!(
        "building Image and modules with LD={ld} in {} (log: {})",
        out.display(),
        log.display()
    ));
    let t = Instant::now();
    let text = run_logged(
        make(src, out, ld)
            .args(build_args())
            .args(["Image", "modules"]),
        &log,
        &format!("kernel build with LD={ld}"),
    )?;
    let secs = t.elapsed().as_secs_f64();
    let hooks = check_undefined(&text, &format!("kernel build with LD={ld}"))?;
    Ok((secs, hooks))
}

/// The rerand-ld tree (and with `--measure` the plain one), built now or
/// found in the cache; returns their parent directory.
fn ensure_built(bench: &Bench, src: &Path, args: &KernelArgs, f: &mut Findings) -> Result<PathBuf> {
    let key = cache_key(bench)?;
    let all = cache_dir().join("kernel-build");
    let base = all.join(&key);
    // Trees of other keys are stale: each takes about half a gigabyte.
    if let Ok(entries) = fs::read_dir(&all) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy() != key {
                step(&format!(
                    "removing stale kernel tree {}",
                    e.path().display()
                ));
                let p = e.path();
                let _ = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
    }
    fs::create_dir_all(&base).map_err(|e| Error(format!("mkdir {}: {e}", base.display())))?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    // rerand-ld first: if anything, the first build pays for a cold page
    // cache, which overstates rerand-ld's overhead, never hides it.
    let mut times = Vec::new();
    for (ld, wanted) in [(RERAND_LD, true), (PLAIN_LD, args.measure)] {
        if !wanted {
            continue;
        }
        let tree = base.join(if ld == RERAND_LD { RERAND_LD } else { "plain" });
        let stamp = tree.with_extension("complete");
        let cached = !args.rebuild && stamp.exists();
        if !cached {
            let _ = fs::remove_file(&stamp);
            let (secs, hooks) = build_tree(src, &tree, ld)?;
            let text = format!("seconds={secs:.1}\nhook_warnings={hooks}\njobs={jobs}\n");
            fs::write(&stamp, text).map_err(|e| Error(format!("{}: {e}", stamp.display())))?;
        }
        let text = String::from_utf8_lossy(&read(&stamp)?).into_owned();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map_or(String::from("?"), |v| v.trim().to_string())
        };
        f.note(format!(
            "LD={ld}: Image + modules in {} ({}), {} s at -j{}",
            tree.display(),
            if cached {
                "cached; time from when it was built"
            } else {
                "built now"
            },
            get("seconds"),
            get("jobs"),
        ));
        if ld == RERAND_LD {
            f.note(format!(
                "modpost: {} undefined-symbol warnings shown, all for {} (granted; see xtask/src/kernel.rs)",
                get("hook_warnings"),
                HOOKS.join("/")
            ));
        }
        times.push(get("seconds").parse::<f64>().unwrap_or(0.0));
    }
    if let [r, p] = times[..] {
        f.note(format!(
            "build time: LD=rerand-ld {r:.1} s, plain ld {p:.1} s, ratio {:.3}",
            if p > 0.0 { r / p } else { 0.0 }
        ));
    }
    Ok(base)
}

// ---------------------------------------------------------------------------
// 3. vmlinux passes through

/// `Some(how)` if the two ELF files are the same (byte for byte, or after
/// removing `.note.gnu.build-id`), `None` if they differ.
fn compare(a: &Path, b: &Path) -> Result<Option<&'static str>> {
    if read(a)? == read(b)? {
        return Ok(Some("byte-identical"));
    }
    let strip = |p: &Path| -> Result<Vec<u8>> {
        let out = p.with_extension("nobuildid");
        output(
            Command::new("aarch64-linux-gnu-objcopy")
                .arg("--remove-section=.note.gnu.build-id")
                .arg(p)
                .arg(&out),
            "aarch64-linux-gnu-objcopy --remove-section=.note.gnu.build-id",
        )?;
        let data = read(&out);
        let _ = fs::remove_file(&out);
        data
    };
    Ok((strip(a)? == strip(b)?).then_some("identical after removing .note.gnu.build-id"))
}

/// Relinks vmlinux.o and vmlinux from the rerand-ld tree's objects with the
/// plain linker, in a copy of the tree, and compares.
fn relink_check(src: &Path, base: &Path, f: &mut Findings) -> Result<()> {
    let tree = base.join(RERAND_LD);
    let copy = base.join("relink");
    let _ = fs::remove_dir_all(&copy);
    step("relinking vmlinux with the plain linker in a copy of the rerand-ld tree");
    let t = Instant::now();
    output(
        Command::new("cp").arg("-a").arg(&tree).arg(&copy),
        "copying the kernel tree",
    )?;
    let log = base.join("relink.log");
    let text = run_logged(
        make(src, &copy, PLAIN_LD).args(build_args()).arg("vmlinux"),
        &log,
        "relinking vmlinux with the plain linker",
    )?;
    let relinked: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| *l == "LD      vmlinux.o" || *l == "LD      vmlinux")
        .collect();
    if relinked.len() != 2 {
        bail!(
            "the relink did not relink vmlinux.o and vmlinux (log {}); Kbuild found nothing to do",
            log.display()
        );
    }
    let recompiled = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("CC ") || l.starts_with("AS ")
        })
        .count();
    let mut verdicts = Vec::new();
    // The vDSO (a shared link, relinked because its command names LD) too.
    for file in ["arch/arm64/kernel/vdso/vdso.so.dbg", "vmlinux.o", "vmlinux"] {
        match compare(&tree.join(file), &copy.join(file))? {
            Some(how) => verdicts.push(format!("{file} {how}")),
            None => bail!(
                "{file} linked by rerand-ld differs from {file} relinked with {PLAIN_LD} ({} vs {})",
                tree.join(file).display(),
                copy.join(file).display()
            ),
        }
    }
    f.note(format!(
        "vmlinux passes through: relinked with {PLAIN_LD} from the same objects ({recompiled} objects recompiled, {:.0} s): {}",
        t.elapsed().as_secs_f64(),
        verdicts.join(", ")
    ));
    let _ = fs::remove_dir_all(&copy);
    Ok(())
}

// ---------------------------------------------------------------------------
// 4. the modules carry tables

/// An in-tree module: its path, name and the modules it depends on.
struct Kmod {
    path: PathBuf,
    name: String,
    depends: Vec<String>,
}

/// The modules of `modules.order`, as .ko paths.
pub fn modules_in(tree: &Path) -> Result<Vec<PathBuf>> {
    let order = String::from_utf8_lossy(&read(&tree.join("modules.order"))?).into_owned();
    Ok(order
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim();
            tree.join(
                l.strip_suffix(".o")
                    .map_or(l.to_string(), |s| format!("{s}.ko")),
            )
        })
        .collect())
}

fn modinfo(m: &Module, key: &str) -> Option<String> {
    let s = m.section_by_name(".modinfo")?;
    let data = m.section_data(s.index);
    data.split(|b| *b == 0)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .find_map(|e| e.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// Counts each rerand-ld module's functions; fails if one has no table or a
/// plain-ld module has one. Returns the modules in load order.
fn check_modules(
    rerand_tree: &Path,
    plain_tree: Option<&Path>,
    f: &mut Findings,
) -> Result<Vec<Kmod>> {
    let mut mods = Vec::new();
    let (mut funcs, mut excluded) = (0, 0);
    let mut rows = Vec::new();
    // modpost prints at most 10 unresolved symbols, so the log cannot say
    // that only the hooks were missing: check every module's undefined
    // symbols against what vmlinux and the tree's modules export.
    let symvers = String::from_utf8_lossy(&read(&rerand_tree.join("Module.symvers"))?).into_owned();
    let exported: std::collections::HashSet<&str> = symvers
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .collect();
    let mut unresolved = Vec::new();
    let mut short = Vec::new();
    for path in modules_in(rerand_tree)? {
        let m = Module::read(&path).map_err(|e| Error(format!("{}: {e}", path.display())))?;
        for u in &m.undefined {
            if !exported.contains(u.as_str()) && !HOOKS.contains(&u.as_str()) {
                unresolved.push(format!("{u} ({})", path.display()));
            }
        }
        let name = modinfo(&m, "name").unwrap_or_else(|| {
            path.file_stem()
                .unwrap()
                .to_string_lossy()
                .replace('-', "_")
        });
        if m.section_by_name(abi::TABLE_SECTION).is_none() || m.tables.is_empty() {
            bail!(
                "{} has no {} section: rerand-ld did not rewrite it",
                path.display(),
                abi::TABLE_SECTION
            );
        }
        let sh = crate::moves::Share::of(&name, &m);
        if MUST_MOVE.contains(&name.as_str()) && sh.below_minimum() {
            short.push(format!(
                "{name}: {:.1}% of the functions not init/exit and {:.1}% of code bytes move",
                sh.functions_pct(),
                sh.bytes_pct()
            ));
        }
        rows.push(format!(
            "{name} {}/{} ({:.0}% of the functions not init/exit, {:.0}% of code bytes)",
            sh.moving,
            sh.functions,
            sh.functions_pct(),
            sh.bytes_pct()
        ));
        funcs += m.functions.len();
        excluded += m.staying().len();
        let depends = modinfo(&m, "depends")
            .unwrap_or_default()
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
        mods.push(Kmod {
            path,
            name,
            depends,
        });
    }
    if mods.is_empty() {
        bail!("{}: no modules were built", rerand_tree.display());
    }
    if !unresolved.is_empty() {
        bail!(
            "symbols neither exported by the tree nor rerand hooks: {}",
            unresolved.join(", ")
        );
    }
    if !short.is_empty() {
        bail!(
            "{} in-tree module(s) move less than bfq must ({:.0}% of functions, {:.0}% of code bytes): {}",
            short.len(),
            100.0 * crate::bfq::MIN_RANDOMIZED,
            100.0 * crate::bfq::MIN_BYTES,
            short.join("; ")
        );
    }
    let plain = match plain_tree {
        Some(t) => modules_in(t)?,
        None => Vec::new(),
    };
    for p in &plain {
        // NotLinked (no table at all) is exactly what a plain build gives.
        let m = match Module::read(p) {
            Err(relocator::module::Error::NotLinked { .. }) => continue,
            r => r.map_err(|e| Error(format!("{}: {e}", p.display())))?,
        };
        if m.section_by_name(abi::TABLE_SECTION).is_some() {
            bail!(
                "{} (plain ld) has a {} section",
                p.display(),
                abi::TABLE_SECTION
            );
        }
    }
    f.note(format!(
        "{} in-tree modules, each with {}: {funcs} functions randomized, {excluded} excluded (randomized/all: {}){}",
        mods.len(),
        abi::TABLE_SECTION,
        rows.join(", "),
        if plain_tree.is_some() {
            format!("; the plain build's {} modules have none", plain.len())
        } else {
            String::new()
        }
    ));
    // Dependency order: a module after everything it depends on.
    let mut ordered: Vec<Kmod> = Vec::new();
    while !mods.is_empty() {
        let ready = mods.iter().position(|m| {
            m.depends
                .iter()
                .all(|d| ordered.iter().any(|o| &o.name == d) || !mods.iter().any(|x| &x.name == d))
        });
        match ready {
            Some(i) => ordered.push(mods.remove(i)),
            None => bail!(
                "circular module dependencies among {}",
                mods.iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }
    Ok(ordered)
}

// ---------------------------------------------------------------------------
// 5. the runtime, against this tree

/// Copies `from/*` (files only) into `to`, rewriting only what changed so
/// that Kbuild's incremental build still works.
fn sync_dir(from: &Path, to: &Path, keep: &dyn Fn(&str) -> bool) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| Error(format!("mkdir {}: {e}", to.display())))?;
    let entries = fs::read_dir(from).map_err(|e| Error(format!("{}: {e}", from.display())))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.path().is_file() || !keep(&name) {
            continue;
        }
        let data = read(&e.path())?;
        let dst = to.join(&name);
        if fs::read(&dst).ok().as_deref() != Some(&data[..]) {
            fs::write(&dst, &data).map_err(|e| Error(format!("{}: {e}", dst.display())))?;
        }
    }
    Ok(())
}

/// rerand.ko built as an external module of `tree` (plain linker: the
/// runtime is never rewritten).
fn build_runtime(src: &Path, tree: &Path, base: &Path) -> Result<PathBuf> {
    let dir = base.join("runtime");
    let kmod = dir.join("runtime-kmod");
    sync_dir(&kbuild::runtime_dir(), &kmod, &kbuild::is_runtime_source)?;
    sync_dir(&root().join("macros-c"), &dir.join("macros-c"), &|n| {
        n.ends_with(".h")
    })?;
    step("building rerand.ko against the in-tree kernel");
    run_logged(
        make(src, tree, PLAIN_LD)
            .arg(format!("M={}", kmod.display()))
            .arg("modules"),
        &dir.join("build.log"),
        "building rerand.ko against the in-tree kernel",
    )?;
    Ok(kmod.join("rerand.ko"))
}

// ---------------------------------------------------------------------------
// 6. the VM

fn run_vm(
    bench: &Bench,
    tree: &Path,
    rt: &Path,
    mods: &[Kmod],
    echo: bool,
    f: &mut Findings,
) -> Result<String> {
    let files = mods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let file = m.path.file_name().unwrap().to_string_lossy().into_owned();
            (m.path.clone(), format!("/rerand/kmods/{:02}-{file}", i + 1))
        })
        .collect();
    f.note(format!(
        "load order: rerand {}",
        mods.iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let opts = VmOptions {
        kernel: Some(tree.join("arch/arm64/boot/Image")),
        modules: vec![rt.to_path_buf()],
        files,
        script: Some(guest_script()),
        timeout: Duration::from_secs(600),
        name: "kernel-zram-ext2".into(),
        echo,
        ..Default::default()
    };
    let outcome = vm::run(bench, &opts)?;
    for l in outcome
        .log
        .iter()
        .filter(|l| l.contains("kernel-test:") || l.contains("module=") || l.contains("FAIL:"))
    {
        f.lines.push(format!("guest: {l}"));
    }
    let summary = outcome.summary();
    f.note(format!(
        "VM ({:.0} s): {} (log: {})",
        outcome.elapsed.as_secs_f64(),
        if summary.is_empty() {
            "no SUMMARY line"
        } else {
            &summary
        },
        outcome.log_path.display()
    ));
    if !outcome.passed() {
        bail!("kernel-zram-ext2: {}", outcome.verdict());
    }
    Ok(summary)
}
