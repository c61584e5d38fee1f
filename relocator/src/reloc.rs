//! The AArch64 relocation engine, as one data table.
//!
//! Every relocation type that appears in arm64 kernel module text is one row
//! of [`TYPES`]: how the value X is computed, which bits of X go where, the
//! overflow check and the alignment X must have. `apply`, `encode` and
//! `decode` interpret the row; they hold no per-type code, so the C twin
//! (`runtime-kmod/reloc.c`) can carry the same table and stay in step.
//!
//! References are to "ELF for the Arm 64-bit Architecture (AArch64)"
//! (aaelf64, ARM-software/abi-aa), section 5.7.3.3 for the operations
//! (S, A, P, Page), 5.7.5 and 5.7.6 for the tables the rows transcribe.
//!
//! Nothing here panics on bad input: short buffers, misaligned places,
//! unknown types and values that do not fit are [`RelocError`]s. A value is
//! never silently truncated, except by the `_NC` types, whose definition is
//! to keep only the field's bits.

use std::fmt;

pub const R_AARCH64_ABS64: u32 = 257;
pub const R_AARCH64_ABS32: u32 = 258;
pub const R_AARCH64_ABS16: u32 = 259;
pub const R_AARCH64_PREL64: u32 = 260;
pub const R_AARCH64_PREL32: u32 = 261;
pub const R_AARCH64_PREL16: u32 = 262;
pub const R_AARCH64_MOVW_UABS_G0: u32 = 263;
pub const R_AARCH64_MOVW_UABS_G0_NC: u32 = 264;
pub const R_AARCH64_MOVW_UABS_G1: u32 = 265;
pub const R_AARCH64_MOVW_UABS_G1_NC: u32 = 266;
pub const R_AARCH64_MOVW_UABS_G2: u32 = 267;
pub const R_AARCH64_MOVW_UABS_G2_NC: u32 = 268;
pub const R_AARCH64_MOVW_UABS_G3: u32 = 269;
pub const R_AARCH64_LD_PREL_LO19: u32 = 273;
pub const R_AARCH64_ADR_PREL_LO21: u32 = 274;
pub const R_AARCH64_ADR_PREL_PG_HI21: u32 = 275;
pub const R_AARCH64_ADR_PREL_PG_HI21_NC: u32 = 276;
pub const R_AARCH64_ADD_ABS_LO12_NC: u32 = 277;
pub const R_AARCH64_LDST8_ABS_LO12_NC: u32 = 278;
pub const R_AARCH64_TSTBR14: u32 = 279;
pub const R_AARCH64_CONDBR19: u32 = 280;
pub const R_AARCH64_JUMP26: u32 = 282;
pub const R_AARCH64_CALL26: u32 = 283;
pub const R_AARCH64_LDST16_ABS_LO12_NC: u32 = 284;
pub const R_AARCH64_LDST32_ABS_LO12_NC: u32 = 285;
pub const R_AARCH64_LDST64_ABS_LO12_NC: u32 = 286;
pub const R_AARCH64_LDST128_ABS_LO12_NC: u32 = 299;

/// How X is computed from the target T = S + A and the place P (aaelf64 5.7.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calc {
    /// X = S + A: the value does not depend on where the body is.
    Abs,
    /// X = S + A - P.
    Prel,
    /// X = Page(S + A) - Page(P), Page(x) = x & !0xfff.
    Page,
}

/// Where the selected bits of X are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A little-endian datum of this many bytes at a byte-aligned place.
    Data(u8),
    /// The `bits`-wide immediate at bit `lsb` of an instruction word. The
    /// whole immediate is rewritten, even where X supplies fewer bits (the
    /// scaled LD/ST offsets), so stale high bits cannot survive.
    Insn { lsb: u8, bits: u8 },
    /// ADR/ADRP's 21-bit immediate, split into immlo [30:29] and immhi [23:5].
    Adr,
}

/// The overflow check on X, as the aaelf64 tables state it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// `_NC` types, and those whose field holds all 64 bits.
    None,
    /// -2^n <= X < 2^n.
    Signed(u8),
    /// 0 <= X < 2^n.
    Unsigned(u8),
    /// -2^(n-1) <= X < 2^n: narrow data read as either signed or unsigned.
    Either(u8),
}

/// One row of the relocation table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelocType {
    pub number: u32,
    pub name: &'static str,
    pub calc: Calc,
    pub field: Field,
    /// The field receives X bits [msb:lsb], written as in the aaelf64 tables.
    pub bits: (u8, u8),
    pub check: Check,
    /// X must be a multiple of this: branch and literal offsets count
    /// words, scaled LD/ST offsets count datums (aaelf64 5.7.6 notes).
    pub align: u8,
    /// A branch a copy may redirect through a veneer when out of range
    /// (aaelf64 5.7.7 lets a linker do the same).
    pub veneer: bool,
    /// The aaelf64 section and table the row transcribes.
    pub spec: &'static str,
}

const DATA: &str = "aaelf64 5.7.5, table \"Data relocations\"";
const MOVW: &str = "aaelf64 5.7.6, table \"Group relocations to create a 16-, 32-, 48-, or 64-bit unsigned data value or address inline\"";
const PCREL: &str =
    "aaelf64 5.7.6, table \"Relocations to generate 19, 21 and 33 bit PC-relative addresses\"";
const BRANCH: &str =
    "aaelf64 5.7.6, table \"Relocations for control-flow instructions\"; veneers per 5.7.7";

const MOVW_IMM: Field = Field::Insn { lsb: 5, bits: 16 };
const IMM12: Field = Field::Insn { lsb: 10, bits: 12 };
const IMM19: Field = Field::Insn { lsb: 5, bits: 19 };

// One argument per table column: the rows read like the aaelf64 tables.
#[allow(clippy::too_many_arguments)]
const fn row(
    number: u32,
    name: &'static str,
    calc: Calc,
    field: Field,
    bits: (u8, u8),
    check: Check,
    align: u8,
    spec: &'static str,
) -> RelocType {
    RelocType {
        number,
        name,
        calc,
        field,
        bits,
        check,
        align,
        veneer: false,
        spec,
    }
}

const fn branch(number: u32, name: &'static str, field: Field, msb: u8) -> RelocType {
    RelocType {
        veneer: true,
        ..row(
            number,
            name,
            Calc::Prel,
            field,
            (msb, 2),
            Check::Signed(msb),
            4,
            BRANCH,
        )
    }
}

use Calc::{Abs, Page, Prel};
use Check::{Either, Signed, Unsigned};

/// The table. Ordered by number, so [`lookup`] can binary-search.
#[rustfmt::skip]
pub static TYPES: [RelocType; 27] = [
    row(257, "R_AARCH64_ABS64", Abs, Field::Data(8), (63, 0), Check::None, 1, DATA),
    row(258, "R_AARCH64_ABS32", Abs, Field::Data(4), (31, 0), Either(32), 1, DATA),
    row(259, "R_AARCH64_ABS16", Abs, Field::Data(2), (15, 0), Either(16), 1, DATA),
    row(260, "R_AARCH64_PREL64", Prel, Field::Data(8), (63, 0), Check::None, 1, DATA),
    row(261, "R_AARCH64_PREL32", Prel, Field::Data(4), (31, 0), Signed(31), 1, DATA),
    row(262, "R_AARCH64_PREL16", Prel, Field::Data(2), (15, 0), Signed(15), 1, DATA),
    row(263, "R_AARCH64_MOVW_UABS_G0", Abs, MOVW_IMM, (15, 0), Unsigned(16), 1, MOVW),
    row(264, "R_AARCH64_MOVW_UABS_G0_NC", Abs, MOVW_IMM, (15, 0), Check::None, 1, MOVW),
    row(265, "R_AARCH64_MOVW_UABS_G1", Abs, MOVW_IMM, (31, 16), Unsigned(32), 1, MOVW),
    row(266, "R_AARCH64_MOVW_UABS_G1_NC", Abs, MOVW_IMM, (31, 16), Check::None, 1, MOVW),
    row(267, "R_AARCH64_MOVW_UABS_G2", Abs, MOVW_IMM, (47, 32), Unsigned(48), 1, MOVW),
    row(268, "R_AARCH64_MOVW_UABS_G2_NC", Abs, MOVW_IMM, (47, 32), Check::None, 1, MOVW),
    row(269, "R_AARCH64_MOVW_UABS_G3", Abs, MOVW_IMM, (63, 48), Check::None, 1, MOVW),
    row(273, "R_AARCH64_LD_PREL_LO19", Prel, IMM19, (20, 2), Signed(20), 4, PCREL),
    row(274, "R_AARCH64_ADR_PREL_LO21", Prel, Field::Adr, (20, 0), Signed(20), 1, PCREL),
    row(275, "R_AARCH64_ADR_PREL_PG_HI21", Page, Field::Adr, (32, 12), Signed(32), 1, PCREL),
    row(276, "R_AARCH64_ADR_PREL_PG_HI21_NC", Page, Field::Adr, (32, 12), Check::None, 1, PCREL),
    row(277, "R_AARCH64_ADD_ABS_LO12_NC", Abs, IMM12, (11, 0), Check::None, 1, PCREL),
    row(278, "R_AARCH64_LDST8_ABS_LO12_NC", Abs, IMM12, (11, 0), Check::None, 1, PCREL),
    branch(279, "R_AARCH64_TSTBR14", Field::Insn { lsb: 5, bits: 14 }, 15),
    branch(280, "R_AARCH64_CONDBR19", IMM19, 20),
    branch(282, "R_AARCH64_JUMP26", Field::Insn { lsb: 0, bits: 26 }, 27),
    branch(283, "R_AARCH64_CALL26", Field::Insn { lsb: 0, bits: 26 }, 27),
    row(284, "R_AARCH64_LDST16_ABS_LO12_NC", Abs, IMM12, (11, 1), Check::None, 2, PCREL),
    row(285, "R_AARCH64_LDST32_ABS_LO12_NC", Abs, IMM12, (11, 2), Check::None, 4, PCREL),
    row(286, "R_AARCH64_LDST64_ABS_LO12_NC", Abs, IMM12, (11, 3), Check::None, 8, PCREL),
    row(299, "R_AARCH64_LDST128_ABS_LO12_NC", Abs, IMM12, (11, 4), Check::None, 16, PCREL),
];

/// The table row for an `R_AARCH64_*` number.
pub fn lookup(r_type: u32) -> Option<&'static RelocType> {
    TYPES
        .binary_search_by_key(&r_type, |t| t.number)
        .ok()
        .map(|i| &TYPES[i])
}

/// Why a relocation could not be applied. Each maps to one errno
/// ([`ErrorKind::errno`]), which is what the C twin returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not in [`TYPES`] (nor a pseudo-op the caller handles).
    Unsupported,
    /// The bytes after the place are fewer than the field needs.
    Truncated,
    /// An instruction relocation at a place that is not word-aligned.
    MisalignedPlace,
    /// X is not a multiple of the row's `align`.
    Misaligned,
    /// X fails the row's overflow check.
    OutOfRange,
    /// An ADRP relocation whose word is not ADR/ADRP: the module loader
    /// replaced it with a branch to a veneer (Cortex-A53 erratum 843419)
    /// and the register it loaded is no longer recoverable.
    WrongInsn,
    /// The copy buffer cannot hold the body and its veneers.
    NoSpace,
}

impl ErrorKind {
    /// The (positive) errno the C twin returns negated.
    pub fn errno(self) -> i32 {
        match self {
            ErrorKind::OutOfRange => 34,
            ErrorKind::NoSpace => 28,
            _ => 22,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Unsupported => "unsupported relocation type",
            ErrorKind::Truncated => "field runs past the end of the bytes",
            ErrorKind::MisalignedPlace => "instruction place not 4-byte aligned",
            ErrorKind::Misaligned => "value not a multiple of the required alignment",
            ErrorKind::OutOfRange => "value out of range",
            ErrorKind::WrongInsn => "place does not hold an ADR/ADRP instruction",
            ErrorKind::NoSpace => "copy buffer too small",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelocError {
    pub kind: ErrorKind,
    pub r#type: u32,
    pub place: u64,
    /// S + A; for [`encode`], which sees no target, X itself.
    pub target: u64,
}

/// The table name, or the bare number for types outside the table.
pub fn type_name(r_type: u32) -> String {
    match lookup(r_type) {
        Some(t) => t.name.to_string(),
        None => format!("relocation type {r_type}"),
    }
}

impl fmt::Display for RelocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at place {:#x}, target {:#x}: {}",
            type_name(self.r#type),
            self.place,
            self.target,
            self.kind.describe()
        )
    }
}

impl std::error::Error for RelocError {}

impl RelocType {
    /// Whether X changes when the body moves, so a copy must re-apply it.
    pub fn pc_relative(&self) -> bool {
        self.calc != Calc::Abs
    }

    /// How many bytes at the place the relocation reads and writes.
    pub fn field_size(&self) -> usize {
        match self.field {
            Field::Data(n) => n as usize,
            Field::Insn { .. } | Field::Adr => 4,
        }
    }

    fn width(&self) -> u32 {
        (self.bits.0 - self.bits.1) as u32 + 1
    }

    /// X = the row's calculation on the target T = S + A and the place P.
    pub fn value(&self, place: u64, target: u64) -> i64 {
        let x = match self.calc {
            Calc::Abs => target,
            Calc::Prel => target.wrapping_sub(place),
            Calc::Page => (target & !0xfff).wrapping_sub(place & !0xfff),
        };
        x as i64
    }

    fn in_range(&self, x: i64) -> bool {
        let x = x as i128;
        match self.check {
            Check::None => true,
            Check::Signed(n) => (-(1i128 << n)..1i128 << n).contains(&x),
            Check::Unsigned(n) => (0..1i128 << n).contains(&x),
            Check::Either(n) => (-(1i128 << (n - 1))..1i128 << n).contains(&x),
        }
    }
}

fn read_le(b: &[u8], n: usize) -> u64 {
    b[..n]
        .iter()
        .rev()
        .fold(0u64, |acc, &byte| (acc << 8) | byte as u64)
}

fn write_le(b: &mut [u8], n: usize, v: u64) {
    for (i, byte) in b[..n].iter_mut().enumerate() {
        *byte = (v >> (8 * i)) as u8;
    }
}

fn mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// ADR and ADRP share this encoding; bit 31 tells them apart.
const ADR_CLASS_MASK: u32 = 0x1f00_0000;
const ADR_CLASS: u32 = 0x1000_0000;
const ADRP_BIT: u32 = 1 << 31;

/// Checks and writes X into the field of `ty` at the start of `bytes`.
/// Errors carry `place` and `target` for the message only.
fn put(
    ty: &RelocType,
    bytes: &mut [u8],
    place: u64,
    target: u64,
    x: i64,
) -> Result<(), RelocError> {
    let err = |kind| RelocError {
        kind,
        r#type: ty.number,
        place,
        target,
    };
    let size = ty.field_size();
    if bytes.len() < size {
        return Err(err(ErrorKind::Truncated));
    }
    let is_insn = !matches!(ty.field, Field::Data(_));
    if is_insn && !place.is_multiple_of(4) {
        return Err(err(ErrorKind::MisalignedPlace));
    }
    let old = read_le(bytes, size);
    if ty.calc == Calc::Page && (old as u32) & ADR_CLASS_MASK != ADR_CLASS {
        return Err(err(ErrorKind::WrongInsn));
    }
    if x as u64 & (ty.align as u64 - 1) != 0 {
        return Err(err(ErrorKind::Misaligned));
    }
    if !ty.in_range(x) {
        return Err(err(ErrorKind::OutOfRange));
    }
    let imm = ((x as u64) >> ty.bits.1) & mask(ty.width());
    let new = match ty.field {
        Field::Data(_) => imm,
        Field::Insn { lsb, bits } => (old & !(mask(bits as u32) << lsb)) | (imm << lsb),
        Field::Adr => {
            let mut insn =
                (old & !((3 << 29) | (0x7ffff << 5))) | ((imm & 3) << 29) | ((imm >> 2) << 5);
            // The module loader turns an ADRP at page offset 0xff8/0xffc
            // into an ADR (erratum 843419); a copy elsewhere wants ADRP back.
            if ty.calc == Calc::Page {
                insn |= ADRP_BIT as u64;
            }
            insn
        }
    };
    write_le(bytes, size, new);
    Ok(())
}

/// Writes the already computed value X into the field of `r_type` at the
/// start of `bytes` (which must be word-aligned for instructions: `encode`
/// knows no place, so it assumes an aligned one). Errors report X as the target.
pub fn encode(r_type: u32, bytes: &mut [u8], x: i64) -> Result<(), RelocError> {
    let ty = lookup(r_type).ok_or(RelocError {
        kind: ErrorKind::Unsupported,
        r#type: r_type,
        place: 0,
        target: x as u64,
    })?;
    put(ty, bytes, 0, x as u64, x)
}

/// Relocates the field at the start of `bytes`, which sits at address
/// `place`, so that it refers to `target` (S + A).
pub fn apply(bytes: &mut [u8], place: u64, target: u64, r_type: u32) -> Result<(), RelocError> {
    let ty = lookup(r_type).ok_or(RelocError {
        kind: ErrorKind::Unsupported,
        r#type: r_type,
        place,
        target,
    })?;
    put(ty, bytes, place, target, ty.value(place, target))
}

/// The target the field at the start of `bytes` (at address `place`) refers
/// to. For place-relative types that is the full target (Page(target) for
/// ADRP), assuming the value passed the range check. For `S + A` types it is
/// X's bits the field holds, [msb:0], with the bits it does not hold zero.
pub fn decode(r_type: u32, bytes: &[u8], place: u64) -> Result<u64, RelocError> {
    let err = |kind| RelocError {
        kind,
        r#type: r_type,
        place,
        target: 0,
    };
    let ty = lookup(r_type).ok_or(err(ErrorKind::Unsupported))?;
    let size = ty.field_size();
    if bytes.len() < size {
        return Err(err(ErrorKind::Truncated));
    }
    let raw = read_le(bytes, size);
    let imm = match ty.field {
        Field::Data(_) => raw,
        Field::Insn { lsb, .. } => raw >> lsb,
        Field::Adr => ((raw >> 29) & 3) | (((raw >> 5) & 0x7ffff) << 2),
    } & mask(ty.width());
    if ty.calc == Calc::Abs {
        return Ok(imm << ty.bits.1);
    }
    let unused = 64 - ty.width();
    let x = (((imm << unused) as i64) >> unused) << ty.bits.1;
    let base = match ty.calc {
        Calc::Page => place & !0xfff,
        _ => place,
    };
    Ok(base.wrapping_add(x as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert!(TYPES.windows(2).all(|w| w[0].number < w[1].number));
        for t in &TYPES {
            assert_eq!(lookup(t.number), Some(t));
            assert!(t.bits.0 >= t.bits.1);
            if let Field::Insn { bits, .. } = t.field {
                assert!(t.width() <= bits as u32, "{}", t.name);
            }
        }
        assert_eq!(lookup(270), None);
        assert_eq!(lookup(0), None);
    }

    #[test]
    fn known_encodings() {
        // bl from 0x1000 to 0x2000: imm26 = 0x400.
        let mut b = 0x9400_0000u32.to_le_bytes();
        apply(&mut b, 0x1000, 0x2000, R_AARCH64_CALL26).unwrap();
        assert_eq!(u32::from_le_bytes(b), 0x9400_0400);
        // adrp x0, page +1 from 0x1000: immlo = 1.
        let mut b = 0x9000_0000u32.to_le_bytes();
        apply(&mut b, 0x1ffc, 0x2abc, R_AARCH64_ADR_PREL_PG_HI21).unwrap();
        assert_eq!(u32::from_le_bytes(b), 0xb000_0000);
        // ldr x1, [x0, #:lo12:0x2ab8]: imm12 = 0xab8 / 8.
        let mut b = 0xf940_0001u32.to_le_bytes();
        apply(&mut b, 0, 0x2ab8, R_AARCH64_LDST64_ABS_LO12_NC).unwrap();
        assert_eq!(u32::from_le_bytes(b), 0xf940_0001 | (0x157 << 10));
        let e = apply(&mut b, 0, 0x2abc, R_AARCH64_LDST64_ABS_LO12_NC).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Misaligned);
        assert!(e.to_string().contains("R_AARCH64_LDST64_ABS_LO12_NC"));
    }
}
