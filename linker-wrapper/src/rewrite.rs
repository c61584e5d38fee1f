//! One aarch64 ELF64 relocatable object in, one rewritten object out.
//!
//! Pipeline (each step a function below, run in this order by [`rewrite`]):
//! 1. [`precheck`]: pass through what is not ours to touch (not ELF, not
//!    aarch64 ELF64 LE ET_REL, already processed, SHT_GROUP).
//! 2. [`collect_functions`]: every FUNC symbol in an executable section,
//!    with the first reason it cannot be wrapped, if any.
//! 3. [`scan_relocations`]: relocations into bodies from special sections
//!    (see [`crate::special`]), unknown relocation types inside bodies, ftrace
//!    slots, alternative sites.
//! 4. [`apply_dwarf`]: stack-passed arguments, variadics, FP arguments.
//! 5. [`emit`]: rename bodies `foo_real`, move `foo` to its trampoline,
//!    redirect entry references, write trampolines, slots, table, excluded list.
use crate::diag::{Problem, Problems};
use crate::dwarf;
use crate::options::Config;
use crate::rawrela;
use crate::report::{FuncEntry, ObjectReport};
use crate::special::{self, Effect};
use crate::trampoline;
use object::build::elf::{Builder, Relocation, SectionData, SectionId, SymbolId};
use object::build::{ByteString, Id};
use object::elf;
use relocator::abi;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What happened to one input.
#[derive(Debug)]
pub enum Outcome {
    /// The rewritten object.
    Rewritten { data: Vec<u8>, report: ObjectReport },
    /// Use the input as it is.
    PassThrough {
        reason: String,
        /// Worth a warning (e.g. SHT_GROUP, no -ffunction-sections).
        warn: bool,
        report: ObjectReport,
    },
}

/// How the runtime treats a relocation type found inside a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocClass {
    /// The value depends on the place: re-applied in every copy (RelocRecord).
    Place,
    /// The value depends on the target only: the pristine bytes are right
    /// wherever they are copied.
    Target,
    /// R_AARCH64_NONE.
    None,
    /// Anything else: the body is excluded.
    Unknown,
}

pub fn reloc_class(r_type: u32) -> RelocClass {
    match r_type {
        0 => RelocClass::None,
        // PREL64/32/16, LD_PREL_LO19, ADR_PREL_LO21, ADR_PREL_PG_HI21(_NC),
        // TSTBR14, CONDBR19, JUMP26, CALL26
        260 | 261 | 262 | 273 | 274 | 275 | 276 | 279 | 280 | 282 | 283 => RelocClass::Place,
        // ABS64/32/16, MOVW_UABS_G0..G3(_NC), MOVW_SABS_G0..G2,
        // ADD_ABS_LO12_NC, LDST8/16/32/64/128_ABS_LO12_NC
        257..=259 | 263..=272 | 277 | 278 | 284 | 285 | 286 | 299 => RelocClass::Target,
        _ => RelocClass::Unknown,
    }
}

const R_ABS64: u32 = 257;
const R_ADR_PREL_PG_HI21: u32 = 275;
const R_ADR_PREL_PG_HI21_NC: u32 = 276;
const R_ADD_ABS_LO12_NC: u32 = 277;
const R_CALL26: u32 = 283;

struct Func {
    name: String,
    sym: SymbolId,
    /// Other FUNC symbols naming the same bytes (the whole section, from
    /// offset 0: `__attribute__((alias))`, GCC's identical code folding):
    /// they move to the trampoline with `sym`.
    aliases: Vec<SymbolId>,
    section: SectionId,
    sec_name: String,
    size: u64,
    align: u64,
    excluded: Option<String>,
    note: Option<String>,
    /// Offsets of ftrace entry sites (`__patchable_function_entries`).
    ftrace: Vec<u64>,
    /// Alternative sites: (offset, length, replacement has PC-relative relocs).
    alts: Vec<(u64, u64, bool)>,
    /// WARN/BUG sites (`__bug_table`): offsets of their `brk #0x800`.
    bugs: Vec<u64>,
    /// Bytes of arguments passed on the stack (from DWARF): its trampoline
    /// copies them for the body.
    stack_args: u64,
}

impl Func {
    fn exclude(&mut self, why: impl Into<String>) {
        if self.excluded.is_none() {
            self.excluded = Some(why.into());
        }
    }
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn report_for(file: &str, status: &str, note: Option<String>) -> ObjectReport {
    ObjectReport {
        file: file.to_string(),
        status: status.to_string(),
        note,
        functions: Vec::new(),
    }
}

fn pass(file: &str, reason: &str, warn: bool) -> Outcome {
    Outcome::PassThrough {
        reason: reason.to_string(),
        warn,
        report: report_for(file, "passed-through", Some(reason.to_string())),
    }
}

/// Rewrites one object; `file` names it in messages and the report.
pub fn rewrite(file: &str, data: &[u8], cfg: &Config) -> Result<Outcome, Problems> {
    let mut data = data.to_vec();
    rawrela::hide(&mut data);
    match plan(file, &data, cfg)? {
        Plan::Pass(out) => Ok(out),
        Plan::Rewrite(r) => {
            let mut data = Vec::new();
            let report = r.write(&mut data)?;
            Ok(Outcome::Rewritten { data, report })
        }
    }
}

/// What [`plan`] decided.
#[derive(Debug)]
pub enum Plan<'data> {
    /// Always [`Outcome::PassThrough`].
    Pass(Outcome),
    /// The rewritten object, ready to be written.
    Rewrite(Box<Rewritten<'data>>),
}

/// A rewritten object not yet serialized.
#[derive(Debug)]
pub struct Rewritten<'data> {
    file: String,
    builder: Builder<'data>,
    report: ObjectReport,
    /// Relocation sections kept as raw bytes ([`rawrela`]).
    raw: Vec<SectionId>,
    /// Builder index of a wrapped function's symbol -> its body's.
    to_body: ByIndex,
}

impl Rewritten<'_> {
    /// Serializes the object into `out` (a `Vec<u8>`, or an
    /// `object::write::StreamingBuffer` over a file); returns its report.
    pub fn write(
        self,
        out: &mut dyn object::write::WritableBuffer,
    ) -> Result<ObjectReport, Problems> {
        let cannot = |e: String| {
            one(Problem::new(
                &self.file,
                format!("cannot write rewritten object: {e}"),
            ))
        };
        let mut builder = self.builder;
        let to_body = &self.to_body;
        rawrela::encode(&mut builder, &self.raw, &|i| to_body.get(i)).map_err(cannot)?;
        builder.write(out).map_err(|e| cannot(e.to_string()))?;
        Ok(self.report)
    }
}

/// Everything [`rewrite`] does but serializing the result.
pub fn plan<'data>(file: &str, data: &'data [u8], cfg: &Config) -> Result<Plan<'data>, Problems> {
    match plan_inner(file, data, cfg)? {
        Ok(r) => Ok(Plan::Rewrite(Box::new(r))),
        Err(out) => Ok(Plan::Pass(out)),
    }
}

/// `Err(outcome)`: passed through.
fn plan_inner<'data>(
    file: &str,
    data: &'data [u8],
    cfg: &Config,
) -> Result<Result<Rewritten<'data>, Outcome>, Problems> {
    let pass = |file: &str, reason: &str, warn: bool| Ok(Err(pass(file, reason, warn)));
    if let Some(out) = precheck(file, data)? {
        return Ok(Err(out));
    }
    let mut b = Builder::read64(data)
        .map_err(|e| one(Problem::new(file, format!("cannot parse ELF object: {e}"))))?;
    let raw = rawrela::restore(&mut b)
        .map_err(|e| one(Problem::new(file, format!("corrupt ELF: {e}"))))?;
    if let Some(out) = check_alignments(file, &mut b)? {
        return Ok(Err(out));
    }
    let mut problems = Problems::default();
    let mut funcs = collect_functions(file, &b, cfg);
    if funcs.is_empty() {
        return pass(file, NO_FUNCTIONS, false);
    }
    if !funcs
        .iter()
        .any(|f| special::text_section_verdict(&f.sec_name).is_ok())
    {
        return pass(
            file,
            "no function in its own .text.* section (compile with -ffunction-sections): nothing to randomize",
            !funcs.is_empty(),
        );
    }
    scan_relocations(file, &b, &mut funcs, &mut problems);
    apply_dwarf(&b, &raw, &mut funcs, cfg);
    exclude_name_clashes(&b, &mut funcs);
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut report = report_for(file, "rewritten", None);
    if funcs.iter().all(|f| f.excluded.is_some()) {
        report.status = "passed-through".into();
        report.note = Some("every function excluded: nothing to randomize".into());
        report.functions = funcs.iter().map(|f| entry(f, 0, 0)).collect();
        return Ok(Err(Outcome::PassThrough {
            reason: "every function excluded: nothing to randomize".into(),
            warn: false,
            report,
        }));
    }
    let mut to_body = ByIndex::default();
    let counts = emit(file, &mut b, &funcs, &mut to_body, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    report.functions = funcs
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (r, n) = counts.get(&i).copied().unwrap_or((0, 0));
            entry(f, r, n)
        })
        .collect();
    Ok(Ok(Rewritten {
        file: file.to_string(),
        builder: b,
        report,
        raw,
        to_body,
    }))
}

/// A map keyed by a section or symbol index (small and dense).
#[derive(Debug, Default)]
struct ByIndex(Vec<Option<usize>>);

impl ByIndex {
    fn insert(&mut self, k: usize, v: usize) {
        if self.0.len() <= k {
            self.0.resize(k + 1, None);
        }
        self.0[k] = Some(v);
    }
    fn get(&self, k: usize) -> Option<usize> {
        self.0.get(k).copied().flatten()
    }
}

fn one(p: Problem) -> Problems {
    Problems(vec![p])
}

fn entry(f: &Func, relocs: u32, ftrace: u32) -> FuncEntry {
    FuncEntry {
        name: f.name.clone(),
        section: f.sec_name.clone(),
        size: f.size,
        status: if f.excluded.is_some() {
            "excluded"
        } else {
            "randomized"
        }
        .into(),
        reason: f.excluded.clone(),
        relocs,
        ftrace_slots: ftrace,
        note: f.note.clone(),
    }
}

/// An input file as the driver reads it.
#[derive(Debug)]
pub enum Input {
    /// Decided from the header and the section headers alone: the outcome
    /// [`rewrite`] would give for the whole file.
    Decided(Outcome),
    /// The whole file: call [`rewrite`].
    Data(Bytes),
}

/// An input's bytes: mapped from its file, or (empty files, tests) owned.
#[derive(Debug)]
pub enum Bytes {
    /// Private: [`rawrela::hide`] writes section types, copy-on-write.
    Mapped(memmap2::MmapMut),
    Owned(Vec<u8>),
}

impl std::ops::DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// Maps `path` (named `file` in messages and the report) and decides from
/// its header and section headers whether it passes through (not ELF, not
/// an aarch64 relocatable, already processed, no executable section).
///
/// Mapped rather than read: a `read` copies the whole object (1 MB of
/// mostly DWARF for bfq-iosched.o) into fresh pages before anything is
/// parsed, which was a fifth of rerand-ld's own time per link; mapped,
/// the page cache is used in place and a pass-through decision touches a
/// few pages. Like GNU ld and lld, this assumes that nobody truncates an
/// input while it is being linked (Kbuild never does).
pub fn read_input(file: &str, path: &std::path::Path) -> std::io::Result<Input> {
    let f = std::fs::File::open(path)?;
    if f.metadata()?.len() == 0 {
        return Ok(decide(file, Bytes::Owned(Vec::new())));
    }
    // SAFETY: the map is private (our writes never reach the file); see
    // above for the one assumption (no concurrent truncation of an input).
    let map = unsafe { memmap2::MmapOptions::new().map_copy(&f)? };
    Ok(decide(file, Bytes::Mapped(map)))
}

/// [`read_input`] over bytes in memory (tests and fuzzing).
pub fn read_input_from_bytes(file: &str, data: &[u8]) -> Input {
    decide(file, Bytes::Owned(data.to_vec()))
}

fn decide(file: &str, mut data: Bytes) -> Input {
    match precheck(file, &data) {
        Ok(Some(out)) => Input::Decided(out),
        // Errors are reported by the full rewrite, with the same words.
        _ => {
            rawrela::hide(&mut data);
            Input::Data(data)
        }
    }
}

/// Without DWARF, whether a function takes arguments on the stack (which
/// the trampoline would shift) is unknown: it stays in place.
const NO_DWARF_VERDICT: &str = "{why}: cannot tell whether it takes stack-passed or variadic arguments (build with -g, or wrap anyway with --assume-register-args)";

/// Why an object `ld -r` made from rewritten objects passes through.
pub const ALREADY_PROCESSED: &str = "already processed by rerand-ld (has .rerand.table)";

const NO_FUNCTIONS: &str = "no functions: nothing to randomize";

/// Step 1: `Some(outcome)` when the input is not rewritten.
fn precheck(file: &str, data: &[u8]) -> Result<Option<Outcome>, Problems> {
    use object::read::elf::{FileHeader, SectionHeader};
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
        return Ok(Some(pass(file, "not an ELF file", false)));
    }
    if data.len() < 64 {
        return Err(one(Problem::new(file, "truncated ELF header")));
    }
    if data[4] != 2 || data[5] != 1 {
        return Ok(Some(pass(file, "not ELF64 little-endian", false)));
    }
    let e_type = u16::from_le_bytes([data[16], data[17]]);
    let e_machine = u16::from_le_bytes([data[18], data[19]]);
    if e_type != 1 {
        return Ok(Some(pass(file, "not a relocatable object (ET_REL)", false)));
    }
    if e_machine != 183 {
        return Ok(Some(pass(file, "not an aarch64 object", false)));
    }
    let corrupt = |e: object::read::Error| one(Problem::new(file, format!("corrupt ELF: {e}")));
    let endian = object::LittleEndian;
    let hdr = elf::FileHeader64::<object::LittleEndian>::parse(data).map_err(corrupt)?;
    let sections = hdr.sections(endian, data).map_err(corrupt)?;
    // Without code there is no function to move, decided here without
    // parsing the rest (Kbuild's `.mod.o` objects hold data and an empty
    // `.text`).
    let no_code = sections
        .iter()
        .all(|sh| !sh.sh_flags(endian).contains(elf::SHF_EXECINSTR) || sh.sh_size(endian) == 0);
    if no_code {
        return Ok(Some(pass(file, NO_FUNCTIONS, false)));
    }
    for sh in sections.iter() {
        let name = sections.section_name(endian, sh).map_err(corrupt)?;
        if name == abi::TABLE_SECTION.as_bytes() || name == abi::TRAMPOLINE_SECTION.as_bytes() {
            return Ok(Some(pass(file, ALREADY_PROCESSED, false)));
        }
        if sh.sh_type(endian) == elf::SHT_GROUP {
            return Ok(Some(pass(
                file,
                &format!(
                    "section group (SHT_GROUP) {} is not supported: object not randomized",
                    s(name)
                ),
                true,
            )));
        }
    }
    Ok(None)
}

/// Largest section alignment rewritten, and largest sum of them: the
/// writer pads every section to its alignment, so a crafted 2^40 would ask
/// for a terabyte of output.
const MAX_ALIGN: u64 = 1 << 20;
const MAX_ALIGN_SUM: u64 = 1 << 28;

/// Section alignments the writer can lay out: 0 means 1 (object's writer
/// would compute offset 0 for it and overlap sections); not a power of two
/// is corrupt; huge ones pass the object through (to the real linker).
fn check_alignments(file: &str, b: &mut Builder) -> Result<Option<Outcome>, Problems> {
    let mut sum = 0u64;
    for sec in b.sections.iter_mut() {
        if sec.sh_addralign == 0 {
            sec.sh_addralign = 1;
        }
        let a = sec.sh_addralign;
        if !a.is_power_of_two() {
            return Err(one(Problem::new(
                file,
                format!("corrupt ELF: alignment {a} is not a power of two"),
            )
            .section(s(&sec.name))));
        }
        sum = sum.saturating_add(a);
        if a > MAX_ALIGN || sum > MAX_ALIGN_SUM {
            return Ok(Some(pass(
                file,
                &format!(
                    "section {} aligned to {a} bytes: too large to rewrite",
                    s(&sec.name)
                ),
                true,
            )));
        }
    }
    Ok(None)
}

/// Step 2: every FUNC symbol defined in an executable section.
fn collect_functions(_file: &str, b: &Builder, cfg: &Config) -> Vec<Func> {
    let mut per_section: BTreeMap<usize, Vec<SymbolId>> = BTreeMap::new();
    for sym in &b.symbols {
        if sym.st_type() != elf::STT_FUNC {
            continue;
        }
        let Some(sec) = sym.section else { continue };
        if !b.sections.get(sec).sh_flags.contains(elf::SHF_EXECINSTR) {
            continue;
        }
        per_section.entry(sec.index()).or_default().push(sym.id());
    }
    let mut out = Vec::new();
    for syms in per_section.values() {
        // Several names for the whole section are one function: the first
        // in the symbol table (the local one GCC defines before a global
        // alias such as init_module) names it and its body, the others are
        // its aliases.
        let whole = |id: &SymbolId| {
            let sym = b.symbols.get(*id);
            sym.st_value == 0 && sym.st_size == b.symbols.get(syms[0]).st_size
        };
        let (syms, aliases) = if syms.len() > 1 && syms.iter().all(whole) {
            (vec![syms[0]], syms[1..].to_vec())
        } else {
            (syms.clone(), Vec::new())
        };
        for &id in &syms {
            let sym = b.symbols.get(id);
            let sec = b.sections.get(sym.section.unwrap());
            let name = s(&sym.name);
            let sec_name = s(&sec.name);
            let sec_size = match &sec.data {
                SectionData::Data(d) => d.len() as u64,
                _ => 0,
            };
            let mut f = Func {
                name: name.clone(),
                sym: id,
                aliases: aliases.clone(),
                section: sec.id(),
                sec_name: sec_name.clone(),
                size: sec_size.max(sym.st_size),
                align: sec.sh_addralign.max(4),
                excluded: None,
                note: None,
                ftrace: Vec::new(),
                alts: Vec::new(),
                bugs: Vec::new(),
                stack_args: 0,
            };
            if let Err(why) = special::text_section_verdict(&sec_name) {
                f.exclude(why);
            }
            if cfg.only_annotated && !sec_name.starts_with(special::ANNOTATED_PREFIX) {
                f.exclude("not annotated (--only-annotated)");
            }
            if syms.len() > 1 {
                f.exclude(format!("section holds {} function symbols", syms.len()));
            }
            if !matches!(sec.data, SectionData::Data(_)) || sec.sh_type != elf::SHT_PROGBITS {
                f.exclude("section is not PROGBITS");
            }
            if sym.st_value != 0 {
                f.exclude("does not start its section");
            }
            if sym.st_size == 0 || sec_size == 0 {
                f.exclude("zero size");
            }
            if name.ends_with(".cold") || name.contains(".cold.") {
                f.exclude("cold partition of another function (not an entry point)");
            }
            // What the runtime refuses in a table (main.c, rr_check_func):
            // excluded here, so the module loads and the rest moves.
            if f.align > 4096 {
                f.exclude(format!(
                    "aligned to {} bytes (the runtime moves bodies aligned to at most a page)",
                    f.align
                ));
            }
            if !f.size.is_multiple_of(4) {
                f.exclude(format!(
                    "size {} is not a multiple of 4 (not a sequence of instructions)",
                    f.size
                ));
            }
            if name == abi::ENTER_HOOK || name == abi::EXIT_HOOK {
                f.exclude("is a rerand hook");
            }
            if let Some(re) = cfg.exclude.iter().find(|re| re.is_match(&name)) {
                f.exclude(format!("--exclude {}", re.as_str()));
            }
            out.push(f);
        }
    }
    out
}

/// Where a relocation points: (section index, offset in it), if defined.
fn resolve(b: &Builder, sym: Option<SymbolId>, addend: i64) -> Option<(usize, i64)> {
    let sym = b.symbols.get(sym?);
    let sec = sym.section?;
    Some((sec.index(), (sym.st_value as i64).wrapping_add(addend)))
}

/// Step 3.
fn scan_relocations(file: &str, b: &Builder, funcs: &mut [Func], problems: &mut Problems) {
    let mut body_of = ByIndex::default();
    for (i, f) in funcs.iter().enumerate() {
        body_of.insert(f.section.index(), i);
    }
    // .altinstr_replacement ranges with PC-relative relocations.
    let mut repl_pcrel: HashMap<usize, Vec<u64>> = HashMap::new();
    for rs in &b.sections {
        let (SectionData::Relocation(rels), Some(t)) = (&rs.data, rs.sh_info_section) else {
            continue;
        };
        if b.sections.get(t).name.as_slice() == b".altinstr_replacement" {
            for r in rels {
                if reloc_class(r.r_type.0) == RelocClass::Place {
                    repl_pcrel.entry(t.index()).or_default().push(r.r_offset);
                }
            }
        }
    }
    for rs in &b.sections {
        let SectionData::Relocation(rels) = &rs.data else {
            continue;
        };
        let Some(target) = rs.sh_info_section else {
            continue;
        };
        let tsec = b.sections.get(target);
        let tname = s(&tsec.name);
        if let Some(fi) = body_of.get(target.index()) {
            for r in rels {
                if reloc_class(r.r_type.0) == RelocClass::Unknown {
                    funcs[fi].exclude(format!(
                        "relocation type {} at {:#x} cannot be re-applied by the runtime",
                        r.r_type.0, r.r_offset
                    ));
                }
                // A page-relative address of a label of its own body
                // (`_THIS_IP_`, `&&label`, `adr_l` to a table inside the
                // function): copies land at any 16-byte offset, so in a
                // copy the page difference would name neither the copy's
                // label nor the original's. (`adr` and PC-relative data,
                // differences within the body, hold in any copy.)
                let page = matches!(r.r_type.0, R_ADR_PREL_PG_HI21 | R_ADR_PREL_PG_HI21_NC);
                if page
                    && resolve(b, r.symbol, r.r_addend)
                        .is_some_and(|(sec, _)| sec == target.index())
                {
                    funcs[fi].exclude(format!(
                        "takes the address of a label of its own body (adrp at {:#x}: _THIS_IP_, &&label or adr_l), which a copy cannot compute",
                        r.r_offset
                    ));
                }
            }
            continue;
        }
        let effect = special::effect_of(&tname);
        if effect == Effect::Redirect {
            // An address inside a body, held outside it: a computed goto's
            // label table, or code that jumps there. A copy reached through
            // it would go on running in the original.
            for r in rels {
                if let Some((sec, off)) = resolve(b, r.symbol, r.r_addend) {
                    if let Some(fi) = body_of.get(sec).filter(|_| off != 0) {
                        funcs[fi].exclude(format!(
                            "{tname} holds an address inside its body (+{off:#x}: a label address, e.g. a computed goto table): a copy would jump back into the original"
                        ));
                    }
                }
            }
            continue;
        }
        if matches!(effect, Effect::KeepBody | Effect::Ours) {
            continue; // nothing to learn from these
        }
        let tdata: &[u8] = match &tsec.data {
            SectionData::Data(d) => d,
            _ => &[],
        };
        if let Some((size, what)) = match effect {
            Effect::ExTable => Some((12, "uaccess fixup (__ex_table)")),
            Effect::JumpTable => Some((16, "static-key branch target (__jump_table)")),
            _ => None,
        } {
            // Both tables begin an entry with two PC-relative words: the
            // site, then where it goes (the fixup, the branch target).
            // Entry -> (site, destination), each (section, offset).
            let mut entries: HashMap<u64, [Option<(usize, i64)>; 2]> = HashMap::new();
            for r in rels {
                let field = match r.r_offset % size {
                    0 => 0,
                    4 => 1,
                    _ => continue,
                };
                entries.entry(r.r_offset / size).or_default()[field] =
                    resolve(b, r.symbol, r.r_addend);
            }
            for [site, dest] in entries.into_values() {
                let body = |x: Option<(usize, i64)>| x.and_then(|(sec, _)| body_of.get(sec));
                let (bs, bd) = (body(site), body(dest));
                if let Some(fi) = bs.filter(|&fi| Some(fi) != bd) {
                    funcs[fi].exclude(format!(
                        "a {what} outside its own body, which a copy cannot reach"
                    ));
                }
                if let Some(fi) = bd.filter(|&fi| Some(fi) != bs) {
                    funcs[fi].exclude(format!(
                        "holds the {what} of another function's instruction, which would go into the original"
                    ));
                }
            }
            continue;
        }
        for r in rels {
            let Some((sec, off)) = resolve(b, r.symbol, r.r_addend) else {
                continue;
            };
            let Some(fi) = body_of.get(sec) else {
                continue;
            };
            match effect {
                Effect::KeepAndExclude(why) => funcs[fi].exclude(why),
                Effect::FtraceEntries => {
                    if off >= 0 {
                        funcs[fi].ftrace.push(off as u64);
                    } else {
                        problems.push(
                            Problem::new(file, "ftrace entry before the start of a function")
                                .section(&tname)
                                .symbol(&funcs[fi].name)
                                .offset(r.r_offset),
                        );
                    }
                }
                Effect::Alternatives => {
                    // struct alt_instr { s32 orig; s32 alt; u16 cpufeature; u8 orig_len; u8 alt_len; }
                    let k = r.r_offset as usize;
                    if k.is_multiple_of(12) && k + 12 <= tdata.len() && off >= 0 {
                        let orig_len = tdata[k + 10] as u64;
                        let alt_len = tdata[k + 11] as u64;
                        let repl = rels
                            .iter()
                            .find(|x| x.r_offset == r.r_offset + 4)
                            .and_then(|x| resolve(b, x.symbol, x.r_addend));
                        let pcrel = repl.is_some_and(|(rsec, roff)| {
                            repl_pcrel.get(&rsec).is_some_and(|v| {
                                v.iter().any(|&o| {
                                    (o as i64) >= roff && (o as i64) < roff + alt_len as i64
                                })
                            })
                        });
                        funcs[fi].alts.push((off as u64, orig_len, pcrel));
                    }
                }
                Effect::BugSites => {
                    if off >= 0 {
                        funcs[fi].bugs.push(off as u64);
                    }
                }
                Effect::Redirect
                | Effect::KeepBody
                | Effect::Ours
                | Effect::ExTable
                | Effect::JumpTable => {}
            }
        }
    }
    // Alternative sites against the body's own relocations.
    for rs in &b.sections {
        let (SectionData::Relocation(rels), Some(t)) = (&rs.data, rs.sh_info_section) else {
            continue;
        };
        let Some(fi) = body_of.get(t.index()) else {
            continue;
        };
        let f = &mut funcs[fi];
        let mut why = None;
        for &(o, len, pcrel) in &f.alts {
            if pcrel {
                why = Some(format!(
                    "alternative at {o:#x} has PC-relative replacement code"
                ));
            }
            for r in rels {
                if reloc_class(r.r_type.0) == RelocClass::Place
                    && r.r_offset >= o
                    && r.r_offset < o + len
                {
                    why = Some(format!(
                        "alternative at {o:#x} overlaps a place-dependent relocation at {:#x}",
                        r.r_offset
                    ));
                }
            }
        }
        if let Some(w) = why {
            f.exclude(w);
        }
    }
    // WARN/BUG sites: the runtime rewrites each `brk #0x800` in copies, so
    // the word must be one (the kernel's own check, in report_bug(), is by
    // address only).
    for f in funcs.iter_mut() {
        let body: &[u8] = match &b.sections.get(f.section).data {
            SectionData::Data(d) => d,
            _ => &[],
        };
        let bad = f.bugs.iter().copied().find(|&o| {
            o % 4 != 0
                || body
                    .get(o as usize..o as usize + 4)
                    .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
                    != Some(abi::BUG_BRK)
        });
        if let Some(o) = bad {
            f.exclude(format!(
                "__bug_table names +{o:#x}, which is not a `brk #0x800`"
            ));
        }
    }
}

/// Step 4: DWARF verdicts on arguments, for the functions still candidates.
fn apply_dwarf(b: &Builder, raw: &[SectionId], funcs: &mut [Func], cfg: &Config) {
    if funcs.iter().all(|f| f.excluded.is_some()) {
        return;
    }
    let find = |name: &[u8]| b.sections.iter().find(|s| s.name.as_slice() == name);
    let info = find(b".debug_info");
    let abbrev = find(b".debug_abbrev");
    let verdicts = match (info, abbrev) {
        (Some(i), Some(a)) => {
            let compressed =
                |s: &object::build::elf::Section| s.sh_flags.contains(elf::SHF_COMPRESSED);
            match (&i.data, &a.data) {
                (SectionData::Data(id), SectionData::Data(ad))
                    if !compressed(i) && !compressed(a) =>
                {
                    // The relocations of .debug_info by offset; at one
                    // offset the last one counts. Symbols are looked up only
                    // for the few attributes the DWARF reader decodes.
                    let targets: Vec<&object::build::elf::Section> = b
                        .sections
                        .iter()
                        .filter(|rs| rs.sh_info_section == Some(i.id()))
                        .collect();
                    // Builder index -> id (dense: nothing is deleted yet).
                    let ids: Vec<SymbolId> = b.symbols.into_iter().map(|s| s.id()).collect();
                    let value = |sym: Option<usize>, addend: i64| match sym.and_then(|k| ids.get(k))
                    {
                        Some(&sid) => {
                            let sym = b.symbols.get(sid);
                            (
                                sym.section.map(|x| x.index()),
                                (sym.st_value as i64).wrapping_add(addend),
                            )
                        }
                        None => (None, addend),
                    };
                    let wanted: HashMap<usize, &str> = funcs
                        .iter()
                        .filter(|f| f.excluded.is_none())
                        .map(|f| (f.section.index(), f.name.as_str()))
                        .collect();
                    // Names of the functions DWARF gives no address
                    // (dwarf::function_verdicts); without it, those stay.
                    let debug_str: &[u8] = match find(b".debug_str") {
                        Some(s) if !compressed(s) => match &s.data {
                            SectionData::Data(d) => d,
                            _ => &[],
                        },
                        _ => &[],
                    };
                    // The usual case, searched in place: one raw (rawrela)
                    // section, in offset order as assemblers write it. A
                    // third of the DWARF pass of a large object went into
                    // copying and sorting it.
                    let in_place = match targets.as_slice() {
                        [rs] if raw.contains(&rs.id()) => match &rs.data {
                            SectionData::Data(d) => {
                                let n = rawrela::count(d);
                                let sorted = (1..n).all(|k| {
                                    rawrela::entry(d, k - 1).offset <= rawrela::entry(d, k).offset
                                });
                                sorted.then_some(d)
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    if let Some(d) = in_place {
                        let d: &[u8] = d;
                        let n = rawrela::count(d);
                        let lookup = |at: u64| {
                            // The last entry at or before `at`.
                            let (mut lo, mut hi) = (0, n);
                            while lo < hi {
                                let mid = (lo + hi) / 2;
                                if rawrela::entry(d, mid).offset <= at {
                                    lo = mid + 1;
                                } else {
                                    hi = mid;
                                }
                            }
                            let e = rawrela::entry(d, lo.checked_sub(1)?);
                            (e.offset == at).then(|| value(e.symbol(), e.addend))
                        };
                        dwarf::function_verdicts(id, ad, debug_str, &lookup, &wanted)
                            .map_err(|e| format!("unreadable DWARF ({e})"))
                    } else {
                        // (offset, Builder index of the symbol, addend), from
                        // parsed or raw (rawrela) relocation sections.
                        let mut rels: Vec<(u64, Option<usize>, i64)> = Vec::new();
                        for rs in &targets {
                            match &rs.data {
                                SectionData::Relocation(r) => rels.extend(r.iter().map(|r| {
                                    (r.r_offset, r.symbol.map(|s| s.index()), r.r_addend)
                                })),
                                SectionData::Data(d) if raw.contains(&rs.id()) => rels.extend(
                                    rawrela::entries(d).map(|e| (e.offset, e.symbol(), e.addend)),
                                ),
                                _ => {}
                            }
                        }
                        if !rels.is_sorted_by_key(|r| r.0) {
                            rels.sort_by_key(|r| r.0); // stable
                        }
                        let lookup = |at: u64| {
                            let k = rels.partition_point(|r| r.0 <= at).checked_sub(1)?;
                            let (off, sym, addend) = rels[k];
                            (off == at).then(|| value(sym, addend))
                        };
                        dwarf::function_verdicts(id, ad, debug_str, &lookup, &wanted)
                            .map_err(|e| format!("unreadable DWARF ({e})"))
                    }
                }
                _ => Err("compressed DWARF not supported".to_string()),
            }
        }
        _ => Err("no DWARF (.debug_info)".to_string()),
    };
    for f in funcs.iter_mut().filter(|f| f.excluded.is_none()) {
        match &verdicts {
            Ok(v) => match v.get(&f.section.index()) {
                Some(dwarf::Verdict::Registers) => {}
                Some(dwarf::Verdict::StackArgs(n)) if *n <= trampoline::MAX_STACK_ARGS => {
                    f.stack_args = *n
                }
                Some(dwarf::Verdict::StackArgs(n)) => f.exclude(format!(
                    "{n} bytes of stack-passed arguments, more than the {} a trampoline copies",
                    trampoline::MAX_STACK_ARGS
                )),
                Some(dwarf::Verdict::Stack(why)) => f.exclude(why.clone()),
                None if cfg.assume_register_args => {
                    f.note = Some(
                        "no DWARF for this function: assumed register-only arguments (--assume-register-args)"
                            .into(),
                    )
                }
                None => f.exclude(NO_DWARF_VERDICT.replace("{why}", "no DWARF for this function")),
            },
            Err(why) if cfg.assume_register_args => {
                f.note = Some(format!(
                    "{why}: assumed register-only arguments (--assume-register-args)"
                ))
            }
            Err(why) => f.exclude(NO_DWARF_VERDICT.replace("{why}", why)),
        }
    }
}

/// Names the rewrite adds must be free.
/// A function whose body name (`foo_real`) is taken by another symbol of
/// the object stays in place: renaming the body would make two symbols of
/// that name.
fn exclude_name_clashes(b: &Builder, funcs: &mut [Func]) {
    let suffix = abi::BODY_SUFFIX.as_bytes();
    let names: HashSet<&[u8]> = b
        .symbols
        .iter()
        .map(|s| s.name.as_slice())
        .filter(|n| n.ends_with(suffix))
        .collect();
    for f in funcs.iter_mut().filter(|f| f.excluded.is_none()) {
        let real = format!("{}{}", f.name, abi::BODY_SUFFIX);
        if names.contains(real.as_bytes()) {
            f.exclude(format!(
                "symbol `{real}` already exists: the body cannot take that name"
            ));
        }
    }
}

fn add_section<'a>(
    b: &mut Builder<'a>,
    name: &str,
    sh_type: elf::SectionType,
    flags: u64,
    align: u64,
    data: SectionData<'a>,
) -> SectionId {
    let sec = b.sections.add();
    sec.name = ByteString::from(name.as_bytes().to_vec());
    sec.sh_type = sh_type;
    sec.sh_flags = elf::SectionFlags(flags);
    sec.sh_addralign = align;
    sec.data = data;
    sec.id()
}

fn add_rela<'a>(b: &mut Builder<'a>, target: SectionId, symtab: SectionId, rels: Vec<Relocation>) {
    let name = format!(".rela{}", s(&b.sections.get(target).name));
    let id = add_section(
        b,
        &name,
        elf::SHT_RELA,
        elf::SHF_INFO_LINK.0,
        8,
        SectionData::Relocation(rels),
    );
    let sec = b.sections.get_mut(id);
    sec.sh_link_section = Some(symtab);
    sec.sh_info_section = Some(target);
    sec.sh_entsize = 24;
}

fn section_symbol(b: &mut Builder, sec: SectionId) -> SymbolId {
    let sym = b.symbols.add();
    sym.set_st_info(elf::STB_LOCAL, elf::STT_SECTION);
    sym.section = Some(sec);
    sym.id()
}

fn hook_symbol(b: &mut Builder, name: &str) -> SymbolId {
    if let Some(sym) = b
        .symbols
        .iter()
        .find(|s| s.name.as_slice() == name.as_bytes())
    {
        return sym.id();
    }
    let sym = b.symbols.add();
    sym.name = ByteString::from(name.as_bytes().to_vec());
    sym.set_st_info(elf::STB_GLOBAL, elf::STT_NOTYPE);
    sym.st_shndx = elf::SHN_UNDEF;
    sym.id()
}

fn rel(off: u64, sym: SymbolId, r_type: u32, addend: i64) -> Relocation {
    Relocation {
        r_offset: off,
        symbol: Some(sym),
        r_type: elf::RelocationType(r_type),
        r_addend: addend,
    }
}

/// Step 5. Returns, per function index, (records, ftrace slots).
fn emit(
    file: &str,
    b: &mut Builder,
    funcs: &[Func],
    to_body: &mut ByIndex,
    problems: &mut Problems,
) -> HashMap<usize, (u32, u32)> {
    let Some(symtab) = b
        .sections
        .iter()
        .find(|s| matches!(s.data, SectionData::Symbol))
        .map(|s| s.id())
    else {
        problems.push(Problem::new(file, "no symbol table"));
        return HashMap::new();
    };
    let wrapped: Vec<usize> = (0..funcs.len())
        .filter(|&i| funcs[i].excluded.is_none())
        .collect();
    let n = wrapped.len();
    // Each trampoline's shape and place: 64 bytes, or more for a body
    // that takes arguments on the stack.
    let layouts: Vec<trampoline::Layout> = wrapped
        .iter()
        .map(|&i| trampoline::layout(funcs[i].stack_args))
        .collect();
    let starts: Vec<u64> = layouts
        .iter()
        .scan(0, |at, l| {
            let s = *at;
            *at += l.size;
            Some(s)
        })
        .collect();
    let tramp_bytes: Vec<u8> = wrapped
        .iter()
        .flat_map(|&i| trampoline::words(funcs[i].stack_args))
        .flat_map(|w| w.to_le_bytes())
        .collect();

    // New sections and their symbols.
    let tramp = add_section(
        b,
        abi::TRAMPOLINE_SECTION,
        elf::SHT_PROGBITS,
        (elf::SHF_ALLOC | elf::SHF_EXECINSTR).0,
        8,
        SectionData::Data(tramp_bytes.into()),
    );
    // PROGBITS zeros, like the object's own .data..ro_after_init (if
    // any), which the final link merges it with.
    let slots = add_section(
        b,
        abi::SLOTS_SECTION,
        elf::SHT_PROGBITS,
        (elf::SHF_ALLOC | elf::SHF_WRITE).0,
        8,
        SectionData::Data(vec![0u8; n * abi::SLOT_SIZE].into()),
    );
    let slots_sym = section_symbol(b, slots);
    let enter = hook_symbol(b, abi::ENTER_HOOK);
    let exit = hook_symbol(b, abi::EXIT_HOOK);

    // Bodies: foo_real at the old place; foo moves to its trampoline.
    let mut body_sym: HashMap<usize, SymbolId> = HashMap::new(); // func index -> foo_real
    let mut wrapped_by_sec = ByIndex::default(); // section -> func index
    let mut tramp_rels = Vec::new();
    for (k, &i) in wrapped.iter().enumerate() {
        let f = &funcs[i];
        let real = b.symbols.add();
        real.name = ByteString::from(format!("{}{}", f.name, abi::BODY_SUFFIX).into_bytes());
        real.set_st_info(elf::STB_LOCAL, elf::STT_FUNC);
        real.section = Some(f.section);
        real.st_value = 0;
        real.st_size = f.size;
        let real = real.id();
        body_sym.insert(i, real);
        wrapped_by_sec.insert(f.section.index(), i);
        let l = layouts[k];
        let base = starts[k];
        for &id in std::iter::once(&f.sym).chain(&f.aliases) {
            let t = b.symbols.get_mut(id);
            t.section = Some(tramp);
            t.st_value = base;
            t.st_size = l.size;
        }
        let slot = (k * abi::SLOT_SIZE) as i64;
        tramp_rels.push(rel(base + l.slot_adrp, slots_sym, R_ADR_PREL_PG_HI21, slot));
        tramp_rels.push(rel(base + l.slot_add, slots_sym, R_ADD_ABS_LO12_NC, slot));
        tramp_rels.push(rel(base + l.enter_call, enter, R_CALL26, 0));
        tramp_rels.push(rel(base + l.call_offset as u64, real, R_CALL26, 0));
        tramp_rels.push(rel(
            base + l.exit_slot_adrp,
            slots_sym,
            R_ADR_PREL_PG_HI21,
            slot,
        ));
        tramp_rels.push(rel(
            base + l.exit_slot_add,
            slots_sym,
            R_ADD_ABS_LO12_NC,
            slot,
        ));
        tramp_rels.push(rel(base + l.exit_call, exit, R_CALL26, 0));
    }
    add_rela(b, tramp, symtab, tramp_rels);
    // The trampolines' ftrace sites, as GCC lists a function's: "awo",
    // linked to the text they describe. Only for functions whose body has
    // them: a `notrace` function (no entry slots) stays untraceable.
    let traced: Vec<usize> = wrapped
        .iter()
        .enumerate()
        .filter(|(_, &i)| !funcs[i].ftrace.is_empty())
        .map(|(k, _)| k)
        .collect();
    if !traced.is_empty() {
        let pfe = add_section(
            b,
            "__patchable_function_entries",
            elf::SHT_PROGBITS,
            (elf::SHF_ALLOC | elf::SHF_WRITE | elf::SHF_LINK_ORDER).0,
            8,
            SectionData::Data(vec![0u8; 8 * traced.len()].into()),
        );
        b.sections.get_mut(pfe).sh_link_section = Some(tramp);
        let tramp_sym = section_symbol(b, tramp);
        let pfe_rels = traced
            .iter()
            .enumerate()
            .map(|(j, &k)| {
                let at = starts[k] + trampoline::FTRACE_ENTRY;
                rel(8 * j as u64, tramp_sym, R_ABS64, at as i64)
            })
            .collect();
        add_rela(b, pfe, symtab, pfe_rels);
    }
    let mut func_of_sym = ByIndex::default(); // symbol -> func index
    for &i in &wrapped {
        for id in std::iter::once(funcs[i].sym).chain(funcs[i].aliases.iter().copied()) {
            func_of_sym.insert(id.index(), i);
            // For the raw (KeepBody) relocation sections, encoded at write.
            to_body.insert(id.index(), body_sym[&i].index());
        }
    }

    // Redirect references, then collect the records of every body.
    let mut records: HashMap<usize, Vec<(u64, u32, SymbolId, i64)>> = HashMap::new();
    let rela_ids: Vec<SectionId> = b
        .sections
        .iter()
        .filter(|s| matches!(s.data, SectionData::Relocation(_)) && s.sh_info_section.is_some())
        .map(|s| s.id())
        .collect();
    for rid in rela_ids {
        let target = b.sections.get(rid).sh_info_section.unwrap();
        if target == tramp {
            continue;
        }
        let tsec = b.sections.get(target);
        let code = tsec.sh_flags.contains(elf::SHF_EXECINSTR);
        let effect = if code {
            Effect::Redirect
        } else {
            special::effect_of(&s(&tsec.name))
        };
        let in_body = wrapped_by_sec.get(target.index());
        let mut rels = match std::mem::replace(
            &mut b.sections.get_mut(rid).data,
            SectionData::Relocation(Vec::new()),
        ) {
            SectionData::Relocation(r) => r,
            _ => unreachable!(),
        };
        for r in rels.iter_mut() {
            let Some(sid) = r.symbol else { continue };
            let sym = b.symbols.get(sid);
            // A reference through the function symbol itself.
            if let Some(fi) = func_of_sym.get(sid.index()) {
                if effect != Effect::Redirect || r.r_addend != 0 {
                    // Into the body, not the entry: keep pointing at the body.
                    r.symbol = Some(body_sym[&fi]);
                }
            } else if let Some(sec) = sym.section {
                if let Some(fi) = wrapped_by_sec.get(sec.index()) {
                    let off = (sym.st_value as i64).wrapping_add(r.r_addend);
                    if effect == Effect::Redirect && off == 0 {
                        // `.text.foo + 0`: a call or an address taken.
                        r.symbol = Some(funcs[fi].sym);
                        r.r_addend = 0;
                    }
                }
            }
            if let Some(fi) = in_body {
                if reloc_class(r.r_type.0) == RelocClass::Place {
                    let sid = r.symbol.unwrap();
                    let tsym = b.symbols.get(sid);
                    let intra = tsym.section == Some(funcs[fi].section) && sid != funcs[fi].sym;
                    if !intra {
                        records
                            .entry(fi)
                            .or_default()
                            .push((r.r_offset, r.r_type.0, sid, r.r_addend));
                    }
                }
            }
        }
        b.sections.get_mut(rid).data = SectionData::Relocation(rels);
    }

    // The table.
    let mut counts = HashMap::new();
    let mut frecs = Vec::new();
    let mut rrecs: Vec<(u64, u32, Option<SymbolId>, i64)> = Vec::new();
    for (k, &i) in wrapped.iter().enumerate() {
        let f = &funcs[i];
        let mut recs: Vec<(u64, u32, Option<SymbolId>, i64)> = records
            .remove(&i)
            .unwrap_or_default()
            .into_iter()
            .map(|(o, t, s, a)| (o, t, Some(s), a))
            .collect();
        let body: &[u8] = match &b.sections.get(f.section).data {
            SectionData::Data(d) => d,
            _ => &[],
        };
        let mut nslots = 0;
        for &o in &f.ftrace {
            for k in 0..2u64 {
                let at = (o + 4 * k) as usize;
                let word = body
                    .get(at..at + 4)
                    .map(|w| u32::from_le_bytes(w.try_into().unwrap()));
                if word == Some(trampoline::NOP) {
                    recs.push((o + 4 * k, abi::OP_NOP, None, 0));
                    nslots += 1;
                } else {
                    break;
                }
            }
        }
        let mut bugs = f.bugs.clone();
        bugs.sort_unstable();
        bugs.dedup();
        recs.extend(bugs.into_iter().map(|o| (o, abi::OP_BUG, None, 0)));
        recs.sort_by_key(|r| (r.0, r.1));
        let mut flags = 0;
        if nslots > 0 {
            flags |= abi::FUNC_FTRACE_SLOTS;
        }
        if f.sec_name.starts_with(special::ANNOTATED_PREFIX) {
            flags |= abi::FUNC_ANNOTATED;
        }
        frecs.push(abi::FuncRecord {
            size: f.size as u32,
            align: f.align as u32,
            call_offset: layouts[k].call_offset,
            first_reloc: rrecs.len() as u32,
            nrelocs: recs.len() as u32,
            flags,
            ..Default::default()
        });
        counts.insert(i, (recs.len() as u32, nslots));
        rrecs.extend(recs);
    }
    let excluded: Vec<&Func> = funcs.iter().filter(|f| f.excluded.is_some()).collect();
    let mut data = Vec::new();
    abi::TableHeader::new(n as u32, rrecs.len() as u32, excluded.len() as u32).write(&mut data);
    for r in &frecs {
        r.write(&mut data);
    }
    for r in &rrecs {
        abi::RelocRecord {
            target: 0,
            offset: r.0 as u32,
            r#type: r.1,
        }
        .write(&mut data);
    }
    let table = add_section(
        b,
        abi::TABLE_SECTION,
        elf::SHT_PROGBITS,
        elf::SHF_ALLOC.0,
        8,
        SectionData::Data(data.into()),
    );
    let table_sym = section_symbol(b, table);
    let funcs_at = abi::HEADER_SIZE as u64;
    let relocs_at = funcs_at + (n * abi::FUNC_SIZE) as u64;
    let mut trels = vec![
        rel(abi::offsets::HEADER_SELF, table_sym, R_ABS64, 0),
        rel(
            abi::offsets::HEADER_FUNCS,
            table_sym,
            R_ABS64,
            funcs_at as i64,
        ),
        rel(
            abi::offsets::HEADER_RELOCS,
            table_sym,
            R_ABS64,
            relocs_at as i64,
        ),
        rel(abi::offsets::HEADER_SLOTS, slots_sym, R_ABS64, 0),
    ];
    // A record names its trampoline through the trampoline section, not
    // the function's symbol: a weak `foo` overridden by another object of
    // the module would make the record name that object's trampoline,
    // with this object's body.
    let tramp_sym = section_symbol(b, tramp);
    for (k, &i) in wrapped.iter().enumerate() {
        let base = funcs_at + (k * abi::FUNC_SIZE) as u64;
        trels.push(rel(
            base + abi::offsets::FUNC_TRAMPOLINE,
            tramp_sym,
            R_ABS64,
            starts[k] as i64,
        ));
        trels.push(rel(
            base + abi::offsets::FUNC_BODY,
            body_sym[&i],
            R_ABS64,
            0,
        ));
    }
    for (j, r) in rrecs.iter().enumerate() {
        if let Some(sym) = r.2 {
            let at = relocs_at + (j * abi::RELOC_SIZE) as u64 + abi::offsets::RELOC_TARGET;
            trels.push(rel(at, sym, R_ABS64, r.3));
        }
    }
    add_rela(b, table, symtab, trels);

    // Names and reasons of the functions that stay.
    let mut ex = Vec::new();
    for f in &excluded {
        ex.extend_from_slice(f.name.as_bytes());
        ex.push(b'\t');
        ex.extend_from_slice(f.excluded.as_deref().unwrap_or("").as_bytes());
        ex.push(0);
    }
    add_section(
        b,
        abi::EXCLUDED_SECTION,
        elf::SHT_PROGBITS,
        0,
        1,
        SectionData::Data(ex.into()),
    );
    counts
}
