//! The report as a printable HTML page: one self-contained document (inline CSS, inline SVG
//! charts, no script, no external asset), so it can be saved, mailed or printed as it is.

use std::fmt::Write;

use super::{Figures, GroupReport, ReportData};
use crate::json::PromValue;

/// Chart size and margins (SVG user units).
const W: f64 = 760.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 28.0;

/// Anomalies listed per group (the chart marks all of them).
const MAX_LISTED: usize = 20;

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:820px;color:#222}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin:0 0 .5em}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .7em;border-bottom:1px solid #ddd;text-align:right}\
th:first-child,td:first-child{text-align:left}.params td{text-align:left}\
section{border-top:2px solid #444;padding-top:.8em;margin-top:1.5em;break-inside:avoid;page-break-inside:avoid}\
.warn{color:#a40}.up{color:#b00}.down{color:#070}.muted{color:#777}code{font-size:.95em}\
svg{display:block;margin:.5em 0}svg text{font-size:11px;fill:#444}\
.legend span{margin-right:1.2em;font-size:.9em}\
@media print{body{margin:0;max-width:none}a{color:inherit;text-decoration:none}}";

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for people: up to 4 significant digits, an exponent when very large or small.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() { "–".into() } else { format!("{v}") };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e7).contains(&a) {
        return format!("{v:.3e}");
    }
    let digits = if a == 0.0 {
        0
    } else {
        (3 - a.log10().floor() as i32).max(0) as usize
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of a millisecond timestamp.
fn date(ms: i64) -> String {
    let full = crate::alerting::rfc3339::nano(ms);
    full.get(..16).unwrap_or(&full).replacen('T', " ", 1)
}

fn duration(ms: i64) -> String {
    foresight_units::format_duration(std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// The whole page.
pub(super) fn page(data: &ReportData, warnings: &[String]) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let title = format!("Report: {}", data.query);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    let _ = write!(out, "<h1>Period report</h1><table class=\"params\">");
    let row = |out: &mut String, k: &str, v: String| {
        let _ = write!(out, "<tr><td>{k}</td><td>{v}</td></tr>");
    };
    row(&mut out, "Query", format!("<code>{}</code>", esc(&data.query)));
    row(
        &mut out,
        "Period",
        format!(
            "{} – {} UTC ({})",
            date(data.start.0),
            date(data.end.0),
            duration(data.end.0 - data.start.0)
        ),
    );
    row(
        &mut out,
        "Previous period",
        format!("{} – {} UTC", date(data.previous.start.0), date(data.previous.end.0)),
    );
    row(&mut out, "Step", duration(data.step.0));
    if !data.by.is_empty() {
        row(&mut out, "Grouped by", esc(&data.by.join(", ")));
    }
    if let Some(t) = data.threshold {
        row(
            &mut out,
            "Good when",
            format!("value {} {}", esc(data.comparison), num(t.0)),
        );
    }
    row(
        &mut out,
        "Percentiles over",
        if data.values == "samples" {
            "every raw sample of the group's series".into()
        } else {
            "every series' value at each step".into()
        },
    );
    out.push_str("</table>");
    if !warnings.is_empty() {
        out.push_str("<ul class=\"warn\">");
        for w in warnings {
            let _ = write!(out, "<li>{}</li>", esc(w));
        }
        out.push_str("</ul>");
    }
    if data.result.is_empty() {
        out.push_str("<p>The query returned no series in these periods.</p>");
    }
    for g in &data.result {
        group(&mut out, data, g);
    }
    out.push_str("</body></html>\n");
    out
}

fn group(out: &mut String, data: &ReportData, g: &GroupReport) {
    let name = if g.metric.is_empty() {
        "All series".to_owned()
    } else {
        g.metric.to_string()
    };
    let _ = write!(
        out,
        "<section><h2>{}</h2><p class=\"muted\">{} series</p>",
        esc(&name),
        g.series
    );
    figures_table(out, g);
    if let Some(t) = &g.trend {
        let _ = write!(
            out,
            "<p>Trend: <b>{}</b> per day; the least-squares line reaches {} at the end of the next period",
            num(t.slope_per_day.0),
            num(t.line_at_next_end.0)
        );
        if let Some(f) = &t.forecast {
            let _ = write!(
                out,
                "; forecast ({}) for {} UTC: <b>{}</b> ({} – {} at {}&nbsp;%)",
                esc(&f.model),
                date(f.time.0),
                num(f.mean.0),
                num(f.lower.0),
                num(f.upper.0),
                num(data.level.0 * 100.0)
            );
        }
        out.push_str(".</p>");
    }
    if let Some(a) = &g.availability {
        let prev = g
            .previous_availability
            .as_ref()
            .map(|p| format!(" (previous period: {} %)", num(p.ratio.0 * 100.0)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<p>Availability: <b>{} %</b> ({} of {} steps with data){prev}.</p>",
            num(a.ratio.0 * 100.0),
            a.good,
            a.steps
        );
    }
    chart(out, data, g);
    if g.anomalies.is_empty() {
        out.push_str("<p>No anomalies in the period.</p>");
    } else {
        let _ = write!(
            out,
            "<p>{} anomalous points in {} runs:</p><table><tr><th>Time (UTC)</th><th>Value</th><th>Expected</th><th>Score</th></tr>",
            g.anomalies.len(),
            g.anomaly_intervals.len()
        );
        for a in g.anomalies.iter().take(MAX_LISTED) {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                date(a.time.0),
                num(a.value.0),
                num(a.expected.0),
                num(a.score.0)
            );
        }
        out.push_str("</table>");
        if g.anomalies.len() > MAX_LISTED {
            let _ = write!(
                out,
                "<p class=\"muted\">and {} more.</p>",
                g.anomalies.len() - MAX_LISTED
            );
        }
    }
    out.push_str("</section>");
}

fn figures_table(out: &mut String, g: &GroupReport) {
    let (Some(cur), prev) = (&g.current, &g.previous) else {
        out.push_str("<p>No values in the period.</p>");
        return;
    };
    out.push_str("<table><tr><th></th><th>Period</th><th>Previous</th><th>Change</th><th>%</th></tr>");
    type Figure = fn(&Figures) -> PromValue;
    let rows: [(&str, Figure); 6] = [
        ("p50", |f| f.p50),
        ("p95", |f| f.p95),
        ("p99", |f| f.p99),
        ("mean", |f| f.mean),
        ("min", |f| f.min),
        ("max", |f| f.max),
    ];
    for (name, get) in rows {
        let c = get(cur).0;
        let (p, d, rel) = match prev {
            Some(p) => {
                let p = get(p).0;
                let ch = super::stats::change(c, p);
                (
                    num(p),
                    ch.absolute,
                    ch.relative
                        .map_or_else(|| "–".to_owned(), |r| format!("{:+.1}", r * 100.0)),
                )
            }
            None => ("–".into(), f64::NAN, "–".into()),
        };
        let class = if d > 0.0 {
            "up"
        } else if d < 0.0 {
            "down"
        } else {
            ""
        };
        let sign = if d > 0.0 { "+" } else { "" };
        let _ = write!(
            out,
            "<tr><td>{name}</td><td>{}</td><td>{p}</td><td class=\"{class}\">{sign}{}</td><td class=\"{class}\">{rel}</td></tr>",
            num(c),
            num(d)
        );
    }
    let _ = write!(
        out,
        "</table><p class=\"muted\">{} values; percentiles {}.</p>",
        cur.count,
        if cur.percentiles == "sketch" {
            format!(
                "from rollup sketches, within {} % of the exact ones",
                num(cur.relative_error.0 * 100.0)
            )
        } else {
            "exact".to_owned()
        }
    );
}

/// Maps data coordinates to the chart's box.
#[derive(Debug, Clone, Copy)]
struct Scale {
    t0: f64,
    t1: f64,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn x(self, t: f64) -> f64 {
        LEFT + (t - self.t0) / (self.t1 - self.t0).max(1.0) * (W - LEFT - RIGHT)
    }

    fn y(self, v: f64) -> f64 {
        TOP + (self.hi - v) / (self.hi - self.lo) * (H - TOP - BOTTOM)
    }
}

/// A polyline per run of points at most one step apart.
fn lines(out: &mut String, points: &[(i64, f64)], step: i64, sc: Scale, style: &str) {
    let mut run = String::new();
    let mut last: Option<i64> = None;
    let flush = |run: &mut String, out: &mut String| {
        if !run.is_empty() {
            let _ = write!(out, "<polyline fill=\"none\" {style} points=\"{}\"/>", run.trim_end());
            run.clear();
        }
    };
    for &(t, v) in points {
        if last.is_some_and(|l| t - l > step) {
            flush(&mut run, out);
        }
        let _ = write!(run, "{:.1},{:.1} ", sc.x(t as f64), sc.y(v));
        last = Some(t);
    }
    flush(&mut run, out);
}

fn chart(out: &mut String, data: &ReportData, g: &GroupReport) {
    let period = data.end.0 - data.start.0;
    let cur: Vec<(i64, f64)> = g.values.iter().map(|(t, v)| (t.0, v.0)).collect();
    // The previous period drawn over the current one.
    let prev: Vec<(i64, f64)> = g.previous_values.iter().map(|(t, v)| (t.0 + period, v.0)).collect();
    if cur.is_empty() && prev.is_empty() {
        return;
    }
    let trend = g.trend.as_ref().map(|t| {
        let end = t.line_at_end.0;
        let start = end - t.slope_per_day.0 * period as f64 / super::stats::DAY_MS;
        (start, end)
    });
    let mut extent: Vec<f64> = cur.iter().chain(&prev).map(|p| p.1).collect();
    extent.extend(data.threshold.map(|t| t.0));
    extent.extend(trend.iter().flat_map(|&(a, b)| [a, b]));
    let lo = extent.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = extent.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.1
    };
    let sc = Scale {
        t0: data.start.0 as f64,
        t1: data.end.0 as f64,
        lo: lo - pad,
        hi: hi + pad,
    };
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">"
    );
    // Axes, five value ticks, three time ticks.
    let _ = write!(
        out,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#bbb\"/>",
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    for k in 0..=4 {
        let v = sc.lo + (sc.hi - sc.lo) * f64::from(k) / 4.0;
        let y = sc.y(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            num(v)
        );
    }
    for (k, anchor) in [(0, "start"), (1, "middle"), (2, "end")] {
        let t = data.start.0 + period / 2 * k;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            sc.x(t as f64),
            H - 8.0,
            date(t)
        );
    }
    let step = data.step.0;
    lines(
        out,
        &prev,
        step,
        sc,
        "stroke=\"#999\" stroke-dasharray=\"4 3\" stroke-width=\"1\"",
    );
    lines(out, &cur, step, sc, "stroke=\"#1f5fbf\" stroke-width=\"1.4\"");
    if let Some((a, b)) = trend {
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e08000\" stroke-width=\"1.5\"/>",
            sc.x(sc.t0),
            sc.y(a),
            sc.x(sc.t1),
            sc.y(b)
        );
    }
    if let Some(t) = data.threshold {
        let y = sc.y(t.0);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#c00\" stroke-dasharray=\"6 3\"/>",
            W - RIGHT
        );
    }
    for a in &g.anomalies {
        let _ = write!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"none\" stroke=\"#c00\" stroke-width=\"1.5\"/>",
            sc.x(a.time.0 as f64),
            sc.y(a.value.0)
        );
    }
    out.push_str("</svg><p class=\"legend\"><span style=\"color:#1f5fbf\">━ period</span><span style=\"color:#999\">┅ previous period</span><span style=\"color:#e08000\">━ trend</span>");
    if data.threshold.is_some() {
        out.push_str("<span style=\"color:#c00\">┅ threshold</span>");
    }
    out.push_str("<span style=\"color:#c00\">○ anomaly</span></p>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_dates_and_escaping() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1234.5678), "1235");
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(-2.5), "-2.5");
        assert_eq!(num(f64::NAN), "–");
        assert_eq!(num(3e9), "3.000e9");
        assert_eq!(date(1_700_000_000_000), "2023-11-14 22:13");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
