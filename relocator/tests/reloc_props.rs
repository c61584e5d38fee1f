//! Property tests of the relocation engine and the copy builder: round
//! trips for every type, exact range edges, alignment errors, no panics.

use proptest::prelude::*;
use relocator::abi::{RelocRecord, OP_NOP};
use relocator::placement::{self, build_copy, copy_max_size, decode_branch, place_bodies};
use relocator::reloc::{self, apply, decode, encode, Calc, Check, ErrorKind, Field, RelocType};

fn any_type() -> impl Strategy<Value = &'static RelocType> {
    (0..reloc::TYPES.len()).prop_map(|i| &reloc::TYPES[i])
}

/// The inclusive range of X the type's check accepts.
fn bounds(ty: &RelocType) -> (i128, i128) {
    match ty.check {
        Check::None => (i64::MIN as i128, i64::MAX as i128),
        Check::Signed(n) => (-(1i128 << n), (1i128 << n) - 1),
        Check::Unsigned(n) => (0, (1i128 << n) - 1),
        Check::Either(n) => (-(1i128 << (n - 1)), (1i128 << n) - 1),
    }
}

/// X's granule: a page for ADRP, else the row's alignment.
fn granule(ty: &RelocType) -> i128 {
    if ty.calc == Calc::Page {
        4096
    } else {
        ty.align as i128
    }
}

/// The target that gives value X at `place` (plus `low` below the page for ADRP).
fn target_for(ty: &RelocType, place: u64, x: i128, low: u64) -> u64 {
    match ty.calc {
        Calc::Abs => x as u64,
        Calc::Prel => place.wrapping_add(x as u64),
        Calc::Page => (place & !0xfff).wrapping_add(x as u64) | (low & 0xfff),
    }
}

/// What `decode` gives back for `target`.
fn decoded(ty: &RelocType, target: u64) -> u64 {
    match ty.calc {
        Calc::Abs => {
            let below_msb = u64::MAX >> (63 - ty.bits.0);
            target & below_msb & !((1u64 << ty.bits.1) - 1)
        }
        Calc::Prel => target,
        Calc::Page => target & !0xfff,
    }
}

/// Bits of the word the field may change (including ADRP's op bit).
fn field_mask(ty: &RelocType) -> u64 {
    match ty.field {
        Field::Data(8) => u64::MAX,
        Field::Data(n) => (1u64 << (8 * n)) - 1,
        Field::Insn { lsb, bits } => ((1u64 << bits) - 1) << lsb,
        Field::Adr => (3 << 29) | (0x7ffff << 5) | (1 << 31),
    }
}

/// A word the relocation accepts: ADRP rows need an ADR/ADRP instruction.
fn word_for(ty: &RelocType, raw: u64) -> [u8; 8] {
    let raw = if ty.calc == Calc::Page {
        (raw & !0x1f00_0000) | 0x1000_0000
    } else {
        raw
    };
    raw.to_le_bytes()
}

/// An X the type accepts and `decode` recovers: a place-relative `_NC`
/// type keeps only its field's bits, so beyond them it wraps by design.
fn x_in_range(ty: &RelocType, pick: u64) -> i128 {
    let (lo, hi) = match ty.check {
        Check::None if ty.calc != Calc::Abs && ty.bits.0 < 63 => {
            (-(1i128 << ty.bits.0), (1i128 << ty.bits.0) - 1)
        }
        _ => bounds(ty),
    };
    let g = granule(ty);
    let span = (hi - lo) / g + 1;
    lo + (pick as i128 % span) * g
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn apply_then_decode_round_trips(
        ty in any_type(),
        pick: u64,
        place in any::<u64>().prop_map(|p| p & !3),
        low: u64,
        raw: u64,
    ) {
        let x = x_in_range(ty, pick);
        let target = target_for(ty, place, x, low);
        let mut b = word_for(ty, raw);
        let before = u64::from_le_bytes(b);
        apply(&mut b, place, target, ty.number).unwrap();
        let after = u64::from_le_bytes(b);
        prop_assert_eq!(before & !field_mask(ty), after & !field_mask(ty), "bits outside the field");
        prop_assert_eq!(decode(ty.number, &b, place).unwrap(), decoded(ty, target));
        // Re-applying is idempotent: copies may re-apply target-only types.
        let mut again = b;
        apply(&mut again, place, target, ty.number).unwrap();
        prop_assert_eq!(again, b);
        // encode with X directly writes the same field.
        let mut e = word_for(ty, raw);
        encode(ty.number, &mut e, ty.value(place, target)).unwrap();
        prop_assert_eq!(e, b);
    }

    #[test]
    fn misaligned_values_are_errors(
        ty in any_type().prop_filter("aligned types", |t| t.align > 1),
        pick: u64,
        place in any::<u64>().prop_map(|p| p & !3),
        k: u8,
    ) {
        let k = 1 + k as u64 % (ty.align as u64 - 1);
        let target = target_for(ty, place, x_in_range(ty, pick), 0).wrapping_add(k);
        let mut b = word_for(ty, 0);
        let e = apply(&mut b, place, target, ty.number).unwrap_err();
        prop_assert_eq!(e.kind, ErrorKind::Misaligned);
        prop_assert_eq!(b, word_for(ty, 0), "an error must leave the bytes alone");
    }

    #[test]
    fn insn_relocs_need_word_aligned_places(
        ty in any_type().prop_filter("instructions", |t| !matches!(t.field, Field::Data(_))),
        place: u64,
        k in 1u64..4,
        target: u64,
    ) {
        let place = (place & !3) | k;
        let e = apply(&mut word_for(ty, 0), place, target, ty.number).unwrap_err();
        prop_assert_eq!(e.kind, ErrorKind::MisalignedPlace);
    }

    #[test]
    fn nothing_panics(r_type in 250u32..310, bytes in proptest::collection::vec(any::<u8>(), 0..10), place: u64, target: u64, x: i64) {
        let mut b = bytes.clone();
        let r = apply(&mut b, place, target, r_type);
        if r.is_err() {
            prop_assert_eq!(&b, &bytes);
        }
        let _ = decode(r_type, &bytes, place);
        let _ = encode(r_type, &mut b, x);
    }

    #[test]
    fn copies_branch_to_target_or_to_a_veneer_holding_it(
        addr in any::<u64>().prop_map(|a| a & !7),
        words in proptest::collection::vec(any::<u32>(), 1..64),
        specs in proptest::collection::vec((0usize..64, 0usize..4, any::<i64>(), any::<bool>()), 0..12),
    ) {
        let types = [reloc::R_AARCH64_CALL26, reloc::R_AARCH64_JUMP26, reloc::R_AARCH64_CONDBR19, reloc::R_AARCH64_TSTBR14];
        let body: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut relocs = Vec::new();
        for &(slot, t, d, far) in &specs {
            let offset = (slot % words.len()) as u32 * 4;
            let d = if far { d } else { d % (1 << 14) };
            let target = addr.wrapping_add(offset as u64).wrapping_add((d as u64) & !3);
            relocs.push(RelocRecord { target, offset, r#type: types[t] });
        }
        let copy = build_copy(addr, &body, &relocs, copy_max_size(body.len(), &relocs)).unwrap();
        prop_assert!(copy.len() <= copy_max_size(body.len(), &relocs));
        // Later relocations of the same word win, so check the last one per offset.
        for (i, r) in relocs.iter().enumerate() {
            if relocs[i + 1..].iter().any(|l| l.offset == r.offset) {
                continue;
            }
            let o = r.offset as usize;
            let place = addr.wrapping_add(o as u64);
            let to = decode(r.r#type, &copy[o..], place).unwrap();
            if to != r.target {
                let v = to.wrapping_sub(addr) as usize;
                prop_assert!(v >= body.len() && v + 16 <= copy.len() && (v - body.len().next_multiple_of(8)).is_multiple_of(16));
                prop_assert_eq!(&copy[v..v + 16], &placement::veneer(r.target)[..]);
            }
        }
        let distinct: std::collections::BTreeSet<u64> = relocs.iter().map(|r| r.target).collect();
        prop_assert!(copy.len() <= body.len().next_multiple_of(8) + 16 * distinct.len());
    }

    #[test]
    fn build_copy_never_panics(
        addr: u64,
        body in proptest::collection::vec(any::<u8>(), 0..64),
        relocs in proptest::collection::vec((any::<u64>(), 0u32..80, prop_oneof![250u32..310, Just(OP_NOP)]), 0..8),
        cap in 0usize..200,
    ) {
        let relocs: Vec<RelocRecord> = relocs.into_iter().map(|(target, offset, r#type)| RelocRecord { target, offset, r#type }).collect();
        match build_copy(addr, &body, &relocs, cap) {
            Ok(c) => prop_assert!(c.len() <= cap && c.len() >= body.len()),
            Err(e) => prop_assert!(e.index <= relocs.len() && !e.to_string().is_empty()),
        }
    }

    #[test]
    fn placement_is_in_window_and_aligned(
        bodies in proptest::collection::vec((1u64..5000, 0u32..13), 1..20),
        lo in 0u64..1 << 40,
        len in 1u64 << 16..1 << 30,
        seed: u64,
    ) {
        let bodies: Vec<(u64, u64)> = bodies.into_iter().map(|(s, a)| (s, 1u64 << a)).collect();
        let hi = lo + len;
        let a = place_bodies(&bodies, lo, hi, seed).unwrap();
        prop_assert_eq!(&a, &place_bodies(&bodies, lo, hi, seed).unwrap());
        for (&(size, align), &addr) in bodies.iter().zip(&a) {
            prop_assert!(addr >= lo && addr + size <= hi && addr % align == 0);
        }
    }
}

/// Every checked type at its exact edges: the last value in, the first out.
#[test]
fn range_edges_are_exact() {
    for ty in &reloc::TYPES {
        if ty.check == Check::None {
            continue;
        }
        let (lo, hi) = bounds(ty);
        let g = granule(ty);
        let hi = hi - hi.rem_euclid(g);
        for place in [
            0u64,
            0x1000,
            0xffff_8000_1234_5678 & !0xfff,
            0xffff_ffff_ffff_f000,
        ] {
            for (x, ok) in [(lo, true), (hi, true), (lo - g, false), (hi + g, false)] {
                let target = target_for(ty, place, x, 0x123);
                let mut b = word_for(ty, 0);
                let r = apply(&mut b, place, target, ty.number);
                if ok {
                    assert!(r.is_ok(), "{} X={x:#x}: {:?}", ty.name, r);
                } else {
                    let e = r.expect_err(ty.name);
                    assert_eq!(e.kind, ErrorKind::OutOfRange, "{} X={x:#x}", ty.name);
                    assert!(
                        e.to_string().contains(ty.name) && e.to_string().contains("out of range")
                    );
                }
            }
        }
    }
}

#[test]
fn unsupported_and_truncated() {
    let e = apply(&mut [0; 8], 0, 0, 270).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(e.kind.errno(), 22);
    assert!(e.to_string().contains("relocation type 270"));
    for ty in &reloc::TYPES {
        let mut short = vec![0u8; ty.field_size() - 1];
        let e = apply(&mut short, 0, 0, ty.number).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Truncated, "{}", ty.name);
    }
    // The loader's erratum-843419 rewrite of an ADRP into a branch is caught...
    let mut b = 0x1400_0000u32.to_le_bytes();
    let e = apply(&mut b, 0, 0, reloc::R_AARCH64_ADR_PREL_PG_HI21).unwrap_err();
    assert_eq!(e.kind, ErrorKind::WrongInsn);
    // ...and its rewrite into an ADR is undone.
    let mut b = 0x1000_0001u32.to_le_bytes();
    apply(&mut b, 0x1ff8, 0x5000, reloc::R_AARCH64_ADR_PREL_PG_HI21).unwrap();
    assert_eq!(u32::from_le_bytes(b), 0x9000_0001 | (4 >> 2) << 5);
}

#[test]
fn ftrace_slots_become_nops_and_decode_branch_rejects_others() {
    let body = 0xaa1e_03e9u32.to_le_bytes(); // mov x9, x30
    let nop = RelocRecord {
        target: 0,
        offset: 0,
        r#type: OP_NOP,
    };
    let c = build_copy(0x4000, &body, &[nop], 4).unwrap();
    assert_eq!(c, placement::NOP.to_le_bytes());
    assert_eq!(decode_branch(placement::NOP, 0), None);
    assert_eq!(decode_branch(0x17ff_ffff, 0x1000), Some(0xffc));
}
