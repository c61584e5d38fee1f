//! Debug relocations carried as raw bytes.
//!
//! Most relocations of a `-g` object are DWARF's: bfq-iosched.o has 880
//! relocations in its code and 20,000 in `.rela.debug_*`. The rewrite
//! changes only one thing in them: a reference through a wrapped
//! function's symbol must keep meaning the body (`foo_real`), because
//! `foo` becomes the trampoline (`Effect::KeepBody`). Parsing them into
//! `object`'s Builder and encoding them again cost a third of rerand-ld's
//! time per object, so they bypass the Builder:
//!
//! 1. [`hide`], on the file's bytes before the Builder reads them: each
//!    well-formed `.rela.debug_*` section is given the type [`MARK`],
//!    which the Builder keeps as opaque data;
//! 2. [`restore`], on the Builder: the marked sections get `SHT_RELA`
//!    back, and every entry's symbol index is checked;
//! 3. [`encode`], when the object is written: each entry's symbol is
//!    mapped to the body where needed, then to its index in the output
//!    symbol table, computed as `object`'s writer assigns them (locals
//!    first, each group in Builder order).
//!
//! Objects that skip [`hide`] take the Builder's path, and both paths give
//! the same sections with the same bytes (only file offsets differ): the
//! e2e test `raw_debug_relocations_match_the_builder` checks that.
use object::build::elf::{Builder, SectionData, SectionId};
use object::build::Id;
use object::elf;
use object::read::elf::{FileHeader, SectionHeader};
use object::LittleEndian as LE;

/// The type a hidden section carries between [`hide`] and [`restore`]:
/// one that `object`'s Builder reads as opaque data. The name is checked
/// too, so a real section of this type is never mistaken for one.
pub const MARK: elf::SectionType = elf::SHT_LLVM_DEPENDENT_LIBRARIES;
const PREFIX: &[u8] = b".rela.debug_";
const ENTRY: usize = 24;

fn is_marked(sh_type: elf::SectionType, name: &[u8]) -> bool {
    sh_type == MARK && name.starts_with(PREFIX)
}

/// Marks the well-formed `.rela.debug_*` sections of an ELF64
/// little-endian object; returns how many. Anything unexpected leaves a
/// section (or the whole object) to the Builder, which reports it.
pub fn hide(data: &mut [u8]) -> usize {
    let endian = LE;
    let mut marks = Vec::new();
    {
        let Ok(hdr) = elf::FileHeader64::<LE>::parse(&*data) else {
            return 0;
        };
        if hdr.e_shentsize(endian) as usize != 64 {
            return 0;
        }
        let Ok(sections) = hdr.sections(endian, &*data) else {
            return 0;
        };
        let Some(symtab) = sections
            .iter()
            .position(|s| s.sh_type(endian) == elf::SHT_SYMTAB)
        else {
            return 0;
        };
        let shoff = hdr.e_shoff(endian) as usize;
        for (i, sh) in sections.iter().enumerate() {
            let Ok(name) = sections.section_name(endian, sh) else {
                continue;
            };
            let flags = sh.sh_flags(endian);
            let (size, off) = (sh.sh_size(endian), sh.sh_offset(endian));
            let sound = sh.sh_type(endian) == elf::SHT_RELA
                && name.starts_with(PREFIX)
                && sh.sh_entsize(endian) == ENTRY as u64
                && size % ENTRY as u64 == 0
                && off
                    .checked_add(size)
                    .is_some_and(|e| e <= data.len() as u64)
                && sh.sh_link(endian) as usize == symtab
                && flags.contains(elf::SHF_INFO_LINK)
                && !flags.contains(elf::SHF_ALLOC)
                && !flags.contains(elf::SHF_COMPRESSED);
            if sound {
                marks.push(shoff + i * 64 + 4); // sh_type
            }
        }
    }
    for &at in &marks {
        data[at..at + 4].copy_from_slice(&MARK.0.to_le_bytes());
    }
    marks.len()
}

/// The marked sections of `b`, given their type back; `Err` names a
/// section that is not a relocation section of the symbol table, or an
/// entry whose symbol index is out of range (a marked section may come
/// from the input itself, not from [`hide`]).
pub fn restore(b: &mut Builder) -> Result<Vec<SectionId>, String> {
    let nsyms = b.symbols.into_iter().count();
    let symtab = b
        .sections
        .iter()
        .find(|s| matches!(s.data, SectionData::Symbol))
        .map(|s| s.id());
    let mut ids = Vec::new();
    for sec in &mut b.sections {
        if !is_marked(sec.sh_type, &sec.name) {
            continue;
        }
        let SectionData::Data(d) = &sec.data else {
            continue;
        };
        if d.len() % ENTRY != 0 {
            return Err(format!("{}: size not a multiple of {ENTRY}", sec.name));
        }
        if symtab.is_none() || sec.sh_link_section != symtab || sec.sh_info_section.is_none() {
            return Err(format!(
                "{}: not linked to the symbol table and a target section",
                sec.name
            ));
        }
        for (k, e) in entries(d).enumerate() {
            if e.sym as usize > nsyms {
                return Err(format!(
                    "{}: relocation {k}: symbol index {} out of range",
                    sec.name, e.sym
                ));
            }
        }
        sec.sh_type = elf::SHT_RELA;
        ids.push(sec.id());
    }
    Ok(ids)
}

/// One raw entry; `sym` is the ELF index of the input (0: none).
#[derive(Clone, Copy)]
pub struct Entry {
    pub offset: u64,
    pub sym: u32,
    pub addend: i64,
}

impl Entry {
    /// The Builder's index of the entry's symbol (`SymbolId::index()`):
    /// the ELF index - 1, as the Builder numbers what it reads.
    pub fn symbol(&self) -> Option<usize> {
        (self.sym != 0).then(|| self.sym as usize - 1)
    }
}

pub fn entries(d: &[u8]) -> impl Iterator<Item = Entry> + '_ {
    d.chunks_exact(ENTRY).map(decode)
}

/// How many entries `d` holds.
pub fn count(d: &[u8]) -> usize {
    d.len() / ENTRY
}

/// Entry `k` of `d` (`k < count(d)`).
pub fn entry(d: &[u8], k: usize) -> Entry {
    decode(&d[k * ENTRY..(k + 1) * ENTRY])
}

fn decode(e: &[u8]) -> Entry {
    let word = |k: usize| u64::from_le_bytes(e[k..k + 8].try_into().unwrap());
    Entry {
        offset: word(0),
        sym: (word(8) >> 32) as u32,
        addend: word(16) as i64,
    }
}

/// The raw sections' bytes for the output: each symbol passed through
/// `to_body` (a wrapped function's symbol to its body's), then renumbered
/// as `object`'s writer numbers the symbol table.
pub fn encode(
    b: &mut Builder,
    raw: &[SectionId],
    to_body: &dyn Fn(usize) -> Option<usize>,
) -> Result<(), String> {
    if raw.is_empty() {
        return Ok(());
    }
    let len = b
        .symbols
        .into_iter()
        .map(|s| s.id().index() + 1)
        .max()
        .unwrap_or(0);
    let mut out_index = vec![0u32; len];
    let mut next = 1u32;
    for local in [true, false] {
        for sym in &b.symbols {
            if (sym.st_bind() == elf::STB_LOCAL) == local {
                out_index[sym.id().index()] = next;
                next += 1;
            }
        }
    }
    for &id in raw {
        let sec = b.sections.get_mut(id);
        let SectionData::Data(d) = &mut sec.data else {
            continue;
        };
        let mut bytes = d.as_slice().to_vec();
        for (e, chunk) in entries(d).zip(bytes.chunks_exact_mut(ENTRY)) {
            let Some(sym) = e.symbol() else { continue };
            let sym = to_body(sym).unwrap_or(sym);
            let new = out_index.get(sym).copied().unwrap_or(0);
            if new == 0 {
                return Err(format!("{}: a relocation's symbol was deleted", sec.name));
            }
            let info = u64::from_le_bytes(chunk[8..16].try_into().unwrap());
            let info = (u64::from(new) << 32) | (info & 0xffff_ffff);
            chunk[8..16].copy_from_slice(&info.to_le_bytes());
        }
        *d = bytes.into();
    }
    Ok(())
}
