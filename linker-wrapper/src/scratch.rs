//! Where the rewritten objects (and rewritten response files) wait for the
//! real linker.
//!
//! By default in memory: each is a `memfd_create()` file, which the real
//! linker inherits across `exec` and opens as `/proc/self/fd/N`. Nothing is
//! written to the build directory, nothing is left behind when the build is
//! interrupted, and rerand-ld can become the linker (`exec`) instead of
//! waiting for it and removing files afterwards: about a millisecond of
//! bfq's `ld -r`, a sixth of what rerand-ld adds to it (bench/REPORT.md,
//! section 1). The price: ld's own messages name a rewritten input
//! `/proc/self/fd/N`.
//!
//! `RERAND_KEEP_TEMPS=1` writes them as files in a directory next to the
//! output instead, and keeps them, to look at. Without memfd or `/proc`
//! that directory is used too, and removed once the real linker is done.
use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

pub enum Scratch {
    Memory {
        used: AtomicBool,
    },
    Dir {
        parent: PathBuf,
        dir: OnceLock<Result<PathBuf, String>>,
        keep: bool,
    },
}

/// A file made by [`Scratch::create`]: write it, keep it open until the
/// real linker runs (a memfd lives only as long as a descriptor does).
pub struct ScratchFile {
    pub file: File,
    /// What the real linker opens.
    pub path: PathBuf,
}

static RESPONSES: AtomicU32 = AtomicU32::new(0);

impl Scratch {
    /// In memory unless `RERAND_KEEP_TEMPS` is set or this system has no
    /// memfd or no `/proc`; the directory is made next to `output`.
    pub fn new(output: Option<&str>) -> Scratch {
        let keep = std::env::var_os("RERAND_KEEP_TEMPS").is_some();
        if !keep && Path::new("/proc/self/fd").is_dir() {
            // Probe once: memfd_create() may be missing (old kernels,
            // seccomp filters), in which case the directory serves.
            if let Ok(f) = memfd("rerand-ld-probe", libc::MFD_CLOEXEC) {
                drop(f);
                return Scratch::Memory {
                    used: AtomicBool::new(false),
                };
            }
        }
        let parent = output
            .and_then(|o| Path::new(o).parent())
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Scratch::Dir {
            parent,
            dir: OnceLock::new(),
            keep,
        }
    }

    /// A new, empty file for `name` (unique among this run's names).
    pub fn create(&self, name: &str) -> Result<ScratchFile, String> {
        match self {
            Scratch::Memory { used } => {
                used.store(true, Ordering::Relaxed);
                // Not close-on-exec: the real linker inherits it.
                let file = memfd(name, 0)
                    .map_err(|e| format!("rerand-ld: cannot create an in-memory file: {e}"))?;
                let path = PathBuf::from(format!("/proc/self/fd/{}", fd_of(&file)));
                Ok(ScratchFile { file, path })
            }
            Scratch::Dir { parent, dir, .. } => {
                let dir = dir
                    .get_or_init(|| make_dir(parent))
                    .as_ref()
                    .map_err(Clone::clone)?;
                let path = dir.join(name);
                let file = File::create(&path)
                    .map_err(|e| format!("rerand-ld: cannot write {}: {e}", path.display()))?;
                Ok(ScratchFile { file, path })
            }
        }
    }

    /// A rewritten response file holding `text`; its path for `@path`.
    pub fn save_response(&self, text: &str, open: &mut Vec<File>) -> std::io::Result<PathBuf> {
        use std::io::Write;
        let n = RESPONSES.fetch_add(1, Ordering::Relaxed) + 1;
        let mut f = self
            .create(&format!("response-{n}.txt"))
            .map_err(std::io::Error::other)?;
        f.file.write_all(text.as_bytes())?;
        open.push(f.file);
        Ok(f.path)
    }

    /// Was any file made?
    pub fn used(&self) -> bool {
        match self {
            Scratch::Memory { used } => used.load(Ordering::Relaxed),
            Scratch::Dir { dir, .. } => dir.get().is_some_and(|d| d.is_ok()),
        }
    }

    /// Nothing to remove after the real linker: rerand-ld may become it.
    pub fn can_exec(&self) -> bool {
        matches!(
            self,
            Scratch::Memory { .. } | Scratch::Dir { keep: true, .. }
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Scratch::Dir {
            dir, keep: false, ..
        } = self
        {
            if let Some(Ok(d)) = dir.get() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

fn make_dir(parent: &Path) -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = parent.join(format!(".rerand-ld.{}.{nanos}", std::process::id()));
    std::fs::create_dir_all(&path)
        .map_err(|e| format!("rerand-ld: cannot create {}: {e}", path.display()))?;
    Ok(path)
}

fn memfd(name: &str, flags: libc::c_uint) -> std::io::Result<File> {
    // The name is only a label (/proc/PID/fd shows it); no NUL inside.
    let label: Vec<u8> = name
        .bytes()
        .filter(|&b| b != 0)
        .chain(std::iter::once(0))
        .collect();
    // SAFETY: `label` is NUL-terminated and outlives the call.
    let fd: RawFd = unsafe { libc::memfd_create(label.as_ptr().cast(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn fd_of(f: &File) -> RawFd {
    use std::os::fd::AsRawFd;
    f.as_raw_fd()
}
