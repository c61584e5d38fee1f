//! `cargo xtask vm`: boot the Debian arm64 kernel under qemu-system-aarch64
//! with a busybox initramfs, load modules, run a script, and judge the log.

use crate::bail;
use crate::env::Bench;
use crate::util::{cache_dir, output, step, Error, Result};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The line the guest's init prints last, with the script's exit code.
const EXIT_MARKER: &str = "RERAND-VM-EXIT";

/// Console lines that make a run fail whatever the script returned.
pub const FAILURE_PATTERNS: &[&str] = &[
    "Internal error:",
    "Unable to handle kernel",
    "Kernel panic",
    "Oops",
    "BUG:",
    "WARNING:",
    "blocked for more than",
    "detected stalls",
    "soft lockup",
    "hard LOCKUP",
];

#[derive(Clone, Debug)]
pub struct VmOptions {
    pub cpu: String,
    pub smp: u32,
    pub memory_mib: u32,
    pub icount: bool,
    pub modules: Vec<PathBuf>,
    pub files: Vec<(PathBuf, String)>,
    pub script: Option<PathBuf>,
    pub timeout: Duration,
    /// Name used for the log file.
    pub name: String,
    /// Stream the console to stdout as it runs.
    pub echo: bool,
    /// Extra arguments for qemu-system-aarch64, appended last.
    pub qemu_args: Vec<String>,
    /// Boot this kernel image instead of the bench's Debian kernel (e.g. the
    /// in-tree build of `cargo xtask kernel`).
    pub kernel: Option<PathBuf>,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            cpu: "max".into(),
            smp: 2,
            memory_mib: 1024,
            icount: false,
            modules: vec![],
            files: vec![],
            script: None,
            timeout: Duration::from_secs(300),
            name: "vm".into(),
            echo: true,
            qemu_args: vec![],
            kernel: None,
        }
    }
}

#[derive(Debug)]
pub struct VmOutcome {
    /// The script's exit code, if the guest got as far as reporting it.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// Console lines that match FAILURE_PATTERNS (with some context).
    pub failures: Vec<String>,
    pub log: Vec<String>,
    pub log_path: PathBuf,
    pub elapsed: Duration,
}

impl VmOutcome {
    /// What the guest script printed after its last `SUMMARY:`, if any.
    pub fn summary(&self) -> String {
        self.log
            .iter()
            .rev()
            .find_map(|l| l.split_once("SUMMARY:").map(|(_, r)| r.trim().to_string()))
            .unwrap_or_default()
    }

    pub fn passed(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && self.failures.is_empty()
    }
    /// One sentence on why the run failed, and the offending lines.
    pub fn verdict(&self) -> String {
        if self.passed() {
            return "passed".into();
        }
        let mut why = Vec::new();
        if self.timed_out {
            why.push("timed out".to_string());
        }
        if !self.failures.is_empty() {
            why.push(format!(
                "kernel reported a failure:\n    {}",
                self.failures.join("\n    ")
            ));
        }
        match self.exit_code {
            Some(0) => {}
            Some(c) => why.push(format!("script exited {c}")),
            None if !self.timed_out => why.push("guest stopped before the script finished".into()),
            None => {}
        }
        why.join("; ")
    }
}

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
echo "rerand-vm: $(uname -r) on $(nproc) CPUs, cmdline: $(cat /proc/cmdline)"
rc=0
for m in $(cat /rerand/modules.list); do
	echo "rerand-vm: insmod $m"
	if ! insmod "/rerand/modules/$m"; then
		echo "rerand-vm: insmod $m failed"
		rc=1
		break
	fi
done
if [ "$rc" = 0 ] && [ -f /rerand/run.sh ]; then
	cd /tmp
	sh /rerand/run.sh
	rc=$?
fi
echo "RERAND-VM-EXIT $rc"
poweroff -f
"#;

fn copy_in(src: &Path, dst: &Path) -> Result<()> {
    if let Some(dir) = dst.parent() {
        fs::create_dir_all(dir).map_err(|e| Error(format!("mkdir {}: {e}", dir.display())))?;
    }
    // Stock modules come xz-compressed; insmod gets them plain.
    if src.extension().is_some_and(|x| x == "xz") {
        let out = Command::new("xz")
            .arg("-dc")
            .arg(src)
            .output()
            .map_err(|e| Error(format!("xz: {e}")))?;
        if !out.status.success() {
            bail!("cannot decompress {}", src.display());
        }
        return fs::write(dst, out.stdout).map_err(|e| Error(format!("{}: {e}", dst.display())));
    }
    fs::copy(src, dst)
        .map(|_| ())
        .map_err(|e| Error(format!("cannot copy {} into the guest: {e}", src.display())))
}

fn build_initramfs(bench: &Bench, opts: &VmOptions, work: &Path) -> Result<PathBuf> {
    let tree = work.join("initramfs");
    let _ = fs::remove_dir_all(&tree);
    for d in [
        "bin",
        "sbin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "etc",
        "rerand/modules",
    ] {
        fs::create_dir_all(tree.join(d)).map_err(|e| Error(format!("mkdir: {e}")))?;
    }
    copy_in(&bench.busybox(), &tree.join("bin/busybox"))?;
    let init = tree.join("init");
    fs::write(&init, INIT).map_err(|e| Error(format!("{e}")))?;
    let mut list = String::new();
    for m in &opts.modules {
        if !m.exists() {
            bail!("module {} does not exist (build it first)", m.display());
        }
        let name = m
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".xz")
            .to_string();
        copy_in(m, &tree.join("rerand/modules").join(&name))?;
        list.push_str(&name);
        list.push('\n');
    }
    fs::write(tree.join("rerand/modules.list"), list).map_err(|e| Error(format!("{e}")))?;
    if let Some(script) = &opts.script {
        copy_in(script, &tree.join("rerand/run.sh"))?;
    }
    for (host, guest) in &opts.files {
        let rel = guest.trim_start_matches('/');
        if rel.is_empty() {
            bail!("--file {}:{guest}: the guest path is empty", host.display());
        }
        copy_in(host, &tree.join(rel))?;
    }
    output(
        Command::new("chmod").args(["-R", "a+rX"]).arg(&tree),
        "chmod initramfs",
    )?;
    output(Command::new("chmod").arg("755").arg(&init), "chmod init")?;
    let image = work.join("initrd.gz");
    let script = format!(
        "cd '{}' && find . | cpio -o -H newc --quiet | gzip -1 > '{}'",
        tree.display(),
        image.display()
    );
    output(
        Command::new("sh").arg("-c").arg(script),
        "packing the initramfs",
    )?;
    Ok(image)
}

/// Is this console line a sign of a kernel failure?
pub fn is_failure_line(line: &str) -> bool {
    FAILURE_PATTERNS.iter().any(|p| line.contains(p))
}

/// QEMU's `-cpu` value for a CPU model name. `max` signs pointers with
/// QEMU's IMPLEMENTATION DEFINED algorithm rather than QARMA5, which TCG
/// emulates slowly and the kernel signs with on every call: the guest sees
/// the same PAuth (HWCAP `paca`, keys, faults), and the stress scenario's
/// callers run faster. Instruction counts under `-icount` are the same.
fn qemu_cpu(cpu: &str) -> String {
    match cpu {
        "max" => "max,pauth-impdef=on".to_string(),
        other => other.to_string(),
    }
}

pub fn run(bench: &Bench, opts: &VmOptions) -> Result<VmOutcome> {
    let logs = cache_dir().join("logs");
    let work = cache_dir().join("vm").join(&opts.name);
    fs::create_dir_all(&logs).map_err(|e| Error(format!("{e}")))?;
    fs::create_dir_all(&work).map_err(|e| Error(format!("{e}")))?;
    let initrd = build_initramfs(bench, opts, &work)?;
    let log_path = logs.join(format!("{}.log", opts.name));
    let mut log_file =
        fs::File::create(&log_path).map_err(|e| Error(format!("{}: {e}", log_path.display())))?;

    let kernel = opts.kernel.clone().unwrap_or_else(|| bench.kernel_image());
    let mut cmd = Command::new("qemu-system-aarch64");
    cmd.args(["-M", "virt", "-cpu", &qemu_cpu(&opts.cpu)])
        .args(["-smp", &opts.smp.to_string()])
        .args(["-m", &opts.memory_mib.to_string()])
        .args(["-nographic", "-no-reboot"])
        // No network: the guest needs none, and the default NIC would need
        // a ROM file (efi-virtio.rom) that only a recommended package has.
        .args(["-nic", "none"])
        .arg("-kernel")
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args([
            "-append",
            "console=ttyAMA0 panic=-1 oops=panic loglevel=7 rdinit=/init",
        ]);
    if opts.icount {
        cmd.args(["-icount", "shift=0"]);
    }
    cmd.args(&opts.qemu_args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let booted = match &opts.kernel {
        Some(k) => k.display().to_string(),
        None => bench.release.clone(),
    };
    step(&format!(
        "booting {} (cpu {}, {} CPUs, {} MiB{}), log: {}",
        booted,
        opts.cpu,
        opts.smp,
        opts.memory_mib,
        if opts.icount { ", icount" } else { "" },
        log_path.display()
    ));
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        Error(format!(
            "cannot start qemu-system-aarch64: {e} (run `cargo xtask env`)"
        ))
    })?;
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n').map_while(|l| l.ok()) {
            let s = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_string();
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if tx2.send(format!("qemu: {line}")).is_err() {
                break;
            }
        }
    });

    let mut outcome = VmOutcome {
        exit_code: None,
        timed_out: false,
        failures: vec![],
        log: vec![],
        log_path: log_path.clone(),
        elapsed: Duration::ZERO,
    };
    let deadline = start + opts.timeout;
    // Keep the lines that follow a failure line: they name the culprit.
    let mut context_left = 0usize;
    loop {
        let now = Instant::now();
        if now >= deadline {
            outcome.timed_out = true;
            let _ = child.kill();
            break;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(line) => {
                let _ = writeln!(log_file, "{line}");
                if opts.echo {
                    println!("{line}");
                }
                if is_failure_line(&line) {
                    outcome.failures.push(line.clone());
                    context_left = 12;
                } else if context_left > 0 && outcome.failures.len() < 60 {
                    outcome.failures.push(line.clone());
                    context_left -= 1;
                }
                if let Some(rest) = line.strip_prefix(EXIT_MARKER) {
                    outcome.exit_code = rest.trim().parse().ok();
                }
                outcome.log.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                outcome.timed_out = true;
                let _ = child.kill();
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.wait();
    outcome.elapsed = start.elapsed();
    if outcome.timed_out {
        let _ = writeln!(log_file, "xtask: timed out after {:?}", opts.timeout);
    }
    Ok(outcome)
}
