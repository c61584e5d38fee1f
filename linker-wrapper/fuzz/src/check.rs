//! What every fuzz input must satisfy, shared (by `#[path]`) by the fuzz
//! targets and `tests/fuzz_corpus.rs`.
use rerand_ld::options::Config;
use rerand_ld::rewrite::{read_input_from_bytes, rewrite, Input, Outcome};

/// Rewrites `data` under a few configurations; panics (the fuzzer's
/// finding) only on a broken invariant: the rewriter itself must return
/// `Ok` or `Err` on any bytes.
pub fn check(data: &[u8]) {
    let cfgs = [
        Config::default(),
        Config {
            assume_register_args: true,
            only_annotated: false,
            ..Default::default()
        },
    ];
    for (k, cfg) in cfgs.iter().enumerate() {
        let out = rewrite("fuzz.o", data, cfg);
        if k == 0 {
            // The driver's cheap read decides as the full rewrite does.
            if let Input::Decided(Outcome::PassThrough { reason, .. }) =
                read_input_from_bytes("fuzz.o", data)
            {
                match &out {
                    Ok(Outcome::PassThrough { reason: r, .. }) => assert_eq!(&reason, r),
                    other => panic!("read_input passed through ({reason}), rewrite: {other:?}"),
                }
            }
        }
        // What rerand-ld wrote, it recognizes and leaves alone.
        if let Ok(Outcome::Rewritten { data: out, .. }) = out {
            match rewrite("fuzz.o", &out, cfg) {
                Ok(Outcome::PassThrough { reason, .. }) => {
                    assert!(reason.contains("already processed"), "{reason}")
                }
                other => panic!("rewritten output not recognized: {other:?}"),
            }
        }
    }
}
