//! `cargo xtask env`: the arm64 bench. Installs the host tools from Debian's
//! packages, downloads Debian's current arm64 6.1 kernel, its headers, the
//! matching kbuild and busybox, and keeps them under `.cache/bench/<version>`
//! so that a second run costs seconds.

use crate::bail;
use crate::util::{cache_dir, have_command, output, root, run, step, Error, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Host commands the bench needs, with the Debian package that provides each.
const HOST_TOOLS: &[(&str, &str)] = &[
    ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("aarch64-linux-gnu-ld", "binutils-aarch64-linux-gnu"),
    ("qemu-system-aarch64", "qemu-system-arm"),
    ("qemu-aarch64", "qemu-user"),
    ("cpio", "cpio"),
    ("xz", "xz-utils"),
    ("bc", "bc"),
    ("flex", "flex"),
    ("bison", "bison"),
    // `cargo xtask kernel`: the kernel's host programs (fixdep, kconfig,
    // kallsyms, sorttable) and the build itself. A tinyconfig arm64 build
    // needs neither libssl-dev (no module signing) nor libelf-dev (no
    // objtool or BTF).
    ("gcc", "gcc"),
    ("make", "make"),
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

fn apt_get(args: &[&str], what: &str) -> Result<()> {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
    output(&mut cmd, what).map(|_| ())
}

fn ensure_root_for(what: &str) -> Result<()> {
    let uid = output(Command::new("id").arg("-u"), "id -u")?;
    if uid.trim() != "0" {
        bail!(
            "{what} needs root (apt-get); run `sudo cargo xtask env` once, or install it yourself"
        );
    }
    Ok(())
}

/// Makes sure arm64 is a dpkg architecture and the package lists know it.
fn ensure_arm64_lists(updated: &mut bool) -> Result<()> {
    let archs = output(
        Command::new("dpkg").arg("--print-foreign-architectures"),
        "dpkg --print-foreign-architectures",
    )?;
    if !archs.lines().any(|a| a.trim() == "arm64") {
        ensure_root_for("adding the arm64 architecture")?;
        step("adding the arm64 dpkg architecture");
        output(
            Command::new("dpkg").args(["--add-architecture", "arm64"]),
            "dpkg --add-architecture arm64",
        )?;
        apt_update(updated)?;
    }
    Ok(())
}

fn apt_update(updated: &mut bool) -> Result<()> {
    if !*updated {
        ensure_root_for("updating the package lists")?;
        step("apt-get update");
        apt_get(
            &["update"],
            "apt-get update (check the network, then retry)",
        )?;
        *updated = true;
    }
    Ok(())
}

/// Installs Debian packages a test needs beyond the bench (e.g. dkms).
pub fn install_packages(pkgs: &[&str]) -> Result<()> {
    ensure_root_for(&format!("installing {}", pkgs.join(" ")))?;
    let mut updated = false;
    apt_update(&mut updated)?;
    step(&format!("installing {}", pkgs.join(" ")));
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(pkgs);
    apt_get(
        &args,
        &format!(
            "apt-get install {} (install it, then retry)",
            pkgs.join(" ")
        ),
    )
}

fn ensure_host_tools(updated: &mut bool) -> Result<()> {
    let missing: Vec<&str> = HOST_TOOLS
        .iter()
        .filter(|(cmd, _)| !have_command(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    ensure_root_for(&format!("installing {}", missing.join(" ")))?;
    apt_update(updated)?;
    step(&format!("installing {}", missing.join(" ")));
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    apt_get(
        &args,
        &format!(
            "apt-get install {} (install these packages, then retry)",
            missing.join(" ")
        ),
    )
}

/// The kernel ABI the `linux-headers-arm64` meta-package points at now.
fn resolve_headers_package(updated: &mut bool) -> Result<String> {
    for attempt in 0..2 {
        let deps = Command::new("apt-cache")
            .args(["depends", "linux-headers-arm64:arm64"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if let Some(pkg) = deps
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .map(|p| p.trim().trim_end_matches(":arm64").to_string())
            .find(|p| p.starts_with("linux-headers-6.1.") && p.ends_with("-arm64"))
        {
            return Ok(pkg);
        }
        if attempt == 0 {
            apt_update(updated)?;
        }
    }
    bail!("cannot resolve the arm64 kernel ABI from linux-headers-arm64:arm64; run `apt-get update` and check that Debian bookworm (with security updates) is in the apt sources")
}

fn package_version(pkg: &str) -> Result<String> {
    let show = output(
        Command::new("apt-cache").args(["show", "--no-all-versions", pkg]),
        &format!("apt-cache show {pkg}"),
    )?;
    show.lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| Error(format!("apt-cache show {pkg} printed no version")))
}

fn download(debs: &Path, specs: &[String]) -> Result<()> {
    fs::create_dir_all(debs).map_err(|e| Error(format!("mkdir {}: {e}", debs.display())))?;
    step(&format!("downloading {}", specs.join(" ")));
    let mut cmd = Command::new("apt-get");
    cmd.current_dir(debs).arg("download").args(specs);
    output(
        &mut cmd,
        "downloading the kernel packages (check the network and `apt-get update`, then retry)",
    )
    .map(|_| ())
}

/// Sets the bench up (idempotent) and returns where everything is.
pub fn ensure() -> Result<Bench> {
    let mut updated = false;
    ensure_host_tools(&mut updated)?;
    ensure_arm64_lists(&mut updated)?;
    let headers = resolve_headers_package(&mut updated)?;
    let release = headers
        .strip_prefix("linux-headers-")
        .unwrap_or(&headers)
        .to_string();
    let version = package_version(&format!("{headers}:arm64"))?;
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
    for deb in &entries {
        step(&format!(
            "extracting {}",
            deb.file_name().unwrap().to_string_lossy()
        ));
        let mut cmd = Command::new("dpkg");
        cmd.arg("-x").arg(deb).arg(&sysroot);
        output(&mut cmd, &format!("dpkg -x {}", deb.display()))?;
    }
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
    output(
        Command::new("dpkg").arg("-x").arg(&deb).arg(&x),
        "dpkg -x linux-source",
    )?;
    let tarball = x.join("usr/src/linux-source-6.1.tar.xz");
    step("extracting linux-source-6.1 (about a minute)");
    let _ = fs::remove_dir_all(&tree);
    run(
        Command::new("tar")
            .arg("-C")
            .arg(&dir)
            .arg("-xf")
            .arg(&tarball),
        "extracting linux-source-6.1",
    )?;
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
