//! Structure-aware mutations for the `rewrite_structured` fuzz target:
//! the fuzz input is not an object but a list of edits applied to one of a
//! few real aarch64 objects (in `fuzz/seeds/`), so most inputs get past the
//! ELF checks and reach relocations, symbols and DWARF.
//!
//! Shared (by `#[path]`) with `tests/fuzz_corpus.rs`, which replays the
//! corpus on stable Rust without the fuzz engine.
//!
//! Input: one byte choosing the base object, then 8-byte edits
//! `[kind, a_lo, a_hi, w, v0, v1, v2, v3]`: `a` picks what to edit (a
//! section, a relocation, a symbol...), `w` the field/width/value flavour,
//! `v` the value or an offset. Edits address the base's layout, read once
//! from the pristine base: a later edit may still land on bytes an earlier
//! one broke, which is the point.

/// The real objects edits apply to.
pub const BASES: &[&[u8]] = &[
    // tests/fixtures/funcs.c, kernel flags, -g (DWARF 5)
    include_bytes!("../seeds/funcs.o"),
    // tests/test_driver: a module object
    include_bytes!("../seeds/test_driver.o"),
    // tests/torture/torture_a.c: __bug_table, more DWARF
    include_bytes!("../seeds/torture_a.o"),
];

#[derive(Clone, Copy, Debug)]
struct Sec {
    /// Offset of its section header.
    hdr: usize,
    sh_type: u32,
    offset: usize,
    size: usize,
    entsize: usize,
    name: [u8; 16],
}

fn le(b: &[u8], at: usize, n: usize) -> u64 {
    let mut v = 0u64;
    for i in 0..n {
        v |= (*b.get(at + i).unwrap_or(&0) as u64) << (8 * i);
    }
    v
}

/// Section headers of a well-formed ELF64 object (the bases are).
fn sections(b: &[u8]) -> Vec<Sec> {
    let shoff = le(b, 0x28, 8) as usize;
    let shnum = le(b, 0x3c, 2) as usize;
    let shstrndx = le(b, 0x3e, 2) as usize;
    let raw: Vec<(usize, u32, u32, usize, usize, usize)> = (0..shnum)
        .map(|i| {
            let h = shoff + 64 * i;
            (
                h,
                le(b, h, 4) as u32,
                le(b, h + 4, 4) as u32,
                le(b, h + 0x18, 8) as usize,
                le(b, h + 0x20, 8) as usize,
                le(b, h + 0x38, 8) as usize,
            )
        })
        .collect();
    let strtab = raw.get(shstrndx).map_or(0, |s| s.3);
    raw.iter()
        .map(|&(hdr, name_off, sh_type, offset, size, entsize)| {
            let mut name = [0u8; 16];
            for (k, c) in name.iter_mut().enumerate() {
                *c = *b.get(strtab + name_off as usize + k).unwrap_or(&0);
                if *c == 0 {
                    break;
                }
            }
            Sec {
                hdr,
                sh_type,
                offset,
                size,
                entsize,
                name,
            }
        })
        .collect()
}

fn named(s: &Sec, prefix: &[u8]) -> bool {
    s.name.starts_with(prefix)
}

/// Writes the low `n` bytes of `v` at `at`, where they fit.
fn put(obj: &mut [u8], at: usize, n: usize, v: u64) {
    for i in 0..n {
        if let Some(b) = obj.get_mut(at.wrapping_add(i)) {
            *b = (v >> (8 * i)) as u8;
        }
    }
}

/// A value of some interesting flavour.
fn value(w: u8, v: u32, len: usize) -> u64 {
    let v64 = v as u64;
    match w & 7 {
        0 => v64,
        1 => u64::MAX - v64,
        2 => 0,
        3 => v64 << 32,
        4 => (len as u64).wrapping_add(v64 % 64).wrapping_sub(32),
        5 => 1u64 << (v % 64),
        6 => (v64 as i32 as i64) as u64,
        _ => v64 & 0xff,
    }
}

/// The base object chosen by `input[0]` with `input[1..]`'s edits applied.
pub fn mutate(input: &[u8]) -> Vec<u8> {
    let Some((&sel, mut ops)) = input.split_first() else {
        return BASES[0].to_vec();
    };
    let base = BASES[sel as usize % BASES.len()];
    let secs = sections(base);
    let pick = |f: &dyn Fn(&Sec) -> bool, a: usize| -> Option<Sec> {
        let v: Vec<&Sec> = secs.iter().filter(|s| f(s)).collect();
        (!v.is_empty()).then(|| *v[a % v.len()])
    };
    let mut obj = base.to_vec();
    while ops.len() >= 8 {
        let (op, rest) = ops.split_at(8);
        ops = rest;
        let kind = op[0] % 10;
        let a = u16::from_le_bytes([op[1], op[2]]) as usize;
        let w = op[3];
        let v = u32::from_le_bytes([op[4], op[5], op[6], op[7]]);
        let width = [1usize, 2, 4, 8][(w >> 6) as usize];
        let val = value(w, v, obj.len());
        match kind {
            // ELF header field
            0 => put(&mut obj, a % 64, width, val),
            // section header field
            1 => {
                if let Some(s) = pick(&|_| true, a) {
                    put(
                        &mut obj,
                        s.hdr + (w as usize >> 3) % 64,
                        width,
                        value(w, v, s.size),
                    );
                }
            }
            // relocation entry field: r_offset, r_info (symbol, type), r_addend
            2 | 3 => {
                if let Some(s) = pick(&|s| s.sh_type == 4, a) {
                    let n = s.size / 24;
                    if n > 0 {
                        let at = s.offset + 24 * (v as usize % n);
                        let (field, fw) = match w & 3 {
                            0 => (0, 8),
                            1 => (8, 4),  // type
                            2 => (12, 4), // symbol
                            _ => (16, 8),
                        };
                        let fv = match w & 3 {
                            1 => {
                                [0, 257, 260, 275, 277, 282, 283, 299, 1024][(w as usize >> 2) % 9]
                            }
                            2 => (w as u64 >> 2) % 64,
                            _ => value(w >> 2, v >> 8, s.size),
                        };
                        put(&mut obj, at + field, fw, fv);
                    }
                }
            }
            // symbol entry field
            4 => {
                if let Some(s) = pick(&|s| s.sh_type == 2, a) {
                    let n = s.size / 24;
                    if n > 0 {
                        let at = s.offset + 24 * (v as usize % n);
                        let off = [0usize, 4, 5, 6, 8, 16][(w as usize) % 6];
                        let fw = [4usize, 1, 1, 2, 8, 8][(w as usize) % 6];
                        put(&mut obj, at + off, fw, value(w >> 3, v >> 8, s.size));
                    }
                }
            }
            // a byte of DWARF
            5 => {
                if let Some(s) = pick(
                    &|s| named(s, b".debug_info") || named(s, b".debug_abbrev"),
                    a,
                ) {
                    if s.size > 0 {
                        put(&mut obj, s.offset + v as usize % s.size, 1, w as u64);
                    }
                }
            }
            // a byte of any section's contents
            6 => {
                if let Some(s) = pick(&|s| s.sh_type != 8 && s.size > 0, a) {
                    put(&mut obj, s.offset + v as usize % s.size, width, val);
                }
            }
            // truncate
            7 => {
                let n = obj.len();
                obj.truncate(v as usize % (n + 1));
            }
            // copy one section header over another (names, types, links)
            8 => {
                let (Some(x), Some(y)) = (pick(&|_| true, a), pick(&|_| true, v as usize)) else {
                    continue;
                };
                let from = (w as usize) % 64;
                for i in from..64 {
                    let b = *obj.get(x.hdr + i).unwrap_or(&0);
                    put(&mut obj, y.hdr + i, 1, b as u64);
                }
            }
            // a section's entsize / size / offset set to something odd
            _ => {
                if let Some(s) = pick(&|_| true, a) {
                    let field = [0x20usize, 0x18, 0x38, 0x28, 0x2c][(w as usize) % 5];
                    let base = if field == 0x38 { s.entsize } else { s.size };
                    put(&mut obj, s.hdr + field, 8, value(w >> 3, v, base));
                }
            }
        }
    }
    obj
}
