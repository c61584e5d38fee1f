//! runtime-kmod/reloc.c against the Rust reference (placement.rs): random
//! bodies with relocations of every type, at addresses that force veneers
//! and sit on range edges, compiled with the host `cc` and required to
//! produce byte-identical copies and the same errors (errno and index).

mod common;

use common::{hex, repo_root, require_tool, run, Gen};
use relocator::abi::{RelocRecord, OP_NOP};
use relocator::placement::{self, build_copy, copy_max_size};
use relocator::reloc::{self, Calc, Check, RelocType, TYPES};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

const CASES: usize = 4000;

fn cases() -> usize {
    std::env::var("RERAND_C_VECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES)
}

/// The harness binary, built with sanitizers so C undefined behaviour fails
/// the test rather than hiding behind a lucky result.
fn build_harness() -> PathBuf {
    require_tool("cc");
    let root = repo_root();
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rerand-reloc-harness");
    run(
        Command::new("cc")
            .args(["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror"])
            .args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all"])
            .arg("-I")
            .arg(root.join("relocator/tests/c/shim"))
            .arg("-I")
            .arg(root.join("runtime-kmod"))
            .arg("-I")
            .arg(root.join("macros-c"))
            .arg(root.join("runtime-kmod/reloc.c"))
            .arg(root.join("relocator/tests/c/harness.c"))
            .arg("-o")
            .arg(&exe),
        "compiling reloc.c and the harness with cc",
    );
    exe
}

/// Values of X on both sides of each edge of the type's check.
fn edges(ty: &RelocType) -> Vec<i64> {
    let a = if ty.calc == Calc::Page {
        4096
    } else {
        ty.align as i64
    };
    match ty.check {
        Check::Signed(n) => vec![-(1 << n), -(1 << n) - a, (1 << n) - a, 1 << n],
        Check::Unsigned(n) => vec![0, (1 << n) - 1, 1 << n, -1],
        Check::Either(n) => vec![-(1 << (n - 1)), -(1 << (n - 1)) - 1, (1 << n) - 1, 1 << n],
        Check::None => vec![i64::MIN, i64::MAX, 0, -1],
    }
}

fn align_down(v: u64, a: u64) -> u64 {
    v & !(a - 1)
}

struct Case {
    addr: u64,
    cap: usize,
    body: Vec<u8>,
    relocs: Vec<RelocRecord>,
}

const UNSUPPORTED: [u32; 8] = [0, 256, 270, 287, 1027, 0x8000, 0x8002, u32::MAX];

fn gen_case(g: &mut Gen) -> Case {
    // Half the cases inject no error, so the success path gets its share.
    let clean = g.pct(50);
    let addr_align = g.pick(&[4u64, 8, 16, 64, 4096]);
    let mut addr = match g.below(20) {
        0..=13 => 0xffff_8000_0000_0000 + (g.u64() & 0x7fff_ffff_ffff),
        14..=15 => g.u64() & 0xffff_ffff,
        16..=17 => g.u64(),
        _ => 0xffff_ffff_ffff_0000 + (g.u64() & 0xffff),
    };
    addr = align_down(addr, addr_align);
    if !clean && g.pct(5) {
        addr += g.range(1, 3);
    }
    let size = match g.below(100) {
        0..=1 => 4 * g.range(8000, 12000) as usize,
        2..=6 if !clean => g.range(1, 8) as usize,
        7..=11 => 4 * g.range(1, 64) as usize + g.range(1, 3) as usize,
        _ => 4 * g.range(1, 64) as usize,
    };
    let mut body: Vec<u8> = (0..size).map(|_| g.u64() as u8).collect();
    let mut relocs: Vec<RelocRecord> = Vec::new();
    for _ in 0..g.range(0, 7) {
        let r_type = match g.below(100) {
            0..=7 => OP_NOP,
            8..=9 if !clean => g.pick(&UNSUPPORTED),
            10..=24 => g.pick(&[279u32, 280, 282, 283]),
            _ => g.pick(&TYPES).number,
        };
        let fsize = reloc::lookup(r_type).map_or(4, |t| t.field_size());
        let is_data = matches!(
            reloc::lookup(r_type).map(|t| t.field),
            Some(reloc::Field::Data(_))
        );
        let offset = if size < fsize {
            0
        } else if !clean && g.pct(8) {
            match g.below(3) {
                0 => g.below(size as u64) as u32,
                1 => (size as u64 - g.below(4)) as u32,
                _ => g.u64() as u32,
            }
        } else if is_data {
            g.below((size - fsize + 1) as u64) as u32
        } else {
            4 * g.below(((size - fsize) / 4 + 1) as u64) as u32
        };
        let place = addr.wrapping_add(offset as u64);
        let target = match reloc::lookup(r_type) {
            None => g.u64(),
            Some(ty) => {
                let a = ty.align as u64;
                let mode = g.below(100);
                let near = |g: &mut Gen| {
                    let base = if ty.pc_relative() { place } else { g.u64() };
                    align_down(
                        base.wrapping_add(g.u64() % 0x20000).wrapping_sub(0x10000),
                        a,
                    )
                };
                match mode {
                    0..=34 => near(g),
                    35..=49 if !relocs.is_empty() => g.pick(&relocs).target,
                    50..=64 => align_down(
                        addr.wrapping_add(g.u64() % (1 << 32)).wrapping_sub(1 << 31),
                        a.max(4),
                    ),
                    65..=84 if !clean || ty.check == Check::None || ty.veneer => {
                        let x = g.pick(&edges(ty));
                        match ty.calc {
                            Calc::Abs => x as u64,
                            Calc::Prel => place.wrapping_add(x as u64),
                            Calc::Page => (place & !0xfff)
                                .wrapping_add(x as u64)
                                .wrapping_add(g.below(4096)),
                        }
                    }
                    85..=94 if !clean => g.u64(),
                    95..=99 if !clean => near(g) + g.range(1, 3),
                    _ => near(g),
                }
            }
        };
        relocs.push(RelocRecord {
            target,
            offset,
            r#type: r_type,
        });
    }
    // An ADRP place holds ADR or ADRP, except where the case tests the
    // loader's erratum rewrite (a branch in its place).
    for r in &relocs {
        let o = r.offset as usize;
        if matches!(r.r#type, 275 | 276) && o + 4 <= size && (clean || g.pct(90)) {
            let w = u32::from_le_bytes(body[o..o + 4].try_into().unwrap());
            let w = (w & !0x1f00_0000) | 0x1000_0000;
            body[o..o + 4].copy_from_slice(&w.to_le_bytes());
        }
    }
    let max = copy_max_size(size, &relocs);
    let cap = if clean || g.pct(60) {
        max
    } else if g.pct(50) {
        build_copy(addr, &body, &relocs, max).map_or(max, |c| c.len())
    } else {
        g.range(size.saturating_sub(8) as u64, max as u64) as usize
    };
    Case {
        addr,
        cap,
        body,
        relocs,
    }
}

fn expected(c: &Case) -> String {
    let max = copy_max_size(c.body.len(), &c.relocs);
    match build_copy(c.addr, &c.body, &c.relocs, c.cap) {
        Ok(copy) => format!("C {max:x} {} - {}", copy.len(), hex(&copy)),
        Err(e) => format!("C {max:x} {} {:x} -", -e.error.kind.errno(), e.index),
    }
}

fn command(c: &Case) -> String {
    let mut s = format!(
        "C {:x} {:x} {:x} {:x} {}",
        c.addr,
        c.cap,
        c.body.len(),
        c.relocs.len(),
        hex(&c.body)
    );
    for r in &c.relocs {
        s += &format!(" {:x} {:x} {:x}", r.target, r.offset, r.r#type);
    }
    s
}

#[test]
fn c_twin_matches_the_rust_reference() {
    let exe = build_harness();
    let mut g = Gen::new(0x5eed_c0de);
    let mut input = String::new();
    let mut want = Vec::new();
    let mut describe = Vec::new();

    for t in (0..=320).chain([1024, 1027, 0x8000, OP_NOP, 0x8002, u32::MAX]) {
        input += &format!("T {t:x}\n");
        let b = |v: bool| v as u8;
        want.push(format!(
            "T {} {}",
            b(placement::supported(t)),
            b(placement::is_pc_relative(t))
        ));
        describe.push(format!("type {t}"));
    }
    for _ in 0..2000 {
        let place = align_down(g.u64(), if g.pct(95) { 4 } else { 1 });
        let x = match g.below(4) {
            0 => g.pick(&[-(1i64 << 27), (1 << 27) - 4, 1 << 27, -(1 << 27) - 4]),
            1 => (g.u64() % (1 << 29)) as i64 - (1 << 28),
            2 => g.u64() as i64,
            _ => ((g.u64() % (1 << 20)) as i64 - (1 << 19)) * 4,
        };
        let target = place.wrapping_add(x as u64);
        input += &format!("B {place:x} {target:x}\n");
        want.push(format!(
            "B {:x}",
            placement::encode_bl(place, target).unwrap_or(0)
        ));
        describe.push(format!("encode_bl({place:#x}, {target:#x})"));

        let insn = match g.below(3) {
            0 => 0x1400_0000 | (g.u64() as u32 & 0x03ff_ffff),
            1 => 0x9400_0000 | (g.u64() as u32 & 0x03ff_ffff),
            _ => g.u64() as u32,
        };
        input += &format!("D {insn:x} {place:x}\n");
        want.push(match placement::decode_branch(insn, place) {
            Some(t) => format!("D 1 {t:x}"),
            None => "D 0 0".to_string(),
        });
        describe.push(format!("decode_branch({insn:#x}, {place:#x})"));
    }

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut veneered = 0;
    for i in 0..cases() {
        let c = gen_case(&mut g);
        input += &command(&c);
        input.push('\n');
        let line = expected(&c);
        let outcome = line.split(' ').nth(2).unwrap_or("?").to_string();
        let ok = !outcome.starts_with('-');
        if ok && line.split(' ').nth(2).and_then(|n| n.parse::<usize>().ok()) > Some(c.body.len()) {
            veneered += 1;
        }
        *outcomes
            .entry(if ok { "ok".into() } else { outcome })
            .or_default() += 1;
        want.push(line);
        describe.push(format!(
            "case {i}: addr {:#x} cap {} size {} relocs {:x?}",
            c.addr,
            c.cap,
            c.body.len(),
            c.relocs
        ));
    }

    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rerand-reloc-vectors.txt");
    std::fs::write(&path, &input).unwrap();
    let out = run(
        Command::new(&exe).stdin(std::fs::File::open(&path).unwrap()),
        "running the C harness",
    );
    let got: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
    assert_eq!(
        got.len(),
        want.len(),
        "harness answered {} of {} lines",
        got.len(),
        want.len()
    );
    let mut failures = 0;
    for ((g, w), d) in got.iter().zip(&want).zip(&describe) {
        if g != w {
            failures += 1;
            if failures <= 5 {
                eprintln!("MISMATCH {d}\n  C:    {g}\n  Rust: {w}");
            }
        }
    }
    eprintln!("copy outcomes: {outcomes:?}, with veneers: {veneered}");
    assert_eq!(failures, 0, "{failures} C answers differ from Rust's");

    // The vectors must actually exercise every path.
    assert!(outcomes.get("ok").copied().unwrap_or(0) >= cases() / 3);
    for errno in ["-22", "-34", "-28"] {
        assert!(
            outcomes.get(errno).copied().unwrap_or(0) >= 10,
            "few {errno} cases"
        );
    }
    assert!(veneered >= 50, "only {veneered} copies with veneers");
}
