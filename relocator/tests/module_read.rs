//! `relocator::module` reads what rerand-ld writes, refuses what it did not
//! write, and never panics on damaged files; `oracle::verify_module` finds
//! a record rerand-ld forgot.
//!
//! The module is synthesized here with `object::write` (one moving function
//! `foo`, one excluded `bar`), so the test needs no kernel build. Modules
//! built by `cargo xtask build` are fuzzed too when they exist.

mod common;

use common::{repo_root, require_tool, Gen};
use object::write::{Object, Relocation, StandardSection, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope,
};
use relocator::abi::{self, FuncRecord, RelocRecord, TableHeader};
use relocator::module::{Error, Module, KIMAGE_VADDR, MODULES_VADDR};
use relocator::oracle::{self, VerifyConfig};
use relocator::placement::{build_copy, copy_max_size};
use relocator::reloc::{R_AARCH64_ABS64, R_AARCH64_ADR_PREL_PG_HI21, R_AARCH64_CALL26};
use std::path::{Path, PathBuf};
use std::process::Command;

const NOP: u32 = 0xd503_201f;
const BL: u32 = 0x9400_0000;
const ADRP_X0: u32 = 0x9000_0000;
const RET: u32 = 0xd65f_03c0;

fn words(w: &[u32]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn sym(
    obj: &mut Object,
    name: &str,
    section: object::write::SectionId,
    value: u64,
    size: u64,
    kind: SymbolKind,
) -> object::write::SymbolId {
    obj.add_symbol(Symbol {
        name: name.as_bytes().to_vec(),
        value,
        size,
        kind,
        scope: SymbolScope::Compilation,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    })
}

fn rel(
    obj: &mut Object,
    sec: object::write::SectionId,
    offset: u64,
    symbol: object::write::SymbolId,
    r_type: u32,
    addend: i64,
) {
    obj.add_relocation(
        sec,
        Relocation {
            offset,
            symbol,
            addend,
            flags: RelocationFlags::Elf {
                r_type: object::elf::RelocationType(r_type),
            },
        },
    )
    .unwrap();
}

/// A module as rerand-ld leaves one: `foo` is a trampoline, `foo_real` its
/// body in `.text.foo` (ftrace NOP, a call to the kernel, an ADRP to data).
fn synthetic_module(with_table: bool) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little);
    let body_sec = obj.add_section(Vec::new(), b".text.foo".to_vec(), SectionKind::Text);
    obj.append_section_data(body_sec, &words(&[NOP, BL, ADRP_X0, RET]), 16);
    let bar_sec = obj.add_section(Vec::new(), b".text.bar".to_vec(), SectionKind::Text);
    obj.append_section_data(bar_sec, &words(&[RET]), 4);
    let data_sec = obj.section_id(StandardSection::Data);
    obj.append_section_data(data_sec, &[7u8; 64], 8);
    let data = sym(&mut obj, "counter", data_sec, 16, 8, SymbolKind::Data);
    let ext = obj.add_symbol(Symbol {
        name: b"ext_func".to_vec(),
        value: 0,
        size: 0,
        kind: SymbolKind::Text,
        scope: SymbolScope::Dynamic,
        weak: false,
        section: SymbolSection::Undefined,
        flags: SymbolFlags::None,
    });
    let real = sym(&mut obj, "foo_real", body_sec, 0, 16, SymbolKind::Text);
    sym(&mut obj, "bar", bar_sec, 0, 4, SymbolKind::Text);
    // What module_exit() makes of an excluded function: a second name.
    sym(&mut obj, "cleanup_module", bar_sec, 0, 4, SymbolKind::Text);
    rel(&mut obj, body_sec, 4, ext, R_AARCH64_CALL26, 0);
    rel(&mut obj, body_sec, 8, data, R_AARCH64_ADR_PREL_PG_HI21, 0);
    if !with_table {
        return obj.write().unwrap();
    }
    let tramp_sec = obj.add_section(
        Vec::new(),
        abi::TRAMPOLINE_SECTION.as_bytes().to_vec(),
        SectionKind::Text,
    );
    obj.append_section_data(tramp_sec, &words(&[NOP; 30]), 8);
    let tramp = sym(&mut obj, "foo", tramp_sec, 0, 120, SymbolKind::Text);
    rel(&mut obj, tramp_sec, 72, real, R_AARCH64_CALL26, 0);
    let slots_sec = obj.add_section(
        Vec::new(),
        abi::SLOTS_SECTION.as_bytes().to_vec(),
        SectionKind::UninitializedData,
    );
    obj.append_section_bss(slots_sec, abi::SLOT_SIZE as u64, 8);
    let slots = sym(&mut obj, "slots", slots_sec, 0, 16, SymbolKind::Data);

    let mut t = Vec::new();
    TableHeader::new(1, 3, 2).write(&mut t);
    FuncRecord {
        size: 16,
        align: 16,
        call_offset: 72,
        first_reloc: 0,
        nrelocs: 3,
        flags: abi::FUNC_FTRACE_SLOTS,
        ..Default::default()
    }
    .write(&mut t);
    for (offset, r_type) in [
        (0, abi::OP_NOP),
        (4, R_AARCH64_CALL26),
        (8, R_AARCH64_ADR_PREL_PG_HI21),
    ] {
        RelocRecord {
            target: 0,
            offset,
            r#type: r_type,
        }
        .write(&mut t);
    }
    let table_sec = obj.add_section(
        Vec::new(),
        abi::TABLE_SECTION.as_bytes().to_vec(),
        SectionKind::ReadOnlyData,
    );
    obj.append_section_data(table_sec, &t, 8);
    let table = sym(&mut obj, "table", table_sec, 0, 0, SymbolKind::Data);
    let f0 = abi::HEADER_SIZE as u64;
    let r0 = f0 + abi::FUNC_SIZE as u64;
    rel(
        &mut obj,
        table_sec,
        abi::offsets::HEADER_SELF,
        table,
        R_AARCH64_ABS64,
        0,
    );
    rel(
        &mut obj,
        table_sec,
        abi::offsets::HEADER_FUNCS,
        table,
        R_AARCH64_ABS64,
        f0 as i64,
    );
    rel(
        &mut obj,
        table_sec,
        abi::offsets::HEADER_RELOCS,
        table,
        R_AARCH64_ABS64,
        r0 as i64,
    );
    rel(
        &mut obj,
        table_sec,
        abi::offsets::HEADER_SLOTS,
        slots,
        R_AARCH64_ABS64,
        0,
    );
    rel(
        &mut obj,
        table_sec,
        f0 + abi::offsets::FUNC_TRAMPOLINE,
        tramp,
        R_AARCH64_ABS64,
        0,
    );
    rel(
        &mut obj,
        table_sec,
        f0 + abi::offsets::FUNC_BODY,
        real,
        R_AARCH64_ABS64,
        0,
    );
    rel(&mut obj, table_sec, r0 + 16, ext, R_AARCH64_ABS64, 0);
    rel(&mut obj, table_sec, r0 + 32, data, R_AARCH64_ABS64, 0);
    let note = obj.add_section(
        Vec::new(),
        abi::EXCLUDED_SECTION.as_bytes().to_vec(),
        SectionKind::Other,
    );
    obj.append_section_data(
        note,
        b"bar\treferenced by __jump_table (static keys patch the original in place)\0\
          cleanup_module\treferenced by __jump_table (static keys patch the original in place)\0",
        1,
    );
    obj.write().unwrap()
}

#[test]
fn reads_the_tables_of_a_module() {
    let m = Module::parse("synthetic.ko", &synthetic_module(true)).unwrap();
    assert_eq!(m.functions.len(), 1);
    let f = &m.functions[0];
    assert_eq!(
        (f.name.as_str(), f.size, f.align, f.offset),
        ("foo", 16, 16, 0)
    );
    assert_eq!(m.sections[f.section].name, ".text.foo");
    let types: Vec<u32> = f.relocs.iter().map(|r| r.r_type).collect();
    assert_eq!(
        types,
        [abi::OP_NOP, R_AARCH64_CALL26, R_AARCH64_ADR_PREL_PG_HI21]
    );
    assert_eq!(m.excluded.len(), 2);
    assert_eq!(m.excluded[0].name, "bar");
    assert_eq!(m.excluded[0].size, Some(4));
    assert!(m.excluded[0].reason.contains("__jump_table"));
    // The alias is the same 4 bytes: one function that stays, not two.
    let staying = m.staying();
    assert_eq!(staying.len(), 1);
    assert_eq!(staying[0].label(), "bar (alias cleanup_module)");
    assert_eq!(m.fixed_exec().1, 4);
    assert_eq!(m.undefined, ["ext_func"]);

    let l = m.loader_layout(MODULES_VADDR, KIMAGE_VADDR);
    let recs = m.records(f, &l).unwrap();
    assert_eq!(recs[1].target, l.symbols["ext_func"]);
    let data_sec = m.section_by_name(".data").unwrap().index;
    assert_eq!(recs[2].target, l.sections[&data_sec] + 16);
    let pristine = m.loaded_body(f, &l);
    let copy = build_copy(
        0xffff_8000_0400_0000,
        &pristine,
        &recs,
        copy_max_size(16, &recs),
    )
    .unwrap();
    assert_eq!(copy.len(), 16);
}

#[test]
fn a_module_without_table_is_not_a_rerand_module() {
    match Module::parse("plain.ko", &synthetic_module(false)) {
        Err(e @ Error::NotLinked { .. }) => {
            assert_eq!(e.exit_code(), 1);
            assert_eq!(
                e.to_string(),
                "plain.ko has no .rerand.table: it was not linked with rerand-ld"
            );
        }
        other => panic!("expected NotLinked, got {other:?}"),
    }
}

/// Everything a tool does with a parsed module, so damage that parses is
/// carried through every code path.
fn exercise(m: &Module) {
    let l = m.loader_layout(MODULES_VADDR, KIMAGE_VADDR);
    for f in &m.functions {
        let pristine = m.loaded_body(f, &l);
        if let Ok(recs) = m.records(f, &l) {
            let cap = copy_max_size(pristine.len(), &recs);
            let _ = build_copy(0xffff_8000_0400_0000, &pristine, &recs, cap);
        }
    }
    let _ = oracle::verify_layout(m, 1, (oracle::WINDOW_LO, oracle::WINDOW_HI));
    let _ = m.overhead();
}

/// Truncations and single-bit flips: parse errors are fine, panics are not.
fn fuzz(name: &str, bytes: &[u8], flips: usize) -> (usize, usize) {
    let (mut ok, mut err) = (0, 0);
    let mut tally = |r: Result<Module, Error>| match r {
        Ok(m) => {
            exercise(&m);
            ok += 1
        }
        Err(e) => {
            assert!(
                e.to_string().starts_with(name),
                "error does not name the file: {e}"
            );
            assert!(matches!(e, Error::Corrupt { .. } | Error::NotLinked { .. }));
            err += 1
        }
    };
    let step = (bytes.len() / 512).max(1);
    for len in (0..bytes.len()).step_by(step) {
        tally(Module::parse(name, &bytes[..len]));
    }
    let mut g = Gen::new(bytes.len() as u64);
    for _ in 0..flips {
        let mut b = bytes.to_vec();
        let i = g.below(b.len() as u64) as usize;
        b[i] ^= 1 << g.below(8);
        tally(Module::parse(name, &b));
    }
    (ok, err)
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let bytes = synthetic_module(true);
    let (ok, err) = fuzz("synthetic.ko", &bytes, 20_000);
    assert!(err > 0 && ok > 0, "{ok} parsed, {err} refused");
    // Built modules, when `cargo xtask build` has made them.
    let mut built = vec![repo_root().join("tests/test_driver/test_driver.ko")];
    if let Ok(rd) = std::fs::read_dir(repo_root().join(".cache/bfq")) {
        built.extend(rd.flatten().map(|e| e.path().join("rerand/bfq.ko")));
    }
    for p in built.into_iter().filter(|p| p.is_file()) {
        let b = std::fs::read(&p).unwrap();
        let (ok, err) = fuzz("built.ko", &b, 300);
        eprintln!("{}: {ok} damaged copies parsed, {err} refused", p.display());
    }
}

#[test]
fn the_tool_reports_damage_with_exit_status_2() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-read");
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = synthetic_module(true);
    let good = dir.join("good.ko");
    std::fs::write(&good, &bytes).unwrap();
    let cut = dir.join("cut.ko");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let plain = dir.join("plain.ko");
    std::fs::write(&plain, synthetic_module(false)).unwrap();
    let rerand = |p: &Path| {
        Command::new(env!("CARGO_BIN_EXE_rerand"))
            .arg("inspect")
            .arg(p)
            .output()
            .unwrap()
    };
    let out = rerand(&good);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("good.ko: 1 of 2 functions move (80% of code bytes); 1 stay in place: 1 referenced by __jump_table"),
        "{text}"
    );
    let out = rerand(&cut);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.ko") && !err.contains("panicked"), "{err}");
    let out = rerand(&plain);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not linked with rerand-ld"));
}

#[test]
fn the_oracle_catches_a_missing_record() {
    require_tool(oracle::LD);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-oracle");
    std::fs::create_dir_all(&dir).unwrap();
    let ko = dir.join("synthetic.ko");
    std::fs::write(&ko, synthetic_module(true)).unwrap();
    let mut m = Module::read(&ko).unwrap();
    let cfg = VerifyConfig {
        seeds: 20,
        first_seed: 0,
        window: (oracle::WINDOW_LO, oracle::WINDOW_HI),
        workdir: dir.join("work"),
        jobs: 2,
    };
    let r = oracle::verify_module(&m, &ko, &cfg).unwrap();
    assert!(r.differences.is_empty(), "{:?}", r.differences);
    assert_eq!(r.tally.bodies, 20);
    // rerand-ld forgetting the ADRP: its page is stale in every copy.
    m.functions[0]
        .relocs
        .retain(|r| r.r_type != R_AARCH64_ADR_PREL_PG_HI21);
    let r = oracle::verify_module(&m, &ko, &cfg).unwrap();
    assert!(!r.differences.is_empty());
    assert!(
        r.differences.iter().all(|(_, d)| d.offset == 8),
        "{:?}",
        r.differences
    );
}
