//! AArch64 relocation engine and the rerand table ABI.
//!
//! `abi` is the one definition of the tables `rerand-ld` writes and
//! `rerand.ko` reads.
pub mod abi;
pub mod module;
pub mod oracle;
pub mod placement;
pub mod reloc;
