//! Just enough DWARF (versions 2-5, 32/64-bit) to tell which functions take
//! arguments on the stack: the trampoline moves `sp`, so such functions
//! cannot be wrapped. No dependency: a small `.debug_info` walker.
//!
//! Input: `.debug_info`, `.debug_abbrev`, and the relocations of
//! `.debug_info` (an object's addresses and section offsets are zero plus a
//! relocation). Output: per function entry (section index, offset), a
//! verdict.
use std::collections::HashMap;

/// Where a relocated value points: (section index of the symbol, symbol
/// value + addend).
pub type RelocMap = HashMap<u64, (Option<usize>, i64)>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Arguments and result in x0-x7/x8 only.
    Registers,
    /// Cannot be wrapped: why.
    Stack(String),
}

#[derive(Clone, Debug)]
enum Value {
    U(u64),
    Ref(u64),
    Addr(Option<usize>, i64),
    Flag,
    Other,
}

struct Die {
    tag: u64,
    attrs: Vec<(u64, Value)>,
    children: Vec<usize>,
}

impl Die {
    fn get(&self, at: u64) -> Option<&Value> {
        self.attrs.iter().find(|(a, _)| *a == at).map(|(_, v)| v)
    }
    fn reference(&self, at: u64) -> Option<u64> {
        match self.get(at) {
            Some(Value::Ref(r)) => Some(*r),
            _ => None,
        }
    }
    fn udata(&self, at: u64) -> Option<u64> {
        match self.get(at) {
            Some(Value::U(v)) => Some(*v),
            _ => None,
        }
    }
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

const DW_AT_BYTE_SIZE: u64 = 0x0b;
const DW_AT_LOW_PC: u64 = 0x11;
const DW_AT_ABSTRACT_ORIGIN: u64 = 0x31;
const DW_AT_ENCODING: u64 = 0x3e;
const DW_AT_SPECIFICATION: u64 = 0x47;
const DW_AT_TYPE: u64 = 0x49;

const DW_ATE_COMPLEX_FLOAT: u64 = 0x03;
const DW_ATE_FLOAT: u64 = 0x04;
const DW_ATE_DECIMAL_FLOAT: u64 = 0x0f;

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
    fn uint(&mut self, n: usize) -> R<u64> {
        self.need(n)?;
        let mut v = 0u64;
        for i in 0..n {
            v |= (self.b[self.pos + i] as u64) << (8 * i);
        }
        self.pos += n;
        Ok(v)
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
            let byte = self.uint(1)?;
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
            let byte = self.uint(1)?;
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
    fn cstr(&mut self) -> R<()> {
        while self.uint(1)? != 0 {}
        Ok(())
    }
}

struct Abbrev {
    tag: u64,
    children: bool,
    /// (attribute, form, implicit_const)
    specs: Vec<(u64, u64, i64)>,
}

fn parse_abbrevs(b: &[u8], off: u64) -> R<HashMap<u64, Abbrev>> {
    let mut r = Reader {
        b,
        pos: usize::try_from(off).map_err(|_| "abbrev offset")?,
    };
    let mut out = HashMap::new();
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
            let ic = if form == 0x21 { r.sleb()? } else { 0 };
            specs.push((at, form, ic));
        }
        out.insert(
            code,
            Abbrev {
                tag,
                children,
                specs,
            },
        );
    }
}

struct Unit {
    start: u64,
    offset_size: usize,
    addr_size: usize,
    version: u16,
}

fn read_value(r: &mut Reader, form: u64, ic: i64, u: &Unit, relocs: &RelocMap) -> R<Value> {
    let at = r.pos as u64;
    let reloc = relocs.get(&at).copied();
    let relocated = |stored: u64| match reloc {
        Some((_, v)) => stored.wrapping_add(v as u64),
        None => stored,
    };
    Ok(match form {
        0x01 => {
            let stored = r.uint(u.addr_size)?;
            match reloc {
                Some((sec, v)) => Value::Addr(sec, v.wrapping_add(stored as i64)),
                None => Value::Addr(None, stored as i64),
            }
        }
        0x03 => {
            let n = r.uint(2)?;
            r.skip(n)?;
            Value::Other
        }
        0x04 => {
            let n = r.uint(4)?;
            r.skip(n)?;
            Value::Other
        }
        0x05 => Value::U(r.uint(2)?),
        0x06 => Value::U(r.uint(4)?),
        0x07 => Value::U(r.uint(8)?),
        0x08 => {
            r.cstr()?;
            Value::Other
        }
        0x09 | 0x18 => {
            let n = r.uleb()?;
            r.skip(n)?;
            Value::Other
        }
        0x0a => {
            let n = r.uint(1)?;
            r.skip(n)?;
            Value::Other
        }
        0x0b => Value::U(r.uint(1)?),
        0x0c => {
            r.uint(1)?;
            Value::Flag
        }
        0x0d => Value::U(r.sleb()? as u64),
        0x0f => Value::U(r.uleb()?),
        0x0e | 0x17 | 0x1d | 0x1f | 0x1f20 | 0x1f21 => {
            let _ = r.uint(u.offset_size)?;
            Value::Other
        }
        0x10 => {
            let n = if u.version <= 2 {
                u.addr_size
            } else {
                u.offset_size
            };
            let stored = r.uint(n)?;
            Value::Ref(relocated(stored))
        }
        0x11 => Value::Ref(u.start + r.uint(1)?),
        0x12 => Value::Ref(u.start + r.uint(2)?),
        0x13 => Value::Ref(u.start + r.uint(4)?),
        0x14 => Value::Ref(u.start + r.uint(8)?),
        0x15 => Value::Ref(u.start + r.uleb()?),
        0x16 => {
            let f = r.uleb()?;
            return read_value(r, f, ic, u, relocs);
        }
        0x19 => Value::Flag,
        0x1a | 0x1b | 0x22 | 0x23 | 0x1f01 | 0x1f02 => {
            r.uleb()?;
            Value::Other
        }
        0x1c => {
            r.uint(4)?;
            Value::Other
        }
        0x1e => {
            r.skip(16)?;
            Value::Other
        }
        0x20 | 0x24 => {
            r.uint(8)?;
            Value::Other
        }
        0x21 => Value::U(ic as u64),
        0x25 | 0x29 => {
            r.uint(1)?;
            Value::Other
        }
        0x26 | 0x2a => {
            r.uint(2)?;
            Value::Other
        }
        0x27 | 0x2b => {
            r.uint(3)?;
            Value::Other
        }
        0x28 | 0x2c => {
            r.uint(4)?;
            Value::Other
        }
        other => return Err(format!("unknown DW_FORM {other:#x} at {at:#x}")),
    })
}

/// All DIEs of `.debug_info`, by offset.
struct Dies {
    dies: Vec<Die>,
    by_offset: HashMap<u64, usize>,
}

fn parse(info: &[u8], abbrev: &[u8], relocs: &RelocMap) -> R<Dies> {
    let mut out = Dies {
        dies: Vec::new(),
        by_offset: HashMap::new(),
    };
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
                abbrev_at = stored.wrapping_add(relocs.get(&at).map_or(0, |x| x.1 as u64));
                addr_size = r.uint(1)? as usize;
                skip_after = 0;
            }
            5 => {
                let unit_type = r.uint(1)?;
                addr_size = r.uint(1)? as usize;
                let at = r.pos as u64;
                let stored = r.uint(offset_size)?;
                abbrev_at = stored.wrapping_add(relocs.get(&at).map_or(0, |x| x.1 as u64));
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
        let abbrevs = parse_abbrevs(abbrev, abbrev_at)?;
        let unit = Unit {
            start,
            offset_size,
            addr_size,
            version,
        };
        let mut stack: Vec<usize> = Vec::new();
        let mut sub = Reader {
            b: &info[..end],
            pos: r.pos,
        };
        while sub.pos < end {
            let off = sub.pos as u64;
            let code = sub.uleb()?;
            if code == 0 {
                stack.pop();
                continue;
            }
            let a = abbrevs
                .get(&code)
                .ok_or_else(|| format!("unknown abbreviation {code} at {off:#x}"))?;
            let mut attrs = Vec::with_capacity(a.specs.len());
            for &(at, form, ic) in &a.specs {
                attrs.push((at, read_value(&mut sub, form, ic, &unit, relocs)?));
            }
            let idx = out.dies.len();
            out.dies.push(Die {
                tag: a.tag,
                attrs,
                children: Vec::new(),
            });
            out.by_offset.insert(off, idx);
            if let Some(&p) = stack.last() {
                out.dies[p].children.push(idx);
            }
            if a.children {
                stack.push(idx);
            }
        }
        r.pos = end;
    }
    Ok(out)
}

/// Argument class of a type: (size in bytes, floating point, alignment 16).
struct TypeInfo {
    size: u64,
    float: bool,
    align16: bool,
}

impl Dies {
    fn at(&self, off: u64) -> Option<&Die> {
        self.by_offset.get(&off).map(|&i| &self.dies[i])
    }

    fn type_info(&self, off: u64, depth: u32) -> Option<TypeInfo> {
        if depth > 32 {
            return None;
        }
        let d = self.at(off)?;
        match d.tag {
            DW_TAG_TYPEDEF | DW_TAG_CONST | DW_TAG_VOLATILE | DW_TAG_RESTRICT | DW_TAG_ATOMIC => {
                self.type_info(d.reference(DW_AT_TYPE)?, depth + 1)
            }
            DW_TAG_POINTER | DW_TAG_REFERENCE | DW_TAG_RVALUE_REFERENCE | DW_TAG_ARRAY => {
                Some(TypeInfo {
                    size: 8,
                    float: false,
                    align16: false,
                })
            }
            DW_TAG_BASE_TYPE => {
                let enc = d.udata(DW_AT_ENCODING).unwrap_or(0);
                let size = d.udata(DW_AT_BYTE_SIZE)?;
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
                size: d.udata(DW_AT_BYTE_SIZE).unwrap_or(4),
                float: false,
                align16: false,
            }),
            DW_TAG_STRUCT | DW_TAG_UNION | DW_TAG_CLASS => {
                let size = d.udata(DW_AT_BYTE_SIZE)?;
                let mut float = false;
                let mut align16 = false;
                if size <= 16 {
                    for &c in &d.children {
                        let m = &self.dies[c];
                        if m.tag == DW_TAG_MEMBER {
                            if let Some(t) = m.reference(DW_AT_TYPE) {
                                let ti = self.type_info(t, depth + 1)?;
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
    fn origins<'a>(&'a self, d: &'a Die) -> Vec<&'a Die> {
        let mut v = Vec::new();
        let mut cur = Some(d);
        let mut n = 0;
        while let Some(c) = cur {
            v.push(c);
            n += 1;
            if n > 8 {
                break;
            }
            cur = c
                .reference(DW_AT_ABSTRACT_ORIGIN)
                .or_else(|| c.reference(DW_AT_SPECIFICATION))
                .and_then(|o| self.at(o));
        }
        v
    }

    fn verdict(&self, d: &Die) -> Verdict {
        let chain = self.origins(d);
        // Parameters: from the first DIE in the chain that lists any.
        let mut params: Vec<Option<u64>> = Vec::new();
        let mut variadic = false;
        for die in &chain {
            let mut found = false;
            for &c in &die.children {
                let child = &self.dies[c];
                match child.tag {
                    DW_TAG_FORMAL_PARAMETER => {
                        found = true;
                        let t = self
                            .origins(child)
                            .iter()
                            .find_map(|x| x.reference(DW_AT_TYPE));
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
            return Verdict::Stack("variadic (arguments may be on the stack)".into());
        }
        let mut ngrn = 0u64;
        for (i, t) in params.iter().enumerate() {
            let Some(t) = t else {
                return Verdict::Stack(format!("parameter {i} has no type in DWARF"));
            };
            let Some(ti) = self.type_info(*t, 0) else {
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
                return Verdict::Stack(format!(
                    "stack-passed arguments: {} parameters need more than 8 integer registers",
                    params.len()
                ));
            }
            ngrn += regs;
        }
        if let Some(rt) = chain.iter().find_map(|x| x.reference(DW_AT_TYPE)) {
            if let Some(ti) = self.type_info(rt, 0) {
                if ti.float {
                    return Verdict::Stack(
                        "floating-point result (v0 is not preserved by the trampoline)".into(),
                    );
                }
            }
        }
        Verdict::Registers
    }
}

/// Verdicts of every function with an address in `.debug_info`, keyed by
/// the section index of its entry. `DW_AT_low_pc` is after the
/// `-fpatchable-function-entry` NOPs, so it is not the symbol value; with
/// one function per section the lowest entry in a section is the function.
pub fn function_verdicts(
    info: &[u8],
    abbrev: &[u8],
    relocs: &RelocMap,
) -> Result<HashMap<usize, Verdict>, String> {
    let dies = parse(info, abbrev, relocs)?;
    let mut best: HashMap<usize, (i64, Verdict)> = HashMap::new();
    for d in &dies.dies {
        if d.tag != DW_TAG_SUBPROGRAM {
            continue;
        }
        if let Some(Value::Addr(Some(sec), off)) = d.get(DW_AT_LOW_PC) {
            if *off >= 0 && best.get(sec).is_none_or(|(o, _)| *off < *o) {
                best.insert(*sec, (*off, dies.verdict(d)));
            }
        }
    }
    Ok(best.into_iter().map(|(k, (_, v))| (k, v)).collect())
}
