//! The one table of special sections: how relocations *from* a section that
//! point into a function body are treated. Everything the rewriter knows
//! about kernel special sections is here; `rewrite` only looks effects up.

/// What a reference from a section into a wrapped function means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Ordinary code or data: a reference to a function entry
    /// (`.text.foo + 0`) is a call or an address taken, so it is redirected
    /// to the trampoline `foo`.
    Redirect,
    /// Metadata about the code as laid out (debug info, unwind tables,
    /// alternative replacement code): keeps pointing at the pristine body,
    /// even when it names the function symbol (then `foo_real` is used).
    KeepBody,
    /// Like [`Effect::KeepBody`], and the referenced function cannot move
    /// (looked up by PC or patched in place): it is excluded with this reason.
    KeepAndExclude(&'static str),
    /// `__patchable_function_entries`: ftrace entry slots. Keep, and record
    /// `OP_NOP` for each slot so copies start without an ftrace call.
    FtraceEntries,
    /// `__bug_table`: keep (the kernel looks WARN/BUG sites up by the
    /// original's PC, and the runtime reports a copy's site as the
    /// original), and record `OP_BUG` for each site so copies get a BRK the
    /// runtime handles.
    BugSites,
    /// `__ex_table` (struct exception_table_entry: PC-relative `insn` at
    /// +0, `fixup` at +4, 12 bytes): keep; the runtime gives each copy the
    /// entries translated to itself. A fixup outside the faulting
    /// instruction's own body excludes the function that holds it.
    ExTable,
    /// `__jump_table` (struct jump_entry: PC-relative `code` at +0,
    /// `target` at +4, key at +8, 16 bytes): keep; the runtime builds each
    /// copy's sites in their key's current state and follows every toggle
    /// into the copies. A target outside the site's own body excludes the
    /// function.
    JumpTable,
    /// `.altinstructions`: keep; alternative sites overlapping a
    /// place-dependent relocation or with relocated replacement code
    /// exclude the function.
    Alternatives,
    /// Input produced by rerand-ld itself: never seen in inputs that are
    /// rewritten (an object holding a table is passed through).
    Ours,
}

#[derive(Clone, Copy, Debug)]
enum Match {
    Exact(&'static str),
    Prefix(&'static str),
}

/// Section name -> effect. First match wins; no match is [`Effect::Redirect`].
const TABLE: &[(Match, Effect)] = &[
    (Match::Prefix(".debug_"), Effect::KeepBody),
    (Match::Prefix(".zdebug_"), Effect::KeepBody),
    (Match::Exact(".eh_frame"), Effect::KeepBody),
    (Match::Exact(".BTF"), Effect::KeepBody),
    (Match::Exact(".BTF.ext"), Effect::KeepBody),
    (Match::Exact(".altinstr_replacement"), Effect::KeepBody),
    (Match::Prefix(".discard"), Effect::KeepBody),
    (Match::Prefix(".note"), Effect::KeepBody),
    (
        Match::Exact("__patchable_function_entries"),
        Effect::FtraceEntries,
    ),
    (Match::Exact(".altinstructions"), Effect::Alternatives),
    (Match::Exact("__ex_table"), Effect::ExTable),
    (Match::Exact("__bug_table"), Effect::BugSites),
    (Match::Exact("__jump_table"), Effect::JumpTable),
    (
        Match::Exact(".kprobes.text"),
        Effect::KeepAndExclude("referenced from .kprobes.text"),
    ),
    // NOKPROBE_SYMBOL(): the function may run in kprobe or debug-exception
    // context, where the hooks are unsafe; its body must stay unprobeable.
    (
        Match::Exact("_kprobe_blacklist"),
        Effect::KeepAndExclude(
            "NOKPROBE_SYMBOL (runs in kprobe or debug-exception context, where the trampoline's hooks are unsafe)",
        ),
    ),
    (Match::Prefix(".rerand."), Effect::Ours),
    (Match::Exact(".text.rerand.tramp"), Effect::Ours),
];

/// The effect of relocations in the section named `name` (the section the
/// relocations apply to, not the `.rela` section).
pub fn effect_of(name: &str) -> Effect {
    for (m, e) in TABLE {
        let hit = match m {
            Match::Exact(s) => name == *s,
            Match::Prefix(p) => name.starts_with(p),
        };
        if hit {
            return *e;
        }
    }
    Effect::Redirect
}

/// Why a section cannot hold a movable function, or `None` if it can.
/// Only `.text.<name>` sections made by `-ffunction-sections` qualify.
pub fn text_section_verdict(name: &str) -> Result<(), String> {
    if name.starts_with(PINNED_PREFIX) {
        return Err("opt-out marker (section .text.rerand_pinned.*)".into());
    }
    if name == ".text.rerand.tramp" || name.starts_with(".text.rerand.") {
        return Err("rerand trampoline section".into());
    }
    if name.starts_with(".text..") {
        return Err(format!("special kernel text section {name}"));
    }
    if name.starts_with(".text.") {
        return Ok(());
    }
    if name == ".text" {
        return Err("in .text (not compiled with -ffunction-sections)".into());
    }
    if name.starts_with(".init.") || name.starts_with(".exit.") {
        return Err(format!(
            "in {name} (init/exit code is freed or never moves)"
        ));
    }
    Err(format!("in non-.text.* section {name}"))
}

/// Functions placed in a section named `.text.rerand_pinned.<anything>` are
/// never wrapped: `__attribute__((section(".text.rerand_pinned." #fn)))`.
pub const PINNED_PREFIX: &str = ".text.rerand_pinned.";
/// With `--only-annotated`, only functions in `.text.rerand_random.*` are wrapped.
pub const ANNOTATED_PREFIX: &str = ".text.rerand_random.";

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lookups() {
        assert_eq!(effect_of(".debug_info"), Effect::KeepBody);
        assert_eq!(
            effect_of("__patchable_function_entries"),
            Effect::FtraceEntries
        );
        assert_eq!(effect_of("__ex_table"), Effect::ExTable);
        assert_eq!(effect_of("__jump_table"), Effect::JumpTable);
        assert!(matches!(
            effect_of(".kprobes.text"),
            Effect::KeepAndExclude(_)
        ));
        assert_eq!(effect_of("__bug_table"), Effect::BugSites);
        assert_eq!(effect_of(".rodata"), Effect::Redirect);
        assert_eq!(effect_of(".text.foo"), Effect::Redirect);
        assert!(text_section_verdict(".text.foo").is_ok());
        assert!(text_section_verdict(".text.unlikely.foo").is_ok());
        assert!(text_section_verdict(".init.text").is_err());
        assert!(text_section_verdict(".text").is_err());
        assert!(text_section_verdict(".text.rerand_pinned.x").is_err());
    }
}
