//! Scores CSV series with foresight's online detectors, for `benches/anomaly_eval/`.
//!
//! `cargo run --release -p foresight-forecasting --example anomaly_scores -- IN_DIR OUT_DIR [--v1]`
//!
//! Each `IN_DIR/*.csv` has a header and rows `timestamp_ms,value[,...]` (an empty or `nan` value
//! is a gap). For each, `OUT_DIR/<name>.csv` gets one score per row (`0` where the detector gave
//! none: warm-up, gaps) in column `robust` (and `combined`, the Holt-Winters + isolation-forest
//! detector, with `--v1`). The total CPU time per method goes to standard output.

use std::time::Instant;

use foresight_forecasting::{DetectorConfig, RobustConfig, score_robust, score_series};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        return Err("usage: anomaly_scores IN_DIR OUT_DIR [--v1]".into());
    };
    let v1 = args.iter().any(|a| a == "--v1");
    std::fs::create_dir_all(output)?;
    let mut paths: Vec<_> = std::fs::read_dir(input)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    paths.sort();
    let (mut t_robust, mut t_v1, mut points) = (0.0, 0.0, 0usize);
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for line in text.lines().skip(1) {
            let mut cols = line.split(',');
            let t: i64 = cols.next().unwrap_or("").trim().parse()?;
            let v: f64 = cols.next().unwrap_or("").trim().parse().unwrap_or(f64::NAN);
            ts.push(t);
            vs.push(v);
        }
        points += vs.len();
        let start = Instant::now();
        let robust = score_robust(&ts, &vs, &RobustConfig::default())?;
        t_robust += start.elapsed().as_secs_f64();
        let mut combined = None;
        if v1 {
            let start = Instant::now();
            combined = Some(score_series(&ts, &vs, &DetectorConfig::default())?);
            t_v1 += start.elapsed().as_secs_f64();
        }
        let mut out = String::from(if v1 { "robust,combined\n" } else { "robust\n" });
        for i in 0..vs.len() {
            let r = robust[i].map_or(0.0, |s| s.score);
            out.push_str(&format!("{r}"));
            if let Some(c) = &combined {
                out.push_str(&format!(",{}", c[i].map_or(0.0, |s| s.score)));
            }
            out.push('\n');
        }
        let name = path.file_name().ok_or("no file name")?;
        std::fs::write(std::path::Path::new(output).join(name), out)?;
    }
    println!(
        "robust: {points} points in {t_robust:.3} s ({:.3} us/point)",
        t_robust * 1e6 / points.max(1) as f64
    );
    if v1 {
        println!(
            "combined: {points} points in {t_v1:.3} s ({:.3} us/point)",
            t_v1 * 1e6 / points.max(1) as f64
        );
    }
    Ok(())
}
