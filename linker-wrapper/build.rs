//! rerand-ld runs twice per module build (Kbuild's two links), so its
//! start-up is part of the link time it adds. Linked as a position-
//! dependent executable it has no dynamic relocations to apply at start
//! (a PIE has about 12,500), which saves 0.2 ms per run on this project's
//! bench, a tenth of its whole overhead at the final `.ko` link. The code
//! stays position-independent; only the executable loses ASLR, which a
//! build tool does not need.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bin=rerand-ld=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
