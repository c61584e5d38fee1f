//! The trampoline of docs/DESIGN.md, encoded word by word.
//!
//! Each entry is 16 instructions (64 bytes). It opens like a kernel
//! function built with `-fpatchable-function-entry=2`: a landing pad, then
//! two NOPs listed in `__patchable_function_entries` ([`FTRACE_ENTRY`]), so
//! ftrace and kprobe_events treat the trampoline as a traceable function
//! (trace_kprobe refuses functions without an ftrace site). Because the
//! trampoline never moves, tracing it keeps working across moves.
//!
//! The hooks use the register convention of `macros-c/rerand_abi.h`
//! (the slot in x9 for both, only x9-x17 clobbered), so the trampoline
//! saves no argument register: x0-x8 go to the body untouched and x0-x7
//! come back from it untouched. The entry hook leaves its ticket in the
//! frame (`[sp, #16]`) across the body's call, which may sleep and
//! migrate; the exit hook gets the slot again from the trampoline's own
//! `adrp`/`add`, never from writable memory, so a forged ticket can only
//! pick another of the slot's counters.
//!
//! Relocations, relative to the start of the trampoline: [`SLOT_ADRP`] /
//! [`SLOT_ADD`] and [`EXIT_SLOT_ADRP`] / [`EXIT_SLOT_ADD`] address the
//! function's slot, [`ENTER_CALL`] and [`EXIT_CALL`] call the hooks and
//! [`CALL_OFFSET`] is the `bl foo_real` word the runtime retargets.

/// Bytes per trampoline.
pub const SIZE: usize = 64;
/// The two ftrace NOPs (`mov x9, x30; bl ftrace_caller` once traced).
pub const FTRACE_ENTRY: u64 = 4;
/// Offset of `bl foo_real` (FuncRecord.call_offset).
pub const CALL_OFFSET: u32 = 36;
pub const SLOT_ADRP: u64 = 24;
pub const SLOT_ADD: u64 = 28;
pub const ENTER_CALL: u64 = 32;
pub const EXIT_SLOT_ADRP: u64 = 40;
pub const EXIT_SLOT_ADD: u64 = 44;
pub const EXIT_CALL: u64 = 48;

pub const BTI_C: u32 = 0xd503245f;
pub const PACIASP: u32 = 0xd503233f;
pub const AUTIASP: u32 = 0xd50323bf;
pub const RET: u32 = 0xd65f03c0;
pub const NOP: u32 = 0xd503201f;
/// `bl .` (offset field filled by CALL26).
pub const BL: u32 = 0x9400_0000;
/// `adrp x9, 0` (filled by ADR_PREL_PG_HI21).
pub const ADRP_X9: u32 = 0x9000_0009;
/// `add x9, x9, #0` (filled by ADD_ABS_LO12_NC).
pub const ADD_X9_X9: u32 = 0x9100_0129;

const fn stp_pre(rt: u32, rt2: u32, imm: i32) -> u32 {
    0xa980_0000 | ((((imm / 8) as u32) & 0x7f) << 15) | (rt2 << 10) | (31 << 5) | rt
}
const fn ldp_post(rt: u32, rt2: u32, imm: i32) -> u32 {
    0xa8c0_0000 | ((((imm / 8) as u32) & 0x7f) << 15) | (rt2 << 10) | (31 << 5) | rt
}
/// `mov x29, sp` (`add x29, sp, #0`).
pub const MOV_X29_SP: u32 = 0x9100_03fd;

/// The 16 words of one trampoline, relocation fields zero.
pub const WORDS: [u32; SIZE / 4] = [
    BTI_C,
    NOP, // 4: ftrace entry
    NOP,
    PACIASP,
    stp_pre(29, 30, -32),
    MOV_X29_SP,
    ADRP_X9, // 24: slot
    ADD_X9_X9,
    BL,      // 32: add_pause_list (x9: slot; ticket to [sp, #16])
    BL,      // 36: foo_real
    ADRP_X9, // 40: slot again
    ADD_X9_X9,
    BL, // 48: remove_pause_list (x9: slot; ticket from [sp, #16])
    ldp_post(29, 30, 32),
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
        assert_eq!(WORDS[4], 0xa9be7bfd); // stp x29, x30, [sp, #-32]!
        assert_eq!(WORDS[6], 0x90000009); // adrp x9, 0
        assert_eq!(WORDS[7], 0x91000129); // add x9, x9, #0
        assert_eq!(WORDS[13], 0xa8c27bfd); // ldp x29, x30, [sp], #32
        assert_eq!(WORDS[(CALL_OFFSET / 4) as usize], BL);
        assert_eq!(WORDS[(ENTER_CALL / 4) as usize], BL);
        assert_eq!(WORDS[(EXIT_CALL / 4) as usize], BL);
        assert_eq!(WORDS[(SLOT_ADRP / 4) as usize], ADRP_X9);
        assert_eq!(WORDS[(SLOT_ADD / 4) as usize], ADD_X9_X9);
        assert_eq!(WORDS[(EXIT_SLOT_ADRP / 4) as usize], ADRP_X9);
        assert_eq!(WORDS[(EXIT_SLOT_ADD / 4) as usize], ADD_X9_X9);
    }
}
