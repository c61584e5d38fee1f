//! `cargo xtask env`: the arm64 bench. Installs the host tools from Debian's
//! packages, downloads Debian's current arm64 6.1 kernel, its headers, the
//! matching kbuild and busybox, and keeps them under `.cache/bench/<version>`
//! so that a second run costs seconds.
//!
//! The order matters on a fresh machine: the arm64 architecture is added
//! first, the package lists are updated once (so they know arm64), and every
//! missing package is installed in one `apt-get install`.

use crate::bail;
use crate::util::{cache_dir, output, root, run, step, timed, Error, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every Debian package the project installs, each with what needs it. They
/// are checked as packages (`dpkg-query`), not as commands on PATH: headers
/// and firmware files are not commands. `--no-install-recommends` is used,
/// so anything only recommended must be listed here.
pub const PACKAGES: &[(&str, &str)] = &[
    (
        "gcc-aarch64-linux-gnu",
        "cross-compiling the modules and the e2e fixtures",
    ),
    (
        "binutils-aarch64-linux-gnu",
        "the real linker behind rerand-ld; the GNU ld oracle",
    ),
    (
        "libc6-dev-arm64-cross",
        "the e2e fixtures' C library headers (stdint.h)",
    ),
    (
        "qemu-system-arm",
        "the VM (qemu-system-aarch64; booted with -nic none, so no ROMs)",
    ),
    (
        "qemu-user",
        "running rewritten fixtures (qemu-aarch64) in the e2e tests",
    ),
    ("cpio", "the VM's initramfs"),
    (
        "xz-utils",
        "linux-source-6.1's tarball and Debian's .ko.xz modules",
    ),
    // `cargo xtask kernel`: the kernel's host programs (fixdep, kconfig,
    // kallsyms, sorttable) and the build itself. A tinyconfig arm64 build
    // needs neither libssl-dev (no module signing) nor libelf-dev (no
    // objtool or BTF).
    ("bc", "the in-tree kernel build"),
    ("flex", "the in-tree kernel build (kconfig)"),
    ("bison", "the in-tree kernel build (kconfig)"),
    ("gcc", "the kernel's host programs"),
    ("make", "Kbuild"),
    ("perl", "checkpatch.pl"),
    ("dkms", "the dkms build row"),
];

/// Everything a build or a VM run needs to know about the bench.
#[derive(Clone, Debug)]
pub struct Bench {
    /// Debian package version, e.g. 6.1.192-2.
    pub version: String,
    /// Kernel release, e.g. 6.1.0-56-arm64.
    pub release: String,
    /// Extracted packages.
    pub sysroot: PathBuf,
}

impl Bench {
    pub fn kdir(&self) -> PathBuf {
        self.sysroot
            .join("usr/src")
            .join(format!("linux-headers-{}", self.release))
    }
    pub fn kernel_image(&self) -> PathBuf {
        self.sysroot
            .join("boot")
            .join(format!("vmlinuz-{}", self.release))
    }
    pub fn modules_dir(&self) -> PathBuf {
        self.sysroot.join("lib/modules").join(&self.release)
    }
    pub fn busybox(&self) -> PathBuf {
        self.sysroot.join("bin/busybox")
    }
}

fn apt_get(args: &[&str], what: &str) -> Result<String> {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
    output(&mut cmd, what)
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u"), "id -u").is_ok_and(|u| u.trim() == "0")
}

/// The packages of `pkgs` that dpkg does not have installed ("ii": wanted
/// and installed), from one `dpkg-query` (which exits 1 when it knows of
/// some package nothing at all, and still prints the others).
fn not_installed<'a>(pkgs: &[&'a str]) -> Vec<&'a str> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${db:Status-Abbrev}\n"])
        .args(pkgs)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let ok: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, status)| status.starts_with("ii"))
        .map(|(pkg, _)| pkg)
        .collect();
    pkgs.iter().copied().filter(|p| !ok.contains(p)).collect()
}

fn has_arm64_architecture() -> bool {
    output(
        Command::new("dpkg").arg("--print-foreign-architectures"),
        "dpkg --print-foreign-architectures",
    )
    .is_ok_and(|a| a.lines().any(|a| a.trim() == "arm64"))
}

/// Whether the package lists know arm64 packages (they do only after an
/// `apt-get update` that followed `dpkg --add-architecture arm64`).
fn arm64_lists_known() -> bool {
    Command::new("apt-cache")
        .args(["show", "--no-all-versions", "linux-headers-arm64:arm64"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// What `apt-get install` would download for `pkgs`, in bytes (from
/// `--print-uris`: one `'uri' file size hash` line per archive).
fn install_download_size(pkgs: &[&str]) -> Option<u64> {
    let mut args = vec![
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "--print-uris",
    ];
    args.extend(pkgs);
    let out = apt_get(&args, "apt-get install --print-uris").ok()?;
    Some(
        out.lines()
            .filter(|l| l.starts_with('\''))
            .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
            .sum(),
    )
}

pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Adds the arm64 architecture, updates the lists and installs every
/// missing package of [`PACKAGES`], in that order and each at most once.
fn ensure_packages() -> Result<()> {
    let all: Vec<&str> = PACKAGES.iter().map(|(pkg, _)| *pkg).collect();
    let missing = not_installed(&all);
    let add_arch = !has_arm64_architecture();
    let update = add_arch || !missing.is_empty() || !arm64_lists_known();
    if !update {
        return Ok(());
    }
    if !is_root() {
        let mut todo = Vec::new();
        let mut commands = Vec::new();
        if add_arch {
            todo.push("add the arm64 dpkg architecture".to_string());
            commands.push("dpkg --add-architecture arm64".to_string());
        }
        todo.push("update the package lists".into());
        commands.push("apt-get update".into());
        if !missing.is_empty() {
            todo.push(format!("install {}", missing.join(" ")));
            commands.push(format!(
                "apt-get install --no-install-recommends {}",
                missing.join(" ")
            ));
        }
        bail!(
            "the bench needs root once to {}: run `sudo cargo xtask env`, or yourself: `sudo sh -c '{}'`",
            todo.join(", "),
            commands.join(" && ")
        );
    }
    if add_arch {
        timed("adding the arm64 dpkg architecture", || {
            output(
                Command::new("dpkg").args(["--add-architecture", "arm64"]),
                "dpkg --add-architecture arm64",
            )
        })?;
    }
    timed("apt-get update", || {
        apt_get(
            &["update", "-q"],
            "apt-get update (check the network and the apt sources, then retry)",
        )
    })?;
    if missing.is_empty() {
        return Ok(());
    }
    for (pkg, why) in PACKAGES.iter().filter(|(p, _)| missing.contains(p)) {
        step(&format!("  {pkg}: {why}"));
    }
    let size = install_download_size(&missing)
        .map(|b| format!(", {} to download", megabytes(b)))
        .unwrap_or_default();
    timed(
        &format!("installing {} Debian packages{size}", missing.len()),
        || {
            let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
            args.extend(missing.iter().copied());
            apt_get(
                &args,
                &format!(
                    "apt-get install {} (run it yourself to see why, then retry)",
                    missing.join(" ")
                ),
            )
        },
    )?;
    let still = not_installed(&missing);
    if !still.is_empty() {
        bail!(
            "apt-get install finished but {} is still not installed: run `apt-get install {}` to see why",
            still.join(" "),
            still.join(" ")
        );
    }
    Ok(())
}

/// The kernel ABI the `linux-headers-arm64` meta-package points at now.
fn resolve_headers_package() -> Result<String> {
    let deps = output(
        Command::new("apt-cache").args(["depends", "linux-headers-arm64:arm64"]),
        "apt-cache depends linux-headers-arm64:arm64",
    )
    .unwrap_or_default();
    if let Some(pkg) = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .map(|p| p.trim().trim_end_matches(":arm64").to_string())
        .find(|p| p.starts_with("linux-headers-6.1.") && p.ends_with("-arm64"))
    {
        return Ok(pkg);
    }
    bail!("cannot resolve the arm64 kernel ABI from linux-headers-arm64:arm64; run `sudo apt-get update` and check that Debian bookworm (with security updates) is in the apt sources")
}

/// The version and download size of `spec` (`pkg[:arch][=version]`).
fn package_info(spec: &str) -> Result<(String, u64)> {
    let show = output(
        Command::new("apt-cache").args(["show", "--no-all-versions", spec]),
        &format!("apt-cache show {spec}"),
    )?;
    let field = |name: &str| {
        show.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let version = field("Version: ")
        .ok_or_else(|| Error(format!("apt-cache show {spec} printed no version")))?;
    let size = field("Size: ").and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((version, size))
}

fn download(debs: &Path, specs: &[String]) -> Result<()> {
    fs::create_dir_all(debs).map_err(|e| Error(format!("mkdir {}: {e}", debs.display())))?;
    let total: u64 = specs
        .iter()
        .filter_map(|s| package_info(s).ok())
        .map(|(_, size)| size)
        .sum();
    for s in specs {
        step(&format!("  {s}"));
    }
    timed(
        &format!("downloading {} packages, {}", specs.len(), megabytes(total)),
        || {
            let mut cmd = Command::new("apt-get");
            cmd.current_dir(debs).arg("download").args(specs);
            output(
                &mut cmd,
                "downloading the kernel packages (check the network, run `sudo apt-get update`, then retry)",
            )
        },
    )
    .map(|_| ())
}

/// Sets the bench up (idempotent) and returns where everything is.
pub fn ensure() -> Result<Bench> {
    ensure_packages()?;
    let headers = resolve_headers_package()?;
    let release = headers
        .strip_prefix("linux-headers-")
        .unwrap_or(&headers)
        .to_string();
    let (version, _) = package_info(&format!("{headers}:arm64"))?;
    let dir = cache_dir().join("bench").join(&version);
    let sysroot = dir.join("root");
    let stamp = dir.join("complete");
    let bench = Bench {
        version: version.clone(),
        release: release.clone(),
        sysroot: sysroot.clone(),
    };
    if stamp.exists() {
        return Ok(bench);
    }
    let common = release.trim_end_matches("-arm64").to_string() + "-common";
    let specs = vec![
        format!("linux-image-{release}-unsigned:arm64={version}"),
        format!("{headers}:arm64={version}"),
        format!("linux-headers-{common}={version}"),
        format!("linux-kbuild-6.1:amd64={version}"),
        "busybox-static:arm64".to_string(),
    ];
    let debs = dir.join("debs");
    let _ = fs::remove_dir_all(&debs);
    download(&debs, &specs)?;
    let _ = fs::remove_dir_all(&sysroot);
    fs::create_dir_all(&sysroot).map_err(|e| Error(format!("mkdir: {e}")))?;
    let mut entries: Vec<PathBuf> = fs::read_dir(&debs)
        .map_err(|e| Error(format!("{}: {e}", debs.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    entries.sort();
    timed(
        &format!(
            "extracting {} packages into {}",
            entries.len(),
            sysroot.display()
        ),
        || {
            for deb in &entries {
                let mut cmd = Command::new("dpkg");
                cmd.arg("-x").arg(deb).arg(&sysroot);
                output(&mut cmd, &format!("dpkg -x {}", deb.display()))?;
            }
            Ok(())
        },
    )?;
    // The headers' Makefile includes the -common tree by absolute path.
    let mk = bench.kdir().join("Makefile");
    let text = fs::read_to_string(&mk).map_err(|e| Error(format!("{}: {e}", mk.display())))?;
    let fixed = text.replace("/usr/src/", &format!("{}/usr/src/", sysroot.display()));
    fs::write(&mk, fixed).map_err(|e| Error(format!("{}: {e}", mk.display())))?;
    for needed in [bench.kernel_image(), bench.busybox(), bench.kdir()] {
        if !needed.exists() {
            bail!(
                "the kernel packages extracted without {}; delete {} and retry",
                needed.display(),
                dir.display()
            );
        }
    }
    let _ = fs::remove_dir_all(&debs);
    fs::write(&stamp, format!("{version} {release}\n"))
        .map_err(|e| Error(format!("{}: {e}", stamp.display())))?;
    Ok(bench)
}

/// Debian's linux-source-6.1 tree, same version as the headers, extracted
/// under the cache (for bfq, checkpatch.pl and in-tree builds).
pub fn kernel_source(bench: &Bench) -> Result<PathBuf> {
    let dir = cache_dir().join("source").join(&bench.version);
    let tree = dir.join("linux-source-6.1");
    let stamp = dir.join("complete");
    if stamp.exists() {
        return Ok(tree);
    }
    let debs = dir.join("debs");
    let _ = fs::remove_dir_all(&debs);
    download(&debs, &[format!("linux-source-6.1={}", bench.version)])?;
    let deb = fs::read_dir(&debs)
        .map_err(|e| Error(format!("{e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| Error("linux-source-6.1 did not download; retry".into()))?;
    let x = dir.join("x");
    let _ = fs::remove_dir_all(&x);
    let _ = fs::remove_dir_all(&tree);
    timed("extracting linux-source-6.1 (about a minute)", || {
        output(
            Command::new("dpkg").arg("-x").arg(&deb).arg(&x),
            "dpkg -x linux-source",
        )?;
        run(
            Command::new("tar")
                .arg("-C")
                .arg(&dir)
                .arg("-xf")
                .arg(x.join("usr/src/linux-source-6.1.tar.xz")),
            "extracting linux-source-6.1",
        )
    })?;
    let _ = fs::remove_dir_all(&x);
    let _ = fs::remove_dir_all(&debs);
    fs::write(&stamp, "ok\n").map_err(|e| Error(format!("{e}")))?;
    Ok(tree)
}

/// The `export` lines `cargo xtask env` prints.
pub fn exports(bench: &Bench) -> Vec<(String, String)> {
    let root = root();
    let bin = root.join("target/release");
    let path = std::env::var("PATH").unwrap_or_default();
    vec![
        ("ARCH".into(), "arm64".into()),
        ("CROSS_COMPILE".into(), "aarch64-linux-gnu-".into()),
        ("KDIR".into(), bench.kdir().display().to_string()),
        (
            "KERNEL_IMAGE".into(),
            bench.kernel_image().display().to_string(),
        ),
        (
            "KERNEL_MODULES".into(),
            bench.modules_dir().display().to_string(),
        ),
        ("PATH".into(), format!("{}:{path}", bin.display())),
        (
            "RERAND_KO".into(),
            root.join("runtime-kmod/rerand.ko").display().to_string(),
        ),
        (
            "RERAND_MK".into(),
            root.join("macros-c/rerand.mk").display().to_string(),
        ),
        ("RERAND_DIR".into(), root.display().to_string()),
    ]
}

/// Quotes a value for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
