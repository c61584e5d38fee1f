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
use relocator::placement::{self, build_copy, copy_max_size, place_bodies};
use relocator::reloc::{self, ErrorKind};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const CC: &str = "aarch64-linux-gnu-gcc";
const LD: &str = "aarch64-linux-gnu-ld";

/// A BL reaches ±128 MiB: in a 256 MiB window a quarter of the calls
/// between functions need a veneer.
const WINDOW_LO: u64 = 0xffff_8000_1000_0000;
const WINDOW_HI: u64 = WINDOW_LO + (256 << 20);
/// Room after each section for ld's own long-branch stubs.
const STUB_ROOM: u64 = 0x1000;

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
fn layout(sections: &[Section], seed: u64) -> (BTreeMap<String, u64>, BTreeMap<&'static str, u64>) {
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
        "ext_func",
        (WINDOW_LO - reach + g.below(2 * reach + (512 << 20))) & !3,
    );
    syms.insert("ext_data", (WINDOW_LO - (1 << 30) + g.below(3 << 30)) & !3);
    syms.insert("small_sym", g.below(0x10000));
    (addr, syms)
}

fn link(
    dir: &Path,
    obj: &Path,
    addr: &BTreeMap<String, u64>,
    syms: &BTreeMap<&str, u64>,
) -> Vec<u8> {
    let mut by_addr: Vec<(&u64, &String)> = addr.iter().map(|(n, a)| (a, n)).collect();
    by_addr.sort();
    let mut script = String::from("SECTIONS\n{\n");
    for (a, name) in by_addr {
        writeln!(script, "  {name} {a:#x} : {{ *({name}) }}").unwrap();
    }
    script += "  /DISCARD/ : { *(.eh_frame) *(.comment) *(.note.GNU-stack) }\n}\n";
    let lds = dir.join("oracle.lds");
    std::fs::write(&lds, &script).unwrap();
    let out = dir.join("oracle.elf");
    let mut cmd = Command::new(LD);
    cmd.arg("-T")
        .arg(&lds)
        .args([
            "-e",
            "caller",
            "-z",
            "max-page-size=4096",
            "--no-warn-rwx-segments",
        ])
        .arg(obj)
        .arg("-o")
        .arg(&out);
    for (name, v) in syms {
        cmd.arg(format!("--defsym={name}={v:#x}"));
    }
    run(
        &mut cmd,
        &format!("linking the fixture with {LD}:\n{script}"),
    );
    std::fs::read(&out).unwrap()
}

/// The table rows rerand-ld would write for one function section: S + A
/// from the chosen layout, the offset, the type.
fn relocs_of(
    file: &object::File,
    sec: &Section,
    addr: &BTreeMap<String, u64>,
    syms: &BTreeMap<&str, u64>,
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

fn word(b: &[u8], at: usize) -> String {
    b.get(at..at + 4).map_or("(short)".into(), |w| {
        format!("{:#010x}", u32::from_le_bytes(w.try_into().unwrap()))
    })
}

#[derive(Default)]
struct Tally {
    compared: BTreeMap<u32, usize>,
    veneered: usize,
}

/// Compares one function's copy with ld's bytes; returns the differences.
fn check_function(
    sec: &Section,
    at: u64,
    relocs: &[RelocRecord],
    linked: &[u8],
    tally: &mut Tally,
) -> Vec<String> {
    let mut errors = Vec::new();
    let copy = match build_copy(at, &sec.data, relocs, copy_max_size(sec.data.len(), relocs)) {
        Ok(c) => c,
        Err(e) => return vec![format!("{} at {at:#x}: build_copy failed: {e}", sec.name)],
    };
    let mut skip = BTreeSet::new();
    for r in relocs {
        let place = at + r.offset as u64;
        let o = r.offset as usize;
        let mut scratch = sec.data[o..].to_vec();
        let far = reloc::apply(&mut scratch, place, r.target, r.r#type)
            .is_err_and(|e| e.kind == ErrorKind::OutOfRange);
        if far {
            // ld used its own stub here; ours must reach a veneer to the target.
            skip.insert(o);
            tally.veneered += 1;
            let via = reloc::decode(r.r#type, &copy[o..], place).unwrap();
            let v = via.wrapping_sub(at) as usize;
            if copy.get(v..v + 16) != Some(&placement::veneer(r.target)[..]) {
                errors.push(format!(
                    "{} +{o:#x} {}: branch goes to {via:#x}, not to a veneer for {:#x}",
                    sec.name,
                    reloc::type_name(r.r#type),
                    r.target
                ));
            }
        } else {
            *tally.compared.entry(r.r#type).or_default() += 1;
        }
    }
    for (i, (a, b)) in copy.iter().zip(linked).enumerate().take(sec.data.len()) {
        if a == b || skip.contains(&(i & !3)) {
            continue;
        }
        let culprits: Vec<String> = relocs
            .iter()
            .filter(|r| {
                let n = reloc::lookup(r.r#type).map_or(4, |t| t.field_size());
                (r.offset as usize..r.offset as usize + n).contains(&i)
            })
            .map(|r| format!("{} -> {:#x}", reloc::type_name(r.r#type), r.target))
            .collect();
        let w = i & !3;
        errors.push(format!(
            "{} at {at:#x}, offset {w:#x} [{}]: rerand {} ld {}",
            sec.name,
            culprits.join(", "),
            word(&copy, w),
            word(linked, w)
        ));
        break;
    }
    errors
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
        let elf = link(&dir, &obj_path, &addr, &syms);
        let linked = object::File::parse(&*elf).unwrap();
        for sec in sections.iter().filter(|s| s.text && s.size > 0) {
            let at = addr[&sec.name];
            let out = linked.section_by_name(&sec.name).unwrap();
            assert_eq!(out.address(), at, "ld moved {}", sec.name);
            let relocs = relocs_of(&file, sec, &addr, &syms);
            for e in check_function(sec, at, &relocs, out.data().unwrap(), &mut tally) {
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
