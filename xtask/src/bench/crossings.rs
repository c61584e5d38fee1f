//! How many trampolines one 4 KiB request crosses in bfq, and who calls
//! them: bfq's own functions (a call that a direct mode, in which calls
//! between the bodies of one module skip the trampoline, would make free)
//! or the kernel outside bfq (entries, which always pay). The guest counts
//! them with the function tracer on bfq's trampolines, mover paused
//! (`tests/bench-call/guest.sh`, part `crossings`); this file turns the
//! counts and the measured per-call cost into the estimate that decides
//! whether the direct mode is worth building (issue 21).

use super::{jn, num, obj, s, Lines, J};

pub struct Crossings {
    pub requests: f64,
    pub external: f64,
    pub internal: f64,
    pub lost: f64,
    /// (internal?, trampoline, calls), busiest first.
    pub busiest: Vec<(bool, String, f64)>,
}

impl Crossings {
    /// The counts the guest printed as `BENCH <kind>` (and `<kind>fn`).
    pub fn parse(l: &Lines, kind: &str) -> Option<Crossings> {
        let c = l.of(kind).next()?;
        let per_fn = format!("{kind}fn");
        let mut busiest: Vec<(bool, String, f64)> = l
            .of(&per_fn)
            .map(|m| {
                (
                    m.get("kind").map(String::as_str) == Some("internal"),
                    m.get("fn").cloned().unwrap_or_default(),
                    num(m, "calls"),
                )
            })
            .collect();
        busiest.sort_by(|a, b| b.2.total_cmp(&a.2));
        Some(Crossings {
            requests: num(c, "requests"),
            external: num(c, "external"),
            internal: num(c, "internal"),
            lost: num(c, "lost"),
            busiest,
        })
    }

    pub fn per_request(&self, n: f64) -> f64 {
        n / self.requests
    }

    /// Throughput ratio the model predicts when `crossings` per request
    /// each add `added` instructions to `plain` instructions per request.
    fn predicted(plain: f64, crossings: f64, added: f64) -> f64 {
        plain / (plain + crossings * added)
    }

    pub fn json(&self, added: f64, plain_per_request: f64) -> J {
        let all = self.per_request(self.external + self.internal);
        let ext = self.per_request(self.external);
        obj(vec![
            ("requests", jn(self.requests)),
            ("external_per_request", jn(ext)),
            ("internal_per_request", jn(self.per_request(self.internal))),
            ("trace_events_lost", jn(self.lost)),
            ("plain_insn_per_request", jn(plain_per_request)),
            (
                "predicted_ratio_all_calls",
                jn(Self::predicted(plain_per_request, all, added)),
            ),
            (
                "predicted_ratio_direct_mode",
                jn(Self::predicted(plain_per_request, ext, added)),
            ),
            (
                "max_added_insn_for_0_97",
                jn(plain_per_request * (1.0 / 0.97 - 1.0) / all),
            ),
            (
                "busiest",
                J::A(
                    self.busiest
                        .iter()
                        .take(12)
                        .map(|(int, f, n)| {
                            obj(vec![
                                ("trampoline", s(f.clone())),
                                ("caller", s(if *int { "bfq" } else { "outside" })),
                                ("per_request", jn(self.per_request(*n))),
                            ])
                        })
                        .collect(),
                ),
            ),
        ])
    }

    /// The report's subsection: the counts, the model checked against the
    /// measured ratio at period 100 ms, and what it says about 0.97.
    pub fn markdown(&self, added: f64, plain_per_request: f64, measured_100ms: f64) -> String {
        let all = self.per_request(self.external + self.internal);
        let ext = self.per_request(self.external);
        let int = self.per_request(self.internal);
        let p_all = Self::predicted(plain_per_request, all, added);
        let p_direct = Self::predicted(plain_per_request, ext, added);
        let need = plain_per_request * (1.0 / 0.97 - 1.0) / all;
        let need_direct = plain_per_request * (1.0 / 0.97 - 1.0) / ext;
        let mut md = format!(
            "Trampoline crossings per 4 KiB request (the function tracer on bfq's trampolines, mover paused; {:.0} requests of `dd` with 4 KiB direct I/O, written then read; {:.0} trace events lost): **{:.1} per request**, of which **{:.1} are calls from outside bfq** (the block layer entering bfq's elevator operations and callbacks) and **{:.1} calls between bfq's own functions**.\n\n",
            self.requests, self.lost, all, ext, int
        );
        md.push_str("| trampoline | caller | crossings per request |\n|---|---|---|\n");
        for (i, f, n) in self.busiest.iter().take(12) {
            md.push_str(&format!(
                "| `{f}` | {} | {:.2} |\n",
                if *i { "bfq" } else { "outside" },
                self.per_request(*n)
            ));
        }
        md.push_str(&format!(
            "\nModel: a request costs {plain_per_request:.0} instructions with plain bfq.ko (icount, 4 KiB rows of section 4: guest ns per request); each crossing adds the {added:.1} instructions of section 2. Predicted ratio with every crossing paying: **{p_all:.3}** (measured at period 100 ms, where moves cost almost nothing: {measured_100ms:.3}). With calls between bfq's own bodies direct and only entries paying: **{p_direct:.3}**.\n\n"
        ));
        md.push_str(&format!(
            "So 0.97 needs at most {need:.1} instructions added per crossing while every call goes through a trampoline, or at most {need_direct:.1} per entry in the direct mode. {}\n\n",
            if need >= added {
                "The per-call cost measured already meets it.".to_string()
            } else if need_direct >= added {
                format!("Today's {added:.1} does not meet it with every call through a trampoline; in the direct mode it would ({p_direct:.3}).")
            } else {
                format!("Today's {added:.1} meets neither; the direct mode would bring the ratio to {p_direct:.3}, and the rest must come from the per-call cost.")
            }
        ));
        md
    }
}
