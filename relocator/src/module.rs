//! Reading what `rerand-ld` left in a module: the tables in
//! [`abi::TABLE_SECTION`], resolved through the relocations that fill their
//! pointer fields, and the excluded list in [`abi::EXCLUDED_SECTION`].
//!
//! A `.ko` (or a processed `.o`) is relocatable: every pointer of the table
//! is zero in the file and only its relocation says what it points at. So
//! a function's body is "symbol `foo_real`, section `.text.foo`, offset 0"
//! and a relocation target is "section or undefined symbol, plus addend";
//! [`Layout`] gives sections and undefined symbols addresses, the way the
//! module loader (or a linker script) would, and turns those into numbers.
//!
//! Input may be anything a user points the tool at, so nothing here
//! panics on malformed bytes: every bound is checked and failures are
//! [`Error::Corrupt`] naming the file and the problem.

use crate::abi::{self, FuncRecord, RelocRecord, TableHeader};
use crate::reloc;
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionFlags,
    SectionKind, SymbolKind, SymbolSection,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

const SHF_WRITE: u64 = 0x1;
const SHF_ALLOC: u64 = 0x2;
const SHF_EXECINSTR: u64 = 0x4;

#[derive(Debug)]
pub enum Error {
    Io {
        path: String,
        error: std::io::Error,
    },
    /// A well-formed module without a table: built with the plain linker.
    NotLinked {
        path: String,
    },
    Corrupt {
        path: String,
        what: String,
    },
}

impl Error {
    /// 1 for "not a rerand module", 2 for unreadable or corrupt input.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NotLinked { .. } => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, error } => write!(f, "{path}: {error}"),
            Error::NotLinked { path } => write!(
                f,
                "{path} has no {}: it was not linked with rerand-ld",
                abi::TABLE_SECTION
            ),
            Error::Corrupt { path, what } => write!(f, "{path}: corrupt or truncated: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// What a relocation (or a table pointer) refers to, before layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// Section index in the file.
    Section(usize),
    /// An undefined symbol: a kernel or another module's export.
    Undefined(String),
    Absolute,
}

/// `base + offset`; for symbols defined in a section, offset already holds
/// the symbol's value plus the addend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub base: Base,
    pub offset: i64,
    /// The symbol the relocation names, for messages.
    pub symbol: String,
}

/// One ELF relocation of a section.
#[derive(Clone, Debug)]
pub struct RawReloc {
    pub offset: u64,
    pub r_type: u32,
    pub target: Target,
}

#[derive(Clone, Debug)]
pub struct Section {
    pub index: usize,
    pub name: String,
    pub size: u64,
    pub align: u64,
    pub sh_flags: u64,
    pub nobits: bool,
}

impl Section {
    pub fn alloc(&self) -> bool {
        self.sh_flags & SHF_ALLOC != 0
    }
    pub fn exec(&self) -> bool {
        self.sh_flags & SHF_EXECINSTR != 0
    }
    pub fn write(&self) -> bool {
        self.sh_flags & SHF_WRITE != 0
    }
    /// Freed after init by the module loader: laid out apart from the core.
    pub fn init(&self) -> bool {
        self.name.starts_with(".init")
    }
}

/// One row of a table, resolved to sections and symbols.
#[derive(Clone, Debug)]
pub struct TableReloc {
    pub offset: u32,
    pub r_type: u32,
    /// `None` for [`abi::OP_NOP`] and [`abi::OP_BUG`], which have no target.
    pub target: Option<Target>,
}

/// A function whose body moves.
#[derive(Clone, Debug)]
pub struct Function {
    /// The public name (now the trampoline).
    pub name: String,
    /// The section holding the pristine body and the body's offset in it.
    pub section: usize,
    pub offset: u64,
    pub size: u32,
    pub align: u32,
    pub flags: u32,
    pub call_offset: u32,
    /// Where the record says its trampoline is (section, offset), when
    /// that is in a section of the module.
    pub trampoline: Option<(usize, u64)>,
    pub relocs: Vec<TableReloc>,
    /// Which table (processed object) it comes from.
    pub table: usize,
}

#[derive(Clone, Debug)]
pub struct Excluded {
    pub name: String,
    pub reason: String,
    /// The symbol's size, when the name is found in the symbol table.
    pub size: Option<u64>,
    /// Where the symbol is (section, offset): aliases (`init_module` for
    /// the init function) share it.
    pub at: Option<(usize, u64)>,
}

/// A function that stays (see [`Module::staying`]), with the other names
/// the symbol table gives its bytes.
#[derive(Clone, Debug)]
pub struct Staying<'a> {
    pub excluded: &'a Excluded,
    pub aliases: Vec<&'a str>,
}

impl Staying<'_> {
    /// `zram_init (alias init_module)`.
    pub fn label(&self) -> String {
        if self.aliases.is_empty() {
            self.excluded.name.clone()
        } else {
            format!("{} (alias {})", self.excluded.name, self.aliases.join(", "))
        }
    }
}

/// One processed object's table.
#[derive(Clone, Debug)]
pub struct Table {
    /// Offset in [`abi::TABLE_SECTION`].
    pub offset: u64,
    pub nfuncs: u32,
    pub nrelocs: u32,
    pub nexcluded: u32,
}

#[derive(Clone, Debug)]
pub struct Module {
    pub path: String,
    /// By ELF section index (entry 0 is the null section).
    pub sections: Vec<Section>,
    pub functions: Vec<Function>,
    pub excluded: Vec<Excluded>,
    pub tables: Vec<Table>,
    /// Names of undefined symbols, sorted.
    pub undefined: Vec<String>,
    /// Relocations of every allocated section, by section index.
    pub relocs: BTreeMap<usize, Vec<RawReloc>>,
    data: HashMap<usize, Vec<u8>>,
}

/// Addresses for sections and undefined symbols.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub sections: BTreeMap<usize, u64>,
    pub symbols: BTreeMap<String, u64>,
}

impl Layout {
    pub fn resolve(&self, t: &Target) -> Option<u64> {
        let base = match &t.base {
            Base::Section(i) => *self.sections.get(i)?,
            Base::Undefined(name) => *self.symbols.get(name)?,
            Base::Absolute => 0,
        };
        Some(base.wrapping_add(t.offset as u64))
    }
}

/// `arm64`'s module area with 48-bit VAs (MODULES_VADDR .. MODULES_END):
/// where the loader puts modules and the runtime puts copies.
pub const MODULES_VADDR: u64 = 0xffff_8000_0000_0000;
pub const MODULES_END: u64 = 0xffff_8000_0800_0000;
/// KIMAGE_VADDR: the kernel image, where exported symbols live.
pub const KIMAGE_VADDR: u64 = 0xffff_8000_0800_0000;

/// `v` rounded up to a multiple of `a` (0 counts as 1).
/// A function symbol's size and place (section, offset), by name.
type FuncSymbols = HashMap<String, (u64, Option<(usize, u64)>)>;

pub fn align_up(v: u64, a: u64) -> u64 {
    let a = a.max(1);
    v.div_ceil(a).saturating_mul(a)
}

impl Module {
    pub fn read(path: &Path) -> Result<Module, Error> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| Error::Io {
            path: name.clone(),
            error,
        })?;
        Module::parse(&name, &bytes)
    }

    pub fn parse(path: &str, bytes: &[u8]) -> Result<Module, Error> {
        let corrupt = |what: String| Error::Corrupt {
            path: path.to_string(),
            what,
        };
        let file =
            object::File::parse(bytes).map_err(|e| corrupt(format!("not a readable ELF: {e}")))?;
        if file.architecture() != object::Architecture::Aarch64 {
            return Err(corrupt(format!(
                "not an arm64 object ({:?})",
                file.architecture()
            )));
        }
        // Indexed by ELF section number: entry 0 stands for SHN_UNDEF, which
        // `object` does not list.
        let mut sections = vec![Section {
            index: 0,
            name: String::new(),
            size: 0,
            align: 1,
            sh_flags: 0,
            nobits: true,
        }];
        let mut data = HashMap::new();
        for s in file.sections() {
            if s.index().0 != sections.len() {
                return Err(corrupt(format!("section #{} out of order", s.index().0)));
            }
            let name = s
                .name()
                .map_err(|e| corrupt(format!("section #{}: bad name: {e}", s.index().0)))?
                .to_string();
            let (sh_flags, nobits) = match s.flags() {
                SectionFlags::Elf { sh_flags, sh_type } => {
                    (sh_flags.0, sh_type == object::elf::SHT_NOBITS)
                }
                _ => (0, s.kind() == SectionKind::UninitializedData),
            };
            if sh_flags & SHF_ALLOC != 0 || name == abi::EXCLUDED_SECTION {
                let d = if nobits {
                    Vec::new()
                } else {
                    s.data()
                        .map_err(|e| corrupt(format!("section {name}: {e}")))?
                        .to_vec()
                };
                data.insert(s.index().0, d);
            }
            sections.push(Section {
                index: s.index().0,
                name,
                size: s.size(),
                align: s.align().max(1),
                sh_flags,
                nobits,
            });
        }
        let by_name = |n: &str| sections.iter().find(|s| s.name == n).map(|s| s.index);
        let Some(table_sec) = by_name(abi::TABLE_SECTION) else {
            return Err(Error::NotLinked {
                path: path.to_string(),
            });
        };

        let mut relocs: BTreeMap<usize, Vec<RawReloc>> = BTreeMap::new();
        for s in file.sections() {
            let i = s.index().0;
            if !data.contains_key(&i) {
                continue;
            }
            let mut v = Vec::new();
            for (offset, r) in s.relocations() {
                let r_type = match r.flags() {
                    RelocationFlags::Elf { r_type } => r_type.0,
                    _ => continue,
                };
                let target = match r.target() {
                    RelocationTarget::Symbol(si) => {
                        let sym = file.symbol_by_index(si).map_err(|e| {
                            corrupt(format!(
                                "relocation in {}: bad symbol: {e}",
                                sections[i].name
                            ))
                        })?;
                        let symbol = sym.name().unwrap_or("?").to_string();
                        let offset = (sym.address() as i64).wrapping_add(r.addend());
                        let base = match sym.section() {
                            SymbolSection::Section(x) => Base::Section(x.0),
                            SymbolSection::Undefined => Base::Undefined(symbol.clone()),
                            SymbolSection::Absolute => Base::Absolute,
                            other => {
                                return Err(corrupt(format!(
                                    "relocation in {} against symbol {symbol} in {other:?}",
                                    sections[i].name
                                )))
                            }
                        };
                        Target {
                            base,
                            offset,
                            symbol,
                        }
                    }
                    RelocationTarget::Section(x) => Target {
                        base: Base::Section(x.0),
                        offset: r.addend(),
                        symbol: sections.get(x.0).map_or("?".into(), |s| s.name.clone()),
                    },
                    RelocationTarget::Absolute => Target {
                        base: Base::Absolute,
                        offset: r.addend(),
                        symbol: String::new(),
                    },
                    _ => continue,
                };
                v.push(RawReloc {
                    offset,
                    r_type,
                    target,
                });
            }
            v.sort_by_key(|r| r.offset);
            relocs.insert(i, v);
        }

        let mut undefined: Vec<String> = file
            .symbols()
            .filter(|s| s.is_undefined() && !s.name().unwrap_or("").is_empty())
            .filter_map(|s| s.name().ok().map(str::to_string))
            .collect();
        undefined.sort();
        undefined.dedup();
        let mut func_sizes: FuncSymbols = HashMap::new();
        for s in file.symbols() {
            if s.kind() == SymbolKind::Text {
                if let Ok(n) = s.name() {
                    let at = s.section_index().map(|i| (i.0, s.address()));
                    func_sizes.entry(n.to_string()).or_insert((s.size(), at));
                }
            }
        }

        let mut m = Module {
            path: path.to_string(),
            sections,
            functions: Vec::new(),
            excluded: Vec::new(),
            tables: Vec::new(),
            undefined,
            relocs,
            data,
        };
        m.read_tables(table_sec).map_err(corrupt)?;
        m.read_excluded(&func_sizes).map_err(corrupt)?;
        Ok(m)
    }

    fn read_tables(&mut self, sec: usize) -> Result<(), String> {
        let bytes = self.data.get(&sec).cloned().unwrap_or_default();
        let empty = Vec::new();
        let rels = self.relocs.get(&sec).unwrap_or(&empty);
        let at: HashMap<u64, &RawReloc> = rels.iter().map(|r| (r.offset, r)).collect();
        let pointer = |off: u64, what: &str| -> Result<Target, String> {
            match at.get(&off) {
                Some(r) if r.r_type == reloc::R_AARCH64_ABS64 => Ok(r.target.clone()),
                Some(r) => Err(format!(
                    "{} +{off:#x} ({what}): relocation type {} instead of R_AARCH64_ABS64",
                    abi::TABLE_SECTION,
                    reloc::type_name(r.r_type)
                )),
                None => Err(format!(
                    "{} +{off:#x} ({what}): no relocation fills this pointer",
                    abi::TABLE_SECTION
                )),
            }
        };
        // Offset of a pointer into the table section itself.
        let local = |t: &Target, what: &str| -> Result<u64, String> {
            match t.base {
                Base::Section(i) if i == sec && t.offset >= 0 => Ok(t.offset as u64),
                _ => Err(format!("{what} does not point into {}", abi::TABLE_SECTION)),
            }
        };
        let mut off = 0u64;
        let len = bytes.len() as u64;
        while off + abi::HEADER_SIZE as u64 <= len {
            let Some(h) = TableHeader::read(&bytes[off as usize..]) else {
                break;
            };
            if h.magic != abi::TABLE_MAGIC {
                // Tables are 8-byte multiples placed back to back; skip padding.
                off += 8;
                continue;
            }
            let tag = format!("table at {} +{off:#x}", abi::TABLE_SECTION);
            if h.version != abi::ABI_VERSION {
                return Err(format!(
                    "{tag}: ABI version {} (this tool reads {})",
                    h.version,
                    abi::ABI_VERSION
                ));
            }
            if (h.header_size, h.func_size, h.reloc_size)
                != (
                    abi::HEADER_SIZE as u32,
                    abi::FUNC_SIZE as u32,
                    abi::RELOC_SIZE as u32,
                )
            {
                return Err(format!("{tag}: record sizes do not match the ABI"));
            }
            let me = pointer(off + abi::offsets::HEADER_SELF, "self_addr")?;
            if local(&me, "self_addr")? != off {
                return Err(format!("{tag}: self_addr points elsewhere"));
            }
            let funcs = local(
                &pointer(off + abi::offsets::HEADER_FUNCS, "funcs")?,
                "funcs",
            )?;
            let rrecs = local(
                &pointer(off + abi::offsets::HEADER_RELOCS, "relocs")?,
                "relocs",
            )?;
            let fend = (h.nfuncs as u64)
                .checked_mul(abi::FUNC_SIZE as u64)
                .and_then(|n| n.checked_add(funcs))
                .filter(|&e| e <= len)
                .ok_or_else(|| format!("{tag}: {} function records run past the end", h.nfuncs))?;
            let rend = (h.nrelocs as u64)
                .checked_mul(abi::RELOC_SIZE as u64)
                .and_then(|n| n.checked_add(rrecs))
                .filter(|&e| e <= len)
                .ok_or_else(|| {
                    format!("{tag}: {} relocation records run past the end", h.nrelocs)
                })?;
            let table = self.tables.len();
            for k in 0..h.nfuncs as u64 {
                let at_f = funcs + k * abi::FUNC_SIZE as u64;
                let f = FuncRecord::read(&bytes[at_f as usize..])
                    .ok_or_else(|| format!("{tag}: function #{k} truncated"))?;
                let tramp = pointer(at_f + abi::offsets::FUNC_TRAMPOLINE, "trampoline")?;
                let body = pointer(at_f + abi::offsets::FUNC_BODY, "body")?;
                // Named by its body (`foo_real`, local to its object): the
                // trampoline field points through the trampoline section,
                // and a weak `foo` overridden by another object names
                // nothing here.
                let name = body
                    .symbol
                    .strip_suffix(abi::BODY_SUFFIX)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(&tramp.symbol)
                    .to_string();
                let Base::Section(bsec) = body.base else {
                    return Err(format!("{tag}: body of {name} is not in a section"));
                };
                let bs = self
                    .sections
                    .get(bsec)
                    .ok_or_else(|| format!("{tag}: body of {name}: bad section"))?;
                let end = (body.offset as u64).checked_add(f.size as u64);
                if body.offset < 0 || end.is_none_or(|e| e > bs.size) || bs.nobits {
                    return Err(format!(
                        "{tag}: body of {name} ({} bytes at {} +{:#x}) is outside its section",
                        f.size, bs.name, body.offset
                    ));
                }
                if !f.align.is_power_of_two() || f.size == 0 {
                    return Err(format!(
                        "{tag}: {name}: size {} align {} are not valid",
                        f.size, f.align
                    ));
                }
                let first = f.first_reloc as u64;
                let n = f.nrelocs as u64;
                if first.checked_add(n).is_none_or(|e| e > h.nrelocs as u64) {
                    return Err(format!(
                        "{tag}: {name}: relocations {first}..+{n} outside the table's {}",
                        h.nrelocs
                    ));
                }
                let mut relocs = Vec::with_capacity(n as usize);
                for j in first..first + n {
                    let at_r = rrecs + j * abi::RELOC_SIZE as u64;
                    let r = RelocRecord::read(&bytes[at_r as usize..])
                        .ok_or_else(|| format!("{tag}: relocation #{j} truncated"))?;
                    let target = if r.r#type == abi::OP_NOP || r.r#type == abi::OP_BUG {
                        None
                    } else {
                        Some(pointer(at_r + abi::offsets::RELOC_TARGET, "target")?)
                    };
                    if r.offset >= f.size {
                        return Err(format!(
                            "{tag}: {name}: relocation at +{:#x} beyond the {}-byte body",
                            r.offset, f.size
                        ));
                    }
                    relocs.push(TableReloc {
                        offset: r.offset,
                        r_type: r.r#type,
                        target,
                    });
                }
                self.functions.push(Function {
                    name,
                    section: bsec,
                    offset: body.offset as u64,
                    size: f.size,
                    align: f.align,
                    flags: f.flags,
                    call_offset: f.call_offset,
                    trampoline: match tramp.base {
                        Base::Section(i) if tramp.offset >= 0 => Some((i, tramp.offset as u64)),
                        _ => None,
                    },
                    relocs,
                    table,
                });
            }
            self.tables.push(Table {
                offset: off,
                nfuncs: h.nfuncs,
                nrelocs: h.nrelocs,
                nexcluded: h.nexcluded,
            });
            off = fend.max(rend).max(off + abi::HEADER_SIZE as u64);
            off = align_up(off, 8);
        }
        if self.tables.is_empty() {
            return Err(format!("{} holds no table", abi::TABLE_SECTION));
        }
        Ok(())
    }

    fn read_excluded(&mut self, sizes: &FuncSymbols) -> Result<(), String> {
        let Some(sec) = self
            .sections
            .iter()
            .find(|s| s.name == abi::EXCLUDED_SECTION)
        else {
            return Ok(());
        };
        let bytes = self.data.get(&sec.index).cloned().unwrap_or_default();
        for entry in bytes.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let text = String::from_utf8_lossy(entry);
            let (name, reason) = text
                .split_once('\t')
                .ok_or_else(|| format!("{}: entry {text:?} has no tab", abi::EXCLUDED_SECTION))?;
            let sym = sizes.get(name);
            self.excluded.push(Excluded {
                name: name.to_string(),
                reason: reason.to_string(),
                size: sym.map(|s| s.0),
                at: sym.and_then(|s| s.1),
            });
        }
        Ok(())
    }

    pub fn section(&self, i: usize) -> Option<&Section> {
        self.sections.get(i)
    }

    pub fn section_by_name(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Bytes of an allocated section as in the file (before relocation).
    pub fn section_data(&self, i: usize) -> &[u8] {
        self.data.get(&i).map_or(&[], |d| d.as_slice())
    }

    /// The body's bytes as in the file: relocated fields still hold zeros.
    pub fn raw_body(&self, f: &Function) -> &[u8] {
        let d = self.section_data(f.section);
        let s = f.offset as usize;
        d.get(s..s.saturating_add(f.size as usize)).unwrap_or(&[])
    }

    /// Sections that hold at least one moving body, sorted.
    pub fn body_sections(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.functions.iter().map(|f| f.section).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The pristine body as the module loader leaves it at `layout`: every
    /// ELF relocation of the body applied. A branch the loader would send
    /// through a module PLT (out of range) keeps its unrelocated word:
    /// copies re-apply every place-dependent field anyway.
    pub fn loaded_body(&self, f: &Function, layout: &Layout) -> Vec<u8> {
        let mut out = self.raw_body(f).to_vec();
        let Some(&sec_addr) = layout.sections.get(&f.section) else {
            return out;
        };
        let start = f.offset;
        let end = start + f.size as u64;
        for r in self.relocs.get(&f.section).into_iter().flatten() {
            if r.offset < start || r.offset >= end || r.r_type == 0 {
                continue;
            }
            let Some(target) = layout.resolve(&r.target) else {
                continue;
            };
            let o = (r.offset - start) as usize;
            let place = sec_addr.wrapping_add(r.offset);
            if let Some(bytes) = out.get_mut(o..) {
                let _ = reloc::apply(bytes, place, target, r.r_type);
            }
        }
        out
    }

    /// The table rows for `f` with targets resolved at `layout`: what the
    /// runtime reads after the loader has filled the table in.
    pub fn records(&self, f: &Function, layout: &Layout) -> Result<Vec<RelocRecord>, String> {
        f.relocs
            .iter()
            .map(|r| {
                let target = match &r.target {
                    None => 0,
                    Some(t) => layout.resolve(t).ok_or_else(|| {
                        format!(
                            "{} +{:#x}: {} target {} has no address",
                            f.name,
                            r.offset,
                            reloc_name(r.r_type),
                            t.symbol
                        )
                    })?,
                };
                Ok(RelocRecord {
                    target,
                    offset: r.offset,
                    r#type: r.r_type,
                })
            })
            .collect()
    }

    /// Roughly what the module loader does (kernel/module/main.c,
    /// layout_sections): executable, then read-only, then writable sections
    /// of the core from `base`, each group page-aligned, then the init
    /// sections after them; undefined symbols get distinct addresses in the
    /// kernel image from `kernel`, in name order.
    pub fn loader_layout(&self, base: u64, kernel: u64) -> Layout {
        let mut l = Layout::default();
        let mut at = base;
        for init in [false, true] {
            for group in 0..3 {
                for s in self
                    .sections
                    .iter()
                    .filter(|s| s.alloc() && s.init() == init)
                {
                    let g = if s.exec() {
                        0
                    } else if !s.write() {
                        1
                    } else {
                        2
                    };
                    if g != group {
                        continue;
                    }
                    at = align_up(at, s.align);
                    l.sections.insert(s.index, at);
                    at = at.saturating_add(s.size);
                }
                at = align_up(at, 4096);
            }
        }
        for (k, name) in self.undefined.iter().enumerate() {
            l.symbols
                .insert(name.clone(), kernel + 0x10000 + 64 * k as u64);
        }
        l
    }

    /// Bytes of the trampolines, the tables and the slots.
    /// What stays executable at a fixed address once the runtime has
    /// poisoned the original bodies (runtime-kmod/poison.c):
    /// (trampolines, functions that stay but init code, which is freed
    /// after load, and the moving bodies' ftrace slots, which are kept).
    /// The runtime's `fixed_exec_bytes=` counts the same, plus the module
    /// PLT entries the loader filled (12 bytes each; which are filled
    /// depends on where the module was loaded).
    pub fn fixed_exec(&self) -> (u64, u64, u64) {
        let kept = self
            .functions
            .iter()
            .map(|f| 4 * f.relocs.iter().filter(|r| r.r_type == abi::OP_NOP).count() as u64)
            .sum();
        let staying = self
            .staying()
            .iter()
            .filter(|s| !s.excluded.reason.starts_with("in .init."))
            .filter_map(|s| s.excluded.size)
            .sum();
        (self.overhead().0, staying, kept)
    }

    /// The functions that stay, each once: an alias of an excluded
    /// function (`init_module` for the module_init() function,
    /// `cleanup_module` for the module_exit() one) is the same bytes, so it
    /// is folded into the first name found at its address rather than
    /// counted as a second function.
    pub fn staying(&self) -> Vec<Staying<'_>> {
        let mut v: Vec<Staying<'_>> = Vec::new();
        let mut first_at: HashMap<(usize, u64), usize> = HashMap::new();
        for e in &self.excluded {
            if let Some(&i) = e.at.and_then(|at| first_at.get(&at)) {
                v[i].aliases.push(&e.name);
                continue;
            }
            if let Some(at) = e.at {
                first_at.insert(at, v.len());
            }
            v.push(Staying {
                excluded: e,
                aliases: Vec::new(),
            });
        }
        v
    }

    pub fn overhead(&self) -> (u64, u64, u64) {
        let size = |n: &str| self.section_by_name(n).map_or(0, |s| s.size);
        // The slots share .data..ro_after_init with the module's own data.
        let slots = self.functions.len() as u64 * abi::SLOT_SIZE as u64;
        (
            size(abi::TRAMPOLINE_SECTION),
            size(abi::TABLE_SECTION),
            slots,
        )
    }
}

/// A relocation type's name; the ftrace pseudo-op reads as what it does.
pub fn reloc_name(r_type: u32) -> String {
    if r_type == abi::OP_NOP {
        "ftrace-NOP".into()
    } else if r_type == abi::OP_BUG {
        "WARN/BUG-site".into()
    } else {
        reloc::type_name(r_type)
    }
}
