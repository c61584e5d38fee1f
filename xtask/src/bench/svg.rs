//! The report's plots, as hand-written SVG.

const COLORS: &[&str] = &["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];

pub(super) struct Chart<'a> {
    pub(super) title: &'a str,
    pub(super) xlabel: &'a str,
    pub(super) ylabel: &'a str,
    pub(super) series: Vec<(String, Vec<(f64, f64)>)>,
    /// Tick labels at given x positions (else numeric ticks).
    pub(super) xticks: Option<Vec<(f64, String)>>,
    /// A dashed horizontal reference line with its label.
    pub(super) hline: Option<(f64, String)>,
    pub(super) points: bool,
}

pub(super) fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) fn nice(x: f64) -> String {
    if x.abs() >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

impl Chart<'_> {
    pub(super) fn svg(&self) -> String {
        let (w, h, l, r, t, b) = (760.0, 420.0, 80.0, 170.0, 40.0, 60.0);
        let pts = self.series.iter().flat_map(|s| s.1.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts.filter(|p| p.0.is_finite() && p.1.is_finite()) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if let Some((y, _)) = &self.hline {
            y0 = y0.min(*y);
            y1 = y1.max(*y);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 - x0 < 1e-9 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.08).max(1e-9);
        y0 -= pad;
        y1 += pad;
        let px = |x: f64| l + (x - x0) / (x1 - x0) * (w - l - r);
        let py = |y: f64| h - b - (y - y0) / (y1 - y0) * (h - t - b);
        let mut o = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
            (l + w - r) / 2.0,
            esc(self.title)
        );
        o.push_str(&format!(
            "<rect x=\"{l}\" y=\"{t}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n",
            w - l - r,
            h - t - b
        ));
        for i in 0..=5 {
            let y = y0 + (y1 - y0) * i as f64 / 5.0;
            o.push_str(&format!(
                "<line x1=\"{l}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
                w - r,
                l - 6.0,
                py(y) + 4.0,
                nice(y),
                py = py(y)
            ));
        }
        let ticks: Vec<(f64, String)> = match &self.xticks {
            Some(t) => t.clone(),
            None => (0..=5)
                .map(|i| {
                    let x = x0 + (x1 - x0) * i as f64 / 5.0;
                    (x, nice(x))
                })
                .collect(),
        };
        for (x, label) in ticks {
            o.push_str(&format!(
                "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{t}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                h - b,
                h - b + 16.0,
                esc(&label),
                px = px(x)
            ));
        }
        o.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n<text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">{}</text>\n",
            (l + w - r) / 2.0,
            h - 16.0,
            esc(self.xlabel),
            (t + h - b) / 2.0,
            (t + h - b) / 2.0,
            esc(self.ylabel)
        ));
        if let Some((y, label)) = &self.hline {
            o.push_str(&format!(
                "<line x1=\"{l}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#888\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{:.1}\" fill=\"#555\">{}</text>\n",
                w - r,
                w - r + 6.0,
                py(*y) + 4.0,
                esc(label),
                py = py(*y)
            ));
        }
        for (i, (name, pts)) in self.series.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            let path: Vec<String> = pts
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            o.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"{}\" points=\"{}\"/>\n",
                if self.points { 0.8 } else { 2.0 },
                path.join(" ")
            ));
            for p in &path {
                let (x, y) = p.split_once(',').unwrap();
                o.push_str(&format!(
                    "<circle cx=\"{x}\" cy=\"{y}\" r=\"{}\" fill=\"{c}\"/>",
                    if self.points { 2.0 } else { 3.5 }
                ));
            }
            let ly = t + 14.0 + 18.0 * i as f64;
            o.push_str(&format!(
                "\n<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
                w - r + 10.0,
                ly - 10.0,
                w - r + 28.0,
                ly,
                esc(name)
            ));
        }
        o.push_str("</svg>\n");
        o
    }
}
