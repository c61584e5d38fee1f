//! The reference algorithms of a move: building a body copy for a new
//! address, and choosing that address.
//!
//! [`build_copy`] is what `runtime-kmod/reloc.c` implements in C
//! (`rerand_build_copy`); a test feeds both the same random cases and
//! requires byte-identical copies and identical errors. Its layout:
//!
//! ```text
//! [ body (size bytes) ][ zero pad to 8 ][ veneer 0 ][ veneer 1 ] ...
//! ```
//!
//! A veneer is `ldr x16, #8; br x16; .quad target` (16 bytes). It is emitted
//! once per distinct target, in order of first use, for a CALL26, JUMP26,
//! CONDBR19 or TSTBR14 whose target is out of range from the copy; the
//! branch is pointed at the veneer instead. The pad and veneers exist only
//! when at least one veneer does. x16 (IP0) may be clobbered between a
//! branch and its target (AAPCS64; aaelf64 5.7.7 grants linkers the same).
//!
//! Relocations are processed in table order and the first failure ends the
//! build, so the error (and its index) is deterministic.

use crate::abi::{RelocRecord, OP_BUG, OP_NOP};
use crate::reloc::{self, ErrorKind, RelocError};
use std::fmt;

pub const VENEER_SIZE: usize = 16;
/// `nop`, written over ftrace entry slots ([`OP_NOP`]).
pub const NOP: u32 = 0xd503_201f;
/// `ldr x16, #8`: loads the veneer's `.quad`.
pub const VENEER_LDR_X16: u32 = 0x5800_0050;
/// `br x16`.
pub const VENEER_BR_X16: u32 = 0xd61f_0200;

/// Whether [`build_copy`] can handle a relocation of this type.
pub fn supported(r_type: u32) -> bool {
    r_type == OP_NOP || r_type == OP_BUG || reloc::lookup(r_type).is_some()
}

/// Whether the type's value changes when the body moves.
pub fn is_pc_relative(r_type: u32) -> bool {
    reloc::lookup(r_type).is_some_and(|t| t.pc_relative())
}

fn needs_veneer_room(r: &RelocRecord) -> bool {
    reloc::lookup(r.r#type).is_some_and(|t| t.veneer)
}

fn pad8(n: usize) -> usize {
    n.saturating_add(7) & !7
}

/// An upper bound of the copy's size: the body, the pad, and one veneer for
/// every branch relocation. The runtime allocates this much.
pub fn copy_max_size(size: usize, relocs: &[RelocRecord]) -> usize {
    match relocs.iter().filter(|r| needs_veneer_room(r)).count() {
        0 => size,
        n => pad8(size).saturating_add(n.saturating_mul(VENEER_SIZE)),
    }
}

/// The 16 bytes of a veneer to `target`.
pub fn veneer(target: u64) -> [u8; VENEER_SIZE] {
    let mut v = [0u8; VENEER_SIZE];
    v[0..4].copy_from_slice(&VENEER_LDR_X16.to_le_bytes());
    v[4..8].copy_from_slice(&VENEER_BR_X16.to_le_bytes());
    v[8..16].copy_from_slice(&target.to_le_bytes());
    v
}

/// A failed build: the relocation at `index` (or `relocs.len()` when the
/// body alone exceeds the capacity) and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyError {
    pub index: usize,
    pub error: RelocError,
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "relocation #{}: {}", self.index, self.error)
    }
}

impl std::error::Error for CopyError {}

/// The copy of `pristine` that is correct at run-time address `addr`, at
/// most `cap` bytes long: every relocation re-applied for `addr` (those that
/// do not depend on the place rewrite the value the loader already wrote),
/// [`OP_NOP`] places set to [`NOP`], veneers appended as the module doc says.
pub fn build_copy(
    addr: u64,
    pristine: &[u8],
    relocs: &[RelocRecord],
    cap: usize,
) -> Result<Vec<u8>, CopyError> {
    let size = pristine.len();
    if size > cap {
        return Err(CopyError {
            index: relocs.len(),
            error: RelocError {
                kind: ErrorKind::NoSpace,
                r#type: 0,
                place: addr,
                target: 0,
            },
        });
    }
    let mut out = pristine.to_vec();
    let mut veneers: Vec<u64> = Vec::new();
    for (index, r) in relocs.iter().enumerate() {
        let at = (r.offset as usize).min(size);
        let place = addr.wrapping_add(r.offset as u64);
        let fail = |kind| CopyError {
            index,
            error: RelocError {
                kind,
                r#type: r.r#type,
                place,
                target: r.target,
            },
        };
        if r.r#type == OP_NOP || r.r#type == OP_BUG {
            if size - at < 4 {
                return Err(fail(ErrorKind::Truncated));
            }
            if !place.is_multiple_of(4) {
                return Err(fail(ErrorKind::MisalignedPlace));
            }
            // A WARN/BUG site keeps its word here: the immediate the runtime
            // gives it is chosen at load, not by the table.
            if r.r#type == OP_NOP {
                out[at..at + 4].copy_from_slice(&NOP.to_le_bytes());
            }
            continue;
        }
        let bytes = &mut out[at..size];
        match reloc::apply(bytes, place, r.target, r.r#type) {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::OutOfRange && needs_veneer_room(r) => {
                let k = match veneers.iter().position(|&t| t == r.target) {
                    Some(k) => k,
                    None => {
                        veneers.push(r.target);
                        veneers.len() - 1
                    }
                };
                let off = pad8(size) + k * VENEER_SIZE;
                if off + VENEER_SIZE > cap {
                    return Err(fail(ErrorKind::NoSpace));
                }
                let via = addr.wrapping_add(off as u64);
                reloc::apply(bytes, place, via, r.r#type).map_err(|e| fail(e.kind))?;
            }
            Err(e) => return Err(CopyError { index, error: e }),
        }
    }
    if !veneers.is_empty() {
        out.resize(pad8(size), 0);
        for t in veneers {
            out.extend_from_slice(&veneer(t));
        }
    }
    Ok(out)
}

/// The `bl` at `place` that calls `target`; `None` if out of range or
/// either address is misaligned. Mirrors `rerand_encode_bl`.
pub fn encode_bl(place: u64, target: u64) -> Option<u32> {
    let mut b = 0x9400_0000u32.to_le_bytes();
    reloc::apply(&mut b, place, target, reloc::R_AARCH64_CALL26).ok()?;
    Some(u32::from_le_bytes(b))
}

/// The target of a B or BL word at `place`; `None` for other words.
/// Mirrors `rerand_decode_branch`.
pub fn decode_branch(insn: u32, place: u64) -> Option<u64> {
    if insn & 0x7c00_0000 != 0x1400_0000 {
        return None;
    }
    reloc::decode(reloc::R_AARCH64_JUMP26, &insn.to_le_bytes(), place).ok()
}

/// splitmix64 (Steele, Lea, Flood 2014), the generator placement uses:
///
/// ```text
/// state += 0x9e3779b97f4a7c15;            // all arithmetic mod 2^64
/// z = state;
/// z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
/// z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
/// return z ^ (z >> 31);
/// ```
///
/// The initial state is the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    pub state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// Alignment zero or not a power of two.
    BadAlign { index: usize, align: u64 },
    /// A zero-sized body has no address to choose.
    Empty { index: usize },
    /// The aligned window is smaller than the body.
    DoesNotFit { index: usize, size: u64 },
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PlacementError::BadAlign { index, align } => {
                write!(f, "body #{index}: alignment {align} is not a power of two")
            }
            PlacementError::Empty { index } => write!(f, "body #{index}: size 0"),
            PlacementError::DoesNotFit { index, size } => {
                write!(f, "body #{index}: {size} bytes do not fit in the window")
            }
        }
    }
}

impl std::error::Error for PlacementError {}

/// Chooses an address in [lo, hi) for each `(size, align)` body. `size`
/// is what will be placed there, i.e. [`copy_max_size`], not the bare body.
///
/// For body i, in order, with one generator seeded by `seed`:
///
/// ```text
/// base  = lo rounded up to align
/// slots = (hi - base - size) / align + 1
/// addr  = base + (next() % slots) * align
/// ```
///
/// Bodies are placed independently, so their ranges may overlap: the
/// runtime allocates each copy on its own and uses the address as a hint
/// within its allocator (the window stands for the module area), not as a
/// packing. The modulo bias is below slots / 2^64 and ignored.
pub fn place_bodies(
    bodies: &[(u64, u64)],
    lo: u64,
    hi: u64,
    seed: u64,
) -> Result<Vec<u64>, PlacementError> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(bodies.len());
    for (index, &(size, align)) in bodies.iter().enumerate() {
        if !align.is_power_of_two() {
            return Err(PlacementError::BadAlign { index, align });
        }
        if size == 0 {
            return Err(PlacementError::Empty { index });
        }
        let base = lo
            .checked_add(align - 1)
            .map(|b| b & !(align - 1))
            .filter(|&b| b <= hi && hi - b >= size)
            .ok_or(PlacementError::DoesNotFit { index, size })?;
        // size >= 1 keeps slots + 1 from wrapping.
        let slots = (hi - base - size) / align + 1;
        out.push(base + (rng.next() % slots) * align);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_published_sequence() {
        // First outputs for seed 1234567 from the reference C code.
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next(), 6457827717110365317);
        assert_eq!(r.next(), 3203168211198807973);
    }

    #[test]
    fn placement_stays_in_window_and_aligned() {
        let bodies = [(100, 4), (4096, 4096), (8, 8), (1, 1)];
        for seed in 0..1000 {
            let a = place_bodies(&bodies, 0x1001, 0x20000, seed).unwrap();
            for (&(size, align), &addr) in bodies.iter().zip(&a) {
                assert!(addr >= 0x1001 && addr + size <= 0x20000);
                assert_eq!(addr % align, 0);
            }
        }
        let exact = place_bodies(&[(16, 16)], 0x100, 0x110, 9).unwrap();
        assert_eq!(exact, vec![0x100]);
        assert!(matches!(
            place_bodies(&[(17, 16)], 0x100, 0x110, 9),
            Err(PlacementError::DoesNotFit { .. })
        ));
        assert!(matches!(
            place_bodies(&[(1, 3)], 0, 0x110, 9),
            Err(PlacementError::BadAlign { .. })
        ));
    }

    #[test]
    fn veneer_for_far_call_and_shared_target() {
        let bl = 0x9400_0000u32.to_le_bytes();
        let mut body = Vec::new();
        for _ in 0..3 {
            body.extend_from_slice(&bl);
        }
        let far = 0x4000_0000_0000;
        let relocs = [
            RelocRecord {
                target: far,
                offset: 0,
                r#type: reloc::R_AARCH64_CALL26,
            },
            RelocRecord {
                target: 0x1_0000,
                offset: 4,
                r#type: reloc::R_AARCH64_CALL26,
            },
            RelocRecord {
                target: far,
                offset: 8,
                r#type: reloc::R_AARCH64_JUMP26,
            },
        ];
        let cap = copy_max_size(body.len(), &relocs);
        assert_eq!(cap, 16 + 3 * 16);
        let c = build_copy(0x1000, &body, &relocs, cap).unwrap();
        assert_eq!(c.len(), 16 + 16);
        let w = |i: usize| u32::from_le_bytes(c[i..i + 4].try_into().unwrap());
        assert_eq!(decode_branch(w(0), 0x1000), Some(0x1010));
        assert_eq!(decode_branch(w(4), 0x1004), Some(0x1_0000));
        assert_eq!(decode_branch(w(8), 0x1008), Some(0x1010));
        assert_eq!(c[16..32], veneer(far));
        let e = build_copy(0x1000, &body, &relocs, 16).unwrap_err();
        assert_eq!((e.index, e.error.kind), (0, ErrorKind::NoSpace));
    }
}
