//! The real linker's command line as rerand-ld sees it: which words are
//! input files (possibly inside `@response` files), where the output goes,
//! and whether this is a relocatable (`-r`) link. The rewritten command line
//! is the original with some input paths substituted.
use std::path::PathBuf;

/// GNU ld options that take their value as the next word.
const TAKES_VALUE: &[&str] = &[
    "-o",
    "--output",
    "-T",
    "--script",
    "-dT",
    "--default-script",
    "-m",
    "-e",
    "--entry",
    "-L",
    "--library-path",
    "-l",
    "--library",
    "-z",
    "-u",
    "--undefined",
    "--require-defined",
    "-y",
    "--trace-symbol",
    "-Y",
    "-A",
    "--architecture",
    "-b",
    "--format",
    "--oformat",
    "-c",
    "--mri-script",
    "-f",
    "--auxiliary",
    "-F",
    "--filter",
    "-G",
    "--gpsize",
    "-h",
    "-soname",
    "--soname",
    "-R",
    "--just-symbols",
    "-Map",
    "--Map",
    "--defsym",
    "-rpath",
    "--rpath",
    "-rpath-link",
    "--rpath-link",
    "--section-start",
    "-Ttext",
    "-Tdata",
    "-Tbss",
    "-Ttext-segment",
    "--version-script",
    "--dynamic-list",
    "--exclude-libs",
    "--wrap",
    "--retain-symbols-file",
    "-plugin",
    "--plugin",
    "-plugin-opt",
    "--plugin-opt",
    "--out-implib",
    "--dependency-file",
    "-I",
    "--dynamic-linker",
    "--sysroot",
];

/// One word of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// Passed on as is.
    Verbatim(String),
    /// A file the linker reads as input.
    Input(String),
    /// `@file`: the words read from it.
    Response { arg: String, words: Vec<Word> },
}

#[derive(Debug, Clone, Default)]
pub struct LdArgs {
    pub words: Vec<Word>,
    pub output: Option<String>,
    pub relocatable: bool,
    /// `-v`, `--version`, `-V`, `--help`: a probe, run the real ld as is.
    pub probe: bool,
    /// What could not be read as the command line (non-UTF-8 response
    /// files): the link fails with these rather than skip a rewrite.
    pub errors: Vec<String>,
}

fn classify(raw: &[String], out: &mut LdArgs, words: &mut Vec<Word>, depth: u32) {
    let mut i = 0;
    while i < raw.len() {
        let a = &raw[i];
        i += 1;
        if let Some(path) = a.strip_prefix('@') {
            if depth < 8 {
                // Unreadable: ld takes the word literally, and so do we.
                // Readable but not text: rerand-ld cannot rewrite it.
                let text = match std::fs::read(path).map(String::from_utf8) {
                    Ok(Ok(text)) => Some(text),
                    Ok(Err(_)) => {
                        out.errors
                            .push(format!("response file {path} is not valid UTF-8"));
                        None
                    }
                    Err(_) => None,
                };
                if let Some(text) = text {
                    let inner = split_response(&text);
                    let mut w = Vec::new();
                    classify(&inner, out, &mut w, depth + 1);
                    words.push(Word::Response {
                        arg: a.clone(),
                        words: w,
                    });
                    continue;
                }
            }
            words.push(Word::Verbatim(a.clone()));
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            match a.as_str() {
                "-r" | "-i" | "--relocatable" | "-Ur" => out.relocatable = true,
                "-v" | "-V" | "--version" | "--help" | "-help" => out.probe = true,
                _ => {}
            }
            if let Some(v) = a.strip_prefix("--output=") {
                out.output = Some(v.to_string());
            } else if a.starts_with("-o") && a.len() > 2 && !a.starts_with("--") {
                out.output = Some(a[2..].to_string());
            }
            words.push(Word::Verbatim(a.clone()));
            if TAKES_VALUE.contains(&a.as_str()) && i < raw.len() {
                if a == "-o" || a == "--output" {
                    out.output = Some(raw[i].clone());
                }
                words.push(Word::Verbatim(raw[i].clone()));
                i += 1;
            }
            continue;
        }
        words.push(Word::Input(a.clone()));
    }
}

impl LdArgs {
    pub fn parse(args: &[String]) -> Self {
        let mut out = LdArgs::default();
        let mut words = Vec::new();
        classify(args, &mut out, &mut words, 0);
        out.words = words;
        out
    }

    /// Every input path, in command-line order (response files expanded).
    pub fn inputs(&self) -> Vec<String> {
        fn walk(ws: &[Word], out: &mut Vec<String>) {
            for w in ws {
                match w {
                    Word::Input(p) => out.push(p.clone()),
                    Word::Response { words, .. } => walk(words, out),
                    Word::Verbatim(_) => {}
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.words, &mut v);
        v
    }

    /// The command line with inputs substituted by `subst`; response files
    /// holding a substituted input are rewritten: `save` stores the new
    /// text and says where.
    pub fn substituted(
        &self,
        subst: &dyn Fn(&str) -> Option<PathBuf>,
        save: &mut dyn FnMut(&str) -> std::io::Result<PathBuf>,
    ) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for w in &self.words {
            out.push(render(w, subst, save)?);
        }
        Ok(out)
    }
}

fn render(
    w: &Word,
    subst: &dyn Fn(&str) -> Option<PathBuf>,
    save: &mut dyn FnMut(&str) -> std::io::Result<PathBuf>,
) -> std::io::Result<String> {
    Ok(match w {
        Word::Verbatim(s) => s.clone(),
        Word::Input(p) => match subst(p) {
            Some(np) => np.to_string_lossy().into_owned(),
            None => p.clone(),
        },
        Word::Response { arg, words } => {
            let mut changed = false;
            let mut inner = Vec::new();
            for iw in words {
                let r = render(iw, subst, save)?;
                let orig = match iw {
                    Word::Verbatim(s) | Word::Input(s) => s.clone(),
                    Word::Response { arg, .. } => arg.clone(),
                };
                changed |= r != orig;
                inner.push(r);
            }
            if !changed {
                arg.clone()
            } else {
                let text: Vec<String> = inner.iter().map(|s| quote_response(s)).collect();
                let path = save(&(text.join("\n") + "\n"))?;
                format!("@{}", path.to_string_lossy())
            }
        }
    })
}

/// libiberty `buildargv` splitting: whitespace, quotes, backslashes.
pub fn split_response(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut quote: Option<char> = None;
    let mut it = text.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                cur.push(n);
                have = true;
            }
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                have = true;
            }
            None if c.is_whitespace() => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            None => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        out.push(cur);
    }
    out
}

fn quote_response(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if c.is_whitespace() || c == '\\' || c == '\'' || c == '"' {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn kbuild_final_link() {
        let a = LdArgs::parse(&s(&[
            "-EL",
            "-maarch64elf",
            "-z",
            "noexecstack",
            "-r",
            "--build-id=sha1",
            "-T",
            "scripts/module.lds",
            "-o",
            "foo.ko",
            "foo.o",
            "foo.mod.o",
        ]));
        assert!(a.relocatable);
        assert!(!a.probe);
        assert_eq!(a.output.as_deref(), Some("foo.ko"));
        assert_eq!(a.inputs(), ["foo.o", "foo.mod.o"]);
    }

    #[test]
    fn response_file() {
        let dir = std::env::temp_dir().join(format!("rerand-ldargs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rsp = dir.join("foo.mod");
        std::fs::write(&rsp, "a.o b\\ c.o\n").unwrap();
        let a = LdArgs::parse(&s(&["-r", "-o", "foo.o", &format!("@{}", rsp.display())]));
        assert_eq!(a.inputs(), ["a.o", "b c.o"]);
        let saved = dir.join("response-1.txt");
        let mut save = |text: &str| std::fs::write(&saved, text).map(|()| saved.clone());
        let out = a
            .substituted(
                &|p| (p == "b c.o").then(|| PathBuf::from("/t/x y.o")),
                &mut save,
            )
            .unwrap();
        assert!(out[3].starts_with('@'));
        let text = std::fs::read_to_string(&out[3][1..]).unwrap();
        assert_eq!(split_response(&text), ["a.o", "/t/x y.o"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn probe() {
        assert!(LdArgs::parse(&s(&["-v"])).probe);
        assert!(!LdArgs::parse(&s(&["-v"])).relocatable);
    }
}
