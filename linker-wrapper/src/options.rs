//! rerand-ld's own options. Kbuild owns the linker command line, so these
//! come from the environment:
//!
//! - `RERAND_LD_FLAGS`: e.g. `--report out.json --exclude '^bfq_.*_show$'`
//! - `RERAND_VERBOSE=1`: one summary line per rewritten object on stderr
//! - `RERAND_REAL_LD`: the real linker (else `aarch64-linux-gnu-ld`, then `ld`)
use clap::Parser;
use regex::Regex;

#[derive(Parser, Debug, Default, Clone)]
#[command(
    name = "RERAND_LD_FLAGS",
    no_binary_name = true,
    about = "rerand-ld options, passed in the RERAND_LD_FLAGS environment variable",
    after_help = "Environment:\n  RERAND_LD_FLAGS   the options above (Kbuild owns the command line)\n  RERAND_VERBOSE=1  one summary line per rewritten object on stderr\n  RERAND_REAL_LD    the real linker (default: ${CROSS_COMPILE}ld, aarch64-linux-gnu-ld, ld)\n\nExample:\n  RERAND_LD_FLAGS=\"--report bfq.json --exclude '^bfq_.*_show$'\" \\\n    make -C $KDIR M=$PWD LD=rerand-ld modules"
)]
pub struct Options {
    /// Write a JSON report (every function: randomized or excluded and why).
    /// With several rerand-ld runs per build, each run merges into the file.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<String>,
    /// Do not wrap functions whose name matches REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub exclude: Vec<String>,
    /// Wrap only functions placed in `.text.rerand_random.*` sections.
    #[arg(long)]
    pub only_annotated: bool,
    /// Summary on stderr (same as RERAND_VERBOSE=1).
    #[arg(short, long)]
    pub verbose: bool,
    /// Accepted for old build files: excluding functions without DWARF is
    /// now the default.
    #[arg(long, hide = true)]
    pub require_dwarf: bool,
    /// Wrap functions that DWARF says nothing about (objects built without
    /// -g, compressed or split DWARF) as if they took register arguments
    /// only. Unsafe for a function with stack-passed or variadic
    /// arguments: its body would read them from the trampoline's frame.
    #[arg(long)]
    pub assume_register_args: bool,
}

/// Options after validation.
#[derive(Debug, Default, Clone)]
pub struct Config {
    pub report: Option<String>,
    pub exclude: Vec<Regex>,
    pub only_annotated: bool,
    pub verbose: bool,
    /// Without a DWARF verdict, wrap anyway (`--assume-register-args`);
    /// by default such functions stay in place.
    pub assume_register_args: bool,
}

impl Config {
    pub fn from_options(o: Options) -> Result<Self, String> {
        let mut exclude = Vec::new();
        for e in &o.exclude {
            exclude.push(Regex::new(e).map_err(|err| format!("--exclude {e:?}: {err}"))?);
        }
        Ok(Config {
            report: o.report,
            exclude,
            only_annotated: o.only_annotated,
            verbose: o.verbose,
            assume_register_args: o.assume_register_args && !o.require_dwarf,
        })
    }

    /// From `RERAND_LD_FLAGS` and `RERAND_VERBOSE`.
    pub fn from_env() -> Result<Self, String> {
        let flags = std::env::var("RERAND_LD_FLAGS").unwrap_or_default();
        let words = split_words(&flags)?;
        // Building clap's parser costs about 0.1 ms, paid twice per module
        // build (every link runs rerand-ld): skipped when there is nothing
        // to parse (a test checks that the defaults agree).
        let o = if words.is_empty() {
            Options::default()
        } else {
            Options::try_parse_from(words).map_err(|e| format!("RERAND_LD_FLAGS: {e}"))?
        };
        let mut c = Self::from_options(o)?;
        if std::env::var("RERAND_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0") {
            c.verbose = true;
        }
        Ok(c)
    }
}

/// Shell-like splitting: whitespace separates, '...' and "..." quote,
/// backslash escapes.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    have = true;
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                have = true;
            }
            (None, c) if c.is_whitespace() => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            (None, c) => {
                cur.push(c);
                have = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in {s:?}"));
    }
    if have {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"--report a.json --exclude '^x y$' -v"#).unwrap(),
            ["--report", "a.json", "--exclude", "^x y$", "-v"]
        );
        assert!(split_words("'oops").is_err());
    }

    #[test]
    fn no_flags_means_clap_defaults() {
        let parsed = Options::try_parse_from(Vec::<String>::new()).unwrap();
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Options::default()));
    }
}
