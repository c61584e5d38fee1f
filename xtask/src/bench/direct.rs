//! Direct mode (docs/DESIGN.md, "Direct mode"): bfq loaded under
//! `rerand.direct=1`, so calls between its copies go copy to copy and only
//! the block layer's entries pass a trampoline. The same measures as the
//! per-function rows, from the smp2 icount run (tests/bench-call/guest.sh,
//! `DIRECT_PERIODS`): throughput against plain bfq.ko, the cost of a
//! move, the exposure windows at 1 ms and the crossings per request.

use super::crossings::Crossings;
use super::{fit_moves, jn, moves_per_s, num, obj, s, throughput, Lines, J};

pub struct Direct {
    /// (block KiB, period ms, MB/s, ratio to plain bfq.ko, moves per
    /// second, the per-function mode's moves per second)
    rows: Vec<(String, String, f64, f64, f64, f64)>,
    /// Instructions per body moved, and the runs fitted, per block size.
    fits: Vec<(String, f64, usize)>,
    /// copies, p50, p99, max (ms), mover ticks per second: at 1 ms.
    window: Option<(f64, f64, f64, f64, f64)>,
    cross: Option<Crossings>,
}

impl Direct {
    /// None when the run measured no direct mode.
    pub fn measure(l: &Lines, periods: &[&str]) -> Option<Direct> {
        let mut rows = Vec::new();
        let mut fits = Vec::new();
        for bs in ["4", "64"] {
            let base = throughput(l, "plain", bs).2;
            for p in periods {
                let t = throughput(l, &format!("direct{p}"), bs).2;
                if t.is_finite() {
                    rows.push((
                        bs.to_string(),
                        p.to_string(),
                        t,
                        t / base,
                        moves_per_s(l, &format!("direct{p}"), bs),
                        moves_per_s(l, &format!("rr{p}"), bs),
                    ));
                }
            }
            let (slope, n) = fit_moves(l, "direct", bs);
            if n > 1 {
                fits.push((bs.to_string(), slope, n));
            }
        }
        if rows.is_empty() {
            return None;
        }
        let window = l
            .of("window")
            .find(|m| {
                m.get("period").map(String::as_str) == Some("direct1")
                    && m.get("load").is_none_or(|l| l == "dd")
            })
            .map(|w| {
                (
                    num(w, "copies"),
                    num(w, "p50_us") / 1e3,
                    num(w, "p99_us") / 1e3,
                    num(w, "max_us") / 1e3,
                    num(w, "ticks") / (num(w, "t_us") / 1e6),
                )
            });
        Some(Direct {
            rows,
            fits,
            window,
            cross: Crossings::parse(l, "crossdirect"),
        })
    }

    /// The ratio measured at `period` ms with `bs` KiB blocks.
    pub fn ratio(&self, bs: &str, period: &str) -> f64 {
        self.rows
            .iter()
            .find(|r| r.0 == bs && r.1 == period)
            .map_or(f64::NAN, |r| r.3)
    }

    pub fn json(&self) -> J {
        let mut v = vec![
            (
                "throughput",
                J::A(
                    self.rows
                        .iter()
                        .map(|(bs, p, mb, ratio, mv, mv_pf)| {
                            obj(vec![
                                ("block_kib", jn(bs.parse().unwrap_or(f64::NAN))),
                                ("period_ms", s(p.clone())),
                                ("mb_s", jn(*mb)),
                                ("ratio", jn(*ratio)),
                                ("moves_per_s", jn(*mv)),
                                ("per_function_moves_per_s", jn(*mv_pf)),
                            ])
                        })
                        .collect(),
                ),
            ),
            (
                "insn_per_move",
                J::A(
                    self.fits
                        .iter()
                        .map(|(bs, slope, n)| {
                            obj(vec![
                                ("block_kib", jn(bs.parse().unwrap_or(f64::NAN))),
                                ("insn_per_move", jn(*slope)),
                                ("runs", jn(*n as f64)),
                            ])
                        })
                        .collect(),
                ),
            ),
        ];
        if let Some((copies, p50, p99, max, ticks)) = self.window {
            v.push((
                "exposure_window_1ms",
                obj(vec![
                    ("copies", jn(copies)),
                    ("p50_ms", jn(p50)),
                    ("p99_ms", jn(p99)),
                    ("max_ms", jn(max)),
                    ("mover_ticks_per_s", jn(ticks)),
                ]),
            ));
        }
        if let Some(c) = &self.cross {
            v.push((
                "crossings_per_request",
                obj(vec![
                    ("requests", jn(c.requests)),
                    ("external", jn(c.per_request(c.external))),
                    ("internal", jn(c.per_request(c.internal))),
                    ("trace_events_lost", jn(c.lost)),
                ]),
            ));
        }
        obj(v)
    }

    /// The report's section: `per_function` gives, for each (block KiB,
    /// period), the per-function mode's ratio from section 4.
    pub fn markdown(&self, per_function: impl Fn(&str, &str) -> f64) -> String {
        let mut md = String::from(
            "bfq loaded under `rerand.direct=1` (docs/DESIGN.md, \"Direct mode\"): calls between its copies are linked copy to copy when each arena is built, so only entries from outside bfq pass a trampoline. Same runs, clock (icount, smp 2) and plain baseline as section 4. A period is the pause between two of the mover's rounds, so a cheaper round means more rounds a second: at the same period the two modes need not move as often (moves per guest second, beside each ratio).\n\n| block | period | direct MB/s | direct / plain | moves/s | per-function / plain (section 4) | moves/s |\n|---|---|---|---|---|---|---|\n",
        );
        for (bs, p, mb, ratio, mv, mv_pf) in &self.rows {
            md.push_str(&format!(
                "| {bs} KiB | {p} ms | {mb:.1} | **{ratio:.3}** | {mv:.0} | {:.3} | {mv_pf:.0} |\n",
                per_function(bs, p)
            ));
        }
        let (r4, r64) = (self.ratio("4", "1"), self.ratio("64", "1"));
        let verdict = |r: f64, want: f64| if r >= want { "met" } else { "not met" };
        md.push_str(&format!(
            "\nTargets at `period_ms=1`: at least 0.97 with 4 KiB blocks ({r4:.3}: **{}**) and 0.99 with 64 KiB ({r64:.3}: **{}**).\n",
            verdict(r4, 0.97),
            verdict(r64, 0.99)
        ));
        if let Some(c) = &self.cross {
            md.push_str(&format!(
                "\nCrossings per 4 KiB request in direct mode (the function tracer on bfq's trampolines, every function moved once before the trace; a caller with no symbol is one of bfq's copies): **{:.1} from outside bfq, {:.1} from bfq's own copies** ({:.0} requests, {:.0} trace events lost). The second is what still goes through a trampoline between bfq's functions: callees not copied into the caller's arena.\n",
                c.per_request(c.external),
                c.per_request(c.internal),
                c.requests,
                c.lost
            ));
        }
        if !self.fits.is_empty() {
            md.push_str(
                "\nCost of a move in direct mode, fitted as in section 3 over the direct runs: ",
            );
            let parts: Vec<String> = self
                .fits
                .iter()
                .map(|(bs, slope, n)| {
                    format!(
                        "{slope:.0} instructions per body moved with {bs} KiB blocks ({n} runs)"
                    )
                })
                .collect();
            md.push_str(&parts.join(", "));
            md.push_str(". Linking the calls adds a pass over each copy's branch records, and nothing else changes.\n");
        }
        if let Some((copies, p50, p99, max, ticks)) = self.window {
            md.push_str(&format!(
                "\nExposure window in direct mode at `period_ms=1` under dd alone ({copies:.0} copies, {ticks:.0} mover ticks/s): p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms. A dropped copy stays executable until the last copy of its arena goes, so this is the arenas' lifetime.\n"
            ));
        }
        md.push('\n');
        md
    }
}
