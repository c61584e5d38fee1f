//! Corrupted copies of test_driver.ko for the bad-table scenario: the
//! runtime must refuse each at load with a message, never crash.

use crate::bail;
use crate::util::{cache_dir, root, Error, Result};
use object::{Object, ObjectSection};
use relocator::abi;
use std::path::PathBuf;

/// Given the table's function count: the byte offset within the table
/// section to overwrite and the little-endian u32 to write there.
type Edit = fn(u32) -> (usize, u32);

/// Name in the guest, what is corrupted, and the edit.
const CASES: &[(&str, &str, Edit)] = &[
    (
        "bad_call_offset.ko",
        "call_offset points past the bl",
        // The trampoline's `bl foo_real` is at +36; +40 is the `adrp` after it.
        |_| (abi::HEADER_SIZE + 24, 40),
    ),
    (
        "bad_reloc_type.ko",
        "an unsupported relocation type",
        |nfuncs| {
            (
                abi::HEADER_SIZE + abi::FUNC_SIZE * nfuncs as usize + 12,
                999,
            )
        },
    ),
    ("bad_version.ko", "a future ABI version", |_| {
        (16, abi::ABI_VERSION + 1)
    }),
    ("bad_nfuncs.ko", "nfuncs far beyond the section", |_| {
        (32, 0x00ff_ffff)
    }),
    // Not recognised as a table at all: the module still calls the hooks,
    // so it is refused too (it would run unmanaged, its bodies in place).
    ("bad_magic.ko", "magic overwritten", |_| (0, 0xdead_beef)),
];

/// Writes the corrupted modules; returns (path, what) pairs.
pub fn make() -> Result<Vec<(PathBuf, &'static str)>> {
    let src = root().join("tests/test_driver/test_driver.ko");
    let bytes = std::fs::read(&src).map_err(|e| Error(format!("{}: {e}", src.display())))?;
    let file =
        object::File::parse(&*bytes).map_err(|e| Error(format!("{}: {e}", src.display())))?;
    let sec = file
        .section_by_name(abi::TABLE_SECTION)
        .ok_or_else(|| Error(format!("{} has no {}", src.display(), abi::TABLE_SECTION)))?;
    let (start, len) = sec
        .file_range()
        .ok_or_else(|| Error(format!("{} has no file data", abi::TABLE_SECTION)))?;
    let table = &bytes[start as usize..(start + len) as usize];
    let header = abi::TableHeader::read(table)
        .ok_or_else(|| Error("table section shorter than a header".into()))?;
    if header.nrelocs == 0 {
        bail!("test_driver's table has no relocation records to corrupt");
    }
    let dir = cache_dir().join("badtable");
    std::fs::create_dir_all(&dir).map_err(|e| Error(format!("{e}")))?;
    let mut out = Vec::new();
    for (name, what, edit) in CASES {
        let (at, value) = edit(header.nfuncs);
        let mut copy = bytes.clone();
        let at = start as usize + at;
        copy[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let path = dir.join(name);
        std::fs::write(&path, copy).map_err(|e| Error(format!("{}: {e}", path.display())))?;
        out.push((path, *what));
    }
    Ok(out)
}
