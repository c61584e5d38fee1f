//! A real aarch64 object with fuzzer-chosen edits to its header, section
//! headers, relocations, symbols and DWARF (see `src/mutate.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../src/check.rs"]
mod check;
#[path = "../src/mutate.rs"]
mod mutate;

fuzz_target!(|data: &[u8]| check::check(&mutate::mutate(data)));
