//! `cargo xtask dkms`: a DKMS source tree for rerand.ko, and the test that
//! `dkms build` works against the bench's Debian arm64 headers.

use crate::bail;
use crate::env::Bench;
use crate::util::{cache_dir, have_command, output, root, step, Error, Result};
use std::fs;
use std::path::PathBuf;
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Copies runtime-kmod/ and the ABI header into one self-contained tree:
/// DKMS copies a source directory, so `../macros-c` would not come along.
pub fn source_tree() -> Result<PathBuf> {
    let conf = fs::read_to_string(root().join("runtime-kmod/dkms.conf"))
        .map_err(|e| Error(format!("runtime-kmod/dkms.conf: {e}")))?;
    if !conf.contains(&format!("PACKAGE_VERSION=\"{VERSION}\"")) {
        bail!("runtime-kmod/dkms.conf: PACKAGE_VERSION is not the workspace version {VERSION}");
    }
    let dir = cache_dir().join("dkms").join(format!("rerand-{VERSION}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("include")).map_err(|e| Error(format!("{e}")))?;
    for e in fs::read_dir(root().join("runtime-kmod")).map_err(|e| Error(format!("{e}")))? {
        let p = e.map_err(|e| Error(format!("{e}")))?.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if crate::kbuild::is_runtime_source(&name) || name == "dkms.conf" {
            fs::copy(&p, dir.join(&name)).map_err(|e| Error(format!("{name}: {e}")))?;
        }
    }
    fs::copy(
        root().join("macros-c/rerand_abi.h"),
        dir.join("include/rerand_abi.h"),
    )
    .map_err(|e| Error(format!("rerand_abi.h: {e}")))?;
    Ok(dir)
}

/// `dkms add` + `dkms build` in private trees under .cache (the system's
/// /var/lib/dkms is left alone), cross-compiling for the bench kernel.
pub fn check_build(bench: &Bench) -> Result<()> {
    // Installed by env::ensure() with the bench's other packages.
    if !have_command("dkms") {
        bail!("dkms is not installed; `cargo xtask env` installs it (as root)");
    }
    let src = source_tree()?;
    let trees = cache_dir().join("dkms-trees");
    let _ = fs::remove_dir_all(&trees);
    let (dkmstree, sourcetree) = (trees.join("dkms"), trees.join("src"));
    fs::create_dir_all(&dkmstree).map_err(|e| Error(format!("{e}")))?;
    fs::create_dir_all(&sourcetree).map_err(|e| Error(format!("{e}")))?;
    let dkms = |args: &[&str]| {
        let mut c = Command::new("dkms");
        c.args(args)
            .arg("--dkmstree")
            .arg(&dkmstree)
            .arg("--sourcetree")
            .arg(&sourcetree)
            .env("ARCH", "arm64")
            .env("CROSS_COMPILE", "aarch64-linux-gnu-");
        c
    };
    step("dkms add");
    output(dkms(&["add"]).arg(&src), "dkms add (see .cache/dkms-trees)")?;
    let module = format!("rerand/{VERSION}");
    step(&format!("dkms build {module} -k {}", bench.release));
    let kdir = bench.kdir();
    output(
        dkms(&["build", &module, "-k", &bench.release, "-a", "arm64"])
            .arg(format!("--kernelsourcedir={}", kdir.display())),
        "dkms build (its make.log is under .cache/dkms-trees/dkms)",
    )?;
    let ko = dkmstree
        .join("rerand")
        .join(VERSION)
        .join(&bench.release)
        .join("arm64/module/rerand.ko");
    if !ko.exists() {
        bail!(
            "dkms build reported success but {} is missing",
            ko.display()
        );
    }
    let info = output(
        Command::new("aarch64-linux-gnu-readelf")
            .args(["-p", ".modinfo"])
            .arg(&ko),
        "reading the dkms-built module's .modinfo",
    )?;
    let want = format!("vermagic={} ", bench.release);
    if !info.contains(&want) {
        bail!("the dkms-built rerand.ko has no `{want}` vermagic");
    }
    step(&format!(
        "dkms built {} for {}",
        ko.display(),
        bench.release
    ));
    Ok(())
}
