//! Entropy (section 5): how spread the body addresses of bfq are, from
//! reads of debugfs `rerand/bfq` 50 ms apart, and what the placement
//! allows in theory.

use super::{esc, jn, median, obj, sh, Lines, J};
use crate::util::cache_dir;
use relocator::module::Module;

pub(super) struct Entropy {
    region_line: String,
    span: f64,
    theo_min: f64,
    theo_med: f64,
    total: usize,
    samples: usize,
    distinct: usize,
    changed: usize,
    pairs: usize,
    dmin: f64,
    dmax: f64,
    h_page: f64,
    hmin_page: f64,
    h_off: f64,
    hmin_off: f64,
    pub(super) addr_series: Vec<(String, Vec<(f64, f64)>)>,
}

impl Entropy {
    pub(super) fn measure(l2: &Lines, bfq_mod: &Module) -> Entropy {
        let funcs: Vec<(String, u64)> = l2
            .raw("funcs")
            .next()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|t| t.rsplit_once(':'))
            .filter_map(|(n, a)| Some((n.to_string(), hex(a)?)))
            .collect();
        let samples_v: Vec<Vec<u64>> = l2
            .raw("addrs")
            .map(|b| b.split_whitespace().skip(1).filter_map(hex).collect())
            .collect();
        let reach = 126.0 * 1048576.0;
        let tr_lo = funcs.iter().map(|f| f.1).min().unwrap_or(0) as f64;
        let tr_hi = funcs.iter().map(|f| f.1).max().unwrap_or(0) as f64;
        let region_line = sh(&format!(
            "grep -a -m1 -E 'rerand: ready' '{}'",
            cache_dir().join("logs/bench-icount-smp2.log").display()
        ));
        // rr_region(): the 128 MiB module region cut to the `bl` reach of the
        // module's text (at least 126 MiB of it); without the region, the
        // reach window on both sides (252 MiB).
        let span = if region_line.contains("region found") {
            reach
        } else {
            2.0 * reach - (tr_hi - tr_lo)
        };
        let align_of = |name: &str| {
            bfq_mod
                .functions
                .iter()
                .find(|f| f.name == name)
                .map_or(16, |f| f.align.max(16))
        };
        let size_of = |name: &str| {
            bfq_mod
                .functions
                .iter()
                .find(|f| f.name == name)
                .map_or(0, |f| f.size)
        };
        let theo: Vec<f64> = funcs
            .iter()
            .map(|(n, _)| {
                let pages = ((span - size_of(n) as f64 - 4096.0) / 4096.0).floor();
                pages.log2() + (4096.0 / align_of(n) as f64).log2()
            })
            .collect();
        let theo_min = theo.iter().cloned().fold(f64::INFINITY, f64::min);
        let theo_med = median(theo.clone());
        let mut page_hist = vec![0usize; 64];
        let mut off_hist = vec![0usize; 256];
        let (mut total, mut changed, mut pairs) = (0usize, 0usize, 0usize);
        let mut seen = std::collections::HashSet::new();
        let mut ds = Vec::new();
        let (mut dmin, mut dmax) = (f64::MAX, f64::MIN);
        for (k, sample) in samples_v.iter().enumerate() {
            for (i, &body) in sample.iter().enumerate() {
                let Some((name, tramp)) = funcs.get(i) else {
                    continue;
                };
                total += 1;
                seen.insert((i, body));
                let d = body as f64 - *tramp as f64;
                dmin = dmin.min(d);
                dmax = dmax.max(d);
                ds.push(d);
                if align_of(name) <= 16 {
                    off_hist[((body & 0xfff) / 16) as usize] += 1;
                }
                if k > 0 {
                    if let Some(&prev) = samples_v[k - 1].get(i) {
                        pairs += 1;
                        changed += usize::from(prev != body);
                    }
                }
            }
        }
        for d in &ds {
            let b = ((d - dmin) / (dmax - dmin).max(1.0) * 64.0).clamp(0.0, 63.0) as usize;
            page_hist[b] += 1;
        }
        let (h_page, hmin_page) = entropies(&page_hist);
        let (h_off, hmin_off) = entropies(&off_hist);
        let mut addr_series = Vec::new();
        for i in [0usize, funcs.len() / 2, funcs.len().saturating_sub(1)] {
            let Some((name, tramp)) = funcs.get(i) else {
                continue;
            };
            let pts: Vec<(f64, f64)> = samples_v
                .iter()
                .enumerate()
                .filter_map(|(k, s)| {
                    s.get(i)
                        .map(|&b| (k as f64 * 50.0, (b as f64 - *tramp as f64) / 1048576.0))
                })
                .collect();
            if addr_series.iter().all(|(n, _): &(String, _)| n != name) {
                addr_series.push((name.clone(), pts));
            }
        }
        Entropy {
            samples: samples_v.len(),
            distinct: seen.len(),
            region_line,
            span,
            theo_min,
            theo_med,
            total,
            changed,
            pairs,
            dmin,
            dmax,
            h_page,
            hmin_page,
            h_off,
            hmin_off,
            addr_series,
        }
    }

    pub(super) fn json(&self) -> J {
        obj(vec![
            ("theoretical_bits_min", jn(self.theo_min)),
            ("theoretical_bits_median", jn(self.theo_med)),
            ("region_bytes", jn(self.span)),
            ("samples", jn(self.total as f64)),
            ("distinct", jn(self.distinct as f64)),
            (
                "changed_between_samples",
                jn(self.changed as f64 / self.pairs.max(1) as f64),
            ),
            ("observed_span_bytes", jn(self.dmax - self.dmin)),
            ("page_bucket64_shannon_bits", jn(self.h_page)),
            ("page_bucket64_min_entropy_bits", jn(self.hmin_page)),
            ("offset256_shannon_bits", jn(self.h_off)),
            ("offset256_min_entropy_bits", jn(self.hmin_off)),
        ])
    }

    pub(super) fn markdown(&self, randomized: f64) -> String {
        let theo_med = self.theo_med;
        format!(
            "Placement (`runtime-kmod/move.c`): the copies one module gets in a period share one arena at a random page of the region, in random order, the first at a random offset in the first page and each next after a random gap (up to 256 bytes), at their alignment (at least 16 bytes), so a body's offset in its page is spread over the page (measured below). Bodies moved in the same period are correlated: they lie in one arena, so one leaked body address narrows where its siblings are to that arena until they move again. The region is the 128 MiB module area cut to a `bl`'s reach (±126 MiB) of the module's text, or that reach window when the module area is not known: at least {:.0} MiB here (`{}`). Theoretical bits per move for one body = log2(pages) + log2(4096 / alignment): **{:.1} bits** (median over bfq's functions; minimum {:.1}).\n\nMeasured over {} body addresses ({} reads of `/sys/kernel/debug/rerand/bfq`, 50 ms apart at period 10 ms): {} distinct ({:.1}%), {:.1}% of bodies moved between consecutive reads; observed spread of body - trampoline {:.0} MiB. Position in 64 equal buckets over the observed spread: Shannon {:.2} of 6 bits, min-entropy {:.2}; in-page offset (16-byte aligned bodies) in 256 slots: Shannon {:.2} of 8 bits, min-entropy {:.2}. {}\n\n![addresses](addresses.svg)\n\n",
            self.span / 1048576.0,
            if self.region_line.is_empty() { "region from rr_region()".to_string() } else { esc(self.region_line.split("] ").last().unwrap_or("")) },
            self.theo_med,
            self.theo_min,
            self.total,
            self.samples,
            self.distinct,
            100.0 * self.distinct as f64 / self.total.max(1) as f64,
            100.0 * self.changed as f64 / self.pairs.max(1) as f64,
            (self.dmax - self.dmin) / 1048576.0,
            self.h_page,
            self.hmin_page,
            self.h_off,
            self.hmin_off,
            if self.h_page >= 5.7 && self.h_off >= 7.6 {
                format!("Both near their maximum: the positions are spread evenly, consistent with the theoretical figure (a sample of this size cannot measure {theo_med:.0} bits directly).")
            } else {
                format!("The in-page offsets are spread evenly; the positions less so, because each read's {randomized:.0} bodies were placed in the same period and so share one arena: the sample holds only {} independent arena placements, too few to fill 64 buckets evenly (it cannot measure {theo_med:.0} bits directly).", self.samples)
            }
        )
    }
}

/// Shannon and min-entropy (bits) of a histogram.
fn entropies(counts: &[usize]) -> (f64, f64) {
    let n: usize = counts.iter().sum();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut h = 0.0;
    let mut max = 0usize;
    for &c in counts {
        if c > 0 {
            let p = c as f64 / n as f64;
            h -= p * p.log2();
        }
        max = max.max(c);
    }
    (h, -(max as f64 / n as f64).log2())
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}
