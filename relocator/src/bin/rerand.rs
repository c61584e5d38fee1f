//! `rerand`: look at what rerand-ld did to a module, and check it.
//!
//! Exit codes: 0 fine; 1 the module is not a rerand module, or `verify`
//! found differences; 2 the file is unreadable or corrupt, or a check could
//! not run.

use clap::{Args, Parser, Subcommand};
use relocator::module::{self, reloc_name, Error, Module, MODULES_END, MODULES_VADDR};
use relocator::oracle::{self, VerifyConfig};
use relocator::placement::{build_copy, copy_max_size, place_bodies};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rerand",
    about = "Inspect and check modules linked with rerand-ld",
    long_about = "Inspect and check kernel modules linked with rerand-ld.\n\n\
        Exit status: 0 success; 1 not a rerand module, or differences found; \
        2 unreadable or corrupt input, or a check that could not run."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// What moves, what stays and why, and what it costs.
    ///
    /// Example: rerand inspect bfq.ko
    Inspect(InspectArgs),
    /// Lay the bodies out as the runtime would for one seed and build each copy.
    ///
    /// Example: rerand simulate bfq.ko --seed 7 -o copies.json
    Simulate(SimulateArgs),
    /// Check every copy against GNU ld linking the module at random addresses.
    ///
    /// Example: rerand verify bfq.ko --seeds 20
    Verify(VerifyArgs),
}

#[derive(Args)]
struct InspectArgs {
    /// The module (.ko) or processed object (.o). Example: bfq.ko
    module: PathBuf,
    /// Print one JSON document instead of text. Example: rerand inspect bfq.ko --json | jq .summary
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SimulateArgs {
    /// The module (.ko) or processed object (.o). Example: bfq.ko
    module: PathBuf,
    /// Seed of the splitmix64 placement (as the runtime's). Example: --seed 42
    #[arg(long)]
    seed: u64,
    /// Address window copies are placed in, LO:HI in hex; default the arm64
    /// module area. Example: --window 0xffff800000000000:0xffff800008000000
    #[arg(long, value_parser = parse_window)]
    window: Option<(u64, u64)>,
    /// Where the module itself is loaded (its first text section), in hex.
    /// Example: --base 0xffff800001000000
    #[arg(long, value_parser = parse_hex, default_value = "0xffff800001000000")]
    base: u64,
    /// Write the JSON (patched bytes of every copy) here instead of stdout.
    /// Example: -o copies.json
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct VerifyArgs {
    /// The module (.ko) or processed object (.o). Example: bfq.ko
    module: PathBuf,
    /// Number of random placements (one link each). Example: --seeds 50
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// First seed; seeds are consecutive from it. Example: --first-seed 1000
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Links run in parallel; default the number of CPUs. Example: --jobs 4
    #[arg(long)]
    jobs: Option<usize>,
    /// Keep linker scripts and outputs in this directory (else a temporary
    /// one, removed afterwards). Example: --workdir /tmp/verify
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Print at most this many differences. Example: --max-report 100
    #[arg(long, default_value_t = 20)]
    max_report: usize,
}

fn parse_hex(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(&h.replace('_', ""), 16),
        None => t.replace('_', "").parse(),
    };
    r.map_err(|e| format!("{s:?}: {e} (expected e.g. 0xffff800000000000)"))
}

fn parse_window(s: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected LO:HI"))?;
    let (lo, hi) = (parse_hex(lo)?, parse_hex(hi)?);
    if lo >= hi {
        return Err(format!("{s:?}: LO must be below HI"));
    }
    Ok((lo, hi))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Inspect(a) => inspect(a),
        Cmd::Simulate(a) => simulate(a),
        Cmd::Verify(a) => verify(a),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(Failure(code, msg)) => {
            eprintln!("rerand: {msg}");
            ExitCode::from(code)
        }
    }
}

struct Failure(u8, String);

/// `writeln!` into a String cannot fail.
macro_rules! outln {
    ($out:expr, $($t:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($t)*);
    }};
}

/// Writes the report; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure(e.exit_code() as u8, e.to_string())
    }
}

fn display_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}

// ---------------------------------------------------------------- inspect

#[derive(Serialize)]
struct FuncOut {
    name: String,
    section: String,
    size: u32,
    relocs: usize,
    ftrace_slots: usize,
}

#[derive(Serialize)]
struct ReasonOut {
    reason: String,
    count: usize,
    functions: Vec<String>,
}

#[derive(Serialize)]
struct Summary {
    functions: usize,
    moving: usize,
    staying: usize,
    moving_code_bytes: u64,
    staying_code_bytes: u64,
    /// Excluded functions whose size the symbol table does not give.
    staying_unknown_size: usize,
    function_fraction: f64,
    code_fraction: f64,
    trampoline_bytes: u64,
    table_bytes: u64,
    slot_bytes: u64,
    tables: usize,
    /// What stays executable at a fixed address once the runtime has
    /// poisoned the original bodies: trampolines, the functions that stay
    /// (but init code, freed after load) and the moving bodies' ftrace
    /// slots (kept for ftrace).
    fixed_exec_bytes: u64,
    kept_ftrace_bytes: u64,
    staying_after_init_bytes: u64,
}

#[derive(Serialize)]
struct InspectOut {
    module: String,
    summary: Summary,
    relocations: BTreeMap<String, usize>,
    excluded: Vec<ReasonOut>,
    randomized: Vec<FuncOut>,
}

fn inspect_data(m: &Module, name: &str) -> InspectOut {
    let moving = m.functions.len();
    let stay = m.staying();
    let staying = stay.len();
    let moving_bytes: u64 = m.functions.iter().map(|f| f.size as u64).sum();
    let staying_bytes: u64 = stay.iter().filter_map(|s| s.excluded.size).sum();
    let (tramp, table, slots) = m.overhead();
    let (_, after_init, kept) = m.fixed_exec();
    let mut relocations = BTreeMap::new();
    for f in &m.functions {
        for r in &f.relocs {
            *relocations.entry(reloc_name(r.r_type)).or_default() += 1;
        }
    }
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in &stay {
        by_reason
            .entry(&s.excluded.reason)
            .or_default()
            .push(s.label());
    }
    let mut excluded: Vec<ReasonOut> = by_reason
        .into_iter()
        .map(|(reason, functions)| ReasonOut {
            reason: reason.to_string(),
            count: functions.len(),
            functions,
        })
        .collect();
    excluded.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    InspectOut {
        module: name.to_string(),
        summary: Summary {
            functions: moving + staying,
            moving,
            staying,
            moving_code_bytes: moving_bytes,
            staying_code_bytes: staying_bytes,
            staying_unknown_size: stay.iter().filter(|s| s.excluded.size.is_none()).count(),
            function_fraction: ratio(moving as f64, (moving + staying) as f64),
            code_fraction: ratio(moving_bytes as f64, (moving_bytes + staying_bytes) as f64),
            trampoline_bytes: tramp,
            table_bytes: table,
            slot_bytes: slots,
            tables: m.tables.len(),
            fixed_exec_bytes: tramp + after_init + kept,
            kept_ftrace_bytes: kept,
            staying_after_init_bytes: after_init,
        },
        relocations,
        excluded,
        randomized: m
            .functions
            .iter()
            .map(|f| FuncOut {
                name: f.name.clone(),
                section: m
                    .section(f.section)
                    .map_or(String::new(), |s| s.name.clone()),
                size: f.size,
                relocs: f
                    .relocs
                    .iter()
                    .filter(|r| r.r_type != relocator::abi::OP_NOP)
                    .count(),
                ftrace_slots: f
                    .relocs
                    .iter()
                    .filter(|r| r.r_type == relocator::abi::OP_NOP)
                    .count(),
            })
            .collect(),
    }
}

fn inspect(a: InspectArgs) -> Result<u8, Failure> {
    let m = Module::read(&a.module)?;
    let mut out = String::new();
    let name = display_name(&a.module);
    let d = inspect_data(&m, &name);
    if a.json {
        outln!(
            out,
            "{}",
            serde_json::to_string_pretty(&d).map_err(|e| Failure(2, e.to_string()))?
        );
        emit(&out);
        return Ok(0);
    }
    let s = &d.summary;
    let stay: Vec<String> = d
        .excluded
        .iter()
        .map(|r| format!("{} {}", r.count, r.reason))
        .collect();
    outln!(
        out,
        "{name}: {} of {} functions move ({:.0}% of code bytes); {} stay in place{}{}",
        s.moving,
        s.functions,
        100.0 * s.code_fraction,
        s.staying,
        if stay.is_empty() { "" } else { ": " },
        stay.join("; ")
    );
    outln!(
        out,
        "  functions moving: {:.1}%; code bytes moving: {} of {} ({:.1}%){}",
        100.0 * s.function_fraction,
        s.moving_code_bytes,
        s.moving_code_bytes + s.staying_code_bytes,
        100.0 * s.code_fraction,
        if s.staying_unknown_size > 0 {
            format!(
                " ({} excluded functions of unknown size not counted)",
                s.staying_unknown_size
            )
        } else {
            String::new()
        }
    );
    outln!(
        out,
        "  cost: trampolines {} bytes ({} x {}), tables {} bytes, slots {} bytes ({} table{})",
        s.trampoline_bytes,
        s.moving,
        s.trampoline_bytes.checked_div(s.moving as u64).unwrap_or(0),
        s.table_bytes,
        s.slot_bytes,
        s.tables,
        if s.tables == 1 { "" } else { "s" }
    );
    outln!(
        out,
        "  fixed executable bytes once the originals are poisoned: {} (trampolines {}, functions that stay {}, ftrace slots of moving bodies {}; init code, freed after load, not counted)",
        s.fixed_exec_bytes,
        s.trampoline_bytes,
        s.staying_after_init_bytes,
        s.kept_ftrace_bytes
    );
    out.push('\n');
    outln!(out, "Relocations re-applied in every copy, by type:");
    let mut rels: Vec<(&String, &usize)> = d.relocations.iter().collect();
    rels.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (t, n) in rels {
        outln!(out, "  {n:>7}  {t}");
    }
    if !d.excluded.is_empty() {
        out.push('\n');
        outln!(out, "Functions that stay in place, by reason:");
        for r in &d.excluded {
            outln!(out, "  {} x {}", r.count, r.reason);
            for f in &r.functions {
                outln!(out, "      {f}");
            }
        }
    }
    out.push('\n');
    outln!(
        out,
        "Functions that move (body bytes, relocations, ftrace slots):"
    );
    for f in &d.randomized {
        outln!(
            out,
            "  {:<48} {:>7} {:>5} {:>3}",
            f.name,
            f.size,
            f.relocs,
            f.ftrace_slots
        );
    }
    emit(&out);
    Ok(0)
}

// ---------------------------------------------------------------- simulate

#[derive(Serialize)]
struct CopyOut {
    name: String,
    /// Where the loader put the pristine body.
    pristine: String,
    /// Where the copy goes.
    address: String,
    size: u32,
    copy_size: usize,
    veneers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct SimulateOut {
    module: String,
    seed: u64,
    window: [String; 2],
    sections: BTreeMap<String, String>,
    functions: Vec<CopyOut>,
    copies: usize,
    veneers: usize,
    errors: usize,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn simulate(a: SimulateArgs) -> Result<u8, Failure> {
    let m = Module::read(&a.module)?;
    let (lo, hi) = a.window.unwrap_or((MODULES_VADDR, MODULES_END));
    let layout = m.loader_layout(a.base, module::KIMAGE_VADDR);
    let mut prepared = Vec::new();
    for f in &m.functions {
        let pristine = m.loaded_body(f, &layout);
        let records = m.records(f, &layout).map_err(|e| Failure(2, e))?;
        let cap = copy_max_size(pristine.len(), &records);
        prepared.push((f, pristine, records, cap));
    }
    let want: Vec<(u64, u64)> = prepared
        .iter()
        .map(|(f, _, _, cap)| (*cap as u64, f.align as u64))
        .collect();
    let addrs = place_bodies(&want, lo, hi, a.seed)
        .map_err(|e| Failure(2, format!("placement in {lo:#x}..{hi:#x}: {e}")))?;
    let mut out = SimulateOut {
        module: display_name(&a.module),
        seed: a.seed,
        window: [format!("{lo:#x}"), format!("{hi:#x}")],
        sections: layout
            .sections
            .iter()
            .filter_map(|(i, addr)| Some((m.section(*i)?.name.clone(), format!("{addr:#x}"))))
            .collect(),
        functions: Vec::new(),
        copies: 0,
        veneers: 0,
        errors: 0,
    };
    for ((f, pristine, records, cap), at) in prepared.iter().zip(addrs) {
        let pristine_at = layout.sections.get(&f.section).copied().unwrap_or(0) + f.offset;
        let mut c = CopyOut {
            name: f.name.clone(),
            pristine: format!("{pristine_at:#x}"),
            address: format!("{at:#x}"),
            size: f.size,
            copy_size: 0,
            veneers: 0,
            bytes: None,
            error: None,
        };
        match build_copy(at, pristine, records, *cap) {
            Ok(bytes) => {
                c.copy_size = bytes.len();
                c.veneers = bytes.len().saturating_sub(pristine.len()) / 16;
                c.bytes = Some(hex(&bytes));
                out.copies += 1;
                out.veneers += c.veneers;
            }
            Err(e) => {
                c.error = Some(e.to_string());
                out.errors += 1;
            }
        }
        out.functions.push(c);
    }
    let json = serde_json::to_string_pretty(&out).map_err(|e| Failure(2, e.to_string()))?;
    match &a.output {
        Some(p) => std::fs::write(p, json + "\n")
            .map_err(|e| Failure(2, format!("{}: {e}", p.display())))?,
        None => emit(&(json + "\n")),
    }
    eprintln!(
        "{}: seed {}: {} copies built in {lo:#x}..{hi:#x}, {} veneers, {} errors{}",
        out.module,
        a.seed,
        out.copies,
        out.veneers,
        out.errors,
        a.output
            .as_ref()
            .map_or(String::new(), |p| format!("; written to {}", p.display()))
    );
    for f in out.functions.iter().filter(|f| f.error.is_some()) {
        eprintln!("  {}: {}", f.name, f.error.as_deref().unwrap_or(""));
    }
    Ok(if out.errors > 0 { 1 } else { 0 })
}

// ---------------------------------------------------------------- verify

fn verify(a: VerifyArgs) -> Result<u8, Failure> {
    let m = Module::read(&a.module)?;
    let mut out = String::new();
    let name = display_name(&a.module);
    let (workdir, temporary) = match &a.workdir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("rerand-verify-{}", std::process::id())),
            true,
        ),
    };
    let cfg = VerifyConfig {
        seeds: a.seeds,
        first_seed: a.first_seed,
        window: (oracle::WINDOW_LO, oracle::WINDOW_HI),
        workdir: workdir.clone(),
        jobs: a
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    let started = std::time::Instant::now();
    let r = oracle::verify_module(&m, &a.module, &cfg);
    if temporary {
        let _ = std::fs::remove_dir_all(&workdir);
    }
    let r = r.map_err(|e| Failure(2, format!("{name}: cannot verify: {e}")))?;
    let compared: usize = r.tally.compared.values().sum();
    outln!(
        out,
        "{name}: {} placements x {} functions = {} bodies compared with {} in {:.1} s: \
         {compared} relocated fields equal, {} out-of-range branches through veneers, {} differences",
        r.seeds,
        m.functions.len(),
        r.tally.bodies,
        oracle::LD,
        started.elapsed().as_secs_f64(),
        r.tally.veneered,
        r.differences.len()
    );
    for (t, n) in &r.tally.compared {
        outln!(out, "  {n:>8}  {}", reloc_name(*t));
    }
    for (seed, d) in r.differences.iter().take(a.max_report) {
        outln!(out, "seed {seed}: {d}");
    }
    if r.differences.len() > a.max_report {
        outln!(
            out,
            "... and {} more (--max-report)",
            r.differences.len() - a.max_report
        );
    }
    emit(&out);
    Ok(if r.differences.is_empty() { 0 } else { 1 })
}
