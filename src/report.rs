//! `foresight report`: asks a running server for a period report (`/api/v1/report`) and prints
//! it as text, or writes its JSON or HTML.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// `foresight report QUERY`'s flags.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The PromQL query, e.g. `http_latency_seconds` or `sum by (service) (rate(errors_total[5m]))`.
    pub(crate) query: String,
    /// The server.
    #[arg(long, default_value = "http://127.0.0.1:8086")]
    pub(crate) url: String,
    /// Credential sent as `Authorization: Bearer <token>` (a read token, when tokens are on).
    #[arg(long, env = "FORESIGHT_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// End of the period: RFC 3339 or unix seconds (default: now; for a `--range` of a day or
    /// more the last whole hour, so that the steps line up with the hourly rollups).
    #[arg(long)]
    pub(crate) end: Option<String>,
    /// Start of the period: RFC 3339 or unix seconds (default: `--range` before the end).
    #[arg(long)]
    pub(crate) start: Option<String>,
    /// Length of the period when `--start` is not given.
    #[arg(long, default_value = "7d")]
    pub(crate) range: String,
    /// Step of the series (default: the server's, about 1/1000 of the period).
    #[arg(long)]
    pub(crate) step: Option<String>,
    /// Labels to group the series by, comma-separated (default: one group).
    #[arg(long)]
    pub(crate) by: Option<String>,
    /// Availability threshold.
    #[arg(long)]
    pub(crate) threshold: Option<String>,
    /// Which values are good: `<=` (default), `<`, `>=`, `>`.
    #[arg(long)]
    pub(crate) comparison: Option<String>,
    /// Coverage of the forecast interval (default 0.95).
    #[arg(long)]
    pub(crate) level: Option<String>,
    /// Read raw samples only (exact percentiles, no rollups).
    #[arg(long)]
    pub(crate) raw: bool,
    /// `text` (default), `json` or `html` (a printable page with charts).
    #[arg(long, default_value = "text", value_parser = ["text", "json", "html"])]
    pub(crate) format: String,
    /// Write the answer to this file instead of standard output.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
}

/// Runs `foresight report`.
pub(crate) fn report(args: &ReportArgs) -> Result<()> {
    let (start, end) = period(args)?;
    let mut params: Vec<(&str, String)> = vec![("query", args.query.clone()), ("start", start), ("end", end)];
    for (name, v) in [
        ("step", &args.step),
        ("by", &args.by),
        ("threshold", &args.threshold),
        ("comparison", &args.comparison),
        ("level", &args.level),
    ] {
        if let Some(v) = v {
            params.push((name, v.clone()));
        }
    }
    if args.raw {
        params.push(("raw", "true".into()));
    }
    if args.format == "html" {
        params.push(("format", "html".into()));
    }
    let body = fetch(&args.url, args.token.as_deref(), &params)?;
    let text = match args.format.as_str() {
        "json" | "html" => body,
        _ => {
            let v: Value = serde_json::from_str(&body).context("the server's answer is not JSON")?;
            render(&v)
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display())),
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing the report"),
    }
}

/// `start` and `end` as the API takes them.
fn period(args: &ReportArgs) -> Result<(String, String)> {
    let range =
        foresight_units::parse_duration(&args.range).map_err(|e| anyhow::anyhow!("--range {:?}: {e}", args.range))?;
    let end = match &args.end {
        Some(e) => e.clone(),
        None => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            if range >= Duration::from_secs(86_400) {
                (now / 3600 * 3600).to_string()
            } else {
                now.to_string()
            }
        }
    };
    let start = match &args.start {
        Some(s) => s.clone(),
        None => {
            let end_ms = foresight_server::parse_time(&end).map_err(|e| anyhow::anyhow!("--end: {e}"))?;
            let start_ms = end_ms - i64::try_from(range.as_millis()).unwrap_or(i64::MAX);
            format!("{}.{:03}", start_ms.div_euclid(1000), start_ms.rem_euclid(1000))
        }
    };
    Ok((start, end))
}

/// GETs the report; the server's error message when it refuses.
fn fetch(url: &str, token: Option<&str>, params: &[(&str, String)]) -> Result<String> {
    let endpoint = format!("{}/api/v1/report", url.trim_end_matches('/'));
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(600)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut req = agent.get(&endpoint);
    for (k, v) in params {
        req = req.query(*k, v);
    }
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut resp = req.call().with_context(|| format!("GET {endpoint}"))?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .with_context(|| format!("reading the answer of {endpoint}"))?;
    if !status.is_success() {
        let why = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(body);
        bail!("{endpoint}: {status}: {}", why.trim());
    }
    Ok(body)
}

/// A JSON string or number as text (`-` when absent).
fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "-".into(),
    }
}

/// The report as text: a table of figures per group, then trend, availability and anomalies.
fn render(v: &Value) -> String {
    let d = &v["data"];
    let mut out = String::new();
    out.push_str(&format!(
        "report of {} over ({}, {}] (previous ({}, {}]), step {} s\n",
        s(&d["query"]),
        s(&d["start"]),
        s(&d["end"]),
        s(&d["previous"]["start"]),
        s(&d["previous"]["end"]),
        s(&d["step"])
    ));
    for w in v["warnings"].as_array().into_iter().flatten() {
        out.push_str(&format!("warning: {}\n", s(w)));
    }
    for g in d["result"].as_array().into_iter().flatten() {
        let labels: Vec<String> = g["metric"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", s(v)))
            .collect();
        let name = if labels.is_empty() {
            "all series".to_owned()
        } else {
            labels.join(", ")
        };
        let cur = &g["current"];
        out.push_str(&format!(
            "\n{name}: {} series, {} values, percentiles {}\n",
            s(&g["series"]),
            s(&cur["count"]),
            s(&cur["percentiles"])
        ));
        out.push_str(&format!(
            "  {:<6} {:>14} {:>14} {:>14} {:>9}\n",
            "", "period", "previous", "change", "%"
        ));
        for f in ["p50", "p95", "p99", "mean", "min", "max"] {
            let ch = &g["change"][f];
            let rel = ch["relative"]
                .as_str()
                .and_then(|r| r.parse::<f64>().ok())
                .map_or_else(|| "-".to_owned(), |r| format!("{:+.1}", r * 100.0));
            out.push_str(&format!(
                "  {f:<6} {:>14} {:>14} {:>14} {rel:>9}\n",
                s(&cur[f]),
                s(&g["previous"][f]),
                s(&ch["absolute"])
            ));
        }
        let t = &g["trend"];
        if t.is_object() {
            out.push_str(&format!(
                "  trend: {} per day; line at the next period's end {}",
                s(&t["slope_per_day"]),
                s(&t["line_at_next_end"])
            ));
            let f = &t["forecast"];
            if f.is_object() {
                out.push_str(&format!(
                    "; {} forecast {} [{}, {}] at {}",
                    s(&f["model"]),
                    s(&f["mean"]),
                    s(&f["lower"]),
                    s(&f["upper"]),
                    s(&f["time"])
                ));
            }
            out.push('\n');
        }
        let a = &g["availability"];
        if a.is_object() {
            out.push_str(&format!(
                "  availability ({} {}): {} ({} of {} steps); previous {}\n",
                s(&d["comparison"]),
                s(&d["threshold"]),
                s(&a["ratio"]),
                s(&a["good"]),
                s(&a["steps"]),
                s(&g["previous_availability"]["ratio"])
            ));
        }
        let anomalies = g["anomalies"].as_array().map_or(0, Vec::len);
        out.push_str(&format!("  anomalies: {anomalies}\n"));
        for a in g["anomalies"].as_array().into_iter().flatten().take(10) {
            out.push_str(&format!(
                "    at {}: {} (expected {}, score {})\n",
                s(&a["time"]),
                s(&a["value"]),
                s(&a["expected"]),
                s(&a["score"])
            ));
        }
    }
    out
}
