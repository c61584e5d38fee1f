//! rerand-ld as a library: the stages the `rerand-ld` driver runs in order.
//!
//! - [`ldargs`]: what the real linker is asked to do (inputs, output, `-r`).
//! - [`rewrite`]: one aarch64 relocatable object in, one rewritten object out:
//!   functions classified, bodies renamed `foo_real`, trampolines, slots and
//!   the table of `relocator::abi` emitted.
//! - [`modpost`]: at a final module link, what modpost would have recorded
//!   for the runtime's hooks (versions, `depends=`).
//! - [`special`]: the one table of special sections and what they mean.
//! - [`dwarf`]: just enough DWARF to see which functions take stack arguments.
//! - [`rawrela`]: `.rela.debug_*` carried through as raw bytes.
//! - [`trampoline`]: the 64-byte trampoline of docs/DESIGN.md, encoded.
//! - [`scratch`]: where rewritten objects wait for the real linker.
//! - [`report`]: the `--report` JSON and the verbose summary.
//! - [`diag`]: problems with file/section/symbol/offset context.
pub mod diag;
pub mod dwarf;
pub mod ldargs;
pub mod modpost;
pub mod options;
pub mod rawrela;
pub mod report;
pub mod rewrite;
pub mod scratch;
pub mod special;
pub mod trampoline;
