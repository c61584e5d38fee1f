//! What modpost would have recorded for the runtime's hooks, added at the
//! final module link.
//!
//! Kbuild runs modpost on `foo.o` and only then links `foo.ko` from `foo.o`
//! and the `foo.mod.o` that modpost generated. For a single-object module
//! that final link is the first time rerand-ld sees `foo.o`, so the calls
//! its trampolines make to `add_pause_list` and `remove_pause_list` were
//! never seen by modpost: on a MODVERSIONS kernel the module is refused
//! ("no symbol version for add_pause_list"), and depmod records no
//! dependency on the runtime. This stage edits `foo.mod.o` as modpost would
//! have written it: a `__versions` entry for each hook it lacks, with the
//! CRC from the runtime's `Module.symvers`, the runtime in `depends=`, and
//! an `import_ns=` for a hook exported into a namespace.
//!
//! Composite modules (`foo-y := a.o b.o`) are linked by `ld -r` before
//! modpost, and modpost then sees the hooks itself (given the runtime's
//! symbols through `KBUILD_EXTRA_SYMBOLS`); this stage finds nothing to add.
use object::build::elf::{Builder, SectionData, SectionId};
use relocator::abi;
use std::path::{Path, PathBuf};

/// The runtime's exports a rewritten module calls.
pub const HOOKS: [&str; 2] = [abi::ENTER_HOOK, abi::EXIT_HOOK];

/// The runtime's name when no Module.symvers says otherwise.
const RUNTIME: &str = "rerand";

/// `struct modversion_info` (include/linux/module.h): a CRC in an
/// `unsigned long`, then the NUL-padded name, 64 bytes in all.
const MODVERSION_SIZE: usize = 64;
const MODVERSION_NAME: usize = MODVERSION_SIZE - 8;

/// One line of a `Module.symvers`: `crc\tsymbol\tmodule\texport\tnamespace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub crc: u32,
    pub symbol: String,
    /// The exporting module's path without `.ko`, as Kbuild writes it.
    pub module: String,
    pub namespace: String,
}

/// The runtime's hooks as one `Module.symvers` exports them.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub symvers: PathBuf,
    pub hooks: Vec<Export>,
}

impl Runtime {
    /// Reads `text` (the contents of `path`); an error unless it exports
    /// every hook.
    pub fn parse(path: &Path, text: &str) -> Result<Runtime, String> {
        let mut hooks = Vec::new();
        for hook in HOOKS {
            let line = text
                .lines()
                .map(|l| l.split('\t').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[1] == hook)
                .ok_or_else(|| {
                    format!(
                        "{} does not export {hook}: it is not the rerand runtime's Module.symvers",
                        path.display()
                    )
                })?;
            let crc = line[0]
                .strip_prefix("0x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{}: {hook}: bad CRC `{}`", path.display(), line[0]))?;
            hooks.push(Export {
                crc,
                symbol: hook.to_string(),
                module: line[2].to_string(),
                namespace: line.get(4).copied().unwrap_or("").trim().to_string(),
            });
        }
        Ok(Runtime {
            symvers: path.to_path_buf(),
            hooks,
        })
    }

    /// The exporting module's name, as `depends=` lists it.
    pub fn module_name(&self) -> String {
        let m = &self.hooks[0].module;
        m.rsplit('/').next().unwrap_or(m).replace('-', "_")
    }
}

/// Finds the runtime's `Module.symvers` where a kernel developer would
/// expect it, in this order: `RERAND_SYMVERS`; the files of
/// `KBUILD_EXTRA_SYMBOLS` (in the environment, or in `MAKEFLAGS` when make
/// did not export it); next to rerand-ld itself (`Module.symvers`,
/// `../share/rerand/Module.symvers`, and `../../runtime-kmod/Module.symvers`
/// for a rerand-ld built in the source tree's `target/<profile>/`).
pub fn find_runtime(
    env: &dyn Fn(&str) -> Option<String>,
    exe: Option<&Path>,
) -> Result<Runtime, String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
            .and_then(|t| Runtime::parse(p, &t))
    };
    if let Some(p) = env("RERAND_SYMVERS").filter(|p| !p.is_empty()) {
        return read(Path::new(&p)).map_err(|e| format!("RERAND_SYMVERS: {e}"));
    }
    let mut tried: Vec<PathBuf> = Vec::new();
    let extra = env("KBUILD_EXTRA_SYMBOLS")
        .filter(|s| !s.trim().is_empty())
        .or_else(|| env("MAKEFLAGS").and_then(|m| make_variable(&m, "KBUILD_EXTRA_SYMBOLS")));
    if let Some(list) = extra {
        tried.extend(list.split_whitespace().map(PathBuf::from));
    }
    if let Some(dir) = exe.and_then(Path::parent) {
        tried.push(dir.join("Module.symvers"));
        tried.push(dir.join("../share/rerand/Module.symvers"));
        tried.push(dir.join("../../runtime-kmod/Module.symvers"));
    }
    for p in &tried {
        if let Ok(rt) = read(p) {
            return Ok(rt);
        }
    }
    let looked: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "cannot find the rerand runtime's Module.symvers (looked in: {}); pass KBUILD_EXTRA_SYMBOLS=<rerand>/runtime-kmod/Module.symvers to make, or set RERAND_SYMVERS",
        if looked.is_empty() {
            "nowhere: no KBUILD_EXTRA_SYMBOLS".to_string()
        } else {
            looked.join(", ")
        }
    ))
}

/// A `NAME=value` of a MAKEFLAGS string, where make escapes a space in a
/// value as `\ `.
fn make_variable(makeflags: &str, name: &str) -> Option<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = makeflags.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ' ' => words.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    words.push(cur);
    words
        .into_iter()
        .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// Whether `ld`'s output is a loadable module: Kbuild's final link writes
/// `foo.ko` from `foo.o` and `foo.mod.o`.
pub fn is_final_module_link(output: Option<&str>, inputs: &[String]) -> bool {
    output.is_some_and(|o| o.ends_with(".ko")) && inputs.iter().any(|i| i.ends_with(".mod.o"))
}

/// What a `.mod.o` lacks for a module that calls the hooks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Missing {
    /// Hooks without a `__versions` entry (only on a MODVERSIONS kernel:
    /// a `.mod.o` without `__versions` needs none).
    pub versions: Vec<&'static str>,
    pub depends: bool,
    pub namespaces: Vec<String>,
}

impl Missing {
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty() && !self.depends && self.namespaces.is_empty()
    }
}

/// The `.mod.o` of `file` completed for the hooks, or `None` when it has
/// everything already. `runtime` is asked for only when something is
/// missing; without it, only `depends=` can be completed (with the name
/// `rerand`), and versions needed are an error.
pub fn complete(
    file: &str,
    data: &[u8],
    runtime: &dyn Fn() -> Result<Runtime, String>,
) -> Result<Option<Vec<u8>>, String> {
    let mut b = Builder::read64(data).map_err(|e| format!("{file}: cannot parse: {e}"))?;
    let versions = find_section(&b, "__versions");
    let modinfo = find_section(&b, ".modinfo");
    let have_versions: Vec<String> = versions
        .map(|id| {
            section_bytes(&b, id)
                .chunks(MODVERSION_SIZE)
                .filter(|c| c.len() == MODVERSION_SIZE)
                .map(|c| c_string(&c[8..]))
                .collect()
        })
        .unwrap_or_default();
    let info: Vec<String> = modinfo
        .map(|id| {
            section_bytes(&b, id)
                .split(|&c| c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let missing_versions: Vec<&'static str> = if versions.is_some() {
        HOOKS
            .iter()
            .copied()
            .filter(|h| !have_versions.iter().any(|v| v == h))
            .collect()
    } else {
        Vec::new()
    };
    let depends = info.iter().find_map(|s| s.strip_prefix("depends="));
    let lists = |name: &str| depends.is_some_and(|d| d.split(',').any(|m| m == name));
    // Versioned by modpost itself: it saw the hooks (and added any
    // namespace import with them).
    if missing_versions.is_empty() && lists(RUNTIME) {
        return Ok(None);
    }
    let found = runtime();
    let rt = match (&found, missing_versions.is_empty()) {
        (Ok(rt), _) => Some(rt),
        (Err(e), false) => {
            return Err(format!(
                "{file}: the module calls the rerand runtime's {}, which modpost did not version (Kbuild links a single-object module after modpost): {e}",
                missing_versions.join(" and ")
            ))
        }
        (Err(_), true) => None,
    };
    let name = rt
        .map(Runtime::module_name)
        .unwrap_or_else(|| RUNTIME.into());
    let depends_missing = !lists(&name);
    let namespaces: Vec<String> = rt
        .map(|rt| {
            let mut ns: Vec<String> = rt
                .hooks
                .iter()
                .map(|h| h.namespace.clone())
                .filter(|n| !n.is_empty())
                .filter(|n| !info.iter().any(|s| s.strip_prefix("import_ns=") == Some(n)))
                .collect();
            ns.dedup();
            ns
        })
        .unwrap_or_default();
    let missing = Missing {
        versions: missing_versions,
        depends: depends_missing,
        namespaces,
    };
    if missing.is_empty() {
        return Ok(None);
    }
    if let (Some(id), Some(rt)) = (versions, rt) {
        let mut bytes = section_bytes(&b, id).to_vec();
        let old = bytes.len() as u64;
        for hook in &missing.versions {
            let crc = rt
                .hooks
                .iter()
                .find(|h| h.symbol == *hook)
                .map(|h| h.crc)
                .unwrap_or(0);
            let mut entry = [0u8; MODVERSION_SIZE];
            entry[..8].copy_from_slice(&u64::from(crc).to_le_bytes());
            let n = hook.len().min(MODVERSION_NAME - 1);
            entry[8..8 + n].copy_from_slice(&hook.as_bytes()[..n]);
            bytes.extend_from_slice(&entry);
        }
        let grown = bytes.len() as u64 - old;
        set_section_bytes(&mut b, id, bytes);
        // `____versions`, the array modpost emits, covers the section.
        for sym in b.symbols.iter_mut() {
            if sym.section == Some(id) && sym.st_value == 0 && sym.st_size == old {
                sym.st_size += grown;
            }
        }
    }
    if missing.depends || !missing.namespaces.is_empty() {
        let id = match modinfo {
            Some(id) => id,
            None => return Err(format!("{file}: no .modinfo section: not a Kbuild .mod.o")),
        };
        let mut bytes = section_bytes(&b, id).to_vec();
        if missing.depends {
            edit_depends(&mut b, id, &mut bytes, &name);
        }
        for ns in &missing.namespaces {
            bytes.extend_from_slice(format!("import_ns={ns}\0").as_bytes());
        }
        set_section_bytes(&mut b, id, bytes);
    }
    let mut out = Vec::new();
    b.write(&mut out)
        .map_err(|e| format!("{file}: cannot write the completed object: {e}"))?;
    Ok(Some(out))
}

/// Adds `name` to the `depends=` string of `.modinfo` (section `id`, its
/// contents in `bytes`), or appends one. Symbols after the edited string
/// (`__UNIQUE_ID_*`, one per entry) move with their strings.
fn edit_depends(b: &mut Builder<'_>, id: SectionId, bytes: &mut Vec<u8>, name: &str) {
    let start = bytes
        .split(|&c| c == 0)
        .scan(0usize, |pos, s| {
            let here = *pos;
            *pos += s.len() + 1;
            Some((here, s))
        })
        .find(|(_, s)| s.starts_with(b"depends="))
        .map(|(at, s)| (at, s.len()));
    let Some((at, len)) = start else {
        bytes.extend_from_slice(format!("depends={name}\0").as_bytes());
        return;
    };
    let old = &bytes[at..at + len];
    let insert = if old.len() == "depends=".len() {
        name.to_string()
    } else {
        format!(",{name}")
    };
    let end = (at + len) as u64;
    bytes.splice(at + len..at + len, insert.bytes());
    let delta = insert.len() as u64;
    for sym in b.symbols.iter_mut() {
        if sym.section != Some(id) {
            continue;
        }
        if sym.st_value == at as u64 && sym.st_size == len as u64 + 1 {
            sym.st_size += delta;
        } else if sym.st_value >= end {
            sym.st_value += delta;
        }
    }
}

fn find_section(b: &Builder<'_>, name: &str) -> Option<SectionId> {
    b.sections
        .iter()
        .find(|s| s.name.as_slice() == name.as_bytes() && !s.delete)
        .map(|s| s.id())
}

fn section_bytes<'a>(b: &'a Builder<'_>, id: SectionId) -> &'a [u8] {
    match &b.sections.get(id).data {
        SectionData::Data(d) => d,
        _ => &[],
    }
}

fn set_section_bytes(b: &mut Builder<'_>, id: SectionId, bytes: Vec<u8>) {
    let s = b.sections.get_mut(id);
    s.sh_size = bytes.len() as u64;
    s.data = SectionData::Data(bytes.into());
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags};
    use object::{SymbolKind, SymbolScope};

    /// A `.mod.o` as modpost writes one: `__versions` with `module_layout`,
    /// `.modinfo` with `name=`, an empty `depends=` and `vermagic=`, each
    /// string with its `__UNIQUE_ID_` symbol.
    fn mod_o(versions: bool, depends: Option<&str>) -> Vec<u8> {
        let mut o = Object::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little);
        if versions {
            let s = o.add_section(vec![], b"__versions".to_vec(), SectionKind::Data);
            let mut e = [0u8; 64];
            e[..8].copy_from_slice(&0x1234u64.to_le_bytes());
            e[8..21].copy_from_slice(b"module_layout");
            o.append_section_data(s, &e, 8);
            o.add_symbol(Symbol {
                name: b"____versions".to_vec(),
                value: 0,
                size: 64,
                kind: SymbolKind::Data,
                scope: SymbolScope::Compilation,
                weak: false,
                section: SymbolSection::Section(s),
                flags: SymbolFlags::None,
            });
        }
        let s = o.add_section(vec![], b".modinfo".to_vec(), SectionKind::Data);
        let mut strings = vec!["name=foo".to_string()];
        if let Some(d) = depends {
            strings.push(format!("depends={d}"));
        }
        strings.push("vermagic=6.1.0 SMP mod_unload aarch64".into());
        for (i, st) in strings.iter().enumerate() {
            let mut data = st.as_bytes().to_vec();
            data.push(0);
            let at = o.append_section_data(s, &data, 1);
            o.add_symbol(Symbol {
                name: format!("__UNIQUE_ID_{i}").into_bytes(),
                value: at,
                size: data.len() as u64,
                kind: SymbolKind::Data,
                scope: SymbolScope::Compilation,
                weak: false,
                section: SymbolSection::Section(s),
                flags: SymbolFlags::None,
            });
        }
        o.write().unwrap()
    }

    fn runtime() -> Result<Runtime, String> {
        Runtime::parse(
            Path::new("Module.symvers"),
            "0xdeadbeef\tadd_pause_list\t/src/runtime-kmod/rerand\tEXPORT_SYMBOL_GPL\t\n\
             0x0badf00d\tremove_pause_list\t/src/runtime-kmod/rerand\tEXPORT_SYMBOL_GPL\t\n",
        )
    }

    /// A `.modinfo` symbol: name, value, size, and the string it covers.
    type InfoSymbol = (String, u64, u64, String);

    fn read(data: &[u8]) -> (Vec<(u64, String)>, Vec<InfoSymbol>) {
        use object::{Object as _, ObjectSection as _, ObjectSymbol as _};
        let f = object::File::parse(data).unwrap();
        let versions = f
            .section_by_name("__versions")
            .map(|s| {
                s.data()
                    .unwrap()
                    .chunks(64)
                    .map(|c| {
                        (
                            u64::from_le_bytes(c[..8].try_into().unwrap()),
                            c_string(&c[8..]),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let info = f.section_by_name(".modinfo").unwrap();
        let idx = info.index();
        let text = info.data().unwrap();
        let syms = f
            .symbols()
            .filter(|s| s.section_index() == Some(idx))
            .map(|s| {
                let at = s.address() as usize;
                let st = c_string(&text[at..]);
                (s.name().unwrap().to_string(), s.address(), s.size(), st)
            })
            .collect();
        (versions, syms)
    }

    #[test]
    fn adds_the_hooks_versions_and_the_dependency() {
        let out = complete("foo.mod.o", &mod_o(true, Some("")), &runtime)
            .unwrap()
            .expect("edited");
        let (versions, syms) = read(&out);
        assert_eq!(
            versions,
            vec![
                (0x1234, "module_layout".into()),
                (0xdeadbeef, "add_pause_list".into()),
                (0x0badf00d, "remove_pause_list".into()),
            ]
        );
        // Every string keeps its symbol, at its new place and size.
        for (_, _, size, st) in &syms {
            assert_eq!(*size as usize, st.len() + 1, "{syms:?}");
        }
        let strings: Vec<&str> = syms.iter().map(|s| s.3.as_str()).collect();
        assert_eq!(
            strings,
            [
                "name=foo",
                "depends=rerand",
                "vermagic=6.1.0 SMP mod_unload aarch64"
            ]
        );
        // A second pass finds nothing missing.
        assert_eq!(complete("foo.mod.o", &out, &runtime).unwrap(), None);
    }

    #[test]
    fn extends_a_dependency_list_and_adds_a_missing_one() {
        let out = complete("foo.mod.o", &mod_o(true, Some("rerand_host")), &runtime)
            .unwrap()
            .unwrap();
        let strings: Vec<String> = read(&out).1.into_iter().map(|s| s.3).collect();
        assert!(
            strings.contains(&"depends=rerand_host,rerand".to_string()),
            "{strings:?}"
        );
        let out = complete("foo.mod.o", &mod_o(true, None), &runtime)
            .unwrap()
            .unwrap();
        let info = {
            use object::{Object as _, ObjectSection as _};
            object::File::parse(&*out)
                .unwrap()
                .section_by_name(".modinfo")
                .unwrap()
                .data()
                .unwrap()
                .to_vec()
        };
        assert!(info.ends_with(b"depends=rerand\0"));
    }

    #[test]
    fn complete_objects_and_kernels_without_modversions() {
        // modpost saw the hooks (a composite module): nothing to do.
        let seen = complete("a.mod.o", &mod_o(true, Some("rerand")), &runtime)
            .unwrap()
            .unwrap();
        assert_eq!(complete("a.mod.o", &seen, &runtime).unwrap(), None);
        // No __versions (no MODVERSIONS): only the dependency, and it needs
        // no Module.symvers.
        let none = || Err::<Runtime, String>("not found".into());
        let out = complete("b.mod.o", &mod_o(false, Some("")), &none)
            .unwrap()
            .unwrap();
        assert!(read(&out).0.is_empty());
        assert!(read(&out).1.iter().any(|s| s.3 == "depends=rerand"));
    }

    #[test]
    fn versions_without_a_runtime_symvers_are_one_clear_error() {
        let none = || Err::<Runtime, String>("cannot find it; set RERAND_SYMVERS".into());
        let e = complete("foo.mod.o", &mod_o(true, Some("")), &none).unwrap_err();
        assert!(e.contains("add_pause_list and remove_pause_list"), "{e}");
        assert!(e.contains("RERAND_SYMVERS"), "{e}");
    }

    #[test]
    fn finds_the_symvers_in_the_places_a_developer_expects() {
        let dir = std::env::temp_dir().join(format!("rerand-symvers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("Module.symvers");
        std::fs::write(
            &good,
            "0x00000001\tadd_pause_list\tx/rerand\tEXPORT_SYMBOL_GPL\t\n0x00000002\tremove_pause_list\tx/rerand\tEXPORT_SYMBOL_GPL\t\n",
        )
        .unwrap();
        let other = dir.join("other.symvers");
        std::fs::write(&other, "0x00000003\tfoo\tx/foo\tEXPORT_SYMBOL\t\n").unwrap();
        let g = good.display().to_string();
        let o = other.display().to_string();
        let env = |k: &str, v: &str| {
            let (k, v) = (k.to_string(), v.to_string());
            move |q: &str| (q == k).then(|| v.clone())
        };
        let rt = find_runtime(&env("KBUILD_EXTRA_SYMBOLS", &format!("{o} {g}")), None).unwrap();
        assert_eq!(
            (rt.hooks[0].crc, rt.module_name()),
            (1, "rerand".to_string())
        );
        let flags = format!("-j2 -- M=/m KBUILD_EXTRA_SYMBOLS={}", g.replace(' ', "\\ "));
        assert!(find_runtime(&env("MAKEFLAGS", &flags), None).is_ok());
        assert!(find_runtime(&|_| None, Some(&dir.join("rerand-ld"))).is_ok());
        let e = find_runtime(&env("RERAND_SYMVERS", &o), None).unwrap_err();
        assert!(e.contains("does not export add_pause_list"), "{e}");
        let e = find_runtime(&|_| None, None).unwrap_err();
        assert!(e.contains("KBUILD_EXTRA_SYMBOLS"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
