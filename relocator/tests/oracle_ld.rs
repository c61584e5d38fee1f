//! GNU ld as the oracle for placement.rs: tests/c/fixture.c is compiled
//! once, then for each seed every section is given a random address, the
//! object is linked there by aarch64-linux-gnu-ld, and each function's
//! linked bytes must equal the copy `build_copy` makes from the unlinked
//! bytes and the relocations of the .o.
//!
//! The window is wider than a BL's reach, so some calls are out of range:
//! ld then inserts its own stubs, which differ from our veneers by design,
//! so those words are not compared with ld; instead the copy's branch must
//! reach a veneer of the copy that holds the target.
//!
//! RERAND_ORACLE_SEEDS sets the number of seeds (default 200).

mod common;

use common::{repo_root, require_tool, run, Gen};
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SymbolSection,
};
use relocator::abi::RelocRecord;
use relocator::oracle::{self, check_copy, Tally, LD, STUB_ROOM, WINDOW_HI, WINDOW_LO};
use relocator::placement::place_bodies;
use relocator::reloc;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const CC: &str = "aarch64-linux-gnu-gcc";

/// The fixture's short-range group (TBZ reaches ±32 KiB) and where in a
/// 64 KiB block each member goes: (section, offset, jitter).
const NEAR: [(&str, u64, u64); 3] = [
    (".text.asm_mix", 0, 0x1000),
    (".text.near_target", 0x2000, 0x2000),
    (".rodata.near_lit", 0x5000, 0x2000),
];

struct Section {
    name: String,
    index: object::SectionIndex,
    size: u64,
    align: u64,
    text: bool,
    data: Vec<u8>,
}

fn seeds() -> u64 {
    std::env::var("RERAND_ORACLE_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn compile_fixture(dir: &Path) -> PathBuf {
    let obj = dir.join("fixture.o");
    run(
        Command::new(CC)
            .args([
                "-O2",
                "-ffunction-sections",
                "-fno-pic",
                "-mcmodel=small",
                "-c",
            ])
            .arg(repo_root().join("relocator/tests/c/fixture.c"))
            .arg("-o")
            .arg(&obj),
        "compiling tests/c/fixture.c",
    );
    obj
}

fn allocated(name: &str) -> bool {
    [".text", ".data", ".bss", ".rodata"]
        .iter()
        .any(|p| name == *p || name.starts_with(&format!("{p}.")))
}

fn overlaps(a: (u64, u64), placed: &[(u64, u64)]) -> bool {
    placed.iter().any(|&(s, e)| a.0 < e && s < a.1)
}

/// Addresses for every section and absolute symbol, from one seed.
fn layout(sections: &[Section], seed: u64) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut g = Gen::new(seed);
    let mut addr = BTreeMap::new();
    let mut taken: Vec<(u64, u64)> = Vec::new();
    let near = WINDOW_LO + g.below((WINDOW_HI - WINDOW_LO - 0x10000) >> 16) * 0x10000;
    for (name, off, jitter) in NEAR {
        let a = near + off + (g.below(jitter) & !15);
        addr.insert(name.to_string(), a);
        taken.push((a, a + 0x1000));
    }
    let rest: Vec<&Section> = sections
        .iter()
        .filter(|s| !addr.contains_key(&s.name) && s.size > 0)
        .collect();
    for attempt in 0.. {
        let bodies: Vec<(u64, u64)> = rest
            .iter()
            .map(|s| (s.size + STUB_ROOM, s.align.max(16) << (g.below(3) * 4)))
            .collect();
        let a = place_bodies(&bodies, WINDOW_LO, WINDOW_HI, seed ^ attempt).unwrap();
        let mut all = taken.clone();
        let mut ok = true;
        for (&(size, _), &at) in bodies.iter().zip(&a) {
            ok &= !overlaps((at, at + size), &all);
            all.push((at, at + size));
        }
        if ok {
            for (s, at) in rest.iter().zip(a) {
                addr.insert(s.name.clone(), at);
            }
            break;
        }
    }
    let mut syms = BTreeMap::new();
    // Sometimes far beyond the window, as an exported kernel function is.
    let reach = if g.pct(30) { 1 << 31 } else { 256 << 20 };
    syms.insert(
        "ext_func".to_string(),
        (WINDOW_LO - reach + g.below(2 * reach + (512 << 20))) & !3,
    );
    syms.insert(
        "ext_data".to_string(),
        (WINDOW_LO - (1 << 30) + g.below(3 << 30)) & !3,
    );
    syms.insert("small_sym".to_string(), g.below(0x10000));
    (addr, syms)
}

/// The table rows rerand-ld would write for one function section: S + A
/// from the chosen layout, the offset, the type.
fn relocs_of(
    file: &object::File,
    sec: &Section,
    addr: &BTreeMap<String, u64>,
    syms: &BTreeMap<String, u64>,
) -> Vec<RelocRecord> {
    let section_addr = |i: object::SectionIndex| {
        let name = file
            .section_by_index(i)
            .unwrap()
            .name()
            .unwrap()
            .to_string();
        *addr
            .get(&name)
            .unwrap_or_else(|| panic!("no address for {name}"))
    };
    let s = file.section_by_index(sec.index).unwrap();
    s.relocations()
        .map(|(offset, r)| {
            let RelocationFlags::Elf { r_type } = r.flags() else {
                panic!("not an ELF relocation")
            };
            let base = match r.target() {
                RelocationTarget::Section(i) => section_addr(i),
                RelocationTarget::Symbol(i) => {
                    let sym = file.symbol_by_index(i).unwrap();
                    match sym.section() {
                        SymbolSection::Section(i) => section_addr(i) + sym.address(),
                        SymbolSection::Undefined => {
                            let name = sym.name().unwrap();
                            *syms.get(name).unwrap_or_else(|| panic!("undefined {name}"))
                        }
                        other => panic!("symbol {:?} in {other:?}", sym.name()),
                    }
                }
                other => panic!("relocation target {other:?}"),
            };
            RelocRecord {
                target: base.wrapping_add(r.addend() as u64),
                offset: offset as u32,
                r#type: r_type.0,
            }
        })
        .collect()
}

#[test]
fn copies_match_gnu_ld() {
    require_tool(CC);
    require_tool(LD);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oracle-ld");
    std::fs::create_dir_all(&dir).unwrap();
    let obj_path = compile_fixture(&dir);
    let obj_bytes = std::fs::read(&obj_path).unwrap();
    let file = object::File::parse(&*obj_bytes).unwrap();
    let sections: Vec<Section> = file
        .sections()
        .filter_map(|s| {
            let name = s.name().ok()?.to_string();
            allocated(&name).then(|| Section {
                text: name.starts_with(".text"),
                index: s.index(),
                size: s.size(),
                align: s.align().max(1),
                data: s.data().unwrap_or(&[]).to_vec(),
                name,
            })
        })
        .collect();
    assert!(sections.iter().filter(|s| s.text && s.size > 0).count() >= 6);

    let mut tally = Tally::default();
    let mut errors = Vec::new();
    for seed in 0..seeds() {
        let (mut addr, syms) = layout(&sections, seed);
        for s in sections.iter().filter(|s| s.size == 0) {
            addr.insert(s.name.clone(), WINDOW_LO);
        }
        let elf = oracle::link(
            &dir,
            "oracle",
            &obj_path,
            &addr,
            &syms,
            &[".eh_frame", ".comment", ".note.GNU-stack"],
            "caller",
        )
        .unwrap_or_else(|e| panic!("linking the fixture: {e}"));
        let linked = object::File::parse(&*elf).unwrap();
        for sec in sections.iter().filter(|s| s.text && s.size > 0) {
            let at = addr[&sec.name];
            let out = linked.section_by_name(&sec.name).unwrap();
            assert_eq!(out.address(), at, "ld moved {}", sec.name);
            let relocs = relocs_of(&file, sec, &addr, &syms);
            let linked = out.data().unwrap();
            for e in check_copy(&sec.name, at, &sec.data, &relocs, linked, &mut tally) {
                errors.push(format!("seed {seed}: {e}"));
            }
        }
        if errors.len() > 20 {
            break;
        }
    }
    let compared: BTreeMap<String, usize> = tally
        .compared
        .iter()
        .map(|(t, n)| (reloc::type_name(*t), *n))
        .collect();
    eprintln!(
        "compared with ld: {compared:#?}\nthrough veneers: {}",
        tally.veneered
    );
    assert!(
        errors.is_empty(),
        "{} differences:\n{}",
        errors.len(),
        errors.join("\n")
    );
    // Every type the engine knows appears in the fixture and was compared.
    for t in &reloc::TYPES {
        assert!(
            tally.compared.contains_key(&t.number),
            "{} never compared with ld",
            t.name
        );
    }
    assert!(
        tally.veneered > 0,
        "no out-of-range branch: the veneer path went untested"
    );
}
