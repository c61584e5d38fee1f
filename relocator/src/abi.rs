//! The table ABI shared by `rerand-ld` (writer) and `rerand.ko` (reader).
//!
//! This file is the one definition. `macros-c/rerand_abi.h` is generated
//! from it by [`c_header`] and a test keeps the checked-in copy identical.
//!
//! Layout of one object's table, in the allocated read-only section
//! [`TABLE_SECTION`]: a [`TableHeader`], then `nfuncs` [`FuncRecord`]s, then
//! `nrelocs` [`RelocRecord`]s. Every pointer field is written as zero with an
//! `R_AARCH64_ABS64` relocation against the right symbol, so the kernel's
//! module loader fills in run-time addresses and the runtime never has to
//! resolve a symbol itself.
//!
//! A composite module links several processed objects, so a module may hold
//! several tables back to back in [`TABLE_SECTION`]; the runtime finds each
//! by its magic and its `self_addr` field (which must equal its own address
//! after relocation, so stray bytes that happen to match the magic are not
//! taken for a table).
//!
//! Per-function run-time state lives in [`SLOTS_SECTION`] (zero at load,
//! filled by the runtime at `MODULE_STATE_COMING`, read-only once the
//! module's init has run), one [`Slot`] per function; trampolines pass the
//! address of their slot to `add_pause_list` and to `remove_pause_list`.

/// Allocated, read-only after load: headers, function and relocation records.
pub const TABLE_SECTION: &str = ".rerand.table";
/// One [`Slot`] per function, zero in the object. The name is the one the
/// module loader makes read-only after the module's init
/// (`kernel/module/main.c`: `SHF_RO_AFTER_INIT` for `.data..ro_after_init`):
/// the runtime writes the slots at `MODULE_STATE_COMING`, before that.
pub const SLOTS_SECTION: &str = ".data..ro_after_init";
/// Executable: the trampolines, which never move.
pub const TRAMPOLINE_SECTION: &str = ".text.rerand.tramp";
/// Not allocated (kept in the .ko, not loaded): names and reasons of
/// excluded functions, for `rerand inspect`. NUL-separated "name\treason" lines.
pub const EXCLUDED_SECTION: &str = ".note.rerand.excluded";

/// "RRNDTAB1" read as a little-endian u64.
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"RRNDTAB1");
/// 4: [`OP_BUG`] records: bodies with WARN/BUG sites, uaccess fixups and
/// static keys move (a version-3 runtime would copy what the kernel
/// cannot find); the ticket is at `[x29, #16]`, so that a trampoline may
/// copy stack-passed arguments below its frame record.
/// 3: the slot is read-only after init and both hooks take it (see
/// [`ENTER_HOOK`]); the ticket lives in the trampoline's frame. 2: the
/// hooks took the slot in x9 and returned a ticket in x9 (a writable
/// `enter` pointer in the slot); version 1 trampolines called them as C
/// functions.
pub const ABI_VERSION: u32 = 4;

/// Pseudo relocation type: write a NOP at `offset` (an ftrace entry slot,
/// which in the pristine snapshot may hold `mov x9, x30`).
pub const OP_NOP: u32 = 0x8001;
/// Pseudo relocation type: the word at `offset` is a WARN/BUG site, a
/// `brk #0x800` ([`BUG_BRK`]) with a `__bug_table` entry, which the kernel
/// looks up by PC. The copy builder leaves it; the runtime gives each copy
/// a `brk` of its own naming the site, so that the report is the
/// original's.
pub const OP_BUG: u32 = 0x8002;
/// `brk #0x800` (`BUG_BRK_IMM`, arch/arm64/include/asm/brk-imm.h).
pub const BUG_BRK: u32 = 0xd421_0000 | (0x800 << 5);

/// The function's body starts with `-fpatchable-function-entry` NOPs.
pub const FUNC_FTRACE_SLOTS: u32 = 1 << 0;
/// Defined with `SPECIAL_FUNCTION` (hand-written trampoline) rather than
/// wrapped by rerand-ld.
pub const FUNC_ANNOTATED: u32 = 1 << 1;

/// The name given to a moved function's body symbol.
pub const BODY_SUFFIX: &str = "_real";
/// Entry and exit hooks the trampolines call (exported by rerand.ko).
///
/// Not C functions: a register convention, so that a trampoline need not
/// save the arguments it passes through.
/// - `add_pause_list`: x9 = the function's [`Slot`] in; it stores a ticket
///   at `[x29, #16]`, in the trampoline's frame (x29 = its frame record). It is called from the word
///   just before the `bl` to the body, and enters the body itself: it
///   reads that `bl` after counting the caller and branches to the body
///   it names with x30 = the word after the `bl`, so that a counted caller
///   runs a body of the era it was counted in;
/// - `remove_pause_list`: x9 = the same [`Slot`] in; it reads the ticket
///   from `[x29, #16]`;
/// - both may clobber x9-x17 and the condition flags, and preserve x0-x8,
///   x18-x29, sp and the FP/SIMD registers. x16/x17 may be clobbered on
///   the way as well (a module PLT between module and runtime uses them).
pub const ENTER_HOOK: &str = "add_pause_list";
pub const EXIT_HOOK: &str = "remove_pause_list";

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableHeader {
    pub magic: u64,
    /// ABS64 to this header.
    pub self_addr: u64,
    pub version: u32,
    pub header_size: u32,
    pub func_size: u32,
    pub reloc_size: u32,
    pub nfuncs: u32,
    pub nrelocs: u32,
    /// Functions of this object that stay where they are (see EXCLUDED_SECTION).
    pub nexcluded: u32,
    pub flags: u32,
    /// ABS64 to `FuncRecord[nfuncs]`.
    pub funcs: u64,
    /// ABS64 to `RelocRecord[nrelocs]`.
    pub relocs: u64,
    /// ABS64 to `Slot[nfuncs]` in SLOTS_SECTION.
    pub slots: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuncRecord {
    /// ABS64 to the trampoline (the function's public symbol, never moves).
    pub trampoline: u64,
    /// ABS64 to the pristine body (`foo_real`), the source of every copy.
    pub body: u64,
    /// Body size in bytes.
    pub size: u32,
    /// Body alignment in bytes (a power of two, at least 4).
    pub align: u32,
    /// Offset in the trampoline of the `bl foo_real` word that moves retarget.
    pub call_offset: u32,
    /// Index of this function's first record in the relocation array.
    pub first_reloc: u32,
    pub nrelocs: u32,
    /// FUNC_* bits.
    pub flags: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelocRecord {
    /// ABS64 to S + A: the target as the module loader resolved it.
    pub target: u64,
    /// The place, as an offset from the start of the body.
    pub offset: u32,
    /// An `R_AARCH64_*` number, or `OP_*`.
    pub r#type: u32,
}

/// Owned by the runtime; zero at load, read-only after the module's init.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Per-CPU address of the function's counters (the runtime's, set
    /// before any module code runs; 0 means "not managed": the hooks count
    /// nothing). The hooks reach nothing but those counters.
    pub counters: u64,
    pub reserved: u64,
}

pub const HEADER_SIZE: usize = std::mem::size_of::<TableHeader>();
pub const FUNC_SIZE: usize = std::mem::size_of::<FuncRecord>();
pub const RELOC_SIZE: usize = std::mem::size_of::<RelocRecord>();
pub const SLOT_SIZE: usize = std::mem::size_of::<Slot>();

/// Byte offsets of the pointer fields, where writers place ABS64 relocations.
pub mod offsets {
    pub const HEADER_SELF: u64 = 8;
    pub const HEADER_FUNCS: u64 = 48;
    pub const HEADER_RELOCS: u64 = 56;
    pub const HEADER_SLOTS: u64 = 64;
    pub const FUNC_TRAMPOLINE: u64 = 0;
    pub const FUNC_BODY: u64 = 8;
    pub const RELOC_TARGET: u64 = 0;
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

impl TableHeader {
    pub fn new(nfuncs: u32, nrelocs: u32, nexcluded: u32) -> Self {
        TableHeader {
            magic: TABLE_MAGIC,
            version: ABI_VERSION,
            header_size: HEADER_SIZE as u32,
            func_size: FUNC_SIZE as u32,
            reloc_size: RELOC_SIZE as u32,
            nfuncs,
            nrelocs,
            nexcluded,
            ..Default::default()
        }
    }
    pub fn write(&self, out: &mut Vec<u8>) {
        put_u64(out, self.magic);
        put_u64(out, self.self_addr);
        for v in [
            self.version,
            self.header_size,
            self.func_size,
            self.reloc_size,
            self.nfuncs,
            self.nrelocs,
            self.nexcluded,
            self.flags,
        ] {
            put_u32(out, v);
        }
        put_u64(out, self.funcs);
        put_u64(out, self.relocs);
        put_u64(out, self.slots);
    }
    /// Reads a header from the start of `b`; `None` if `b` is too short.
    pub fn read(b: &[u8]) -> Option<Self> {
        if b.len() < HEADER_SIZE {
            return None;
        }
        Some(TableHeader {
            magic: get_u64(b, 0),
            self_addr: get_u64(b, 8),
            version: get_u32(b, 16),
            header_size: get_u32(b, 20),
            func_size: get_u32(b, 24),
            reloc_size: get_u32(b, 28),
            nfuncs: get_u32(b, 32),
            nrelocs: get_u32(b, 36),
            nexcluded: get_u32(b, 40),
            flags: get_u32(b, 44),
            funcs: get_u64(b, 48),
            relocs: get_u64(b, 56),
            slots: get_u64(b, 64),
        })
    }
}

impl FuncRecord {
    pub fn write(&self, out: &mut Vec<u8>) {
        put_u64(out, self.trampoline);
        put_u64(out, self.body);
        for v in [
            self.size,
            self.align,
            self.call_offset,
            self.first_reloc,
            self.nrelocs,
            self.flags,
        ] {
            put_u32(out, v);
        }
    }
    pub fn read(b: &[u8]) -> Option<Self> {
        if b.len() < FUNC_SIZE {
            return None;
        }
        Some(FuncRecord {
            trampoline: get_u64(b, 0),
            body: get_u64(b, 8),
            size: get_u32(b, 16),
            align: get_u32(b, 20),
            call_offset: get_u32(b, 24),
            first_reloc: get_u32(b, 28),
            nrelocs: get_u32(b, 32),
            flags: get_u32(b, 36),
        })
    }
}

impl RelocRecord {
    pub fn write(&self, out: &mut Vec<u8>) {
        put_u64(out, self.target);
        put_u32(out, self.offset);
        put_u32(out, self.r#type);
    }
    pub fn read(b: &[u8]) -> Option<Self> {
        if b.len() < RELOC_SIZE {
            return None;
        }
        Some(RelocRecord {
            target: get_u64(b, 0),
            offset: get_u32(b, 8),
            r#type: get_u32(b, 12),
        })
    }
}

/// The C header `macros-c/rerand_abi.h`, generated from the definitions above.
pub fn c_header() -> String {
    format!(
        r#"/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rerand table ABI, version {version}.
 *
 * GENERATED from relocator/src/abi.rs by `cargo xtask gen-header`; a test
 * fails if this copy differs. Edit the Rust file, not this one.
 *
 * rerand-ld writes, per processed object, into section "{table}": a
 * struct rerand_table_header, then nfuncs struct rerand_func, then nrelocs
 * struct rerand_reloc. Pointer fields carry R_AARCH64_ABS64 relocations, so
 * the module loader fills in run-time addresses; self_addr equals the
 * header's own address once relocated. "{slots}" holds one struct
 * rerand_slot per function, zero at load, owned by the runtime.
 */
#ifndef RERAND_ABI_H
#define RERAND_ABI_H

#include <linux/types.h>

#define RERAND_ABI_VERSION {version}
#define RERAND_TABLE_MAGIC 0x{magic:016x}ULL /* "RRNDTAB1" */
#define RERAND_TABLE_SECTION "{table}"
#define RERAND_SLOTS_SECTION "{slots}"
#define RERAND_TRAMPOLINE_SECTION "{tramp}"
#define RERAND_EXCLUDED_SECTION "{excluded}"

/* Pseudo relocation: write a NOP at offset (ftrace entry slot). */
#define RERAND_OP_NOP 0x{op_nop:x}
/*
 * Pseudo relocation: the word at offset is a WARN/BUG site (brk #0x800,
 * RERAND_BUG_BRK, with a __bug_table entry); the runtime gives copies a
 * brk of its own there.
 */
#define RERAND_OP_BUG 0x{op_bug:x}
#define RERAND_BUG_BRK 0x{bug_brk:08x}U

/*
 * The hooks the trampolines call, exported by rerand.ko. A register
 * convention, not C functions:
 *   add_pause_list:    x9 = struct rerand_slot * in; stores a ticket
 *                      at [x29, #16] (the trampoline's frame); called
 *                      from the word just before the `bl` to the body,
 *                      it enters that body itself (x30 = the word after
 *                      the `bl`);
 *   remove_pause_list: x9 = the same struct rerand_slot * in; reads the
 *                      ticket from [x29, #16];
 * both may clobber x9-x17 and the flags, and preserve x0-x8, x18-x29, sp
 * and the FP/SIMD registers.
 */
#define RERAND_ENTER_HOOK "{enter_hook}"
#define RERAND_EXIT_HOOK "{exit_hook}"

#define RERAND_FUNC_FTRACE_SLOTS 0x{f_ftrace:x}
#define RERAND_FUNC_ANNOTATED 0x{f_annot:x}

struct rerand_table_header {{
	__u64 magic;
	__u64 self_addr;
	__u32 version;
	__u32 header_size;
	__u32 func_size;
	__u32 reloc_size;
	__u32 nfuncs;
	__u32 nrelocs;
	__u32 nexcluded;
	__u32 flags;
	__u64 funcs;
	__u64 relocs;
	__u64 slots;
}};

struct rerand_func {{
	__u64 trampoline;
	__u64 body;
	__u32 size;
	__u32 align;
	__u32 call_offset;
	__u32 first_reloc;
	__u32 nrelocs;
	__u32 flags;
}};

struct rerand_reloc {{
	__u64 target;
	__u32 offset;
	__u32 type;
}};

/*
 * Owned by the runtime; only its hooks read it; read-only after the
 * module's init. counters: per-CPU address of the function's counters,
 * zero in the file; the runtime fills every slot at MODULE_STATE_COMING
 * or refuses the module, so the hooks never see a zero.
 */
struct rerand_slot {{
	__u64 counters;
	__u64 reserved;
}};

#define RERAND_HEADER_SIZE {hs}
#define RERAND_FUNC_SIZE {fs}
#define RERAND_RELOC_SIZE {rs}
#define RERAND_SLOT_SIZE {ss}

#endif /* RERAND_ABI_H */
"#,
        version = ABI_VERSION,
        magic = TABLE_MAGIC,
        table = TABLE_SECTION,
        slots = SLOTS_SECTION,
        tramp = TRAMPOLINE_SECTION,
        excluded = EXCLUDED_SECTION,
        op_nop = OP_NOP,
        op_bug = OP_BUG,
        bug_brk = BUG_BRK,
        enter_hook = ENTER_HOOK,
        exit_hook = EXIT_HOOK,
        f_ftrace = FUNC_FTRACE_SLOTS,
        f_annot = FUNC_ANNOTATED,
        hs = HEADER_SIZE,
        fs = FUNC_SIZE,
        rs = RELOC_SIZE,
        ss = SLOT_SIZE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_offsets_match_the_c_layout() {
        assert_eq!(HEADER_SIZE, 72);
        assert_eq!(FUNC_SIZE, 40);
        assert_eq!(RELOC_SIZE, 16);
        assert_eq!(SLOT_SIZE, 16);
        let mut b = Vec::new();
        let h = TableHeader {
            self_addr: 0x1111,
            funcs: 0x2222,
            relocs: 0x3333,
            slots: 0x4444,
            ..TableHeader::new(1, 2, 3)
        };
        h.write(&mut b);
        assert_eq!(b.len(), HEADER_SIZE);
        assert_eq!(get_u64(&b, offsets::HEADER_SELF as usize), 0x1111);
        assert_eq!(get_u64(&b, offsets::HEADER_FUNCS as usize), 0x2222);
        assert_eq!(get_u64(&b, offsets::HEADER_RELOCS as usize), 0x3333);
        assert_eq!(get_u64(&b, offsets::HEADER_SLOTS as usize), 0x4444);
        assert_eq!(TableHeader::read(&b), Some(h));
    }

    #[test]
    fn records_round_trip() {
        let f = FuncRecord {
            trampoline: 1,
            body: 2,
            size: 3,
            align: 4,
            call_offset: 5,
            first_reloc: 6,
            nrelocs: 7,
            flags: 8,
        };
        let mut b = Vec::new();
        f.write(&mut b);
        assert_eq!(b.len(), FUNC_SIZE);
        assert_eq!(FuncRecord::read(&b), Some(f));
        let r = RelocRecord {
            target: 9,
            offset: 10,
            r#type: 11,
        };
        let mut b = Vec::new();
        r.write(&mut b);
        assert_eq!(b.len(), RELOC_SIZE);
        assert_eq!(RelocRecord::read(&b), Some(r));
    }

    #[test]
    fn checked_in_c_header_is_generated_from_this_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../macros-c/rerand_abi.h");
        let on_disk = std::fs::read_to_string(path).expect("macros-c/rerand_abi.h");
        assert!(
            on_disk == c_header(),
            "macros-c/rerand_abi.h is stale: run `cargo xtask gen-header`"
        );
    }
}
