//! The trampoline of docs/DESIGN.md, encoded word by word.
//!
//! Each entry is 30 instructions (120 bytes). It opens like a kernel
//! function built with `-fpatchable-function-entry=2`: a landing pad, then
//! two NOPs listed in `__patchable_function_entries` ([`FTRACE_ENTRY`]), so
//! ftrace and kprobe_events treat the trampoline as a traceable function
//! (trace_kprobe refuses functions without an ftrace site). Because the
//! trampoline never moves, tracing it keeps working across moves.
//! Relocations, relative to the start of the trampoline: [`SLOT_ADRP`]/[`SLOT_ADD`] and
//! [`SLOT_ADRP2`]/[`SLOT_ADD2`] address the function's slot,
//! [`ENTER_CALL`] and [`EXIT_CALL`] call the hooks and [`CALL_OFFSET`] is
//! the `bl foo_real` word the runtime retargets.

/// Bytes per trampoline.
pub const SIZE: usize = 120;
/// The two ftrace NOPs (`mov x9, x30; bl ftrace_caller` once traced).
pub const FTRACE_ENTRY: u64 = 4;
/// Offset of `bl foo_real` (FuncRecord.call_offset).
pub const CALL_OFFSET: u32 = 80;
pub const SLOT_ADRP: u64 = 44;
pub const SLOT_ADD: u64 = 48;
pub const ENTER_CALL: u64 = 52;
pub const SLOT_ADRP2: u64 = 88;
pub const SLOT_ADD2: u64 = 92;
pub const EXIT_CALL: u64 = 100;

pub const BTI_C: u32 = 0xd503245f;
pub const PACIASP: u32 = 0xd503233f;
pub const AUTIASP: u32 = 0xd50323bf;
pub const RET: u32 = 0xd65f03c0;
pub const NOP: u32 = 0xd503201f;
/// `bl .` (offset field filled by CALL26).
pub const BL: u32 = 0x9400_0000;
/// `adrp x0, 0` (filled by ADR_PREL_PG_HI21).
pub const ADRP_X0: u32 = 0x9000_0000;
/// `add x0, x0, #0` (filled by ADD_ABS_LO12_NC).
pub const ADD_X0_X0: u32 = 0x9100_0000;

const fn stp_pre(rt: u32, rt2: u32, imm: i32) -> u32 {
    0xa980_0000 | ((((imm / 8) as u32) & 0x7f) << 15) | (rt2 << 10) | (31 << 5) | rt
}
const fn ldp_post(rt: u32, rt2: u32, imm: i32) -> u32 {
    0xa8c0_0000 | ((((imm / 8) as u32) & 0x7f) << 15) | (rt2 << 10) | (31 << 5) | rt
}
const fn stp(rt: u32, rt2: u32, imm: u32) -> u32 {
    0xa900_0000 | (((imm / 8) & 0x7f) << 15) | (rt2 << 10) | (31 << 5) | rt
}
const fn ldp(rt: u32, rt2: u32, imm: u32) -> u32 {
    0xa940_0000 | (((imm / 8) & 0x7f) << 15) | (rt2 << 10) | (31 << 5) | rt
}
const fn str_x(rt: u32, imm: u32) -> u32 {
    0xf900_0000 | ((imm / 8) << 10) | (31 << 5) | rt
}
const fn ldr_x(rt: u32, imm: u32) -> u32 {
    0xf940_0000 | ((imm / 8) << 10) | (31 << 5) | rt
}
/// `mov x29, sp` (`add x29, sp, #0`).
pub const MOV_X29_SP: u32 = 0x9100_03fd;

/// The 30 words of one trampoline, relocation fields zero.
pub const WORDS: [u32; SIZE / 4] = [
    BTI_C,
    NOP, // 4: ftrace entry
    NOP,
    PACIASP,
    stp_pre(29, 30, -96),
    MOV_X29_SP,
    stp(0, 1, 16),
    stp(2, 3, 32),
    stp(4, 5, 48),
    stp(6, 7, 64),
    str_x(8, 80),
    ADRP_X0, // 44: slot
    ADD_X0_X0,
    BL, // 52: add_pause_list
    str_x(0, 88),
    ldp(0, 1, 16),
    ldp(2, 3, 32),
    ldp(4, 5, 48),
    ldp(6, 7, 64),
    ldr_x(8, 80),
    BL, // 80: foo_real
    stp(0, 1, 16),
    ADRP_X0, // 88: slot
    ADD_X0_X0,
    ldr_x(1, 88),
    BL, // 100: remove_pause_list
    ldp(0, 1, 16),
    ldp_post(29, 30, 96),
    AUTIASP,
    RET,
];

/// The bytes of one trampoline.
pub fn bytes() -> Vec<u8> {
    WORDS.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        assert_eq!(WORDS.len() * 4, SIZE);
        assert_eq!(WORDS[1], NOP);
        assert_eq!(WORDS[2], NOP);
        assert_eq!(WORDS[3], PACIASP);
        assert_eq!(WORDS[4], 0xa9ba7bfd); // stp x29, x30, [sp, #-96]!
        assert_eq!(WORDS[6], 0xa90107e0); // stp x0, x1, [sp, #16]
        assert_eq!(WORDS[15], 0xa94107e0); // ldp x0, x1, [sp, #16]
        assert_eq!(WORDS[27], 0xa8c67bfd); // ldp x29, x30, [sp], #96
        assert_eq!(WORDS[10], 0xf9002be8); // str x8, [sp, #80]
        assert_eq!(WORDS[(CALL_OFFSET / 4) as usize], BL);
        assert_eq!(WORDS[(ENTER_CALL / 4) as usize], BL);
        assert_eq!(WORDS[(EXIT_CALL / 4) as usize], BL);
    }
}
