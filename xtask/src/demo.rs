//! `cargo xtask demo`: a newcomer's first look. The demo scenario's guest
//! prints raw reads of `/sys/kernel/debug/rerand/test_driver` between
//! `DEMO-` markers (tests/scenarios/demo.sh); this renders each read as a
//! compact table and ends with one sentence saying what was shown.

use crate::env::Bench;
use crate::util::{Error, Result};
use crate::{kbuild, scenarios};

pub fn cmd_demo() -> Result<()> {
    let bench = crate::env::ensure()?;
    kbuild::build_all(&bench)?;
    run(&bench)
}

fn run(bench: &Bench) -> Result<()> {
    let s = scenarios::all()
        .into_iter()
        .find(|s| s.name == "demo")
        .expect("demo scenario");
    let r = scenarios::run_one(bench, &s, false);
    let log = std::fs::read_to_string(&r.log_path).unwrap_or_default();
    print!("{}", render(&log));
    if r.passed {
        Ok(())
    } else {
        Err(Error(format!("the demo failed: {}", r.detail)))
    }
}

/// One function in one read of the module's debugfs file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    name: String,
    entry: u64,
    body: u64,
    orig: u64,
    moves: u64,
}

fn hex_field(line: &str, key: &str) -> Option<u64> {
    let v = field(line, key)?;
    u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn parse_row(line: &str) -> Option<Row> {
    let (name, _) = line.split_once(" trampoline=")?;
    Some(Row {
        // `%ps` of a module symbol: "check_entry [test_driver]".
        name: name.split_whitespace().next()?.to_string(),
        entry: hex_field(line, "trampoline")?,
        body: hex_field(line, "body")?,
        orig: hex_field(line, "orig")?,
        moves: field(line, "moves")?.parse().ok()?,
    })
}

/// A signed distance in bytes, short: "+1.3 MiB", "-412 KiB", "0".
fn distance(from: u64, to: u64) -> String {
    let d = to.wrapping_sub(from) as i64;
    let (sign, a) = (if d < 0 { '-' } else { '+' }, d.unsigned_abs() as f64);
    match a {
        0.0 => "0".into(),
        a if a < 1024.0 => format!("{sign}{a} B"),
        a if a < 1024.0 * 1024.0 => format!("{sign}{:.0} KiB", a / 1024.0),
        a => format!("{sign}{:.1} MiB", a / (1024.0 * 1024.0)),
    }
}

/// The demo's log (serial console) as tables and a closing sentence.
fn render(log: &str) -> String {
    let mut out = String::new();
    let mut reads: Vec<Vec<Row>> = Vec::new();
    let mut in_read = false;
    let mut calls = None;
    for line in log.lines() {
        let line = line.trim_end();
        if line.starts_with("DEMO-READ") {
            reads.push(Vec::new());
            in_read = true;
        } else if line.starts_with("DEMO-END") {
            in_read = false;
        } else if let Some(rest) = line.strip_prefix("DEMO-CALLS ") {
            calls = Some(rest.to_string());
        } else if in_read {
            if let (Some(r), Some(read)) = (parse_row(line), reads.last_mut()) {
                read.push(r);
            }
        }
    }
    out.push_str(
        "\nrerand demo: test_driver in Debian's arm64 kernel under QEMU, its bodies moved every 100 ms\n\
         while rerand_host calls check_entry through its fixed entry point every 50 ms.\n\
         entry = where callers jump (a trampoline, never moves); body = where the code runs now.\n",
    );
    let mut prev: Option<&Vec<Row>> = None;
    for (i, read) in reads.iter().enumerate() {
        out.push_str(&format!(
            "\nread {} ({:.1} s){}\n",
            i + 1,
            (i + 1) as f64 * 0.5,
            if prev.is_none() {
                ": moved = from where the module loader put the body"
            } else {
                ": moved = since the previous read"
            }
        ));
        out.push_str(&format!(
            "  {:<24} {:<18} {:<18} {:>10} {:>6}\n",
            "function", "entry (fixed)", "body now", "moved", "moves"
        ));
        for r in read {
            let from = prev
                .and_then(|p| p.iter().find(|q| q.name == r.name))
                .map(|q| q.body)
                .unwrap_or(r.orig);
            out.push_str(&format!(
                "  {:<24} {:<18} {:<18} {:>10} {:>6}\n",
                r.name,
                format!("{:#x}", r.entry),
                format!("{:#x}", r.body),
                distance(from, r.body),
                r.moves
            ));
        }
        prev = Some(read);
    }
    let get = |k: &str| {
        calls
            .as_deref()
            .and_then(|c| field(c, k))
            .unwrap_or("?")
            .to_string()
    };
    let functions = reads.last().map_or(0, Vec::len);
    let entries_fixed = reads.windows(2).all(|w| {
        w[1].iter()
            .all(|r| w[0].iter().all(|q| q.name != r.name || q.entry == r.entry))
    });
    out.push_str(&format!(
        "\nShown: {} reads of {functions} functions. rerand_host made {} checked calls and {} of them\n\
         returned a wrong result, while the bodies moved {} times\n\
         and every entry point {}.\n",
        reads.len(),
        get("calls"),
        get("errors"),
        get("moves"),
        if entries_fixed { "stayed where it was" } else { "did NOT stay put" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_reads_as_tables_and_one_sentence() {
        let line = |body: u64, moves: u32| {
            format!(
                "check_entry [test_driver] trampoline=0xffff80000a001000 body=0x{body:016x} state=idle moves={moves} skipped=0 orig=0xffff80000a000100 call=0xffff80000a001028 watch=0xffff80000a001028 guarded=0 intact=1 tamper=0"
            )
        };
        let log = format!(
            "[    1.0] boot\nDEMO-READ 1\n{}\nDEMO-READ 2\n{}\nDEMO-END\nDEMO-CALLS calls=42 errors=0 moves=9\nSUMMARY: ok\n",
            line(0xffff80000a200100, 4),
            line(0xffff80000a100100, 9)
        );
        let out = render(&log);
        assert!(out.contains("+2.0 MiB"), "{out}");
        assert!(out.contains("-1.0 MiB"), "{out}");
        assert!(out.contains("2 reads of 1 functions"), "{out}");
        assert!(
            out.contains("42 checked calls and 0 of them\nreturned a wrong result"),
            "{out}"
        );
        assert!(out.contains("moved 9 times"), "{out}");
        assert!(out.contains("stayed where it was"), "{out}");
        assert!(out.lines().all(|l| l.chars().count() <= 110), "{out}");
    }
}
