//! GNU ld as the oracle for [`build_copy`]: link the same object with every
//! section at chosen addresses, and require each moving body's linked bytes
//! to equal the copy `build_copy` makes for that address.
//!
//! Shared by `tests/oracle_ld.rs` (a C fixture, every relocation of each
//! function) and `rerand verify` ([`verify_module`]: a rerand module, the
//! table's records over the pristine body the loader would leave).
//!
//! Where a branch is out of range ld inserts its own stub, which differs
//! from our veneers by design: those words are not compared with ld;
//! instead the copy's branch must reach a veneer of the copy that holds the
//! target.

use crate::abi::RelocRecord;
use crate::module::{align_up, Layout, Module, KIMAGE_VADDR, MODULES_VADDR};
use crate::placement::{self, build_copy, copy_max_size, place_bodies, SplitMix64};
use crate::reloc::{self, ErrorKind};
use object::{Object, ObjectSection};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const LD: &str = "aarch64-linux-gnu-ld";
pub const OBJCOPY: &str = "aarch64-linux-gnu-objcopy";
/// Room after each executable section for ld's own long-branch stubs.
pub const STUB_ROOM: u64 = 0x1000;
/// A BL reaches ±128 MiB: in a 256 MiB window a quarter of the calls
/// between bodies need a veneer.
pub const WINDOW_LO: u64 = 0xffff_8000_1000_0000;
pub const WINDOW_HI: u64 = WINDOW_LO + (256 << 20);

/// A linker script placing each section at its address (in address order),
/// defining `symbols`, and discarding the input sections in `discard`.
pub fn linker_script(
    placed: &BTreeMap<String, u64>,
    symbols: &BTreeMap<String, u64>,
    discard: &[&str],
) -> String {
    let mut by_addr: Vec<(&u64, &String)> = placed.iter().map(|(n, a)| (a, n)).collect();
    by_addr.sort();
    let mut script = String::new();
    for (name, v) in symbols {
        writeln!(script, "{name} = {v:#x};").unwrap();
    }
    script += "SECTIONS\n{\n";
    for (a, name) in by_addr {
        writeln!(script, "  {name} {a:#x} : {{ *({name}) }}").unwrap();
    }
    script += "  /DISCARD/ : {";
    for d in discard {
        write!(script, " *({d})").unwrap();
    }
    script += " }\n}\n";
    script
}

/// Links `obj` with [`LD`] by [`linker_script`] into `dir/<tag>.elf` and
/// returns the linked file's bytes.
pub fn link(
    dir: &Path,
    tag: &str,
    obj: &Path,
    placed: &BTreeMap<String, u64>,
    symbols: &BTreeMap<String, u64>,
    discard: &[&str],
    entry: &str,
) -> Result<Vec<u8>, String> {
    let script = linker_script(placed, symbols, discard);
    let lds = dir.join(format!("{tag}.lds"));
    let out = dir.join(format!("{tag}.elf"));
    std::fs::write(&lds, &script).map_err(|e| format!("{}: {e}", lds.display()))?;
    let r = Command::new(LD)
        .arg("-T")
        .arg(&lds)
        .args([
            "-e",
            entry,
            "-z",
            "max-page-size=4096",
            "--no-warn-rwx-segments",
        ])
        .arg(obj)
        .arg("-o")
        .arg(&out)
        .output()
        .map_err(|e| format!("cannot run {LD}: {e} (Debian: binutils-aarch64-linux-gnu)"))?;
    if !r.status.success() {
        return Err(format!(
            "{LD} failed ({}) with script {}:\n{}",
            r.status,
            lds.display(),
            String::from_utf8_lossy(&r.stderr)
        ));
    }
    std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
}

/// What was compared.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Relocations compared with ld's bytes, by type.
    pub compared: BTreeMap<u32, usize>,
    /// Out-of-range branches checked against the copy's own veneers.
    pub veneered: usize,
    /// Bodies compared (one per function per placement).
    pub bodies: usize,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        for (t, n) in &o.compared {
            *self.compared.entry(*t).or_default() += n;
        }
        self.veneered += o.veneered;
        self.bodies += o.bodies;
    }
}

/// One disagreement between the copy and ld.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub function: String,
    /// Where the body was placed.
    pub at: u64,
    /// Offset in the body of the first differing word.
    pub offset: usize,
    /// The relocations covering that word: "TYPE -> target".
    pub relocs: Vec<String>,
    pub ours: Option<u32>,
    pub ld: Option<u32>,
    /// Set when the difference is not a word mismatch (e.g. a failed build).
    pub note: Option<String>,
}

fn word(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = |v: Option<u32>| v.map_or("(short)".into(), |v| format!("{v:#010x}"));
        write!(
            f,
            "{} at {:#x}, offset {:#x} [{}]",
            self.function,
            self.at,
            self.offset,
            self.relocs.join(", ")
        )?;
        match &self.note {
            Some(n) => write!(f, ": {n}"),
            None => write!(f, ": rerand {} ld {}", w(self.ours), w(self.ld)),
        }
    }
}

/// Compares the copy of `pristine` built for `at` with ld's `linked` bytes
/// of the same body; returns the differences (at most one word mismatch:
/// the first, since later ones usually share its cause).
pub fn check_copy(
    function: &str,
    at: u64,
    pristine: &[u8],
    relocs: &[RelocRecord],
    linked: &[u8],
    tally: &mut Tally,
) -> Vec<Difference> {
    tally.bodies += 1;
    let diff = |offset: usize, relocs: Vec<String>, note: Option<String>| Difference {
        function: function.to_string(),
        at,
        offset,
        relocs,
        ours: None,
        ld: None,
        note,
    };
    let copy = match build_copy(at, pristine, relocs, copy_max_size(pristine.len(), relocs)) {
        Ok(c) => c,
        Err(e) => {
            let r = relocs.get(e.index);
            return vec![diff(
                r.map_or(0, |r| r.offset as usize),
                r.map(|r| vec![reloc::type_name(r.r#type)])
                    .unwrap_or_default(),
                Some(format!("build_copy failed: {e}")),
            )];
        }
    };
    let mut errors = Vec::new();
    let mut skip = BTreeSet::new();
    for r in relocs {
        let place = at.wrapping_add(r.offset as u64);
        let o = r.offset as usize;
        let mut scratch = pristine.get(o..).unwrap_or(&[]).to_vec();
        let far = reloc::apply(&mut scratch, place, r.target, r.r#type)
            .is_err_and(|e| e.kind == ErrorKind::OutOfRange);
        if !far {
            *tally.compared.entry(r.r#type).or_default() += 1;
            continue;
        }
        // ld used its own stub here; ours must reach a veneer to the target.
        skip.insert(o);
        tally.veneered += 1;
        let name = reloc::type_name(r.r#type);
        let reaches = reloc::decode(r.r#type, copy.get(o..).unwrap_or(&[]), place)
            .ok()
            .map(|via| via.wrapping_sub(at) as usize)
            .and_then(|v| copy.get(v..v.checked_add(16)?))
            == Some(&placement::veneer(r.target)[..]);
        if !reaches {
            errors.push(diff(
                o,
                vec![format!("{name} -> {:#x}", r.target)],
                Some("out-of-range branch does not go to a veneer for its target".into()),
            ));
        }
    }
    for (i, (a, b)) in copy.iter().zip(linked).enumerate().take(pristine.len()) {
        if a == b || skip.contains(&(i & !3)) {
            continue;
        }
        let culprits = relocs
            .iter()
            .filter(|r| {
                let n = reloc::lookup(r.r#type).map_or(4, |t| t.field_size());
                (r.offset as usize..r.offset as usize + n).contains(&i)
            })
            .map(|r| format!("{} -> {:#x}", reloc::type_name(r.r#type), r.target))
            .collect();
        let w = i & !3;
        errors.push(Difference {
            ours: word(&copy, w),
            ld: word(linked, w),
            ..diff(w, culprits, None)
        });
        break;
    }
    if linked.len() < pristine.len() {
        errors.push(diff(
            linked.len(),
            Vec::new(),
            Some(format!(
                "ld's section holds {} bytes, the body {}",
                linked.len(),
                pristine.len()
            )),
        ));
    }
    errors
}

/// How [`verify_module`] runs.
#[derive(Clone, Debug)]
pub struct VerifyConfig {
    pub seeds: u64,
    pub first_seed: u64,
    /// Where bodies and the module are placed (addresses for ld).
    pub window: (u64, u64),
    /// Scratch directory for linker scripts and linked files.
    pub workdir: PathBuf,
    /// Parallel links.
    pub jobs: usize,
}

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub seeds: u64,
    pub tally: Tally,
    /// (seed, difference).
    pub differences: Vec<(u64, Difference)>,
}

fn below(g: &mut SplitMix64, n: u64) -> u64 {
    g.next() % n.max(1)
}

fn overlaps(a: (u64, u64), taken: &[(u64, u64)]) -> bool {
    taken.iter().any(|&(s, e)| a.0 < e && s < a.1)
}

/// One placement: `linked` gives every allocated section the address ld
/// uses (moving bodies at random, each in its own spot; the rest of the
/// module in one block at a random page, as the loader packs it); kernel
/// symbols sit above the window, some beyond a branch's reach. `pristine`
/// is the same but with each body section where the loader would have
/// put it: the bytes copies are built from.
pub fn verify_layout(
    m: &Module,
    seed: u64,
    window: (u64, u64),
) -> Result<(Layout, Layout), String> {
    let (lo, hi) = window;
    let mut g = SplitMix64::new(seed ^ 0x6f72_6163_6c65);
    let bodies = m.body_sections();
    let is_body = |i: usize| bodies.binary_search(&i).is_ok();
    let mut l = Layout::default();
    // The rest, in loader order, with stub room after executable sections,
    // as one block at a random page.
    let rest = m.loader_layout(0, 0);
    let mut order: Vec<(u64, usize)> = rest
        .sections
        .iter()
        .filter(|(&i, _)| !is_body(i))
        .map(|(&i, &a)| (a, i))
        .collect();
    order.sort();
    let mut rest_size = 0;
    let mut shifted = Vec::new();
    for (_, i) in order {
        let s = &m.sections[i];
        rest_size = align_up(rest_size, s.align);
        shifted.push((i, rest_size));
        rest_size += s.size + if s.exec() { STUB_ROOM } else { 0 };
    }
    if rest_size >= hi - lo {
        return Err(format!(
            "the module's {rest_size} bytes do not fit the window"
        ));
    }
    let rest_base = lo + below(&mut g, (hi - lo - rest_size) / 4096) * 4096;
    let mut taken = vec![(rest_base, rest_base + rest_size)];
    for (i, a) in shifted {
        l.sections.insert(i, rest_base + a);
    }
    let want: Vec<(u64, u64)> = bodies
        .iter()
        .map(|&i| {
            let s = &m.sections[i];
            (s.size + STUB_ROOM, s.align.max(16))
        })
        .collect();
    let first = place_bodies(&want, lo, hi, seed).map_err(|e| e.to_string())?;
    for (k, (&i, &a)) in bodies.iter().zip(&first).enumerate() {
        let size = want[k].0;
        let mut at = a;
        let mut attempt = 0u64;
        while overlaps((at, at + size), &taken) {
            attempt += 1;
            if attempt > 10_000 {
                return Err("cannot place the bodies without overlap: window too small".into());
            }
            let again = seed ^ ((k as u64) << 32) ^ (attempt << 48);
            at = place_bodies(&want[k..k + 1], lo, hi, again).map_err(|e| e.to_string())?[0];
        }
        taken.push((at, at + size));
        l.sections.insert(i, at);
    }
    for name in &m.undefined {
        let far = below(&mut g, 100) < 25;
        let a = if far {
            // Past a branch's reach, within PREL32's and ADRP's.
            hi + (256 << 20) + below(&mut g, 1 << 30)
        } else {
            hi + below(&mut g, 64 << 20)
        };
        l.symbols.insert(name.clone(), a & !63);
    }
    let loader = m.loader_layout(MODULES_VADDR + (16 << 20), KIMAGE_VADDR);
    let mut p = l.clone();
    for &i in &bodies {
        if let Some(&a) = loader.sections.get(&i) {
            p.sections.insert(i, a);
        }
    }
    Ok((l, p))
}

/// Input sections ld may drop: nothing moving refers to them and they make
/// the link slower.
pub const MODULE_DISCARD: &[&str] = &[
    ".debug_*",
    ".comment",
    ".note.GNU-stack",
    ".eh_frame",
    ".note.rerand.excluded",
];

fn verify_seed(
    m: &Module,
    ko: &Path,
    seed: u64,
    cfg: &VerifyConfig,
) -> Result<(Tally, Vec<Difference>), String> {
    let (l, p) = verify_layout(m, seed, cfg.window)?;
    let mut placed = BTreeMap::new();
    for (&i, &a) in &l.sections {
        let name = &m.sections[i].name;
        if placed.insert(name.clone(), a).is_some() {
            return Err(format!(
                "two allocated sections are named {name}: a linker script cannot place them apart"
            ));
        }
    }
    let tag = format!("verify-{seed}");
    let elf = link(
        &cfg.workdir,
        &tag,
        ko,
        &placed,
        &l.symbols,
        MODULE_DISCARD,
        "0",
    )?;
    let _ = std::fs::remove_file(cfg.workdir.join(format!("{tag}.elf")));
    let _ = std::fs::remove_file(cfg.workdir.join(format!("{tag}.lds")));
    let linked = object::File::parse(&*elf).map_err(|e| format!("ld's output: {e}"))?;
    let mut tally = Tally::default();
    let mut diffs = Vec::new();
    for f in &m.functions {
        let sec = &m.sections[f.section];
        let a = l.sections[&f.section];
        let out = linked
            .section_by_name(&sec.name)
            .ok_or_else(|| format!("ld's output has no {}", sec.name))?;
        if out.address() != a {
            return Err(format!(
                "ld put {} at {:#x}, not {a:#x}",
                sec.name,
                out.address()
            ));
        }
        let data = out.data().map_err(|e| e.to_string())?;
        let o = f.offset as usize;
        let linked_body = data.get(o..o + f.size as usize).unwrap_or(&[]);
        let pristine = m.loaded_body(f, &p);
        let records = m.records(f, &p)?;
        diffs.extend(check_copy(
            &f.name,
            a + f.offset,
            &pristine,
            &records,
            linked_body,
            &mut tally,
        ));
    }
    Ok((tally, diffs))
}

/// One seed's outcome: (seed, what was compared, differences).
type SeedResult = (u64, Tally, Vec<Difference>);

/// `elf` with SHF_MERGE and SHF_STRINGS cleared on every section. ld
/// deduplicates mergeable strings in a final link, which moves them away
/// from section + addend; the module loader never does, so neither may the
/// oracle's link.
pub fn without_merge_flags(elf: &[u8]) -> Result<Vec<u8>, String> {
    const SHF_MERGE_STRINGS: u64 = 0x10 | 0x20;
    let get = |at: usize, n: usize| -> Result<u64, String> {
        let b = elf
            .get(at..at + n)
            .ok_or("truncated ELF header or section table")?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    };
    let shoff = get(0x28, 8)? as usize;
    let shentsize = get(0x3a, 2)? as usize;
    let shnum = get(0x3c, 2)? as usize;
    let mut out = elf.to_vec();
    for k in 0..shnum {
        let at = shoff
            .checked_add(k * shentsize + 8)
            .ok_or("section table offset overflows")?;
        let flags = get(at, 8)? & !SHF_MERGE_STRINGS;
        out[at..at + 8].copy_from_slice(&flags.to_le_bytes());
    }
    Ok(out)
}

/// Links `ko` (whose parsed form is `m`) at `cfg.seeds` random placements
/// and compares every moving body with its copy. Errors are failures to
/// run the comparison (ld missing, layout impossible), not differences.
pub fn verify_module(m: &Module, ko: &Path, cfg: &VerifyConfig) -> Result<VerifyReport, String> {
    std::fs::create_dir_all(&cfg.workdir).map_err(|e| format!("{}: {e}", cfg.workdir.display()))?;
    let bytes = std::fs::read(ko).map_err(|e| format!("{}: {e}", ko.display()))?;
    let unmerged = cfg.workdir.join("module-unmerged.o");
    std::fs::write(&unmerged, without_merge_flags(&bytes)?)
        .map_err(|e| format!("{}: {e}", unmerged.display()))?;
    // Debug info is most of a module's bytes and relocations and nothing
    // compared depends on it: without it each link is several times faster.
    let stripped = cfg.workdir.join("module-stripped.o");
    let ko = match Command::new(OBJCOPY)
        .arg("--strip-debug")
        .arg(&unmerged)
        .arg(&stripped)
        .status()
    {
        Ok(s) if s.success() => stripped.as_path(),
        _ => unmerged.as_path(),
    };
    let jobs = cfg.jobs.max(1) as u64;
    let results: Vec<Result<Vec<SeedResult>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs)
            .map(|j| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    let mut k = j;
                    while k < cfg.seeds {
                        let seed = cfg.first_seed.wrapping_add(k);
                        let (t, d) = verify_seed(m, ko, seed, cfg)?;
                        out.push((seed, t, d));
                        k += jobs;
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a verify thread panicked".into()))
            })
            .collect()
    });
    let mut report = VerifyReport {
        seeds: cfg.seeds,
        ..Default::default()
    };
    let mut per_seed = Vec::new();
    for r in results {
        per_seed.extend(r?);
    }
    per_seed.sort_by_key(|x| x.0);
    for (seed, t, d) in per_seed {
        report.tally.add(&t);
        report.differences.extend(d.into_iter().map(|d| (seed, d)));
    }
    Ok(report)
}
