//! Just enough DWARF (versions 2-5, 32/64-bit) to tell which functions take
//! arguments on the stack: the trampoline moves `sp`, so such functions
//! cannot be wrapped. No dependency: a small `.debug_info` walker.
//!
//! Input: `.debug_info`, `.debug_abbrev`, and a lookup of the relocations
//! of `.debug_info` (an object's addresses and section offsets are zero plus
//! a relocation). Output: per function entry (section index), a verdict.
//!
//! Two passes, so a large `.debug_info` costs little more than one read:
//! 1. [`Info::scan`] walks every DIE once without decoding it (attributes
//!    are skipped by form, whole DIEs at once when every form has a fixed
//!    size), validating the section as it goes, noting where each DIE
//!    starts and decoding only the `DW_AT_low_pc` of subprograms;
//! 2. [`Info::verdict`] decodes, on demand, just the DIEs a verdict needs:
//!    the subprogram, its abstract origin, their parameters and the types
//!    of those. Relocations are looked up only for the attributes read.
use std::collections::HashMap;

/// The relocation applied at an offset of `.debug_info`, if any: (section
/// index of the symbol, symbol value + addend).
pub type RelocAt<'a> = dyn Fn(u64) -> Option<(Option<usize>, i64)> + 'a;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Arguments and result in x0-x7/x8 only.
    Registers,
    /// Integer arguments beyond x0-x7: this many bytes of them on the
    /// stack at entry (AAPCS64's NSAA after the last argument, a multiple
    /// of 8), which a trampoline variant copies for the body.
    StackArgs(u64),
    /// Cannot be wrapped: why.
    Stack(String),
}

#[derive(Clone, Debug)]
enum Value {
    U(u64),
    Ref(u64),
    Addr(Option<usize>, i64),
    /// DW_FORM_string: the string starts at this offset of `.debug_info`.
    InlineStr(usize),
    /// DW_FORM_strp: at this offset of `.debug_str`.
    StrOffset(u64),
    Other,
}

const DW_TAG_ARRAY: u64 = 0x01;
const DW_TAG_CLASS: u64 = 0x02;
const DW_TAG_ENUM: u64 = 0x04;
const DW_TAG_FORMAL_PARAMETER: u64 = 0x05;
const DW_TAG_POINTER: u64 = 0x0f;
const DW_TAG_REFERENCE: u64 = 0x10;
const DW_TAG_STRUCT: u64 = 0x13;
const DW_TAG_TYPEDEF: u64 = 0x16;
const DW_TAG_UNION: u64 = 0x17;
const DW_TAG_UNSPECIFIED_PARAMETERS: u64 = 0x18;
const DW_TAG_BASE_TYPE: u64 = 0x24;
const DW_TAG_CONST: u64 = 0x26;
const DW_TAG_SUBPROGRAM: u64 = 0x2e;
const DW_TAG_VOLATILE: u64 = 0x35;
const DW_TAG_RESTRICT: u64 = 0x37;
const DW_TAG_RVALUE_REFERENCE: u64 = 0x42;
const DW_TAG_ATOMIC: u64 = 0x47;
const DW_TAG_MEMBER: u64 = 0x0d;

const DW_AT_NAME: u64 = 0x03;
const DW_AT_BYTE_SIZE: u64 = 0x0b;
const DW_AT_LOW_PC: u64 = 0x11;
const DW_AT_ABSTRACT_ORIGIN: u64 = 0x31;
const DW_AT_ENCODING: u64 = 0x3e;
const DW_AT_SPECIFICATION: u64 = 0x47;
const DW_AT_TYPE: u64 = 0x49;

const DW_ATE_COMPLEX_FLOAT: u64 = 0x03;
const DW_ATE_FLOAT: u64 = 0x04;
const DW_ATE_DECIMAL_FLOAT: u64 = 0x0f;

const DW_FORM_INDIRECT: u64 = 0x16;
const DW_FORM_IMPLICIT_CONST: u64 = 0x21;

/// Type DIEs one verdict may visit: real structs passed in registers have a
/// handful of members; a crafted file must not cost exponential time.
const TYPE_BUDGET: u32 = 4096;

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn need(&self, n: usize) -> R<()> {
        if self.pos.checked_add(n).is_some_and(|e| e <= self.b.len()) {
            Ok(())
        } else {
            Err(format!("truncated at {:#x}", self.pos))
        }
    }
    /// Little-endian, `n` bytes (bytes past the eighth are skipped).
    fn uint(&mut self, n: usize) -> R<u64> {
        self.need(n)?;
        let mut v = 0u64;
        for (i, &byte) in self.b[self.pos..self.pos + n].iter().take(8).enumerate() {
            v |= (byte as u64) << (8 * i);
        }
        self.pos += n;
        Ok(v)
    }
    fn byte(&mut self) -> R<u8> {
        match self.b.get(self.pos) {
            Some(&v) => {
                self.pos += 1;
                Ok(v)
            }
            None => Err(format!("truncated at {:#x}", self.pos)),
        }
    }
    fn skip(&mut self, n: u64) -> R<()> {
        let n = usize::try_from(n).map_err(|_| "length overflow".to_string())?;
        self.need(n)?;
        self.pos += n;
        Ok(())
    }
    fn uleb(&mut self) -> R<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.byte()? as u64;
            if shift < 64 {
                v |= (byte & 0x7f) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
    }
    fn sleb(&mut self) -> R<i64> {
        let mut v = 0i64;
        let mut shift = 0;
        loop {
            let byte = self.byte()?;
            if shift < 64 {
                v |= ((byte & 0x7f) as i64) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Ok(v);
            }
        }
    }
    fn skip_leb(&mut self) -> R<()> {
        while self.byte()? & 0x80 != 0 {}
        Ok(())
    }
    fn cstr(&mut self) -> R<()> {
        match self
            .b
            .get(self.pos..)
            .and_then(|t| t.iter().position(|&c| c == 0))
        {
            Some(n) => {
                self.pos += n + 1;
                Ok(())
            }
            None => {
                self.pos = self.b.len();
                Err(format!("truncated at {:#x}", self.pos))
            }
        }
    }
}

/// One attribute specification: (attribute, form, implicit_const).
#[derive(Clone, Copy)]
struct Spec {
    at: u64,
    form: u64,
    ic: i64,
}

struct Abbrev {
    tag: u64,
    children: bool,
    specs: Vec<Spec>,
    /// Size of the attributes when every form has a fixed size.
    fixed: Option<usize>,
}

/// One abbreviation table, for one unit shape (address and offset size,
/// version: they decide some forms' sizes).
struct Abbrevs {
    list: Vec<Abbrev>,
    /// Code -> index in `list`, for small codes (the usual 1..n).
    dense: Vec<u32>,
    sparse: HashMap<u64, u32>,
}

const NO_ABBREV: u32 = u32::MAX;
const DENSE_CODES: u64 = 1 << 16;

impl Abbrevs {
    fn get(&self, code: u64) -> Option<usize> {
        let i = if code < DENSE_CODES {
            *self.dense.get(code as usize)?
        } else {
            *self.sparse.get(&code)?
        };
        (i != NO_ABBREV).then_some(i as usize)
    }
}

/// The shape of a unit, as far as attribute sizes go.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Shape {
    offset_size: usize,
    addr_size: usize,
    version: u16,
}

/// Size of a form that does not depend on the data.
fn fixed_size(form: u64, s: Shape) -> Option<usize> {
    Some(match form {
        0x01 => s.addr_size,
        0x05 | 0x12 | 0x26 | 0x2a => 2,
        0x06 | 0x13 | 0x1c | 0x28 | 0x2c => 4,
        0x07 | 0x14 | 0x20 | 0x24 => 8,
        0x0b | 0x0c | 0x11 | 0x25 | 0x29 => 1,
        0x0e | 0x17 | 0x1d | 0x1f | 0x1f20 | 0x1f21 => s.offset_size,
        0x10 if s.version <= 2 => s.addr_size,
        0x10 => s.offset_size,
        0x19 | 0x21 => 0,
        0x1e => 16,
        0x27 | 0x2b => 3,
        _ => return None,
    })
}

fn parse_abbrevs(b: &[u8], off: u64, shape: Shape) -> R<Abbrevs> {
    let mut r = Reader {
        b,
        pos: usize::try_from(off).map_err(|_| "abbrev offset")?,
    };
    let mut out = Abbrevs {
        list: Vec::new(),
        dense: Vec::new(),
        sparse: HashMap::new(),
    };
    loop {
        let code = r.uleb()?;
        if code == 0 {
            return Ok(out);
        }
        let tag = r.uleb()?;
        let children = r.uint(1)? != 0;
        let mut specs = Vec::new();
        loop {
            let at = r.uleb()?;
            let form = r.uleb()?;
            if at == 0 && form == 0 {
                break;
            }
            let ic = if form == DW_FORM_IMPLICIT_CONST {
                r.sleb()?
            } else {
                0
            };
            specs.push(Spec { at, form, ic });
        }
        let fixed = specs
            .iter()
            .try_fold(0usize, |n, s| n.checked_add(fixed_size(s.form, shape)?));
        let idx = u32::try_from(out.list.len()).map_err(|_| "too many abbreviations")?;
        out.list.push(Abbrev {
            tag,
            children,
            specs,
            fixed,
        });
        // A repeated code: the last definition wins.
        if code < DENSE_CODES {
            let c = code as usize;
            if out.dense.len() <= c {
                out.dense.resize(c + 1, NO_ABBREV);
            }
            out.dense[c] = idx;
        } else {
            out.sparse.insert(code, idx);
        }
    }
}

struct Unit {
    /// Offset of the unit header (references are relative to it).
    start: u64,
    /// The first DIE and the end of the unit.
    dies: usize,
    end: usize,
    shape: Shape,
    abbrevs: usize,
}

/// A DIE located and its abbreviation found, attributes not decoded.
#[derive(Clone, Copy)]
struct Die {
    unit: usize,
    abbrev: usize,
    /// Where its attributes start.
    attrs: usize,
}

/// Argument class of a type: (size in bytes, floating point, alignment 16).
struct TypeInfo {
    size: u64,
    float: bool,
    align16: bool,
}

/// `.debug_info` after the scan.
struct Info<'a> {
    info: &'a [u8],
    relocs: &'a RelocAt<'a>,
    units: Vec<Unit>,
    tables: Vec<Abbrevs>,
    /// One bit per byte of `.debug_info`: a DIE starts there.
    starts: Vec<u64>,
    /// Subprograms without `DW_AT_low_pc`, by DIE offset: for
    /// [`function_verdicts`]' lookup by name.
    without_pc: Vec<u64>,
}

fn read_value(r: &mut Reader, spec: Spec, u: &Unit, relocs: &RelocAt) -> R<Value> {
    let mut form = spec.form;
    // DW_FORM_indirect: the form is in the data (a loop, not recursion:
    // a crafted chain of indirections must not exhaust the stack).
    while form == DW_FORM_INDIRECT {
        form = r.uleb()?;
    }
    let at = r.pos as u64;
    let s = u.shape;
    let rel = |stored: u64| relocs(at).map_or(stored, |(_, v)| stored.wrapping_add(v as u64));
    Ok(match form {
        0x01 => {
            let stored = r.uint(s.addr_size)?;
            match relocs(at) {
                Some((sec, v)) => Value::Addr(sec, v.wrapping_add(stored as i64)),
                None => Value::Addr(None, stored as i64),
            }
        }
        0x05 => Value::U(r.uint(2)?),
        0x06 => Value::U(r.uint(4)?),
        0x07 => Value::U(r.uint(8)?),
        0x0b => Value::U(r.uint(1)?),
        0x0d => Value::U(r.sleb()? as u64),
        0x0f => Value::U(r.uleb()?),
        0x10 => {
            let n = if s.version <= 2 {
                s.addr_size
            } else {
                s.offset_size
            };
            Value::Ref(rel(r.uint(n)?))
        }
        0x11 => Value::Ref(u.start.wrapping_add(r.uint(1)?)),
        0x12 => Value::Ref(u.start.wrapping_add(r.uint(2)?)),
        0x13 => Value::Ref(u.start.wrapping_add(r.uint(4)?)),
        0x14 => Value::Ref(u.start.wrapping_add(r.uint(8)?)),
        0x15 => Value::Ref(u.start.wrapping_add(r.uleb()?)),
        DW_FORM_IMPLICIT_CONST => Value::U(spec.ic as u64),
        0x08 => {
            r.cstr()?;
            Value::InlineStr(at as usize)
        }
        0x0e => Value::StrOffset(rel(r.uint(s.offset_size)?)),
        _ => {
            skip_form(r, form, s)?;
            Value::Other
        }
    })
}

/// Steps over one attribute of form `form` (not indirect).
fn skip_form(r: &mut Reader, form: u64, s: Shape) -> R<()> {
    if let Some(n) = fixed_size(form, s) {
        return r.skip(n as u64);
    }
    match form {
        0x03 => {
            let n = r.uint(2)?;
            r.skip(n)
        }
        0x04 => {
            let n = r.uint(4)?;
            r.skip(n)
        }
        0x08 => r.cstr(),
        0x09 | 0x18 => {
            let n = r.uleb()?;
            r.skip(n)
        }
        0x0a => {
            let n = r.uint(1)?;
            r.skip(n)
        }
        0x0d | 0x0f | 0x15 | 0x1a | 0x1b | 0x22 | 0x23 | 0x1f01 | 0x1f02 => r.skip_leb(),
        DW_FORM_INDIRECT => {
            let mut f = DW_FORM_INDIRECT;
            while f == DW_FORM_INDIRECT {
                f = r.uleb()?;
            }
            skip_form(r, f, s)
        }
        other => Err(format!("unknown DW_FORM {other:#x} at {:#x}", r.pos)),
    }
}

/// Steps over the attributes of a DIE with abbreviation `a`.
fn skip_attrs(r: &mut Reader, a: &Abbrev, s: Shape) -> R<()> {
    if let Some(n) = a.fixed {
        return r.skip(n as u64);
    }
    for spec in &a.specs {
        skip_form(r, spec.form, s)?;
    }
    Ok(())
}

impl<'a> Info<'a> {
    /// Pass 1: every unit's DIEs, checked and their starts noted; calls
    /// `subprogram(die offset, DW_AT_low_pc)` for each subprogram.
    fn scan(
        info: &'a [u8],
        abbrev: &[u8],
        relocs: &'a RelocAt<'a>,
        subprogram: &mut dyn FnMut(u64, Value),
    ) -> R<Self> {
        let mut out = Info {
            info,
            relocs,
            units: Vec::new(),
            tables: Vec::new(),
            starts: vec![0u64; info.len().div_ceil(64)],
            without_pc: Vec::new(),
        };
        let mut table_of: HashMap<(u64, Shape), usize> = HashMap::new();
        let mut r = Reader { b: info, pos: 0 };
        while r.pos < info.len() {
            let start = r.pos as u64;
            let mut len = r.uint(4)?;
            let mut offset_size = 4;
            if len == 0xffff_ffff {
                len = r.uint(8)?;
                offset_size = 8;
            }
            let body = r.pos;
            let end = body
                .checked_add(usize::try_from(len).map_err(|_| "unit length")?)
                .filter(|e| *e <= info.len())
                .ok_or_else(|| format!("unit at {start:#x} runs past the section"))?;
            let version = r.uint(2)? as u16;
            let (abbrev_at, addr_size, skip_after);
            match version {
                2..=4 => {
                    let at = r.pos as u64;
                    let stored = r.uint(offset_size)?;
                    abbrev_at = stored.wrapping_add(relocs(at).map_or(0, |x| x.1 as u64));
                    addr_size = r.uint(1)? as usize;
                    skip_after = 0;
                }
                5 => {
                    let unit_type = r.uint(1)?;
                    addr_size = r.uint(1)? as usize;
                    let at = r.pos as u64;
                    let stored = r.uint(offset_size)?;
                    abbrev_at = stored.wrapping_add(relocs(at).map_or(0, |x| x.1 as u64));
                    skip_after = match unit_type {
                        1 | 3 => 0,
                        4 | 5 => 8,
                        2 | 6 => 8 + offset_size as u64,
                        _ => u64::MAX,
                    };
                }
                v => {
                    return Err(format!(
                        "unsupported DWARF version {v} in unit at {start:#x}"
                    ))
                }
            }
            if skip_after == u64::MAX || skip_after == 8 + offset_size as u64 {
                // type or unknown units hold no functions
                r.pos = end;
                continue;
            }
            r.skip(skip_after)?;
            let shape = Shape {
                offset_size,
                addr_size,
                version,
            };
            let table = match table_of.get(&(abbrev_at, shape)) {
                Some(&t) => t,
                None => {
                    out.tables.push(parse_abbrevs(abbrev, abbrev_at, shape)?);
                    table_of.insert((abbrev_at, shape), out.tables.len() - 1);
                    out.tables.len() - 1
                }
            };
            let unit = Unit {
                start,
                dies: r.pos,
                end,
                shape,
                abbrevs: table,
            };
            if unit.dies < unit.end {
                out.scan_unit(&unit, subprogram)?;
                // Units holding DIEs are in offset order: `at` searches them.
                out.units.push(unit);
            }
            r.pos = end;
        }
        Ok(out)
    }

    fn scan_unit(&mut self, u: &Unit, subprogram: &mut dyn FnMut(u64, Value)) -> R<()> {
        let abbrevs = &self.tables[u.abbrevs];
        let mut sub = Reader {
            b: &self.info[..u.end],
            pos: u.dies,
        };
        while sub.pos < u.end {
            let off = sub.pos;
            let code = sub.uleb()?;
            if code == 0 {
                continue;
            }
            let a = abbrevs
                .get(code)
                .map(|i| &abbrevs.list[i])
                .ok_or_else(|| format!("unknown abbreviation {code} at {off:#x}"))?;
            self.starts[off / 64] |= 1 << (off % 64);
            if a.tag != DW_TAG_SUBPROGRAM {
                skip_attrs(&mut sub, a, u.shape)?;
                continue;
            }
            let mut low_pc = None;
            for &spec in &a.specs {
                if spec.at == DW_AT_LOW_PC && low_pc.is_none() {
                    low_pc = Some(read_value(&mut sub, spec, u, self.relocs)?);
                } else {
                    skip_form(&mut sub, spec.form, u.shape)?;
                }
            }
            match low_pc {
                Some(v) => subprogram(off as u64, v),
                None => self.without_pc.push(off as u64),
            }
        }
        Ok(())
    }

    /// The DIE starting at `off`, if one does (in a unit that was scanned).
    fn at(&self, off: u64) -> Option<Die> {
        let o = usize::try_from(off).ok()?;
        if o >= self.info.len() || self.starts[o / 64] & (1 << (o % 64)) == 0 {
            return None;
        }
        let k = self.units.partition_point(|u| u.dies <= o).checked_sub(1)?;
        if o >= self.units[k].end {
            return None;
        }
        self.decode(k, o).ok().flatten()
    }

    /// The entry at `pos` of unit `unit`: `None` for a null entry.
    fn decode(&self, unit: usize, pos: usize) -> R<Option<Die>> {
        let u = &self.units[unit];
        let mut r = Reader {
            b: &self.info[..u.end],
            pos,
        };
        let code = r.uleb()?;
        if code == 0 {
            return Ok(None);
        }
        let abbrev = self.tables[u.abbrevs]
            .get(code)
            .ok_or_else(|| format!("unknown abbreviation {code}"))?;
        Ok(Some(Die {
            unit,
            abbrev,
            attrs: r.pos,
        }))
    }

    fn abbrev(&self, d: Die) -> &Abbrev {
        &self.tables[self.units[d.unit].abbrevs].list[d.abbrev]
    }

    fn tag(&self, d: Die) -> u64 {
        self.abbrev(d).tag
    }

    /// The first attribute `at` of `d`.
    fn get(&self, d: Die, at: u64) -> Option<Value> {
        let u = &self.units[d.unit];
        let a = self.abbrev(d);
        let mut r = Reader {
            b: &self.info[..u.end],
            pos: d.attrs,
        };
        for &spec in &a.specs {
            if spec.at == at {
                return read_value(&mut r, spec, u, self.relocs).ok();
            }
            skip_form(&mut r, spec.form, u.shape).ok()?;
        }
        None
    }

    fn reference(&self, d: Die, at: u64) -> Option<u64> {
        match self.get(d, at) {
            Some(Value::Ref(r)) => Some(r),
            _ => None,
        }
    }

    fn udata(&self, d: Die, at: u64) -> Option<u64> {
        match self.get(d, at) {
            Some(Value::U(v)) => Some(v),
            _ => None,
        }
    }

    /// `DW_AT_name` of `d`, inline or in `debug_str` (other string forms:
    /// `None`).
    fn name<'s>(&'s self, d: Die, debug_str: &'s [u8]) -> Option<&'s [u8]> {
        let (b, at) = match self.get(d, DW_AT_NAME)? {
            Value::InlineStr(at) => (self.info, at),
            Value::StrOffset(at) => (debug_str, usize::try_from(at).ok()?),
            _ => return None,
        };
        let t = b.get(at..)?;
        Some(&t[..t.iter().position(|&c| c == 0)?])
    }

    /// Where the entry after `d` and all its descendants starts.
    fn skip_tree(&self, d: Die) -> R<usize> {
        let u = &self.units[d.unit];
        let list = &self.tables[u.abbrevs];
        let mut r = Reader {
            b: &self.info[..u.end],
            pos: d.attrs,
        };
        skip_attrs(&mut r, self.abbrev(d), u.shape)?;
        if !self.abbrev(d).children {
            return Ok(r.pos);
        }
        let mut depth = 1usize;
        while depth > 0 && r.pos < u.end {
            let code = r.uleb()?;
            if code == 0 {
                depth -= 1;
                continue;
            }
            let a = &list.list[list.get(code).ok_or("unknown abbreviation")?];
            skip_attrs(&mut r, a, u.shape)?;
            if a.children {
                depth += 1;
            }
        }
        Ok(r.pos)
    }

    /// The children of `d`, in order.
    fn children(&self, d: Die) -> Vec<Die> {
        let mut out = Vec::new();
        if !self.abbrev(d).children {
            return out;
        }
        let u = &self.units[d.unit];
        let mut r = Reader {
            b: &self.info[..u.end],
            pos: d.attrs,
        };
        if skip_attrs(&mut r, self.abbrev(d), u.shape).is_err() {
            return out;
        }
        let mut pos = r.pos;
        while pos < u.end {
            match self.decode(d.unit, pos) {
                Ok(Some(c)) => {
                    out.push(c);
                    match self.skip_tree(c) {
                        Ok(next) => pos = next,
                        Err(_) => break,
                    }
                }
                _ => break,
            }
        }
        out
    }

    fn type_info(&self, off: u64, depth: u32, budget: &mut u32) -> Option<TypeInfo> {
        if depth > 32 || *budget == 0 {
            return None;
        }
        *budget -= 1;
        let d = self.at(off)?;
        match self.tag(d) {
            DW_TAG_TYPEDEF | DW_TAG_CONST | DW_TAG_VOLATILE | DW_TAG_RESTRICT | DW_TAG_ATOMIC => {
                self.type_info(self.reference(d, DW_AT_TYPE)?, depth + 1, budget)
            }
            DW_TAG_POINTER | DW_TAG_REFERENCE | DW_TAG_RVALUE_REFERENCE | DW_TAG_ARRAY => {
                Some(TypeInfo {
                    size: 8,
                    float: false,
                    align16: false,
                })
            }
            DW_TAG_BASE_TYPE => {
                let enc = self.udata(d, DW_AT_ENCODING).unwrap_or(0);
                let size = self.udata(d, DW_AT_BYTE_SIZE)?;
                Some(TypeInfo {
                    size,
                    float: matches!(
                        enc,
                        DW_ATE_FLOAT | DW_ATE_COMPLEX_FLOAT | DW_ATE_DECIMAL_FLOAT
                    ),
                    align16: size == 16,
                })
            }
            DW_TAG_ENUM => Some(TypeInfo {
                size: self.udata(d, DW_AT_BYTE_SIZE).unwrap_or(4),
                float: false,
                align16: false,
            }),
            DW_TAG_STRUCT | DW_TAG_UNION | DW_TAG_CLASS => {
                let size = self.udata(d, DW_AT_BYTE_SIZE)?;
                let mut float = false;
                let mut align16 = false;
                if size <= 16 {
                    for m in self.children(d) {
                        if self.tag(m) == DW_TAG_MEMBER {
                            if let Some(t) = self.reference(m, DW_AT_TYPE) {
                                let ti = self.type_info(t, depth + 1, budget)?;
                                float |= ti.float;
                                align16 |= ti.align16;
                            }
                        }
                    }
                }
                Some(TypeInfo {
                    size,
                    float,
                    align16,
                })
            }
            _ => None,
        }
    }

    /// The DIE holding parameters and type of subprogram `d`: itself, or
    /// its abstract origin / specification.
    fn origins(&self, d: Die) -> Vec<Die> {
        let mut v = Vec::new();
        let mut cur = Some(d);
        let mut n = 0;
        while let Some(c) = cur {
            v.push(c);
            n += 1;
            if n > 8 {
                break;
            }
            cur = self
                .reference(c, DW_AT_ABSTRACT_ORIGIN)
                .or_else(|| self.reference(c, DW_AT_SPECIFICATION))
                .and_then(|o| self.at(o));
        }
        v
    }

    fn verdict(&self, d: Die) -> Verdict {
        let chain = self.origins(d);
        // Parameters: from the first DIE in the chain that lists any.
        let mut params: Vec<Option<u64>> = Vec::new();
        let mut variadic = false;
        for &die in &chain {
            let mut found = false;
            for child in self.children(die) {
                match self.tag(child) {
                    DW_TAG_FORMAL_PARAMETER => {
                        found = true;
                        let t = self
                            .origins(child)
                            .into_iter()
                            .find_map(|x| self.reference(x, DW_AT_TYPE));
                        params.push(t);
                    }
                    DW_TAG_UNSPECIFIED_PARAMETERS => {
                        found = true;
                        variadic = true;
                    }
                    _ => {}
                }
            }
            if found {
                break;
            }
        }
        if variadic {
            return Verdict::Stack(
                "variadic (how many bytes of arguments are on the stack is known only at each call)"
                    .into(),
            );
        }
        let mut budget = TYPE_BUDGET;
        let mut ngrn = 0u64;
        // AAPCS64 6.8.2: the next stacked argument address, from sp at entry.
        let mut nsaa = 0u64;
        for (i, t) in params.iter().enumerate() {
            let Some(t) = t else {
                return Verdict::Stack(format!("parameter {i} has no type in DWARF"));
            };
            let Some(ti) = self.type_info(*t, 0, &mut budget) else {
                return Verdict::Stack(format!("parameter {i} has a type rerand-ld cannot size"));
            };
            if ti.float {
                return Verdict::Stack(format!(
                    "floating-point parameter {i} (v0-v7 are not preserved by the trampoline)"
                ));
            }
            // AAPCS64: composites over 16 bytes go by reference (one register).
            let regs = if ti.size > 16 {
                1
            } else {
                ti.size.div_ceil(8).max(1)
            };
            if ti.align16 && regs == 2 {
                ngrn += ngrn & 1;
            }
            if ngrn + regs > 8 {
                // C.13-C.16: NGRN becomes 8 and the argument (or, over 16
                // bytes, its address) goes on the stack, at NSAA aligned to
                // max(8, its alignment), taking a multiple of 8 bytes.
                ngrn = 8;
                let size = if ti.size > 16 { 8 } else { ti.size };
                nsaa = nsaa.next_multiple_of(if ti.align16 { 16 } else { 8 });
                nsaa += size.next_multiple_of(8);
                continue;
            }
            ngrn += regs;
        }
        if let Some(rt) = chain.iter().find_map(|&x| self.reference(x, DW_AT_TYPE)) {
            if let Some(ti) = self.type_info(rt, 0, &mut budget) {
                if ti.float {
                    return Verdict::Stack(
                        "floating-point result (v0 is not preserved by the trampoline)".into(),
                    );
                }
            }
        }
        if nsaa > 0 {
            return Verdict::StackArgs(nsaa);
        }
        Verdict::Registers
    }
}

/// Verdicts of the functions in `wanted` (entry section index -> symbol
/// name), keyed by that section index.
///
/// A function is found by its `DW_AT_low_pc`, which is after the
/// `-fpatchable-function-entry` NOPs, so it is not the symbol value; with
/// one function per section the lowest entry in a section is the function.
/// A function no address names is then looked up by name among the
/// subprograms without one: GCC leaves some out-of-line functions with only
/// such an entry (seen: ext4's and btrfs's `__bpf_trace_*`, and functions
/// that compile to nothing, `ext4_ext_release`, bfq's `bfq_pd_reset_stats`).
/// A C name is the function's own in its unit, and a clone with another
/// calling convention has another name (`.isra.0`, `.constprop.0`); entries
/// of that name in several units must agree, or the function gets none.
/// The whole of `.debug_info` is checked: a malformed section is an error
/// even where no wanted function lies.
pub fn function_verdicts(
    info: &[u8],
    abbrev: &[u8],
    debug_str: &[u8],
    relocs: &RelocAt,
    wanted: &HashMap<usize, &str>,
) -> Result<HashMap<usize, Verdict>, String> {
    // section -> (lowest entry offset, its DIE); the first DIE wins ties.
    let mut best: HashMap<usize, (i64, u64)> = HashMap::new();
    let dies = Info::scan(info, abbrev, relocs, &mut |die, low_pc| {
        if let Value::Addr(Some(sec), off) = low_pc {
            if off >= 0 && wanted.contains_key(&sec) && best.get(&sec).is_none_or(|(o, _)| off < *o)
            {
                best.insert(sec, (off, die));
            }
        }
    })?;
    let mut out: HashMap<usize, Verdict> = best
        .into_iter()
        .filter_map(|(sec, (_, die))| Some((sec, dies.verdict(dies.at(die)?))))
        .collect();
    let unnamed: HashMap<&[u8], usize> = wanted
        .iter()
        .filter(|(sec, _)| !out.contains_key(sec))
        .map(|(&sec, name)| (name.as_bytes(), sec))
        .collect();
    if unnamed.is_empty() {
        return Ok(out);
    }
    // section -> the verdict every entry of its name gave (None: they differ).
    let mut by_name: HashMap<usize, Option<Verdict>> = HashMap::new();
    for &off in &dies.without_pc {
        let Some(d) = dies.at(off) else { continue };
        let Some(&sec) = dies.name(d, debug_str).and_then(|n| unnamed.get(n)) else {
            continue;
        };
        let v = dies.verdict(d);
        by_name
            .entry(sec)
            .and_modify(|seen| {
                if seen.as_ref() != Some(&v) {
                    *seen = None
                }
            })
            .or_insert(Some(v));
    }
    out.extend(by_name.into_iter().filter_map(|(sec, v)| Some((sec, v?))));
    Ok(out)
}
