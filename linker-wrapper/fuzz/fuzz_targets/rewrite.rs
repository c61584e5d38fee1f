//! Arbitrary bytes as an input object: rerand-ld must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../src/check.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
