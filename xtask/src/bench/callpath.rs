//! What the call path holds, counted from the code as built rather than
//! asserted: the trampolines' words from `bench_call_rr.ko` itself, and
//! the hooks' words as the guest kernel's alternatives patched them
//! (debugfs `rerand/mover`: `hooks_*`, pause.c's census). Under icount a
//! barrier or an exclusive pair costs one instruction; on a real core it
//! costs far more, so they are counted apart (issue 21).

use super::{jn, num, obj, Lines, J};
use crate::util::{Error, Result};
use object::{Object, ObjectSection};
use std::path::Path;

#[derive(Default)]
pub struct Census {
    pub trampolines: usize,
    pub words: usize,
    pub dmb: usize,
    pub dsb: usize,
    pub isb: usize,
    /// Load/store exclusive class (LDXR/STXR and their acquire/release
    /// forms, LDAR/STLR): A64 "Load/store exclusive", bits 29:24 = 001000.
    pub exclusive: usize,
}

impl Census {
    fn count(&mut self, w: u32) {
        self.words += 1;
        match w & 0xffff_f0ff {
            0xd503_30bf => self.dmb += 1,
            0xd503_309f => self.dsb += 1,
            0xd503_30df => self.isb += 1,
            _ => {}
        }
        if w & 0x3f00_0000 == 0x0800_0000 {
            self.exclusive += 1;
        }
    }
}

/// The trampolines of a rerand-linked module, word by word.
pub fn trampolines(ko: &Path) -> Result<Census> {
    let bytes = std::fs::read(ko).map_err(|e| Error(format!("{}: {e}", ko.display())))?;
    let file = object::File::parse(&*bytes).map_err(|e| Error(format!("{}: {e}", ko.display())))?;
    let sec = file
        .section_by_name(relocator::abi::TRAMPOLINE_SECTION)
        .ok_or_else(|| Error(format!("{}: no trampoline section", ko.display())))?;
    let data = sec
        .data()
        .map_err(|e| Error(format!("{}: {e}", ko.display())))?;
    let mut c = Census {
        trampolines: data.len() / 64,
        ..Default::default()
    };
    for w in data.chunks_exact(4) {
        c.count(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    Ok(c)
}

/// The hooks as patched in the guest (`-cpu max`: LSE atomics, PAuth).
pub struct Hooks {
    pub words: f64,
    pub dmb: f64,
    pub dsb: f64,
    pub ldxr: f64,
    pub stadd: f64,
}

pub fn hooks(l: &Lines) -> Option<Hooks> {
    let m = l.of("mover").last()?;
    Some(Hooks {
        words: num(m, "hooks_insns"),
        dmb: num(m, "hooks_dmb"),
        dsb: num(m, "hooks_dsb"),
        ldxr: num(m, "hooks_ldxr"),
        stadd: num(m, "hooks_stadd"),
    })
}

pub fn json(t: &Census, h: Option<&Hooks>) -> J {
    obj(vec![
        ("trampolines", jn(t.trampolines as f64)),
        ("trampoline_words", jn(t.words as f64)),
        ("trampoline_dmb", jn(t.dmb as f64)),
        ("trampoline_dsb", jn(t.dsb as f64)),
        ("trampoline_isb", jn(t.isb as f64)),
        ("trampoline_exclusive", jn(t.exclusive as f64)),
        ("hooks_words", jn(h.map_or(f64::NAN, |h| h.words))),
        ("hooks_dmb", jn(h.map_or(f64::NAN, |h| h.dmb))),
        ("hooks_dsb", jn(h.map_or(f64::NAN, |h| h.dsb))),
        ("hooks_ldxr", jn(h.map_or(f64::NAN, |h| h.ldxr))),
        ("hooks_stadd", jn(h.map_or(f64::NAN, |h| h.stadd))),
    ])
}

pub fn markdown(t: &Census, h: Option<&Hooks>) -> String {
    let mut md = format!(
        "Counted from the code as built: the {} trampolines of `bench_call_rr.ko` ({} words) hold {} `dmb`, {} `dsb`, {} `isb` and {} exclusive or acquire/release accesses",
        t.trampolines, t.words, t.dmb, t.dsb, t.isb, t.exclusive
    );
    match h {
        Some(h) => md.push_str(&format!(
            "; the hooks, as the guest's alternatives patched them on `-cpu max` (debugfs `mover`: {:.0} words up to each hook's first `ret`), hold {:.0} `dmb`, {:.0} `dsb`, {:.0} `ldxr` and {:.0} `stadd`{}.\n\n",
            h.words,
            h.dmb,
            h.dsb,
            h.ldxr,
            h.stadd,
            if h.dmb + h.dsb + h.ldxr == 0.0 {
                ": no barrier and no exclusive loop on the call path where the CPU has LSE atomics"
            } else {
                ""
            }
        )),
        None => md.push_str("; the run printed no hooks census.\n\n"),
    }
    md
}
