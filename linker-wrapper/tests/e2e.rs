//! End to end: compile C fixtures with the kernel's code-generation flags,
//! rewrite them, check the ELF, then link the rewritten code into a static
//! aarch64 program and run it under qemu-aarch64 (which also moves every
//! body the way the runtime does and runs everything again).
use object::read::elf::{ElfFile64, FileHeader, SectionHeader};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};
use relocator::abi;
use rerand_ld::options::Config;
use rerand_ld::rewrite::{rewrite, Outcome};
use rerand_ld::trampoline;
use std::path::{Path, PathBuf};
use std::process::Command;

const CC: &str = "aarch64-linux-gnu-gcc";
const FLAGS: &[&str] = &[
    "-O2",
    "-ffunction-sections",
    "-fno-pic",
    "-mbranch-protection=pac-ret+leaf",
    "-fpatchable-function-entry=2",
    "-c",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The cross tools these tests run; a missing one fails the test (a
/// skipped test proves nothing) with what to run.
fn need(tools: &[&str]) {
    for tool in tools {
        if Command::new(tool).arg("--version").output().is_err() {
            panic!("{tool} is required: `cargo xtask env` installs it (as root, once)");
        }
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn compile(src: &str, out: &Path, extra: &[&str]) {
    run(Command::new(CC)
        .args(FLAGS)
        .args(extra)
        .arg(fixtures().join(src))
        .arg("-o")
        .arg(out));
}

fn rewritten(data: &[u8], cfg: &Config) -> (Vec<u8>, rerand_ld::report::ObjectReport) {
    match rewrite("funcs.o", data, cfg).expect("rewrite") {
        Outcome::Rewritten { data, report } => (data, report),
        Outcome::PassThrough { reason, .. } => panic!("passed through: {reason}"),
    }
}

/// A function's (status, reason) in an object's report.
fn status_of(report: &rerand_ld::report::ObjectReport, name: &str) -> (String, String) {
    let f = report
        .functions
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the report"));
    (f.status.clone(), f.reason.clone().unwrap_or_default())
}

/// (symbol name, symbol's section name) of every relocation in the section
/// named `sec`, as (offset, type, name, section, addend).
type Elf<'a> = ElfFile64<'a, object::LittleEndian>;

fn relocs(f: &Elf, sec: &str) -> Vec<(u64, u32, String, String, i64)> {
    section_relocs(
        f,
        &f.section_by_name(sec).unwrap_or_else(|| panic!("no {sec}")),
    )
}

/// (offset, type, symbol, symbol's section, addend) of each relocation.
fn section_relocs(
    f: &Elf,
    s: &object::read::elf::ElfSection64<object::LittleEndian>,
) -> Vec<(u64, u32, String, String, i64)> {
    s.relocations()
        .map(|(off, r)| {
            let RelocationTarget::Symbol(si) = r.target() else {
                panic!()
            };
            let sym = f.symbol_by_index(si).unwrap();
            let secname = sym
                .section_index()
                .and_then(|i| f.section_by_index(i).ok())
                .map(|s| s.name().unwrap().to_string())
                .unwrap_or_default();
            let object::RelocationFlags::Elf { r_type } = r.flags() else {
                panic!()
            };
            (
                off,
                r_type.0,
                sym.name().unwrap().to_string(),
                secname,
                r.addend(),
            )
        })
        .collect()
}

#[test]
fn rewrite_and_run_under_qemu() {
    need(&[CC, "qemu-aarch64"]);
    let d = tmp("e2e");
    let obj = d.join("funcs.o");
    compile("funcs.c", &obj, &["-g"]);
    let data = std::fs::read(&obj).unwrap();
    let (out, report) = rewritten(&data, &Config::default());

    // Report: exclusions and their reasons.
    let status = |n: &str| status_of(&report, n);
    // Stack-passed arguments move, through the trampoline that copies them.
    assert_eq!(status("sum9").0, "randomized", "{:?}", status("sum9"));
    assert_eq!(status("sum10").0, "randomized", "{:?}", status("sum10"));
    assert!(status("vsum").1.contains("variadic"));
    assert!(status("pinned_fn").1.contains("opt-out"));
    for n in [
        "sq",
        "sum8",
        "make_pair",
        "make_big",
        "sum_big",
        "fib",
        "fact_s",
        "scale.constprop.0",
        "part_work.part.0",
        "only_b.isra.0",
        "dispatch",
    ] {
        assert_eq!(status(n).0, "randomized", "{n}: {:?}", status(n));
    }
    let nwrapped = report.randomized();
    assert_eq!(nwrapped, 26);

    // Symbols: foo at the trampoline, foo_real local at the body.
    let f = ElfFile64::<object::LittleEndian>::parse(&*out).unwrap();
    let sym = |n: &str| f.symbols().find(|s| s.name() == Ok(n)).unwrap();
    let secname = |s: &object::read::elf::ElfSymbol64<object::LittleEndian>| {
        f.section_by_index(s.section_index().unwrap())
            .unwrap()
            .name()
            .unwrap()
            .to_string()
    };
    for n in ["sq", "exported_add", "fib", "part_work.part.0"] {
        let t = sym(n);
        assert_eq!(secname(&t), abi::TRAMPOLINE_SECTION);
        assert_eq!(t.size(), trampoline::SIZE as u64);
        assert_eq!(t.kind(), object::SymbolKind::Text);
        let b = sym(&format!("{n}_real"));
        assert!(b.is_local());
        assert_eq!(secname(&b), format!(".text.{n}"));
        assert_eq!(b.address(), 0);
    }
    assert!(sym("exported_add").is_global());
    assert!(sym("sq").is_local());
    // An alias of the same bytes is the same function: it names the
    // trampoline too, and no body of its own.
    assert_eq!(secname(&sym("add_alias")), abi::TRAMPOLINE_SECTION);
    assert_eq!(sym("add_alias").address(), sym("exported_add").address());
    assert!(f.symbols().all(|s| s.name() != Ok("add_alias_real")));
    // The stack-argument shape, larger: it copies 8 and 16 bytes.
    for (n, stack) in [("sum9", 8), ("sum10", 16)] {
        assert_eq!(secname(&sym(n)), abi::TRAMPOLINE_SECTION);
        assert_eq!(sym(n).size(), trampoline::layout(stack).size, "{n}");
        assert_eq!(secname(&sym(&format!("{n}_real"))), format!(".text.{n}"));
    }
    let tramps: std::collections::BTreeSet<u64> = f
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text)
        .filter(|s| {
            s.section_index()
                .is_some_and(|i| secname(s) == abi::TRAMPOLINE_SECTION && i.0 > 0)
        })
        .map(|s| s.address())
        .collect();
    assert_eq!(tramps.len(), nwrapped);

    // Trampoline words.
    let tr = f.section_by_name(abi::TRAMPOLINE_SECTION).unwrap();
    let hdr = tr.elf_section_header();
    assert_eq!(
        hdr.sh_flags(object::LittleEndian),
        object::elf::SHF_ALLOC | object::elf::SHF_EXECINSTR
    );
    assert_eq!(tr.align(), 8);
    let bytes = tr.data().unwrap();
    let stack_shapes = trampoline::layout(8).size + trampoline::layout(16).size;
    assert_eq!(
        bytes.len() as u64,
        trampoline::SIZE as u64 * (nwrapped as u64 - 2) + stack_shapes
    );
    for (i, w) in bytes.chunks(4).take(trampoline::SIZE / 4).enumerate() {
        assert_eq!(
            u32::from_le_bytes(w.try_into().unwrap()),
            trampoline::WORDS[i]
        );
    }
    assert_eq!(&bytes[..4], &0xd503245fu32.to_le_bytes()); // bti c
    let trel = relocs(&f, abi::TRAMPOLINE_SECTION);
    let at = |o: u64| trel.iter().find(|r| r.0 == o).unwrap().clone();
    assert_eq!(at(24).1, 275);
    assert_eq!(at(24).3, abi::SLOTS_SECTION);
    assert_eq!(at(28).1, 277);
    assert_eq!((at(32).1, at(32).2.as_str()), (283, abi::ENTER_HOOK));
    assert_eq!(at(36).1, 283);
    assert!(at(36).2.ends_with("_real"));
    // The exit hook gets the slot again from text, not from the frame.
    assert_eq!(at(40).1, 275);
    assert_eq!(at(40).3, abi::SLOTS_SECTION);
    assert_eq!(at(44).1, 277);
    assert_eq!((at(48).1, at(48).2.as_str()), (283, abi::EXIT_HOOK));
    assert_eq!(trel.len(), 7 * nwrapped);
    assert_eq!(at(64 + 24).4, 16); // second function's slot
    assert_eq!(at(64 + 40).4, 16);

    // Each trampoline's ftrace NOPs (+4) are listed for ftrace, like GCC's.
    let pfe: Vec<_> = f
        .sections()
        .filter(|s| s.name() == Ok("__patchable_function_entries"))
        .flat_map(|s| section_relocs(&f, &s))
        .collect();
    for t in &tramps {
        assert!(
            pfe.iter().any(|r| r.1 == 257
                && r.3 == abi::TRAMPOLINE_SECTION
                && r.4 == (t + trampoline::FTRACE_ENTRY) as i64),
            "no ftrace entry for the trampoline at {t:#x}"
        );
    }

    // Section-symbol calls now go to trampolines; metadata stays on bodies.
    let r = relocs(&f, ".text.exported_add");
    assert!(r
        .iter()
        .any(|r| r.1 == 283 && r.2 == "sq" && r.3 == abi::TRAMPOLINE_SECTION));
    let r = relocs(&f, ".text.dispatch");
    assert!(r
        .iter()
        .any(|r| r.2 == "twice" && r.3 == abi::TRAMPOLINE_SECTION));
    let r = relocs(&f, ".text.fib");
    assert!(r
        .iter()
        .all(|r| r.2 == "fib" && r.3 == abi::TRAMPOLINE_SECTION));
    let r = relocs(&f, "__patchable_function_entries");
    assert!(r
        .iter()
        .all(|r| r.3.starts_with(".text.") && r.3 != abi::TRAMPOLINE_SECTION));
    let r = relocs(&f, ".debug_info");
    assert!(r.iter().all(|r| r.3 != abi::TRAMPOLINE_SECTION));
    let ops = f
        .sections()
        .find(|s| {
            s.name()
                .is_ok_and(|n| n.contains("rel.ro") || n.contains("rodata"))
                && s.relocations().any(|(_, r)| {
                    r.flags()
                        == object::RelocationFlags::Elf {
                            r_type: object::elf::R_AARCH64_ABS64,
                        }
                })
        })
        .unwrap();
    let r = relocs(&f, ops.name().unwrap());
    assert!(r
        .iter()
        .filter(|r| r.1 == 257)
        .all(|r| r.3 == abi::TRAMPOLINE_SECTION));

    // The table.
    let t = f.section_by_name(abi::TABLE_SECTION).unwrap();
    let td = t.data().unwrap();
    let h = abi::TableHeader::read(td).unwrap();
    assert_eq!(h.magic, abi::TABLE_MAGIC);
    assert_eq!(h.nfuncs as usize, nwrapped);
    assert_eq!(h.nexcluded, 2);
    let tr = relocs(&f, abi::TABLE_SECTION);
    assert!(tr.iter().all(|r| r.1 == 257));
    let at = |o: u64| tr.iter().find(|r| r.0 == o).unwrap().clone();
    assert_eq!(at(abi::offsets::HEADER_SELF).3, abi::TABLE_SECTION);
    assert_eq!(at(abi::offsets::HEADER_FUNCS).4, abi::HEADER_SIZE as i64);
    assert_eq!(at(abi::offsets::HEADER_SLOTS).3, abi::SLOTS_SECTION);
    for i in 0..h.nfuncs as usize {
        let base = (abi::HEADER_SIZE + i * abi::FUNC_SIZE) as u64;
        let fr = abi::FuncRecord::read(&td[base as usize..]).unwrap();
        assert_eq!(fr.call_offset % 8, 4);
        assert_eq!(fr.flags & abi::FUNC_FTRACE_SLOTS, abi::FUNC_FTRACE_SLOTS);
        // The trampoline by its section (a weak symbol could be another
        // object's), the body by its local name.
        let (_, _, _, sec, addend) = at(base);
        assert_eq!(sec, abi::TRAMPOLINE_SECTION);
        let tname = f
            .symbols()
            .find(|s| {
                s.address() == addend as u64
                    && s.kind() == object::SymbolKind::Text
                    && s.section_index()
                        == f.section_by_name(abi::TRAMPOLINE_SECTION)
                            .map(|t| t.index())
            })
            .map(|s| s.name().unwrap().to_string())
            .unwrap();
        assert_eq!(at(base + 8).2, format!("{tname}_real"));
    }
    let ex = f.section_by_name(abi::EXCLUDED_SECTION).unwrap();
    let ex = String::from_utf8_lossy(ex.data().unwrap()).to_string();
    assert!(ex.contains("vsum\tvariadic"));
    assert!(!ex.contains("sum9\t"));
    let slots = f.section_by_name(abi::SLOTS_SECTION).unwrap();
    assert_eq!(slots.size() as usize, 16 * nwrapped);

    // Idempotent: a processed object passes through.
    match rewrite("x.o", &out, &Config::default()).unwrap() {
        Outcome::PassThrough { reason, .. } => assert!(reason.contains("already processed")),
        _ => panic!("rewrote twice"),
    }

    // Through the driver, then run.
    let rr = d.join("funcs.rr.o");
    let report_path = d.join("report.json");
    run(Command::new(env!("CARGO_BIN_EXE_rerand-ld"))
        .env("RERAND_REAL_LD", "aarch64-linux-gnu-ld")
        .env(
            "RERAND_LD_FLAGS",
            format!("--report {}", report_path.display()),
        )
        .args(["-r", "-o"])
        .arg(&rr)
        .arg(&obj));
    let rep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(rep["totals"]["randomized"], 26);
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".rerand-ld")
        })
        .collect();
    assert!(leftovers.is_empty(), "temp dir not cleaned");
    // Kbuild passes the objects in a response file; rerand-ld rewrites it
    // too. In memory (the default) and with RERAND_KEEP_TEMPS (files next
    // to the output, kept) the real linker writes the same bytes.
    let rsp = d.join("funcs.mod");
    std::fs::write(&rsp, format!("{}\n", obj.display())).unwrap();
    let via = |name: &str, keep: bool| {
        let out = d.join(name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rerand-ld"));
        cmd.env("RERAND_REAL_LD", "aarch64-linux-gnu-ld")
            .env_remove("RERAND_KEEP_TEMPS")
            .args(["-r", "-o"])
            .arg(&out)
            .arg(format!("@{}", rsp.display()));
        if keep {
            cmd.env("RERAND_KEEP_TEMPS", "1");
        }
        run(&mut cmd);
        std::fs::read(&out).unwrap()
    };
    let in_memory = via("funcs.mem.o", false);
    assert_eq!(in_memory, std::fs::read(&rr).unwrap(), "response file");
    assert_eq!(via("funcs.kept.o", true), in_memory, "RERAND_KEEP_TEMPS");
    let kept: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".rerand-ld")
        })
        .collect();
    assert_eq!(kept.len(), 1, "one kept directory: {kept:?}");
    let names: Vec<String> = std::fs::read_dir(&kept[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("funcs.o"))
            && names.iter().any(|n| n.starts_with("response-")),
        "kept: {names:?}"
    );
    std::fs::remove_dir_all(&kept[0]).unwrap();
    // Nothing to rewrite (the final .ko link: its input already processed):
    // decided from the section headers, the real ld runs as is.
    let again = d.join("funcs.again.o");
    let report2 = d.join("report2.json");
    run(Command::new(env!("CARGO_BIN_EXE_rerand-ld"))
        .env("RERAND_REAL_LD", "aarch64-linux-gnu-ld")
        .env("RERAND_LD_FLAGS", format!("--report {}", report2.display()))
        .args(["-r", "-o"])
        .arg(&again)
        .arg(&rr));
    assert!(again.is_file());
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report2).unwrap()).unwrap();
    assert!(rep["objects"][0]["note"]
        .as_str()
        .unwrap()
        .contains("already processed"));
    match rerand_ld::rewrite::read_input("x.o", &rr).unwrap() {
        rerand_ld::rewrite::Input::Decided(Outcome::PassThrough { reason, .. }) => {
            assert!(reason.contains("already processed"))
        }
        other => panic!("not decided from the headers: {other:?}"),
    }
    run(Command::new(CC)
        .args([
            "-O1",
            "-c",
            "-DNFUNCS_EXPECTED=26",
            "-DNEXCLUDED_EXPECTED=2",
        ])
        .arg(format!("-I{}", fixtures().display()))
        .arg(format!("-I{}/../macros-c", env!("CARGO_MANIFEST_DIR")))
        .arg(fixtures().join("main.c"))
        .arg("-o")
        .arg(d.join("main.o")));
    run(Command::new(CC)
        .args(["-O2", "-c"])
        .arg(fixtures().join("hooks.c"))
        .arg("-o")
        .arg(d.join("hooks.o")));
    run(Command::new(CC)
        .arg("-static")
        .arg(d.join("main.o"))
        .arg(&rr)
        .arg(d.join("hooks.o"))
        .arg("-o")
        .arg(d.join("prog")));
    let out = run(Command::new("qemu-aarch64").arg(d.join("prog")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("OK: 26 functions moved"), "{text}");
}

/// GCC's identical code folding leaves a function whose body it still
/// emits with a DWARF entry that has no address (ext4's `__bpf_trace_*`,
/// `ext4_ext_release`; here `empty_release`, folded into `empty_init`): its
/// verdict comes from the entry of its name, so it moves.
#[test]
fn a_function_dwarf_gives_no_address_is_found_by_name() {
    need(&[CC]);
    let d = tmp("icf");
    let src = d.join("icf.c");
    std::fs::write(
        &src,
        "struct sb;\n\
         void empty_init(struct sb *sb) { }\n\
         void empty_release(struct sb *sb) { }\n",
    )
    .unwrap();
    let obj = d.join("icf.o");
    run(Command::new(CC)
        .args(FLAGS)
        .arg("-g")
        .arg(&src)
        .arg("-o")
        .arg(&obj));
    let data = std::fs::read(&obj).unwrap();
    let (_, rep) = rewritten(&data, &Config::default());
    for n in ["empty_init", "empty_release"] {
        let (status, reason) = status_of(&rep, n);
        assert_eq!(status, "randomized", "{n}: {reason}");
    }
}

#[test]
fn options_and_odd_inputs() {
    need(&[CC]);
    let d = tmp("odd");
    let obj = d.join("funcs.o");
    compile("funcs.c", &obj, &["-g"]);
    let data = std::fs::read(&obj).unwrap();

    // --exclude
    let cfg = Config {
        exclude: vec![regex::Regex::new("^use_").unwrap()],
        ..Default::default()
    };
    let (_, rep) = rewritten(&data, &cfg);
    let f = rep
        .functions
        .iter()
        .find(|f| f.name == "use_heavy")
        .unwrap();
    assert!(f.reason.as_deref().unwrap().starts_with("--exclude"));

    // Without DWARF: excluded, with the reason (issue 20: a 9-argument or
    // variadic function must not be wrapped blind); --assume-register-args
    // wraps and notes the assumption.
    let nodw = d.join("nodwarf.o");
    compile("funcs.c", &nodw, &[]);
    let nd = std::fs::read(&nodw).unwrap();
    let Outcome::PassThrough { report: rep, .. } = rewrite("x.o", &nd, &Config::default()).unwrap()
    else {
        panic!("an object without DWARF must not be rewritten blind");
    };
    for n in ["sum8", "sum9", "vsum"] {
        let f = rep.functions.iter().find(|f| f.name == n).unwrap();
        assert!(
            f.reason
                .as_deref()
                .unwrap_or("")
                .contains("cannot tell whether it takes stack-passed"),
            "{n}: {f:?}"
        );
    }
    let cfg = Config {
        assume_register_args: true,
        ..Default::default()
    };
    let (_, rep) = rewritten(&nd, &cfg);
    let f = rep.functions.iter().find(|f| f.name == "sum8").unwrap();
    assert!(f.note.as_deref().unwrap().contains("assumed register-only"));

    // foo_real already defined: one clear error naming the symbol.
    let src = d.join("clash.c");
    std::fs::write(
        &src,
        "int foo(int x){return x+1;}\nint foo_real(int x){return x;}\n",
    )
    .unwrap();
    let clash = d.join("clash.o");
    run(Command::new(CC)
        .args(FLAGS)
        .arg("-g")
        .arg(&src)
        .arg("-o")
        .arg(&clash));
    // A taken body name keeps that function in place, with the reason;
    // the rest of the object is rewritten.
    let (_, report) = rewritten(&std::fs::read(&clash).unwrap(), &Config::default());
    let foo = report.functions.iter().find(|f| f.name == "foo").unwrap();
    assert_eq!(foo.status, "excluded");
    assert!(
        foo.reason
            .as_deref()
            .unwrap_or("")
            .contains("`foo_real` already exists"),
        "{foo:?}"
    );

    // No -ffunction-sections: pass through with a warning.
    let plain = d.join("plain.o");
    run(Command::new(CC)
        .args(["-O2", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&plain));
    match rewrite(
        "plain.o",
        &std::fs::read(&plain).unwrap(),
        &Config::default(),
    )
    .unwrap()
    {
        Outcome::PassThrough { warn, reason, .. } => {
            assert!(warn && reason.contains("-ffunction-sections"))
        }
        _ => panic!(),
    }

    // Never panic on odd bytes.
    let cfg = Config::default();
    assert!(matches!(
        rewrite("t", b"hello", &cfg).unwrap(),
        Outcome::PassThrough { .. }
    ));
    assert!(rewrite("t", &data[..40], &cfg).is_err());
    for cut in [64, 200, 1000, data.len() / 2, data.len() - 1] {
        let _ = rewrite("t", &data[..cut], &cfg);
    }
    let mut be = data.clone();
    be[5] = 2;
    assert!(matches!(
        rewrite("t", &be, &cfg).unwrap(),
        Outcome::PassThrough { .. }
    ));
    let mut c32 = data.clone();
    c32[4] = 1;
    assert!(matches!(
        rewrite("t", &c32, &cfg).unwrap(),
        Outcome::PassThrough { .. }
    ));
    let mut corrupt = data.clone();
    let hdr = object::elf::FileHeader64::<object::LittleEndian>::parse(&*data).unwrap();
    let shoff = hdr.e_shoff(object::LittleEndian) as usize;
    for b in corrupt[shoff + 64..shoff + 64 * 4].iter_mut() {
        *b = 0xff;
    }
    let _ = rewrite("t", &corrupt, &cfg);
    let secs = hdr.sections(object::LittleEndian, &*data).unwrap();
    assert!(secs
        .iter()
        .all(|s| s.sh_type(object::LittleEndian) != object::elf::SHT_GROUP));
}

#[test]
fn probes_and_non_module_links_run_the_real_ld() {
    need(&["aarch64-linux-gnu-ld"]);
    let ours = Command::new(env!("CARGO_BIN_EXE_rerand-ld"))
        .env("RERAND_REAL_LD", "aarch64-linux-gnu-ld")
        .arg("-v")
        .output()
        .unwrap();
    let real = Command::new("aarch64-linux-gnu-ld")
        .arg("-v")
        .output()
        .unwrap();
    assert_eq!(ours.stdout, real.stdout);
    assert_eq!(ours.status.code(), real.status.code());
    // Pointing RERAND_REAL_LD at ourselves is refused, not a fork bomb.
    let me = Command::new(env!("CARGO_BIN_EXE_rerand-ld"))
        .env("RERAND_REAL_LD", env!("CARGO_BIN_EXE_rerand-ld"))
        .arg("-v")
        .output()
        .unwrap();
    assert!(!me.status.success());
}

/// A command line rerand-ld cannot read as text is one clear error, not a
/// panic and not a link that silently skips the rewrite (issue 20).
#[test]
fn non_utf8_arguments_and_response_files_are_clear_errors() {
    use std::os::unix::ffi::OsStrExt;
    need(&["aarch64-linux-gnu-ld"]);
    let d = tmp("utf8");
    let bad = std::ffi::OsStr::from_bytes(b"in\xff.o");
    let out = Command::new(env!("CARGO_BIN_EXE_rerand-ld"))
        .env("RERAND_REAL_LD", "aarch64-linux-gnu-ld")
        .args(["-r", "-o"])
        .arg(d.join("out.o"))
        .arg(bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("argument 4") && err.contains("not valid UTF-8"),
        "{err}"
    );
    let rsp = d.join("objs.rsp");
    std::fs::write(&rsp, b"a.o b\xfe.o\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rerand-ld"))
        .env("RERAND_REAL_LD", "aarch64-linux-gnu-ld")
        .args(["-r", "-o"])
        .arg(d.join("out.o"))
        .arg(format!("@{}", rsp.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("objs.rsp is not valid UTF-8"), "{err}");
    assert!(!d.join("out.o").exists(), "nothing is written");
}

/// Points the first `.rela.debug_info` entry against `.text.NAME` to the
/// symbol NAME instead (the same address: NAME starts its section).
fn through_function_symbol(data: &mut [u8], name: &str) {
    let f = Elf::parse(&*data).unwrap();
    let sym = f.symbol_by_name(name).unwrap().index().0 as u64;
    let text = f.section_by_name(&format!(".text.{name}")).unwrap().index();
    let sec_sym = f
        .symbols()
        .find(|s| s.kind() == object::SymbolKind::Section && s.section_index() == Some(text))
        .unwrap()
        .index()
        .0 as u64;
    let rela = f.section_by_name(".rela.debug_info").unwrap();
    let (off, size) = rela.file_range().unwrap();
    let at = (off..off + size)
        .step_by(24)
        .find(|&at| {
            let w = |k: u64| {
                let k = (at + k) as usize;
                u64::from_le_bytes(data[k..k + 8].try_into().unwrap())
            };
            w(8) >> 32 == sec_sym
        })
        .expect("a .debug_info entry in the function") as usize;
    let info = u64::from_le_bytes(data[at + 8..at + 16].try_into().unwrap());
    let info = (sym << 32) | (info & 0xffff_ffff);
    data[at + 8..at + 16].copy_from_slice(&info.to_le_bytes());
}

/// A section header without its file offset: name, type, flags, size,
/// link, info, alignment, entry size; then the section's bytes.
type SectionView = (Vec<u8>, u32, u64, u64, u32, u32, u64, u64, Vec<u8>);

/// Every section's [`SectionView`], in order.
fn sections(data: &[u8]) -> Vec<SectionView> {
    let e = object::LittleEndian;
    let hdr = object::elf::FileHeader64::<object::LittleEndian>::parse(data).unwrap();
    let secs = hdr.sections(e, data).unwrap();
    secs.iter()
        .map(|sh| {
            let bytes = if sh.sh_type(e) == object::elf::SHT_NOBITS {
                Vec::new()
            } else {
                sh.data(e, data).unwrap().to_vec()
            };
            (
                secs.section_name(e, sh).unwrap().to_vec(),
                sh.sh_type(e).0,
                sh.sh_flags(e).0,
                sh.sh_size(e),
                sh.sh_link(e),
                sh.sh_info(e),
                sh.sh_addralign(e),
                sh.sh_entsize(e),
                bytes,
            )
        })
        .collect()
}

/// rawrela keeps `.rela.debug_*` out of the Builder: what is written must
/// be what the Builder's own path writes (`plan` on an object whose
/// sections were not hidden), for DWARF 4 and 5.
#[test]
fn raw_debug_relocations_match_the_builder() {
    need(&[CC]);
    let d = tmp("rawrela");
    for dwarf in ["-gdwarf-4", "-gdwarf-5"] {
        let obj = d.join(format!("funcs{dwarf}.o"));
        compile("funcs.c", &obj, &[dwarf]);
        let mut data = std::fs::read(&obj).unwrap();
        // GCC's DWARF names functions through section symbols; make one
        // entry name `exported_add` itself, which must then mean the body.
        through_function_symbol(&mut data, "exported_add");
        let mut hidden = data.clone();
        let n = rerand_ld::rawrela::hide(&mut hidden);
        assert!(n >= 3, "{dwarf}: only {n} .rela.debug_* sections hidden");
        let cfg = Config::default();
        let by_builder = match rerand_ld::rewrite::plan("funcs.o", &data, &cfg).unwrap() {
            rerand_ld::rewrite::Plan::Rewrite(r) => {
                let mut out = Vec::new();
                r.write(&mut out).unwrap();
                out
            }
            rerand_ld::rewrite::Plan::Pass(o) => panic!("passed through: {o:?}"),
        };
        let (raw, _) = rewritten(&data, &cfg);
        // Same sections in the same order with the same headers and bytes;
        // only file offsets differ (the Builder places its relocation
        // sections after the data).
        assert_eq!(sections(&raw), sections(&by_builder), "{dwarf}");
        // And the body, not the trampoline, is what the DWARF describes.
        let f = Elf::parse(&*raw).unwrap();
        let info = relocs(&f, ".debug_info");
        let body = format!("exported_add{}", abi::BODY_SUFFIX);
        assert!(
            info.iter().any(|r| r.2 == body),
            "{dwarf}: {body} not named"
        );
        let tramp: Vec<_> = info
            .iter()
            .filter(|r| r.3 == abi::TRAMPOLINE_SECTION)
            .collect();
        assert!(
            tramp.is_empty(),
            "{dwarf}: .debug_info refers to trampolines: {tramp:?}"
        );
    }
}

/// What the author said about instrumenting a function survives the rewrite
/// (issue 20): a `notrace` function gets no ftrace site on its trampoline,
/// and a `NOKPROBE_SYMBOL` function stays in place, unwrapped. Shapes the
/// runtime would refuse, or whose body name is taken, stay in place too,
/// with their reasons, instead of failing the link or the load.
#[test]
fn notrace_and_nokprobe_are_kept_as_the_author_meant() {
    need(&[CC]);
    let d = tmp("intent");
    let obj = d.join("intent.o");
    compile("intent.c", &obj, &["-g"]);
    let data = std::fs::read(&obj).unwrap();
    let (out, report) = rewritten(&data, &Config::default());
    let status = |n: &str| status_of(&report, n);
    for n in ["in_probe_path", "static_in_probe_path"] {
        let (st, why) = status(n);
        assert_ne!(st, "randomized", "{n}");
        assert!(why.contains("NOKPROBE_SYMBOL"), "{n}: {why}");
    }
    for n in ["quiet", "traced", "uses_static"] {
        assert_eq!(status(n).0, "randomized", "{n}: {:?}", status(n));
    }
    for (n, why) in [
        ("clash", "`clash_real` already exists"),
        ("page_aligned", "aligned to 8192 bytes"),
        ("odd_size", "not a multiple of 4"),
        ("this_ip", "takes the address of a label of its own body"),
        ("computed_goto", ".rodata holds an address inside its body"),
    ] {
        let (st, reason) = status(n);
        assert!(
            st != "randomized" && reason.contains(why),
            "{n}: {st} {reason}"
        );
    }
    let f = ElfFile64::<object::LittleEndian>::parse(&*out).unwrap();
    let tramp_of = |n: &str| {
        f.symbols()
            .find(|s| s.name() == Ok(n))
            .unwrap_or_else(|| panic!("no {n}"))
            .address()
    };
    // Every ftrace site listed in the trampoline section, by trampoline.
    let mut sites = Vec::new();
    for s in f
        .sections()
        .filter(|s| s.name() == Ok("__patchable_function_entries"))
    {
        for (_, _, _, sec, addend) in section_relocs(&f, &s) {
            if sec == abi::TRAMPOLINE_SECTION {
                sites.push(addend as u64 - trampoline::FTRACE_ENTRY);
            }
        }
    }
    sites.sort();
    let mut want = vec![tramp_of("traced"), tramp_of("uses_static")];
    want.sort();
    assert_eq!(sites, want, "quiet (notrace) must have no ftrace site");
    // The blacklist still names the bodies in place, not a trampoline.
    for (_, _, sym, sec, _) in relocs(&f, "_kprobe_blacklist") {
        assert_ne!(sec, abi::TRAMPOLINE_SECTION, "{sym}");
    }
}

/// A composite module in which one object overrides another's `__weak`
/// function (issue 20): every record's trampoline must call that record's
/// own body, or the runtime refuses the module ("not `bl` to the body").
#[test]
fn an_overridden_weak_function_keeps_each_record_on_its_own_trampoline() {
    need(&[CC, "aarch64-linux-gnu-ld"]);
    let d = tmp("weak");
    let mut objs = Vec::new();
    for n in ["weak_a", "weak_b"] {
        let o = d.join(format!("{n}.o"));
        compile(&format!("{n}.c"), &o, &["-g"]);
        let (out, _) = rewritten(&std::fs::read(&o).unwrap(), &Config::default());
        let r = d.join(format!("{n}.rr.o"));
        std::fs::write(&r, out).unwrap();
        objs.push(r);
    }
    let linked = d.join("weak.ko");
    run(Command::new("aarch64-linux-gnu-ld")
        .arg("-r")
        .arg("-o")
        .arg(&linked)
        .args(&objs));
    let bytes = std::fs::read(&linked).unwrap();
    let m = relocator::module::Module::parse("weak.ko", &bytes).unwrap();
    let f = ElfFile64::<object::LittleEndian>::parse(&*bytes).unwrap();
    let foos: Vec<_> = m
        .functions
        .iter()
        .filter(|f| f.name == "weak_foo")
        .collect();
    assert_eq!(foos.len(), 2, "both objects' weak_foo are listed");
    for func in &foos {
        let (tsec, toff) = func.trampoline.expect("trampoline in a section");
        let tramp = f.section_by_index(object::SectionIndex(tsec)).unwrap();
        let call = toff + func.call_offset as u64;
        let target = tramp
            .relocations()
            .find(|(off, _)| *off == call)
            .map(|(_, r)| {
                let RelocationTarget::Symbol(si) = r.target() else {
                    panic!("bl against a non-symbol")
                };
                let sym = f.symbol_by_index(si).unwrap();
                assert_eq!(sym.section_index().map(|i| i.0), Some(func.section));
                sym.address() as i64 + r.addend()
            });
        assert_eq!(
            target,
            Some(func.offset as i64),
            "the record of weak_foo in section #{} calls another body",
            func.section
        );
    }
}
