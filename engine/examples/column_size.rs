//! Bytes per sample and speed of the Gorilla chunk codec and the block column codec on a
//! line-protocol file (by default the peers' dataset, 100 hosts x 10 fields x 24 h at 10 s).
//!
//! ```sh
//! python3 ../shared/peers/gen.py --hosts 100 --hours 24 -o /tmp/peers/data/cpu-100x24h.lp
//! cargo run --release -p foresight-engine --example column_size [-- FILE [PARTITION_SAMPLES]]
//! ```
//!
//! The file is split with a plain `split(' ')` (the dataset has no escapes), so this is a
//! measurement tool, not a parser: series are `<measurement>_<field>` plus the tag set, timestamps
//! are taken as seconds and stored in milliseconds, as the engine does.

use std::collections::HashMap;
use std::time::Instant;

use foresight_engine::column::{decode_timestamps, decode_values, encode_timestamps, encode_values};
use foresight_engine::gorilla::{GorillaDecoder, GorillaEncoder};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Default)]
struct Series {
    ts: Vec<i64>,
    values: Vec<f64>,
}

fn load(path: &str) -> Result<Vec<Series>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut series: Vec<Series> = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split(' ');
        let (Some(key), Some(fields), Some(ts)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("unexpected line: {line}").into());
        };
        let ts: i64 = ts.parse::<i64>()? * 1000;
        let measurement = key.split(',').next().unwrap_or(key);
        for field in fields.split(',') {
            let Some((name, value)) = field.split_once('=') else {
                return Err(format!("unexpected field: {field}").into());
            };
            let value: f64 = value.parse()?;
            let id = format!("{measurement}_{name}{}", &key[measurement.len()..]);
            let next = series.len();
            let slot = *index.entry(id).or_insert(next);
            if slot == next {
                series.push(Series::default());
            }
            series[slot].ts.push(ts);
            series[slot].values.push(value);
        }
    }
    Ok(series)
}

struct Sizes {
    samples: usize,
    ts_bytes: usize,
    value_bytes: usize,
}

fn per_sample(bytes: usize, samples: usize) -> f64 {
    bytes as f64 / samples as f64
}

fn gorilla_bytes(series: &[Series], chunk: usize) -> usize {
    let mut total = 0;
    for s in series {
        for (ts, values) in s.ts.chunks(chunk).zip(s.values.chunks(chunk)) {
            let mut enc = GorillaEncoder::new();
            for (&t, &v) in ts.iter().zip(values) {
                enc.push(t, v);
            }
            total += enc.as_bytes().len();
        }
    }
    total
}

fn column_sizes(series: &[Series], chunk: usize) -> Sizes {
    let mut sizes = Sizes {
        samples: 0,
        ts_bytes: 0,
        value_bytes: 0,
    };
    let mut buf = Vec::new();
    for s in series {
        for (ts, values) in s.ts.chunks(chunk).zip(s.values.chunks(chunk)) {
            buf.clear();
            encode_timestamps(ts, &mut buf);
            sizes.ts_bytes += buf.len();
            buf.clear();
            encode_values(values, &mut buf);
            sizes.value_bytes += buf.len();
            sizes.samples += ts.len();
        }
    }
    sizes
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "/tmp/peers/data/cpu-100x24h.lp".to_string());
    let partition: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(720);
    let t0 = Instant::now();
    let series = load(&path)?;
    let samples: usize = series.iter().map(|s| s.ts.len()).sum();
    println!(
        "{path}: {} series, {samples} samples, loaded in {:.1?}",
        series.len(),
        t0.elapsed()
    );

    println!("\nbytes/sample (timestamps + values)");
    for chunk in [120, partition, usize::MAX] {
        let label = if chunk == usize::MAX {
            "whole series".to_string()
        } else {
            format!("{chunk}-sample chunks")
        };
        let g = gorilla_bytes(&series, chunk);
        let c = column_sizes(&series, chunk);
        println!(
            "  {label:>20}: gorilla {:.3}   columns {:.4} (timestamps {:.4}, values {:.4})",
            per_sample(g, samples),
            per_sample(c.ts_bytes + c.value_bytes, c.samples),
            per_sample(c.ts_bytes, c.samples),
            per_sample(c.value_bytes, c.samples),
        );
    }

    // Speed, on partitions of `partition` samples. Each phase runs REPS times and the fastest run
    // counts: the machine is shared, and the minimum is the least disturbed.
    const REPS: usize = 5;
    let parts: Vec<(&[i64], &[f64])> = series
        .iter()
        .flat_map(|s| s.ts.chunks(partition).zip(s.values.chunks(partition)))
        .collect();
    let best = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..REPS {
            let t = Instant::now();
            f()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(samples as f64 / best / 1e6)
    };

    let mut chunks = Vec::new();
    let g_enc = best(&mut || {
        chunks = parts
            .iter()
            .map(|&(ts, values)| {
                let mut enc = GorillaEncoder::new();
                for (&t, &v) in ts.iter().zip(values) {
                    enc.push(t, v);
                }
                enc
            })
            .collect();
        Ok(())
    })?;
    let (mut ts_out, mut values_out) = (Vec::new(), Vec::new());
    let g_dec = best(&mut || {
        for enc in &chunks {
            ts_out.clear();
            values_out.clear();
            GorillaDecoder::new(enc.as_bytes(), enc.len()).decode_into(&mut ts_out, &mut values_out)?;
        }
        Ok(())
    })?;

    let mut ts_cols = Vec::new();
    let mut value_cols = Vec::new();
    let ts_enc = best(&mut || {
        ts_cols = parts
            .iter()
            .map(|&(ts, _)| {
                let mut buf = Vec::new();
                encode_timestamps(ts, &mut buf);
                buf
            })
            .collect();
        Ok(())
    })?;
    let v_enc = best(&mut || {
        value_cols = parts
            .iter()
            .map(|&(_, values)| {
                let mut buf = Vec::new();
                encode_values(values, &mut buf);
                buf
            })
            .collect();
        Ok(())
    })?;
    let ts_dec = best(&mut || {
        for buf in &ts_cols {
            ts_out.clear();
            decode_timestamps(buf, &mut ts_out)?;
        }
        Ok(())
    })?;
    let v_dec = best(&mut || {
        for buf in &value_cols {
            values_out.clear();
            decode_values(buf, &mut values_out)?;
        }
        Ok(())
    })?;
    // Everything decodes to what went in, bit for bit.
    for ((t_buf, v_buf), &(ts, values)) in ts_cols.iter().zip(&value_cols).zip(&parts) {
        ts_out.clear();
        values_out.clear();
        decode_timestamps(t_buf, &mut ts_out)?;
        decode_values(v_buf, &mut values_out)?;
        if ts_out != ts || values_out.iter().zip(values).any(|(a, b)| a.to_bits() != b.to_bits()) {
            return Err("column round trip failed".into());
        }
    }
    let both = |a: f64, b: f64| 1.0 / (1.0 / a + 1.0 / b);
    println!("\nspeed on {partition}-sample partitions, one thread, best of {REPS} (M samples/s)");
    println!("  gorilla chunk:      encode {g_enc:7.1}   decode {g_dec:7.1}");
    println!("  timestamps column:  encode {ts_enc:7.1}   decode {ts_dec:7.1}");
    println!("  values column:      encode {v_enc:7.1}   decode {v_dec:7.1}");
    println!(
        "  both columns:       encode {:7.1}   decode {:7.1}",
        both(ts_enc, v_enc),
        both(ts_dec, v_dec)
    );
    Ok(())
}
