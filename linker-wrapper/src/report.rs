//! The `--report FILE.json` contents and the verbose summary.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FuncEntry {
    pub name: String,
    pub section: String,
    pub size: u64,
    /// "randomized" or "excluded".
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Place-dependent relocation records (and OP_NOP records).
    #[serde(default)]
    pub relocs: u32,
    #[serde(default)]
    pub ftrace_slots: u32,
    /// E.g. what was assumed without DWARF.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct ObjectReport {
    pub file: String,
    /// "rewritten" or "passed-through".
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    pub functions: Vec<FuncEntry>,
}

impl ObjectReport {
    pub fn randomized(&self) -> usize {
        self.functions
            .iter()
            .filter(|f| f.status == "randomized")
            .count()
    }
    /// Short summary line for RERAND_VERBOSE.
    pub fn summary(&self) -> String {
        let n = self.functions.len();
        let r = self.randomized();
        let mut s = format!(
            "{}: {}: {} function(s), {} randomized, {} excluded",
            self.file,
            self.status,
            n,
            r,
            n - r
        );
        if let Some(note) = &self.note {
            s += &format!(" ({note})");
        }
        s
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Report {
    pub objects: Vec<ObjectReport>,
    /// "randomized" and every exclusion reason -> number of functions.
    pub totals: BTreeMap<String, usize>,
}

/// Reasons are grouped by their stable prefix (up to the first " (" or ":"
/// detail) so totals stay readable.
pub fn reason_key(reason: &str) -> String {
    let cut = reason
        .find(" at 0x")
        .or_else(|| reason.find(": "))
        .unwrap_or(reason.len());
    reason[..cut].to_string()
}

impl Report {
    pub fn add(&mut self, o: ObjectReport) {
        self.objects.retain(|x| x.file != o.file);
        self.objects.push(o);
        self.recount();
    }
    pub fn recount(&mut self) {
        let mut t = BTreeMap::new();
        for o in &self.objects {
            for f in &o.functions {
                let k = match &f.reason {
                    None => "randomized".to_string(),
                    Some(r) => format!("excluded: {}", reason_key(r)),
                };
                *t.entry(k).or_insert(0) += 1;
            }
        }
        self.totals = t;
    }

    /// Merge into `path` (created if missing): write a temporary file next
    /// to it, then rename, so a reader never sees half a report.
    pub fn merge_into(&self, path: &str) -> std::io::Result<()> {
        // Parallel links (make -j) merge into one report: one at a time,
        // under a lock on a file beside it (the report itself is replaced
        // by a rename, so its inode cannot carry the lock).
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(format!("{path}.lock"))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock() on a descriptor this function owns; the lock goes
        // with the descriptor when `lock` is dropped.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut all: Report = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        for o in &self.objects {
            all.add(o.clone());
        }
        all.recount();
        let tmp = format!("{path}.tmp.{}", std::process::id());
        let text = serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `make -j` links write one report at once: none loses another's entry.
    #[test]
    fn parallel_merges_keep_every_object() {
        let dir = std::env::temp_dir().join(format!("rerand-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json").display().to_string();
        std::thread::scope(|s| {
            for k in 0..16 {
                let path = &path;
                s.spawn(move || {
                    let mut r = Report::default();
                    r.add(ObjectReport {
                        file: format!("obj{k}.o"),
                        status: "rewritten".into(),
                        ..Default::default()
                    });
                    r.merge_into(path).unwrap();
                });
            }
        });
        let all: Report = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(all.objects.len(), 16);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
