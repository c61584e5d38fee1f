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
//! frame (`[x29, #16]`, x29 = sp here) across the body's call, which may sleep and
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
    BL,      // 32: add_pause_list (x9: slot; ticket to [x29, #16])
    BL,      // 36: foo_real
    ADRP_X9, // 40: slot again
    ADD_X9_X9,
    BL, // 48: remove_pause_list (x9: slot; ticket from [x29, #16])
    ldp_post(29, 30, 32),
    AUTIASP,
    RET,
];

/// Most bytes of stack-passed arguments a trampoline copies (the `ldp`
/// offsets from x29 must fit a signed 7-bit multiple of 8).
pub const MAX_STACK_ARGS: u64 = 256;

/// Where one trampoline's words are, relative to its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub size: u64,
    pub call_offset: u32,
    pub slot_adrp: u64,
    pub slot_add: u64,
    pub enter_call: u64,
    pub exit_slot_adrp: u64,
    pub exit_slot_add: u64,
    pub exit_call: u64,
}

/// The layout of a trampoline for a body that takes `stack` bytes of
/// arguments on the stack (0: the 16 words above).
pub fn layout(stack: u64) -> Layout {
    if stack == 0 {
        return Layout {
            size: SIZE as u64,
            call_offset: CALL_OFFSET,
            slot_adrp: SLOT_ADRP,
            slot_add: SLOT_ADD,
            enter_call: ENTER_CALL,
            exit_slot_adrp: EXIT_SLOT_ADRP,
            exit_slot_add: EXIT_SLOT_ADD,
            exit_call: EXIT_CALL,
        };
    }
    // bti, 2 nops, paciasp, sub, stp, add, the copy, a nop: then the slot.
    let adrp = 4 * (8 + 2 * pairs(stack));
    Layout {
        size: adrp + 4 * 12,
        call_offset: (adrp + 12) as u32,
        slot_adrp: adrp,
        slot_add: adrp + 4,
        enter_call: adrp + 8,
        exit_slot_adrp: adrp + 16,
        exit_slot_add: adrp + 20,
        exit_call: adrp + 24,
    }
}

/// 16-byte pairs of stack arguments a trampoline copies.
fn pairs(stack: u64) -> u64 {
    stack.div_ceil(16)
}

const fn ldst_pair(opc: u32, rt: u32, rt2: u32, rn: u32, imm: u64) -> u32 {
    opc | ((((imm / 8) as u32) & 0x7f) << 15) | (rt2 << 10) | (rn << 5) | rt
}
/// `stp rt, rt2, [rn, #imm]` (signed offset).
const fn stp_off(rt: u32, rt2: u32, rn: u32, imm: u64) -> u32 {
    ldst_pair(0xa900_0000, rt, rt2, rn, imm)
}
/// `ldp rt, rt2, [rn, #imm]` (signed offset).
const fn ldp_off(rt: u32, rt2: u32, rn: u32, imm: u64) -> u32 {
    ldst_pair(0xa940_0000, rt, rt2, rn, imm)
}
/// `add rd, rn, #imm` / `sub rd, rn, #imm` (64-bit, imm < 4096).
const fn add_imm(rd: u32, rn: u32, imm: u64) -> u32 {
    0x9100_0000 | ((imm as u32) << 10) | (rn << 5) | rd
}
const fn sub_imm(rd: u32, rn: u32, imm: u64) -> u32 {
    0xd100_0000 | ((imm as u32) << 10) | (rn << 5) | rd
}

/// The words of a trampoline for a body taking `stack` bytes of arguments
/// on the stack, relocation fields zero. Its frame holds a copy of those
/// arguments below the frame record (`x29`) and the ticket, so that the
/// body finds them at its `sp` as if called directly; the hooks find the
/// ticket at `[x29, #16]` in either shape. A callee may write its
/// argument area (AAPCS64): it writes the copy, which the caller never
/// reads back.
pub fn words(stack: u64) -> Vec<u32> {
    if stack == 0 {
        return WORDS.to_vec();
    }
    let args = 16 * pairs(stack);
    let frame = args + 32;
    let mut w = vec![
        BTI_C,
        NOP, // 4: ftrace entry
        NOP,
        PACIASP,
        sub_imm(31, 31, frame),
        stp_off(29, 30, 31, args),
        add_imm(29, 31, args),
    ];
    for k in 0..pairs(stack) {
        // From the caller's argument area, above this frame (x29 + 32).
        w.push(ldp_off(10, 11, 29, 32 + 16 * k));
        w.push(stp_off(10, 11, 31, 16 * k));
    }
    // Keeps the `bl` pair in one 8-byte unit, as in the plain shape.
    w.push(NOP);
    w.extend([
        ADRP_X9, // slot
        ADD_X9_X9,
        BL, // add_pause_list (x9: slot; ticket to [x29, #16])
        BL, // foo_real
        ADRP_X9,
        ADD_X9_X9,
        BL, // remove_pause_list (x9: slot; ticket from [x29, #16])
        ldp_off(29, 30, 31, args),
        add_imm(31, 31, frame),
        AUTIASP,
        RET,
        NOP, // to a multiple of 8 bytes; never runs
    ]);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_variant() {
        assert_eq!(words(0), WORDS.to_vec());
        assert_eq!(layout(0).size, SIZE as u64);
        for stack in [8, 16, 24, 64, MAX_STACK_ARGS] {
            let w = words(stack);
            let l = layout(stack);
            assert_eq!(w.len() as u64 * 4, l.size, "{stack}");
            assert_eq!(l.size % 8, 0);
            // The watched unit [+call-4, +call+4) holds both `bl`s.
            assert_eq!(l.call_offset % 8, 4);
            assert_eq!(l.enter_call + 4, l.call_offset as u64);
            for at in [l.enter_call, l.call_offset as u64, l.exit_call] {
                assert_eq!(w[at as usize / 4], BL);
            }
            for at in [l.slot_adrp, l.exit_slot_adrp] {
                assert_eq!(w[at as usize / 4], ADRP_X9);
            }
            for at in [l.slot_add, l.exit_slot_add] {
                assert_eq!(w[at as usize / 4], ADD_X9_X9);
            }
            assert_eq!(w[FTRACE_ENTRY as usize / 4], NOP);
        }
        let w = words(24);
        assert_eq!(w[4], 0xd10103ff); // sub sp, sp, #64
        assert_eq!(w[5], 0xa9027bfd); // stp x29, x30, [sp, #32]
        assert_eq!(w[6], 0x910083fd); // add x29, sp, #32
        assert_eq!(w[7], 0xa9422faa); // ldp x10, x11, [x29, #32]
        assert_eq!(w[8], 0xa9002fea); // stp x10, x11, [sp]
        assert_eq!(w[9], 0xa9432faa); // ldp x10, x11, [x29, #48]
        assert_eq!(w[10], 0xa9012fea); // stp x10, x11, [sp, #16]
    }

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
